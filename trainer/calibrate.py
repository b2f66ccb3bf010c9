"""Confidence a pipeline can set a threshold by: temperature scaling, calibration error, and
risk against coverage.

* :func:`fit_temperature`: the one scalar ``T`` that minimises the negative log-likelihood of
  ``softmax(logits / T)`` on labelled data (Guo et al. 2017).  It changes no answer, only how
  sure each answer says it is.
* :func:`calibration`: expected calibration error (15 equal-width confidence bins) and the bins
  of a reliability diagram.
* :func:`risk_coverage`: keep the most confident pages and score those: accuracy at 100 / 99 /
  95 / 90 % coverage, and the whole curve.
* :func:`review_threshold`: the default ``--min-confidence`` of ``trainer predict --fix``.

NumPy only: the numbers are computed the same way for the torch and the ONNX engine.
"""
from __future__ import annotations

import math

import numpy as np

COVERAGES = (1.0, 0.99, 0.95, 0.90)
TARGET_RISK = 0.01  # the review threshold keeps the error rate of the pages it turns at or below this


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    """Mean negative log-likelihood of ``softmax(logits / t)``."""
    lp = _log_softmax(np.asarray(logits, dtype=np.float64) / t)
    return float(-lp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising the NLL on ``(logits (N, C), labels (N,))``: a golden-section
    search on ``log T`` (the NLL is unimodal in ``T`` for fixed logits).

    >>> z = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [4.0, 0, 0, 0]])
    >>> round(fit_temperature(z, np.array([0, 1, 1])), 2) > 1   # a wrong confident answer: soften
    True
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError(f"fit_temperature needs logits (N, C) and N labels, got {logits.shape} and {labels.shape}")
    if not np.isfinite(logits).all():
        raise ValueError("fit_temperature: the logits hold non-finite values")
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def calibration(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error over ``bins`` equal-width confidence bins, and the bins
    (``[lo, hi, n, mean confidence, accuracy]``) for a reliability diagram."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(labels)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for i in range(bins):
        lo, hi = edges[i], edges[i + 1]
        sel = (conf > lo) & (conf <= hi) if i else (conf >= lo) & (conf <= hi)
        n = int(sel.sum())
        if n:
            mc, acc = float(conf[sel].mean()), float(correct[sel].mean())
            ece += n / len(conf) * abs(mc - acc)
            rows.append([float(lo), float(hi), n, mc, acc])
    return {"ece": float(ece), "bins": rows, "n": int(len(conf)), "accuracy": float(correct.mean()) if len(conf) else None}


def risk_coverage(conf: np.ndarray, correct: np.ndarray) -> dict:
    """Keep the most confident pages first: accuracy at :data:`COVERAGES`, and the curve
    ``[coverage, risk, threshold]`` (risk = error rate of the kept pages) at every distinct confidence."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        return {"n": 0, "at": {}, "curve": []}
    order = np.argsort(-conf, kind="stable")
    c, ok = conf[order], correct[order]
    errors = np.cumsum(~ok)
    kept = np.arange(1, n + 1)
    at = {}
    for cov in COVERAGES:
        k = max(1, int(math.floor(cov * n + 1e-9)))
        at[f"{round(cov * 100)}"] = {"accuracy": float(1 - errors[k - 1] / k), "kept": k,
                                     "threshold": float(c[k - 1])}
    last = np.r_[c[1:] != c[:-1], True]  # the end of each run of equal confidence
    curve = [[float(kept[i] / n), float(errors[i] / kept[i]), float(c[i])] for i in np.nonzero(last)[0]]
    if len(curve) > 400:  # keep the report small: every point of a long curve is not needed
        idx = np.unique(np.linspace(0, len(curve) - 1, 400).round().astype(int))
        curve = [curve[i] for i in idx]
    return {"n": n, "at": at, "curve": curve}


def review_threshold(conf: np.ndarray, correct: np.ndarray, target_risk: float = TARGET_RISK) -> dict:
    """The lowest confidence threshold whose kept pages have an error rate at or below
    ``target_risk`` (the most pages turned automatically at that risk); pages below it go to review.

    Returns ``{"threshold", "coverage", "risk", "target_risk", "n"}``.
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n = len(conf)
    if n == 0:
        raise ValueError("review_threshold needs labelled predictions")
    order = np.argsort(-conf, kind="stable")
    c, ok = conf[order], correct[order]
    risk = np.cumsum(~ok) / np.arange(1, n + 1)
    last = np.r_[c[1:] != c[:-1], True]
    good = np.nonzero(last & (risk <= target_risk))[0]
    if len(good) == 0:  # even the most confident page is wrong too often: review everything
        return {"threshold": 1.0, "coverage": 0.0, "risk": None, "target_risk": target_risk, "n": n}
    i = int(good[-1])
    return {"threshold": float(c[i]), "coverage": float((i + 1) / n), "risk": float(risk[i]),
            "target_risk": target_risk, "n": n}


def flagged_errors(conf: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """At ``threshold``: the share of pages flagged for review, and of pages that are wrong and
    NOT flagged (the errors a pipeline would let through)."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    n = max(1, len(conf))
    flagged = conf < threshold
    return {"threshold": float(threshold), "flagged": float(flagged.mean()) if len(conf) else 0.0,
            "wrong_not_flagged": float((~correct & ~flagged).sum() / n),
            "wrong_flagged": float((~correct & flagged).sum() / n)}
