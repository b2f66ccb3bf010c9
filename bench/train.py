"""Benchmark of the ``trainer fit`` training step against a plain torchvision-reference-style loop.

In one run (see ``--help``), on one dataset variant (``VARIANT_DIR``, its train split):

1. **ours**: ``trainer.engine.train_one_epoch`` exactly as ``trainer fit`` calls it: a
   ``trainer.data.TrainStream``: the first pass streams the variant's ``train-*.tar`` through
   webdataset (``--workers`` DataLoader workers decode the PNGs); with ``--cache auto`` (fit's
   default) later epochs come from the decoded split in memory.  The model from
   ``trainer.models.build_model``, AdamW + fit's warm-up/cosine schedule (``make_scheduler``), label smoothing;
   on CUDA bf16 autocast and channels_last (the same code path the CPU runs).  Each round (below)
   starts a new epoch, as ``fit`` does, so loader start-up (or the cache) is in the timing.
2. **ours, device-resident batch**: the same ``train_one_epoch`` fed one uint8 batch that already
   sits on the device, over and over: the pure model step, no data loading.  The gap between 1
   and 2 is what data loading costs.
3. **reference**: the plain loop of torchvision's ``references/classification`` on the same
   decoded data: the same shards' PNGs decoded ONCE into an in-memory uint8 tensor (already
   resized to the benchmark size if that differs from the variant's), then
   ``for x, y in DataLoader(TensorDataset(...), shuffle=True)``: ``x.to(device).float() / 255``,
   ``model(x)``, cross entropy, ``zero_grad``/``backward``/``step`` with AdamW.  fp32 on the
   CPU; on CUDA its ``--amp`` equivalent (``torch.autocast`` bf16, NCHW, no channels_last) and
   ``cudnn.benchmark`` on, as torchvision's ``train.py`` sets it (so does ``trainer fit``;
   ``--no-cudnn-benchmark`` turns it off for ours).

Each loop warms up for ``--warmup`` steps, then ``--steps`` steps are timed (with
``torch.cuda.synchronize()`` on CUDA), split into ``--rounds`` rounds run in alternating loop
order (A B C, C B A, ...) so that other load on a shared machine drifting in or out hits every
loop alike; images/s = all timed images / all timed seconds, and the per-round rates are shown.  On CUDA, when the size is not 224, all three loops are
measured again at 224 (the variant's images resized on the device by ``train_one_epoch``, as
``trainer fit --size 224`` does).  A Markdown report with the machine description; ``--json OUT``
writes the same figures.  No network needed.  Run from the repository root:
``python -m bench.train shards/exact``.
"""
from __future__ import annotations

import itertools
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.common import arg_parser, finish, machine as machine_of, free_cache, note_lines, report_head, sync


# --------------------------------------------------------------------------- machine
def machine() -> dict:
    return machine_of(modules=("torchvision",))


_sync = sync


# --------------------------------------------------------------------------- data
def decode_train(shards: list[Path], limit: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The first ``limit`` train samples of ``shards`` as uint8 ``(N, 1, H, W)`` and labels ``(N,)``,
    and the seconds decoding took (not part of any timed loop)."""
    from datagen.contract import decode_png, iter_samples

    t0 = time.perf_counter()
    imgs, labels = [], []
    for s in iter_samples(shards):
        imgs.append(decode_png(s["png"]))
        labels.append(int(s["cls"]))
        if len(imgs) >= limit:
            break
    x = torch.from_numpy(np.stack(imgs))[:, None]  # (N, 1, H, W) uint8
    return x, torch.tensor(labels), time.perf_counter() - t0


def resize_uint8(x: torch.Tensor, size: int, chunk: int = 256) -> torch.Tensor:
    """uint8 ``(N, 1, H, W)`` -> uint8 ``(N, 1, size, size)`` with the same antialiased bilinear
    resize ``train_one_epoch`` applies per batch (done once here, for the reference's data)."""
    out = []
    for i in range(0, x.shape[0], chunk):
        f = x[i:i + chunk].float().div_(255.0)
        f = F.interpolate(f, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(f.clamp_(0, 1).mul_(255).round_().to(torch.uint8))
    return torch.cat(out)


# --------------------------------------------------------------------------- loops
# Each loop keeps its model and optimizer across rounds: ``warm(n)`` runs n untimed steps,
# ``run(n)`` runs n steps and returns (images, seconds), synchronised on CUDA.
class Ours:
    """``train_one_epoch`` as ``fit`` calls it.  Without ``resident``: over ``shard_stream`` /
    ``make_loader`` of the variant's train shards, a fresh loader per round (a new epoch, as each
    ``fit`` epoch starts one), so loader start-up is timed in every round.  With ``resident``
    ``(images, labels)``: the same uint8 batch, already on the device, over and over."""

    def __init__(self, args, device, size: int, variant=None, resident: tuple | None = None):
        from trainer.engine import FitConfig, make_scheduler
        from trainer.models import build_model

        self.args, self.device, self.size, self.variant = args, device, size, variant
        torch.manual_seed(0)
        total = args.warmup + args.steps
        self.cfg = FitConfig(batch_size=args.batch_size, workers=args.workers, device=str(device), arch=args.arch,
                             max_steps=None, augment="none")
        model = build_model(args.arch).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.net = torch.compile(model) if args.compile else model
        self.opt = torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.sched = make_scheduler(self.opt, total, max(1, total // 5))
        self.state = {"step": 0}
        self.epoch = 0
        if resident is not None:
            xb, yb = resident
            self.fixed = (xb[:args.batch_size].to(device), yb[:args.batch_size].to(device))  # (B, 1, H, W) uint8
            self.loop, self.name = "ours-resident", "ours: train_one_epoch, device-resident batch (no data loading)"
        else:
            self.fixed = None
            self.shards = variant.shards("train")
            n = len(self.shards)
            busy = f", {min(args.workers, n)} busy: {n} shards" if args.workers > n else ""
            self.loop, self.name = "ours", f"ours: train_one_epoch + shard_stream ({args.workers} workers{busy})"

    def _batches(self):
        if self.fixed is not None:
            return itertools.repeat(self.fixed)
        from trainer.data import TrainStream

        stream = TrainStream(self.shards, self.variant.count("train"), self.variant.size, self.args.batch_size,
                             self.cfg.seed, self.args.workers, pin_memory=self.device.type == "cuda",
                             cache=self.args.cache)

        def epochs():  # exactly as fit draws its batches each epoch (streamed first, then cached)
            while True:
                yield from stream.epoch(self.epoch)
                self.epoch += 1
        return epochs()

    def _steps(self, batches, n: int) -> int:
        from trainer.engine import train_one_epoch

        torch.backends.cudnn.benchmark = self.args.cudnn_benchmark  # as trainer fit sets it on CUDA
        r = train_one_epoch(self.net, itertools.islice(batches, n), self.opt, self.sched, self.device, self.size,
                            None, self.cfg, self.state)
        self.last_loss = r["train_loss"]
        return r["train_samples"]

    def run(self, n: int) -> tuple[int, float]:
        _sync(self.device)
        t0 = time.perf_counter()
        batches = self._batches()  # a fresh loader: its start-up is part of the round
        try:
            images = self._steps(batches, n)
            _sync(self.device)
            return images, time.perf_counter() - t0
        finally:
            if self.fixed is None:
                batches.close()  # shut this loader's workers down before another loop runs
                self.epoch += 1

    def warm(self, n: int) -> None:
        self.run(n)


class Reference:
    """torchvision references/classification style: TensorDataset + DataLoader, model(x), CE, AdamW."""

    def __init__(self, args, device, size: int, x: torch.Tensor, y: torch.Tensor):
        from trainer.engine import FitConfig
        from trainer.models import build_model

        cfg = FitConfig()
        if x.shape[-1] != size:
            x = resize_uint8(x, size)
        self.device, self.size = device, size
        torch.manual_seed(0)
        self.model = build_model(args.arch).to(device)
        self.model.train()
        self.criterion = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=args.batch_size,
                                             shuffle=True, num_workers=0, drop_last=True,
                                             pin_memory=device.type == "cuda")
        self.use_amp = device.type == "cuda"  # the reference's --amp, with bf16 (no GradScaler needed)

        def batches():
            while True:
                yield from loader
        self.it = batches()
        self.loop = "reference"
        self.name = "reference: plain loop over in-memory TensorDataset" + (" (autocast bf16)" if self.use_amp
                                                                             else " (fp32)")

    def _steps(self, n: int) -> int:
        torch.backends.cudnn.benchmark = True  # torchvision's train.py sets it (unless deterministic)
        seen = 0
        for image, target in itertools.islice(self.it, n):
            image = image.to(self.device, non_blocking=True).float().div_(255.0)
            target = target.to(self.device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.use_amp):
                output = self.model(image)
                loss = self.criterion(output, target)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            seen += image.shape[0]
        self.last_loss = float(loss.detach())
        return seen

    def warm(self, n: int) -> None:
        self._steps(n)
        _sync(self.device)

    def run(self, n: int) -> tuple[int, float]:
        _sync(self.device)
        t0 = time.perf_counter()
        images = self._steps(n)
        _sync(self.device)
        return images, time.perf_counter() - t0


def measure(args, device, size: int, variant, x, y) -> list[dict]:
    """All three loops at ``size``: warm-ups, then ``args.rounds`` rounds in alternating order
    (A B C, C B A, ...) so that load drift on a shared machine hits every loop alike."""
    loops = [Ours(args, device, size, variant=variant), Ours(args, device, size, resident=(x, y)),
             Reference(args, device, size, x, y)]
    for lp in loops:
        print(f"  warm-up {lp.loop} at {size} px ({args.warmup} steps) ...", file=sys.stderr)
        lp.warm(args.warmup)
    per = [args.steps // args.rounds + (1 if r < args.steps % args.rounds else 0) for r in range(args.rounds)]
    acc = {lp.loop: {"images": 0, "wall_s": 0.0, "rounds": []} for lp in loops}
    for r, n in enumerate(per):
        for lp in (loops if r % 2 == 0 else loops[::-1]):
            images, wall = lp.run(n)
            a = acc[lp.loop]
            a["images"] += images
            a["wall_s"] += wall
            a["rounds"].append(images / wall)
            print(f"  round {r + 1}/{args.rounds} {lp.loop} at {size} px: {n} steps, {images / wall:,.1f} images/s",
                  file=sys.stderr)
    out = []
    for lp in loops:
        a = acc[lp.loop]
        out.append({"loop": lp.loop, "name": lp.name, "size": size, "batch": args.batch_size, "steps": args.steps,
                    "images": a["images"], "wall_s": a["wall_s"], "images_per_s": a["images"] / a["wall_s"],
                    "round_images_per_s": a["rounds"], "final_loss": lp.last_loss})
    del loops
    free_cache(device)
    return out


# --------------------------------------------------------------------------- report
def report(res: dict) -> str:
    m = res["machine"]
    a = res["args"]
    lines = report_head(res, "docorient training-step benchmark", f", torchvision {m.get('torchvision', '?')}",
                        f"DataLoader workers (ours) {a['workers']}; "
                        f"precision {'bf16 autocast' if res['device'].startswith('cuda') else 'fp32'}")
    lines += [f"Data: {res['variant']} (strategy {res['strategy']}, stored at {res['variant_size']} px, "
             f"{res['train_shards']} train shards, {res['train_samples']} train samples); arch {a['arch']}; "
             f"{a['warmup']} warm-up steps, then {a['steps']} timed steps per loop in {a['rounds']} "
             "rounds of alternating loop order", "",
             "| loop | size | batch | timed steps | images | s | images/s | vs reference | images/s per round |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["runs"]:
        ref = next((q for q in res["runs"] if q["loop"] == "reference" and q["size"] == r["size"]), None)
        ratio = f"{r['images_per_s'] / ref['images_per_s']:.2f}x" if ref else "–"
        lines.append(f"| {r['name']} | {r['size']} | {r['batch']} | {r['steps']} | {r['images']} | "
                     f"{r['wall_s']:.2f} | {r['images_per_s']:,.1f} | {ratio} | "
                     + " / ".join(f"{v:,.1f}" for v in r["round_images_per_s"]) + " |")
    lines += ["", *note_lines(res), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("variant", metavar="VARIANT_DIR", help="a dataset variant folder (its train split is used)")
    ap.add_argument("--size", type=int, default=0, help="input side (0 = the variant's own)")
    ap.add_argument("--batch-size", type=int, default=0, 
                    help="batch (0 = 64 on CPU, trainer fit's default; 256 on CUDA)")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed steps per loop (0 = 50 on CUDA; on CPU 20 at 128 px, scaled by (128/size)^2, min 5)")
    ap.add_argument("--warmup", type=int, default=0,
                    help="warm-up steps per loop (0 = 10 on CUDA; on CPU 3 up to 128 px, else 2)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--workers", type=int, default=-1,
                    help="DataLoader workers of ours (-1 = trainer fit's default 2 on CPU; min(8, cores) on CUDA)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="split the timed steps into rounds run in alternating loop order (A B C, C B A, ...)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = one per core)")
    ap.add_argument("--arch", default="resnet18", help="torchvision classifier (trainer.models.ARCHS)")
    ap.add_argument("--compile", action="store_true", help="torch.compile ours (trainer fit --compile)")
    ap.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                    help="turn cudnn.benchmark off for ours (trainer fit turns it on for CUDA, as the reference does)")
    ap.add_argument("--cache", default="auto", choices=("auto", "on", "off"),
                    help="trainer fit --cache: decoded train split kept in memory after the first epoch")
    ap.add_argument("--no-224", action="store_true", help="on CUDA, skip the extra measurement at 224")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    try:
        from datagen.devices import resolve_device
        from datagen.contract import load_variant
        from trainer.engine import FitConfig
        from trainer.models import ARCHS

        device = resolve_device(args.device)
        variant = load_variant(args.variant)
        if args.arch not in ARCHS:
            raise ValueError(f"unknown arch {args.arch!r}; choose one of: {', '.join(ARCHS)}")
        shards = variant.shards("train")
        n_train = variant.count("train")
        if not shards or n_train == 0:
            raise ValueError(f"{variant.path}: the train split is empty")
        cuda = device.type == "cuda"
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        args.size = args.size or variant.size
        args.batch_size = args.batch_size or (256 if cuda else FitConfig().batch_size)
        args.steps = args.steps or (50 if cuda else max(5, round(20 * (128 / args.size) ** 2)))
        args.warmup = args.warmup or (10 if cuda else (3 if args.size <= 128 else 2))
        args.workers = args.workers if args.workers >= 0 else (min(8, cores) if cuda else FitConfig().workers)
        if args.size < 16 or args.batch_size < 1 or args.steps < 1 or args.warmup < 1 or args.rounds < 1:
            raise ValueError("--size must be >= 16; --batch-size, --steps, --warmup and --rounds >= 1")
        args.rounds = min(args.rounds, args.steps)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads or cores)

    res: dict = {"command": " ".join(["python", "-m", "bench.train", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": machine(), "device": str(device),
                 "device_name": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.machine()})",
                 "threads": torch.get_num_threads(), "args": vars(args), "variant": str(variant.path),
                 "strategy": variant.strategy, "variant_size": variant.size, "train_shards": len(shards),
                 "train_samples": n_train, "runs": [], "notes": []}

    sizes = [args.size] + ([224] if cuda and args.size != 224 and not args.no_224 else [])
    need = args.batch_size * (args.warmup + args.steps)
    print(f"decoding up to {min(need, n_train)} train samples for the reference loop ...", file=sys.stderr)
    x, y, dec_s = decode_train(shards, need)
    res["notes"].append(f"reference data: {x.shape[0]} samples decoded once in {dec_s:.1f} s (not timed); "
                        f"{'the loader cycles over them' if x.shape[0] < need else 'no sample repeats'}")
    if x.shape[0] < args.batch_size:
        print(f"error: the train split has {x.shape[0]} samples, fewer than one batch of {args.batch_size}",
              file=sys.stderr)
        return 2
    for size in sizes:
        print(f"at {size} px, batch {args.batch_size} on {device}:", file=sys.stderr)
        res["runs"].extend(measure(args, device, size, variant, x, y))
    for size in sizes:
        by = {r["loop"]: r for r in res["runs"] if r["size"] == size}
        ratio = by["ours"]["images_per_s"] / by["reference"]["images_per_s"]
        res.setdefault("ratio_ours_over_reference", {})[str(size)] = ratio
        res["notes"].append(f"at {size} px: ours / reference = {ratio:.2f}x; ours with its loader reaches "
                            f"{100 * by['ours']['images_per_s'] / by['ours-resident']['images_per_s']:.0f} % of "
                            "its own device-resident step rate"
                            + (" (data loading is the limit)" if by["ours"]["images_per_s"]
                               < 0.9 * by["ours-resident"]["images_per_s"] else ""))
        if size != variant.size:
            res["notes"].append(f"at {size} px the {variant.size} px shards are resized per batch on the device by "
                                "train_one_epoch (ours), once in memory beforehand (reference)")
    if cuda and 224 in sizes:
        r224 = next(r for r in res["runs"] if r["size"] == 224 and r["loop"] == "ours")
        rr = next(r for r in res["runs"] if r["size"] == 224 and r["loop"] == "ours-resident")
        res["notes"].append(f"{res['device_name']}, 224 px, bf16: ours {r224['images_per_s']:,.0f} images/s "
                            "end to end, "
                            f"{rr['images_per_s']:,.0f} images/s device-resident (target >= 5,000 on an H100)")
    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
