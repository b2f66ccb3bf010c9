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
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from datagen.pages import displayed

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


def image_writer(src: Path, turns: dict[int, int]) -> Callable[[Path], None]:
    """``write(tmp)``: the upright copy of image ``src`` (every frame kept) into ``tmp``.
    Reading happens now, so a file that cannot be read fails before anything is created."""
    fmt, frames = read_frames(src, turns)
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

    return write


def pdf_writer(src: Path, turns: dict[int, int]) -> Callable[[Path], None]:
    """``write(tmp)``: ``src`` with page ``i`` given ``/Rotate`` minus ``turns[i]`` (clockwise)."""

    def write(tmp: Path) -> None:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(src))
        try:
            for i, a in turns.items():
                if a:
                    page = pdf[i]
                    page.set_rotation((page.get_rotation() - a) % 360)  # /Rotate is clockwise
                    page.close()
            pdf.save(str(tmp))
        finally:
            pdf.close()

    return write
