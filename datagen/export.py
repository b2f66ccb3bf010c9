"""``datagen pages``: the pages of a manifest as a labelled folder of images, four turns each.

Every selected page (a PDF page rendered in colour, an image frame as stored) is made upright
(the manifest's ``rotation`` undone, EXIF orientation applied), then turned losslessly
CLOCKWISE by 0, 90, 180 and 270 degrees and saved as PNG, with ``labels.csv`` (columns
``file,angle,doc,page,kind,script,license``).  Any orientation tool can be run on that folder,
and ``trainer eval MODEL DIR/labels.csv --group-by kind`` scores docorient on it; this is what
``bench/peers.py`` compares contenders on.  The folder appears atomically (written under a
temporary name, then renamed); an existing folder is refused unless ``force``.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Callable

from PIL import Image, ImageOps

from .manifest import Manifest, fetch, parse_pages
from .pages import DEFAULT_MAX_PIXELS, PAGE_EXTS, _open_image
from .render import RenderError, check_pdf_header

# PIL transposes turning CLOCKWISE by the label (PIL's ROTATE_n turns counter-clockwise)
_CW = {0: None, 90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
_CCW = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def _displayable(im: Image.Image) -> Image.Image:
    """8-bit gray or RGB, as a user sees the image: transparency on white, 16-bit scaled."""
    from .preprocess import to_gray

    if im.mode in ("L", "RGB"):
        return im
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    if im.mode.startswith("I") or im.mode in ("F", "1"):
        return to_gray(im)
    return im.convert("RGB")


def _page_images(path: Path, spec: str | None, dpi: float, max_pixels: int):
    """(1-based page, RGB or L image) of the selected pages of a PDF or an image file."""
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        check_pdf_header(path)
        pdf = pdfium.PdfDocument(str(path))
        try:
            for i in parse_pages(spec, len(pdf)):
                page = pdf[i]
                try:
                    w, h = page.get_size()
                    if w * h * (dpi / 72) ** 2 > max_pixels:
                        raise RenderError(f"page {i + 1} exceeds the pixel cap of {max_pixels:,} at {dpi:g} dpi")
                    yield i + 1, page.render(scale=dpi / 72).to_pil().convert("RGB")
                finally:
                    page.close()
        finally:
            pdf.close()
        return
    im = _open_image(str(path), max_pixels)
    try:
        n = int(getattr(im, "n_frames", 1))
        for i in parse_pages(spec, n):
            im.seek(i)
            fr = ImageOps.exif_transpose(im.copy()) if i == 0 else im.copy()
            yield i + 1, _displayable(fr)
    finally:
        im.close()


def export_pages(manifest: Manifest, out: str | os.PathLike, dest: str | os.PathLike | None = None,
                 dpi: float = 150.0, force: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                 log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict:
    """Write the labelled four-turn folder of ``manifest`` into ``out``; returns counts."""
    out = Path(out)
    if out.exists() and not force:
        raise ValueError(f"{out}: already exists; choose another folder (or --force to replace it)")
    rep = fetch(manifest, dest, log=log)
    from .manifest import default_dest

    from .atomic import atomic_dir

    folder = Path(dest) if dest is not None else default_dest(manifest)
    rows, skipped = [], []
    with atomic_dir(out) as tmp:
        for doc in manifest.documents:
            path = folder / doc.filename
            if path.suffix.lower() not in PAGE_EXTS:
                skipped.append((doc.id, "not a PDF or image"))
                continue
            try:
                for page, im in _page_images(path, doc.pages, dpi, max_pixels):
                    rot = doc.rotation_of(page)
                    if rot:
                        im = im.transpose(_CCW[rot])  # upright: undo the stored clockwise turn
                    for angle in (0, 90, 180, 270):
                        name = f"{doc.id}-p{page}-r{angle}.png"
                        turned = im if _CW[angle] is None else im.transpose(_CW[angle])
                        turned.save(tmp / name, format="PNG", compress_level=1)
                        rows.append({"file": name, "angle": angle, "doc": doc.id, "page": page,
                                     "kind": doc.kind or "", "script": doc.script or "", "license": doc.license})
            except (RenderError, OSError, ValueError) as e:
                skipped.append((doc.id, str(e)))
                log(f"skipped {doc.id}: {e}")
        with open(tmp / "labels.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["file", "angle", "doc", "page", "kind", "script", "license"])
            w.writeheader()
            w.writerows(rows)
    return {"images": len(rows), "pages": len(rows) // 4, "documents": len({r["doc"] for r in rows}),
            "skipped": skipped, "fetched": len(rep.fetched)}
