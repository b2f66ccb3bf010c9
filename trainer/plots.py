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
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


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
        a2.plot(ep, [100 * h["val_acc"] if h.get("val_acc") is not None else None for h in history], "s-", label="val")
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
