"""Benchmark of the attribution methods (``interpret.methods.attribute``), batched, on one device.

In one run (see ``--help``):

1. **Per method** (saliency, guided-backprop, integrated-gradients with ``--steps`` steps,
   gradcam): ``attribute(model, images, targets, method, batch_size=B)`` on ``--n`` random
   page-like images at ``--size`` px; one warm-up call on a small batch, then the best of
   ``--reps`` timed calls (``torch.cuda.synchronize()`` on CUDA); attributions/s = n / seconds.
2. **Single image**: integrated gradients (``--steps``, default 32) on ONE ``size x size`` image,
   the library's default internal batch; best and median of ``--reps`` (target on the 2-core
   development machine: < 3 s at 224 px, 32 steps).
3. A Markdown report with the machine description; ``--json OUT`` writes the same figures.

The model is ResNet18 from ``trainer.models.build_model`` with random weights (timing does not
depend on the weights), or ``--model MODEL`` (its arch and weights; still run at ``--size``).
No data, no network.  Run from the repository root: ``python -m bench.bench_interpret``.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import torch

from bench.common import arg_parser, finish, machine as machine_of, free_cache, report_head, sync

METHODS = ("saliency", "guided-backprop", "integrated-gradients", "gradcam")


def machine() -> dict:
    return machine_of(modules=("captum",))


_sync = sync


def page_like(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(n, 1, size, size)`` in [0, 1]: paper with dark text-like strokes (values matter little for
    timing, but keep activations realistic)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.ones(n, 1, size, size)
    ink = torch.rand(n, 1, size, size, generator=g) < 0.08
    return x.masked_fill_(ink, 0.1)


def timed(fn, device: torch.device, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t)
    return out


def report(res: dict) -> str:
    m = res["machine"]
    a = res["args"]
    ig1 = res["ig_single"]
    lines = report_head(res, "docorient attribution benchmark", f", captum {m.get('captum', '?')}", "fp32")
    lines += [f"Model: {res['model']}; input {a['size']}x{a['size']}; {a['n']} images per call; "
             f"best of {a['reps']} calls after a warm-up", "",
             "| method | batch | images | best s | attributions/s | ms per attribution |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in res["methods"]:
        what = r["method"]
        if what == "integrated-gradients":
            what += f" ({a['steps']} steps, internal batch {r['internal_batch']})"
        lines.append(f"| {what} | {r['batch']} | {r['n']} | {r['best_s']:.3f} | {r['per_s']:,.1f} | "
                     f"{1000 / r['per_s']:.1f} |")
    lines += ["", f"Integrated gradients, ONE {a['size']}x{a['size']} image, {a['steps']} steps (internal batch "
                  f"{ig1['internal_batch']}): best {ig1['best_s']:.2f} s, median {ig1['median_s']:.2f} s of "
                  f"{len(ig1['all_s'])} calls"
              + (" (target < 3 s on the 2-core development machine: "
                 + ("met" if ig1["best_s"] < 3 else "NOT met") + ")" if a["size"] == 224 and a["steps"] == 32 else ""),
              ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", metavar="MODEL", help="trainer checkpoint (default: ResNet18, random weights)")
    ap.add_argument("--size", type=int, default=224, help="input side (pixels)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--n", type=int, default=0, help="images per timed call (0 = 8 on CPU, 128 on CUDA)")
    ap.add_argument("--batch-size", type=int, default=0, help="attribute(batch_size=) (0 = --n: one batch)")
    ap.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
    ap.add_argument("--ig-internal-batch", type=int, default=0,
                    help="integrated-gradients internal batch (0 = the library's default)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    ap.add_argument("--reps", type=int, default=3, help="timed calls per measurement (best is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = one per core)")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    try:
        from datagen.devices import resolve_device
        from interpret.methods import attribute, get_method
        from trainer.models import build_model, load_model

        device = resolve_device(args.device)
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        for m in methods:
            get_method(m)
        cuda = device.type == "cuda"
        args.n = args.n or (128 if cuda else 8)
        args.batch_size = args.batch_size or args.n
        if args.size < 32 or args.n < 1 or args.steps < 1 or args.reps < 1 or args.ig_internal_batch < 0:
            raise ValueError("--size must be >= 32; --n, --steps, --reps >= 1")
        if args.model:
            model, ck = load_model(args.model, device)
            name = f"{ck['arch']} from {args.model} (trained at {ck['input_size']} px)"
        else:
            torch.manual_seed(0)
            model = build_model("resnet18").to(device).eval()
            name = "resnet18 (trainer.models.build_model, 1 channel, 4 classes), random weights"
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(args.threads or cores)

    res: dict = {"command": " ".join(["python", "-m", "bench.bench_interpret", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": machine(), "device": str(device),
                 "device_name": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()})",
                 "threads": torch.get_num_threads(), "model": name, "args": vars(args), "methods": []}
    x = page_like(args.n, args.size)  # (n, 1, S, S)
    t = torch.arange(args.n) % 4
    kw = {"steps": args.steps}
    if args.ig_internal_batch:
        kw["internal_batch_size"] = args.ig_internal_batch
    for m in methods:
        extra = kw if m == "integrated-gradients" else {}
        print(f"{m}: {args.n} images at {args.size} px, batch {args.batch_size} on {device} ...", file=sys.stderr)
        attribute(model, x[:min(2, args.n)], t[:min(2, args.n)], m, batch_size=args.batch_size, **extra)  # warm-up
        secs = timed(lambda: attribute(model, x, t, m, batch_size=args.batch_size, **extra), device, args.reps)
        best = min(secs)
        row = {"method": m, "batch": min(args.batch_size, args.n), "n": args.n, "best_s": best,
               "median_s": statistics.median(secs), "all_s": secs, "per_s": args.n / best}
        if m == "integrated-gradients":
            row["internal_batch"] = args.ig_internal_batch or max(1, min(64, args.steps * row["batch"]))
        print(f"  {row['per_s']:,.1f} attributions/s", file=sys.stderr)
        res["methods"].append(row)
        free_cache(device)

    print(f"integrated-gradients: one image, {args.steps} steps ...", file=sys.stderr)
    x1, t1 = x[:1], t[:1]
    attribute(model, x1, t1, "integrated-gradients", **kw)  # warm-up
    secs = timed(lambda: attribute(model, x1, t1, "integrated-gradients", **kw), device, args.reps)
    res["ig_single"] = {"best_s": min(secs), "median_s": statistics.median(secs), "all_s": secs,
                        "internal_batch": args.ig_internal_batch or max(1, min(64, args.steps))}
    print(f"  best {min(secs):.2f} s", file=sys.stderr)
    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
