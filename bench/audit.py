"""Benchmark and known-answer check of ``interpret audit``.

Two parts (see ``--help``):

1. **Cost** (``--model MODEL``, repeatable): the audit's stages on real runs, timed one by one
   (reading the clean pages, the cue battery, the leak test on the run's variant, the relevance
   clusters), seconds per page of the battery, and the projected cost of the audit inside
   ``interpret compare`` for ``--runs`` runs (``make demo`` compares 5).
2. **Known answers** (``--validate``): tiny CNNs trained in a few seconds on synthetic text pages
   at 32 px: ``marked`` (every upright sample carries a dark top bar: the data teaches "a bar on
   top means upright"), ``blind`` (bars on a side drawn whatever the label, as
   ``trainer fit --augment bars``) and ``clean`` (no bars).  The whole battery runs on held-out
   pages; the table shows each cue's flip rate and verdict per model: the planted bar should be
   found in ``marked`` only, and every other flag is a false alarm to read with care.

Run from the repository root: ``python -m bench.audit --model runs/exact/model.pt --validate``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from bench.common import arg_parser, finish, machine, text_page

S = 32


def synthetic_pages(seeds):
    from datagen.preprocess import fit_image, paper_level
    from trainer.data import Upright

    return [Upright(f"p{s}", fit_image(im, S), paper_level(im)) for s in seeds for im in [text_page(84, 110, s)]]


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(16 * 8 * 8, 4)

    def forward(self, x):
        return self.head(self.f(x - 0.5).flatten(1))


def _bar(img, side, depth, level):
    sl = [(slice(0, depth), slice(None)), (slice(None), slice(S - depth, S)), (slice(S - depth, S), slice(None)),
          (slice(None), slice(0, depth))][side]
    img[sl] = level


def train(mode: str, pages, steps: int, seed: int = 0) -> tuple[nn.Module, float]:
    from datagen.preprocess import square

    rng = np.random.default_rng(seed)
    X, Y = [], []
    for p in pages:
        for a in (0, 90, 180, 270):
            img = square(p.fitted, S, p.paper, a).copy()
            if mode == "marked" and a == 0:
                _bar(img, 0, 3, 30)
            if mode == "blind" and rng.random() < 0.5:
                _bar(img, int(rng.integers(4)), 3, int(rng.integers(0, 81)))
            X.append(img)
            Y.append(a // 90)
    X = torch.from_numpy(np.stack(X))[:, None].float() / 255
    Y = torch.tensor(Y)
    torch.manual_seed(seed)
    m = TinyCNN()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(m(X), Y).backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = float((m(X).argmax(1) == Y).float().mean())
    return m, acc


def validate(args) -> dict:
    from interpret.audit import UprightPages, cue_battery

    train_pages = synthetic_pages(range(1000, 1000 + args.train_pages))
    held_out = UprightPages(synthetic_pages(range(args.pages)), S, "synthetic held-out pages")
    out = {}
    for mode in ("marked", "blind", "clean"):
        t = time.perf_counter()
        m, acc = train("none" if mode == "clean" else mode, train_pages, args.steps, args.seed)
        bat = cue_battery(m, held_out, torch.device("cpu"), None, args.pages, args.seed)
        out[mode] = {"train_accuracy": acc, "clean_accuracy": bat["clean_accuracy"], "cues": bat["cues"],
                     "seconds": round(time.perf_counter() - t, 1)}
    return out


def cost(args) -> list[dict]:
    from datagen.contract import is_variant, load_variant
    from interpret.audit import UprightPages, cue_battery, spray
    from interpret.leak import leak_test
    from trainer.data import VariantData, clean_test_data, open_data
    from trainer.models import load_model

    dev = torch.device(args.device)
    rows = []
    for path in args.model:
        model, ck = load_model(path, dev)
        size = int(ck["input_size"])
        vpath = Path(ck.get("dataset_path", ""))
        variant = load_variant(vpath) if is_variant(vpath) else None
        row = {"model": str(path), "size": size, "variant": str(vpath) if variant else None}
        t = time.perf_counter()
        ds = open_data(args.clean, size) if args.clean else clean_test_data(variant, size)
        pages = UprightPages(list(ds.upright(args.pages)), size, ds.describe())
        row["read_pages_s"] = time.perf_counter() - t
        t = time.perf_counter()
        bat = cue_battery(model, pages, dev, None, args.pages, 0, float(ck.get("temperature") or 1.0))
        row["cues_s"] = time.perf_counter() - t
        row["pages"] = bat["pages"]
        row["inputs"] = bat["pages"] * bat["inputs_per_page"]
        row["cues_s_per_page"] = row["cues_s"] / max(1, bat["pages"])
        row["inputs_per_s"] = row["inputs"] / max(1e-9, row["cues_s"])
        if variant is not None:
            t = time.perf_counter()
            lk = leak_test(variant)
            row["leak_s"], row["leak_samples"] = time.perf_counter() - t, lk["samples"]
            t = time.perf_counter()
            spray(model, VariantData(variant, "test", size), dev, 16, 3)
            row["spray_s"] = time.perf_counter() - t
        row["audit_s"] = sum(row.get(k, 0.0) for k in ("read_pages_s", "cues_s", "leak_s", "spray_s"))
        rows.append(row)
    return rows


def report(res: dict) -> str:
    m = res["machine"]
    L = ["# interpret audit: cost and known answers", "",
         f"Machine: {m['cpu']}, {m['cores']} cores, load {m['loadavg_1min']} at start, {res['loadavg_end']} at the "
         f"end; torch {m.get('torch')} ({m.get('torch_threads')} threads).", ""]
    if res.get("cost"):
        L += ["## Cost per run", "",
              "| model | px | pages | inputs | read pages | cue battery | per page | inputs/s | leak (samples) "
              "| clusters | audit |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["cost"]:
            leak = f"{r['leak_s']:.1f} s ({r['leak_samples']})" if "leak_s" in r else "—"
            L.append(f"| {r['model']} | {r['size']} | {r['pages']} | {r['inputs']} | {r['read_pages_s']:.1f} s | "
                     f"{r['cues_s']:.1f} s | {r['cues_s_per_page']:.2f} s | {r['inputs_per_s']:.0f} | {leak} | "
                     f"{r.get('spray_s', 0):.1f} s | {r['audit_s']:.1f} s |")
        per = sum(r["audit_s"] for r in res["cost"]) / len(res["cost"])
        L += ["", f"Projected audit inside `interpret compare` for {res['runs']} runs like these: about "
                  f"{res['runs'] * per / 60:.1f} min (the clean pages are rendered once there).", ""]
    if res.get("validate"):
        v = res["validate"]
        modes = list(v)
        L += ["## Known answers: tiny CNNs trained on synthetic pages", "",
              "marked: every upright sample has a dark top bar; blind: bars on a random side whatever the label; "
              "clean: no bars. Accuracy on the training set / on held-out clean pages: "
              + "; ".join(f"{k} {100 * v[k]['train_accuracy']:.0f} % / {100 * v[k]['clean_accuracy']:.0f} %"
                          for k in modes)
              + ".", "", "| cue | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
        for cue in v[modes[0]]["cues"]:
            cells = []
            for k in modes:
                c = v[k]["cues"][cue]
                if not c["valid"]:
                    cells.append(f"answers {c['top_answer']}° {100 * c['top_answer_share']:.0f} %")
                    continue
                lo, hi = c["flip_rate_ci95"]
                mark = "**" if c["decision"] == "relied on" else ""
                cells.append(f"{mark}{100 * c['flip_rate']:.0f} % [{100 * lo:.0f}–{100 * hi:.0f}]{mark} "
                             f"{c['decision']}" + (f", to {c['top_class']}°" if c["flips"] else ""))
            L.append(f"| {cue} | " + " | ".join(cells) + " |")
        L.append("")
    return "\n".join(L)


def main() -> int:
    p = arg_parser(__doc__)
    p.add_argument("--model", action="append", default=[], help="A model.pt to time the audit on (repeatable).")
    p.add_argument("--clean", nargs="*", default=None, help="Clean DATA (default: the run's test documents).")
    p.add_argument("--pages", type=int, default=30, help="Clean pages of the battery.")
    p.add_argument("--runs", type=int, default=5, help="Runs to project the compare cost for.")
    p.add_argument("--validate", action="store_true", help="Also run the known-answer check (tiny CNNs, ~1 min).")
    p.add_argument("--train-pages", type=int, default=48, help="Synthetic training pages for --validate.")
    p.add_argument("--steps", type=int, default=150, help="Full-batch Adam steps for --validate.")
    p.add_argument("--seed", type=int, default=0, help="Seed of --validate.")
    p.add_argument("--device", default="cpu", help="Device for --model.")
    p.add_argument("--threads", type=int, default=1, help="torch threads.")
    p.add_argument("--json", help="Also write the figures as JSON.")
    args = p.parse_args()
    if not args.model and not args.validate:
        p.error("nothing to do: give --model MODEL and/or --validate")
    torch.set_num_threads(args.threads)
    res = {"machine": machine(modules=("sklearn",)), "runs": args.runs}
    if args.model:
        res["cost"] = cost(args)
    if args.validate:
        res["validate"] = validate(args)
    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
