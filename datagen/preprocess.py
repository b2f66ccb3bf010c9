"""The model input: ONE function shared by datagen, ``trainer eval/predict`` and ``interpret``.

A page of any size is fitted inside ``size x size`` keeping its aspect ratio (area-averaged
downscale, so thin strokes survive), then centred on a square canvas padded with the page's own
background level.  The letterbox pad is not a rotation artifact: inference sees it too.

Images are float tensors in [0, 1], paper = 1, ink = 0.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "fit_shape",
    "background_level",
    "fit_page",
    "letterbox",
    "to_model_input",
    "pil_to_tensor",
    "tensor_to_uint8",
    "ink_fraction",
]


def fit_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """Shape ``(h', w')`` of an ``h x w`` page scaled to fit inside ``size x size``, aspect kept.

    >>> fit_shape(1100, 850, 224)
    (224, 173)
    """
    if h <= 0 or w <= 0 or size <= 0:
        raise ValueError(f"fit_shape needs positive sizes, got h={h}, w={w}, size={size}")
    s = size / max(h, w)
    return max(1, min(size, round(h * s))), max(1, min(size, round(w * s)))


def background_level(pages: torch.Tensor) -> torch.Tensor:
    """Per-image background (paper) level: the median pixel, robust to text and figures.

    Args:
        pages: ``(B, 1, H, W)`` float in [0, 1].
    Returns:
        ``(B,)`` float.
    """
    if pages.ndim != 4:
        raise ValueError(f"expected (B, 1, H, W), got shape {tuple(pages.shape)}")
    return pages.flatten(1).median(dim=1).values  # (B,)


def ink_fraction(page: np.ndarray, threshold: float = 0.25) -> float:
    """Share of pixels that differ from the page background by more than ``threshold``.

    ``page`` is a 2-D uint8 array (0 = ink, 255 = paper).  Used to skip blank pages.
    """
    a = page.astype(np.float32) / 255.0
    bg = float(np.median(a))
    return float((np.abs(a - bg) > threshold).mean())


def fit_page(pages: torch.Tensor, size: int) -> torch.Tensor:
    """Scale ``(B, 1, H, W)`` pages so that they fit inside ``size x size`` (aspect kept).

    Downscaling is area-averaged (``antialias=True``); pages already fitting are scaled up
    bilinearly so that the long side is exactly ``size``.
    """
    h, w = pages.shape[-2:]
    nh, nw = fit_shape(h, w, size)
    if (nh, nw) == (h, w):
        return pages
    out = F.interpolate(pages, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)  # (B, 1, nh, nw)


def letterbox(images: torch.Tensor, size: int, fill: torch.Tensor | float) -> torch.Tensor:
    """Centre ``(B, C, h, w)`` images (h, w <= size) on a ``size x size`` canvas of ``fill``.

    ``fill`` is a scalar or a ``(B,)`` tensor (one value per image).
    """
    b, c, h, w = images.shape
    if h > size or w > size:
        raise ValueError(f"letterbox: image {h}x{w} does not fit inside {size}x{size}; call fit_page first")
    fill_t = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)
    canvas = fill_t.expand(b, c, size, size).clone()  # (B, C, size, size)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[:, :, top:top + h, left:left + w] = images
    return canvas


def to_model_input(pages: torch.Tensor, size: int, background: torch.Tensor | None = None) -> torch.Tensor:
    """THE model-input function: fit inside ``size x size`` (aspect kept), pad with background.

    Args:
        pages: ``(B, 1, H, W)`` float in [0, 1] (all of one size; call per page otherwise).
        size: side of the square model input.
        background: ``(B,)`` pad level; default the page's own :func:`background_level`.
    Returns:
        ``(B, 1, size, size)`` float in [0, 1].

    >>> to_model_input(torch.ones(2, 1, 110, 85), 32).shape
    torch.Size([2, 1, 32, 32])
    """
    if pages.ndim != 4 or pages.shape[1] != 1:
        raise ValueError(f"to_model_input expects (B, 1, H, W) grayscale, got shape {tuple(pages.shape)}")
    if background is None:
        background = background_level(pages)
    return letterbox(fit_page(pages, size), size, background)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image (any mode) as a ``(1, 1, H, W)`` float grayscale tensor in [0, 1]."""
    if img.mode in ("RGBA", "LA", "P"):
        # transparency: composite on white paper, never on black
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    arr = np.asarray(img.convert("L"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).float().div_(255.0)[None, None]  # (1, 1, H, W)


def tensor_to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(B, 1, H, W)`` float [0, 1] -> ``(B, H, W)`` uint8 (round half up)."""
    return (images.detach().clamp(0, 1).mul(255).add_(0.5).floor_()).to(torch.uint8)[:, 0].cpu().numpy()
