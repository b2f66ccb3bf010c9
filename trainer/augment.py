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
"""
from __future__ import annotations

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


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, k: int = 5) -> torch.Tensor:
    """A Gaussian blur with one ``sigma`` per sample, as one grouped convolution."""
    n = x.shape[0]
    r = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    g = torch.exp(-(r.view(1, -1) ** 2) / (2 * sigma.view(-1, 1).to(x.dtype) ** 2))
    g = g / g.sum(1, keepdim=True)  # (n, k)
    kern = (g[:, :, None] * g[:, None, :]).view(n, 1, k, k)
    y = F.conv2d(F.pad(x.view(1, n, *x.shape[-2:]), (k // 2,) * 4, mode="replicate"), kern, groups=n)
    return y.view_as(x)


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

    Cost on the 2-core CPU at 128 px: see ``bench/augment.py``.
    """

    def __init__(self, strength: float = 1.0, p_geom: float = 0.5):
        super().__init__()
        if not 0 <= strength <= 2:
            raise ValueError(f"ScanAugment strength must be in [0, 2], got {strength}")
        self.s = strength
        self.geom = nn.Sequential(
            K.RandomAffine(degrees=3.0, translate=(0.02, 0.02), scale=(0.9, 1.05), shear=(-1.5, 1.5, -1.5, 1.5),
                           p=p_geom, padding_mode="zeros"),
            K.RandomPerspective(distortion_scale=0.1, p=p_geom * 0.4),
        )
        self.motion = K.RandomMotionBlur(5, (-90.0, 90.0), 0.5, p=1.0)  # any direction, not just near-horizontal
        self.register_buffer("kernel", torch.ones(2, 2), persistent=False)
        bayer = torch.tensor([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], dtype=torch.float32)
        self.register_buffer("bayer", (bayer + 0.5) / 16, persistent=False)

    def _p(self, p: float, n: int, device) -> torch.Tensor:
        return torch.rand(n, device=device) < min(1.0, p * self.s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 1, H, W)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"ScanAugment expects (B, 1, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        dev, dt = x.device, x.dtype
        bg = background_level(x).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        x = self.geom(x - bg) + bg  # zero padding of (x - bg) == paper-coloured fill

        ys = torch.linspace(0, 1, h, device=dev, dtype=dt).view(1, 1, h, 1)
        xs = torch.linspace(0, 1, w, device=dev, dtype=dt).view(1, 1, 1, w)

        # the other side of the sheet, seen through the paper: another page, mirrored
        m = self._p(0.15, b, dev)
        if m.any() and b > 1:
            other = x[torch.roll(torch.arange(b, device=dev), 1)].flip(-1)
            other = torch.rot90(other, k=int(torch.randint(0, 4, (1,))), dims=(-2, -1)) if h == w else other
            other = F.avg_pool2d(other, 3, 1, 1)
            a = _uniform(0.05, 0.3, b, dev).view(b, 1, 1, 1) * m.view(b, 1, 1, 1)
            x = x * (1 - a * (1 - other))

        # stamp rings and pen strokes
        m = self._p(0.15, b, dev)
        if m.any():
            idx = m.nonzero()[:, 0]
            n = len(idx)
            cy, cx = torch.rand(n, 1, 1, 1, device=dev), torch.rand(n, 1, 1, 1, device=dev)
            r = _uniform(0.04, 0.15, n, dev).view(n, 1, 1, 1)
            t = _uniform(0.004, 0.015, n, dev).view(n, 1, 1, 1)
            d = ((ys - cy) ** 2 + (xs - cx) ** 2).sqrt()
            x[idx] = torch.where((d - r).abs() < t, x[idx] * _uniform(0.3, 0.8, n, dev).view(n, 1, 1, 1), x[idx])
        m = self._p(0.15, b, dev)
        if m.any():
            # a quadratic Bezier stroke between random points, drawn as a distance field
            idx = m.nonzero()[:, 0]
            n = len(idx)
            p0, p1, p2 = (torch.rand(n, 2, device=dev) for _ in range(3))
            tt = torch.linspace(0, 1, 16, device=dev).view(1, 16, 1)
            curve = ((1 - tt) ** 2) * p0[:, None] + 2 * (1 - tt) * tt * p1[:, None] + (tt ** 2) * p2[:, None]  # (n, 16, 2)
            dy = ys.view(1, 1, h, 1) - curve[..., 0].view(n, 16, 1, 1)
            dx = xs.view(1, 1, 1, w) - curve[..., 1].view(n, 16, 1, 1)
            dist = (dy * dy + dx * dx).amin(1, keepdim=True)  # (n, 1, H, W) squared distance
            width = _uniform(0.003, 0.01, n, dev).view(n, 1, 1, 1)
            level = _uniform(0.05, 0.5, n, dev).view(n, 1, 1, 1)
            x[idx] = torch.where(dist < width * width, torch.minimum(x[idx], level), x[idx])

        # ink: thicker or thinner, faded
        r = torch.rand(b, device=dev)
        thick, thin = r < 0.15 * self.s, (r >= 0.15 * self.s) & (r < 0.3 * self.s)
        if thick.any():
            x = torch.where(thick.view(-1, 1, 1, 1), erosion(x, self.kernel), x)
        if thin.any():
            x = torch.where(thin.view(-1, 1, 1, 1), dilation(x, self.kernel), x)
        m = self._p(0.25, b, dev)
        if m.any():
            fade = torch.where(m, _uniform(0.6, 0.95, b, dev), torch.ones(b, device=dev)).view(b, 1, 1, 1)
            x = 1 - (1 - x) * fade

        # paper and ink levels, uneven light, texture
        m = self._p(0.6, b, dev).view(b, 1, 1, 1)
        paper = torch.where(m, _uniform(0.6, 1.0, b, dev).view(b, 1, 1, 1), torch.ones_like(bg))
        ink = torch.where(m, torch.minimum(_uniform(0.0, 0.3, b, dev).view(b, 1, 1, 1), paper - 0.45),
                          torch.zeros_like(bg))  # at least 0.45 of contrast is left
        x = ink + x * (paper - ink)
        m = self._p(0.5, b, dev).view(b, 1, 1, 1)
        theta = torch.rand(b, device=dev).view(b, 1, 1, 1) * 2 * torch.pi
        ramp = (torch.cos(theta) * (xs - 0.5) + torch.sin(theta) * (ys - 0.5)) * 2  # a gradient, any direction
        light = 1 + m * (_uniform(0.0, 0.35, b, dev).view(b, 1, 1, 1) * ramp
                         + _uniform(0.0, 0.2, b, dev).view(b, 1, 1, 1) * _smooth_field(b, h, w, 4, dev, dt))
        x = x * light
        m = self._p(0.3, b, dev).view(b, 1, 1, 1)
        x = x + m * _uniform(0.0, 0.06, b, dev).view(b, 1, 1, 1) * _smooth_field(b, h, w, max(4, h // 6), dev, dt)

        # scanner surroundings: dark borders, each side on its own, and a book fold
        for side in range(4):
            m = self._p(0.12, b, dev).view(b, 1, 1, 1)
            if not m.any():
                continue
            depth = _uniform(0.005, 0.08, b, dev).view(b, 1, 1, 1)
            dist = (ys, 1 - xs, 1 - ys, xs)[side]  # distance from the top, right, bottom, left edge
            level = _uniform(0.0, 0.4, b, dev).view(b, 1, 1, 1)
            border = (dist < depth) & m
            x = torch.where(border, level + 0.05 * torch.rand_like(x), x)
        m = self._p(0.1, b, dev).view(b, 1, 1, 1)
        if m.any():
            vertical = (torch.rand(b, device=dev) < 0.5).view(b, 1, 1, 1)
            pos = torch.rand(b, device=dev).view(b, 1, 1, 1)
            coord = torch.where(vertical, xs.expand(b, 1, h, w), ys.expand(b, 1, h, w))
            width = _uniform(0.02, 0.12, b, dev).view(b, 1, 1, 1)
            shade = _uniform(0.2, 0.7, b, dev).view(b, 1, 1, 1) * torch.exp(-(coord - pos).abs() / width)
            x = x * (1 - m * shade)

        # optics and encoding
        x = x.clamp(0, 1)
        m = self._p(0.35, b, dev)
        if m.any():
            idx = m.nonzero()[:, 0]
            x[idx] = _gaussian_blur(x[idx], _uniform(0.3, 1.2, len(idx), dev))
        m = self._p(0.08, b, dev)
        if m.any():
            idx = m.nonzero()[:, 0]
            x[idx] = self.motion(x[idx])
        m = self._p(0.4, b, dev).view(b, 1, 1, 1)
        x = x + m * _uniform(0.0, 0.05, b, dev).view(b, 1, 1, 1) * torch.randn_like(x)
        m = self._p(0.08, b, dev).view(b, 1, 1, 1)
        if m.any():
            amount = _uniform(0.001, 0.01, b, dev).view(b, 1, 1, 1)
            u = torch.rand_like(x)
            x = torch.where(m & (u < amount / 2), torch.zeros_like(x), torch.where(m & (u > 1 - amount / 2),
                                                                               torch.ones_like(x), x))
        x = x.clamp(0, 1)
        m = self._p(0.3, b, dev)
        if m.any():
            idx = m.nonzero()[:, 0]
            x[idx] = _jpeg(x[idx], torch.randint(25, 96, (len(idx),)))
        m = self._p(0.08, b, dev).view(b, 1, 1, 1)
        if m.any():
            # a threshold between the page's own ink and paper levels (its 2nd percentile and median)
            flat = x.flatten(1)
            paper_lv = flat.median(1).values.view(b, 1, 1, 1)
            ink_lv = flat.kthvalue(max(1, flat.shape[1] // 50), dim=1).values.view(b, 1, 1, 1)
            thr = ink_lv + _uniform(0.4, 0.7, b, dev).view(b, 1, 1, 1) * (paper_lv - ink_lv)
            x = torch.where(m, (x > thr).to(dt), x)
        m = self._p(0.04, b, dev).view(b, 1, 1, 1)
        if m.any():
            pattern = torch.rot90(self.bayer, k=int(torch.randint(0, 4, (1,))))  # Bayer rows differ; turn it at random
            dither = pattern.to(dt).repeat(h // 4 + 1, w // 4 + 1)[:h, :w].view(1, 1, h, w)
            x = torch.where(m, (x > dither).to(dt), x)
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
