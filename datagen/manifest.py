"""Corpus manifests: which documents, from where, with checksums and licences.

A manifest is a TOML file (format in README, "Corpus manifests")::

    name = "debian-docs"
    description = "..."
    [[documents]]
    id = "refcard-ru"                  # ^[a-z0-9][a-z0-9_-]*$, unique
    sha256 = "..."                     # of the PDF as used (after .gz decompression)
    license = "GPL-2+"
    pages = "1-2"                      # optional, 1-based inclusive: "3-20,25"
    split = "test"                     # optional forced split: train | val | test
    [documents.source]
    deb = "debian-refcard"             # a file inside a Debian package, pinned version ...
    version = "12.0"
    path = "usr/share/doc/debian-refcard/refcard-ru-a4.pdf.gz"
    # ... or a local file:  path = "relative/to/the/manifest.pdf" (no deb key)

``fetch`` obtains every file into DEST as ``<id>.pdf``, verifies its sha256 and is idempotent.
Debian files come from ``apt-get download PKG=VERSION`` and are extracted in Python (the .deb is
an ar archive holding ``data.tar.*``); nothing is installed.  Nothing unverified lands in DEST.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .contract import sha256_of

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SPLITS = ("train", "val", "test")
DEFAULT_MANIFEST_NAME = "debian-docs.toml"


class ManifestError(ValueError):
    """A manifest that cannot be read or a document that cannot be fetched/verified."""


@dataclass
class Document:
    id: str
    sha256: str
    license: str
    source: dict
    pages: str | None = None
    split: str | None = None
    extra: dict = field(default_factory=dict)

    def page_indices(self, n_pages: int) -> list[int]:
        """0-based page indices selected by ``pages`` (all pages if unset), clipped to ``n_pages``."""
        return parse_pages(self.pages, n_pages)


@dataclass
class Manifest:
    path: Path
    name: str
    description: str
    documents: list[Document]


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file (streamed)."""
    return sha256_of(path)


def parse_pages(spec: str | None, n_pages: int) -> list[int]:
    """``"1-3,7"`` -> ``[0, 1, 2, 6]`` (0-based), clipped to ``n_pages``; None -> all pages."""
    if spec is None or str(spec).strip() in ("", "all"):
        return list(range(n_pages))
    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ManifestError(f"bad page selection {spec!r}: expected e.g. '1-20,25'")
        a = int(m.group(1))
        b = int(m.group(2) or a)
        if a < 1 or b < a:
            raise ManifestError(f"bad page range {part!r} in {spec!r}: pages count from 1, A-B needs A <= B")
        out.extend(i - 1 for i in range(a, b + 1) if i <= n_pages)
    return sorted(set(out))


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest; ``ManifestError`` names the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: not a valid TOML manifest ({e})") from None
    docs_raw = data.get("documents")
    if not isinstance(docs_raw, list) or not docs_raw:
        raise ManifestError(f"{path}: expected a non-empty [[documents]] list")
    docs, seen = [], set()
    for i, d in enumerate(docs_raw):
        where = f"{path}: documents[{i}]"
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: expected a table")
        for key in ("id", "sha256", "license", "source"):
            if key not in d:
                raise ManifestError(f"{where}: missing required key {key!r}")
        did = d["id"]
        if not isinstance(did, str) or not ID_RE.match(did):
            raise ManifestError(f"{where}: id {did!r} must match {ID_RE.pattern} (no dots: they split "
                                "WebDataset keys)")
        if did in seen:
            raise ManifestError(f"{where}: duplicate id {did!r}")
        seen.add(did)
        if not re.fullmatch(r"[0-9a-f]{64}", str(d["sha256"])):
            raise ManifestError(f"{where} ({did}): sha256 must be 64 lowercase hex digits")
        src = d["source"]
        if not isinstance(src, dict) or "path" not in src:
            raise ManifestError(f"{where} ({did}): source needs a 'path' (and 'deb' + 'version' for a Debian file)")
        if "deb" in src and "version" not in src:
            raise ManifestError(f"{where} ({did}): a Debian source needs a pinned 'version'")
        split = d.get("split")
        if split is not None and split not in SPLITS:
            raise ManifestError(f"{where} ({did}): split must be one of {', '.join(SPLITS)}, got {split!r}")
        pages = d.get("pages")
        if pages is not None:
            try:
                parse_pages(str(pages), 10**9)  # validate the syntax now
            except ManifestError as e:
                raise ManifestError(f"{where} ({did}): {e}") from None
        extra = {k: v for k, v in d.items() if k not in ("id", "sha256", "license", "source", "pages", "split")}
        docs.append(Document(did, d["sha256"], str(d["license"]), dict(src),
                             None if pages is None else str(pages), split, extra))
    return Manifest(path, str(data.get("name", path.stem)), str(data.get("description", "")), docs)


# --------------------------------------------------------------------------- default manifest and cache
def default_manifest_path() -> Path:
    """The built-in default corpus manifest, ``data_manifests/debian-docs.toml``."""
    here = Path(__file__).resolve().parent.parent / "data_manifests" / DEFAULT_MANIFEST_NAME
    if here.exists():
        return here
    try:
        from importlib.resources import files

        p = Path(str(files("data_manifests") / DEFAULT_MANIFEST_NAME))
        if p.exists():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    raise ManifestError(f"the default manifest {DEFAULT_MANIFEST_NAME} is not installed with this package")


def cache_root() -> Path:
    """``$DOCORIENT_CACHE``, else ``$XDG_CACHE_HOME/docorient``, else ``~/.cache/docorient``."""
    env = os.environ.get("DOCORIENT_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "docorient"


def default_dest(manifest: Manifest) -> Path:
    return cache_root() / "corpus" / manifest.name


# --------------------------------------------------------------------------- .deb handling
def _ar_members(data: bytes) -> dict[str, bytes]:
    if not data.startswith(b"!<arch>\n"):
        raise ManifestError("not a Debian package (no ar header)")
    pos, out = 8, {}
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        pos += 60
        out[name] = data[pos:pos + size]
        pos += size + (size % 2)
    return out


def extract_from_deb(deb: str | os.PathLike, members: list[str]) -> dict[str, bytes]:
    """Read files (paths inside the package, no leading slash) out of a .deb without dpkg."""
    raw = Path(deb).read_bytes()
    ar = _ar_members(raw)
    data_name = next((n for n in ar if n.startswith("data.tar")), None)
    if data_name is None:
        raise ManifestError(f"{deb}: no data.tar member")
    payload = ar[data_name]
    if data_name.endswith(".xz"):
        payload = lzma.decompress(payload)
    elif data_name.endswith(".gz"):
        payload = gzip.decompress(payload)
    elif data_name.endswith(".zst"):
        try:
            import zstandard  # type: ignore
        except ImportError:
            raise ManifestError(f"{deb}: data.tar.zst needs the 'zstandard' module (pip install zstandard)") from None
        payload = zstandard.ZstdDecompressor().decompressobj().decompress(payload)
    elif data_name != "data.tar":
        raise ManifestError(f"{deb}: unsupported member {data_name}")
    wanted = {m.lstrip("/") for m in members}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(payload)) as tf:
        for info in tf:
            name = info.name[2:] if info.name.startswith("./") else info.name
            if name in wanted and info.isfile():
                found[name] = tf.extractfile(info).read()
    return found


def apt_download(package: str, version: str, workdir: Path) -> Path:
    """``apt-get download PACKAGE=VERSION`` into ``workdir``; the .deb's path."""
    apt = os.environ.get("DOCORIENT_APT_GET", "apt-get")
    try:
        p = subprocess.run([apt, "download", f"{package}={version}"], cwd=workdir, capture_output=True, text=True,
                           timeout=1800)
    except FileNotFoundError:
        raise ManifestError(f"{package}={version}: fetching Debian sources needs apt-get ({apt} not found)") from None
    if p.returncode != 0:
        err = " ".join((p.stderr or p.stdout).split())[:300]
        hint = " (run 'apt-get update' first?)" if "Unable to locate" in err or "Can't find" in err else ""
        raise ManifestError(f"{package}={version}: apt-get download failed: {err}{hint}")
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise ManifestError(f"{package}={version}: apt-get download left no .deb in {workdir}")
    return debs[0]


# --------------------------------------------------------------------------- fetch
@dataclass
class FetchReport:
    present: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


def _land(data: bytes, doc: Document, dest: Path, origin: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != doc.sha256:
        raise ManifestError(f"{doc.id}: sha256 mismatch for {origin}: expected {doc.sha256}, got {got}; "
                            "nothing was written")
    target = dest / f"{doc.id}.pdf"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def fetch(manifest: Manifest, dest: str | os.PathLike | None = None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
          downloader: Callable[[str, str, Path], Path] = apt_download) -> FetchReport:
    """Obtain every document of ``manifest`` into ``dest`` as ``<id>.pdf``, verified by sha256.

    Idempotent: a file already in ``dest`` with the right hash is not fetched again; a file with
    a wrong hash is replaced.  Raises ``ManifestError`` (naming the document and file) on the
    first document that cannot be obtained or verified; verified documents stay.
    """
    dest = Path(dest) if dest is not None else default_dest(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    rep = FetchReport()
    todo: list[Document] = []
    for doc in manifest.documents:
        target = dest / f"{doc.id}.pdf"
        if target.exists() and sha256_file(target) == doc.sha256:
            rep.present.append(doc.id)
        else:
            todo.append(doc)
    by_deb: dict[tuple[str, str], list[Document]] = {}
    for doc in todo:
        src = doc.source
        if "deb" in src:
            by_deb.setdefault((src["deb"], str(src["version"])), []).append(doc)
            continue
        local = Path(src["path"])
        if not local.is_absolute():
            local = manifest.path.parent / local
        try:
            data = local.read_bytes()
        except OSError as e:
            raise ManifestError(f"{doc.id}: cannot read local source {local}: {e.strerror}") from None
        if local.suffix == ".gz":
            data = gzip.decompress(data)
        _land(data, doc, dest, str(local))
        rep.fetched.append(doc.id)
        log(f"fetched {doc.id} from {local}")
    for (pkg, ver), docs in sorted(by_deb.items()):
        with tempfile.TemporaryDirectory(prefix="docorient-deb-") as tmp:
            log(f"downloading {pkg}={ver} ({len(docs)} document{'s' if len(docs) > 1 else ''})")
            deb = downloader(pkg, ver, Path(tmp))
            members = [d.source["path"].lstrip("/") for d in docs]
            found = extract_from_deb(deb, members)
            for doc in docs:
                member = doc.source["path"].lstrip("/")
                if member not in found:
                    raise ManifestError(f"{doc.id}: {member} is not in {pkg}={ver}")
                data = found[member]
                if member.endswith(".gz"):
                    data = gzip.decompress(data)
                _land(data, doc, dest, f"{pkg}={ver}:{member}")
                rep.fetched.append(doc.id)
    return rep

