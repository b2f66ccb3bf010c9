"""PDF rendering for untrusted input: two renderers, a pixel cap and a hard time limit.

Rendering runs in worker processes (:class:`RenderPool`).  A page that takes longer than the
time limit gets its worker killed and is skipped with a reason; so is a worker that crashes.
Every failure becomes a one-line reason, never a traceback.

Renderers:
* ``pdfium``  — pypdfium2 (a pure wheel); the default: several times faster, same output size.
* ``poppler`` — pdf2image over Debian's ``poppler-utils`` (``pdftoppm``/``pdfinfo``).
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator

import numpy as np

RENDERERS = ("pdfium", "poppler")
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_TIMEOUT = 60.0


class RenderError(Exception):
    """A document or page that cannot be rendered; ``str(e)`` is the one-line reason."""


def check_pdf_header(path: str | os.PathLike) -> None:
    with open(path, "rb") as f:
        head = f.read(1024)
    if b"%PDF-" not in head:
        raise RenderError("not a PDF file (" + ("an empty file)" if not head else "no %PDF header)"))


# --------------------------------------------------------------------------- pdfium
_PDFIUM_CACHE: dict[str, object] = {}


def _file_key(path: str) -> tuple:
    st = os.stat(path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns)


def close_documents() -> None:
    """Close the cached pdfium document, if any (the cache holds one at a time)."""
    for doc in list(_PDFIUM_CACHE.values()):
        doc.close()
    _PDFIUM_CACHE.clear()


def _pdfium_doc(path: str):
    """The open document for ``path`` (one cached at a time, keyed on the file's identity so a
    file replaced at the same path is reopened)."""
    import pypdfium2 as pdfium

    key = _file_key(path)
    doc = _PDFIUM_CACHE.get(key)
    if doc is None:
        close_documents()
        check_pdf_header(path)
        try:
            doc = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            # pdfium keeps its last error across documents, and some failures (an empty page
            # tree) set none: reset it with a document that loads, then ask again
            _reset_pdfium_error()
            try:
                doc = pdfium.PdfDocument(path)
            except pdfium.PdfiumError as e:
                raise _pdfium_reason(e) from None
        _PDFIUM_CACHE[key] = doc
    return doc


def _reset_pdfium_error() -> None:
    """Leave pdfium's last error at "file access": pdfium's own loader, asked for a path that
    does not exist, sets it.  A document that then fails with that code set no error of its
    own (pdfium refuses an empty page tree without one)."""
    import pypdfium2.raw as pdfium_c

    doc = pdfium_c.FPDF_LoadDocument(b"/nonexistent/docorient-reset.pdf", None)
    if doc:  # pragma: no cover - the path cannot exist
        pdfium_c.FPDF_CloseDocument(doc)


def _pdfium_reason(e: Exception) -> RenderError:
    msg = str(e).strip().rstrip(".")
    if "password" in msg.lower():
        return RenderError("needs a password (encrypted PDF)")
    if msg.endswith(("PDFium: Success)", "PDFium: Success")) or "File access error" in msg:
        # pdfium refuses an empty page tree but reports no error code of its own
        return RenderError("has no pages")
    return RenderError(f"corrupt PDF ({msg})")


def _pdfium_info(path: str) -> list[tuple[float, float]]:
    doc = _pdfium_doc(path)
    return [tuple(doc.get_page_size(i)) for i in range(len(doc))]


def pixel_size(size_pts: tuple[float, float], dpi: float) -> tuple[int, int]:
    """``(width, height)`` in pixels of a page at ``dpi``, as poppler sizes it: the page size is
    rounded to 1/1000 pt first (pdfium stores 32-bit floats: 122.4 pt reads 122.40000153)."""
    return tuple(max(1, math.ceil(round(v, 3) * dpi / 72.0 - 1e-9)) for v in size_pts)


def _pdfium_render(path: str, index: int, dpi: float) -> np.ndarray:
    doc = _pdfium_doc(path)
    page = doc[index]
    try:
        w, h = pixel_size(page.get_size(), dpi)
        img = page.render(scale=dpi / 72.0, grayscale=True).to_pil()
    finally:
        page.close()
    arr = np.array(img.convert("L"), dtype=np.uint8)
    return arr[:h, :w]  # pdfium rounds float sizes up: drop the spurious blank column/row


# --------------------------------------------------------------------------- poppler
_SIZE_RE = re.compile(r"^Page\s+(\d+)\s+size:\s+([\d.]+)\s+x\s+([\d.]+)\s+pts", re.M)
_ROT_RE = re.compile(r"^Page\s+(\d+)\s+rot:\s+(\d+)", re.M)


def _poppler_info(path: str, timeout: float = DEFAULT_TIMEOUT) -> list[tuple[float, float]]:
    check_pdf_header(path)
    try:
        p = subprocess.run(["pdfinfo", "-f", "1", "-l", "1000000", path], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(f"pdfinfo timed out after {timeout:g} s") from None
    except FileNotFoundError:
        raise RenderError("the poppler renderer needs pdfinfo/pdftoppm: apt-get install poppler-utils") from None
    err = (p.stderr or "").strip()
    if p.returncode != 0:
        if "password" in err.lower():
            raise RenderError("needs a password (encrypted PDF)")
        if "last page (0)" in err:
            raise RenderError("has no pages")
        raise RenderError(f"corrupt PDF ({err.splitlines()[-1] if err else 'pdfinfo failed'})")
    sizes = {int(n): (float(w), float(h)) for n, w, h in _SIZE_RE.findall(p.stdout)}
    rots = {int(n): int(r) for n, r in _ROT_RE.findall(p.stdout)}
    out = []
    for n in sorted(sizes):
        w, h = sizes[n]
        out.append((h, w) if rots.get(n, 0) % 180 else (w, h))
    return out


def _poppler_render(path: str, index: int, dpi: float, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFPageCountError, PDFSyntaxError

    try:
        ims = convert_from_path(path, dpi=dpi, first_page=index + 1, last_page=index + 1, grayscale=True,
                                timeout=timeout)
    except (PDFPageCountError, PDFSyntaxError) as e:
        raise RenderError(f"corrupt PDF ({str(e).strip().splitlines()[-1]})") from None
    if not ims:
        raise RenderError(f"poppler rendered nothing for page {index + 1}")
    return np.array(ims[0].convert("L"), dtype=np.uint8)


def page_sizes(path: str, renderer: str, timeout: float = DEFAULT_TIMEOUT) -> list[tuple[float, float]]:
    """Page sizes ``(width, height)`` in PDF points, as displayed; ``RenderError`` if unreadable."""
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; choose one of: {', '.join(RENDERERS)}")
    sizes = _pdfium_info(path) if renderer == "pdfium" else _poppler_info(path, timeout)
    if not sizes:
        raise RenderError("has no pages")
    return sizes


def render_page(path: str, index: int, dpi: float, renderer: str, max_pixels: int = DEFAULT_MAX_PIXELS,
                size_pts: tuple[float, float] | None = None, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
    """Page ``index`` (0-based) as a ``(H, W)`` uint8 array (0 = ink, 255 = paper).

    Refuses pages whose pixel count at ``dpi`` would exceed ``max_pixels`` before rendering.
    """
    if size_pts is None:
        size_pts = page_sizes(path, renderer, timeout)[index]
    w_px, h_px = pixel_size(size_pts, dpi)
    if w_px * h_px > max_pixels:
        raise RenderError(f"page of {w_px}x{h_px} px at {dpi:g} dpi exceeds the pixel cap of {max_pixels:,} "
                          "(--max-pixels)")
    if w_px < 1 or h_px < 1:
        raise RenderError(f"page has an empty size ({size_pts[0]:g}x{size_pts[1]:g} pt)")
    if renderer == "pdfium":
        return _pdfium_render(path, index, dpi)
    return _poppler_render(path, index, dpi, timeout)


# --------------------------------------------------------------------------- worker pool
@dataclass
class Task:
    """A unit of work for a render worker: ``kind`` is ``info`` (page sizes) or ``page``."""

    kind: str
    path: str
    index: int = 0
    payload: object = None


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies, however it dies (kill -9 too)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):  # not Linux: the parent check below still ends the worker
        pass


def _worker_main(conn, handler: Callable[[Task], object], init: Callable[[], None] | None,
                 inherited: tuple = (), parent: int | None = None) -> None:
    os.setpgrp()  # own process group: a kill also takes the renderer's children (pdftoppm)
    for sig in (signal.SIGINT, signal.SIGTERM):  # the parent decides when a run stops, and kills us
        signal.signal(sig, signal.SIG_DFL)
    _die_with_parent()
    for c in inherited:  # the parent's ends of every pipe: held here, they would keep a pipe open
        c.close()        # after the parent died, and a worker blocked on it would never see EOF
    if "torch" in sys.modules:  # forked after the parent used torch: one thread, as DataLoader workers do
        sys.modules["torch"].set_num_threads(1)
    if init is not None:
        init()
    if parent is None:
        parent = os.getppid()
    elif os.getppid() != parent:  # the parent died before PR_SET_PDEATHSIG took effect
        return
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent:  # the build was killed (kill -9): do not linger as an orphan
                    return
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        seq, task = msg
        try:
            result = ("ok", handler(task))
        except RenderError as e:
            result = ("skip", str(e))
        except MemoryError:
            result = ("skip", "renderer ran out of memory")
        except Exception as e:  # an untrusted file must not kill the build: report it
            result = ("skip", _reason(e))
        conn.send((seq, result))


def _reason(e: Exception) -> str:
    """The one-line reason of a task that raised ``e``."""
    if isinstance(e, FileNotFoundError):
        return "no such file"
    if isinstance(e, OSError) and e.errno is not None:  # the file itself: permissions, an I/O error
        return f"unreadable ({e.strerror or e})"
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"


class RenderPool:
    """Ordered parallel map over :class:`Task` with a hard per-task time limit.

    ``imap(tasks)`` yields ``(task, status, value)`` in submission order; ``status`` is ``ok`` or
    ``skip`` (value = reason).  A task running past ``timeout`` seconds has its worker killed and
    replaced; a crashed worker likewise.  Workers are forked, so ``handler`` may be any callable.
    """

    def __init__(self, handler: Callable[[Task], object], workers: int = 1, timeout: float = DEFAULT_TIMEOUT,
                 init: Callable[[], None] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (rendering always runs in a worker process), got {workers}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.handler, self.n, self.timeout, self.init = handler, workers, timeout, init
        self.ctx = mp.get_context("fork")
        self.workers: list[list] = []  # [process, conn, (seq, task, start) | None]

    def _spawn(self):
        parent, child = self.ctx.Pipe()
        inherited = (parent, *(w[1] for w in self.workers))
        p = self.ctx.Process(target=_worker_main, args=(child, self.handler, self.init, inherited, os.getpid()),
                             daemon=True)
        p.start()
        child.close()
        return [p, parent, None]

    def __enter__(self):
        self.workers = []
        for _ in range(self.n):  # one at a time: each new worker closes the pipes of those before it
            self.workers.append(self._spawn())
        return self

    def __exit__(self, *exc):
        """Stop the workers: asked to finish after a normal end, killed at once when the run is
        stopped by an exception (a signal, an interrupt, an error)."""
        stopping = exc and exc[0] is not None
        try:
            if not stopping:
                for p, conn, _ in self.workers:
                    try:
                        conn.send(None)
                    except (BrokenPipeError, OSError):
                        pass
                for p, _, _ in self.workers:
                    p.join(timeout=2)
        finally:  # whatever interrupts the goodbye, no worker is left behind
            for p, conn, _ in self.workers:
                self._kill(p)
                p.join()
                conn.close()
            self.workers = []

    @staticmethod
    def _kill(p) -> None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if p.is_alive():
                p.kill()

    def _replace(self, i: int) -> None:
        p, conn, _ = self.workers[i]
        self._kill(p)
        p.join()
        conn.close()
        self.workers[i] = self._spawn()

    def imap(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, str, object]]:
        it = enumerate(tasks)
        done: dict[int, tuple[Task, str, object]] = {}
        next_out, exhausted, pending = 0, False, 0
        while True:
            for w in self.workers:  # feed idle workers
                if w[2] is None and not exhausted and len(done) < 4 * self.n:
                    try:
                        seq, task = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    w[1].send((seq, task))
                    w[2] = (seq, task, time.monotonic())
                    pending += 1
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
            if exhausted and pending == 0:
                return
            busy = [w for w in self.workers if w[2] is not None]
            ready = wait([w[1] for w in busy] + [w[0].sentinel for w in busy], timeout=0.05)
            now = time.monotonic()
            for i, w in enumerate(self.workers):
                if w[2] is None:
                    continue
                seq, task, start = w[2]
                if w[1] in ready:
                    try:
                        rseq, (status, value) = w[1].recv()
                    except (EOFError, OSError):
                        status, value = "skip", f"renderer crashed (exit code {w[0].exitcode})"
                        self._replace(i)
                    else:
                        self.workers[i][2] = None
                    done[seq] = (task, status, value)
                    self.workers[i][2] = None
                    pending -= 1
                elif not w[0].is_alive():
                    done[seq] = (task, "skip", f"renderer crashed (exit code {w[0].exitcode})")
                    self._replace(i)
                    pending -= 1
                elif now - start > self.timeout:
                    done[seq] = (task, "skip", f"render timed out after {self.timeout:g} s (--render-timeout)")
                    self._replace(i)
                    pending -= 1


def cpu_count() -> int:
    """Cores this process may use (its affinity mask), not the machine's total."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    return max(1, min(8, cpu_count()))

