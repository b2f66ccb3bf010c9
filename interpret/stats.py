"""Intervals and the decision rule shared by ``audit``, ``leak`` and ``compare``.

* :func:`cluster_bootstrap`: a ratio (flips / inputs, correct / samples) with a 95 % percentile
  bootstrap interval that resamples whole GROUPS (pages, documents), because the inputs of one
  page (its four turns) or one document are not independent.
* :func:`decide`: a rate against a threshold, respecting its interval.  Above when the whole
  interval is at or above the threshold, below when it is all below, **inconclusive** when it
  straddles it; then the number of groups that would decide it, from the interval's width
  (a half-width shrinks as ``1 / sqrt(n)``, so ``n' = n * (side / distance)^2``, where ``side``
  is the part of the interval between the estimate and the threshold's side).
"""
from __future__ import annotations

import math

import numpy as np


def cluster_bootstrap(hits, totals, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
                      ) -> tuple[float, float, float]:
    """``(rate, low, high)`` of ``sum(hits) / sum(totals)`` with groups resampled with replacement.

    Args:
        hits: per group, the count (or sum) of events, e.g. flips of a page's inputs.
        totals: per group, the number of trials, e.g. the page's inputs.
    Returns:
        NaNs when there is no trial; a zero-width interval for a single group.

    >>> cluster_bootstrap([1, 1], [2, 2])
    (0.5, 0.5, 0.5)
    """
    h = np.asarray(hits, dtype=float).ravel()
    t = np.asarray(totals, dtype=float).ravel()
    if h.shape != t.shape:
        raise ValueError(f"cluster_bootstrap: {h.size} hit counts for {t.size} groups")
    keep = t > 0
    h, t = h[keep], t[keep]
    if t.size == 0:
        return (float("nan"),) * 3
    rate = float(h.sum() / t.sum())
    if t.size == 1:
        return rate, rate, rate
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, size=(n_boot, t.size))
    rates = h[idx].sum(1) / t[idx].sum(1)
    lo, hi = np.quantile(rates, [alpha / 2, 1 - alpha / 2])
    return rate, float(lo), float(hi)


def paired_cluster_bootstrap(hits_a, hits_b, totals, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
                             ) -> tuple[float, float, float]:
    """``(difference, low, high)`` of ``rate_a - rate_b`` measured on the SAME groups (documents),
    resampling the groups once for both."""
    a = np.asarray(hits_a, dtype=float).ravel()
    b = np.asarray(hits_b, dtype=float).ravel()
    t = np.asarray(totals, dtype=float).ravel()
    if not a.shape == b.shape == t.shape:
        raise ValueError("paired_cluster_bootstrap: hits and totals must have one value per group")
    keep = t > 0
    a, b, t = a[keep], b[keep], t[keep]
    if t.size == 0:
        return (float("nan"),) * 3
    d = float((a.sum() - b.sum()) / t.sum())
    if t.size == 1:
        return d, d, d
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, size=(n_boot, t.size))
    ds = (a[idx].sum(1) - b[idx].sum(1)) / t[idx].sum(1)
    lo, hi = np.quantile(ds, [alpha / 2, 1 - alpha / 2])
    return d, float(lo), float(hi)


ABOVE, BELOW, INCONCLUSIVE = "above", "below", "inconclusive"


def decide(rate: float | None, ci95, threshold: float, n: int) -> dict:
    """``rate`` (with its 95 % interval, measured on ``n`` groups) against ``threshold``.

    Returns ``{"status": "above" | "below" | "inconclusive", "n": n, "groups_to_decide": int | None}``.
    ``groups_to_decide`` is set when inconclusive: about how many groups (pages, documents) would
    give an interval that no longer straddles the threshold, if the estimate stayed where it is
    (``None`` when the estimate sits exactly on the threshold: no sample size decides that).
    A missing interval counts as a zero-width one at ``rate``.

    >>> decide(0.2, [0.15, 0.25], 0.10, 30)["status"]
    'above'
    >>> decide(0.12, [0.08, 0.16], 0.10, 30)
    {'status': 'inconclusive', 'n': 30, 'groups_to_decide': 120}
    """
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return {"status": None, "n": n, "groups_to_decide": None}
    lo, hi = (ci95 if ci95 else (rate, rate))
    if lo >= threshold:
        return {"status": ABOVE, "n": n, "groups_to_decide": None}
    if hi < threshold:
        return {"status": BELOW, "n": n, "groups_to_decide": None}
    dist = abs(rate - threshold)
    side = (rate - lo) if rate >= threshold else (hi - rate)
    if dist <= 1e-12:
        return {"status": INCONCLUSIVE, "n": n, "groups_to_decide": None}
    need = int(math.ceil(max(1, n) * (side / dist) ** 2 - 1e-9))
    return {"status": INCONCLUSIVE, "n": n, "groups_to_decide": max(need, n + 1)}
