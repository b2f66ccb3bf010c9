"""Rotation strategies: how a data generator turns an upright page into a labelled sample.

Every strategy is a pure, batched function ``(pages, angles, skews) -> (images, masks)``:

* ``pages``  ``(B, 1, H, W)`` float in [0, 1], upright (paper = 1, ink = 0), on any device;
* ``angles`` ``(B,)`` label angles in degrees, each of 0, 90, 180, 270;
* ``skews``  ``(B,)`` extra tilt in degrees (counter-clockwise positive), applied to EVERY class;
* ``images`` the turned pages; ``masks`` bool, True where the pixel was synthesised by the
  rotation (padding, fill, reflection, replicated border) rather than sampled from the page.

Convention (pinned by tests on an asymmetric image): the label is the CLOCKWISE angle by which
the upright page was turned.  ``torch.rot90(k=1, dims=(-2, -1))`` and kornia's positive angles
turn COUNTER-clockwise as displayed, so a label ``L`` is ``rot90(k=-L // 90)`` and a kornia angle
of ``-L``.  To fix a page, turn it counter-clockwise by its label.

The ``kornia-*`` strategies keep the canvas (``H x W``) as ``kornia.geometry.transform.rotate``
does, which crops a non-square page turned by 90/270 and leaves bands: the shortcut of
Golodkov et al. (2023).  ``exact`` turns losslessly with ``torch.rot90`` (the canvas swaps) and
only the optional skew synthesises pixels (filled with the page's background level).

Each strategy also offers :meth:`Strategy.artifact_only`: the same synthesised pixels at the same
place, on a page whose content is NOT turned.  The shortcut test of ``interpret`` feeds it to a
model: a model that predicts a turn from it has learned the artifact, not the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine

from .contract import ANGLES
from .preprocess import background_level

MASK_EPS = 1e-3  # a pixel that takes more than this share of padding counts as synthesised


def _as_tensor(values, pages: torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=pages.dtype, device=pages.device).flatten()
    if t.numel() == 1 and pages.shape[0] != 1:
        t = t.expand(pages.shape[0])
    if t.numel() != pages.shape[0]:
        raise ValueError(f"{name}: expected {pages.shape[0]} values (one per page), got {t.numel()}")
    return t


def _check(pages: torch.Tensor, angles, skews) -> tuple[torch.Tensor, torch.Tensor]:
    if pages.ndim != 4 or pages.shape[1] != 1:
        raise ValueError(f"pages must be (B, 1, H, W) grayscale, got shape {tuple(pages.shape)}")
    if not pages.is_floating_point():
        raise ValueError(f"pages must be float in [0, 1], got dtype {pages.dtype}")
    a = _as_tensor(angles, pages, "angles")
    bad = sorted({float(x) for x in a.tolist()} - {0.0, 90.0, 180.0, 270.0})
    if bad:
        raise ValueError(f"angles must be among {ANGLES}, got {bad}")
    return a, _as_tensor(0.0 if skews is None else skews, pages, "skews")


def _rotation(pages: torch.Tensor, ccw_degrees: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) matrices turning about the canvas centre, counter-clockwise positive."""
    b, _, h, w = pages.shape
    center = torch.tensor([[(w - 1) / 2.0, (h - 1) / 2.0]], dtype=pages.dtype, device=pages.device).expand(b, 2)
    scale = torch.ones(b, 2, dtype=pages.dtype, device=pages.device)
    return get_rotation_matrix2d(center, ccw_degrees, scale)  # (B, 2, 3)


def _synth_mask(pages: torch.Tensor, matrix: torch.Tensor, dsize: tuple[int, int]) -> torch.Tensor:
    """True where a bilinear warp with this matrix takes padding (samples outside the page).

    Computed in closed form from the inverse map: a canvas pixel pulled back to ``u`` takes the
    share ``(1 - dx)(1 - dy)`` of page, ``dx``/``dy`` being how far ``u`` lies outside the page's
    pixel centres.  This is what warping an all-ones page with zero padding gives, at a fraction
    of the cost.
    """
    h_src, w_src = pages.shape[-2:]
    h, w = dsize
    dev, dt = pages.device, pages.dtype
    full = torch.cat([matrix, torch.tensor([[[0.0, 0.0, 1.0]]], dtype=dt, device=dev).expand(matrix.shape[0], 1, 3)], 1)
    inv = torch.linalg.inv(full)[:, :2]  # (B, 2, 3) canvas -> source
    xs = torch.arange(w, device=dev, dtype=dt).view(1, 1, w)
    ys = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
    a = inv.reshape(-1, 6, 1, 1)  # (B, 6, 1, 1)
    ux = a[:, 0] * xs + a[:, 1] * ys + a[:, 2]  # (B, H, W)
    uy = a[:, 3] * xs + a[:, 4] * ys + a[:, 5]
    dx = torch.maximum(-ux, ux - (w_src - 1)).clamp_(0, 1)
    dy = torch.maximum(-uy, uy - (h_src - 1)).clamp_(0, 1)
    return ((1 - dx) * (1 - dy) < 1.0 - MASK_EPS).unsqueeze(1)  # (B, 1, H, W) bool


def _warp(pages: torch.Tensor, matrix: torch.Tensor, padding: str, background: torch.Tensor | None):
    """Warp with kornia.  ``padding='fill'`` pads with a per-page level: warping ``page - bg``
    with zeros and adding ``bg`` back is exactly kornia's fill, but with one value per page."""
    dsize = tuple(pages.shape[-2:])
    if padding == "fill":
        bg = background.view(-1, 1, 1, 1)
        out = warp_affine(pages - bg, matrix, dsize, mode="bilinear", padding_mode="zeros", align_corners=True) + bg
    else:
        out = warp_affine(pages, matrix, dsize, mode="bilinear", padding_mode=padding, align_corners=True)
    return out.clamp_(0.0, 1.0)


def _pad_rule_grid(shape, matrix: torch.Tensor, padding: str) -> torch.Tensor:
    """Sampling grid that shows upright content where the warped page would be visible and, in
    the synthesised region, what the padding rule would put there (for ``artifact_only``).

    A canvas pixel ``x`` is pulled back to the source frame ``u = R^-1 x``, the padding rule is
    applied there (border = clamp, reflection = mirror, as ``grid_sample`` with
    ``align_corners=True`` does), and the point is pushed forward again: ``x' = R rule(u)``.
    Inside the visible region the rule is the identity, so ``x' = x`` and the page is untouched.
    """
    b = matrix.shape[0]
    h, w = shape
    dev, dt = matrix.device, matrix.dtype
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=dt), torch.arange(w, device=dev, dtype=dt), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3).expand(b, -1, -1)  # (B, HW, 3)
    full = torch.cat([matrix, torch.tensor([[[0.0, 0.0, 1.0]]], dtype=dt, device=dev).expand(b, 1, 3)], dim=1)
    inv = torch.linalg.inv(full)  # (B, 3, 3) canvas -> source
    u = pts @ inv.transpose(1, 2)  # (B, HW, 3)
    ux, uy = u[..., 0], u[..., 1]
    if padding == "border":
        ux, uy = ux.clamp(0, w - 1), uy.clamp(0, h - 1)
    elif padding == "reflection":
        ux, uy = _reflect(ux, w - 1), _reflect(uy, h - 1)
    back = torch.stack([ux, uy, torch.ones_like(ux)], dim=-1) @ full.transpose(1, 2)  # (B, HW, 3)
    gx = back[..., 0] / max(w - 1, 1) * 2 - 1
    gy = back[..., 1] / max(h - 1, 1) * 2 - 1
    return torch.stack([gx, gy], dim=-1).reshape(b, h, w, 2)  # (B, H, W, 2)


def _reflect(v: torch.Tensor, hi: float) -> torch.Tensor:
    if hi <= 0:
        return torch.zeros_like(v)
    period = 2 * hi
    v = torch.remainder(v, period)
    return torch.where(v > hi, period - v, v)


@dataclass(frozen=True)
class Strategy:
    """One rotation strategy of the registry."""

    name: str
    summary: str
    artifact: str
    fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    padding: str  # zeros | border | reflection | fill  (the padding of turn and skew)
    keeps_canvas: bool

    def __call__(self, pages: torch.Tensor, angles, skews=None, background: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn ``pages`` by ``angles`` (+ ``skews``).  ``background``: ``(B,)`` paper level for
        the fill (default: :func:`background_level` of ``pages``)."""
        return self.fn(pages, angles, skews, background)

    def artifact_only(self, pages: torch.Tensor, angles, skews=None, background: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """The synthesised pixels this strategy leaves for ``angles``/``skews``, on UPRIGHT content.

        Same canvas, same mask geometry as ``self(pages, angles, skews)`` (for ``exact``, whose
        turn is lossless, only the skew's wedges), but the page content is not turned.  Pixels
        outside the mask equal ``pages`` exactly.

        Returns:
            ``(images, masks)``, both ``(B, 1, H, W)``.
        """
        a, s = _check(pages, angles, skews)
        if not self.keeps_canvas:
            a = torch.zeros_like(a)  # exact: the turn synthesises nothing
        matrix = _rotation(pages, s - a)  # (B, 2, 3)
        masks = _synth_mask(pages, matrix, tuple(pages.shape[-2:]))
        if self.padding in ("border", "reflection"):
            grid = _pad_rule_grid(tuple(pages.shape[-2:]), matrix, self.padding)
            synth = F.grid_sample(pages, grid, mode="bilinear", padding_mode="border", align_corners=True)
        elif self.padding == "fill":
            bg = background_level(pages) if background is None else _as_tensor(background, pages, "background")
            synth = bg.view(-1, 1, 1, 1).expand_as(pages)
        else:
            synth = torch.zeros_like(pages)
        return torch.where(masks, synth, pages), masks


def _kornia(padding: str):
    def rotate(pages: torch.Tensor, angles, skews=None, background=None):
        a, s = _check(pages, angles, skews)
        matrix = _rotation(pages, s - a)  # label L clockwise = kornia angle -L; skew on top
        bg = None
        if padding == "fill":
            bg = background_level(pages) if background is None else _as_tensor(background, pages, "background")
        images = _warp(pages, matrix, padding, bg)
        return images, _synth_mask(pages, matrix, tuple(pages.shape[-2:]))

    return rotate


def exact(pages: torch.Tensor, angles, skews=None, background=None):
    """Lossless cardinal turn with ``torch.rot90`` (the canvas swaps for 90/270), then the skew.

    All pages of one call must end up with one canvas shape: for a non-square page, do not mix
    0/180 with 90/270 in one call.  Skew pads with the page's background level; with no skew the
    output is bit-exact and every mask is empty.
    """
    a, s = _check(pages, angles, skews)
    ks = [(-int(x) // 90) % 4 for x in a.tolist()]
    shapes = {pages.shape[-2:] if k % 2 == 0 else pages.shape[-2:][::-1] for k in ks}
    if len(shapes) > 1:
        raise ValueError(
            "exact: mixed 0/180 and 90/270 turns of a non-square page give different canvas shapes; "
            f"call once per group, got angles {sorted(set(int(x) for x in a.tolist()))}")
    if len(set(ks)) == 1:
        turned = torch.rot90(pages, k=ks[0], dims=(-2, -1))
    else:
        turned = torch.stack([torch.rot90(p, k=k, dims=(-2, -1)) for p, k in zip(pages, ks)])
    if not bool((s != 0).any()):
        return turned.contiguous(), torch.zeros_like(turned, dtype=torch.bool)
    matrix = _rotation(turned, s)
    bg = background_level(turned) if background is None else _as_tensor(background, turned, "background")
    images = _warp(turned, matrix, "fill", bg)
    return images, _synth_mask(turned, matrix, tuple(turned.shape[-2:]))


REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    if strategy.name in REGISTRY:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    REGISTRY[strategy.name] = strategy
    return strategy


register(Strategy("kornia-zeros", "kornia rotate, canvas kept, zero padding (the paper's case)",
                  "black bands, cropped text", _kornia("zeros"), "zeros", True))
register(Strategy("kornia-border", "kornia rotate, canvas kept, replicated border",
                  "smeared streaks", _kornia("border"), "border", True))
register(Strategy("kornia-reflect", "kornia rotate, canvas kept, reflection padding",
                  "mirrored text in the bands", _kornia("reflection"), "reflection", True))
register(Strategy("kornia-fill", "kornia rotate, canvas kept, filled with the page's background level",
                  "flat paper-coloured bands, cropping", _kornia("fill"), "fill", True))
register(Strategy("exact", "lossless torch.rot90 (canvas swaps); skew only, background fill",
                  "none by construction", exact, "fill", False))


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown rotation strategy {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def canvas_shape(h: int, w: int, angle: int, strategy: str) -> tuple[int, int]:
    """Canvas shape a strategy gives an ``h x w`` page turned by ``angle``."""
    if get_strategy(strategy).keeps_canvas or angle % 180 == 0:
        return h, w
    return w, h


def draw_skews(keys: Sequence[str], seed: int, max_deg: float) -> list[float]:
    """One uniform skew in ``[-max_deg, max_deg]`` per sample key, independent of order and
    batching (a hash of seed and key), so part builds and full builds agree."""
    import hashlib

    out = []
    for k in keys:
        if max_deg == 0:
            out.append(0.0)
            continue
        h = hashlib.sha256(f"{seed}:{k}:skew".encode()).digest()
        u = int.from_bytes(h[:8], "big") / 2**64
        out.append(round((2 * u - 1) * max_deg, 4))
    return out


def cardinal_k(angle: int) -> int:
    """``k`` for ``torch.rot90(img, k, dims=(-2, -1))`` that turns an upright page clockwise by
    ``angle`` (the label); ``-k`` fixes a page labelled ``angle``."""
    if angle not in ANGLES:
        raise ValueError(f"angle must be one of {ANGLES}, got {angle}")
    return (-angle // 90) % 4



def make_samples(strategy: str | Strategy, fitted: np.ndarray, papers, angle: int, skews, size: int,
                 device: torch.device | str = "cpu", artifact_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Samples as ``datagen build`` writes them, from fitted 8-bit pages of one shape.

    Args:
        strategy: a registry name or :class:`Strategy`.
        fitted: ``(B, h, w)`` uint8 upright pages (paper = 255), as :mod:`datagen.pages` prepares.
        papers: ``(B,)`` paper levels, 0..255 (the fill and the letterbox pad).
        angle: the label of every sample (clockwise degrees).
        skews: ``(B,)`` extra tilts in degrees.
        size: side of the square sample.
        artifact_only: the strategy's synthesised pixels on content that is NOT turned
            (:meth:`Strategy.artifact_only`), for the shortcut test.
    Returns:
        ``(images (B, size, size) uint8, masks (B, size, size) bool, page box [top, left, h, w])``.
    """
    from .preprocess import letterbox, tensor_to_uint8

    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    pages = torch.from_numpy(np.ascontiguousarray(fitted))[:, None].to(device).float().div_(255.0)  # (B, 1, h, w)
    bg = torch.as_tensor(np.asarray(papers, dtype=np.float32), device=device).div(255.0)  # (B,)
    fn = strat.artifact_only if artifact_only else strat
    images, masks = fn(pages, [angle] * len(pages), skews, background=bg)  # (B, 1, hc, wc)
    hc, wc = images.shape[-2:]
    box = [(size - hc) // 2, (size - wc) // 2, hc, wc]
    images = letterbox(images, size, bg)  # (B, 1, size, size)
    masks = letterbox(masks.to(images.dtype), size, 0.0) > 0.5
    return tensor_to_uint8(images), masks[:, 0].cpu().numpy(), box
