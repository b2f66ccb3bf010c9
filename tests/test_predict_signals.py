"""Real ``trainer predict`` processes: SIGTERM and SIGINT (workers gone, no temporary file, 143 /
130 and one line), kill -9 (workers die with it, the next run removes what it left), two runs into
one OUT (the second refused in one line), a reader that closes the pipe early, and a file this
user may not read.  The slow input is a PDF rendered at 1200 dpi, so a run is still going when
it is stopped; the model is the session's tiny one (its ONNX export where onnxruntime is
installed, so no process imports torch)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import cli_explain, cli_invoke, pdf_bytes, _vector_page_stream

SLOW = ("--dpi", "1200", "--batch-size", "1", "--workers", "2")


@pytest.fixture(scope="module")
def model(tiny_models, tmp_path_factory) -> Path:
    from importlib.util import find_spec

    if find_spec("onnx") is None or find_spec("onnxruntime") is None:
        return tiny_models["exact"]  # the torch engine: slower to start, same behaviour
    from trainer.cli import main

    out = tmp_path_factory.mktemp("signals-model") / "tiny.onnx"
    r = cli_invoke(main, "export", tiny_models["exact"], "--onnx", out)
    assert r.exit_code == 0, cli_explain(r)
    return out


def _vector_pdf(path: Path, pages: int) -> Path:
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)]
    for i in range(pages):
        data = _vector_page_stream(288, 360, i)
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 360] /Contents %d 0 R >>" % (4 + 2 * i))
        objs.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    path.write_bytes(pdf_bytes(objs))
    return path


@pytest.fixture
def inbox(tmp_path, text_page):
    """in/a.png, in/b.png (quick) and in/z.pdf: 64 pages that take a while at 1200 dpi (long enough
    that a second interpreter starts before the first run ends, on a quiet machine too)."""
    folder = tmp_path / "in"
    folder.mkdir()
    text_page(40, 56, seed=1).save(folder / "a.png")
    text_page(40, 56, seed=2).save(folder / "b.png")
    _vector_pdf(folder / "z.pdf", 64)
    return folder


def start(model, *args, **kw) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "trainer", "predict", str(model), *map(str, args)], env=env,
                            stdout=kw.pop("stdout", subprocess.DEVNULL), stderr=subprocess.PIPE, text=True, **kw)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            err = proc.stderr.read()[-2000:]
            pytest.fail(f"the run ended (exit {proc.returncode}) before it could be stopped: {err}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("the run did not get going in time")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie waiting for its reaper counts as exited)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def temps(*folders: Path) -> list[Path]:
    return [p for f in folders for p in f.rglob("*") if ".tmp-" in p.name]


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes in /proc")


def test_sigterm_stops_the_workers_and_says_what_was_written(model, inbox, tmp_path):
    out = tmp_path / "out"
    proc = start(model, inbox, "--fix", out, *SLOW)
    wait_for(lambda: (out / "b.png").exists(), proc)
    workers = children(proc.pid)
    assert workers, "the run has render workers"
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped by SIGTERM after") and "2 upright file(s) written" in last, err
    assert "the other 1 input(s) not written" in last and "no temporary file left" in last
    assert "Traceback" not in err
    assert all(gone(w) for w in workers), "a render worker outlived the run"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # z.pdf not written, no review.csv
    assert temps(out, inbox) == []


def test_a_second_run_into_one_out_is_refused_and_sigint_is_130(model, inbox, tmp_path):
    out = tmp_path / "out"
    first = start(model, inbox, "--fix", out, *SLOW)
    wait_for(lambda: (out / "a.png").exists(), first)
    before = (out / "a.png").read_bytes()
    second = start(model, inbox, "--fix", out, "--overwrite", "--workers", "1")
    err2 = second.communicate(timeout=60)[1]
    assert second.returncode == 1, err2
    assert err2.strip().splitlines() == [f"Error: {out}: another trainer predict is writing into this folder; wait "
                                         "for it to finish or choose another folder"]
    assert (out / "a.png").read_bytes() == before
    first.send_signal(signal.SIGINT)
    err = first.communicate(timeout=60)[1]
    assert first.returncode == 130 and "stopped by SIGINT" in err.strip().splitlines()[-1], err
    assert temps(out) == []


def test_kill_9_takes_the_workers_and_the_next_run_clears_what_it_left(model, inbox, tmp_path):
    out = tmp_path / "out"
    proc = start(model, inbox, "--fix", out, *SLOW)
    wait_for(lambda: (out / "a.png").exists(), proc)
    workers = children(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    assert workers and all(gone(w) for w in workers), "a render worker outlived its parent's kill -9"
    (out / f".z.pdf.tmp-{proc.pid}").write_bytes(b"%PDF-1.4 half a document")  # what a kill mid-write leaves
    again = start(model, inbox / "a.png", inbox / "b.png", "--fix", out, "--overwrite", "--workers", "1")
    err = again.communicate(timeout=90)[1]
    assert again.returncode == 0, err
    assert "temporary file(s) a stopped run left behind" in err and temps(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "review.csv"]


def test_a_closed_pipe_never_stops_the_writing_and_ends_quietly(model, tmp_path, text_page):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in ("a", "b", "c"):
        text_page(40, 56, seed=ord(n)).save(folder / f"{n}.png")
    _vector_pdf(folder / "d.pdf", 3)
    out = tmp_path / "out"
    proc = start(model, folder, "--fix", out, *SLOW, stdout=subprocess.PIPE)
    assert proc.stdout.readline().startswith("file\tpage")  # `| head -1`: the header, then the reader goes
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=90) == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png", "d.pdf", "review.csv"]
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err
    proc = start(model, folder, "--json", *SLOW, stdout=subprocess.PIPE)  # `--json | head -1`
    assert proc.stdout.readline().startswith("{")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=90) == 0 and err == "", err


def _unprivileged():
    """preexec_fn: a root child loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so the permission
    bits hold for it as for anyone; for another user this changes nothing."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0 and os.geteuid() == 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")


def test_a_file_this_user_may_not_read_is_a_row(model, tmp_path, text_page):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in ("a", "b", "c"):
        text_page(40, 56, seed=ord(n)).save(folder / f"{n}.png")
    os.chmod(folder / "b.png", 0)
    probe = subprocess.run([sys.executable, "-c", f"open({str(folder / 'b.png')!r}, 'rb')"], preexec_fn=_unprivileged,
                           capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this user reads files whatever their mode (root that cannot drop CAP_DAC_OVERRIDE)")
    out = tmp_path / "out"
    proc = start(model, folder, "--fix", out, "--workers", "1", stdout=subprocess.PIPE, preexec_fn=_unprivileged)
    rows, err = proc.communicate(timeout=90)
    assert proc.returncode == 1, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "review.csv"]
    row = next(ln for ln in rows.splitlines() if ln.startswith(str(folder / "b.png")))
    assert "unreadable (Permission denied)" in row
    assert "b.png,,,,unreadable," in (out / "review.csv").read_text()
