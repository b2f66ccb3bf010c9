"""``interpret audit``: find the shortcuts nobody planted.

Three tests per run (a folder with ``model.pt``), none of which needs to know the shortcut in
advance:

1. **Cue battery** (:func:`cue_battery`): clean pages at their four turns, each edited by every
   cue of :mod:`interpret.cues` (a dark bar on one side, black or paper bands, a scanner frame,
   a logo in a corner, grey blocks instead of text, a page number in a margin, a squeezed page
   box; a mirrored and a blank page, which have no right answer).  For each cue: the **flip
   rate** (share of answers that change against the clean answer) with a 95 % bootstrap interval
   over pages, where the flips go (per class; the share of the most frequent class: flips
   "toward one fixed class" are the signature of a cue-to-class shortcut; for side and corner
   cues, the share going to the class that puts the cue on top / at the top left), and the change
   in accuracy.  A cue is **relied on** when its flip rate is at least ``SHORTCUT_FLIP`` (10 %)
   with its whole interval, **inconclusive** when the interval straddles it (with the number of
   pages that would decide it).
2. **Leak test** (:mod:`interpret.leak`) on the run's training data alone.
3. **Relevance clusters**, SpRAy-style (:func:`spray`, Lapuschkin et al. 2019): Grad-CAM maps of
   up to N test samples per class, pooled to 16 x 16 and normalised, clustered per class with
   spectral clustering; each cluster's prototype, share, accuracy, and a flag when its relevance
   sits mostly outside the page's text ink (in margins, bands, bars): more than half of it, and at
   least twice as densely as on the ink (an odds ratio against the off-ink area share).

:mod:`interpret.report` writes ``report.md``, ``report.json``, ``cues.png`` (flip rates),
``cue-examples.png`` (what each cue looks like) and ``spray-<run>.png`` into OUT atomically.
"""
from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from datagen.contract import ANGLES
from datagen.preprocess import square
from trainer.data import EvalSource, VariantData, clean_test_data, open_data
from trainer.evaluate import predict_probs
from .cues import CUES, Cue, cue_rng, dilate, get_cue
from .report import flip_ci as _ci, pct as _p, write_audit_report
from .runs import find_runs, load_runs
from .stats import ABOVE, BELOW, INCONCLUSIVE, cluster_bootstrap, decide, paired_cluster_bootstrap

SHORTCUT_FLIP = 0.10  # the same threshold as compare's shortcut verdict
ONE_CLASS = 0.80  # flips this concentrated on one class are a cue-to-class signature
MAX_UNSURE_LINES = 5  # inconclusive cues spelled out in a verdict (the table lists them all)
SPRAY_GRID = 16
SPRAY_OFF_INK_MASS = 0.5  # a cluster is flagged when more than this share of its relevance is off the text ink
SPRAY_OFF_INK_ODDS = 2.0  # ... and it is this many times denser there than on the ink (odds ratio, see spray)


# --------------------------------------------------------------------------- 1. cue battery
def _cue_list(cues) -> list[Cue]:
    names = list(cues) if cues else list(CUES)
    out = [get_cue(n) if isinstance(n, str) else n for n in names]
    if not out:
        raise ValueError("no cue to run")
    return out


def cue_battery(model: torch.nn.Module, data: EvalSource, device: torch.device, cues=None, pages: int | None = 40,
                seed: int = 0, temperature: float = 1.0, threshold: float = SHORTCUT_FLIP, batch_size: int = 256,
                log: Callable[[str], None] | None = None) -> dict:
    """Every cue on the upright pages of ``data`` (at most ``pages``), at their four turns; JSON-ready.

    Each input is :func:`datagen.preprocess.square` of the page at a turn, then the cue's edit
    (drawn in the displayed frame: it does not depend on the label).  Predictions are batched
    across pages; ``temperature`` (the checkpoint's) only changes the reported confidences.
    """
    cue_list = _cue_list(cues)
    size = data.size
    tags: list[tuple[int, int, int]] = []  # (page, angle, cue index; -1 = the clean input)
    preds, confs = [], []
    buf: list[np.ndarray] = []

    def flush():
        if buf:
            x = torch.from_numpy(np.stack(buf))[:, None].float().div_(255.0)  # (N, 1, S, S)
            c, k = predict_probs(model, x, device, temperature=temperature).max(1)
            preds.extend(k.tolist())
            confs.extend(c.tolist())
            buf.clear()

    n_pages = 0
    for i, page in enumerate(data.upright(pages)):
        n_pages += 1
        for a in ANGLES:
            clean = square(page.fitted, size, page.paper, a)
            buf.append(clean)
            tags.append((i, a, -1))
            for j, c in enumerate(cue_list):
                buf.append(c(clean, page.paper, cue_rng(seed, i, a, c.name)))
                tags.append((i, a, j))
            if len(buf) >= batch_size:
                flush()
    flush()
    if n_pages == 0:
        raise ValueError(f"{data.describe()}: no upright, artifact-free pages found for the cue battery")
    P, C = np.array(preds), np.array(confs)
    pg, ang, cu = (np.array(t) for t in zip(*tags))
    truth = ang // 90
    clean_sel = cu == -1
    clean_pred = np.zeros((n_pages, 4), dtype=int)
    clean_pred[pg[clean_sel], truth[clean_sel]] = P[clean_sel]
    clean_acc = float((P[clean_sel] == truth[clean_sel]).mean())
    clean_conf = float(C[clean_sel].mean())
    out = {"pages": n_pages, "inputs_per_page": 4 * (1 + len(cue_list)), "size": size, "seed": seed,
           "threshold": threshold, "clean_accuracy": clean_acc, "clean_confidence": clean_conf,
           "clean_answers": _shares(P[clean_sel]), "cues": {}}
    flips_per_page = {}
    for j, c in enumerate(cue_list):
        sel = cu == j
        stats, hits = _cue_stats(c, P[sel], C[sel], pg[sel], truth[sel], clean_pred[pg[sel], truth[sel]], n_pages,
                                 clean_acc, clean_conf, seed, threshold)
        out["cues"][c.name] = stats
        flips_per_page[c.name] = hits
    for c in cue_list:  # a cue against its control: the same pixels covered, without the signal
        r = out["cues"][c.name]
        if c.control and c.control in flips_per_page and r["valid"]:
            tot = np.full(n_pages, 4.0)
            d, lo, hi = paired_cluster_bootstrap(flips_per_page[c.name], flips_per_page[c.control], tot, seed=seed)
            r.update(control=c.control, control_flip_rate=out["cues"][c.control]["flip_rate"],
                     over_control=d, over_control_ci95=[lo, hi])
    return out


def _shares(pred: np.ndarray) -> dict:
    n = max(1, len(pred))
    return {str(a): float((pred == a // 90).sum() / n) for a in ANGLES}


DECISIONS = {"add": {ABOVE: "relied on", BELOW: "not relied on", INCONCLUSIVE: "inconclusive"},
             "remove": {ABOVE: "needs what was removed", BELOW: "the rest suffices", INCONCLUSIVE: "inconclusive"}}


def _cue_stats(c: Cue, pred, conf, page, truth, clean_pred, n_pages, clean_acc, clean_conf, seed, threshold):
    r = {"summary": c.summary, "group": c.group, "kind": c.kind, "valid": c.valid, "n": int(len(pred))}
    if not c.valid:
        shares = _shares(pred)
        top = max(shares, key=shares.get)
        r.update(answers=shares, top_answer=int(top), top_answer_share=shares[top], mean_confidence=float(conf.mean()),
                 clean_confidence=clean_conf)
        return r, None
    flip = pred != clean_pred
    hits = np.bincount(page, weights=flip.astype(float), minlength=n_pages)
    tot = np.bincount(page, minlength=n_pages).astype(float)
    rate, lo, hi = cluster_bootstrap(hits, tot, seed=seed)
    to = {str(a): int(((pred == a // 90) & flip).sum()) for a in ANGLES}
    flips = int(flip.sum())
    top = max(to, key=to.get)
    acc = float((pred == truth).mean())
    r.update(flip_rate=rate, flip_rate_ci95=[lo, hi], flips=flips, flipped_to=to,
             top_class=int(top) if flips else None, top_class_share=(to[top] / flips) if flips else None,
             accuracy=acc, clean_accuracy=clean_acc, accuracy_change=acc - clean_acc,
             by_turn={str(a): float(flip[truth == a // 90].mean()) for a in ANGLES if (truth == a // 90).any()},
             mean_confidence=float(conf.mean()))
    if c.anchor is not None:
        r["anchor"] = ANGLES[c.anchor]
        r["anchor_place"] = c.anchor_place
        r["toward_anchor"] = (to[str(ANGLES[c.anchor])] / flips) if flips else None
    d = decide(rate, [lo, hi], threshold, n_pages)
    r["decision"] = DECISIONS[c.kind].get(d["status"])
    r["pages_to_decide"] = d["groups_to_decide"]
    return r, hits


# --------------------------------------------------------------------------- 3. relevance clusters
def text_ink(x: np.ndarray, paper: float, artifact: np.ndarray | None = None) -> np.ndarray:
    """The page's text ink, dilated a little: ``|x - paper| > 0.25`` minus solid dark regions
    (anything that contains a ``k x k`` square, ``k = max(3, S // 16)``: bars, bands, blobs,
    filled figures) and minus the artifact mask, then dilated by ``max(1, S // 32)`` pixels (the
    text body becomes one region at Grad-CAM's resolution, 1/32 of the input)."""
    from scipy.ndimage import binary_opening

    s = x.shape[0]
    dark = np.abs(x - paper) > 0.25
    k = max(3, s // 16)
    solid = binary_opening(dark, structure=np.ones((k, k), bool))
    ink = dark & ~solid
    if artifact is not None:
        ink &= ~artifact
    r = max(1, s // 32)
    return dilate(ink, r, r)


def _eigengap_k(aff: np.ndarray, k_max: int) -> int:
    d = aff.sum(1)
    inv = 1.0 / np.sqrt(np.maximum(d, 1e-12))
    lap = np.eye(len(aff)) - inv[:, None] * aff * inv[None, :]
    ev = np.sort(np.linalg.eigvalsh(lap))
    gaps = np.diff(ev[:k_max + 1])  # gap after the k-th smallest eigenvalue, k = 1..k_max
    return int(np.argmax(gaps) + 1)


def cluster_maps(feats: np.ndarray, k, seed: int = 0) -> tuple[np.ndarray, int]:
    """Spectral clusters of normalised maps ``(n, d)``.  Affinity: the self-tuning RBF of
    Zelnik-Manor and Perona (2004), ``exp(-d_ij^2 / (s_i s_j))`` with ``s_i`` the distance to the
    i-th map's ``m``-th nearest neighbour (``m = max(1, min(7, n // 4))``); ``k`` a number or
    ``"auto"`` (the largest eigengap of the normalised Laplacian, 1..4).  Returns ``(labels, k)``."""
    n = len(feats)
    if n == 0:
        return np.zeros(0, int), 0
    d2 = ((feats[:, None, :] - feats[None, :, :]) ** 2).sum(-1)
    off = d2[~np.eye(n, dtype=bool)]
    if n < 3 or float(off.max(initial=0.0)) <= 1e-20:
        return np.zeros(n, int), 1  # too few maps, or all alike: one cluster
    m = max(1, min(7, n // 4))
    scale = np.sqrt(np.sort(d2, axis=1)[:, m])  # column 0 is the map itself
    scale = np.maximum(scale, max(float(np.sqrt(np.median(off))), 1e-12) * 1e-3)
    aff = np.exp(-d2 / (scale[:, None] * scale[None, :]))
    k_max = min(4, n - 1)
    kk = _eigengap_k(aff, k_max) if k == "auto" else max(1, min(int(k), n - 1))
    if kk == 1:
        return np.zeros(n, int), 1
    from sklearn.cluster import SpectralClustering

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        labels = SpectralClustering(n_clusters=kk, affinity="precomputed", random_state=seed,
                                    assign_labels="kmeans", n_init=10).fit_predict(aff)
    # number clusters by size (largest first) for a stable report
    order = sorted(range(kk), key=lambda c: (-(labels == c).sum(), c))
    remap = {c: i for i, c in enumerate(order)}
    return np.array([remap[c] for c in labels]), kk


def _cam_grid(model, x: torch.Tensor, device) -> list[int]:
    """The spatial size of the Grad-CAM layer's output for inputs like ``x``."""
    from trainer.models import last_conv_block

    seen = {}
    def look(mod, inputs, output):  # returns None: a forward hook that returns a value replaces the output
        seen.setdefault("shape", list(output.shape[-2:]))

    hook = last_conv_block(model).register_forward_hook(look)
    try:
        with torch.no_grad():
            model(x.to(device))
    finally:
        hook.remove()
    return seen.get("shape", [0, 0])


def _odds_ratio(mass: float, area: float) -> float | None:
    """How many times denser the relevance is off the ink than on it: ``(m / (1 - m)) / (a / (1 - a))``
    for off-ink mass ``m`` and off-ink area ``a`` (1 = in proportion to area); None when undefined."""
    if not (0 < area < 1) or math.isnan(mass):
        return None
    mass = min(mass, 1 - 1e-6)  # all of it off the ink: a large, finite ratio (JSON has no infinity)
    return (mass / (1 - mass)) / (area / (1 - area))


def _pool_image(img: np.ndarray, g: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    return torch.nn.functional.adaptive_avg_pool2d(t, g)[0, 0].numpy()


def spray(model: torch.nn.Module, data: EvalSource, device: torch.device, n_per_class: int = 16, clusters=3,
          seed: int = 0, grid: int = SPRAY_GRID) -> dict:
    """SpRAy-style relevance clusters of Grad-CAM maps on up to ``n_per_class`` samples per TRUE
    class of ``data`` (spread evenly), explaining the predicted class; JSON-ready."""
    from .methods import attribute

    imgs, masks, labels = [], [], []
    for b in data.batches(128):
        imgs.append(b.images[:, 0].numpy())
        masks.append(b.masks[:, 0].numpy() if b.masks is not None else np.zeros(b.images[:, 0].shape, bool))
        labels.append(b.labels.numpy())
    if not imgs:
        return {"n": 0, "classes": {}, "note": f"{data.describe()}: no samples"}
    X, M, Y = np.concatenate(imgs), np.concatenate(masks), np.concatenate(labels)
    sel = []
    for c in range(len(ANGLES)):
        idx = np.flatnonzero(Y == c)
        if len(idx) > n_per_class:
            idx = idx[np.linspace(0, len(idx) - 1, n_per_class).round().astype(int)]
        sel.extend(idx.tolist())
    sel = np.array(sorted(set(sel)))
    X, M, Y = X[sel], M[sel], Y[sel]
    x = torch.from_numpy(X)[:, None]  # (n, 1, S, S)
    pred = predict_probs(model, x, device).argmax(1)
    A = attribute(model, x, pred, "gradcam").numpy()  # (n, S, S)
    s = X.shape[-1]
    cam_grid = _cam_grid(model, x[:1], device)
    off_mass, off_area, feats, valid = [], [], [], []
    for i in range(len(X)):
        paper = float(np.median(X[i]))
        ink = text_ink(X[i], paper, M[i])
        tot = float(A[i].sum())
        valid.append(tot > 0)
        off_mass.append(float(A[i][~ink].sum() / tot) if tot > 0 else float("nan"))
        off_area.append(float((~ink).mean()))
        f = _pool_image(A[i], grid).ravel()
        feats.append(f / f.sum() if f.sum() > 0 else f)
    off_mass, off_area, feats, valid = np.array(off_mass), np.array(off_area), np.array(feats), np.array(valid)
    out = {"n": int(len(X)), "n_per_class": n_per_class, "grid": grid, "cam_grid": cam_grid, "method": "gradcam",
           "clusters_rule": "eigengap" if clusters == "auto" else f"fixed {clusters}",
           "flag_off_ink_mass": SPRAY_OFF_INK_MASS, "flag_off_ink_odds": SPRAY_OFF_INK_ODDS,
           "no_relevance": int((~valid).sum()), "classes": {}}
    if max(cam_grid) <= 1:
        out["note"] = (f"at {s} px the last block's map is 1x1: Grad-CAM is uniform, the clusters carry no spatial "
                       "information")
    for c, a in enumerate(ANGLES):
        idx = np.flatnonzero((Y == c) & valid)
        if not len(idx):
            continue
        lab, k = cluster_maps(feats[idx], clusters, seed)
        cl = []
        for j in range(k):
            m = idx[lab == j]
            proto = feats[m].mean(0).reshape(grid, grid)
            mass, area = float(np.nanmean(off_mass[m])), float(off_area[m].mean())
            odds = _odds_ratio(mass, area)
            cl.append({"n": int(len(m)), "share": float(len(m) / len(idx)),
                       "accuracy": float((pred.numpy()[m] == c).mean()),
                       "off_ink_mass": mass, "off_ink_area": area, "off_ink_odds": odds,
                       "flagged": bool(mass > SPRAY_OFF_INK_MASS and odds is not None and odds >= SPRAY_OFF_INK_ODDS),
                       "prototype": np.round(proto / max(float(proto.max()), 1e-12), 4).tolist(),
                       "mean_image": np.round(_pool_image(X[m].mean(0), min(32, s)) * 255).astype(int).tolist(),
                       "examples": [int(sel[i]) for i in m[:3]]})
        out["classes"][str(a)] = {"n": int(len(idx)), "k": k, "clusters": cl}
    out["flagged"] = [{"class": int(a), "cluster": j, "share": cl["share"], "off_ink_mass": cl["off_ink_mass"],
                       "accuracy": cl["accuracy"]}
                      for a, v in out["classes"].items() for j, cl in enumerate(v["clusters"]) if cl["flagged"]]
    return out


# --------------------------------------------------------------------------- verdicts
def reproduce_command(run: str, cue: str, pages: int, seed: int, clean: list[str] | None = None) -> str:
    parts = ["interpret", "audit", run, "--cue", cue, "--pages", str(pages), "--seed", str(seed)]
    for c in clean or []:
        parts += ["--clean", c]
    parts += ["--no-leak", "--no-spray"]
    return " ".join(shlex.quote(p) for p in parts)


def where_flips_go(r: dict) -> str:
    if not r.get("flips"):
        return "no flips"
    s = f"{_p(r['top_class_share'])} of the flips go to {r['top_class']}°"
    if r.get("anchor") is not None and r.get("toward_anchor") is not None:
        if r["anchor"] == r["top_class"]:
            s += f", the answer that puts the cue {r['anchor_place']}"
        else:
            s += f"; {_p(r['toward_anchor'])} to {r['anchor']}°, the answer that puts the cue {r['anchor_place']}"
    if (r["top_class_share"] or 0) >= ONE_CLASS and r["flips"] >= 4:
        s += " (toward one fixed class: the signature of a cue-to-class shortcut)"
    return s


def _control_note(r: dict) -> str:
    if r.get("control") is None:
        return ""
    lo, hi = r["over_control_ci95"]
    return (f"; its control {r['control']} (the same pixels in paper colour) flips {_p(r['control_flip_rate'])}, so "
            f"the dark colour adds {100 * r['over_control']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]")


def run_verdict(name: str, run: str, battery: dict, leak: dict | None = None, spr: dict | None = None,
                clean: list[str] | None = None) -> dict:
    """The cues a run relies on, ranked by flip rate, each with the command that reproduces it."""
    cues = battery["cues"]
    added = {k: v for k, v in cues.items() if v["valid"] and v.get("kind", "add") == "add"}
    removed = {k: v for k, v in cues.items() if v.get("kind") == "remove"}
    relied = sorted((k for k, v in added.items() if v["decision"] == "relied on"), key=lambda k: -added[k]["flip_rate"])
    unsure = sorted((k for k, v in added.items() if v["decision"] == "inconclusive"),
                    key=lambda k: -added[k]["flip_rate"])
    pages, seed, thr = battery["pages"], battery["seed"], battery["threshold"]
    lines, repro = [], {}
    for k in relied + unsure + list(removed):
        repro[k] = reproduce_command(run, k, pages, seed, clean)
    if relied:
        lines.append(f"**{name}** relies on {len(relied)} cue{'s' if len(relied) > 1 else ''} (flip rate at least "
                     f"{100 * thr:.0f} % with its whole 95 % interval), strongest first:")
        for k in relied:
            r = added[k]
            lines.append(f"  - **{k}**: flip rate {_ci(r)}; {where_flips_go(r)}; accuracy "
                         f"{100 * r['accuracy_change']:+.1f} points{_control_note(r)}. Reproduce: `{repro[k]}`")
    else:
        lines.append(f"**{name}** relies on none of the {len(added)} cues (no flip rate at or above {100 * thr:.0f} % "
                     "with its whole interval" + ("; some undecided, below" if unsure else "") + ").")
    for k in unsure[:MAX_UNSURE_LINES]:
        r = added[k]
        need = r["pages_to_decide"]
        cmd = repro[k].replace(f"--pages {pages}", f"--pages {need}") if need else None
        lines.append(f"  - inconclusive: **{k}**: flip rate {_ci(r)} straddles the {100 * thr:.0f} % threshold; "
                     + (f"about {need} pages would decide it (now {pages}): `{cmd}`" if need else
                        "the estimate sits on the threshold; no page count decides it") + _control_note(r) + ".")
    if len(unsure) > MAX_UNSURE_LINES:
        lines.append(f"  - and {len(unsure) - MAX_UNSURE_LINES} more inconclusive cues (flip rates "
                     f"{_p(added[unsure[-1]]['flip_rate'])}–{_p(added[unsure[MAX_UNSURE_LINES]]['flip_rate'])}; the "
                     "table has them all).")
    rest = [k for k in added if k not in relied and k not in unsure]
    if rest:
        top = max(rest, key=lambda k: added[k]["flip_rate"])
        lines.append(f"  - not relied on: {len(rest)} cues; the largest flip rate among them: {top} "
                     f"{_ci(added[top])}.")
    for k, r in removed.items():
        lines.append(f"  - {k} (takes the glyphs away, keeps the layout): {_ci(r)} of the answers change; accuracy "
                     f"{_p(r['accuracy'])} without them against {_p(r['clean_accuracy'])} clean (chance 25 %): "
                     + ("the model reads what was removed" if r["decision"] == "needs what was removed" else
                        "the layout alone gives most answers" if r["decision"] == "the rest suffices" else "undecided")
                     + ".")
    for k, r in cues.items():
        if not r["valid"]:
            lines.append(f"  - {k} (no right answer): answers {r['top_answer']}° {_p(r['top_answer_share'])} of the "
                         f"time, mean confidence {r['mean_confidence']:.2f} (clean pages {r['clean_confidence']:.2f}).")
    if leak is not None:
        lines.append(f"  - training data: {leak['verdict']}")
    if spr is not None and spr.get("n"):
        if spr.get("flagged"):
            fl = "; ".join(f"{f['class']}° cluster {f['cluster'] + 1} ({_p(f['share'])} of the class, "
                           f"{_p(f['off_ink_mass'])} of its relevance off the text ink, accuracy {_p(f['accuracy'])})"
                           for f in spr["flagged"])
            lines.append(f"  - relevance clusters off the text ink: {fl}.")
        else:
            lines.append(f"  - relevance clusters: none sits mostly off the text ink ({spr['n']} samples"
                         + (f"; {spr['note']}" if spr.get("note") else "") + ").")
    return {"relied_on": relied, "inconclusive": unsure, "reproduce": repro, "text": lines}


# --------------------------------------------------------------------------- runs
class UprightPages(EvalSource):
    """Upright pages already read (the battery's input), reused by every run of one input size."""

    def __init__(self, pages: list, size: int, description: str):
        super().__init__()
        self.pages, self.size, self.description = pages, size, description

    def upright(self, limit: int | None = None):
        yield from self.pages[:limit]

    def describe(self) -> str:
        return self.description


def audit_runs(entries: list[tuple], clean_for: Callable[[tuple], EvalSource], device: torch.device,
               cues=None, pages: int = 40, seed: int = 0, spray_n: int = 16, clusters=3, leak: bool = True,
               spray_on: bool = True, clean_args: list[str] | None = None, log=None) -> dict:
    """The audit of loaded runs ``(run, model, ckpt, variant)``; ``clean_for(entry)`` gives its clean pages."""
    from .leak import leak_test

    log = log or (lambda s: None)
    cue_list = _cue_list(cues)
    t0 = time.time()
    leaks: dict[str, dict] = {}
    rows = []
    for entry in entries:
        r, model, ck, variant = entry
        size = int(ck["input_size"])
        t1 = time.time()
        data = clean_for(entry)
        timing = {"clean_pages": round(time.time() - t1, 1)}
        log(f"[{r.name}] audit: {len(cue_list)} cues on up to {pages} clean pages x 4 turns")
        t = time.time()
        bat = cue_battery(model, data, device, cue_list, pages, seed, float(ck.get("temperature") or 1.0))
        timing["cues"] = round(time.time() - t, 1)
        lk = None
        if leak and variant is not None:
            key = str(variant.path)
            if key not in leaks:
                log(f"[{r.name}] leak test on {variant.name}")
                t = time.time()
                leaks[key] = leak_test(variant, seed=seed)
                timing["leak"] = round(time.time() - t, 1)
            lk = leaks[key]
        spr = None
        if spray_on and variant is not None and variant.count("test"):
            log(f"[{r.name}] relevance clusters (Grad-CAM, {spray_n} per class)")
            t = time.time()
            spr = spray(model, VariantData(variant, "test", size), device, spray_n, clusters, seed)
            timing["spray"] = round(time.time() - t, 1)
        v = run_verdict(r.name, str(r.path), bat, lk, spr, clean_args)
        rows.append({"name": r.name, "run": str(r.path), "variant": variant.name if variant else None,
                     "variant_path": str(variant.path) if variant else None,
                     "strategy": variant.strategy if variant else None, "input_size": size,
                     "clean": data.describe(), "cues": bat, "spray": spr, "verdict": v, "timing_s": timing,
                     "elapsed_s": round(time.time() - t1, 1)})
    return {"runs": rows, "leak": list(leaks.values()), "threshold": SHORTCUT_FLIP, "seed": seed, "pages": pages,
            "cue_registry": [{"name": c.name, "summary": c.summary, "group": c.group, "valid": c.valid}
                             for c in cue_list],
            "elapsed_s": round(time.time() - t0, 1)}


def audit(run_paths: list[Path], out: Path, clean: list[Path] | None = None, cues=None, pages: int = 40,
          seed: int = 0, spray_n: int = 16, clusters=3, leak: bool = True, spray_on: bool = True,
          device: torch.device | None = None, log=None) -> dict:
    """Audit runs (default: every run under ``runs/``) and write the report into ``out``."""
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    device = device or torch.device("cpu")
    _cue_list(cues)  # unknown names fail before any model is loaded
    runs, skipped = find_runs(run_paths, log)
    entries = load_runs(runs, device, None if clean else "name clean pages with --clean")
    cache: dict[tuple, EvalSource] = {}

    def clean_for(entry) -> EvalSource:
        _, _, ck, variant = entry
        size = int(ck["input_size"])
        key = (size, None if clean else str(variant.path))
        if key not in cache:  # only the pages the battery uses are rendered, once for all runs
            ds = open_data(clean, size) if clean else clean_test_data(variant, size)
            cache[key] = UprightPages(list(ds.upright(pages)), size, ds.describe())
        return cache[key]

    res = audit_runs(entries, clean_for, device, cues, pages, seed, spray_n, clusters, leak, spray_on,
                     [str(c) for c in clean] if clean else None, log)
    res["clean"] = [str(c) for c in clean] if clean else "clean renderings of each run's test documents"
    res["notes"] = skipped
    write_audit_report(res, out)
    return res
