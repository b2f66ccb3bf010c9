"""What the two trainers share of their recipe: :class:`OptimConfig`, the length of the run, the
batch, AdamW's learning rate and weight decay and the loss's label smoothing, and the AdamW they
build from it.  ``trainer fit`` (:class:`trainer.engine.FitConfig`) and ``trainer fit-windows``
(:class:`trainer.windowfit.WindowFit`) extend it with their own warm-up and the rest."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class OptimConfig:
    """The shared hyperparameters; each trainer's config sets its own ``epochs`` and ``batch_size``."""
    epochs: float
    batch_size: int
    lr: float = 2e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.05

    def adamw(self, params) -> torch.optim.AdamW:
        """AdamW over ``params`` at this config's learning rate and weight decay."""
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
