"""Untrusted input: every bad document is skipped with a one-line reason (stderr and dataset.json),
the build goes on and exits 0, or exits non-zero with --strict; bad options exit 2; kill -9 leaves
no shard a reader would take for complete."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pypdfium2  # noqa: F401  (loaded before the render workers fork: their start-up stays fast)
import pytest

from datagen.contract import load_variant

FAST = ["--size", "32", "--dpi", "50", "--device", "cpu", "--workers", "1", "-q"]
CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


# --------------------------------------------------------------------------- bad files
def corrupt_pdf(folder: Path, raw_pdf, pdf_stream) -> Path:
    p = folder / "corrupt.pdf"
    p.write_bytes(b"%PDF-1.4\n" + bytes(random.Random(0).randrange(256) for _ in range(3000)))
    return p


def encrypted_pdf(folder: Path, raw_pdf, pdf_stream) -> Path:
    """Standard security handler V1 R2 with random /O and /U: no password opens it."""
    rng = random.Random(1)
    o, u, fid = (bytes(rng.randrange(256) for _ in range(n)).hex().encode() for n in (32, 32, 16))
    objs = [CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            pdf_stream(b"0 0 m 100 100 l S"),
            b"<< /Filter /Standard /V 1 /R 2 /O <" + o + b"> /U <" + u + b"> /P -4 >>"]
    return raw_pdf("locked.pdf", objs, b"/Encrypt 5 0 R /ID [<" + fid + b"> <" + fid + b">]", folder=folder)


def zero_page_pdf(folder: Path, raw_pdf, pdf_stream) -> Path:
    return raw_pdf("empty.pdf", [CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"], folder=folder)


def not_a_pdf(folder: Path, raw_pdf, pdf_stream) -> Path:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (20, 20), 0).save(buf, format="PNG")
    p = folder / "picture.pdf"
    p.write_bytes(buf.getvalue())
    return p


def huge_page_pdf(folder: Path, raw_pdf, pdf_stream) -> Path:
    """One 3000 x 3000 pt page: 2083 x 2083 px at 50 dpi, over a 200k pixel cap."""
    objs = [CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 3000 3000] /Contents 4 0 R >>",
            pdf_stream(b"0 g 100 100 2000 300 re f")]
    return raw_pdf("huge.pdf", objs, folder=folder)


def slow_pdf(folder: Path, raw_pdf, pdf_stream, segments: int = 100_000) -> Path:
    """One letter page whose content stream strokes ``segments`` random line segments: seconds
    to render with either renderer (measured: ~2 s with pdfium at 50 dpi, ~3.7 s at 100 dpi)."""
    rng = random.Random(2)
    data = b"0.1 w\n" + b"".join(b"%.1f %.1f m %.1f %.1f l S\n" % (rng.uniform(0, 612), rng.uniform(0, 792),
                                                                   rng.uniform(0, 612), rng.uniform(0, 792))
                                  for _ in range(segments))
    objs = [CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>", pdf_stream(data)]
    return raw_pdf("slow.pdf", objs, folder=folder)


# name -> (maker, expected reason fragment, extra build options, skipped at page level?)
BAD = {
    "corrupt": (corrupt_pdf, "corrupt PDF", [], False),
    "password": (encrypted_pdf, "needs a password", [], False),
    "zero-pages": (zero_page_pdf, "no pages", [], False),
    "not-a-pdf": (not_a_pdf, "not a PDF file", [], False),
    "pixel-cap": (huge_page_pdf, "exceeds the pixel cap", ["--max-pixels", "200000"], True),
    "hang": (slow_pdf, "timed out", ["--render-timeout", "0.3"], True),
}


@pytest.fixture
def sources(make_pdf, tmp_path):
    """Two good one-page documents in ``tmp_path/in``."""
    folder = tmp_path / "in"
    make_pdf("good-a", pages=1, seed=1, folder=folder)
    make_pdf("good-b", pages=1, seed=2, folder=folder)
    return folder


def _stem_id(p: Path) -> str:
    return p.stem


# poppler + hang is test_poppler_timeout_leaves_no_renderer_running (it also checks pdftoppm dies)
@pytest.mark.parametrize("kind,renderer", [(k, r) for r in ("pdfium", "poppler") for k in BAD
                                           if not (r == "poppler" and k == "hang")])
def test_bad_document_is_skipped_with_a_reason(kind, renderer, sources, raw_pdf, pdf_stream, datagen_cli,
                                               shard_samples, tmp_path):
    maker, reason, extra, page_level = BAD[kind]
    bad = maker(sources, raw_pdf, pdf_stream)
    out = tmp_path / "v"
    r = datagen_cli("build", sources, "--out", out, "--rotation", "exact", "--split", "1,0,0", "--renderer", renderer,
                    *FAST, *extra)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.stderr.splitlines() if str(bad) in ln]
    assert len(lines) == 1, r.stderr  # one line, naming the file
    assert reason in lines[0], lines[0]

    rec = json.loads((out / "dataset.json").read_text())
    (sk,) = rec["skipped"]
    assert sk["doc"] == _stem_id(bad) and sk["file"] == str(bad.resolve())
    assert reason in sk["reason"] and "\n" not in sk["reason"]
    assert sk["page"] == (1 if page_level else None)
    # the good documents are still built
    docs = {json.loads(s["json"])["doc_id"] for s in shard_samples(out).values()}
    assert docs == {"good-a", "good-b"}
    assert rec["counts"]["train"]["total"] == 2 * 4


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_document_with_strict_fails_cleanly(kind, sources, raw_pdf, pdf_stream, datagen_cli, tmp_path):
    maker, reason, extra, _ = BAD[kind]
    bad = maker(sources, raw_pdf, pdf_stream)
    out = tmp_path / "v"
    r = datagen_cli("build", sources, "--out", out, "--rotation", "exact", "--split", "1,0,0", "--strict",
                    *FAST, *extra)
    assert r.exit_code == 1, r.output
    assert isinstance(r.exception, SystemExit)  # a ClickException, not a crash
    assert "Traceback" not in r.output
    assert "Error:" in r.stderr and str(bad) in r.stderr and reason in r.stderr
    assert not (out / "dataset.json").exists()
    assert not list(out.glob("*.tmp"))


def test_slow_pdf_really_is_slow_without_a_limit(raw_pdf, pdf_stream, tmp_path):
    """The hang fixture must exceed the limit by far; time one render (no limit) in a worker."""
    from datagen.render import RenderPool, Task, render_page

    bad = slow_pdf(tmp_path, raw_pdf, pdf_stream)
    t0 = time.monotonic()
    with RenderPool(lambda t: render_page(t.path, 0, 50, "pdfium").shape, workers=1, timeout=120) as pool:
        ((_, status, value),) = list(pool.imap([Task("page", str(bad))]))
    took = time.monotonic() - t0
    assert status == "ok" and value == (550, 425)
    assert took > 1.0, f"the 'slow' PDF rendered in {took:.2f} s: make it slower"


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_poppler_timeout_leaves_no_renderer_running(raw_pdf, pdf_stream, datagen_cli, tmp_path):
    """A render killed for its time limit must not leave pdftoppm running (an orphan burning a
    CPU for as long as the hang lasts)."""
    bad = slow_pdf(tmp_path / "in", raw_pdf, pdf_stream)
    out = tmp_path / "v"
    r = datagen_cli("build", bad, "--out", out, "--rotation", "exact", "--renderer", "poppler", "--size", "32",
                    "--dpi", "100", "--device", "cpu", "--workers", "1", "-q", "--render-timeout", "0.3")
    # its only page timed out: a build without a single sample is an error, and writes nothing
    assert r.exit_code == 1, r.output
    assert "timed out" in r.stderr and "no samples" in r.stderr
    assert not (out / "dataset.json").exists() and not list(out.glob("*.tar*"))
    leftovers = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(bad).encode() == c for c in cmd) and any(b"pdftoppm" in c for c in cmd[:1]):
            leftovers.append(int(d.name))
    for pid in leftovers:  # clean up what this test started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftovers, f"pdftoppm still running after the render timed out: pids {leftovers}"


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize("args,expect", [
    (["--rotation", "pil-rotate"], ["kornia-zeros", "kornia-border", "kornia-reflect", "kornia-fill", "exact"]),
    (["--rotation", "exact", "--split", "0.5,0.5"], ["--split", "three", "summing to 1"]),
    (["--rotation", "exact", "--split", "a,b,c"], ["--split", "TRAIN,VAL,TEST"]),
    (["--rotation", "exact", "--angles", "45"], ["--angles", "(0, 90, 180, 270)"]),
    (["--rotation", "exact", "--part", "3/2"], ["--part", "1 <= I <= N"]),
    (["--rotation", "exact", "--part", "two"], ["--part", "I/N"]),
    (["--rotation", "exact", "--renderer", "mupdf"], ["pdfium", "poppler"]),
    (["--rotation", "exact", "--device", "tpu"], ["auto", "cpu", "cuda"]),
    (["--rotation", "exact", "--size", "8"], ["--size", "16"]),
    ([], ["--rotation"]),
])
def test_bad_option_exits_2_with_the_valid_choices(args, expect, datagen_cli, tmp_path):
    r = datagen_cli("build", tmp_path, "--out", tmp_path / "v", *args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for e in expect:
        assert e in r.output, (e, r.output)
    assert not (tmp_path / "v").exists()


def test_missing_source_is_a_clear_error(datagen_cli, tmp_path):
    r = datagen_cli("build", tmp_path / "nope.pdf", "--out", tmp_path / "v", "--rotation", "exact", *FAST)
    assert r.exit_code == 1 and "nope.pdf" in r.output and "no such file" in r.output
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------- kill -9
def test_kill_9_leaves_no_partial_shard_and_a_rerun_completes(make_pdf, datagen_cli, tmp_path):
    src = tmp_path / "src"
    for i in range(8):
        make_pdf(f"k{i}", pages=10, seed=i, folder=src)
    args = [str(src), "--rotation", "kornia-zeros", "--size", "32", "--dpi", "50", "--device", "cpu", "--workers", "1",
            "--shard-size", "4", "--batch-size", "1", "--angles", "0,90,180", "--seed", "4", "-q"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "datagen", "build", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    seen_tmp = False
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            names = [p.name for p in killed.iterdir()] if killed.is_dir() else []
            # mid-write: a shard open under its temporary name, and some already closed
            if any(n.endswith(".tar.tmp") for n in names) and any(n.endswith(".tar") for n in names):
                seen_tmp = True
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the build and its render workers
        proc.wait(timeout=30)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    assert seen_tmp, f"no temporary shard seen before the build ended (rc {proc.returncode}): {err[-2000:]}"
    assert proc.returncode == -signal.SIGKILL

    assert not (killed / "dataset.json").exists()
    complete = sorted(killed.glob("*.tar"))
    assert complete and list(killed.glob("*.tar.tmp"))
    for shard in complete:  # every shard under its final name is whole
        with tarfile.open(shard) as tf:
            members = tf.getmembers()
            assert len(members) == 4 * 4  # shard-size 4, four files per sample
            for m in members:
                assert len(tf.extractfile(m).read()) == m.size
    with pytest.raises(ValueError, match="unfinished build"):
        load_variant(killed)

    r = datagen_cli("build", *args, "--out", killed)  # the same command again
    assert r.exit_code == 0, r.output
    r = datagen_cli("build", *args, "--out", tmp_path / "clean")
    assert r.exit_code == 0, r.output
    assert not list(killed.glob("*.tmp"))
    got = {p.name: p.read_bytes() for p in killed.glob("*.tar")}
    ref = {p.name: p.read_bytes() for p in (tmp_path / "clean").glob("*.tar")}
    assert len(ref) > 3 and got == ref
    assert load_variant(killed).count("train") + load_variant(killed).count("val") + \
        load_variant(killed).count("test") == 8 * 10 * 3
