"""``trainer predict``: the orientation of each page of images and PDFs, and upright copies.

Convention: the predicted angle is the CLOCKWISE turn the page has undergone; the fix turns it
counter-clockwise by that angle.  Images are fixed by a lossless pixel transpose (JPEGs are
re-encoded at quality 95); PDFs by setting each page's /Rotate, so text stays text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image, ImageOps

from datagen.contract import ANGLES
from datagen.preprocess import letterbox, background_level, to_model_input
from .data import IMAGE_EXTS, _PageJob, load_image
from .evaluate import predict_probs
from datagen.render import RenderPool, Task, default_workers

# PIL transposes that turn COUNTER-clockwise by the label (undoing a clockwise turn)
_UNDO = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


@dataclass
class PagePrediction:
    file: str
    page: int | None  # 1-based for PDFs, None for images
    angle: int | None
    prob: float | None
    probs: dict | None = None
    error: str | None = None

    def to_json(self) -> dict:
        d = {"file": self.file, "page": self.page, "angle": self.angle, "prob": self.prob, "probs": self.probs}
        if self.error:
            d["error"] = self.error
        return d


def _inputs(files: list[Path], size: int, dpi: float, workers: int) -> Iterator[tuple[str, int | None, torch.Tensor | str]]:
    """(file, page, model input (1, S, S) | error reason) for every image and PDF page."""
    pdfs = [f for f in files if f.suffix.lower() == ".pdf"]
    for f in files:
        if f.suffix.lower() == ".pdf":
            continue
        try:
            yield str(f), None, to_model_input(load_image(f), size)[0]
        except ValueError as e:
            yield str(f), None, str(e)
    if not pdfs:
        return
    with RenderPool(_PageJob(dpi, size), workers=workers, timeout=60.0) as pool:
        infos = list(pool.imap(Task("info", str(f)) for f in pdfs))
        tasks = []
        for f, (_, status, value) in zip(pdfs, infos):
            if status != "ok":
                yield str(f), None, f"{f}: {value}"
                continue
            tasks.extend((f, i, value[i]) for i in range(len(value)))
        for (f, i, _), (_, status, value) in zip(tasks, pool.imap(Task("page", str(f), i, s) for f, i, s in tasks)):
            if status != "ok":
                yield str(f), i + 1, value
                continue
            page = torch.from_numpy(value)[None]  # (1, 1, h, w)
            yield str(f), i + 1, letterbox(page, size, background_level(page))[0]


def predict_files(model, ckpt: dict, files: list[Path], device: torch.device, batch_size: int = 32,
                  tta: bool = False, dpi: float | None = None, workers: int | None = None) -> list[PagePrediction]:
    size = int(ckpt["input_size"])
    dpi = dpi or float(ckpt.get("dataset_config", {}).get("dpi", 100.0))
    out: list[PagePrediction] = []
    buf: list[tuple[str, int | None, torch.Tensor]] = []

    def flush():
        if not buf:
            return
        probs = predict_probs(model, torch.stack([b[2] for b in buf]), device, tta)
        for (f, p, _), pr in zip(buf, probs):
            c = int(pr.argmax())
            out.append(PagePrediction(f, p, ANGLES[c], round(float(pr[c]), 4),
                                      {str(a): round(float(v), 4) for a, v in zip(ANGLES, pr)}))
        buf.clear()

    for f, p, x in _inputs(files, size, dpi, workers or default_workers()):
        if isinstance(x, str):
            flush()
            out.append(PagePrediction(f, p, None, None, error=x))
            continue
        buf.append((f, p, x))
        if len(buf) >= batch_size:
            flush()
    flush()
    return out


def expand_files(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        if not p.exists():
            raise ValueError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTS | {".pdf"})
            if not found:
                raise ValueError(f"{p}: folder holds no images or PDFs")
            out.extend(found)
        else:
            out.append(p)
    return out


def fix_files(preds: list[PagePrediction], out_dir: Path) -> list[Path]:
    """Write upright copies into ``out_dir``; returns the written paths (atomically written)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    by_pdf: dict[str, list[PagePrediction]] = {}
    for p in preds:
        if p.error or p.angle is None:
            continue
        if p.page is not None:
            by_pdf.setdefault(p.file, []).append(p)
            continue
        src = Path(p.file)
        dst = out_dir / src.name
        with Image.open(src) as im:
            im.load()
            fmt = im.format or "PNG"
            im = ImageOps.exif_transpose(im)
            if _UNDO[p.angle] is not None:
                im = im.transpose(_UNDO[p.angle])
            tmp = dst.with_name(f".{dst.name}.tmp")
            kw = {"quality": 95} if fmt == "JPEG" else {}
            im.save(tmp, format=fmt, **kw)
        os.replace(tmp, dst)
        written.append(dst)
    if by_pdf:
        import pypdfium2 as pdfium

        for f, pages in by_pdf.items():
            src = Path(f)
            dst = out_dir / src.name
            pdf = pdfium.PdfDocument(str(src))
            try:
                for p in pages:
                    page = pdf[p.page - 1]
                    page.set_rotation((page.get_rotation() - p.angle) % 360)  # /Rotate is clockwise
                    page.close()
                tmp = dst.with_name(f".{dst.name}.tmp")
                pdf.save(str(tmp))
            finally:
                pdf.close()
            os.replace(tmp, dst)
            written.append(dst)
    return written
