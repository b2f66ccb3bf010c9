"""One page path: every PDF page and every image frame reaches the model the same way.

A **source** is one file (a PDF or an image) with the pages (or frames) to take from it.  The
render workers of :class:`~datagen.render.RenderPool` turn each selected page into a **prepared
page**: its key, the page fitted inside ``side x side`` (8-bit, :func:`~datagen.preprocess.fit_image`),
the paper level of the full page (:func:`~datagen.preprocess.paper_level`) and the source size.
:func:`iter_pages` yields prepared pages, or skip reasons, in the order of the sources and of
their pages; :func:`~datagen.preprocess.square` then makes the model input of any turn of a page.
``datagen build``, ``trainer eval``/``predict`` and ``interpret`` all go through here, so a page is
the same bytes whichever command reads it.

Untrusted input: PDFs render with a pixel cap and a time limit (:mod:`datagen.render`); images
are refused above the same pixel cap before they are decoded, and decode in the same workers,
under the same time limit, so a hostile file costs at most one worker.
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .preprocess import fit_image, fit_shape, ink_share, paper_level, to_gray
from .render import (DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT, RENDERERS, RenderError, RenderPool, Task, page_sizes,
                     render_page)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".pbm", ".pgm", ".ppm")
PAGE_EXTS = (".pdf",) + IMAGE_EXTS
BLANK_INK = 0.001  # pages with less than 0.1 % ink pixels carry no orientation
# PIL's own bomb guard stays as a backstop above our cap (it raises at twice this value)
Image.MAX_IMAGE_PIXELS = 2 * 10 ** 9

_UNDO_CW = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def is_pdf(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".pdf"


@dataclass(frozen=True)
class Source:
    """One file and what to take from it.

    ``pages``: 0-based page (or frame) indices, or ``spec``, a 1-based selection such as
    ``"1-3,7"`` (a manifest's ``pages``); all pages when both are None.  ``problem``: why the
    file cannot be read, when that is known before reading it (a dangling link, a link loop, a
    FIFO...): it is then reported in its place and never opened.  ``limit``: at most that
    many of the selected pages.  ``rotation``: the clockwise turn (degrees) of the stored pages
    away from upright, one value or ``((1-based page, angle), ...)``; it is undone when a page is
    read, so every prepared page is upright as far as the source knows.  ``meta`` travels with
    every page (kind, script, ...).
    """

    path: str
    doc: str
    pages: tuple[int, ...] | None = None
    rotation: int | tuple = 0
    meta: tuple = ()
    spec: str | None = None
    limit: int | None = None
    problem: str | None = None

    def rotation_of(self, index: int) -> int:
        if isinstance(self.rotation, tuple):
            return dict(self.rotation).get(index + 1, 0)
        return self.rotation

    @property
    def pdf(self) -> bool:
        return is_pdf(self.path)

    def select(self, count: int) -> list[int]:
        """The 0-based indices this source takes from a file of ``count`` pages."""
        if self.pages is not None:
            idx = [i for i in self.pages if 0 <= i < count]
        elif self.spec is not None:
            from .manifest import parse_pages

            idx = parse_pages(self.spec, count)
        else:
            idx = list(range(count))
        return idx[:self.limit] if self.limit else idx


def source(path: str | os.PathLike, doc: str | None = None, pages=None, rotation=0, spec: str | None = None,
           limit: int | None = None, **meta) -> Source:
    """A :class:`Source` from friendly arguments (a dict rotation, a list of pages, meta keywords)."""
    rot = tuple(sorted((int(k), int(v)) for k, v in rotation.items())) if isinstance(rotation, dict) else int(rotation)
    return Source(str(path), doc or Path(path).stem, None if pages is None else tuple(pages), rot,
                  tuple(sorted((k, v) for k, v in meta.items() if v is not None)), spec, limit)


def doc_source(d, limit: int | None = None) -> Source:
    """The :class:`Source` that reads a manifest document's selected pages
    (:class:`datagen.manifest.SourceDoc`)."""
    return source(d.path, doc=d.id, spec=d.pages, limit=limit, rotation=d.rotation, kind=d.kind, script=d.script)


@dataclass
class Page:
    """A prepared page: upright as far as its source knows, fitted inside ``side x side``."""

    source: Source
    index: int  # 0-based page or frame
    count: int  # pages or frames in the file
    fitted: np.ndarray  # (h, w) uint8
    paper: int  # paper level of the full page, 0..255
    src_size: tuple[int, int]  # (H, W) of the full page, upright
    extra: dict | None = None  # what the reader's ``prep`` made of the full page (glyph windows)

    @property
    def key(self) -> str:
        """``<doc>-p<page>`` (1-based): the stem of a WebDataset sample key."""
        return f"{self.source.doc}-p{self.index + 1}"

    @property
    def number(self) -> int | None:
        """The 1-based page for PDFs and multi-frame images; None for a single image."""
        return self.index + 1 if (self.source.pdf or self.count > 1) else None

    @property
    def meta(self) -> dict:
        return dict(self.source.meta)


@dataclass
class Skip:
    """A source or page that gave no prepared page, with its one-line reason."""

    source: Source
    index: int | None  # 0-based page, None when the whole file failed
    reason: str

    @property
    def blank(self) -> bool:
        return self.reason.startswith("blank page")

    @property
    def where(self) -> str:
        return self.source.path + (f" page {self.index + 1}" if self.index is not None else "")


# --------------------------------------------------------------------------- reading one page
def _open_image(path: str, max_pixels: int) -> Image.Image:
    try:
        im = Image.open(path)
    except FileNotFoundError:
        raise RenderError("no such file") from None
    except Image.DecompressionBombError:
        raise RenderError(f"image exceeds the pixel cap of {max_pixels:,} (--max-pixels)") from None
    except OSError as e:
        if e.errno is not None:  # the system refused the file itself, PIL never saw its bytes
            raise RenderError(f"unreadable ({e.strerror})") from None
        empty = os.path.isfile(path) and os.path.getsize(path) == 0
        raise RenderError("not a readable image (an empty file)" if empty else
                          f"not a readable image ({type(e).__name__}: {str(e)[:120]})") from None
    except (UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise RenderError(f"not a readable image ({type(e).__name__}: {str(e)[:120]})") from None
    w, h = im.size
    if w < 1 or h < 1:
        raise RenderError(f"image has an empty size ({w}x{h})")
    if w * h > max_pixels:
        im.close()
        raise RenderError(f"image of {w}x{h} px exceeds the pixel cap of {max_pixels:,} (--max-pixels)")
    return im


QUARTER_ORIENTATIONS = (5, 6, 7, 8)  # EXIF/TIFF Orientation values that swap the stored axes


def displayed(im: Image.Image) -> tuple[Image.Image, bool]:
    """The current frame of an open image as a viewer shows it (its EXIF or TIFF Orientation
    applied), and whether that swapped its axes (the shown x axis is the stored y axis).

    Every reader of a page and the writer of its upright copy (``trainer predict --fix``) go
    through here, so the copy is turned from exactly the pixels the model saw.  Pillow applies
    a TIFF's Orientation itself when it loads some TIFFs and not others; the swap is read off
    the stored size (tags 256/257) where it can be, so it is right either way.
    """
    orientation = im.getexif().get(274, 1)
    tags = getattr(im, "tag_v2", None)
    stored = (tags.get(256), tags.get(257)) if tags is not None else None
    im.load()
    # exif_transpose copies the whole image even when there is nothing to turn
    shown = ImageOps.exif_transpose(im) if orientation in range(2, 9) else im
    if stored and None not in stored and stored[0] != stored[1]:
        return shown, shown.size == (stored[1], stored[0])
    return shown, orientation in QUARTER_ORIENTATIONS


def image_frames(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Frames in an image file (1 for most; TIFF and GIF may hold several)."""
    im = _open_image(path, max_pixels)
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    finally:
        im.close()


def read_image(path: str, index: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS, side: int | None = None
               ) -> Image.Image:
    """Frame ``index`` of an image file as 8-bit gray, as a user sees it (EXIF orientation applied).

    With ``side``, a JPEG decodes at the smallest DCT scale that keeps at least twice the fitted
    size (``draft``), which is several times faster and leaves the area-averaged result alike.
    """
    im = _open_image(path, max_pixels)
    try:
        if index:
            try:
                im.seek(index)
            except EOFError:
                raise RenderError(f"has no frame {index + 1}") from None
        if im.size[0] * im.size[1] > max_pixels:
            raise RenderError(f"frame {index + 1} of {im.size[0]}x{im.size[1]} px exceeds the pixel cap of "
                              f"{max_pixels:,} (--max-pixels)")
        if side is not None and im.format == "JPEG":
            w, h = im.size
            nh, nw = fit_shape(h, w, side)
            im.draft("L", (2 * nw, 2 * nh))
        try:
            gray = to_gray(displayed(im)[0])
            return gray.copy() if gray is im else gray  # the file's image is closed below
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise RenderError(f"not a readable image ({type(e).__name__}: {str(e)[:120]})") from None
    finally:
        im.close()


class PageJob:
    """The render-worker job: ``info`` tasks count a file's pages (``page_sizes`` of a PDF, the
    frames of an image); ``page`` tasks read one page, undo its source rotation, skip it when
    blank, and prepare it at ``side``.  Picklable, so workers may be forked or spawned."""

    def __init__(self, side: int, dpi: float = 100.0, renderer: str = "pdfium",
                 max_pixels: int = DEFAULT_MAX_PIXELS, timeout: float = DEFAULT_TIMEOUT, skip_blank: bool = True,
                 prep=None):
        if renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {renderer!r}; choose one of: {', '.join(RENDERERS)}")
        self.side, self.dpi, self.renderer, self.max_pixels = side, dpi, renderer, max_pixels
        self.timeout, self.skip_blank = timeout, skip_blank
        # prep(gray (h, w) uint8) -> dict, on the full page in the worker (the window model's cut);
        # when it finds windows and does not need the whole view, the page is not fitted at all
        self.prep = prep

    def __call__(self, task: Task):
        if task.kind == "info":
            if is_pdf(task.path):
                return page_sizes(task.path, self.renderer, self.timeout)
            return image_frames(task.path, self.max_pixels)
        src: Source = task.payload["source"]
        if src.pdf:
            arr = render_page(task.path, task.index, self.dpi, self.renderer, self.max_pixels,
                              size_pts=task.payload["size_pts"], timeout=self.timeout)
            gray = Image.fromarray(arr, mode="L")
        else:
            draft = max(self.side, getattr(self.prep, "draft_side", 0) or 0)
            gray = read_image(task.path, task.index, self.max_pixels, draft)
        rot = src.rotation_of(task.index)
        if rot:
            gray = gray.transpose(_UNDO_CW[rot])  # counter-clockwise by the stored clockwise turn
        paper = paper_level(gray)
        if self.skip_blank:
            ink = ink_share(gray, paper)
            if ink < BLANK_INK:
                raise RenderError(f"blank page (ink {100 * ink:.3f} % of pixels)")
        extra = self.prep(np.asarray(gray)) if self.prep is not None else None
        lazy = extra is not None and len(extra.get("windows", ())) and not getattr(self.prep, "needs_fit", True)
        return {"fitted": None if lazy else fit_image(gray, self.side), "paper": paper,
                "src_size": (gray.size[1], gray.size[0]), "extra": extra}


# --------------------------------------------------------------------------- many pages
class PageReader:
    """One :class:`~datagen.render.RenderPool` for a whole run: :meth:`counts` asks every file
    how many pages it has, :meth:`pages` prepares the selected ones, ``workers`` at a time, in
    order.  ``job`` replaces the worker job (tests simulate hangs and crashes with it)."""

    def __init__(self, side: int, *, dpi: float = 100.0, renderer: str = "pdfium", workers: int = 1,
                 timeout: float = DEFAULT_TIMEOUT, max_pixels: int = DEFAULT_MAX_PIXELS, skip_blank: bool = True,
                 job=None, prep=None):
        self.job = job or PageJob(side, dpi, renderer, max_pixels, timeout, skip_blank, prep)
        self.pool = RenderPool(self.job, workers=max(1, workers), timeout=timeout)

    def __enter__(self) -> "PageReader":
        self.pool.__enter__()
        return self

    def __exit__(self, *exc):
        self.pool.__exit__(*exc)

    def counts(self, sources: list[Source]) -> list[int | str]:
        """Per source: its number of pages (PDF) or frames (image), or the reason it cannot be read."""
        out: list[int | str] = []
        self._sizes: dict[str, list] = getattr(self, "_sizes", {})
        answers = self.pool.imap(Task("info", s.path) for s in sources if s.problem is None)
        for src in sources:
            if src.problem is not None:  # known before reading: the file is never opened
                out.append(src.problem)
                continue
            _, status, value = next(answers)
            if status != "ok":
                out.append(str(value))
            elif src.pdf:
                self._sizes[src.path] = value
                out.append(len(value))
            else:
                out.append(int(value))
        for _ in answers:  # let the pool's generator finish (every answer is in already)
            pass
        return out

    def pages(self, sources: list[Source], counts: list[int | str] | None = None) -> Iterator[Page | Skip]:
        """Prepared pages (or skips) of ``sources``, in source order then page order."""
        counts = self.counts(sources) if counts is None else counts
        plan: list[tuple[Source, int, int | str]] = []
        for src, n in zip(sources, counts):
            if isinstance(n, str):
                plan.append((src, -1, n))  # a failed file keeps its place in the order
            else:
                plan.extend((src, i, n) for i in src.select(n))
        sizes = getattr(self, "_sizes", {})
        results = iter(self.pool.imap(
            Task("page", s.path, i, {"source": s, "size_pts": sizes[s.path][i] if s.pdf else None})
            for s, i, _ in plan if i >= 0))
        for src, i, n in plan:
            if i < 0:
                yield Skip(src, None, str(n))
                continue
            _, status, value = next(results)
            if status != "ok":
                yield Skip(src, i, str(value))
                continue
            yield Page(src, i, int(n), value["fitted"], int(value["paper"]), tuple(value["src_size"]),
                       value.get("extra"))


def iter_pages(sources: Iterable[Source], side: int, **kw) -> Iterator[Page | Skip]:
    """Prepared pages of ``sources``, in their order and page order, or :class:`Skip` reasons
    (keywords as :class:`PageReader`)."""
    sources = list(sources)
    with PageReader(side, **kw) as reader:
        yield from reader.pages(sources)


def collect(items: Iterable[Page | Skip], errors: list[dict] | None = None, keep_blank: bool = False
            ) -> Iterator[Page]:
    """Pages of ``items``; skips go to ``errors`` as ``{"item", "reason"}`` (blank pages too when
    ``keep_blank``, else they are dropped: a blank page has no orientation to get wrong)."""
    for it in items:
        if isinstance(it, Page):
            yield it
        elif errors is not None and (keep_blank or not it.blank):
            errors.append({"item": it.where, "reason": it.reason})


@dataclass
class Selection:
    """What the user named on a command line, expanded to sources in the user's order."""

    sources: list[Source] = field(default_factory=list)
    roots: list[tuple[Path, Path | None]] = field(default_factory=list)  # (file, folder it was found in)


def _missing(p: Path, err: OSError) -> str:
    """Why ``os.stat(p)`` failed, in words."""
    if err.errno == errno.ELOOP:
        return "symbolic link loop; not followed"
    if isinstance(err, FileNotFoundError):
        return f"dangling symbolic link (to {os.readlink(p)})" if os.path.islink(p) else "no such file or folder"
    return f"unreadable ({err.strerror})"


def _not_regular(mode: int) -> str:
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a plain file")
    return f"not a regular file ({kind}); not read"


def _scan(top: Path, exts: tuple[str, ...], visited: dict) -> list[tuple[Path, str | None]]:
    """Files with ``exts`` below ``top``, named by the path they were found at (a link under its
    own name), sorted; ``(path, problem)`` for those that cannot be read.  Links to folders are
    followed after the real folders, each real folder read once: a link back to a folder above
    it (a loop), or to a folder already read, is a problem row, not a second walk."""
    found: list[tuple[Path, str | None]] = []
    links: list[tuple[Path, os.stat_result]] = []

    def walk(d: Path) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as err:
            found.append((d, f"unreadable folder ({err.strerror})"))
            return
        for e in entries:
            q = d / e.name
            try:
                st = os.stat(q)
            except OSError as err:
                if q.suffix.lower() in exts or err.errno == errno.ELOOP:
                    found.append((q, _missing(q, err)))
                continue
            if stat.S_ISDIR(st.st_mode):
                if e.is_symlink():
                    links.append((q, st))
                else:
                    visited.setdefault((st.st_dev, st.st_ino), q)
                    walk(q)
            elif q.suffix.lower() in exts:
                found.append((q, None if stat.S_ISREG(st.st_mode) else _not_regular(st.st_mode)))

    st = os.stat(top)
    visited.setdefault((st.st_dev, st.st_ino), top)
    walk(top)
    while links:
        q, st = links.pop(0)
        first = visited.get((st.st_dev, st.st_ino))
        if first is None:
            visited[(st.st_dev, st.st_ino)] = q
            walk(q)
            continue
        target, here = os.path.realpath(q), os.path.realpath(q.parent)
        loop = here == target or here.startswith(target.rstrip(os.sep) + os.sep)
        found.append((q, f"symbolic link loop (leads back to {first}); not followed" if loop else
                         f"link to a folder already read as {first}; not followed"))
    return sorted(found, key=lambda t: t[0])


def expand(paths: Iterable[str | os.PathLike], exts: tuple[str, ...] = PAGE_EXTS, strict: bool = True) -> Selection:
    """Files and folders (recursive, sorted) -> sources, in the order given; a folder contributes
    its files with ``exts``.

    Every file keeps the path the user gave or it was found at: a symbolic link is read under
    its own name (outputs that mirror inputs are named after the link, not its target), and a
    link to a folder is followed once (see :func:`_scan`).  The same path twice is kept once,
    at first sight; two links to one file are two inputs.

    Args:
        strict: a named path that cannot be read raises ValueError (``trainer eval``); False:
            it becomes a source with a ``problem`` (``trainer predict``: a row of its own, and
            the run goes on).  Problems met inside folders are always sources with a problem.
    """
    sel, seen, visited = Selection(), set(), {}
    kinds = "images or PDFs" if ".pdf" in exts else "images"
    for p in map(Path, paths):
        problem, pairs = None, []
        try:
            st = os.stat(p)
        except OSError as err:
            problem = _missing(p, err)
        else:
            if stat.S_ISDIR(st.st_mode):
                pairs = [(q, p, why) for q, why in _scan(p, exts, visited)]
                problem = None if pairs else f"folder holds no {kinds}"
            elif p.suffix.lower() not in exts:
                problem = f"not a PDF or an image file docorient reads ({', '.join(exts)})"
            elif not stat.S_ISREG(st.st_mode):
                problem = _not_regular(st.st_mode)
            else:
                pairs = [(p, None, None)]
        if problem is not None:
            if strict:
                raise ValueError(f"{p}: {problem}")
            pairs = [(p, None, problem)]
        for q, root, why in pairs:
            key = os.path.abspath(q)
            if key in seen:
                continue
            seen.add(key)
            sel.sources.append(Source(str(q), q.stem, problem=why))
            sel.roots.append((q, root))
    return sel


def read_path_list(data: bytes, null: bool = False) -> list[str]:
    """Paths from a list such as ``find`` prints: one per line (a CRLF line ending counts as
    one), or NUL-separated (``null``, ``find -print0``: any name, newlines included); empty
    entries are dropped, bytes that are not UTF-8 kept as the file system's own (``os.fsdecode``)."""
    items = data.split(b"\0") if null else [b[:-1] if b.endswith(b"\r") else b for b in data.split(b"\n")]
    return [os.fsdecode(b) for b in items if b]
