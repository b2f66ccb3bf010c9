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
from typing import Iterator

import numpy as np
import torch

from datagen.contract import ANGLES, iter_samples, decode_sample
from datagen.preprocess import background_level, fit_page, letterbox
from datagen.strategies import cardinal_k, get_strategy
from trainer.data import EvalData, iter_clean_pages, load_image
from trainer.evaluate import predict_probs
from .metrics import bootstrap_ci


def upright_pages(data: EvalData, limit: int | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """Upright, artifact-free pages ``(key, (1, h, w))`` fitted to the model input, from DATA.

    A variant contributes its 0-degree samples with empty masks (cropped to their page box); a
    CSV its images turned back upright by their label; PDFs their rendered pages.
    """
    n = 0
    if data.kind == "variant":
        for s in iter_samples(data.variant.shards(data.split)):
            if int(s["cls"]) != 0:
                continue
            d = decode_sample(s)
            if d["mask"].any():
                continue
            top, left, h, w = d["meta"]["page_box"]
            page = torch.from_numpy(d["image"][top:top + h, left:left + w].copy()).float().div_(255.0)[None]
            if max(page.shape[-2:]) != data.size:
                page = fit_page(page[None], data.size)[0]
            yield d["key"].rsplit("-r", 1)[0], page
            n += 1
            if limit and n >= limit:
                return
    elif data.kind == "csv":
        for row in data.items:
            try:
                img = load_image(row["path"])  # (1, 1, H, W)
            except ValueError as e:
                data.errors.append({"item": str(row["file"]), "reason": str(e)})
                continue
            up = torch.rot90(img, k=-cardinal_k(row["angle"]), dims=(-2, -1))  # undo the clockwise turn
            yield str(row["file"]), fit_page(up, data.size)[0]
            n += 1
            if limit and n >= limit:
                return
    else:
        for key, page in iter_clean_pages(data.items, data.size, data.dpi, data.workers, data.errors):
            yield key, page
            n += 1
            if limit and n >= limit:
                return


@dataclass
class _Rec:
    page: str
    true: int
    clean_pred: int
    art_angle: int
    art_pred: int


def shortcut_test(model, data: EvalData, strategy: str, device: torch.device, limit: int | None = None) -> dict:
    """Run both halves of the test on the upright pages of ``data``; JSON-ready dict."""
    strat = get_strategy(strategy)
    size = data.size
    recs: list[_Rec] = []
    clean_ok, clean_n = 0, 0
    own_ok, painted_ok, own_n = 0, 0, 0
    pages_used = 0
    for key, page in upright_pages(data, limit):
        pages_used += 1
        p = page[None]  # (1, 1, h, w)
        bg = background_level(p)  # (1,)
        inputs, tags = [], []
        for a in ANGLES:
            turned = torch.rot90(p, k=cardinal_k(a), dims=(-2, -1))
            inputs.append(letterbox(turned, size, bg)[0])
            tags.append(("clean", a, None))
            for L in (90, 180, 270):
                img, mask = strat.artifact_only(turned, [L], [0.0])
                if mask.any():
                    inputs.append(letterbox(img, size, bg)[0])
                    tags.append(("art", a, L))
            own, mask = strat(p, [a], [0.0])
            inputs.append(letterbox(own, size, bg)[0])
            tags.append(("own", a, None))
            painted = torch.where(mask, bg.view(-1, 1, 1, 1), own)
            inputs.append(letterbox(painted, size, bg)[0])
            tags.append(("painted", a, None))
        pred = predict_probs(model, torch.stack(inputs), device).argmax(1).tolist()
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
        raise ValueError(f"{data.source}: no upright, artifact-free pages found for the shortcut test")
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
    mean, lo, hi = bootstrap_ci(flips)
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
