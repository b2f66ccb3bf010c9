"""Figures for interpret: explanation grids, probe grids, AAR / accuracy / shortcut charts."""
from __future__ import annotations

import numpy as np
import torch

from trainer.plots import plt, save_fig

OUTLINE = np.array([0.0, 0.85, 1.0])  # cyan: the artifact mask's outline
STRATEGY_COLORS = {"kornia-zeros": "#d62728", "kornia-border": "#ff7f0e", "kornia-reflect": "#9467bd",
                   "kornia-fill": "#8c564b", "exact": "#2ca02c"}


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(bool)
    if not m.any():
        return m
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    edge = m & ~inner
    thick = edge.copy()  # 2 px wide so it survives downscaling
    thick[1:, :] |= edge[:-1, :]
    thick[:, 1:] |= edge[:, :-1]
    return thick


def page_rgb(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float [0, 1] page -> RGB with the artifact mask outlined in cyan."""
    rgb = np.repeat(image[..., None], 3, axis=2).astype(np.float32)
    if mask is not None:
        rgb[_outline(mask)] = OUTLINE
    return rgb


def heat_rgb(image: np.ndarray, relevance: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Relevance (normalised by its 99.5th percentile) over a faded page, mask outlined."""
    cmap = plt.get_cmap("inferno")
    r = relevance.astype(np.float32)
    hi = float(np.quantile(r, 0.995)) if r.size else 0.0
    r = np.clip(r / hi, 0, 1) if hi > 0 else np.zeros_like(r)
    heat = cmap(r)[..., :3]
    base = 0.35 + 0.65 * np.repeat(image[..., None], 3, axis=2)
    out = 0.35 * base + 0.65 * heat
    if mask is not None:
        out[_outline(mask)] = OUTLINE
    return out.clip(0, 1)


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def explain_grid(images, masks, relevances: dict, true, pred, path, title: str = "", keys=None):
    """One row per sample: the page (mask outlined), then one heat map per method."""
    images = _np(images)[:, 0] if _np(images).ndim == 4 else _np(images)
    n, methods = images.shape[0], list(relevances)
    cols = 1 + len(methods)
    fig, axes = plt.subplots(n, cols, figsize=(2.3 * cols, 2.45 * n), squeeze=False)
    for i in range(n):
        m = None if masks is None else _np(masks)[i].reshape(images.shape[1:])
        axes[i, 0].imshow(page_rgb(images[i], m))
        label = f"true {true[i]}°  pred {pred[i]}°"
        axes[i, 0].set_title(label, fontsize=8, color="black" if true[i] == pred[i] else "#c00000")
        if keys is not None:
            axes[i, 0].set_xlabel(keys[i][:30], fontsize=6)
        for j, meth in enumerate(methods):
            axes[i, j + 1].imshow(heat_rgb(images[i], _np(relevances[meth][i]), m))
            if i == 0:
                axes[i, j + 1].set_title(meth, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title + "   (cyan = artifact mask)", fontsize=10)
    fig.tight_layout()
    return save_fig(fig, path, dpi=110)


def probe_grid(images, masks, runs: list[dict], path, method: str, true=None):
    """The SAME probe images explained by every run: first row the images, then one row per run.

    ``runs``: ``[{"name", "relevance" (N, H, W), "pred" [angles]}]``."""
    images = _np(images)[:, 0] if _np(images).ndim == 4 else _np(images)
    n = images.shape[0]
    fig, axes = plt.subplots(1 + len(runs), n, figsize=(1.9 * n, 2.0 * (1 + len(runs))), squeeze=False)
    for j in range(n):
        m = None if masks is None else _np(masks)[j].reshape(images.shape[1:])
        axes[0, j].imshow(page_rgb(images[j], m))
        if true is not None:
            axes[0, j].set_title(f"{true[j]}°", fontsize=8)
        for i, r in enumerate(runs):
            axes[i + 1, j].imshow(heat_rgb(images[j], _np(r["relevance"][j]), m))
            ok = true is None or r["pred"][j] == true[j]
            axes[i + 1, j].set_title(f"pred {r['pred'][j]}°", fontsize=7, color="black" if ok else "#c00000")
    axes[0, 0].set_ylabel("probe", fontsize=9)
    for i, r in enumerate(runs):
        axes[i + 1, 0].set_ylabel(r["name"], fontsize=9, color=STRATEGY_COLORS.get(r.get("strategy"), "black"))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Same probe pages (kornia-zeros artifacts, cyan) explained by each model — {method}", fontsize=11)
    fig.tight_layout()
    return save_fig(fig, path, dpi=100)


def aar_chart(rows: list[dict], methods: list[str], path, keys=("own", "probe")):
    """Grouped bars of AAR per method per variant with 95 % intervals; one panel per set.

    ``rows``: ``[{"name", "strategy", "aar": {set: {method: {"mean", "ci95"}}}}]``."""
    fig, axes = plt.subplots(1, len(keys), figsize=(6.2 * len(keys), 3.9), squeeze=False)
    width = 0.8 / max(1, len(rows))
    for ax, key in zip(axes[0], keys):
        for i, r in enumerate(rows):
            means, errs = [], [[], []]
            for m in methods:
                v = (r["aar"].get(key) or {}).get(m) or {}
                mean = v.get("mean")
                means.append(mean if mean is not None else 0)
                ci = v.get("ci95") or [mean or 0, mean or 0]
                errs[0].append(max(0, (mean or 0) - ci[0]))
                errs[1].append(max(0, ci[1] - (mean or 0)))
            x = np.arange(len(methods)) + (i - (len(rows) - 1) / 2) * width
            ax.bar(x, means, width, yerr=errs, capsize=2, label=r["name"],
                   color=STRATEGY_COLORS.get(r["strategy"]), alpha=0.9)
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.text(len(methods) - 0.5, 1.02, "attention ∝ area", fontsize=7, ha="right", va="bottom")
        ax.set_xticks(range(len(methods)), methods, fontsize=8)
        ax.set_ylabel("artifact attention ratio (AAR)")
        ax.set_title({"own": "on each model's own test split", "probe": "on the common kornia-zeros probe"}.get(key, key),
                      fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0, -1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return save_fig(fig, path)


def accuracy_chart(rows: list[dict], path):
    """Accuracy per variant on its own test split, on clean pages and on real pages, side by side,
    with 95 % intervals (``rows[i]["accuracy_ci95"]``, when present) as error bars."""
    sets = [("own", "own test split (its artifacts)"), ("clean", "clean pages"), ("real", "real pages")]
    sets = [s for s in sets if any(r["accuracy"].get(s[0]) is not None for r in rows)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(rows), 3.8))
    width = 0.8 / len(sets)
    colors = {"own": "#9ecae1", "clean": "#08519c", "real": "#fd8d3c"}
    for i, (k, label) in enumerate(sets):
        vals = [100 * (r["accuracy"].get(k) or 0) for r in rows]
        cis = [(r.get("accuracy_ci95") or {}).get(k) for r in rows]
        err = [[max(0.0, v - 100 * c[0]) if c else 0.0 for v, c in zip(vals, cis)],
               [max(0.0, 100 * c[1] - v) if c else 0.0 for v, c in zip(vals, cis)]]
        x = np.arange(len(rows)) + (i - (len(sets) - 1) / 2) * width
        bars = ax.bar(x, vals, width, yerr=err, capsize=2, error_kw={"lw": 0.8}, label=label, color=colors[k])
        for b, v, r, hi in zip(bars, vals, rows, err[1]):
            if r["accuracy"].get(k) is not None:
                ax.text(b.get_x() + b.get_width() / 2, v + hi + 0.8, f"{v:.0f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], fontsize=8, rotation=15)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 112)
    ax.axhline(25, color="gray", lw=0.6, ls=":")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Accuracy: own generated test split, clean pages" + (", real pages" if any(k == "real" for k, _ in sets)
                                                                       else "")
                 + " (95 % CI over documents)", fontsize=10)
    fig.tight_layout()
    return save_fig(fig, path)


def shortcut_chart(rows: list[dict], path):
    """Flip rate of the artifact-only intervention per variant, with intervals."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rows), 3.4))
    names, vals, lo, hi, cols = [], [], [], [], []
    for r in rows:
        sc = r.get("shortcut") or {}
        ao = sc.get("artifact_only") or {}
        v = ao.get("flip_rate")
        names.append(f"{r['name']}\n(+{sc.get('strategy', '?')})")
        vals.append(100 * (v or 0))
        ci = ao.get("flip_rate_ci95") or [v or 0, v or 0]
        lo.append(max(0, 100 * ((v or 0) - ci[0])))
        hi.append(max(0, 100 * (ci[1] - (v or 0))))
        cols.append(STRATEGY_COLORS.get(r["strategy"], "gray"))
    ax.bar(range(len(rows)), vals, yerr=[lo, hi], capsize=3, color=cols)
    ax.set_xticks(range(len(rows)), names, fontsize=7)
    ax.set_ylabel("predictions changed (%)")
    ax.set_title("Shortcut test: artifact added, content NOT turned", fontsize=10)
    ax.set_ylim(0, max(10, max(vals) * 1.25 if vals else 10))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_fig(fig, path)


# --------------------------------------------------------------------------- audit
DECISION_COLORS = {"relied on": "#d62728", "inconclusive": "#ff7f0e", "not relied on": "#9ecae1",
                   "removal cue (glyphs gone)": "#bdbdbd"}
_REMOVAL = ("needs what was removed", "the rest suffices")


def cues_chart(runs: list[dict], threshold: float, path):
    """Flip rate per cue (rows) for each run (one panel each), with 95 % intervals; bars coloured
    by the verdict (red relied on, orange inconclusive, blue not); the threshold dashed.

    ``runs``: ``[{"name", "cues": {"cues": {name: {"valid", "flip_rate", "flip_rate_ci95", "decision"}}}}]``."""
    n = max(1, len(runs))
    names = []
    for r in runs:
        for k, c in r["cues"]["cues"].items():
            if c["valid"] and k not in names:
                names.append(k)
    fig, axes = plt.subplots(1, n, figsize=(2.2 + 2.9 * n, 1.2 + 0.24 * max(1, len(names))), squeeze=False,
                             sharey=True)
    y = np.arange(len(names))
    for ax, r in zip(axes[0], runs):
        cues = r["cues"]["cues"]
        vals, lo, hi, cols = [], [], [], []
        for k in names:
            c = cues.get(k)
            v = 100 * (c["flip_rate"] if c else 0)
            ci = c["flip_rate_ci95"] if c else [0, 0]
            vals.append(v)
            lo.append(max(0.0, v - 100 * ci[0]))
            hi.append(max(0.0, 100 * ci[1] - v))
            d = c["decision"] if c else None
            cols.append(DECISION_COLORS["removal cue (glyphs gone)"] if d in _REMOVAL else DECISION_COLORS.get(d, "white"))
        ax.barh(y, vals, xerr=[lo, hi], color=cols, capsize=2, error_kw={"lw": 0.8, "zorder": 3})
        ax.axvline(100 * threshold, color="black", lw=0.8, ls="--")
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_title(r["name"], fontsize=9, color=STRATEGY_COLORS.get(r.get("strategy"), "black"))
        ax.set_xlabel("answers changed (%)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_yticks(y, names, fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in DECISION_COLORS.values()]
    fig.legend(handles, list(DECISION_COLORS), loc="lower center", ncol=4, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"Cue battery: a label-free edit, the right answer unchanged (threshold {100 * threshold:.0f} %)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return save_fig(fig, path)


def cue_examples(names: list[str], path, size: int = 128, seed: int = 0):
    """Each cue applied to one synthetic upright page (the first turn, 0 degrees)."""
    from .cues import cue_rng, demo_square, get_cue

    page = demo_square(size)
    paper = int(np.median(page))
    items = [("clean page", page)] + [(n, get_cue(n)(page, paper, cue_rng(seed, 0, 0, n))) for n in names]
    cols = min(8, len(items))
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.55 * cols, 1.75 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (n, im) in zip(axes.ravel(), items):
        ax.imshow(im, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(n, fontsize=7)
    fig.suptitle("The cues, drawn on a synthetic upright page", fontsize=10)
    fig.tight_layout()
    return save_fig(fig, path, dpi=110)


def spray_chart(spr: dict, path, title: str = ""):
    """One row per class, one column per cluster: the cluster's mean Grad-CAM (its prototype)
    over the mean page of its members; flagged clusters (relevance mostly off the text ink) in red."""
    classes = list(spr["classes"].items())
    k = max(len(v["clusters"]) for _, v in classes)
    fig, axes = plt.subplots(len(classes), k, figsize=(2.1 * k + 0.6, 2.2 * len(classes)), squeeze=False)
    cmap = plt.get_cmap("inferno")
    for i, (a, v) in enumerate(classes):
        for j in range(k):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(v["clusters"]):
                ax.axis("off")
                continue
            cl = v["clusters"][j]
            img = np.asarray(cl["mean_image"], dtype=np.float32) / 255.0
            proto = torch.nn.functional.interpolate(torch.tensor(cl["prototype"], dtype=torch.float32)[None, None],
                                                    size=img.shape, mode="bilinear", align_corners=False)[0, 0].numpy()
            heat = cmap(np.clip(proto, 0, 1))[..., :3]
            ax.imshow((0.45 * np.repeat(img[..., None], 3, 2) + 0.55 * heat).clip(0, 1))
            ax.set_title(f"{cl['share'] * 100:.0f} % · off ink {cl['off_ink_mass'] * 100:.0f} %\n"
                         f"acc {cl['accuracy'] * 100:.0f} %", fontsize=7, color="#c00000" if cl["flagged"] else "black")
            if cl["flagged"]:
                for s in ax.spines.values():
                    s.set_edgecolor("#c00000")
                    s.set_linewidth(2.5)
        axes[i, 0].set_ylabel(f"true {a}°\n(n={v['n']}, k={v['k']})", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_fig(fig, path, dpi=100)
