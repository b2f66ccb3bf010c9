"""Library verbs behind ``interpret explain`` and ``interpret score``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datagen.contract import ANGLES, Variant, decode_sample, iter_samples
from trainer.evaluate import predict_probs
from .methods import attribute
from .metrics import summarise


@dataclass
class MaskedSet:
    """Samples with their artifact masks: images (N, 1, S, S), masks (N, S, S) bool, labels (N,)."""

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    keys: list[str]
    excluded_empty: int
    total: int


def load_masked(variant: Variant, split: str = "test", n: int | None = 64, size: int | None = None) -> MaskedSet:
    """Up to ``n`` samples of ``split`` whose artifact mask is non-empty, spread evenly over the
    split (deterministic); samples with an empty mask are counted, not used."""
    keep, empty, total = [], 0, 0
    for s in iter_samples(variant.shards(split)):
        total += 1
        d = decode_sample(s)
        if not d["mask"].any():
            empty += 1
            continue
        keep.append(d)
    if n is not None and len(keep) > n:
        idx = np.linspace(0, len(keep) - 1, n).round().astype(int)
        keep = [keep[i] for i in sorted(set(idx.tolist()))]
    if not keep:
        s = size or variant.size
        return MaskedSet(torch.zeros(0, 1, s, s), torch.zeros(0, s, s, dtype=torch.bool), torch.zeros(0, dtype=torch.long),
                         [], empty, total)
    images = torch.from_numpy(np.stack([d["image"] for d in keep]))[:, None].float().div_(255.0)
    masks = torch.from_numpy(np.stack([d["mask"] for d in keep]))
    if size and size != images.shape[-1]:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False).clamp_(0, 1)
        masks = torch.nn.functional.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5
    return MaskedSet(images, masks, torch.tensor([d["cls"] for d in keep]), [d["key"] for d in keep], empty, total)


def targets_for(model, images: torch.Tensor, labels: torch.Tensor, device, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(attribution targets, predictions): ``target`` is ``pred`` (explain the model's answer) or ``true``."""
    if target not in ("pred", "true"):
        raise ValueError(f"target must be 'pred' or 'true', got {target!r}")
    preds = predict_probs(model, images, device).argmax(1) if len(images) else torch.zeros(0, dtype=torch.long)
    return (preds if target == "pred" else labels), preds


def score_set(model, ms: MaskedSet, methods: list[str], device, target: str = "pred", ig_steps: int = 32,
              batch_size: int = 16, seed: int = 0, keep_maps: bool = False) -> dict:
    """Metrics per method on a masked set; JSON-ready.  ``keep_maps`` also returns the maps."""
    out = {"n": len(ms.keys), "excluded_empty_mask": ms.excluded_empty, "total": ms.total, "target": target,
           "methods": {}}
    if not ms.keys:
        out["note"] = "no sample with an artifact mask (a mask-free variant): metrics n/a"
        for m in methods:
            out["methods"][m] = None
        return out
    tgt, preds = targets_for(model, ms.images, ms.labels, device, target)
    out["accuracy"] = float((preds == ms.labels).float().mean())
    maps = {}
    for m in methods:
        A = attribute(model, ms.images, tgt, m, batch_size=batch_size, steps=ig_steps)
        out["methods"][m] = summarise(A, ms.masks, seed=seed)
        if keep_maps:
            maps[m] = A
    if keep_maps:
        out["_maps"], out["_preds"] = maps, preds
    return out


def format_score(res: dict, title: str) -> str:
    lines = [title, f"samples with an artifact mask: {res['n']} (excluded, empty mask: {res['excluded_empty_mask']} "
                    f"of {res['total']}); attribution target: {res['target']}"]
    if not res["n"]:
        lines.append(res.get("note", "n/a"))
        return "\n".join(lines)
    lines.append(f"{'method':<22}{'AAR':>22}{'artifact mass':>24}{'pointing game':>24}")

    def fmt(v, pct=False):
        if v["mean"] is None:
            return "n/a"
        f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.2f}")
        ci = v.get("ci95")
        return f"{f(v['mean'])} [{f(ci[0])}, {f(ci[1])}]" if ci else f(v["mean"])

    for m, v in res["methods"].items():
        lines.append(f"{m:<22}{fmt(v['aar']):>22}{fmt(v['artifact_mass'], True):>24}{fmt(v['pointing_game'], True):>24}")
    a = next(iter(res["methods"].values()))["area_share"]["mean"]
    lines.append(f"mean artifact area share a = {100 * a:.1f} % (AAR 1 = attention in proportion to area)")
    return "\n".join(lines)


def explain_batches(model, data, methods: list[str], device, out_dir: Path, n: int = 16, per_page: int = 8,
                    target: str = "pred", ig_steps: int = 32, title: str = "") -> list[Path]:
    """PNG grids of up to ``n`` samples of DATA (``per_page`` rows each); returns the files."""
    from .figures import explain_grid

    out_dir.mkdir(parents=True, exist_ok=True)
    written, done = [], 0
    for b in data.batches(per_page):
        if done >= n:
            break
        take = min(len(b.keys), n - done)
        imgs, labels = b.images[:take], b.labels[:take]
        masks = None if b.masks is None else b.masks[:take, 0]
        tgt, preds = targets_for(model, imgs, labels, device, target)
        rel = {m: attribute(model, imgs, tgt, m, steps=ig_steps) for m in methods}
        path = out_dir / f"explain-{len(written):03d}.png"
        explain_grid(imgs, masks, rel, [ANGLES[i] for i in labels.tolist()], [ANGLES[i] for i in preds.tolist()],
                     path, title=title, keys=b.keys[:take])
        written.append(path)
        done += take
    return written
