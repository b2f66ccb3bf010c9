"""``datagen fetch`` and manifests: local and Debian sources, sha256 verification, idempotence,
validation errors that name the file.  Hermetic: the Debian packages are built here; a fake
``apt-get`` (``$DOCORIENT_APT_GET``) hands a binary package over, and a source package comes
from a pool on disk (``$DOCORIENT_DEBIAN_MIRROR`` = a ``file:`` URL)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile
from pathlib import Path

import pytest

from datagen.manifest import FetchReport, ManifestError, extract_from_deb, fetch, load_manifest


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(path: Path, docs: list[dict], name: str = "tiny") -> Path:
    """Write a TOML manifest (by hand: the stdlib has no TOML writer)."""
    lines = [f'name = "{name}"', 'description = "test corpus"', ""]
    for d in docs:
        lines.append("[[documents]]")
        for k, v in d.items():
            if k != "source":
                lines.append(f"{k} = {json.dumps(v)}")
        lines.append("[documents.source]")
        for k, v in d["source"].items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- local sources
def test_fetch_local_source_is_verified_and_idempotent(make_pdf, datagen_cli, tmp_path):
    pdf = make_pdf("paper", pages=1, folder=tmp_path / "m" / "docs")
    gz = tmp_path / "m" / "docs" / "other.pdf.gz"
    other = make_pdf("other", pages=1, seed=5, folder=tmp_path / "raw").read_bytes()
    gz.write_bytes(gzip.compress(other))
    manifest = write_manifest(tmp_path / "m" / "corpus.toml", [
        {"id": "paper", "sha256": sha(pdf.read_bytes()), "license": "CC0-1.0", "source": {"path": "docs/paper.pdf"}},
        {"id": "other", "sha256": sha(other), "license": "CC0-1.0", "source": {"path": "docs/other.pdf.gz"}},
    ])
    dest = tmp_path / "dest"
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0, r.output
    assert "2 fetched, 0 already present" in r.stdout
    assert files_in(dest) == ["other.pdf", "paper.pdf"]
    assert (dest / "paper.pdf").read_bytes() == pdf.read_bytes()
    assert (dest / "other.pdf").read_bytes() == other  # decompressed, verified

    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    rep = fetch(load_manifest(manifest), dest, log=lambda s: None)
    assert isinstance(rep, FetchReport)
    assert rep.fetched == [] and sorted(rep.present) == ["other", "paper"]
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before  # not written again
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0 and "0 fetched, 2 already present" in r.stdout


def test_fetch_replaces_a_tampered_file(make_pdf, tmp_path):
    pdf = make_pdf("paper", pages=1, folder=tmp_path / "m")
    manifest = write_manifest(tmp_path / "m" / "c.toml", [
        {"id": "paper", "sha256": sha(pdf.read_bytes()), "license": "MIT", "source": {"path": "paper.pdf"}}])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "paper.pdf").write_bytes(b"%PDF-1.4 not the right file")
    rep = fetch(load_manifest(manifest), dest, log=lambda s: None)
    assert rep.fetched == ["paper"] and rep.present == []
    assert (dest / "paper.pdf").read_bytes() == pdf.read_bytes()


def test_fetch_sha256_mismatch_names_the_document_and_lands_nothing(make_pdf, datagen_cli, tmp_path):
    pdf = make_pdf("paper", pages=1, folder=tmp_path / "m")
    wrong = sha(b"something else")
    manifest = write_manifest(tmp_path / "m" / "c.toml", [
        {"id": "paper-one", "sha256": wrong, "license": "MIT", "source": {"path": "paper.pdf"}}])
    dest = tmp_path / "dest"
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert "paper-one" in r.output and "sha256 mismatch" in r.output and wrong in r.output
    assert sha(pdf.read_bytes()) in r.output  # what was got
    assert files_in(dest) == []  # nothing unverified, no temporary file either


def test_fetch_missing_local_file_names_it(tmp_path, datagen_cli):
    manifest = write_manifest(tmp_path / "c.toml", [
        {"id": "gone", "sha256": sha(b"x"), "license": "MIT", "source": {"path": "gone.pdf"}}])
    r = datagen_cli("fetch", manifest, "--dest", tmp_path / "dest")
    assert r.exit_code == 1 and "gone" in r.output and "gone.pdf" in r.output
    assert files_in(tmp_path / "dest") == []


# --------------------------------------------------------------------------- Debian sources
def _ar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += header + data
        if len(data) % 2:
            out += b"\n"
    return bytes(out)


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return lzma.compress(buf.getvalue())


def make_deb(path: Path, package: str, files: dict[str, bytes]) -> Path:
    control = f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    path.write_bytes(_ar([("debian-binary", b"2.0\n"),
                          ("control.tar.xz", _tar_xz({"./control": control.encode()})),
                          ("data.tar.xz", _tar_xz({f"./{k}": v for k, v in files.items()}))]))
    return path


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """A fake ``apt-get``: ``download PKG=VER`` copies ``debs/PKG_*.deb`` into its cwd and logs
    its arguments to ``apt.log``.  Returns the folder to put .deb files in."""
    debs = tmp_path / "debs"
    debs.mkdir()
    log = tmp_path / "apt.log"
    script = tmp_path / "bin" / "apt-get"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
echo "$@" >> "{log}"
[ "$1" = download ] || exit 100
pkg="${{2%%=*}}"
for f in "{debs}"/"$pkg"_*.deb; do
  [ -e "$f" ] || {{ echo "E: Unable to locate package $pkg" >&2; exit 100; }}
  cp "$f" .
done
""")
    script.chmod(0o755)
    monkeypatch.setenv("DOCORIENT_APT_GET", str(script))
    return debs


def test_fetch_debian_source(make_pdf, fake_apt, datagen_cli, tmp_path):
    one = make_pdf("one", pages=1, seed=1, folder=tmp_path / "raw").read_bytes()
    two = make_pdf("two", pages=2, seed=2, folder=tmp_path / "raw").read_bytes()
    make_deb(fake_apt / "x-doc_1.0-1_all.deb", "x-doc", {
        "usr/share/doc/x/doc.pdf.gz": gzip.compress(one),
        "usr/share/doc/x/two.pdf": two,
        "usr/share/doc/x/README": b"hello",
    })
    manifest = write_manifest(tmp_path / "c.toml", [
        {"id": "x-one", "sha256": sha(one), "license": "GPL-2+",
         "source": {"deb": "x-doc", "version": "1.0-1", "path": "usr/share/doc/x/doc.pdf.gz"}},
        {"id": "x-two", "sha256": sha(two), "license": "GPL-2+", "pages": "1", "split": "test",
         "source": {"deb": "x-doc", "version": "1.0-1", "path": "/usr/share/doc/x/two.pdf"}},
    ])
    dest = tmp_path / "dest"
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0, r.output
    assert files_in(dest) == ["x-one.pdf", "x-two.pdf"]
    assert (dest / "x-one.pdf").read_bytes() == one  # decompressed and verified
    assert (dest / "x-two.pdf").read_bytes() == two
    # one download for the package, pinned to the version
    assert (tmp_path / "apt.log").read_text().splitlines() == ["download x-doc=1.0-1"]
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0 and "0 fetched, 2 already present" in r.stdout
    assert len((tmp_path / "apt.log").read_text().splitlines()) == 1  # nothing downloaded again


def test_fetch_debian_member_missing_or_mismatching(make_pdf, fake_apt, datagen_cli, tmp_path):
    one = make_pdf("one", pages=1, folder=tmp_path / "raw").read_bytes()
    make_deb(fake_apt / "y-doc_2_all.deb", "y-doc", {"usr/share/doc/y/a.pdf": one})
    missing = write_manifest(tmp_path / "missing.toml", [
        {"id": "y-b", "sha256": sha(one), "license": "MIT",
         "source": {"deb": "y-doc", "version": "2", "path": "usr/share/doc/y/b.pdf"}}])
    r = datagen_cli("fetch", missing, "--dest", tmp_path / "d1")
    assert r.exit_code == 1 and "y-b" in r.output and "usr/share/doc/y/b.pdf" in r.output
    bad = write_manifest(tmp_path / "bad.toml", [
        {"id": "y-a", "sha256": sha(b"other"), "license": "MIT",
         "source": {"deb": "y-doc", "version": "2", "path": "usr/share/doc/y/a.pdf"}}])
    r = datagen_cli("fetch", bad, "--dest", tmp_path / "d2")
    assert r.exit_code == 1 and "y-a" in r.output and "sha256 mismatch" in r.output
    assert files_in(tmp_path / "d2") == []


def test_fetch_apt_failure_is_a_clear_error(fake_apt, datagen_cli, tmp_path):
    manifest = write_manifest(tmp_path / "c.toml", [
        {"id": "z", "sha256": sha(b"z"), "license": "MIT",
         "source": {"deb": "no-such-package", "version": "1", "path": "usr/share/doc/z.pdf"}}])
    r = datagen_cli("fetch", manifest, "--dest", tmp_path / "d")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "no-such-package=1" in r.output and "apt-get download failed" in r.output


def test_extract_from_deb_reads_members(tmp_path):
    deb = make_deb(tmp_path / "p_1_all.deb", "p", {"a/b.txt": b"bee", "c.txt": b"sea"})
    assert extract_from_deb(deb, ["/a/b.txt", "c.txt", "d.txt"]) == {"a/b.txt": b"bee", "c.txt": b"sea"}
    (tmp_path / "junk.deb").write_bytes(b"not an archive")
    with pytest.raises(ManifestError, match="ar header"):
        extract_from_deb(tmp_path / "junk.deb", ["a"])


# --------------------------------------------------------------------------- Debian source packages
@pytest.fixture
def debian_pool(tmp_path, monkeypatch):
    """A Debian archive on disk (``file:`` URLs, the layout of deb.debian.org) and an apt-get
    that fails if called: a source package must come from the pool alone.  Returns
    ``publish(package, version, files, pool=..., dsc_files=None)``, which writes the files and a
    .dsc listing ``dsc_files`` (default: the files' own sizes and sha256)."""
    from datagen.manifest import pool_dir

    root = tmp_path / "mirror"
    monkeypatch.setenv("DOCORIENT_DEBIAN_MIRROR", root.as_uri())
    no_apt = tmp_path / "bin" / "apt-get"
    no_apt.parent.mkdir()
    no_apt.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path / "apt.log"}"\nexit 100\n')
    no_apt.chmod(0o755)
    monkeypatch.setenv("DOCORIENT_APT_GET", str(no_apt))

    def publish(package: str, version: str, files: dict[str, bytes], pool: str = "debian/pool/main",
                dsc_files: dict[str, bytes] | None = None) -> Path:
        folder = root / pool / pool_dir(package)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        listed = "".join(f" {sha(d)} {len(d)} {n}\n" for n, d in (dsc_files or files).items())
        (folder / f"{package}_{version.split(':')[-1]}.dsc").write_text(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nFormat: 3.0 (quilt)\n"
            f"Source: {package}\nVersion: {version}\nChecksums-Sha256:\n{listed}Files:\n"
            " 00000000000000000000000000000000 1 x\n-----BEGIN PGP SIGNATURE-----\n")
        return folder

    return publish


def _source_doc(did: str, data: bytes, package: str, version: str, file: str, path: str) -> dict:
    return {"id": did, "sha256": sha(data), "license": "GPL-2+",
            "source": {"deb-src": package, "version": version, "file": file, "path": path}}


def test_fetch_debian_source_package_from_the_pool_without_apt(make_pdf, debian_pool, datagen_cli, tmp_path):
    page = make_pdf("scan", pages=1, seed=3, folder=tmp_path / "raw").read_bytes()
    img = b"\x89PNG\r\n\x1a\n" + b"not decoded by fetch"
    orig = _tar_xz({"ocr-1.0/examples/scan.pdf": page, "ocr-1.0/examples/page.png": img})
    debian_pool("ocr", "1:1.0-2", {"ocr_1.0.orig.tar.xz": orig, "ocr_1.0-2.debian.tar.xz": b"debian"})
    fix = _tar_xz({"libfix-3/t/fax.png": img})
    debian_pool("libfix", "3-1+deb12u1", {"libfix_3.orig.tar.xz": fix}, pool="debian-security/pool/updates/main")
    manifest = write_manifest(tmp_path / "src.toml", [
        _source_doc("ocr-scan", page, "ocr", "1:1.0-2", "ocr_1.0.orig.tar.xz", "ocr-1.0/examples/scan.pdf"),
        _source_doc("ocr-page", img, "ocr", "1:1.0-2", "ocr_1.0.orig.tar.xz", "ocr-1.0/examples/page.png"),
        _source_doc("fax", img, "libfix", "3-1+deb12u1", "libfix_3.orig.tar.xz", "libfix-3/t/fax.png")])
    dest = tmp_path / "dest"
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0, r.output
    assert files_in(dest) == ["fax.png", "ocr-page.png", "ocr-scan.pdf"]
    assert (dest / "ocr-scan.pdf").read_bytes() == page and (dest / "fax.png").read_bytes() == img
    assert not (tmp_path / "apt.log").exists()  # apt was never asked
    r = datagen_cli("fetch", manifest, "--dest", dest)
    assert r.exit_code == 0 and "0 fetched, 3 already present" in r.stdout


@pytest.mark.parametrize("tamper,expect", [
    (lambda good: good[:-1] + bytes([good[-1] ^ 1]), "does not match the size and sha256 of the package's .dsc"),
    (lambda good: good + b"more", "larger than the"),
])
def test_a_source_file_unlike_its_dsc_lands_nothing(make_pdf, debian_pool, datagen_cli, tmp_path, tamper, expect):
    page = make_pdf("scan", pages=1, folder=tmp_path / "raw").read_bytes()
    good = _tar_xz({"x-1/a.pdf": page})
    debian_pool("x", "1-1", {"x_1.orig.tar.xz": tamper(good)}, dsc_files={"x_1.orig.tar.xz": good})
    manifest = write_manifest(tmp_path / "x.toml", [_source_doc("x-a", page, "x", "1-1", "x_1.orig.tar.xz", "x-1/a.pdf")])
    r = datagen_cli("fetch", manifest, "--dest", tmp_path / "dest")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "source x=1-1: x_1.orig.tar.xz" in r.output and expect in r.output, r.output
    assert files_in(tmp_path / "dest") == []


@pytest.mark.parametrize("version,file,expect", [
    ("9-9", "x_1.orig.tar.xz", ["no x_9-9.dsc in the Debian archive", "debian/pool/main/x/x/x_9-9.dsc",
                                "debian-security/pool/updates/main/x/x/x_9-9.dsc", "DOCORIENT_DEBIAN_MIRROR"]),
    ("1-1", "x_2.orig.tar.xz", ["no file x_2.orig.tar.xz in the source package", "x_1.orig.tar.xz"]),
])
def test_a_missing_source_version_or_file_is_a_clear_error(debian_pool, datagen_cli, tmp_path, version, file, expect):
    debian_pool("x", "1-1", {"x_1.orig.tar.xz": _tar_xz({"x-1/a.pdf": b"%PDF-1.4"})})
    manifest = write_manifest(tmp_path / "x.toml", [_source_doc("x-a", b"%PDF-1.4", "x", version, file, "x-1/a.pdf")])
    r = datagen_cli("fetch", manifest, "--dest", tmp_path / "dest")
    assert r.exit_code == 1 and "Traceback" not in r.output
    for e in expect:
        assert e in r.output, (e, r.output)


def test_dsc_checksums_reads_the_sha256_list():
    from datagen.manifest import dsc_checksums

    text = f"Source: x\nChecksums-Sha256:\n {'a' * 64} 12 x_1.orig.tar.gz\n {'b' * 64} 3 x_1-1.debian.tar.xz\nFiles:\n"
    assert dsc_checksums(text, "x.dsc") == {"x_1.orig.tar.gz": (12, "a" * 64), "x_1-1.debian.tar.xz": (3, "b" * 64)}
    with pytest.raises(ManifestError, match="x.dsc: not a Debian source control file"):
        dsc_checksums("Source: x\n", "x.dsc")
    with pytest.raises(ManifestError, match="bad Checksums-Sha256 line"):
        dsc_checksums("Checksums-Sha256:\n nothex 12 f\n", "x.dsc")


# --------------------------------------------------------------------------- manifest validation
GOOD = {"id": "ok", "sha256": "0" * 64, "license": "MIT", "source": {"path": "ok.pdf"}}


@pytest.mark.parametrize("change,expect", [
    ({"id": "bad.id"}, "'bad.id' must match"),
    ({"id": "Upper"}, "'Upper' must match"),
    ({"sha256": None}, "missing required key 'sha256'"),
    ({"sha256": "abc"}, "64 lowercase hex"),
    ({"license": None}, "missing required key 'license'"),
    ({"split": "holdout"}, "split must be one of train, val, test"),
    ({"pages": "3-1"}, "bad page range"),
    ({"source": {"deb": "pkg", "path": "x.pdf"}}, "pinned 'version'"),
    ({"source": {"url": "http://example.com/x.pdf"}}, "needs a 'path'"),
])
def test_manifest_validation_errors_name_the_file(change, expect, datagen_cli, tmp_path):
    doc = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    manifest = write_manifest(tmp_path / "broken.toml", [doc])
    with pytest.raises(ManifestError) as e:
        load_manifest(manifest)
    assert str(manifest) in str(e.value) and expect in str(e.value)
    r = datagen_cli("fetch", manifest, "--dest", tmp_path / "d")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert str(manifest) in r.output and expect in r.output


def test_manifest_duplicate_ids_and_bad_toml(tmp_path):
    dup = write_manifest(tmp_path / "dup.toml", [GOOD, GOOD])
    with pytest.raises(ManifestError, match="duplicate id 'ok'"):
        load_manifest(dup)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[documents]\nid = ", encoding="utf-8")
    with pytest.raises(ManifestError, match="not a valid TOML manifest") as e:
        load_manifest(bad)
    assert str(bad) in str(e.value)
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.toml")


def test_default_manifest_is_valid():
    from datagen.manifest import default_manifest_path

    m = load_manifest(default_manifest_path())
    assert len(m.documents) >= 30
    assert len({d.source.get("deb") for d in m.documents if "deb" in d.source}) >= 8
    assert all("deb" not in d.source or "version" in d.source for d in m.documents)
    reserved = ("texlive-lang-", "texlive-publishers-doc", "texlive-humanities-doc", "texlive-science-doc",
                "texlive-latex-recommended-doc", "texlive-games", "texlive-music", "r-doc-pdf",
                "python-reportlab-doc", "auto-multiple-choice-doc-pdf", "lilypond-doc-pdf", "why3-doc-pdf",
                "gri-pdf-doc", "leptonica")
    for d in m.documents:
        pkg = d.source.get("deb", "")
        assert not any(pkg.startswith(r) for r in reserved), f"{d.id} comes from reserved package {pkg}"


# --------------------------------------------------------------------------- build from a manifest
def test_build_from_a_manifest_uses_its_ids_pages_and_forced_splits(make_pdf, datagen_cli, shard_samples, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("DOCORIENT_CACHE", str(tmp_path / "cache"))
    docs = []
    for i in range(4):
        pdf = make_pdf(f"f{i}", pages=3, seed=i, folder=tmp_path / "m" / "docs")
        d = {"id": f"doc-{i}", "sha256": sha(pdf.read_bytes()), "license": "MIT", "source": {"path": f"docs/f{i}.pdf"}}
        if i == 0:
            d["pages"] = "2-3"
        if i == 1:
            d["split"] = "test"
        docs.append(d)
    manifest = write_manifest(tmp_path / "m" / "tiny.toml", docs, name="tiny")
    out = tmp_path / "v"
    r = datagen_cli("build", manifest, "--out", out, "--rotation", "exact", "--size", "32", "--dpi", "50",
                    "--device", "cpu", "--workers", "1", "--angles", "0", "--split", "1,0,0", "-q")
    assert r.exit_code == 0, r.output
    assert sorted(files_in(tmp_path / "cache" / "corpus" / "tiny")) == [f"doc-{i}.pdf" for i in range(4)]
    samples = shard_samples(out)
    assert {k for k in samples if k.startswith("doc-0-")} == {"doc-0-p2-r0", "doc-0-p3-r0"}
    assert {s["__split__"] for k, s in samples.items() if k.startswith("doc-1-")} == {"test"}
    rec = json.loads((out / "dataset.json").read_text())
    by_id = {d["id"]: d for d in rec["documents"]}
    assert by_id["doc-1"]["split"] == "test" and by_id["doc-0"]["pages"] == "2-3"
    assert by_id["doc-2"]["license"] == "MIT" and by_id["doc-2"]["sha256"] == docs[2]["sha256"]
