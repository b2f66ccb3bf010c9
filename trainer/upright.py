"""Upright copies of images and PDFs, with their metadata.

Convention: ``turns[i]`` is the CLOCKWISE angle frame (or PDF page) ``i`` shows, 0-based; the
copy turns it COUNTER-clockwise by that angle, losslessly (a pixel transpose; a PDF page's
``/Rotate``).  A frame is first put as a viewer shows it (:func:`datagen.pages.displayed`: its
EXIF or TIFF Orientation applied), which is what the model saw; so a rewritten frame is stored
upright and its Orientation is 1.

What a turned copy keeps (Pillow alone does all of it, so no other dependency):

* EXIF (``Image.Exif``): every tag of IFD0 and of the Exif and GPS IFDs (Make, Model, DateTime,
  the capture settings...); Orientation is set to 1, X/YResolution and PixelX/YDimension follow
  a quarter turn.  The thumbnail (IFD1) is dropped: it would still show the page turned.
* the ICC profile; the resolution, with x and y swapped on a quarter turn (a fax page at
  204 x 98 dpi turned by 90 degrees is 98 x 204 dpi, not stretched).
* PNG: the text chunks (tEXt, zTXt, iTXt with their language and translated key), gAMA, cHRM
  and sRGB.
* TIFF, frame by frame: the descriptive tags :data:`TIFF_TAGS` (270 ImageDescription,
  305 Software, 315 Artist, ...), the frame's compression (CCITT G3/G4 fax pages stay G4) and
  resolution.  JPEG-compressed TIFFs become LZW (a page is never re-encoded lossily twice).
* JPEG: comment and XMP; re-encoded at quality 95 with the source's chroma subsampling.
  WebP: XMP, losslessly.  GIF: each frame's duration, the loop count, transparency, comment.

PDFs keep everything: only the pages' ``/Rotate`` changes.

With ``skews`` (``--deskew``) a page is also turned by its fine angle (:mod:`trainer.skew`):
``skews[i]`` is the ``(angle, confidence)`` its prediction carries, or None to estimate it here
on the upright frame.  An image frame is resampled (bicubic, the canvas grown to hold it, the
corners filled with the page's own paper colour); a PDF page's content is turned about the
page's centre by a content transformation (a ``cm`` operator around the page's streams, and the
annotations with it), so text stays text, then ``/Rotate`` takes the quarter turn.  A fine
angle below :data:`MIN_DESKEW` degrees, or one whose estimate needs review (too little text),
is left as it is.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from datagen.pages import displayed

MIN_DESKEW = 0.1  # degrees: a finer tilt is left alone (it is below what the estimate resolves)

# PIL transposes that turn COUNTER-clockwise by the label (undoing a clockwise turn)
UNDO = {0: None, 90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
TIFF_TAGS = {269: "DocumentName", 270: "ImageDescription", 271: "Make", 272: "Model", 285: "PageName",
             305: "Software", 306: "DateTime", 315: "Artist", 316: "HostComputer", 33432: "Copyright",
             700: "XMP", 33723: "IPTC"}
_EXIF_IFD, _SWAP_PAIRS, _SIZE_TAGS = 0x8769, ((282, 283),), (0xA002, 0xA003)
_FOCAL_PAIR = (0xA20E, 0xA20F)  # FocalPlaneX/YResolution, in the Exif IFD


@dataclass
class Frame:
    """One frame as it will be written: upright pixels, and the metadata of the stored frame."""

    image: Image.Image
    swap: bool  # the written x axis is the stored y axis
    info: dict
    tags: dict  # TIFF: tag -> (value, type), read before Pillow drops Orientation on load


def _pair(v, swap: bool):
    return (v[1], v[0]) if swap else tuple(v)


def exif_bytes(raw: bytes, swap: bool, size: tuple[int, int]) -> bytes:
    """``raw`` EXIF with Orientation 1, and resolution and pixel size after the turn."""
    ex = Image.Exif()
    ex.load(raw)
    if 274 in ex:
        ex[274] = 1
    if swap:
        for a, b in _SWAP_PAIRS:
            if a in ex and b in ex:
                ex[a], ex[b] = ex[b], ex[a]
    sub = ex.get_ifd(_EXIF_IFD)
    for tag, v in zip(_SIZE_TAGS, size):
        if tag in sub:
            sub[tag] = v
    if swap and all(t in sub for t in _FOCAL_PAIR):
        sub[_FOCAL_PAIR[0]], sub[_FOCAL_PAIR[1]] = sub[_FOCAL_PAIR[1]], sub[_FOCAL_PAIR[0]]
    return ex.tobytes()


def read_frames(src: Path, turns: dict[int, int]) -> tuple[str, list[Frame]]:
    """``(format, frames)`` of ``src``, each frame upright (see the module's convention)."""
    frames = []
    with Image.open(src) as im:
        fmt = im.format or "PNG"
        for i in range(int(getattr(im, "n_frames", 1))):
            im.seek(i)
            tv = getattr(im, "tag_v2", None)
            keep = () if tv is None else [k for k in (*TIFF_TAGS, 274) if k in tv]
            tags = {k: (tv[k], tv.tagtype.get(k)) for k in keep}
            if fmt == "JPEG":
                im.info["subsampling"] = JpegImagePlugin.get_sampling(im)
            shown, swapped = displayed(im)
            a = turns.get(i, 0)
            fr = shown if UNDO[a] is None else shown.transpose(UNDO[a])
            frames.append(Frame(fr.copy() if fr is im else fr, swapped != (a in (90, 270)), dict(im.info), tags))
    return fmt, frames


def _png_info(info: dict) -> PngImagePlugin.PngInfo:
    pi = PngImagePlugin.PngInfo()
    if info.get("gamma"):
        pi.add(b"gAMA", struct.pack(">I", int(round(info["gamma"] * 100000))))
    if info.get("chromaticity"):
        pi.add(b"cHRM", struct.pack(">8I", *(int(round(v * 100000)) for v in info["chromaticity"])))
    if info.get("srgb") is not None:
        pi.add(b"sRGB", bytes([int(info["srgb"])]))
    for k, v in info.items():
        if isinstance(v, PngImagePlugin.iTXt):
            pi.add_itxt(k, str(v), v.lang or "", v.tkey or "")
        elif isinstance(v, str) and k not in ("gamma", "srgb", "chromaticity"):
            pi.add_text(k, v, zip=len(v) > 1024)
    return pi


def _tiff_info(fr: Frame) -> TiffImagePlugin.ImageFileDirectory_v2:
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    for k, (v, typ) in fr.tags.items():
        ifd[k] = 1 if k == 274 else v
        if typ is not None and k != 274:
            ifd.tagtype[k] = typ
    return ifd


def frame_options(fmt: str, fr: Frame) -> dict:
    """Save options of one frame: its format's metadata, resolution swapped on a quarter turn."""
    info, kw = fr.info, {}
    for k in ("icc_profile", "compression", "transparency", "comment", "loop", "duration", "xmp"):
        if info.get(k) is not None:
            kw[k] = info[k]
    if info.get("dpi"):
        kw["dpi"] = _pair(info["dpi"], fr.swap)
    elif info.get("resolution") and fmt == "TIFF":
        kw.update(resolution=_pair(info["resolution"], fr.swap), resolution_unit=1)
    if info.get("exif") and fmt in ("JPEG", "PNG", "WEBP", "MPO"):
        kw["exif"] = exif_bytes(info["exif"], fr.swap, fr.image.size)
    if fmt in ("JPEG", "MPO"):
        kw.update(quality=95)
        if info.get("subsampling", -1) >= 0:
            kw["subsampling"] = info["subsampling"]
        kw.pop("compression", None)
    elif fmt == "WEBP":
        kw.update(lossless=True)
    elif fmt == "PNG":
        kw["pnginfo"] = _png_info(info)
    elif fmt == "TIFF":
        kw["tiffinfo"] = _tiff_info(fr)
        kw.pop("xmp", None)  # a TIFF carries XMP as tag 700, in tiffinfo
        if kw.get("compression") in ("jpeg", "tiff_jpeg"):
            kw["compression"] = "tiff_lzw"  # never re-encode a page lossily a second time
        if fr.image.mode == "1" and kw.get("compression") not in (None, "group3", "group4", "raw"):
            kw.pop("compression", None)
    return kw


def _save_frames(tmp: Path, fmt: str, frames: list[Frame], kws: list[dict]) -> None:
    if len(frames) == 1:
        frames[0].image.save(tmp, format=fmt, **kws[0])
    elif fmt == "TIFF":  # each frame with its own tags, resolution and compression
        with open(tmp, "w+b") as fp, TiffImagePlugin.AppendingTiffWriter(fp, new=True) as tf:
            for fr, kw in zip(frames, kws):
                fr.image.save(tf, format="TIFF", **kw)
                tf.newFrame()
    else:
        kw = dict(kws[0])
        if all("duration" in k for k in kws):
            kw["duration"] = [k["duration"] for k in kws]
        frames[0].image.save(tmp, format=fmt, save_all=True, append_images=[f.image for f in frames[1:]], **kw)


def fine_angle(image: Image.Image, given: tuple[float, float] | None) -> float | None:
    """The fine angle to undo on an upright ``image``: ``given`` ``(angle, confidence)`` or, when
    None, :func:`trainer.skew.estimate_skew` of the image; None when it is to be left alone
    (below :data:`MIN_DESKEW`, or the estimate needs review)."""
    from datagen.preprocess import to_gray
    from .skew import MIN_CONFIDENCE, estimate_skew

    if given is None:
        sk = estimate_skew(np.asarray(to_gray(image)))
        angle, review = sk.angle, sk.needs_review
    else:
        angle, review = float(given[0]), float(given[1]) < MIN_CONFIDENCE
    return None if review or abs(angle) < MIN_DESKEW else angle


def image_writer(src: Path, turns: dict[int, int],
                 skews: dict[int, tuple[float, float] | None] | None = None) -> Callable[[Path], None]:
    """``write(tmp)``: the upright copy of image ``src`` (every frame kept) into ``tmp``; with
    ``skews``, frame ``i`` in it is also deskewed (see the module's docstring).  Reading happens
    now, so a file that cannot be read fails before anything is created.  ``write.changed``:
    whether any frame was turned at all."""
    from .skew import deskew_image

    fmt, frames = read_frames(src, turns)
    changed = any(turns.values())
    for i, given in (skews or {}).items():
        if 0 <= i < len(frames):
            a = fine_angle(frames[i].image, given)
            if a is not None:
                frames[i].image = deskew_image(frames[i].image, a)
                changed = True
    kws = [frame_options(fmt, fr) for fr in frames]

    def write(tmp: Path) -> None:
        try:
            _save_frames(tmp, fmt, frames, kws)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            if isinstance(e, OSError) and e.errno is not None:
                raise
            for kw in kws:  # a codec PIL cannot write: keep the pixels, drop the setting
                kw.pop("compression", None)
            _save_frames(tmp, fmt, frames, kws)

    write.changed = changed
    return write


def _pdf_fine_angle(page, given: tuple[float, float] | None) -> float | None:
    """:func:`fine_angle` of a pdfium page as displayed (its ``/Rotate`` applied), rendered in
    grey with :data:`trainer.skew.FINE_SIDE` px on its long side (the resolution the estimate
    is made at) when it has to be estimated."""
    from .skew import FINE_SIDE

    if given is not None:
        return fine_angle(None, given)
    w, h = page.get_size()
    scale = FINE_SIDE / max(w, h, 1.0)
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        return fine_angle(bitmap.to_pil(), None)
    finally:
        bitmap.close()


def turn_pdf_content(page, angle_ccw: float) -> None:
    """Turn pdfium ``page``'s content COUNTER-clockwise (as displayed) by ``angle_ccw`` degrees
    about the centre of its crop box, text staying text: ``FPDFPage_TransFormWithClip`` wraps
    the page's content streams in ``q <matrix> cm <crop box> re W n ... Q``, and the
    annotations get the same matrix.  In PDF user space (y up) a positive rotation is
    counter-clockwise on screen, and it commutes with the page's ``/Rotate``."""
    import ctypes
    import math

    import pypdfium2.raw as raw

    left, bottom, right, top = page.get_cropbox()
    cx, cy = (left + right) / 2, (bottom + top) / 2
    t = math.radians(angle_ccw)
    c, s = math.cos(t), math.sin(t)
    e, f = cx - c * cx + s * cy, cy - s * cx - c * cy  # the centre stays where it is
    matrix = raw.FS_MATRIX(c, s, -s, c, e, f)
    clip = raw.FS_RECTF(left, top, right, bottom)
    if not raw.FPDFPage_TransFormWithClip(page.raw, ctypes.byref(matrix), ctypes.byref(clip)):
        raise RuntimeError("pdfium could not transform the page's content")
    raw.FPDFPage_TransformAnnots(page.raw, c, s, -s, c, e, f)


def pdf_writer(src: Path, turns: dict[int, int],
               skews: dict[int, tuple[float, float] | None] | None = None) -> Callable[[Path], None]:
    """``write(tmp)``: ``src`` with page ``i`` given ``/Rotate`` minus ``turns[i]`` (clockwise),
    and with ``skews``, page ``i`` in it deskewed by :func:`turn_pdf_content`.  The fine angles
    are found now (so ``write.changed`` says whether any page turns at all)."""
    import pypdfium2 as pdfium

    angles: dict[int, float] = {}
    if skews:
        pdf = pdfium.PdfDocument(str(src))
        try:
            for i, given in skews.items():
                if 0 <= i < len(pdf):
                    page = pdf[i]
                    try:
                        a = _pdf_fine_angle(page, given)
                    finally:
                        page.close()
                    if a is not None:
                        angles[i] = a
        finally:
            pdf.close()

    def write(tmp: Path) -> None:
        pdf = pdfium.PdfDocument(str(src))
        try:
            for i in sorted(set(turns) | set(angles)):
                a = turns.get(i, 0)
                if a or i in angles:
                    page = pdf[i]
                    if i in angles:
                        turn_pdf_content(page, angles[i])
                    if a:
                        page.set_rotation((page.get_rotation() - a) % 360)  # /Rotate is clockwise
                    page.close()
            pdf.save(str(tmp))
        finally:
            pdf.close()

    write.changed = any(turns.values()) or bool(angles)
    return write


# --------------------------------------------------------------------------- --fix --deskew
def page_skews(pages) -> dict[int, tuple[float, float] | None]:
    """0-based page -> the ``(skew, skew_confidence)`` a prediction carries, or None (then the
    writer estimates it), for every page that is turned (the pages left for review are not)."""
    return {(p.page or 1) - 1: (None if getattr(p, "skew", None) is None else (p.skew, p.skew_confidence))
            for p in pages}
