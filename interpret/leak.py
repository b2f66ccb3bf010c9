"""``interpret leak``: does the DATA give the label away, before any ResNet is trained?

A tiny probe (scikit-learn ``LogisticRegression`` on standardised features, cross-validated by
DOCUMENT with ``GroupKFold``, so that no document is in a training fold and its test fold at
once) predicts the label from features that should carry no orientation:

* ``mask``: the artifact mask alone, area-averaged to 8 x 8;
* ``border``: the mean level of the outer rows/columns of each side (4 features; ``S // 16`` deep,
  at least 2);
* ``geometry``: the page box inside the square (top, left, height, width, as shares of the side),
  from each sample's json ``page_box``;
* ``turned-back``: the image turned back upright by its own label (counter-clockwise by it),
  area-averaged to 8 x 8.  A lossless generator makes the four turns of a page identical once
  turned back; anything that still tells them apart is a class-dependent trace.

**Leak score**: the probe's out-of-fold accuracy against chance (the majority class share, 25 %
for balanced classes), with a 95 % bootstrap interval over documents.  A feature set leaks when
the whole interval lies above chance.

**Generator trace or layout?**  Some of these features carry orientation in REAL pages too: a
portrait page's letterbox is tall at 0/180 degrees and wide at 90/270 (``geometry``), and margins
differ (``border``).  Inference sees those as well, so they are priors, not artifacts.  The probe
is therefore also run on the **clean turns** of the same pages (each artifact-free 0-degree
sample turned by :func:`datagen.preprocess.square` to all four angles: what inference sees) and
the difference is bootstrapped over the same documents.  A leak is a **generator trace** when
the variant beats its clean turns (difference interval above 0), and a **layout cue** when the
clean turns carry it as much.  ``axis accuracy`` (is the answer on the right axis, 0/180 or
90/270; chance 50 %) tells a cue that only knows the axis (a band, a letterbox) from one that
knows up from down.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from PIL import Image

from datagen.contract import ANGLES, SPLITS, Variant, decode_sample, iter_samples, load_variant
from datagen.preprocess import page_box as box_of, paper_level, square
from .stats import cluster_bootstrap, paired_cluster_bootstrap

FEATURE_SETS = ("mask", "border", "geometry", "turned-back")
FEATURE_HELP = {
    "mask": "the artifact mask alone (8x8)",
    "border": "mean level of the outer rows/columns per side",
    "geometry": "the page box (top, left, h, w)",
    "turned-back": "the image turned back upright by its label (8x8)",
}
GRID = 8


def _pool(a: np.ndarray, g: int = GRID) -> np.ndarray:
    """Area average of a 2-D array to ``g x g`` (PIL BOX), as floats in [0, 1]."""
    im = Image.fromarray(np.ascontiguousarray(a.astype(np.float32)), mode="F")
    return np.asarray(im.resize((g, g), Image.Resampling.BOX), dtype=np.float32).ravel()


def _border(img: np.ndarray) -> np.ndarray:
    s = img.shape[0]
    k = max(2, s // 16)
    f = img.astype(np.float32) / 255.0
    return np.array([f[:k].mean(), f[:, -k:].mean(), f[-k:].mean(), f[:, :k].mean()], np.float32)


def features(image: np.ndarray, mask: np.ndarray, cls: int, box) -> dict[str, np.ndarray]:
    """The four feature vectors of one sample (``image`` uint8 (S, S), ``mask`` bool, ``box``
    ``[top, left, h, w]`` or None)."""
    s = image.shape[0]
    back = np.rot90(image, k=cls)  # counter-clockwise by the label: upright again
    geo = np.asarray(box, np.float32) / s if box is not None else np.full(4, np.nan, np.float32)
    return {"mask": _pool(mask.astype(np.float32)), "border": _border(image), "geometry": geo,
            "turned-back": _pool(back.astype(np.float32) / 255.0)}


def _doc(meta: dict, key: str) -> str:
    return str(meta.get("doc_id") or key.split("-p", 1)[0])


def collect(variant: Variant, max_samples: int | None = None) -> dict:
    """Features of every sample of the variant (all splits), and of the clean turns of its
    artifact-free 0-degree samples.  Returns arrays and the document of each row."""
    rows, clean_rows = [], []
    for split in SPLITS:
        if variant.count(split) == 0:
            continue
        for s in iter_samples(variant.shards(split)):
            d = decode_sample(s)
            meta = d["meta"]
            box = meta.get("page_box")
            doc = _doc(meta, d["key"])
            rows.append((doc, d["cls"], features(d["image"], d["mask"], d["cls"], box)))
            if d["cls"] == 0 and not d["mask"].any() and box is not None:
                top, left, h, w = box
                fitted = d["image"][top:top + h, left:left + w]
                paper = int(d["image"][0, 0]) if (top or left) else paper_level(fitted)
                for a in ANGLES:
                    img = square(fitted, d["image"].shape[0], paper, a)
                    clean_rows.append((doc, a // 90, features(img, np.zeros(img.shape, bool), a // 90,
                                                              box_of(fitted.shape, img.shape[0], a))))
    if not rows:
        raise ValueError(f"{variant.path}: the variant has no samples")
    if max_samples and len(rows) > max_samples:
        idx = np.linspace(0, len(rows) - 1, max_samples).round().astype(int)
        rows = [rows[i] for i in sorted(set(idx.tolist()))]
        docs = {r[0] for r in rows}
        clean_rows = [r for r in clean_rows if r[0] in docs]

    def arrays(rs):
        if not rs:
            return None
        return {"docs": np.array([r[0] for r in rs]), "y": np.array([r[1] for r in rs]),
                "X": {f: np.stack([r[2][f] for r in rs]) for f in FEATURE_SETS}}

    return {"variant": arrays(rows), "clean": arrays(clean_rows)}


def probe(X: np.ndarray, y: np.ndarray, docs: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of a standardised logistic regression, folds by document."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_docs = len(set(docs.tolist()))
    if n_docs < 2:
        raise ValueError(f"the leak probe needs at least 2 documents to cross-validate by document, got {n_docs}")
    from threadpoolctl import threadpool_limits

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0, random_state=seed))
    # one BLAS thread: on a busy 2-core machine the default threads oversubscribe it (60 s instead of 0.5 s)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return cross_val_predict(pipe, X, y, groups=docs, cv=GroupKFold(n_splits=min(folds, n_docs)))


def _per_doc(correct: np.ndarray, docs: np.ndarray, order: list[str]) -> tuple[np.ndarray, np.ndarray]:
    idx = {d: i for i, d in enumerate(order)}
    j = np.array([idx[d] for d in docs])
    return (np.bincount(j, weights=correct.astype(float), minlength=len(order)),
            np.bincount(j, minlength=len(order)).astype(float))


def leak_test(variant: Variant | str, folds: int = 5, seed: int = 0, max_samples: int | None = None,
              n_boot: int = 2000) -> dict:
    """Leak scores of every feature set for one variant; JSON-ready."""
    v = load_variant(variant) if not isinstance(variant, Variant) else variant
    data = collect(v, max_samples)
    V, C = data["variant"], data["clean"]
    y = V["y"]
    classes, counts = np.unique(y, return_counts=True)
    chance = float(counts.max() / counts.sum())
    order = sorted(set(V["docs"].tolist()))
    out = {"variant": v.name, "path": str(v.path), "strategy": v.strategy, "samples": int(len(y)),
           "documents": len(order), "chance": chance, "folds": min(folds, len(order)), "seed": seed,
           "clean_samples": int(len(C["y"])) if C else 0, "features": {}}
    if len(classes) < 2:
        raise ValueError(f"{v.path}: the leak probe needs at least two classes, got {classes.tolist()}")
    for f in FEATURE_SETS:
        X = V["X"][f]
        if np.isnan(X).any():
            out["features"][f] = {"accuracy": None, "note": "samples without a page_box in their json (an older build)"}
            continue
        pred = probe(X, y, V["docs"], folds, seed)
        ok = pred == y
        axis_ok = (pred % 2) == (y % 2)
        hits, tot = _per_doc(ok, V["docs"], order)
        acc, lo, hi = cluster_bootstrap(hits, tot, n_boot=n_boot, seed=seed)
        ax_hits, _ = _per_doc(axis_ok, V["docs"], order)
        ax, ax_lo, ax_hi = cluster_bootstrap(ax_hits, tot, n_boot=n_boot, seed=seed)
        r = {"accuracy": acc, "ci95": [lo, hi], "axis_accuracy": ax, "axis_ci95": [ax_lo, ax_hi],
             "leaks": bool(lo > chance), "clean_accuracy": None, "excess": None, "excess_ci95": None}
        if C is not None and len(set(C["docs"].tolist())) >= 2:
            cpred = probe(C["X"][f], C["y"], C["docs"], folds, seed)
            cok = cpred == C["y"]
            common = sorted(set(order) & set(C["docs"].tolist()))
            vh, vt = _per_doc(ok[np.isin(V["docs"], common)], V["docs"][np.isin(V["docs"], common)], common)
            ch, ct = _per_doc(cok[np.isin(C["docs"], common)], C["docs"][np.isin(C["docs"], common)], common)
            r["clean_accuracy"] = float(cok.mean())
            # the same documents, the same pages: rates per document compared on one resample
            d, dlo, dhi = paired_cluster_bootstrap(vh / np.maximum(vt, 1) * ct, ch, ct, n_boot=n_boot, seed=seed)
            r["excess"], r["excess_ci95"] = d, [dlo, dhi]
        if not r["leaks"]:
            r["status"] = "no leak"
        elif r["excess_ci95"] is None:
            r["status"] = "leak (no clean turns to compare with)"
        elif r["excess_ci95"][0] > 0:
            r["status"] = "generator trace"
        else:
            r["status"] = "layout cue"
        out["features"][f] = r
    traces = [f for f, r in out["features"].items() if r.get("status") == "generator trace"]
    out["traces"] = traces
    out["layout_cues"] = [f for f, r in out["features"].items() if r.get("status") == "layout cue"]
    out["leaks"] = bool(traces) or any(str(r.get("status", "")).startswith("leak (") for r in out["features"].values())
    out["verdict"] = _verdict(out)
    return out


def _pct(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def _verdict(res: dict) -> str:
    f = res["features"]
    if res["traces"]:
        parts = [f"{k} {_pct(f[k]['accuracy'])} (clean turns {_pct(f[k]['clean_accuracy'])})" for k in res["traces"]]
        return (f"{res['variant']} LEAKS the label through a generator trace: " + ", ".join(parts) +
                f" against {_pct(res['chance'])} chance; a model can learn it without reading the page.")
    if res["leaks"]:
        k = [k for k, r in f.items() if str(r.get("status", "")).startswith("leak (")]
        return (f"{res['variant']} leaks through {', '.join(k)}, and has no artifact-free 0-degree samples to tell "
                "a generator trace from the page's layout.")
    tail = ""
    if res["layout_cues"]:
        tail = (" Layout cues that inference sees too: " + ", ".join(
            f"{k} {_pct(f[k]['accuracy'])} (axis {_pct(f[k]['axis_accuracy'])})" for k in res["layout_cues"]) + ".")
    return f"{res['variant']}: no generator trace found (every probe at chance or no better than on clean turns).{tail}"


def format_leak(results: list[dict]) -> str:
    lines = [f"{'variant':<16}{'features':<13}{'accuracy [95 % CI]':>24}{'axis':>9}{'clean turns':>13}"
             f"{'excess [95 % CI]':>24}  verdict"]
    for res in results:
        for f, r in res["features"].items():
            if r.get("accuracy") is None:
                lines.append(f"{res['variant']:<16}{f:<13}{'n/a':>24}  {r.get('note', '')}")
                continue
            ci = f"{_pct(r['accuracy'])} [{100 * r['ci95'][0]:.1f}–{100 * r['ci95'][1]:.1f}]"
            ex = "n/a" if r["excess"] is None else \
                f"{100 * r['excess']:+.1f} [{100 * r['excess_ci95'][0]:+.1f}, {100 * r['excess_ci95'][1]:+.1f}]"
            lines.append(f"{res['variant']:<16}{f:<13}{ci:>24}{_pct(r['axis_accuracy']):>9}"
                         f"{_pct(r['clean_accuracy']):>13}{ex:>24}  {r['status']}")
        lines.append(f"  chance {_pct(res['chance'])}; {res['samples']} samples of {res['documents']} documents, "
                     f"{res['folds']}-fold by document.  {res['verdict']}")
    return "\n".join(lines)
