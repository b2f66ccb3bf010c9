"""The shortcut test: an intervention, stronger than a heat map.

Given upright, artifact-free pages:
1. **artifact only** — every page is turned losslessly to each of the four angles (clean input);
   then the strategy's artifact for a turn ``L`` (its bands/padding, same geometry, computed by
   ``Strategy.artifact_only``) is added WITHOUT turning the content.  The right answer does not
   change, so every changed prediction is caused by the artifact alone: the **flip rate**.
2. **painted out** — the strategy's own samples of those pages (content turned, artifact left),
   then the same samples with the artifact pixels painted with the page background: the accuracy
   change says how much the model's answers on its own data depend on the artifact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from datagen.contract import ANGLES
from datagen.preprocess import square
from datagen.strategies import get_strategy, make_samples
from trainer.data import EvalSource
from trainer.evaluate import predict_probs
from .metrics import bootstrap_ci


@dataclass
class _Rec:
    page: str
    true: int
    clean_pred: int
    art_angle: int
    art_pred: int


def _inputs(page, size: int, strat) -> tuple[list[np.ndarray], list[tuple]]:
    """Every input the test feeds for one upright page, tagged ``(kind, angle, artifact angle)``:
    the four clean turns (THE model-input function), the artifact alone on each clean turn, the
    strategy's own samples and the same with the artifact painted in paper colour."""
    inputs, tags = [], []
    fitted, paper = page.fitted[None], [page.paper]  # (1, h, w)
    for a in ANGLES:
        clean = square(page.fitted, size, page.paper, a)
        inputs.append(clean)
        tags.append(("clean", a, None))
        turned = np.rot90(page.fitted, k=-(a // 90))[None]  # clockwise by a: the clean content of this turn
        for L in (90, 180, 270):
            img, mask, _ = make_samples(strat, turned, paper, L, [0.0], size, artifact_only=True)
            if mask.any():
                inputs.append(img[0])
                tags.append(("art", a, L))
        own, mask, _ = make_samples(strat, fitted, paper, a, [0.0], size)
        inputs.append(own[0])
        tags.append(("own", a, None))
        inputs.append(np.where(mask[0], np.uint8(page.paper), own[0]))
        tags.append(("painted", a, None))
    return inputs, tags


def shortcut_test(model, data: EvalSource, strategy: str, device: torch.device, limit: int | None = None,
                  seed: int = 0) -> dict:
    """Run both halves of the test on the upright pages of ``data``; JSON-ready dict."""
    strat = get_strategy(strategy)
    size = data.size
    recs: list[_Rec] = []
    clean_ok, clean_n = 0, 0
    own_ok, painted_ok, own_n = 0, 0, 0
    pages_used = 0
    for page in data.upright(limit):
        pages_used += 1
        key = page.key
        inputs, tags = _inputs(page, size, strat)
        x = torch.from_numpy(np.stack(inputs))[:, None].float().div_(255.0)  # (N, 1, S, S)
        pred = predict_probs(model, x, device).argmax(1).tolist()
        clean_pred = {}
        for (kind, a, L), c in zip(tags, pred):
            if kind == "clean":
                clean_pred[a] = c
                clean_ok += int(c == a // 90)
                clean_n += 1
            elif kind == "own":
                own_ok += int(c == a // 90)
                own_n += 1
            elif kind == "painted":
                painted_ok += int(c == a // 90)
        for (kind, a, L), c in zip(tags, pred):
            if kind == "art":
                recs.append(_Rec(key, a // 90, clean_pred[a], L, c))
    if pages_used == 0:
        raise ValueError(f"{data.describe()}: no upright, artifact-free pages found for the shortcut test")
    flips = [float(r.art_pred != r.clean_pred) for r in recs]
    out = {
        "strategy": strategy,
        "pages": pages_used,
        "clean_accuracy": clean_ok / clean_n if clean_n else None,
        "artifact_only": {"n": len(recs)},
        "painted_out": {"n": own_n, "own_accuracy": own_ok / own_n if own_n else None,
                        "painted_accuracy": painted_ok / own_n if own_n else None},
    }
    po = out["painted_out"]
    po["accuracy_change"] = (po["painted_accuracy"] - po["own_accuracy"]) if own_n else None
    if not recs:
        out["artifact_only"].update(flip_rate=None, note=f"{strategy} leaves no artifact on these pages without skew")
        return out
    mean, lo, hi = bootstrap_ci(flips, seed=seed)
    by_angle = {}
    for L in (90, 180, 270):
        sel = [f for f, r in zip(flips, recs) if r.art_angle == L]
        if sel:
            by_angle[str(L)] = {"n": len(sel), "flip_rate": float(np.mean(sel))}
    flipped = [r for r in recs if r.art_pred != r.clean_pred]
    to = {str(a): sum(1 for r in flipped if r.art_pred == a // 90) for a in ANGLES}
    toward = sum(1 for r in flipped if ANGLES[r.art_pred] in (r.art_angle, (r.art_angle + 180) % 360))
    correct_before = [r for r in recs if r.clean_pred == r.true]
    out["artifact_only"].update(
        flip_rate=mean, flip_rate_ci95=[lo, hi], by_artifact_angle=by_angle, flips=len(flipped),
        flipped_to=to, flips_toward_artifact_turn=(toward / len(flipped)) if flipped else None,
        broke_correct=(sum(1 for r in correct_before if r.art_pred != r.true) / len(correct_before))
        if correct_before else None)
    return out


def format_shortcut(res: dict, title: str) -> str:
    lines = [title, f"pages: {res['pages']}  clean accuracy: {_pct(res['clean_accuracy'])}"]
    ao = res["artifact_only"]
    if ao.get("flip_rate") is None:
        lines.append(f"artifact only: n/a ({ao.get('note', 'no artifact')})")
    else:
        lo, hi = ao["flip_rate_ci95"]
        lines.append(f"artifact only ({ao['n']} inputs): flip rate {_pct(ao['flip_rate'])} "
                     f"[{_pct(lo)}, {_pct(hi)}], flips toward the artifact's turn {_pct(ao['flips_toward_artifact_turn'])}")
        lines.append("  by artifact angle: " + "  ".join(f"{k}°: {_pct(v['flip_rate'])}"
                                                         for k, v in ao["by_artifact_angle"].items()))
        lines.append("  flipped to: " + "  ".join(f"{k}°: {v}" for k, v in ao["flipped_to"].items()))
    po = res["painted_out"]
    lines.append(f"painted out ({po['n']} samples): accuracy on the strategy's samples {_pct(po['own_accuracy'])} -> "
                 f"{_pct(po['painted_accuracy'])} with the artifact painted in page background "
                 f"({'+' if (po['accuracy_change'] or 0) >= 0 else ''}{100 * (po['accuracy_change'] or 0):.1f} points)")
    return "\n".join(lines)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"
