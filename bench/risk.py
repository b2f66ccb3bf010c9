"""Review thresholds at several risk targets, chosen on one labelled set and checked on another.

For each target risk R (``--targets``), the threshold is the one ``trainer calibrate
--target-risk R`` would store: the lowest confidence at which the pages kept on the CHOOSE data
(a variant's validation split by default) are at most R wrong.  The table shows, on both sets,
the share of pages flagged for review at that threshold and the share that is wrong and NOT
flagged (what a pipeline would let through).  The model's own temperature is used, unchanged.

Run from the repository root::

    python -m bench.risk --model default --choose shards-full/default --check data_manifests/real-pages.toml
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.common import arg_parser, finish, machine as machine_of


def scores(model_path, data: str, split: str | None, workers: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(confidence, correct) per image of ``data`` as ``trainer eval`` scores it, and its description."""
    from trainer.cli import _load
    from trainer.data import open_data
    from trainer.evaluate import evaluate

    eng, ckpt, spec, dpi, _ = _load(model_path, "cpu", "torch")
    is_variant = (Path(data) / "dataset.json").is_file()
    ds = open_data([Path(data)], spec[1], split=split or ("val" if is_variant else None), dpi=dpi, workers=workers)
    res = evaluate(None, ds, engine=eng, spec=spec)
    if res.n == 0:
        raise SystemExit(f"{data}: no sample could be evaluated")
    p, y = np.stack(res.probs), np.asarray(res.labels)
    return p.max(1), p.argmax(1) == y, ds.describe()


def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", default="default", help="checkpoint (.pt) or 'default' (the shipped model)")
    ap.add_argument("--choose", required=True, help="labelled data the thresholds are chosen on (a variant: its val split)")
    ap.add_argument("--check", required=True, help="labelled data they are checked on (a manifest, CSV or variant)")
    ap.add_argument("--targets", default="0.005,0.01,0.02,0.03,0.05", help="target risks, comma-separated")
    ap.add_argument("--workers", type=int, default=1, help="render processes")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures here")
    args = ap.parse_args(argv)
    from trainer.calibrate import flagged_errors, review_threshold

    model = None if args.model == "default" else Path(args.model)
    targets = [float(t) for t in args.targets.split(",") if t.strip()]
    if not targets or any(not 0 < t < 1 for t in targets):
        ap.error(f"--targets must be numbers in (0, 1), got {args.targets!r}")
    c1, ok1, d1 = scores(model, args.choose, None, args.workers)
    c2, ok2, d2 = scores(model, args.check, None, args.workers)
    rows = []
    for t in targets:
        th = review_threshold(c1, ok1, t)["threshold"]
        a, b = flagged_errors(c1, ok1, th), flagged_errors(c2, ok2, th)
        rows.append({"target_risk": t, "threshold": th, "flagged": [a["flagged"], b["flagged"]],
                     "wrong_not_flagged": [a["wrong_not_flagged"], b["wrong_not_flagged"]]})
    res = {"command": "python -m bench.risk " + " ".join(sys.argv[1:] if argv is None else argv),
           "machine": machine_of(), "model": args.model, "choose": {"data": d1, "n": len(c1), "accuracy": float(ok1.mean())},
           "check": {"data": d2, "n": len(c2), "accuracy": float(ok2.mean())}, "rows": rows}

    def report(r):
        m = r["machine"]
        out = ["## Review thresholds at several risk targets", "",
               f"Command: `{r['command']}`  ",
               f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m.get('torch', '-')}  ",
               f"Chosen on: {r['choose']['data']} ({r['choose']['n']} images, accuracy "
               f"{100 * r['choose']['accuracy']:.1f} %); checked on: {r['check']['data']} ({r['check']['n']} images, "
               f"accuracy {100 * r['check']['accuracy']:.1f} %)", "",
               "| target risk | threshold | flagged (chosen / checked) | wrong and not flagged (chosen / checked) |",
               "|---:|---:|---:|---:|"]
        for row in r["rows"]:
            f, w = row["flagged"], row["wrong_not_flagged"]
            out.append(f"| {100 * row['target_risk']:g} % | {row['threshold']:.3f} | {100 * f[0]:.1f} / {100 * f[1]:.1f} % "
                       f"| {100 * w[0]:.2f} / {100 * w[1]:.2f} % |")
        return "\n".join(out)

    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
