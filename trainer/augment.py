"""``--augment``: label-independent augmentations, batched on the device.

* ``scan``: scan-like degradations (kornia), so that a model trained on born-digital renders
  holds up on scans.
* ``bars``: dark title/footer bars painted on a random side of the page, so that "a dark bar at
  the top" stops meaning "upright".  Slide themes put their dark bar at the top far more often
  than at the bottom, and a model that cannot read 2-px text learns that layout habit instead of
  the text (it then reads bottom-bar decks upside down).  The bars are drawn the same way for
  every class, so the bar's side carries no information about the label.
* ``scan+bars``: both (bars first).

Two rules keep an augmentation from adding a shortcut of its own:
* it never sees the labels: every sample draws its parameters from the same distribution,
  whatever its class (``ScanAugment.forward`` takes images only);
* geometric steps fill with the page's own paper level, never with zeros: they warp
  ``x - bg`` with zero padding and add ``bg`` back, which is exactly a fill with ``bg``.

Where ``kornia.augmentation`` has a step's operation, the step uses it: the geometry
(``RandomAffine``, ``RandomPerspective``), Gaussian blur (``RandomGaussianBlur``, replicated
border), motion blur (``RandomMotionBlur``) and salt-and-pepper noise
(``RandomSaltAndPepperNoise``); which pages a step degrades is still drawn here, per page and
label-blind, and the kornia module then runs at ``p=1`` on those.  The steps kornia does not
have as they are stay written by hand, each for a reason:

* ``noise``: ``RandomGaussianNoise`` has one fixed deviation; this step draws the deviation per
  page, uniform up to 0.05 (one setting would narrow the range trained on);
* ``jpeg``: ``RandomJPEG`` (differentiable) costs about 25 ms per 128-px page on a CPU, the PIL
  round trip about 0.4 ms;
* ``light``: ``RandomLinearIllumination`` and ``RandomLinearCornerIllumination`` lay their
  gradient from a side or a corner only, and ``RandomGaussianIllumination`` is a spot; this
  step's gradient takes any direction, uniformly, plus a smooth field;
* ``texture``, ``paper``: the plasma fields (``RandomPlasmaShadow``, ``RandomPlasmaBrightness``)
  are fractal, not the fine bicubic field of the texture, and ``RandomContrast`` and
  ``RandomBrightness`` keep no floor of contrast, which ``paper`` keeps at 0.45;
* ``ink_weight`` uses ``kornia.morphology`` (no augmentation module draws erosion or dilation);
  ``bleed``, ``stamp``, ``stroke``, ``borders``, ``fold``, ``fade``, ``binarise`` and
  ``halftone`` have no kornia counterpart (``RandomPosterize`` keeps levels, not a threshold
  between the page's own ink and paper; ``RandomErasing`` fills rectangles, not rings).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
import kornia.augmentation as K
from kornia.morphology import dilation, erosion

from datagen.preprocess import background_level

from .options import AUGMENTS  # the choices live in a torch-free module (the CLI lists them)


def _smooth_field(b: int, h: int, w: int, cells: int, device, dtype=torch.float32) -> torch.Tensor:
    """Smooth random fields ``(B, 1, H, W)`` in about [-1, 1]: i.i.d. values on a ``cells x cells``
    grid, upsampled bicubically.  The grid is square and i.i.d., so the field's distribution is
    the same under every quarter turn: no side is favoured."""
    g = torch.rand(b, 1, cells, cells, device=device, dtype=dtype) * 2 - 1
    return F.interpolate(g, size=(h, w), mode="bicubic", align_corners=True).clamp_(-1.5, 1.5)


def _uniform(lo: float, hi: float, n: int, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, device=device)


def _jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG round trip of gray pages at per-sample ``quality`` (libjpeg through PIL; kornia's
    differentiable JPEG costs ~25 ms per 128-px image on a CPU, PIL ~0.4 ms)."""
    import io

    import numpy as np
    from PIL import Image

    out = []
    arr = (x[:, 0].detach().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()  # (B, H, W)
    for a, q in zip(arr, quality.tolist()):
        buf = io.BytesIO()
        Image.fromarray(a, mode="L").save(buf, format="JPEG", quality=int(q))
        out.append(torch.from_numpy(np.asarray(Image.open(buf), dtype=np.uint8).copy()))
    return torch.stack(out)[:, None].to(x.device, x.dtype).div_(255.0)  # (B, 1, H, W)


class Grid:
    """What every step of one batch shares: its shape, device, dtype, the pages' paper levels and
    the normalised coordinates ``ys`` (1, 1, H, 1) and ``xs`` (1, 1, 1, W)."""

    def __init__(self, x: torch.Tensor, bg: torch.Tensor):
        self.b, _, self.h, self.w = x.shape
        self.dev, self.dt, self.bg = x.device, x.dtype, bg
        self.ys = torch.linspace(0, 1, self.h, device=self.dev, dtype=self.dt).view(1, 1, self.h, 1)
        self.xs = torch.linspace(0, 1, self.w, device=self.dev, dtype=self.dt).view(1, 1, 1, self.w)

    def u(self, lo: float, hi: float, n: int | None = None) -> torch.Tensor:
        """``n`` (default: the batch) uniform draws in [lo, hi), shaped to broadcast on pages."""
        n = self.b if n is None else n
        return _uniform(lo, hi, n, self.dev).view(n, 1, 1, 1)


def _bleed(aug, x, g: Grid, p: float):
    """The other side of the sheet, seen through the paper: another page of the batch, mirrored,
    at a random quarter turn."""
    m = aug._p(p, g.b, g.dev)
    if m.any() and g.b > 1:
        other = x[torch.roll(torch.arange(g.b, device=g.dev), 1)].flip(-1)
        other = torch.rot90(other, k=int(torch.randint(0, 4, (1,))), dims=(-2, -1)) if g.h == g.w else other
        other = F.avg_pool2d(other, 3, 1, 1)
        a = g.u(0.05, 0.3) * m.view(g.b, 1, 1, 1)
        x = x * (1 - a * (1 - other))
    return x


def _stamp(aug, x, g: Grid, p: float):
    """A stamp's ring at a random place."""
    m = aug._p(p, g.b, g.dev)
    if m.any():
        idx = m.nonzero()[:, 0]
        n = len(idx)
        cy, cx = torch.rand(n, 1, 1, 1, device=g.dev), torch.rand(n, 1, 1, 1, device=g.dev)
        r, t = g.u(0.04, 0.15, n), g.u(0.004, 0.015, n)
        d = ((g.ys - cy) ** 2 + (g.xs - cx) ** 2).sqrt()
        x[idx] = torch.where((d - r).abs() < t, x[idx] * g.u(0.3, 0.8, n), x[idx])
    return x


def _stroke(aug, x, g: Grid, p: float):
    """A pen stroke: a quadratic Bezier curve between random points, drawn as a distance field."""
    m = aug._p(p, g.b, g.dev)
    if m.any():
        idx = m.nonzero()[:, 0]
        n, h, w = len(idx), g.h, g.w
        p0, p1, p2 = (torch.rand(n, 2, device=g.dev) for _ in range(3))
        tt = torch.linspace(0, 1, 16, device=g.dev).view(1, 16, 1)
        curve = ((1 - tt) ** 2) * p0[:, None] + 2 * (1 - tt) * tt * p1[:, None] + (tt ** 2) * p2[:, None]  # (n, 16, 2)
        dy = g.ys.view(1, 1, h, 1) - curve[..., 0].view(n, 16, 1, 1)
        dx = g.xs.view(1, 1, 1, w) - curve[..., 1].view(n, 16, 1, 1)
        dist = (dy * dy + dx * dx).amin(1, keepdim=True)  # (n, 1, H, W) squared distance
        width, level = g.u(0.003, 0.01, n), g.u(0.05, 0.5, n)
        x[idx] = torch.where(dist < width * width, torch.minimum(x[idx], level), x[idx])
    return x


def _ink_weight(aug, x, g: Grid, p: float):
    """Thicker ink (erosion of the paper) with probability ``p``, thinner (dilation) with
    probability ``p`` too: one draw decides, so a page gets one or the other."""
    r = torch.rand(g.b, device=g.dev)
    thick, thin = r < p * aug.s, (r >= p * aug.s) & (r < 2 * p * aug.s)
    if thick.any():
        x = torch.where(thick.view(-1, 1, 1, 1), erosion(x, aug.kernel), x)
    if thin.any():
        x = torch.where(thin.view(-1, 1, 1, 1), dilation(x, aug.kernel), x)
    return x


def _fade(aug, x, g: Grid, p: float):
    """Faded ink: the ink's darkness scaled down."""
    m = aug._p(p, g.b, g.dev)
    if m.any():
        fade = torch.where(m, _uniform(0.6, 0.95, g.b, g.dev), torch.ones(g.b, device=g.dev)).view(g.b, 1, 1, 1)
        x = 1 - (1 - x) * fade
    return x


def _paper(aug, x, g: Grid, p: float):
    """Grey or tinted paper and washed-out ink; at least 0.45 of contrast is left."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    paper = torch.where(m, g.u(0.6, 1.0), torch.ones_like(g.bg))
    ink = torch.where(m, torch.minimum(g.u(0.0, 0.3), paper - 0.45), torch.zeros_like(g.bg))
    return ink + x * (paper - ink)


def _light(aug, x, g: Grid, p: float):
    """Uneven light: a linear gradient of uniformly random direction plus a smooth random field."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    theta = torch.rand(g.b, device=g.dev).view(g.b, 1, 1, 1) * 2 * torch.pi
    ramp = (torch.cos(theta) * (g.xs - 0.5) + torch.sin(theta) * (g.ys - 0.5)) * 2  # a gradient, any direction
    light = 1 + m * (g.u(0.0, 0.35) * ramp + g.u(0.0, 0.2) * _smooth_field(g.b, g.h, g.w, 4, g.dev, g.dt))
    return x * light


def _texture(aug, x, g: Grid, p: float):
    """Paper texture: a fine smooth random field."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    return x + m * g.u(0.0, 0.06) * _smooth_field(g.b, g.h, g.w, max(4, g.h // 6), g.dev, g.dt)


def _borders(aug, x, g: Grid, p: float):
    """The scanner's surroundings: a dark border on each of the four sides, each drawn on its own
    with probability ``p``."""
    for side in range(4):
        m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
        if not m.any():
            continue
        depth = g.u(0.005, 0.08)
        dist = (g.ys, 1 - g.xs, 1 - g.ys, g.xs)[side]  # distance from the top, right, bottom, left edge
        level = g.u(0.0, 0.4)
        x = torch.where((dist < depth) & m, level + 0.05 * torch.rand_like(x), x)
    return x


def _fold(aug, x, g: Grid, p: float):
    """A book fold's shadow along a vertical or horizontal line at a random place."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    if m.any():
        b, h, w = g.b, g.h, g.w
        vertical = (torch.rand(b, device=g.dev) < 0.5).view(b, 1, 1, 1)
        pos = torch.rand(b, device=g.dev).view(b, 1, 1, 1)
        coord = torch.where(vertical, g.xs.expand(b, 1, h, w), g.ys.expand(b, 1, h, w))
        width = g.u(0.02, 0.12)
        shade = g.u(0.2, 0.7) * torch.exp(-(coord - pos).abs() / width)
        x = x * (1 - m * shade)
    return x


def _on_some(aug, x, g: Grid, p: float, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn`` on the pages drawn with probability ``p`` (the others as they are)."""
    m = aug._p(p, g.b, g.dev)
    if m.any():
        idx = m.nonzero()[:, 0]
        x[idx] = fn(x[idx])
    return x


def _blur(aug, x, g: Grid, p: float):
    """Gaussian blur, sigma 0.3 to 1.2 px drawn per page (kornia; on the page clamped to [0, 1])."""
    return _on_some(aug, x.clamp(0, 1), g, p, aug.blur)


def _motion(aug, x, g: Grid, p: float):
    """Motion blur in any direction (kornia)."""
    return _on_some(aug, x, g, p, aug.motion)


def _noise(aug, x, g: Grid, p: float):
    """Gaussian noise, its deviation drawn per page up to 0.05."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    return x + m * g.u(0.0, 0.05) * torch.randn_like(x)


def _salt_pepper(aug, x, g: Grid, p: float):
    """Salt-and-pepper noise on 0.1 to 1 % of the pixels, the share drawn per page, half salt and
    half pepper (kornia)."""
    return _on_some(aug, x, g, p, aug.salt_pepper)


def _jpeg_step(aug, x, g: Grid, p: float):
    """A JPEG round trip at quality 25 to 95 (on the page clamped to [0, 1])."""
    return _on_some(aug, x.clamp(0, 1), g, p, lambda y: _jpeg(y, torch.randint(25, 96, (len(y),))))


def _binarise(aug, x, g: Grid, p: float):
    """Binarisation at a threshold between the page's own ink and paper levels (its 2nd
    percentile and median)."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    if m.any():
        flat = x.flatten(1)
        paper_lv = flat.median(1).values.view(g.b, 1, 1, 1)
        ink_lv = flat.kthvalue(max(1, flat.shape[1] // 50), dim=1).values.view(g.b, 1, 1, 1)
        thr = ink_lv + g.u(0.4, 0.7) * (paper_lv - ink_lv)
        x = torch.where(m, (x > thr).to(g.dt), x)
    return x


def _halftone(aug, x, g: Grid, p: float):
    """Halftone: an ordered (Bayer) dither, the pattern turned at random (its rows differ)."""
    m = aug._p(p, g.b, g.dev).view(g.b, 1, 1, 1)
    if m.any():
        pattern = torch.rot90(aug.bayer, k=int(torch.randint(0, 4, (1,))))
        dither = pattern.to(g.dt).repeat(g.h // 4 + 1, g.w // 4 + 1)[:g.h, :g.w].view(1, 1, g.h, g.w)
        x = torch.where(m, (x > dither).to(g.dt), x)
    return x


# The scan steps in the order they apply, each with its probability per page at strength 1 (the
# strength scales them all).  Every step is ``step(augment, x, grid, p) -> x``.
SCAN_STEPS: dict[str, tuple[Callable, float]] = {
    "bleed": (_bleed, 0.15), "stamp": (_stamp, 0.15), "stroke": (_stroke, 0.15), "ink_weight": (_ink_weight, 0.15),
    "fade": (_fade, 0.25), "paper": (_paper, 0.6), "light": (_light, 0.5), "texture": (_texture, 0.3),
    "borders": (_borders, 0.12), "fold": (_fold, 0.1), "blur": (_blur, 0.35), "motion": (_motion, 0.08),
    "noise": (_noise, 0.4), "salt_pepper": (_salt_pepper, 0.08), "jpeg": (_jpeg_step, 0.3),
    "binarise": (_binarise, 0.08), "halftone": (_halftone, 0.04)}


class ScanAugment(nn.Module):
    """Scan- and photo-like degradations for ``(B, 1, H, W)`` pages in [0, 1] (paper = 1).

    What a born-digital render lacks, each drawn per sample with its own probability:

    * geometry (paper-filled): small skew, scale, shift and shear; slight perspective;
    * scanner and camera surroundings: dark borders on any of the four sides, each side drawn
      independently with the same probability; a book-fold shadow along a line of random
      direction and place;
    * paper: grey or tinted paper and washed-out ink (contrast), uneven light (a linear gradient
      of uniformly random direction plus a smooth random field), paper texture;
    * the other side of the sheet: bleed-through of another page of the batch, mirrored, at a
      random quarter turn;
    * marks: stamp rings and pen strokes at random places;
    * ink: thicker or thinner (erosion, dilation), faded;
    * optics and encoding: Gaussian or motion blur, Gaussian and salt-and-pepper noise, JPEG,
      binarisation, halftone (ordered dither).

    Label-blind by construction: ``forward`` takes images only, and every placement is drawn
    from a distribution that a quarter turn maps onto itself (sides uniform and independent,
    directions uniform, positions uniform), so no cue can correlate with the label.  A test
    checks that the mean output of blank pages is the same under every quarter turn.

    After the geometry, one step per degradation (:data:`SCAN_STEPS`, in that order), each with
    its own probability per page, scaled by ``strength``; ``p`` overrides some of them, e.g.
    ``ScanAugment(p={"jpeg": 0.0})``.
    """

    def __init__(self, strength: float = 1.0, p_geom: float = 0.5, p: dict[str, float] | None = None):
        super().__init__()
        if not 0 <= strength <= 2:
            raise ValueError(f"ScanAugment strength must be in [0, 2], got {strength}")
        unknown = sorted(set(p or {}) - set(SCAN_STEPS))
        if unknown:
            raise ValueError(f"ScanAugment: unknown step(s) {', '.join(unknown)}; choose among {', '.join(SCAN_STEPS)}")
        self.s = strength
        self.steps = [(name, fn, (p or {}).get(name, prob)) for name, (fn, prob) in SCAN_STEPS.items()]
        self.geom = nn.Sequential(
            K.RandomAffine(degrees=3.0, translate=(0.02, 0.02), scale=(0.9, 1.05), shear=(-1.5, 1.5, -1.5, 1.5),
                           p=p_geom, padding_mode="zeros"),
            K.RandomPerspective(distortion_scale=0.1, p=p_geom * 0.4),
        )
        # kornia's own operations where it has the step, at p=1 on the pages the step drew (_on_some)
        self.motion = K.RandomMotionBlur(5, (-90.0, 90.0), 0.5, p=1.0)  # any direction, not just near-horizontal
        self.blur = K.RandomGaussianBlur(5, (0.3, 1.2), border_type="replicate", p=1.0)
        self.salt_pepper = K.RandomSaltAndPepperNoise(amount=(0.001, 0.01), salt_vs_pepper=0.5, p=1.0)
        self.register_buffer("kernel", torch.ones(2, 2), persistent=False)
        bayer = torch.tensor([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], dtype=torch.float32)
        self.register_buffer("bayer", (bayer + 0.5) / 16, persistent=False)

    def _p(self, p: float, n: int, device) -> torch.Tensor:
        return torch.rand(n, device=device) < min(1.0, p * self.s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 1, H, W)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"ScanAugment expects (B, 1, H, W), got {tuple(x.shape)}")
        bg = background_level(x).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        x = self.geom(x - bg) + bg  # zero padding of (x - bg) == paper-coloured fill
        grid = Grid(x, bg)
        for _, step, p in self.steps:
            x = step(self, x, grid, p)
        return x.clamp(0, 1)


class BarAugment(nn.Module):
    """Label-blind header/footer bars for ``(B, 1, H, W)`` pages in [0, 1].

    With probability ``p`` a sample gets a flat bar parallel to one side, the side drawn uniformly
    from top/right/bottom/left whatever the sample's class; with probability ``p_pair`` it also
    gets a second bar on the opposite side (a header and a footer).  Each bar starts ``offset``
    (a share of the side, so it can sit on the edge of a letterboxed slide rather than of the
    square) from its edge, is ``thickness`` thick and has grey ``level`` (0 = black).

    Convention: the bar is painted in the image as given (no turn); sides are those of the
    displayed image.

    >>> BarAugment(p=1.0)(torch.ones(2, 1, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, p: float = 0.5, p_pair: float = 0.5, thickness=(0.01, 0.14), offset=(0.0, 0.25),
                 level=(0.0, 0.8)):
        super().__init__()
        for name, (lo, hi) in (("thickness", thickness), ("offset", offset), ("level", level)):
            if not 0 <= lo <= hi <= 1:
                raise ValueError(f"BarAugment {name} must be 0 <= low <= high <= 1, got {(lo, hi)}")
        self.p, self.p_pair = p, p_pair
        self.thickness, self.offset, self.level = thickness, offset, level

    @staticmethod
    def _uniform(lo_hi, n, device):
        lo, hi = lo_hi
        return lo + (hi - lo) * torch.rand(n, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 1, H, W)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"BarAugment expects (B, 1, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        dev = x.device
        ys = torch.arange(h, device=dev, dtype=torch.float32).view(1, h, 1)  # (1, H, 1)
        xs = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, w)  # (1, 1, W)
        active = torch.rand(b, device=dev) < self.p
        side = torch.randint(0, 4, (b,), device=dev)
        out = x
        for second in (False, True):
            if second:
                active = active & (torch.rand(b, device=dev) < self.p_pair)
                side = (side + 2) % 4  # the opposite side
            s = side.view(b, 1, 1)
            span = torch.where(s % 2 == 0, float(h), float(w))  # (B, 1, 1): extent across the bar
            dist = torch.where(s == 0, ys, torch.where(s == 1, w - 1 - xs, torch.where(s == 2, h - 1 - ys, xs)))  # (B, H, W)
            start = self._uniform(self.offset, b, dev).view(b, 1, 1) * span
            thick = (self._uniform(self.thickness, b, dev).view(b, 1, 1) * span).clamp(min=1.0)
            inside = (dist >= start.floor()) & (dist < (start + thick).floor().clamp(min=start.floor() + 1))
            inside = inside & active.view(b, 1, 1)
            level = self._uniform(self.level, b, dev).view(b, 1, 1, 1).to(x.dtype)
            out = torch.where(inside.unsqueeze(1), level, out)  # (B, 1, H, W)
        return out


def make_augment(name: str, scan_strength: float = 1.0) -> nn.Module | None:
    """The augmentation named on the command line (``none`` gives None); ``scan_strength``
    scales the probability of every scan degradation (0 to 2)."""
    if name not in AUGMENTS:
        raise ValueError(f"unknown augment {name!r}; choose one of: {', '.join(AUGMENTS)}")
    if name == "none":
        return None
    parts = {"scan": lambda: ScanAugment(strength=scan_strength), "bars": BarAugment}
    mods = [parts[p]() for p in ("bars", "scan") if p in name.split("+")]
    return mods[0] if len(mods) == 1 else nn.Sequential(*mods)
