"""The audit of a window model (``interpret audit MODEL`` when MODEL is a window model).

A window model answers from glyph-scale windows voted over the page.  The shortcuts it could
take are not the whole-page ones (fill bands, letterbox geometry), so its cues are its own,
each an edit applied the same way whatever the page's turn (label-blind), scored as the share
of answers that flip, with document-cluster intervals:

- **window position** (``region-top``, ``region-bottom``, ``region-left``, ``region-right``): the
  page answered from the windows of one half only (top, bottom, left, right of the page as
  shown).  A model that reads glyphs answers the same from any region; one that learned where
  on a page windows come from (margins, headers) does not.
- **window edges** (``bar-top``, ``bar-bottom``): a dark bar along one edge of every window, as
  a scanner's fill band would leave at the page's edge;
- **blank windows** (``blank``): windows of paper only: a model that learned the glyphs is not
  sure of anything there (its mean top probability is reported; 0.25 is no opinion).

Clean pages come from a ``file,angle`` CSV (``datagen pages`` output): their 0-degree rows,
each cut once and turned four ways (the windows turned with the page).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .stats import cluster_bootstrap

REGIONS = ("region-top", "region-bottom", "region-left", "region-right")
CUES = REGIONS + ("bar-top", "bar-bottom", "blank")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _turn_corners(corners: np.ndarray, shape: tuple[int, int], win: int, angle: int) -> np.ndarray:
    """Window centres (row, col) on the page turned clockwise by ``angle``, as fractions of its
    height and width."""
    h, w = shape
    c = corners.astype(float) + win / 2
    y, x = c[:, 0] / h, c[:, 1] / w
    for _ in range(angle // 90):  # clockwise by 90: (y, x) -> (x, 1 - y)
        y, x = x, 1 - y
    return np.stack([y, x], 1)


def _in_region(pos: np.ndarray, region: str) -> np.ndarray:
    y, x = pos[:, 0], pos[:, 1]
    return {"region-top": y < 0.5, "region-bottom": y >= 0.5, "region-left": x < 0.5, "region-right": x >= 0.5}[region]


def _bar(w: np.ndarray, side: str) -> np.ndarray:
    w = w.copy()
    d = max(2, w.shape[1] // 8)
    if side == "bar-top":
        w[:, :d] = 0
    else:
        w[:, -d:] = 0
    return w


def clean_pages(labels: Path, limit: int) -> list[dict]:
    with open(labels, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["angle"]) == 0]
    return [{**r, "path": str(labels.parent / r["file"])} for r in rows[:limit]]


def audit_windows(model: str, labels: Path, pages: int = 40, seed: int = 0) -> dict:
    """Flip rates of every cue over ``pages`` clean pages at four turns (a window model's audit)."""
    from datagen.glyphs import page_windows
    from datagen.pages import read_image
    from trainer.loading import load_engine

    eng = load_engine(model).engine
    if not hasattr(eng, "prep"):
        raise ValueError(f"{model}: not a window model")
    net, k, target, win = eng.net, eng.k, eng.prep.target, eng.prep.win
    rows = clean_pages(labels, pages)
    if not rows:
        raise ValueError(f"{labels}: no 0-degree rows to audit")
    flips: dict[str, list[tuple[str, int, int]]] = {c: [] for c in CUES}
    correct, blank_conf, used = [], [], 0
    for r in rows:
        w = page_windows(np.asarray(read_image(r["path"], 0, side=800)), k, target, win)
        if len(w.windows) == 0:
            continue
        used += 1
        for angle in (0, 90, 180, 270):
            q = -(angle // 90)
            ws = np.rot90(w.windows, q, axes=(1, 2))
            lp = _log_softmax(net.logits(ws))
            base = int(lp.sum(0).argmax())
            correct.append((r["doc"], int(base == angle // 90)))
            pos = _turn_corners(w.corners, w.shape, win, angle)
            for reg in REGIONS:
                m = _in_region(pos, reg)
                if m.sum() >= 2:
                    flips[reg].append((r["doc"], int(int(lp[m].sum(0).argmax()) != base), 1))
            for bar in ("bar-top", "bar-bottom"):
                z = _log_softmax(net.logits(_bar(ws, bar))).sum(0)
                flips[bar].append((r["doc"], int(int(z.argmax()) != base), 1))
        paper = np.full((4, win, win), int(np.percentile(w.windows, 95)), np.uint8)
        p = np.exp(_log_softmax(net.logits(paper)))
        blank_conf.append(float(p.max(1).mean()))
    out = {"model": str(model), "clean": str(labels), "pages": used, "k": k, "target": target, "win": win,
           "accuracy": _rate([(d, c, 1) for d, c in correct], seed), "cues": {}}
    for c in CUES[:-1]:
        out["cues"][c] = {"flip_rate": _rate(flips[c], seed), "n": len(flips[c])}
    out["cues"]["blank"] = {"mean_top_probability": float(np.mean(blank_conf)) if blank_conf else None,
                            "n": len(blank_conf)}
    return out


def _rate(items: list[tuple[str, int, int]], seed: int) -> list[float] | None:
    if not items:
        return None
    by: dict[str, list[int]] = {}
    for d, h, t in items:
        v = by.setdefault(d, [0, 0])
        v[0] += h
        v[1] += t
    r = cluster_bootstrap([v[0] for v in by.values()], [v[1] for v in by.values()], seed=seed)
    return [round(x, 4) for x in r]


def window_markdown(res: dict) -> str:
    def pct(r):
        return "—" if r is None else f"{100 * r[0]:.1f} % [{100 * r[1]:.1f}, {100 * r[2]:.1f}]"

    lines = [f"# Window-model audit: {res['model']}", "",
             f"{res['pages']} clean pages of {res['clean']}, each at four turns; K = {res['k']} windows of "
             f"{res['win']} px at a {res['target']:g} px text scale.  Accuracy: {pct(res['accuracy'])}.", "",
             "| cue | what it edits | answers that flip |", "|---|---|---:|"]
    what = {"region-top": "only the windows of the page's top half vote",
            "region-bottom": "only the bottom half's", "region-left": "only the left half's",
            "region-right": "only the right half's", "bar-top": "a dark bar along each window's top edge",
            "bar-bottom": "a dark bar along each window's bottom edge"}
    for c, w in what.items():
        lines.append(f"| {c} | {w} | {pct(res['cues'][c]['flip_rate'])} |")
    b = res["cues"]["blank"]["mean_top_probability"]
    lines += ["", f"Blank windows (paper only): mean top probability {b:.3f} (0.25 = no opinion)." if b is not None
              else "", "", "A region's flip rate is the share of answers that change when only that half votes: "
              "the evidence is spread over the page when it is low for every half."]
    return "\n".join(lines) + "\n"


def write_window_audit(res: dict, out: Path) -> None:
    from datagen.atomic import atomic_dir

    with atomic_dir(out) as tmp:
        (tmp / "report.json").write_text(json.dumps(res, indent=1))
        (tmp / "report.md").write_text(window_markdown(res))
