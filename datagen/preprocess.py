"""The model input: ONE path shared by datagen, ``trainer eval/predict`` and ``interpret``.

A page of any size is fitted inside ``size x size`` keeping its aspect ratio (area-averaged
downscale, so thin strokes survive), then turned losslessly by the label and centred on a square
canvas padded with the page's own paper level.  The letterbox pad is not a rotation artifact:
inference sees it too.

The path works on 8-bit gray pages with PIL and numpy, without torch, so that ``trainer
predict`` on the ONNX engine never loads torch:

* :func:`to_gray` turns any PIL image into 8-bit gray as a user sees it (transparency on white,
  16-bit samples scaled, not clipped);
* :func:`paper_level` and :func:`ink_share` read the page's histogram at full resolution;
* :func:`fit_image` scales it to fit (PIL ``BOX`` when shrinking, bilinear when enlarging);
* :func:`square` turns the fitted page by a label and letterboxes it: THE model-input function.

Pages are turned before letterboxing, and the pad is always the paper level of the full
page, so a page evaluated from a PDF, an image file or a shard is the same bytes.  The torch
helpers below (:func:`background_level`, :func:`letterbox`) serve the rotation strategies and
the augmentations, which work on batches of float tensors in [0, 1] (paper = 1, ink = 0).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = [
    "fit_shape",
    "to_gray",
    "paper_level",
    "ink_share",
    "fit_image",
    "square",
    "prepare",
    "block_mean",
    "ink_windows",
    "views",
    "views_of_square",
    "background_level",
    "letterbox",
    "tensor_to_uint8",
]

INK_THRESHOLD = 0.25  # a pixel is ink when it differs from the paper level by more than this


def fit_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """Shape ``(h', w')`` of an ``h x w`` page scaled to fit inside ``size x size``, aspect kept.

    >>> fit_shape(1100, 850, 224)
    (224, 173)
    """
    if h <= 0 or w <= 0 or size <= 0:
        raise ValueError(f"fit_shape needs positive sizes, got h={h}, w={w}, size={size}")
    s = size / max(h, w)
    return max(1, min(size, round(h * s))), max(1, min(size, round(w * s)))


# --------------------------------------------------------------------------- the page path (PIL, numpy)
def to_gray(img: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit gray (mode ``L``), as a user sees it.

    Transparency is composited on white paper (never on black); 16-bit and 32-bit samples are
    scaled to 8 bits rather than clipped; float images in [0, 1] are scaled by 255.

    >>> to_gray(Image.new("I;16", (2, 1), 65535)).getpixel((0, 0))
    255
    """
    mode = img.mode
    if mode == "L":
        return img
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("L")
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(img)
        if mode == "F":
            a = a.astype(np.float64) * (255.0 if float(np.nanmax(a, initial=0)) <= 1.0 else 1.0)
        elif mode.startswith("I;16"):
            a = a.astype(np.float64) / 257.0
        else:  # 32-bit integers: 16-bit data (PNG, TIFF) unless the values say otherwise
            top = int(a.max(initial=0))
            a = a.astype(np.float64) / (1.0 if top <= 255 else 257.0 if top <= 65535 else 16843009.0)
        return Image.fromarray(np.clip(np.nan_to_num(a) + 0.5, 0, 255).astype(np.uint8), mode="L")
    if mode == "1":
        return img.convert("L")
    if mode == "RGB":
        return img.convert("L")
    return img.convert("RGB").convert("L")  # CMYK, YCbCr, LAB, HSV, P


def paper_level(gray: Image.Image | np.ndarray) -> int:
    """The page's paper level: its median gray value (the lower median), robust to text and figures.

    >>> paper_level(np.array([[0, 200, 200, 255]], np.uint8))
    200
    """
    hist = _histogram(gray)
    cum = np.cumsum(hist)
    return int(np.searchsorted(cum, (cum[-1] + 1) // 2))


def ink_share(gray: Image.Image | np.ndarray, paper: int | None = None, threshold: float = INK_THRESHOLD) -> float:
    """Share of pixels that differ from the paper level by more than ``threshold`` (of 255).
    Used to skip blank pages."""
    hist = _histogram(gray)
    bg = paper_level(gray) if paper is None else paper
    levels = np.arange(256)
    ink = np.abs(levels - bg) > threshold * 255
    return float(hist[ink].sum() / max(1, hist.sum()))


def _histogram(gray: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(gray, Image.Image):
        if gray.mode != "L":
            raise ValueError(f"expected an 8-bit gray (L) image, got mode {gray.mode}")
        return np.asarray(gray.histogram(), dtype=np.int64)
    a = np.asarray(gray)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {a.dtype}")
    return np.bincount(a.ravel(), minlength=256)


def fit_image(gray: Image.Image, side: int) -> np.ndarray:
    """Scale an 8-bit gray page to fit inside ``side x side`` (aspect kept): ``(h', w')`` uint8.

    Shrinking is an area average (PIL ``BOX``), so thin strokes survive as gray; a page smaller
    than ``side`` is enlarged bilinearly so that its long side is exactly ``side``.
    """
    w, h = gray.size
    nh, nw = fit_shape(h, w, side)
    if (nh, nw) != (h, w):
        shrink = nh <= h and nw <= w
        gray = gray.resize((nw, nh), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)


def square(fitted: np.ndarray, size: int, paper: int, angle: int = 0) -> np.ndarray:
    """THE model-input function: the fitted page ``(h, w)`` turned CLOCKWISE by ``angle``
    (losslessly) and centred on a ``size x size`` canvas of its paper level.  ``(size, size)`` uint8.

    Convention: ``angle`` is the label, the clockwise turn (as displayed) of the upright page;
    ``np.rot90(k=1)`` turns counter-clockwise, so the turn is ``rot90(k=-angle // 90)``.

    >>> page = np.zeros((4, 2), np.uint8); page[0, 0] = 255
    >>> square(page, 4, 7, 90)[1:3].tolist()     # top-left ink goes to the top-right
    [[0, 0, 0, 255], [0, 0, 0, 0]]
    """
    if angle not in (0, 90, 180, 270):
        raise ValueError(f"angle must be one of 0, 90, 180, 270, got {angle!r}")
    turned = np.rot90(fitted, k=-(angle // 90))
    h, w = turned.shape
    if h > size or w > size:
        raise ValueError(f"square: page {h}x{w} does not fit inside {size}x{size}; call fit_image first")
    out = np.full((size, size), paper, dtype=np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = turned
    return out


def page_box(shape: tuple[int, int], size: int, angle: int = 0) -> list[int]:
    """``[top, left, h, w]`` of a fitted page of ``shape`` inside its square, once turned."""
    h, w = shape if angle in (0, 180) else shape[::-1]
    return [(size - h) // 2, (size - w) // 2, h, w]


def block_mean(img: np.ndarray, f: int) -> np.ndarray:
    """Average ``f x f`` blocks of a uint8 image whose sides are multiples of ``f`` (round half up).

    >>> block_mean(np.array([[0, 2], [2, 3]], np.uint8), 2).tolist()
    [[2]]
    """
    h, w = img.shape
    if h % f or w % f:
        raise ValueError(f"block_mean: {h}x{w} is not a multiple of {f}")
    s = img.reshape(h // f, f, w // f, f).astype(np.uint32).sum(axis=(1, 3))
    return ((s * 2 + f * f) // (2 * f * f)).astype(np.uint8)


def ink_windows(small: np.ndarray, paper: int, size: int, k: int, f: int) -> list[tuple[int, int]]:
    """Top-left corners (at full resolution) of up to ``k`` ``size x size`` windows that hold the
    most ink, found on ``small``, the input averaged over ``f x f`` blocks: a block is inky when
    its mean is off the paper level by more than 5 %.  Windows lie on a grid of stride ``size / 2``,
    centred (so a quarter turn of the page turns the grid onto itself), and are chosen greedily
    so that no two overlap by more than half their side.  Deterministic."""
    cells = size // f
    side = small.shape[0]
    if cells > side:
        raise ValueError(f"ink_windows: window {size} is larger than the input {side * f}")
    ink = (np.abs(small.astype(np.int16) - paper) > 12).astype(np.int32)
    integral = np.pad(ink.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    stride = max(1, cells // 2)
    span = side - cells
    n = span // stride
    off = (span - n * stride) // 2
    starts = np.array([off + i * stride for i in range(n + 1)])
    y, x = np.meshgrid(starts, starts, indexing="ij")
    y, x = y.ravel(), x.ravel()
    totals = integral[y + cells, x + cells] - integral[y, x + cells] - integral[y + cells, x] + integral[y, x]
    order = np.lexsort((x, y, -totals))  # most ink first; ties by position, so the order is fixed
    chosen: list[tuple[int, int]] = []
    for i in order:
        if len(chosen) >= k or (totals[i] == 0 and chosen):
            break
        cy, cx = int(y[i]), int(x[i])
        if all(abs(cy - py) > cells // 2 or abs(cx - px) > cells // 2 for py, px in chosen):
            chosen.append((cy, cx))
    return [(cy * f, cx * f) for cy, cx in chosen]


def views_of_square(sq: np.ndarray, size: int, crops: int) -> np.ndarray:
    """The views of a square input (a page letterboxed at ``side``, already turned):
    ``(1 + crops, size, size)`` uint8; see :func:`views`.  Ink is measured against the square's
    own median level, so a square from a shard, a file or a PDF gets the same windows."""
    side = sq.shape[0]
    if side % size:
        raise ValueError(f"views: side {side} must be a multiple of the view size {size}")
    f = side // size
    small = block_mean(sq, f) if f > 1 else sq
    out = [small]
    wins = ink_windows(small, paper_level(small), size, crops, f) if crops else []
    for y, x in wins:
        out.append(sq[y:y + size, x:x + size])
    while len(out) < 1 + crops:
        out.append(out[-1])
    return np.stack(out)


def views(fitted: np.ndarray, paper: int, size: int, side: int, crops: int, angle: int = 0) -> np.ndarray:
    """THE model input of a multi-view model: ``(1 + crops, size, size)`` uint8.

    The page (fitted inside ``side x side``) is turned and letterboxed at ``side``
    (:func:`square`); view 0 is that square averaged down to ``size`` (``side`` must be a
    multiple of ``size``), the whole page; views 1.. are the ``size x size`` windows of the
    full-resolution square that hold the most ink (:func:`ink_windows`), where glyph shapes show.
    A page with less ink than ``crops`` windows repeats its last window (or the whole view).
    With ``side == size`` and no crops this is :func:`square`.
    """
    return views_of_square(square(fitted, side, paper, angle), size, crops)


def prepare(gray: Image.Image, side: int) -> tuple[np.ndarray, int]:
    """A gray page -> ``(fitted (h, w) uint8, paper level)``: what every model input is made from."""
    return fit_image(gray, side), paper_level(gray)


# --------------------------------------------------------------------------- torch helpers (batches)
def background_level(pages):
    """Per-image background (paper) level of float pages: the median pixel.

    Args:
        pages: ``(B, 1, H, W)`` float in [0, 1].
    Returns:
        ``(B,)`` float.
    """
    if pages.ndim != 4:
        raise ValueError(f"expected (B, 1, H, W), got shape {tuple(pages.shape)}")
    return pages.flatten(1).median(dim=1).values  # (B,)


def letterbox(images, size: int, fill):
    """Centre ``(B, C, h, w)`` images (h, w <= size) on a ``size x size`` canvas of ``fill``.

    ``fill`` is a scalar or a ``(B,)`` tensor (one value per image).
    """
    import torch

    b, c, h, w = images.shape
    if h > size or w > size:
        raise ValueError(f"letterbox: image {h}x{w} does not fit inside {size}x{size}; scale it to fit_shape first")
    fill_t = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)
    canvas = fill_t.expand(b, c, size, size).clone()  # (B, C, size, size)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[:, :, top:top + h, left:left + w] = images
    return canvas


def tensor_to_uint8(images) -> np.ndarray:
    """``(B, 1, H, W)`` float [0, 1] -> ``(B, H, W)`` uint8 (round half up)."""
    import torch

    return (images.detach().clamp(0, 1).mul(255).add_(0.5).floor_()).to(torch.uint8)[:, 0].cpu().numpy()
