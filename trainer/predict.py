"""``trainer predict``: the orientation of each page of images and PDFs, and upright copies.

Convention: the predicted angle is the CLOCKWISE turn the page has undergone; the fix turns it
counter-clockwise by that angle.  Images are fixed by a lossless pixel transpose (JPEGs are
re-encoded at quality 95, WebP losslessly); PDFs by setting each page's /Rotate, so text stays
text.  Multi-frame images (TIFF, GIF) are predicted frame by frame and written back with every
frame.

Nothing of the user's is lost: an output folder that is, or holds, an input is refused (unless
``in_place``, which replaces each changed file atomically); outputs keep the inputs' paths
relative to their common folder, so two ``scan.png`` in different folders never collide; an
existing output file is refused unless ``overwrite``; every file is written under a temporary
name and renamed when complete.

This module needs no torch: the page path is PIL/numpy, and the engine (torch or onnxruntime)
is handed in.
"""
from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from datagen.atomic import atomic_write as _atomic
from datagen.pages import Page, PageReader, Selection, Skip, expand
from datagen.render import default_workers

ANGLES = (0, 90, 180, 270)
# PIL transposes that turn COUNTER-clockwise by the label (undoing a clockwise turn)
_UNDO = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass
class PagePrediction:
    """One page's answer.  ``angle``: the clockwise turn the page shows; ``confidence``: the
    (calibrated) probability of that angle; ``probs``: all four; ``needs_review``: the answer
    should be checked by a person (low confidence, or TTA views that disagree)."""

    file: str
    page: int | None  # 1-based for PDFs and multi-frame images, None for single images
    angle: int | None
    confidence: float | None
    probs: dict | None = None
    needs_review: bool | None = None
    reason: str | None = None  # why it needs review
    error: str | None = None

    @property
    def where(self) -> str:
        return self.file + (f"#page={self.page}" if self.page else "")

    def to_json(self) -> dict:
        d = {"file": self.file, "page": self.page, "angle": self.angle, "confidence": self.confidence,
             "probs": self.probs, "needs_review": self.needs_review}
        if self.reason:
            d["review_reason"] = self.reason
        if self.error:
            d["error"] = self.error
        return d


def tsv_field(s: str) -> str:
    """A file name safe for one tab-separated field: backslash, tab, CR and LF escaped."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


TABLE_HEAD = ("file", "page", "angle", "confidence", "p0", "p90", "p180", "p270", "needs_review")


def table_row(p: PagePrediction) -> str:
    """The tab-separated line of one prediction (the columns of :data:`TABLE_HEAD`)."""
    if p.error:
        return "\t".join([tsv_field(p.file), str(p.page or ""), "error", "", "", "", "", "", tsv_field(p.error)])
    probs = [f"{p.probs[str(a)]:.4f}" for a in ANGLES]
    review = ("yes" + (f" ({p.reason})" if p.reason else "")) if p.needs_review else "no"
    return "\t".join([tsv_field(p.file), str(p.page or ""), str(p.angle), f"{p.confidence:.4f}", *probs, review])


# --------------------------------------------------------------------------- prediction
@dataclass
class Decision:
    """How answers become review flags: ``min_confidence`` (answers below it need review) and
    whether disagreeing TTA views flag a page."""

    min_confidence: float = 0.0
    tta_disagreement: bool = True


def _finite(probs: np.ndarray, where: str) -> None:
    if not np.isfinite(probs).all():
        raise RuntimeError(f"{where}: the model produced non-finite probabilities (a damaged or diverged "
                           "checkpoint); retrain it")


def predict_pages(engine, sel: Selection, size, dpi: float, workers: int | None = None, batch_size: int = 32,
                  decision: Decision | None = None, max_pixels: int | None = None,
                  on_page: Callable[[PagePrediction], None] | None = None) -> list[PagePrediction]:
    """Predictions for every page of ``sel``, in the user's order (files as given, pages in order).

    ``size`` is the model's input size, or its ``(size, page side, crops)`` spec
    (:func:`trainer.infer.input_spec`).  ``engine.predict(x)`` takes ``(B, S, S)`` (or
    ``(B, V, S, S)``) uint8 model inputs and returns ``(probs (B, 4), agree (B,) bool | None)``:
    probabilities and, with TTA, whether the four turned views agreed.
    """
    from datagen.render import DEFAULT_MAX_PIXELS
    from .infer import model_inputs

    spec = (size, size, 0) if isinstance(size, int) else tuple(size)

    decision = decision or Decision()
    out: list[PagePrediction] = []
    buf: list[tuple[Page, np.ndarray]] = []

    def emit(p: PagePrediction) -> None:
        out.append(p)
        if on_page is not None:
            on_page(p)

    def flush():
        if not buf:
            return
        probs, agree = engine.predict(np.stack([x for _, x in buf]))
        _finite(probs, buf[0][0].source.path)
        for i, (pg, _) in enumerate(buf):
            pr = probs[i]
            c = int(pr.argmax())
            conf = float(pr[c])
            reasons = []
            if conf < decision.min_confidence:
                reasons.append(f"confidence below {decision.min_confidence:g}")
            if agree is not None and decision.tta_disagreement and not bool(agree[i]):
                reasons.append("TTA views disagree")
            emit(PagePrediction(pg.source.path, pg.number, ANGLES[c], round(conf, 4),
                                {str(a): round(float(v), 4) for a, v in zip(ANGLES, pr)}, bool(reasons),
                                "; ".join(reasons) or None))
        buf.clear()

    with PageReader(spec[1], dpi=dpi, workers=workers or default_workers(), skip_blank=False,
                    max_pixels=max_pixels or DEFAULT_MAX_PIXELS) as reader:
        for it in reader.pages(sel.sources):
            if isinstance(it, Skip):
                flush()
                page = None if it.index is None else (it.index + 1 if it.source.pdf or it.index else None)
                emit(PagePrediction(it.source.path, page, None, None, error=f"{it.where}: {it.reason}"))
                continue
            buf.append((it, model_inputs(it.fitted, it.paper, spec)))
            if len(buf) >= batch_size:
                flush()
        flush()
    return out


# --------------------------------------------------------------------------- document voting
DOC_PRIOR = 0.8  # weight of "the other pages of this document" in a page's prior (the rest is uniform)


def vote_documents(preds: list[PagePrediction], weight: float = DOC_PRIOR,
                   decision: Decision | None = None) -> list[PagePrediction]:
    """Combine the pages of each multi-page file with a prior that they share an orientation.

    For a page ``i`` of a document, the prior of angle ``c`` is ``weight * mean_j p_j(c) + (1 -
    weight) / 4`` over the document's OTHER pages ``j``, and the page's posterior is proportional
    to ``p_i(c) * prior(c)``.  A page whose own evidence is strong keeps its answer (a landscape
    table in a portrait report stays turned); a weak page follows its document.  Single pages are
    unchanged.  Confidence and review flags are recomputed from the posterior.
    """
    decision = decision or Decision()
    by_file: dict[str, list[int]] = {}
    for i, p in enumerate(preds):
        if p.probs is not None and p.page is not None:
            by_file.setdefault(p.file, []).append(i)
    out = list(preds)
    for idx in by_file.values():
        if len(idx) < 2:
            continue
        probs = np.array([[preds[i].probs[str(a)] for a in ANGLES] for i in idx], dtype=np.float64)  # (n, 4)
        total = probs.sum(0)
        for row, i in enumerate(idx):
            others = (total - probs[row]) / (len(idx) - 1)
            post = probs[row] * (weight * others + (1 - weight) / 4)
            post /= post.sum()
            c = int(post.argmax())
            old = preds[i]
            reasons = [r for r in (old.reason or "").split("; ") if r and not r.startswith("confidence below")]
            if post[c] < decision.min_confidence:
                reasons.insert(0, f"confidence below {decision.min_confidence:g}")
            out[i] = PagePrediction(old.file, old.page, ANGLES[c], round(float(post[c]), 4),
                                    {str(a): round(float(v), 4) for a, v in zip(ANGLES, post)}, bool(reasons),
                                    "; ".join(reasons) or None)
    return out


# --------------------------------------------------------------------------- the fix: where outputs go
@dataclass
class FixPlan:
    """Input file -> output file, decided (and checked) before anything is written."""

    targets: dict[str, Path] = field(default_factory=dict)
    in_place: bool = False


def plan_fix(sel: Selection, out_dir: Path | None, in_place: bool = False, overwrite: bool = False) -> FixPlan:
    """Where each input's upright copy goes; ValueError (nothing written) when the plan would
    overwrite an input, collide, or replace an existing file without ``overwrite``."""
    files = [Path(s.path) for s in sel.sources]
    if in_place:
        if out_dir is not None:
            raise ValueError("--in-place and --fix OUT exclude each other: --in-place rewrites the inputs themselves")
        return FixPlan({str(f): f for f in files}, True)
    if out_dir is None:
        raise ValueError("no output folder: give --fix OUT (or --in-place to rewrite the inputs)")
    out = out_dir.resolve()
    resolved = [f.resolve() for f in files]
    roots = [r.resolve() for _, r in sel.roots if r is not None]
    for r in roots:
        if out == r or out.is_relative_to(r):
            raise ValueError(f"{out_dir}: the output folder is, or lies inside, the input folder {r}; choose a "
                             "folder outside the inputs (or --in-place to rewrite them)")
    for f in resolved:
        if f.is_relative_to(out):
            raise ValueError(f"{out_dir}: the output folder holds the input {f}; choose a folder outside the inputs "
                             "(or --in-place to rewrite them)")
    parents = [str(f.parent) for f in resolved] + [str(r) for r in roots]
    common = Path(os.path.commonpath(parents)) if parents else Path("/")
    targets: dict[str, Path] = {}
    seen: dict[Path, str] = {}
    for f, r in zip(files, resolved):
        t = out / r.relative_to(common)
        if t in seen:  # cannot happen for distinct resolved inputs; kept as a guard
            raise ValueError(f"{f} and {seen[t]} would both be written to {t}")
        seen[t] = str(f)
        targets[str(f)] = t
    existing = [t for t in targets.values() if t.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} already exist(s); nothing was written (--overwrite replaces them)")
    return FixPlan(targets)


def _save_image(src: Path, dst: Path, turns: dict[int, int]) -> None:
    """Write ``src`` to ``dst`` with frame ``i`` turned counter-clockwise by ``turns[i]`` (0-based
    frames; missing = unchanged), every frame kept, format and metadata as far as PIL allows."""
    with Image.open(src) as im:
        fmt = im.format or "PNG"
        n = int(getattr(im, "n_frames", 1))
        frames, infos = [], []
        for i in range(n):
            im.seek(i)
            fr = ImageOps.exif_transpose(im.copy()) if i == 0 else im.copy()
            a = turns.get(i, 0)
            if _UNDO[a] is not None:
                fr = fr.transpose(_UNDO[a])
            frames.append(fr)
            infos.append(dict(im.info))
    info = infos[0]
    kw: dict = {}
    for k in ("dpi", "icc_profile", "compression", "duration", "loop", "transparency"):
        if k in info and info[k] is not None:
            kw[k] = info[k]
    if fmt == "JPEG":
        kw.update(quality=95)
        kw.pop("compression", None)
    elif fmt == "WEBP":
        kw.update(lossless=True)
    elif fmt == "TIFF" and kw.get("compression") in ("jpeg", "tiff_jpeg"):
        kw["compression"] = "tiff_lzw"  # never re-encode a page lossily a second time
    if fmt == "TIFF" and frames[0].mode == "1" and kw.get("compression") not in (None, "group3", "group4", "raw"):
        kw.pop("compression", None)

    def write(tmp: Path) -> None:
        if n > 1:
            frames[0].save(tmp, format=fmt, save_all=True, append_images=frames[1:], **kw)
        else:
            frames[0].save(tmp, format=fmt, **kw)

    try:
        _atomic(dst, write)
    except (OSError, ValueError, KeyError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        kw.pop("compression", None)  # a codec PIL cannot write: keep the pixels, drop the setting
        _atomic(dst, write)


def _save_pdf(src: Path, dst: Path, turns: dict[int, int]) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(src))
    try:
        for i, a in turns.items():
            if a:
                page = pdf[i]
                page.set_rotation((page.get_rotation() - a) % 360)  # /Rotate is clockwise
                page.close()
        _atomic(dst, lambda tmp: pdf.save(str(tmp)))
    finally:
        pdf.close()


def fix_files(preds: list[PagePrediction], plan: FixPlan, min_confidence: float = 0.0,
              review_csv: Path | None = None) -> tuple[list[Path], list[PagePrediction]]:
    """Write upright copies as ``plan`` says.  Pages with an error, or below ``min_confidence``,
    stay as they are (and are listed in ``review_csv``).  Returns (written files, pages left for
    review).  Files in which no page turns are copied byte for byte (or, in place, not touched)."""
    by_file: dict[str, list[PagePrediction]] = {}
    for p in preds:
        by_file.setdefault(p.file, []).append(p)
    written, review = [], []
    for f, pages in by_file.items():
        turns: dict[int, int] = {}
        for p in pages:
            idx = (p.page or 1) - 1
            if p.error or p.angle is None:
                review.append(p)
                continue
            if p.confidence is not None and p.confidence < min_confidence:
                review.append(p)
                continue
            if p.needs_review and min_confidence > 0:
                review.append(p)
                continue
            turns[idx] = p.angle
        src, dst = Path(f), plan.targets[f]
        if not src.is_file():  # gone since it was read (or never readable): nothing to copy
            continue
        if not any(turns.values()):
            if not plan.in_place:
                _atomic(dst, lambda tmp: shutil.copyfile(src, tmp))
                written.append(dst)
            continue
        if src.suffix.lower() == ".pdf":
            _save_pdf(src, dst, turns)
        else:
            _save_image(src, dst, turns)
        written.append(dst)
    if review_csv is not None:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["file", "page", "angle", "confidence", "reason"])
                for p in review:
                    reason = p.error or p.reason or (f"confidence below {min_confidence:g}")
                    w.writerow([p.file, p.page or "", "" if p.angle is None else p.angle,
                                "" if p.confidence is None else f"{p.confidence:.4f}", reason])
        _atomic(review_csv, write)
    return written, review


def expand_files(paths: list[Path]) -> Selection:
    """Files and folders (recursive) -> sources, in the user's order."""
    return expand(paths)

