"""Shared fixtures: tiny pages, tiny PDFs and hand-written raw PDFs, all made in ``tmp_path``.

Every fixture returns a factory so that a test can ask for exactly the data it needs:

* ``text_page(width, height, seed, paper, ink)`` -> PIL ``L`` image of a text-like page
  (a heading bar at the top left, left-aligned "word" bars below): upright is recognisable.
* ``asym_page(h, w, block)`` -> ``(1, 1, h, w)`` float tensor, white with a dark block in the
  TOP-LEFT corner, for pinning rotation conventions.
* ``make_pdf(name, pages, ...)`` -> Path of a multi-page PDF made with PIL (deterministic bytes).
* ``raw_pdf(name, objects, trailer_extra)`` -> Path of a hand-written PDF (objects numbered from 1,
  object 1 must be the catalog); the xref table is computed.
* ``pdf_stream(data, extra)`` -> bytes of a PDF stream object body.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not installed: its helpers come from the checkout
    sys.path.insert(0, str(ROOT))
from bench.common import text_page as _text_page  # noqa: E402  (the benchmarks draw the same pages)

torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never touch the user's cache: the default model's ONNX export, fetched corpora and
    synth's font scan go to a session folder."""
    import os

    old = os.environ.get("DOCORIENT_CACHE")
    os.environ["DOCORIENT_CACHE"] = str(tmp_path_factory.mktemp("docorient-cache"))
    yield
    if old is None:
        os.environ.pop("DOCORIENT_CACHE", None)
    else:
        os.environ["DOCORIENT_CACHE"] = old


@pytest.fixture
def text_page():
    """Factory: a text-like page as a PIL ``L`` image (paper and ink levels configurable)."""
    return _text_page


@pytest.fixture
def asym_page():
    """Factory: ``(1, 1, h, w)`` white page with a black ``block x block`` square at the top left."""

    def make(h: int = 8, w: int = 8, block: int = 3) -> torch.Tensor:
        p = torch.ones(1, 1, h, w)
        p[..., :block, :block] = 0.0
        return p

    return make


@pytest.fixture
def make_pdf(tmp_path):
    """Factory: write a multi-page PDF of text-like pages with PIL; returns its path.

    ``pages`` pages of ``width x height`` pixels embedded at ``resolution`` dpi (so a render at
    ``resolution`` dpi gives back that pixel size); ``blank`` lists 1-based pages left empty.
    The bytes are deterministic (no creation date).
    """

    def make(name: str, pages: int = 2, width: int = 168, height: int = 220, seed: int = 0, folder: Path | None = None,
             resolution: float = 100.0, blank: tuple[int, ...] = (), paper: int = 255) -> Path:
        folder = Path(folder) if folder is not None else tmp_path / "pdfs"
        folder.mkdir(parents=True, exist_ok=True)
        ims = [Image.new("L", (width, height), paper) if i + 1 in blank
               else _text_page(width, height, seed=seed * 1000 + i, paper=paper) for i in range(pages)]
        path = folder / (name if name.endswith(".pdf") else name + ".pdf")
        ims[0].save(path, save_all=True, append_images=ims[1:], resolution=resolution, creationDate=None,
                    modDate=None)
        return path

    return make


def pdf_bytes(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for o in offsets:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


@pytest.fixture
def pdf_stream():
    """Factory: the body of a PDF stream object holding ``data``."""

    def make(data: bytes, extra: bytes = b"") -> bytes:
        return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    return make


def _vector_page_stream(width: float, height: float, seed: int) -> bytes:
    """A text-like page as vector paths (filled rectangles), in PDF user space (origin bottom left)."""
    rng = random.Random(seed)
    m = width / 12
    bar = height / 70
    ops = [b"0 g"]
    ops.append(b"%.2f %.2f %.2f %.2f re f" % (m, height - m - 3 * bar, width / 2, 3 * bar))  # heading, top left
    y = height - m - 8 * bar
    while y > m:
        x = m
        end = width - m - (rng.uniform(0, width / 3) if rng.random() < 0.3 else 0)
        while x < end - 4:
            ww = rng.uniform(width / 30, width / 7)
            ops.append(b"%.2f %.2f %.2f %.2f re f" % (x, y, min(ww, end - x), bar))
            x += ww + width / 40
        y -= 4 * bar
    return b"\n".join(ops)


@pytest.fixture
def vector_pdf(tmp_path):
    """Factory: a multi-page PDF of text-like VECTOR pages (filled rectangles) of
    ``width x height`` points; both renderers draw it alike.  Returns its path."""

    def make(name: str, pages: int = 1, width: float = 288, height: float = 360, seed: int = 0,
             folder: Path | None = None) -> Path:
        folder = Path(folder) if folder is not None else tmp_path / "pdfs"
        folder.mkdir(parents=True, exist_ok=True)
        n = pages
        kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n))
        objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n)]
        for i in range(n):
            data = _vector_page_stream(width, height, seed * 1000 + i)
            objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Contents %d 0 R >>"
                        % (width, height, 4 + 2 * i))
            objs.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
        path = folder / (name if name.endswith(".pdf") else name + ".pdf")
        path.write_bytes(pdf_bytes(objs))
        return path

    return make


@pytest.fixture
def raw_pdf(tmp_path):
    """Factory: write a hand-made PDF from object bodies (object 1 = catalog); returns its path."""

    def make(name: str, objects: list[bytes], trailer_extra: bytes = b"", folder: Path | None = None) -> Path:
        folder = Path(folder) if folder is not None else tmp_path / "pdfs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(pdf_bytes(objects, trailer_extra))
        return path

    return make


def read_shards(folder: str | Path, pattern: str = "*.tar") -> dict[str, dict]:
    """All samples of the tar shards in ``folder`` (read with ``tarfile``, independently of the
    code under test): ``key -> {ext: bytes, ..., "__split__": split, "__shard__": file name}``.
    Fails on a key seen twice."""
    import tarfile

    out: dict[str, dict] = {}
    for shard in sorted(Path(folder).glob(pattern)):
        split = shard.name.split("-", 1)[0]
        seen_here: set[str] = set()
        with tarfile.open(shard) as tf:
            for m in tf.getmembers():
                assert m.isfile(), f"{shard.name}: unexpected member {m.name}"
                key, ext = m.name.split(".", 1)
                if key not in seen_here:
                    assert key not in out, f"sample {key} appears twice ({shard.name})"
                    seen_here.add(key)
                    out[key] = {"__split__": split, "__shard__": shard.name}
                out[key][ext] = tf.extractfile(m).read()
    return out


@pytest.fixture
def shard_samples():
    """Factory: ``read_shards(folder)``, samples of a variant folder keyed by ``__key__``."""
    return read_shards


@pytest.fixture
def datagen_cli():
    """Factory: run ``datagen ARGS...`` in-process with click's CliRunner; returns the Result
    (``.exit_code``, ``.stdout``, ``.stderr``, ``.output``)."""
    from click.testing import CliRunner

    from datagen.cli import main

    def run(*args, **kw):
        return CliRunner().invoke(main, [str(a) for a in args], **kw)

    return run


# --------------------------------------------------------------------------- trainer / interpret
# Shared, session-scoped tiny data: built ONCE so that the trainer and interpret tests stay fast.
# Read-only for the tests: a test that writes (resume, fix, ...) writes into its own tmp_path.
TINY_SIZE = 32  # model input side of the tiny variants
TINY_FIT = ["--batch-size", "8", "--device", "cpu", "--workers", "0", "-q"]


def cli_invoke(main, *args, **kw):
    """Run a click ``main`` in-process with CliRunner; returns the Result."""
    from click.testing import CliRunner

    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def cli_explain(r) -> str:
    """A failure message for a CliRunner Result (exit code, both streams, the exception)."""
    return f"exit {r.exit_code}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}\nexception: {r.exception!r}"


@pytest.fixture
def trainer_cli():
    """Factory: run ``trainer ARGS...`` in-process with CliRunner; returns the Result."""
    from trainer.cli import main

    return lambda *args, **kw: cli_invoke(main, *args, **kw)


@pytest.fixture
def interpret_cli():
    """Factory: run ``interpret ARGS...`` in-process with CliRunner; returns the Result."""
    from interpret.cli import main

    return lambda *args, **kw: cli_invoke(main, *args, **kw)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """Six 2-page portrait documents (168x220 px at 100 dpi; 84x110 px at 50 dpi) in one folder."""
    folder = tmp_path_factory.mktemp("tiny_corpus")
    for i in range(6):
        ims = [_text_page(168, 220, seed=1000 * i + j) for j in range(2)]
        ims[0].save(folder / f"doc{i}.pdf", save_all=True, append_images=ims[1:], resolution=100.0,
                    creationDate=None, modDate=None)
    return folder


@pytest.fixture(scope="session")
def tiny_shards(tiny_corpus, tmp_path_factory) -> Path:
    """A folder of two variants, ``exact`` and ``kornia-zeros``, of ``tiny_corpus`` (size 32, dpi 50,
    split 2/2/2 documents, 8 samples per shard, so the train split has 2 shards for DDP)."""
    from datagen.build import BuildConfig, build
    from datagen.contract import load_variant

    folder = tmp_path_factory.mktemp("tiny_shards")
    for s in ("exact", "kornia-zeros"):
        build([str(tiny_corpus)], folder / s, BuildConfig(rotation=s, size=TINY_SIZE, dpi=50, split=(0.5, 0.25, 0.25),
                                                          device="cpu", workers=1, shard_size=8), progress=False,
              log=lambda s: None)
        v = load_variant(folder / s)
        assert all(v.count(sp) > 0 for sp in ("train", "val", "test")), v.record["counts"]
        assert len(v.shards("train")) >= 2
    return folder


@pytest.fixture(scope="session")
def tiny_fit(tiny_shards, tmp_path_factory):
    """``trainer fit <folder of variants> --out RUNS --epochs 2`` once; ``(result, RUNS)``."""
    from trainer.cli import main

    runs = tmp_path_factory.mktemp("tiny_runs") / "runs"
    r = cli_invoke(main, "fit", tiny_shards, "--out", runs, "--epochs", "2", "--max-steps", "4", "--seed", "0", *TINY_FIT)
    assert r.exit_code == 0, cli_explain(r)
    return r, runs


@pytest.fixture(scope="session")
def tiny_models(tiny_fit) -> dict[str, Path]:
    """``variant name -> model.pt`` of the session's tiny runs."""
    _, runs = tiny_fit
    return {name: runs / name / "model.pt" for name in ("exact", "kornia-zeros")}


@pytest.fixture
def close_cached_pdfium_documents():
    """For tests that render in the test process: close what pdfium cached, so that render
    workers forked by later tests start clean."""
    yield
    from datagen.render import close_documents

    close_documents()
