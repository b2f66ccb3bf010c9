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
import fcntl
import os
import shutil
import stat
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from datagen.atomic import atomic_write as _atomic
from datagen.pages import Page, PageReader, Selection, Skip, expand
from datagen.render import default_workers

from .infer import engine_answers, engine_input

ANGLES = (0, 90, 180, 270)


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
    basis: str | None = None  # what answered: "windows", "whole" (no text found) or "none"
    windows: int | None = None  # glyph windows voted
    text_scale: float | None = None  # the page's text scale (px of the page as read), None: no text found
    skew: float | None = None  # the clockwise fine tilt, degrees in [-45, 45) (trainer.skew); None: not estimated
    skew_confidence: float | None = None  # its confidence; below trainer.skew.MIN_CONFIDENCE it needs review

    @property
    def where(self) -> str:
        return self.file + (f"#page={self.page}" if self.page else "")

    def to_json(self) -> dict:
        d = {"file": self.file, "page": self.page, "angle": self.angle, "confidence": self.confidence,
             "probs": self.probs, "needs_review": self.needs_review}
        if self.basis is not None:
            d.update(basis=self.basis, windows=self.windows, text_scale=self.text_scale)
        if self.skew is not None:
            d.update(skew=self.skew, skew_confidence=self.skew_confidence)
        if self.reason:
            d["review_reason"] = self.reason
        if self.error:
            d["error"] = self.error
            d["error_reason"] = reason_of(self)  # the short reason review.csv gives
        return d


def tsv_field(s: str) -> str:
    """A file name safe for one tab-separated field: backslash, tab, CR and LF escaped."""
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


TABLE_HEAD = ("file", "page", "angle", "confidence", "p0", "p90", "p180", "p270", "needs_review")
SKEW_HEAD = ("skew", "skew_confidence")  # appended to the table when the skew is asked for


def table_row(p: PagePrediction, skew: bool = False) -> str:
    """The tab-separated line of one prediction (the columns of :data:`TABLE_HEAD`)."""
    if p.error:
        return "\t".join([tsv_field(p.file), str(p.page or ""), "error", "", "", "", "", "", tsv_field(p.error)])
    probs = [f"{p.probs[str(a)]:.4f}" for a in ANGLES]
    review = ("yes" + (f" ({p.reason})" if p.reason else "")) if p.needs_review else "no"
    fine = ([f"{p.skew:.2f}", f"{p.skew_confidence:.4f}"] if p.skew is not None else ["", ""]) if skew else []
    return "\t".join([tsv_field(p.file), str(p.page or ""), str(p.angle), f"{p.confidence:.4f}", *probs, review, *fine])


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


def iter_predictions(engine, sel: Selection, size, dpi: float, workers: int | None = None, batch_size: int = 32,
                     decision: Decision | None = None, max_pixels: int | None = None,
                     skew: bool = False) -> Iterator[PagePrediction]:
    """Predictions for every page of ``sel``, in the user's order (files as given, pages in
    order), as they are made; a file or page that cannot be read is a prediction with an
    ``error``.  Closing the generator stops the render workers.

    ``size`` is the model's input size, or its ``(size, page side, crops)`` spec
    (:func:`trainer.infer.input_spec`).  ``engine.predict(x)`` takes ``(B, S, S)`` (or
    ``(B, V, S, S)``) uint8 model inputs and returns ``(probs (B, 4), agree (B,) bool | None)``:
    probabilities and, with TTA, whether the four turned views agreed.
    """
    from datagen.render import DEFAULT_MAX_PIXELS

    spec = (size, size, 0) if isinstance(size, int) else tuple(size)
    decision = decision or Decision()
    prep = getattr(engine, "prep", None)
    if skew:  # the fine tilt of every page, on the full page in the render worker
        from .skew import SkewPrep

        prep = SkewPrep(prep)
    ready: list[PagePrediction] = []
    buf: list[tuple[Page, object]] = []

    def flush():
        if not buf:
            return
        probs, agree, infos = engine_answers(engine, [x for _, x in buf])
        _finite(probs, buf[0][0].source.path)
        for i, (pg, _) in enumerate(buf):
            p = decide(pg.source.path, pg.number, probs[i], None if agree is None else agree[i], decision, infos[i])
            sk = (pg.extra or {}).get("skew")
            if sk is not None:
                p.skew, p.skew_confidence = sk.angle, sk.confidence
            ready.append(p)
        buf.clear()

    with PageReader(spec[1], dpi=dpi, workers=workers or default_workers(), skip_blank=False,
                    max_pixels=max_pixels or DEFAULT_MAX_PIXELS, prep=prep) as reader:
        for it in reader.pages(sel.sources):
            if isinstance(it, Skip):
                flush()
                page = None if it.index is None else (it.index + 1 if it.source.pdf or it.index else None)
                ready.append(PagePrediction(it.source.path, page, None, None, error=f"{it.where}: {it.reason}"))
            else:
                buf.append((it, engine_input(engine, it, spec)))
                if len(buf) >= batch_size:
                    flush()
            yield from ready
            ready.clear()
        flush()
        yield from ready


def decide(file: str, page: int | None, pr: np.ndarray, agree, decision: Decision, info: dict) -> PagePrediction:
    """One page's prediction from its probabilities: the angle, its confidence and the review
    flag (confidence below the threshold, disagreeing TTA views, or no evidence at all)."""
    c = int(pr.argmax())
    conf = float(pr[c])
    reasons = []
    if info.get("basis") == "none":
        reasons.append("no text found")
    elif conf < decision.min_confidence:
        reasons.append(f"confidence below {decision.min_confidence:g}")
    if agree is not None and decision.tta_disagreement and not bool(agree):
        reasons.append("TTA views disagree")
    return PagePrediction(file, page, ANGLES[c], round(conf, 4), {str(a): round(float(v), 4) for a, v in zip(ANGLES, pr)},
                          bool(reasons), "; ".join(reasons) or None, basis=info.get("basis"),
                          windows=info.get("windows"), text_scale=info.get("text_scale"))


def predict_pages(engine, sel: Selection, size, dpi: float, workers: int | None = None, batch_size: int = 32,
                  decision: Decision | None = None, max_pixels: int | None = None,
                  on_page: Callable[[PagePrediction], None] | None = None) -> list[PagePrediction]:
    """Every prediction of :func:`iter_predictions`, as a list (``on_page`` sees each one as it
    is made)."""
    out = []
    with closing(iter_predictions(engine, sel, size, dpi, workers, batch_size, decision, max_pixels)) as it:
        for p in it:
            out.append(p)
            if on_page is not None:
                on_page(p)
    return out


def by_file(preds: Iterable[PagePrediction]) -> Iterator[list[PagePrediction]]:
    """The predictions of one file at a time, each list complete (a file's pages come together)."""
    group: list[PagePrediction] = []
    for p in preds:
        if group and p.file != group[0].file:
            yield group
            group = []
        group.append(p)
    if group:
        yield group


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
    """Input file -> output file, decided (and checked) before anything is read or written.

    ``snapshots``: each input's stat before it was read (a file that changes meanwhile is not
    written); ``skip``: inputs that are not rewritten, with the reason (in place, a second name
    of a file already rewritten through its first)."""

    targets: dict[str, Path] = field(default_factory=dict)
    in_place: bool = False
    overwrite: bool = False
    snapshots: dict[str, os.stat_result] = field(default_factory=dict)
    skip: dict[str, str] = field(default_factory=dict)


def _snapshot(plan: FixPlan, f: str) -> None:
    try:
        plan.snapshots[f] = os.stat(f)
    except OSError:  # the reader reports it in its row
        pass


def plan_fix(sel: Selection, out_dir: Path | None, in_place: bool = False, overwrite: bool = False) -> FixPlan:
    """Where each input's upright copy goes; ValueError (nothing written) when the plan would
    overwrite an input, collide, or replace an existing file without ``overwrite``.

    Outputs mirror the paths as the user gave them, relative to their common folder: a
    symbolic link's copy is named after the link, never its target.  In place, the file behind
    a link is rewritten (the link stays a link), and a file met under two names once."""
    files = [s.path for s in sel.sources if s.problem is None]
    if in_place:
        if out_dir is not None:
            raise ValueError("--in-place and --fix OUT exclude each other: --in-place rewrites the inputs themselves")
        plan, first = FixPlan(in_place=True, overwrite=True), {}
        for f in files:
            real = Path(os.path.realpath(f))
            plan.targets[f] = real
            _snapshot(plan, f)
            if real in first:
                plan.skip[f] = f"the same file as {first[real]}, rewritten once through that name"
            first.setdefault(real, f)
        return plan
    if out_dir is None:
        raise ValueError("no output folder: give --fix OUT (or --in-place to rewrite the inputs)")
    out = out_dir.resolve()
    roots = [r for _, r in sel.roots if r is not None]
    for r in roots:
        if out == r.resolve() or out.is_relative_to(r.resolve()):
            raise ValueError(f"{out_dir}: the output folder is, or lies inside, the input folder {r}; choose a "
                             "folder outside the inputs (or --in-place to rewrite them)")
    for f in files:
        if Path(f).resolve().is_relative_to(out):
            raise ValueError(f"{out_dir}: the output folder holds the input {f}; choose a folder outside the inputs "
                             "(or --in-place to rewrite them)")
    given = [Path(os.path.abspath(f)) for f in files]
    parents = [str(g.parent) for g in given] + [os.path.abspath(r) for r in roots]
    common = Path(os.path.commonpath(parents)) if parents else Path("/")
    plan, seen = FixPlan(overwrite=overwrite), {}
    for f, g in zip(files, given):
        t = Path(os.path.abspath(out_dir)) / g.relative_to(common)
        if t in seen:  # cannot happen for distinct inputs; kept as a guard
            raise ValueError(f"{f} and {seen[t]} would both be written to {t}")
        seen[t] = f
        plan.targets[f] = t
        _snapshot(plan, f)
    review = Path(os.path.abspath(out_dir)) / "review.csv"
    existing = [t for t in [*plan.targets.values(), review] if t.exists() or t.is_symlink()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]}{more} already exist(s); nothing was written (--overwrite replaces them)")
    return plan


class NotWritten(Exception):
    """A file whose upright copy was not written; ``str(e)`` says why, in one line."""


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def _unchanged(write: Callable[[Path], object], src: Path, snap: os.stat_result | None) -> Callable[[Path], None]:
    """``write``, then a check that ``src`` is still the file that was read (before the rename)."""

    def checked(tmp: Path) -> None:
        write(tmp)
        if snap is not None and not _same_file(os.stat(src), snap):
            raise NotWritten("changed while it was read; not written (run again)")

    return checked


@contextmanager
def _exclusive(path: Path, snap: os.stat_result | None) -> Iterator[None]:
    """Hold a lock on the file ``path`` (two runs in place never rewrite one file twice) and
    check it is still the file that was read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NotWritten("being rewritten by another run; not rewritten") from None
        if snap is not None and not _same_file(os.fstat(fd), snap):
            raise NotWritten("changed since it was read; not rewritten (run again)")
        yield
    finally:
        os.close(fd)


def _turns(pages: list[PagePrediction], min_confidence: float) -> tuple[dict[int, int], list[PagePrediction]]:
    """``(0-based page -> angle to undo, pages left as they are for review)``."""
    turns, review = {}, []
    for p in pages:
        if p.error or p.angle is None:
            review.append(p)
        elif p.confidence is not None and p.confidence < min_confidence:
            review.append(p)
        elif p.needs_review and min_confidence > 0:
            review.append(p)
        else:
            turns[(p.page or 1) - 1] = p.angle
    return turns, review


def write_upright(f: str, turns: dict[int, int], plan: FixPlan, skews: dict | None = None) -> Path | None:
    """Write the upright copy of input ``f`` as ``plan`` says: the written path, or None when
    nothing needs writing (in place, a file with nothing to turn).  With ``skews`` (0-based
    page -> ``(skew, confidence)`` or None to estimate it), those pages are deskewed too
    (:mod:`trainer.upright`).  NotWritten, with nothing written and nothing touched, when it
    cannot be done."""
    from datagen.atomic import umask
    from .upright import image_writer, pdf_writer

    src, dst, snap = Path(f), plan.targets[f], plan.snapshots.get(f)
    if plan.in_place and not any(turns.values()) and not skews:
        return None
    try:
        write = None
        if any(turns.values()) or skews:
            write = (pdf_writer if src.suffix.lower() == ".pdf" else image_writer)(src, turns, skews)
        if write is None or not write.changed:
            if plan.in_place:
                return None
            write = lambda tmp: shutil.copyfile(src, tmp)  # noqa: E731 - byte for byte
        write = _unchanged(write, src, snap)
        if plan.in_place:
            if snap is not None and snap.st_nlink > 1:
                raise NotWritten(f"has {snap.st_nlink} hard links: rewritten, its other names would keep the old "
                                 "pages; not rewritten (use --fix OUT)")
            with _exclusive(dst, snap):
                _atomic(dst, write, like=snap)
        else:
            mode = None if snap is None else stat.S_IMODE(snap.st_mode) & 0o777 & ~umask()
            _atomic(dst, write, replace=plan.overwrite, mode=mode)
    except OSError as e:
        if isinstance(e, FileExistsError) and (dst.is_file() or dst.is_symlink()):
            raise NotWritten(f"{dst} appeared during the run; not overwritten (--overwrite replaces it)") from None
        where = f"{e.filename}: " if e.filename and str(e.filename) != f else ""
        raise NotWritten(f"not written: {where}{e.strerror or e}") from None
    except NotWritten:
        raise
    except Exception as e:  # PIL and pdfium on a damaged file: one file's failure never stops the run
        raise NotWritten(f"not written: {type(e).__name__}: {' '.join(str(e).split())[:160]}") from None
    return dst


@dataclass
class FileResult:
    """What became of one input: the path written (or None), its pages left for review, and
    the failure to write it (None when there was none)."""

    written: Path | None
    review: list[PagePrediction]
    failure: PagePrediction | None = None


def fix_file(pages: list[PagePrediction], plan: FixPlan, min_confidence: float = 0.0,
             deskew: bool = False) -> FileResult:
    """Write the upright copy of the file whose ``pages`` these are.  Pages with an error, or
    below ``min_confidence``, stay as they are (and are listed for review).  A file whose every
    page failed is not copied (nothing of it could be read); one whose copy cannot be written
    gives a ``failure`` row (an error prediction for the whole file), never an exception.
    ``deskew``: the pages that are turned are deskewed too, by their ``skew`` (estimated by
    the writer when a page has none)."""
    f = pages[0].file
    turns, review = _turns(pages, min_confidence)
    if f not in plan.targets or f in plan.skip or not any(p.error is None for p in pages):
        return FileResult(None, review)
    try:
        skews = None
        if deskew:
            from .upright import page_skews

            skews = {i: v for i, v in page_skews(pages).items() if i in turns}
        return FileResult(write_upright(f, turns, plan, skews), review)
    except NotWritten as e:
        return FileResult(None, review, PagePrediction(f, None, None, None, error=f"{f}: {e}"))


def fix_files(preds: list[PagePrediction], plan: FixPlan, min_confidence: float = 0.0,
              review_csv: Path | None = None) -> tuple[list[Path], list[PagePrediction]]:
    """Write upright copies as ``plan`` says (:func:`fix_file` for each file).  Returns (written
    files, pages left for review and failures); ``review_csv`` lists the latter.  Files in which
    no page turns are copied byte for byte (or, in place, not touched)."""
    written, review = [], []
    for pages in by_file(preds):
        r = fix_file(pages, plan, min_confidence)
        written += [r.written] if r.written else []
        review += r.review + ([r.failure] if r.failure else [])
    if review_csv is not None:
        write_review(review_csv, review, min_confidence, replace=plan.overwrite or plan.in_place)
    return written, review


# --------------------------------------------------------------------------- review.csv
REASONS = (  # (words in a message, the reason review.csv gives), first match wins
    ("permission denied", "unreadable"), ("unreadable", "unreadable"), ("dangling symbolic link", "broken link"),
    ("symbolic link loop", "link loop"), ("already read as", "folder read twice"),
    ("not a regular file", "not a regular file"), ("no such file", "no such file"),
    ("not a pdf or an image file", "not a page file"), ("holds no images", "empty folder"),
    ("not a readable image", "not an image"), ("has no frame", "not an image"),
    ("image has an empty size", "not an image"),
    ("not a pdf file", "not a PDF"), ("password", "encrypted PDF"), ("corrupt pdf", "damaged PDF"),
    ("has no pages", "damaged PDF"), ("exceeds the pixel cap", "too large"), ("timed out", "timed out"),
    ("renderer crashed", "renderer failed"), ("out of memory", "renderer failed"),
    ("appeared during the run", "exists"), ("changed", "changed while read"), ("hard links", "hard links"),
    ("cannot be kept", "owner not kept"), ("being rewritten", "busy"), ("not written", "not written"),
    ("confidence below", "low confidence"), ("tta views disagree", "TTA views disagree"),
)


def reason_of(p: PagePrediction) -> str:
    """The short reason a page is in review.csv (``unreadable``, ``not an image``, ...)."""
    text = (p.error or p.reason or "").lower()
    return next((r for words, r in REASONS if words in text), "error" if p.error else "review")


def write_review(path: Path, review: list[PagePrediction], min_confidence: float, replace: bool = True) -> None:
    """``review.csv``: one row per page left for review or input that failed: file, page,
    angle, confidence, the short reason and the whole message (an existing one is replaced
    only with ``replace``)."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "page", "angle", "confidence", "reason", "detail"])
            for p in review:
                detail = p.error or p.reason or f"confidence below {min_confidence:g}"
                w.writerow([p.file, p.page or "", "" if p.angle is None else p.angle,
                            "" if p.confidence is None else f"{p.confidence:.4f}",
                            reason_of(p) if (p.error or p.reason) else "low confidence", detail])

    _atomic(path, write, replace=replace)


def expand_files(paths: list[Path]) -> Selection:
    """Files and folders (recursive) -> sources, in the user's order; a path that cannot be
    read is a source with its ``problem`` (a row of its own; the run goes on)."""
    return expand(paths, strict=False)
