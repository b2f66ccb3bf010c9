"""The window model's design choices, measured on a labelled folder of real pages (``datagen
pages`` output: labels.csv with file,angle,doc,kind,script) and on the validation windows.

One table per question, each with document-cluster 95 % intervals:

- **basis**: the whole-page model only, the windows only, and both (the whole page's
  log-probabilities added to the windows' evidence, weight ``--beta``);
- **K**: page accuracy by the number of windows voted (1 is window accuracy);
- **text scale**: page and window accuracy when the page is resampled to other text scales;
- **window size**: the same network (fully convolutional) on windows of other sides;
- **kind** and **script**: the windows-only answer (at the model's own K and scale) per group;
- **validation**: page accuracy by K on the validation documents of ``--windows``.

Example (from the repository root)::

    datagen pages data_manifests/real-pages.toml --out real/
    python -m bench.windows --labels real/labels.csv --model trainer/weights/default.onnx \\
        --whole trainer/weights/default-whole.onnx --windows windows/ --md windows.md
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from datagen import glyphs
from datagen.pages import read_image
from interpret.stats import cluster_bootstrap
from datagen.contract import ANGLES
from trainer.glyphnet import log_softmax


def _rows(labels: Path, limit: int | None) -> list[dict]:
    with open(labels, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["path"] = str(labels.parent / r["file"])
        r["y"] = ANGLES.index(int(r["angle"]))
    return rows[:limit] if limit else rows


def _interval(correct: np.ndarray, docs: list[str]) -> tuple[float, float, float]:
    groups: dict[str, list[int]] = {}
    for c, d in zip(correct, docs):
        groups.setdefault(d, []).append(int(c))
    return cluster_bootstrap([sum(v) for v in groups.values()], [len(v) for v in groups.values()])


def _fmt(ci: tuple[float, float, float]) -> str:
    return f"{100 * ci[0]:.1f} % [{100 * ci[1]:.1f}, {100 * ci[2]:.1f}]"


def window_logprobs(net, rows: list[dict], k: int, target: float, win: int, threads: int = 2) -> list[np.ndarray]:
    """Per image, the ``(n <= k, 4)`` window log-probabilities (cut order: the first K are the
    engine's K)."""
    def one(r):
        gray = np.asarray(read_image(r["path"], 0, side=800))
        w = glyphs.page_windows(gray, k, target, win)
        return log_softmax(net.logits(w.windows)) if len(w.windows) else np.zeros((0, 4))

    with ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, rows))


def whole_logprobs(whole_path: str, rows: list[dict]) -> np.ndarray:
    from datagen.preprocess import prepare
    from trainer.infer import OnnxEngine, input_spec, model_inputs

    eng = OnnxEngine(whole_path)
    spec = input_spec(eng.meta)
    out = []
    for r in rows:
        fitted, paper = prepare(read_image(r["path"], 0, side=spec[1]), spec[1])
        p, _ = eng.predict(model_inputs(fitted, paper, spec)[None])
        out.append(np.log(np.clip(p[0], 1e-12, 1)))
    return np.array(out)


def page_correct(lps: list[np.ndarray], y: np.ndarray, k: int, whole: np.ndarray | None = None, beta: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per page: correct with the first ``k`` windows (plus ``beta`` x the whole view), and
    whether it had any window."""
    pred, has = [], []
    for i, lp in enumerate(lps):
        s = lp[:k].sum(0) if len(lp) else np.zeros(4)
        if whole is not None and (beta or not len(lp)):
            s = s + (beta if len(lp) else 1.0) * whole[i]
        pred.append(int(np.argmax(s)) if (len(lp) or whole is not None) else -1)
        has.append(len(lp) > 0)
    return np.array(pred) == y, np.array(has)


def val_by_k(net, windows: str, ks: list[int]) -> list[str]:
    from datagen.windows import load_windows
    from trainer.windowfit import page_groups

    ws = load_windows(windows)
    rng = np.random.default_rng(1)
    groups = page_groups(np.asarray(ws.val_pages), max(ks))
    out = {k: [] for k in ks}
    for g in groups:
        q = int(rng.integers(4))
        lp = log_softmax(net.logits(np.rot90(np.asarray(ws.val[np.sort(g)]), q, axes=(1, 2))))
        for k in ks:
            out[k].append(int(lp[:k].sum(0).argmax()) == (-q) % 4)
    return [f"| {k} | {100 * np.mean(out[k]):.1f} % | {len(groups)} |" for k in ks]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", required=True, type=Path)
    ap.add_argument("--model", required=True, help="window model (.onnx or trainer fit-windows .pt)")
    ap.add_argument("--whole", default=None, help="whole-page ONNX model for the 'whole' and 'both' rows")
    ap.add_argument("--windows", default=None, help="a datagen windows folder: validation pages by K")
    ap.add_argument("--beta", type=float, default=1.0, help="weight of the whole view in 'both'")
    ap.add_argument("--ks", default="1,4,16,64")
    ap.add_argument("--targets", default="5,6,7,8,10", help="text scales to try (px)")
    ap.add_argument("--sizes", default="48,64,96", help="window sides to try (px)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--md", type=Path, default=None, help="write the tables here too")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)

    from trainer.windowinfer import OnnxWindows, TorchWindows

    net = OnnxWindows(a.model) if a.model.endswith(".onnx") else TorchWindows(a.model)
    meta = net.meta
    k0, t0, w0 = int(meta.get("k", 16)), float(meta.get("target", 7.0)), int(meta.get("win", 64))
    ks = [int(x) for x in a.ks.split(",")]
    rows = _rows(a.labels, a.limit)
    y = np.array([r["y"] for r in rows])
    docs = [r["doc"] for r in rows]
    started = time.time()
    base = window_logprobs(net, rows, max(ks + [k0]), t0, w0, a.threads)
    whole = whole_logprobs(a.whole, rows) if a.whole else None
    res: dict = {"model": a.model, "images": len(rows), "k": k0, "target": t0, "win": w0}
    out = [f"Real pages: {len(rows)} images of {len(set(docs))} documents ({a.labels}); model {a.model} "
           f"(K {k0}, text scale {t0:g} px, {w0} px windows).", ""]

    out += ["| basis | all |", "|---|---:|"]
    cw, has = page_correct(base, y, k0)
    res["no_text"] = int((~has).sum())
    out.append(f"| windows only (no text: {int((~has).sum())} images, counted wrong) | {_fmt(_interval(cw, docs))} |")
    if whole is not None:
        cwh, _ = page_correct(base, y, k0, whole, 0.0)
        out.append(f"| windows, whole page where no text | {_fmt(_interval(cwh, docs))} |")
        out.append(f"| whole page only | {_fmt(_interval(whole.argmax(1) == y, docs))} |")
        cb, _ = page_correct(base, y, k0, whole, a.beta)
        out.append(f"| both (whole log-probs x {a.beta:g} added) | {_fmt(_interval(cb, docs))} |")
    out += ["", "| K | all | scan | photo | born-digital |", "|---:|---:|---:|---:|---:|"]
    kinds = ("scan", "photo", "born-digital")
    for k in ks:
        c, _ = page_correct(base, y, k)
        cells = [_fmt(_interval(c, docs))]
        for kd in kinds:
            m = np.array([r["kind"] == kd for r in rows])
            cells.append(_fmt(_interval(c[m], [d for d, mm in zip(docs, m) if mm])) if m.any() else "—")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
        res.setdefault("by_k", {})[k] = float(c.mean())

    print("\n".join(out), flush=True)
    def sweep(key: str, header: str, values: list, own, lp_of) -> None:
        """One table row per value: window and page accuracy with the windows ``lp_of(value)``."""
        out.extend(["", f"| {header} | window accuracy | page accuracy (K = {k0}) |", "|---:|---:|---:|"])
        for v in values:
            lp = base if v == own else lp_of(v)
            wc = np.concatenate([l.argmax(1) == yy for l, yy in zip(lp, y) if len(l)])
            c, _ = page_correct(lp, y, k0)
            out.append(f"| {v:g} | {100 * wc.mean():.1f} % | {_fmt(_interval(c, docs))} |")
            res.setdefault(key, {})[v] = [float(wc.mean()), float(c.mean())]

    sweep("by_target", "text scale (px)", [float(x) for x in a.targets.split(",")], t0,
          lambda t: window_logprobs(net, rows, k0, t, w0, a.threads))
    sweep("by_size", "window side (px)", [int(x) for x in a.sizes.split(",")], w0,
          lambda s: window_logprobs(net, rows, k0, t0, s, a.threads))

    c, _ = page_correct(base, y, k0)
    for col in ("kind", "script"):
        out += ["", f"| {col} | images | documents | page accuracy (K = {k0}) |", "|---|---:|---:|---:|"]
        for g in sorted({r[col] for r in rows}):
            m = np.array([r[col] == g for r in rows])
            gd = [d for d, mm in zip(docs, m) if mm]
            out.append(f"| {g} | {int(m.sum())} | {len(set(gd))} | {_fmt(_interval(c[m], gd))} |")
            res.setdefault(f"by_{col}", {})[g] = float(c[m].mean())
    if a.windows:
        out += ["", "Validation documents (each page turned by one random quarter):", "",
                "| K | page accuracy | pages |", "|---:|---:|---:|"] + val_by_k(net, a.windows, ks)
    out += ["", f"({time.time() - started:.0f} s)"]
    text = "\n".join(out)
    print(text)
    if a.md:
        a.md.write_text(text + "\n")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
