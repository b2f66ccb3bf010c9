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
import kornia.augmentation as K
from kornia.morphology import dilation, erosion

from datagen.preprocess import background_level

AUGMENTS = ("none", "scan", "bars", "scan+bars")


class ScanAugment(nn.Module):
    """Scan-like degradations for ``(B, 1, H, W)`` pages in [0, 1] (paper = 1).

    Geometric (paper-filled): small rotation/scale/translation/shear, slight perspective.
    Photometric: brightness, contrast, gamma, blur, Gaussian noise.  Ink thickness: random
    erosion (thicker ink) or dilation (thinner ink) with a 2x2 kernel.
    """

    def __init__(self, p_geom: float = 0.5, p_photo: float = 0.8, p_ink: float = 0.3):
        super().__init__()
        self.geom = nn.Sequential(
            K.RandomAffine(degrees=2.0, translate=(0.02, 0.02), scale=(0.93, 1.05), shear=1.0, p=p_geom,
                           padding_mode="zeros"),
            K.RandomPerspective(distortion_scale=0.08, p=p_geom * 0.5),
        )
        self.photo = nn.Sequential(
            K.RandomBrightness((0.85, 1.1), p=p_photo),
            K.RandomContrast((0.7, 1.2), p=p_photo),
            K.RandomGamma((0.7, 1.4), p=p_photo * 0.5),
            K.RandomGaussianBlur((3, 3), (0.1, 1.0), p=p_photo * 0.4),
            K.RandomGaussianNoise(mean=0.0, std=0.03, p=p_photo * 0.4),
        )
        self.p_ink = p_ink
        self.register_buffer("kernel", torch.ones(2, 2), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 1, H, W)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"ScanAugment expects (B, 1, H, W), got {tuple(x.shape)}")
        bg = background_level(x).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        x = self.geom(x - bg) + bg  # zero padding of (x - bg) == paper-coloured fill
        if self.p_ink > 0:
            r = torch.rand(x.shape[0], device=x.device)
            thick, thin = r < self.p_ink / 2, (r >= self.p_ink / 2) & (r < self.p_ink)
            if thick.any():
                x = torch.where(thick.view(-1, 1, 1, 1), erosion(x, self.kernel), x)
            if thin.any():
                x = torch.where(thin.view(-1, 1, 1, 1), dilation(x, self.kernel), x)
        x = self.photo(x.clamp(0, 1))
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


def make_augment(name: str) -> nn.Module | None:
    """The augmentation named on the command line (``none`` gives None)."""
    if name not in AUGMENTS:
        raise ValueError(f"unknown augment {name!r}; choose one of: {', '.join(AUGMENTS)}")
    if name == "none":
        return None
    parts = {"scan": ScanAugment, "bars": BarAugment}
    mods = [parts[p]() for p in ("bars", "scan") if p in name.split("+")]
    return mods[0] if len(mods) == 1 else nn.Sequential(*mods)
