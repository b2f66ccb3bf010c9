"""Training windows for the glyph-scale model (``datagen windows``).

Each page (a corpus PDF rendered at a log-uniform 50-300 dpi, or a ``datagen synth`` page
shrunk by a log-uniform factor) is degraded *as a whole page* (tilt, ink thickening and thinning,
blur, uneven light, stains, low contrast, noise, binarisation, low resolution, JPEG), then cut
into windows exactly as a prediction cuts them (:func:`datagen.glyphs.page_windows`, with a
jittered text scale).  The windows are stored **upright**: the trainer draws the quarter turn of
each window, and derives the label from it.  So no degradation can ever depend on the label: a
stored window carries no label at all (label-blind by construction; a test proves it).

Output (written atomically, a folder): ``train.npy`` and ``val.npy`` (``(n, WIN, WIN)`` uint8),
``train-pages.npy`` / ``val-pages.npy`` (the page each window came from, for page-level
validation), and ``windows.json`` (the configuration, counts, and every page's origin).
Documents are split as ``datagen build`` splits them (same seed, same documents); the test
documents are never read.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import glyphs

WINDOWS_FORMAT = 1


@dataclass
class WindowConfig:
    per_page: int = 80  # windows cut from each page
    target: float = glyphs.TARGET  # text scale (px) windows are cut at
    jitter: float = 0.3  # log-uniform jitter of that scale, +-
    dpi: tuple[float, float] = (50.0, 300.0)  # corpus PDFs are rendered at a log-uniform dpi in this range
    synth_scale: tuple[float, float] = (0.3, 1.0)  # synth pages are shrunk by a log-uniform factor in this range
    max_pages_per_doc: int = 24
    val_share: float = 0.05  # of synth pages (corpus documents follow the build's splits)
    strength: float = 1.0  # probability scale of the degradations
    seed: int = 0
    workers: int = 2


# --------------------------------------------------------------------------- page degradations
def _paper(gray: np.ndarray) -> int:
    return int(np.percentile(gray, 90))


def degrade(gray: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A scanned, photographed or faxed look for an upright page, drawn from ``rng`` only (the
    page's label is not an argument: whatever is drawn here is the same for every turn)."""
    import cv2

    p = lambda q: rng.random() < q * strength  # noqa: E731
    g = gray
    paper = _paper(g)
    if p(0.6):  # tilt, corners filled with the page's own paper
        h, w = g.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-3, 3)), 1.0)
        g = cv2.warpAffine(g, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=paper)
    if p(0.25):  # ink thickening (a min filter) or thinning
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 + int(rng.integers(2)),) * 2)
        g = cv2.erode(g, k) if rng.random() < 0.5 else cv2.dilate(g, k)
    if p(0.3):  # optics
        g = cv2.GaussianBlur(g, (0, 0), float(rng.uniform(0.4, 1.6)))
    if p(0.35):  # uneven light / yellowed paper: a smooth multiplicative field
        h, w = g.shape
        field_ = cv2.resize(rng.uniform(0.55, 1.0, (3, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        g = np.clip(g.astype(np.float32) * field_, 0, 255).astype(np.uint8)
    if p(0.2):  # stains: a few soft dark blobs
        h, w = g.shape
        blob = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            r = int(rng.uniform(0.03, 0.15) * max(h, w))
            cv2.circle(blob, (int(rng.integers(w)), int(rng.integers(h))), r, float(rng.uniform(20, 70)), -1)
        blob = cv2.GaussianBlur(blob, (0, 0), max(1.0, 0.02 * max(h, w)))
        g = np.clip(g.astype(np.float32) - blob, 0, 255).astype(np.uint8)
    if p(0.3):  # faded ink / low contrast
        c = float(rng.uniform(0.35, 0.9))
        g = (255 - (255 - g.astype(np.float32)) * c).astype(np.uint8)
    if p(0.3):  # sensor noise
        g = np.clip(g + rng.normal(0, rng.uniform(3, 14), g.shape), 0, 255).astype(np.uint8)
    if p(0.12):  # binarised (fax, bitonal scan)
        _, g = cv2.threshold(g, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if p(0.2):  # low resolution, scaled back up
        h, w = g.shape
        f = float(rng.uniform(0.4, 0.8))
        g = cv2.resize(cv2.resize(g, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA),
                       (w, h), interpolation=cv2.INTER_LINEAR)
    if p(0.35):  # JPEG
        ok, buf = cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        g = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(g)


# --------------------------------------------------------------------------- page tasks
@dataclass(frozen=True)
class PageTask:
    origin: str  # "pdf" or "image"
    path: str
    index: int  # page of a PDF (0-based)
    doc: str
    split: str
    seed: int  # per-page seed (same task, same windows)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def page_windows_of(task: PageTask, cfg: WindowConfig) -> np.ndarray:
    """The upright windows of one task's page (``(n, WIN, WIN)`` uint8; ``n`` may be 0)."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(task.seed)
    if task.origin == "pdf":
        from .render import render_page

        gray = render_page(task.path, task.index, _log_uniform(rng, *cfg.dpi), "pdfium")
    else:
        with Image.open(task.path) as im:
            gray = np.asarray(im.convert("L"))
        f = _log_uniform(rng, *cfg.synth_scale)
        h, w = gray.shape
        gray = cv2.resize(gray, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    gray = degrade(gray, rng, cfg.strength)
    return glyphs.page_windows(gray, cfg.per_page, cfg.target, rng=rng, jitter=cfg.jitter).windows


def _work(args):
    task, cfg = args
    try:
        return task, page_windows_of(task, cfg), None
    except Exception as e:  # a damaged page is a line in the log, never the end of a build
        return task, None, f"{type(e).__name__}: {str(e)[:160]}"


def _seed_of(seed: int, *parts) -> int:
    h = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return int.from_bytes(h[:8], "little")


def plan_tasks(pdf_docs, image_dirs, cfg: WindowConfig) -> list[PageTask]:
    """Page tasks of corpus documents (``SourceDoc`` with their split: test documents are left
    out) and of folders of upright page images (synth output), deterministically."""
    from .render import page_sizes

    tasks: list[PageTask] = []
    for d, split in pdf_docs:
        if split == "test":
            continue
        try:
            n = len(page_sizes(d.path, "pdfium"))
        except Exception as e:
            print(f"{d.path}: skipped ({e})", file=sys.stderr)
            continue
        from .manifest import parse_pages

        pages = parse_pages(d.pages, n)[: cfg.max_pages_per_doc]
        tasks += [PageTask("pdf", d.path, i, d.id, split, _seed_of(cfg.seed, d.id, i)) for i in pages]
    for folder in image_dirs:
        folder = Path(folder)
        for p in sorted(folder.glob("*.png")):
            key = f"{folder.name}/{p.stem}"
            split = "val" if (_seed_of(cfg.seed, "split", key) % 10_000) < cfg.val_share * 10_000 else "train"
            tasks.append(PageTask("image", str(p), 0, key, split, _seed_of(cfg.seed, key)))
    return tasks


def build_windows(tasks: list[PageTask], out: str | os.PathLike, cfg: WindowConfig, log=print) -> dict:
    """Cut every task's windows (``cfg.workers`` processes) and write the folder ``out``
    atomically; returns its ``windows.json``."""
    from multiprocessing import get_context

    from .atomic import atomic_dir

    got: dict[str, list] = {"train": [], "val": []}
    pages: dict[str, list] = {"train": [], "val": []}
    origins: list[dict] = []
    problems: list[str] = []
    args = [(t, cfg) for t in tasks]
    ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(max(1, cfg.workers)) as pool:
        for i, (task, win, err) in enumerate(pool.imap(_work, args, chunksize=4)):
            if err:
                problems.append(f"{task.path} page {task.index + 1}: {err}")
                continue
            pid = len(origins)
            origins.append({"doc": task.doc, "path": task.path, "page": task.index + 1, "split": task.split,
                            "windows": int(len(win))})
            if len(win):
                got[task.split].append(win)
                pages[task.split].append(np.full(len(win), pid, np.int32))
            if (i + 1) % 200 == 0:
                log(f"windows: {i + 1}/{len(tasks)} pages, {sum(map(len, got['train']))} train windows")
    meta = {"format": WINDOWS_FORMAT, "win": glyphs.WIN, "config": asdict(cfg),
            "counts": {s: int(sum(map(len, got[s]))) for s in got},
            "pages": origins, "problems": problems}
    with atomic_dir(out) as tmp:
        for s in got:
            arr = np.concatenate(got[s]) if got[s] else np.zeros((0, glyphs.WIN, glyphs.WIN), np.uint8)
            np.save(tmp / f"{s}.npy", arr)
            np.save(tmp / f"{s}-pages.npy", np.concatenate(pages[s]) if pages[s] else np.zeros(0, np.int32))
        (tmp / "windows.json").write_text(json.dumps(meta, indent=1))
    return meta


@dataclass
class WindowSet:
    """A ``datagen windows`` folder, memory-mapped."""

    path: Path
    meta: dict
    train: np.ndarray
    val: np.ndarray
    train_pages: np.ndarray
    val_pages: np.ndarray = field(repr=False)


def load_windows(path: str | os.PathLike) -> WindowSet:
    """Open a ``datagen windows`` folder (ValueError naming the folder when it is not one)."""
    path = Path(path)
    try:
        meta = json.loads((path / "windows.json").read_text())
        arrays = [np.load(path / f, mmap_mode="r") for f in ("train.npy", "val.npy", "train-pages.npy",
                                                              "val-pages.npy")]
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a windows folder written by 'datagen windows' ({type(e).__name__}: "
                         f"{str(e)[:120]})") from None
    if meta.get("format") != WINDOWS_FORMAT:
        raise ValueError(f"{path}: windows format {meta.get('format')!r}, expected {WINDOWS_FORMAT}")
    return WindowSet(path, meta, *arrays)
