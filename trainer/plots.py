"""Training figures: learning curves and a confusion matrix (written atomically)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from datagen.contract import ANGLES  # noqa: E402


def save_fig(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    from datagen.atomic import atomic_write

    try:
        return atomic_write(path, lambda t: fig.savefig(t, dpi=dpi, bbox_inches="tight", format=Path(path).suffix[1:]))
    finally:
        plt.close(fig)


def plot_curves(history: list[dict], path, title: str = "") -> Path:
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    if any(h.get("val_loss") is not None for h in history):
        a1.plot(ep, [h.get("val_loss") for h in history], "s-", label="val")
    a1.set_xlabel("epoch")
    a1.set_ylabel("cross-entropy")
    a1.legend()
    a1.grid(alpha=0.3)
    a2.plot(ep, [100 * h["train_acc"] for h in history], "o-", label="train")
    if any(h.get("val_acc") is not None for h in history):
        a2.plot(ep, [100 * h["val_acc"] if h.get("val_acc") is not None else np.nan for h in history], "s-", label="val")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.set_ylim(0, 101)
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle(title)
    return save_fig(fig, path)


def plot_confusion(confusion, path, title: str = "") -> Path:
    cm = np.asarray(confusion, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(4.4, 4))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = [f"{a}°" for a in ANGLES]
    ax.set_xticks(range(4), labels)
    ax.set_yticks(range(4), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(4):
        for j in range(4):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    return save_fig(fig, path)


def plot_reliability(calib: dict, path, title: str = "") -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the bins' sizes."""
    fig, ax = plt.subplots(figsize=(4.4, 4.2))
    bins = calib.get("bins", [])
    if bins:
        lo, hi, n, mc, acc = (np.array(c) for c in zip(*bins))
        ax.bar((lo + hi) / 2, acc, width=hi - lo, edgecolor="k", alpha=0.6, label="accuracy")
        ax.plot(mc, acc, "o", color="C1", label="mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xlabel("confidence"), ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {100 * calib.get('ece', 0):.2f} % over {calib.get('n', 0)} samples", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return save_fig(fig, path)


def plot_risk_coverage(rc: dict, path, title: str = "", threshold: float | None = None) -> Path:
    """Risk (error rate of the kept pages) against coverage (share of pages kept, most confident first)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    curve = rc.get("curve", [])
    if curve:
        cov, risk, thr = (np.array(c) for c in zip(*curve))
        ax.plot(cov, 100 * risk, "-", lw=1.5)
        if threshold is not None:
            k = int(np.argmin(np.abs(thr - threshold)))
            ax.plot([cov[k]], [100 * risk[k]], "o", color="C3", label=f"review threshold {threshold:.3f}")
            ax.legend(fontsize=8)
    ax.set_xlabel("coverage (pages turned automatically)"), ax.set_ylabel("risk: wrong among them (%)")
    ax.set_xlim(0, 1.01), ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    return save_fig(fig, path)
