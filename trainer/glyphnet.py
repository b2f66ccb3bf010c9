"""GlyphNet: the small network that reads one glyph-scale window (:mod:`datagen.glyphs`).

Eight 3x3 conv-BN-ReLU layers (16-16 / 32-32 / 64-64 / 128-128 channels, a 2x2 max-pool after
each of the first three pairs), global average pooling and a 4-way linear layer: 0.29 M
parameters.  A 64 px window of text at a 7 px text scale holds a few glyphs; a receptive field of
~50 px covers them, and a ResNet18 (11 M parameters) would cost 40x the compute per window for a
task this local, on 2 CPU cores.  Each window is standardised on its own inside the model (its
mean and spread), so paper colour and contrast never reach the features.

The page answer sums the windows' log-probabilities (independent evidence), divided by the
page temperature fitted on validation pages (:func:`trainer.windowfit.calibrate`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class GlyphNet(nn.Module):
    """``(B, 1, W, W)`` windows in [0, 1] -> ``(B, 4)`` logits over 0/90/180/270 (clockwise)."""

    def __init__(self, widths=(16, 32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for i, w in enumerate(widths):
            layers += _block(cin, w) + _block(w, w)
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True)
        x = (x - mean) / (std + 0.02)
        return self.head(self.features(x).mean(dim=(2, 3)))


class Uint8Windows(nn.Module):
    """GlyphNet behind a ``(B, W, W)`` uint8 input, as exported to ONNX (the scaling inside the
    graph, so a caller hands over the windows as cut)."""

    def __init__(self, net: GlyphNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.unsqueeze(1).float() / 255.0)


def turn_class(k: int) -> int:
    """The class of an upright window turned counter-clockwise by ``90 k`` (``np.rot90``): it
    shows a clockwise turn of ``360 - 90 k``."""
    return (-k) % 4


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def page_scores(window_logits: np.ndarray) -> np.ndarray:
    """A page's evidence (4,): the sum of its windows' log-probabilities."""
    return log_softmax(np.asarray(window_logits, np.float64)).sum(0)


def page_probs(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated page probabilities of :func:`page_scores` (rows or one page)."""
    z = np.asarray(scores, np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
