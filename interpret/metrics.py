"""Artifact-attention metrics (pure functions on tensors), as DESIGN.md defines them.

With relevance ``A`` (non-negative, ``(B, H, W)``) and artifact mask ``M`` (bool, same shape),
per sample with a non-empty mask (``a = |M| / HW > 0``) and some relevance (``sum A > 0``):
* artifact mass          ``m = sum_M A / sum A``  (relevance mass accuracy, Arras et al. 2022);
* artifact attention ratio ``AAR = m / a``   (1 = attention in proportion to area; >> 1 = looks at it);
* pointing game          1 if the arg-max of ``A`` lies inside ``M``.
Samples with an empty mask (or no relevance at all) are excluded and counted.
Means come with 95 % percentile-bootstrap intervals.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .stats import cluster_bootstrap


def _check(A: torch.Tensor, M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if A.ndim == 2:
        A, M = A[None], M[None]
    if A.shape != M.shape or A.ndim != 3:
        raise ValueError(f"relevance and mask must both be (B, H, W), got {tuple(A.shape)} and {tuple(M.shape)}")
    if (A < 0).any():
        raise ValueError("relevance must be non-negative (reduce the attribution with abs or ReLU first)")
    return A.float(), M.bool()


def area_share(M: torch.Tensor) -> torch.Tensor:
    """``a = |M| / HW`` per sample ``(B,)``."""
    M = M if M.ndim == 3 else M[None]
    return M.flatten(1).float().mean(1)


def artifact_mass(A: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``m = sum_M A / sum A`` per sample; NaN where the mask is empty or ``sum A == 0``."""
    A, M = _check(A, M)
    total = A.flatten(1).sum(1)
    inside = (A * M).flatten(1).sum(1)
    valid = (M.flatten(1).any(1)) & (total > 0)
    return torch.where(valid, inside / total.clamp_min(1e-30), torch.full_like(total, float("nan")))


def artifact_attention_ratio(A: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``AAR = m / a`` per sample; NaN where excluded."""
    m = artifact_mass(A, M)
    a = area_share(M if M.ndim == 3 else M[None])
    return torch.where(a > 0, m / a.clamp_min(1e-30), torch.full_like(m, float("nan")))


def pointing_game(A: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """1.0 if the arg-max relevance lies inside ``M`` else 0.0; NaN where excluded.

    Ties: the first maximal pixel in row-major order (``argmax``)."""
    A, M = _check(A, M)
    idx = A.flatten(1).argmax(1)
    hit = M.flatten(1).gather(1, idx[:, None])[:, 0].float()
    valid = (M.flatten(1).any(1)) & (A.flatten(1).sum(1) > 0)
    return torch.where(valid, hit, torch.full_like(hit, float("nan")))


def bootstrap_ci(values, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its ``1 - alpha`` percentile-bootstrap interval; NaNs dropped.
    Returns NaNs for an empty input; a single value gives a zero-width interval.  The project's one
    bootstrap (:func:`interpret.stats.cluster_bootstrap`), each value a group of one."""
    v = np.asarray([x for x in np.asarray(values, dtype=float).ravel() if not math.isnan(x)])
    return cluster_bootstrap(v, np.ones_like(v), n_boot=n_boot, alpha=alpha, seed=seed)


def summarise(A: torch.Tensor, M: torch.Tensor, seed: int = 0) -> dict:
    """All metrics with bootstrap intervals, plus how many samples were used and excluded."""
    A, M = _check(A, M)
    m = artifact_mass(A, M)
    r = artifact_attention_ratio(A, M)
    p = pointing_game(A, M)
    used = ~torch.isnan(m)
    empty = int((~M.flatten(1).any(1)).sum())
    out = {"n": int(used.sum()), "excluded_empty_mask": empty, "excluded_no_relevance": int((~used).sum()) - empty,
           "area_share": _ci(area_share(M)[used].tolist(), seed)}
    for name, vals in (("artifact_mass", m), ("aar", r), ("pointing_game", p)):
        out[name] = _ci(vals.tolist(), seed)
    return out


def _ci(vals, seed) -> dict:
    mean, lo, hi = bootstrap_ci(vals, seed=seed)
    return {"mean": None if math.isnan(mean) else mean, "ci95": None if math.isnan(lo) else [lo, hi]}
