"""The Python API: load a model once, ask for the orientation of pages, get upright copies::

    from trainer.api import Orienter

    orienter = Orienter()                  # the shipped default model (or Orienter("model.pt"))
    r = orienter.predict("scan.png")       # a path, a PIL image, a numpy array, or ("doc.pdf", page)
    r.angle, r.confidence, r.needs_review  # e.g. (90, 0.998, False)
    orienter.upright("scan.png").save("scan-upright.png")

Conventions as everywhere in docorient: ``angle`` is the CLOCKWISE turn the page shows (0, 90,
180, 270); :meth:`Orienter.upright` turns the image counter-clockwise by it, losslessly.
Pages go through the same model-input function as ``trainer predict``, so the API and the
command give the same answers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from datagen.pages import read_image
from datagen.preprocess import prepare, to_gray
from datagen.render import DEFAULT_MAX_PIXELS, render_page

ANGLES = (0, 90, 180, 270)
_UNDO = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class Orientation:
    """One page's answer: the clockwise ``angle`` it shows, the calibrated ``confidence`` of that
    angle, the ``probs`` of all four, and whether a person should check it.  ``basis``: what
    answered (``"windows"``, ``"whole"`` when no text was found, ``"none"``), None for a
    whole-page model."""

    angle: int
    confidence: float
    probs: dict
    needs_review: bool
    basis: str | None = None


class Orienter:
    """A loaded orientation model.

    Args:
        model: a ``.pt`` checkpoint or ``.onnx`` export; None for the shipped default model.
        engine: ``auto`` (onnxruntime for ``.onnx``), ``torch`` or ``onnx``.
        device: for the torch engine: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        tta: rotation-consistent test-time augmentation (4x compute).
        min_confidence: answers below it have ``needs_review``; default the model's review threshold.
        dpi: render resolution for PDF pages (default: the model's training data's).
    """

    def __init__(self, model: str | os.PathLike | None = None, engine: str = "auto", device: str = "auto",
                 tta: bool = False, min_confidence: float | None = None, dpi: float | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        from .loading import load_engine

        self.engine, meta, self.spec, ddpi, self.path = load_engine(model, device, engine, tta)
        self.size = self.spec[1]  # the side pages are prepared at
        self.min_confidence = float(meta.get("review_threshold", 0.0)) if min_confidence is None else min_confidence
        self.dpi = dpi or ddpi
        self.max_pixels = max_pixels

    # ----------------------------------------------------------------- inputs
    def _gray(self, page) -> Image.Image:
        """A page as 8-bit gray: a path (image file), ``(pdf_path, page)`` with a 1-based page,
        a PIL image or a numpy array (H, W) or (H, W, 3|4), uint8 or 16-bit."""
        if isinstance(page, tuple):
            path, number = page
            if int(number) < 1:
                raise ValueError(f"{path}: pages count from 1, got {number}")
            arr = render_page(str(path), int(number) - 1, self.dpi, "pdfium", self.max_pixels)
            return Image.fromarray(arr, mode="L")
        if isinstance(page, (str, os.PathLike)):
            if Path(page).suffix.lower() == ".pdf":
                raise ValueError(f"{page}: a PDF has pages; pass (path, page) or use predict_pdf")
            from datagen.render import RenderError

            try:
                draft = max(self.size, getattr(getattr(self.engine, "prep", None), "draft_side", 0) or 0)
                return read_image(str(page), 0, self.max_pixels, draft)
            except RenderError as e:
                raise ValueError(f"{page}: {e}") from None
        if isinstance(page, Image.Image):
            return to_gray(ImageOps.exif_transpose(page))
        if isinstance(page, np.ndarray):
            a = page
            if a.ndim == 3 and a.shape[2] in (3, 4):
                return to_gray(Image.fromarray(np.ascontiguousarray(a.astype(np.uint8) if a.dtype != np.uint8 else a)))
            if a.ndim != 2:
                raise ValueError(f"expected a (H, W) or (H, W, 3|4) array, got shape {a.shape}")
            if a.dtype == np.uint8:
                return Image.fromarray(np.ascontiguousarray(a), mode="L")
            if a.dtype == np.uint16:
                return to_gray(Image.fromarray(np.ascontiguousarray(a)))
            if np.issubdtype(a.dtype, np.floating):
                return Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
            raise ValueError(f"unsupported array dtype {a.dtype}")
        raise ValueError(f"expected a path, (pdf, page), a PIL image or a numpy array, got {type(page).__name__}")

    # ----------------------------------------------------------------- answers
    def _answer(self, probs: np.ndarray, agree, info: dict | None = None) -> Orientation:
        info = info or {}
        c = int(probs.argmax())
        conf = float(probs[c])
        review = (conf < self.min_confidence or (agree is not None and not bool(agree))
                  or info.get("basis") == "none")
        return Orientation(ANGLES[c], round(conf, 4), {a: round(float(v), 4) for a, v in zip(ANGLES, probs)}, review,
                           info.get("basis"))

    def predict_many(self, pages) -> list[Orientation]:
        """Answers for several pages, in one forward pass per call."""
        from types import SimpleNamespace

        from .infer import engine_answers, engine_input

        prep = getattr(self.engine, "prep", None)
        xs = []
        for p in pages:
            gray = self._gray(p)
            extra = prep(np.asarray(gray)) if prep is not None else None
            lazy = extra is not None and len(extra.get("windows", ())) and not getattr(prep, "needs_fit", True)
            fitted, paper = (None, 255) if lazy else prepare(gray, self.size)
            xs.append(engine_input(self.engine, SimpleNamespace(fitted=fitted, paper=paper, extra=extra), self.spec))
        if not xs:
            return []
        probs, agree, infos = engine_answers(self.engine, xs)
        if not np.isfinite(probs).all():
            raise RuntimeError(f"{self.path}: the model produced non-finite probabilities")
        return [self._answer(probs[i], None if agree is None else agree[i], infos[i]) for i in range(len(xs))]

    def predict(self, page) -> Orientation:
        """The orientation of one page (see :meth:`_gray` for what a page may be)."""
        return self.predict_many([page])[0]

    def predict_pdf(self, path: str | os.PathLike) -> list[Orientation]:
        """Every page of a PDF, in order."""
        from datagen.render import page_sizes

        n = len(page_sizes(str(path), "pdfium"))
        return self.predict_many([(path, i + 1) for i in range(n)])

    def upright(self, image, result: Orientation | None = None) -> Image.Image:
        """An upright copy of an image (a path, a PIL image or an array): turned counter-clockwise
        by its predicted angle, losslessly, in its own mode (colour stays colour)."""
        result = result or self.predict(image)
        if isinstance(image, (str, os.PathLike)):
            with Image.open(image) as im:
                im.load()
                img = ImageOps.exif_transpose(im)
        elif isinstance(image, np.ndarray):
            img = Image.fromarray(np.ascontiguousarray(image))
        else:
            img = ImageOps.exif_transpose(image)
        t = _UNDO[result.angle]
        return img.copy() if t is None else img.transpose(t)
