"""``--augment scan``: label-independent, scan-like degradations, batched on the device (kornia).

So that a model trained on born-digital renders holds up on scans.  Two rules keep it from
adding a shortcut of its own:
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

AUGMENTS = ("none", "scan")


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


def make_augment(name: str) -> nn.Module | None:
    if name not in AUGMENTS:
        raise ValueError(f"unknown augment {name!r}; choose one of: {', '.join(AUGMENTS)}")
    return ScanAugment() if name == "scan" else None
