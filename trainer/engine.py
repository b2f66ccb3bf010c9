"""``trainer fit`` the torchvision references' way: :func:`setup` (device, data, model, optimizer,
schedule, resume), :func:`train_one_epoch`, ``evaluate``, :func:`checkpoint`, and :func:`fit`
that runs them epoch after epoch.  The schedule is torch's own: a ``LinearLR`` warm-up, then
``CosineAnnealingLR`` (:func:`make_scheduler`).

One run per variant.  Best-by-val checkpoint ``model.pt`` and the latest ``last.pt`` (both
plain dicts that carry their config, written atomically); ``metrics.jsonl`` one line per epoch;
``curves.png`` and ``confusion.png`` at the end.  Under ``torchrun`` the model is wrapped in
DDP (gloo on CPU, nccl on CUDA), shards are split by node and worker, and rank 0 writes.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from datagen.devices import resolve_device
from datagen.contract import ANGLES, Variant
from .augment import make_augment
from .data import CACHES, TrainStream, VariantData, micro_batch
from .evaluate import evaluate
from .models import autocast
from .models import FORMAT, build_model, load_checkpoint, save_checkpoint
from .optim import OptimConfig


@dataclass
class FitConfig(OptimConfig):
    epochs: int = 8
    batch_size: int = 64
    warmup_epochs: float = 1.0
    size: int | None = None
    device: str = "auto"
    seed: int = 0
    workers: int = 2
    max_steps: int | None = None
    augment: str = "none"
    resume: bool = False
    arch: str = "resnet18"
    weights: str | None = None
    compile: bool = False
    cache: str = "auto"
    turns: bool = False
    val_every: int = 1  # validate every N epochs (and after the last)
    scan_strength: float = 1.0  # --augment scan: how often each degradation is drawn (0..2)
    crops: int = 0  # > 0: a multi-view model (the whole page + this many ink windows at inference)
    p_whole: float = 0.3  # multi-view training: the share of samples shown as the whole-page view
    init: str | None = None  # start from this docorient checkpoint's weights ("default": the shipped model)

    def validate(self):
        for k in ("epochs", "batch_size"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        for k in ("lr", "weight_decay", "warmup_epochs", "label_smoothing"):
            v = getattr(self, k)
            if not math.isfinite(v) or v < 0 or (k == "lr" and v == 0):
                raise ValueError(f"{k.replace('_', '-')} must be a finite number {'> 0' if k == 'lr' else '>= 0'}, "
                                 f"got {v}")
        if self.lr > 10:
            raise ValueError(f"lr must be at most 10, got {self.lr}")
        if self.label_smoothing >= 1:
            raise ValueError(f"label-smoothing must be < 1, got {self.label_smoothing}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max-steps must be >= 1, got {self.max_steps}")
        if self.size is not None and self.size < 16:
            raise ValueError(f"size must be >= 16, got {self.size}")
        make_augment(self.augment, self.scan_strength)
        if self.cache not in CACHES:
            raise ValueError(f"cache must be one of {', '.join(CACHES)}, got {self.cache!r}")
        if self.init and self.weights:
            raise ValueError("--init and --weights both choose the starting weights; give one of them")
        if not 0 <= self.crops <= 64 or not 0 <= self.p_whole <= 1:
            raise ValueError(f"crops must be 0..64 and p-whole 0..1, got {self.crops} and {self.p_whole}")


# the options a resumed run must share with the run it continues (the rest only change speed)
RESUME_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "warmup_epochs", "label_smoothing", "seed", "max_steps",
               "augment", "arch", "weights", "turns", "crops", "p_whole", "scan_strength", "init")


def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _plain(obj):
    """JSON-shaped copy (dicts, lists, str, numbers): what ``weights_only=True`` loads."""
    return json.loads(json.dumps(obj))


@dataclass
class FitRun:
    """One ``fit``: what its setup decides, and what its epochs read and change."""
    variant: Variant
    out: Path
    cfg: FitConfig
    log: Callable[[str], None]
    rank: int
    world: int
    local_rank: int
    device: torch.device
    size: int                    # the model's input side
    side: int                    # the variant's square side
    eval_spec: tuple | None      # how eval and calibration read the val squares (multi-view models)
    train_shards: list
    n_train: int
    steps_per_epoch: int
    total_steps: int
    model: torch.nn.Module = None
    net: torch.nn.Module = None  # what trains: the model, wrapped in DDP or compiled where asked
    optimizer: torch.optim.Optimizer = None
    scheduler: torch.optim.lr_scheduler.LRScheduler = None
    augment: torch.nn.Module | None = None
    val: VariantData | None = None
    state: dict = field(default_factory=lambda: {"epoch": 0, "step": 0, "best_val_acc": -1.0, "history": []})
    recipe: dict = field(default_factory=dict)
    corpus: dict = field(default_factory=dict)

    @property
    def main_proc(self) -> bool:
        return self.rank == 0

    @property
    def views(self) -> bool:
        return self.eval_spec is not None


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                   warmup_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning rate: a linear warm-up from ``lr / warmup_steps`` to ``lr`` over the first
    ``warmup_steps`` steps, then a cosine down to 0 at ``total_steps``."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=0.0)
    if warmup_steps == 0:
        return cosine
    warm = LinearLR(optimizer, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=max(1, warmup_steps - 1))
    return SequentialLR(optimizer, [warm, cosine], milestones=[warmup_steps])


def _resume_scheduler(scheduler, saved: dict, step: int) -> None:
    """Bring ``scheduler`` to ``step``: from its saved state, or, for a checkpoint that saved
    another scheduler's state, by stepping it there (the schedule depends on the step alone)."""
    if "_schedulers" in saved or not isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR):
        try:
            scheduler.load_state_dict(saved)
            return
        except (KeyError, TypeError, ValueError):
            pass
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": no training happens here
        for _ in range(step - scheduler.last_epoch):
            scheduler.step()


def random_turns(x: torch.Tensor, y: torch.Tensor, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn each square sample clockwise by a random multiple of 90 degrees, losslessly, and move
    its label with it (``--turns``: an upright-only variant becomes four classes).  The draw
    depends on (seed, step) only, so a run is reproducible and a resumed run draws the same."""
    g = torch.Generator().manual_seed(seed * 1000003 + step)
    k = torch.randint(0, 4, (x.shape[0],), generator=g)
    out = x.clone()
    for j in (1, 2, 3):
        sel = (k == j).nonzero()[:, 0].to(x.device)
        if len(sel):
            out[sel] = torch.rot90(x[sel], k=-j, dims=(-2, -1))  # clockwise by 90 j
    return out, (y + k.to(y.device)) % 4


def random_views(x: torch.Tensor, size: int, p_whole: float, seed: int, step: int) -> torch.Tensor:
    """Training views of ``(B, 1, side, side)`` squares (8-bit or float in [0, 1]; ``side`` a
    multiple of ``size``): with probability ``p_whole`` the whole page, averaged down to ``size``
    as the model-input function does; else a window around a random inky point, at a random
    scale within [0.8, 1.25] of the full resolution (text of other sizes), resized to ``size``.
    Label-blind: the point is drawn from the ink of the image itself, uniformly, whatever the
    class.  Draws depend on (seed, step) only.  Returns ``(B, 1, size, size)`` float in [0, 1]."""
    b, _, side, _ = x.shape
    f = side // size
    scale255 = 255.0 if x.dtype == torch.uint8 else 1.0
    g = torch.Generator().manual_seed(seed * 7919 + step + 1)
    whole = torch.rand(b, generator=g) < p_whole
    out = torch.empty(b, 1, size, size, dtype=torch.float32, device=x.device)
    coarse = x[:, :, f // 2::f, f // 2::f].float() / scale255  # (B, 1, size, size): where the ink is, cheaply
    paper = coarse.flatten(1).median(1).values.view(b, 1, 1, 1)
    ink = ((coarse - paper).abs() > 0.25).flatten(1).float().cpu() + 1e-6  # (B, size * size)
    cells = torch.multinomial(ink, 1, generator=g)[:, 0]
    scale = 0.8 + 0.45 * torch.rand(b, generator=g)
    jitter = torch.rand(b, 2, generator=g) - 0.5
    for i in range(b):
        if bool(whole[i]):
            page = x[i:i + 1].float() / scale255
            out[i] = (torch.floor(F.avg_pool2d(page, f) * 255 + 0.5) / 255)[0] if f > 1 else page[0]
            continue
        w = max(8, min(side, int(round(size * float(scale[i])))))
        cy = (int(cells[i]) // size + 0.5 + float(jitter[i, 0])) * f
        cx = (int(cells[i]) % size + 0.5 + float(jitter[i, 1])) * f
        top = int(min(max(0, round(cy - w / 2)), side - w))
        left = int(min(max(0, round(cx - w / 2)), side - w))
        crop = x[i:i + 1, :, top:top + w, left:left + w].float() / scale255
        if w != size:
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i] = crop[0]
    return out


def views_mode(side: int, size: int, crops: int) -> bool:
    """Does a model of input ``size`` see views of ``side``-px squares (block-mean whole pages, as
    inference makes them, or multi-view windows) rather than the squares resized?"""
    return bool(crops) or (side != size and side % size == 0)


def code_version() -> dict:
    """The package version and, in a git checkout, the commit (dirty or not) the run was made with."""
    import subprocess

    from datagen import __version__

    out = {"docorient": __version__}
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            out["git"] = rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out


def _diverged(state: dict, loss) -> None:
    raise RuntimeError(f"training diverged: the loss became non-finite by step {state['step']} (try a smaller --lr); "
                       "nothing of this epoch was saved, the checkpoints of the last finished epoch are kept")


def train_one_epoch(model, loader, optimizer, scheduler, device, size, augment, cfg: FitConfig, state: dict,
                    bar=None) -> dict:
    """One pass over ``loader``; loss and accuracy are summed on the device and read once at
    the end (and every 20 steps for the progress bar), so CUDA never waits on the host per step."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    finite = torch.ones((), device=device, dtype=torch.bool)
    seen, t0 = 0, time.perf_counter()
    for i, (images, labels) in enumerate(loader):
        if cfg.max_steps is not None and state["step"] >= cfg.max_steps:
            break
        y = labels.to(device, non_blocking=True)
        side = images.shape[-1]
        if views_mode(side, size, cfg.crops):
            # views first, on the 8-bit pages (a quarter turn commutes with them): the big pages are
            # never converted to float as a whole
            x = random_views(images.to(device, non_blocking=True), size, cfg.p_whole if cfg.crops else 1.0,
                             cfg.seed, state["step"])
        else:
            x = images.to(device, non_blocking=True).float().div_(255.0)  # (B, 1, H, W)
            if side != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        if cfg.turns:
            x, y = random_turns(x, y, cfg.seed, state["step"])
        if augment is not None:
            x = augment(x)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        finite &= torch.isfinite(loss.detach())
        if i % 50 == 0 and not bool(finite):  # a host sync every 50 steps, not every step
            _diverged(state, loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        state["step"] += 1
        n = y.shape[0]
        loss_sum += loss.detach() * n
        correct += (logits.detach().argmax(1) == y).sum()
        seen += n
        if bar is not None:
            bar.update(n)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}", acc=f"{int(correct) / seen:.3f}", refresh=False)
    if not bool(finite):
        _diverged(state, None)
    el = time.perf_counter() - t0
    return {"train_loss": float(loss_sum) / max(seen, 1), "train_acc": int(correct) / max(seen, 1),
            "train_samples": seen, "images_per_s": seen / el if el > 0 else 0.0}


def _val_data(variant: Variant, size: int, turns: bool = False) -> VariantData | None:
    if variant.count("val") == 0:
        return None
    return VariantData(variant, "val", size, turns=turns)


def _init_weights(cfg: FitConfig) -> dict | None:
    """The state dict ``--init`` starts from (float32), or None; ValueError (one line, naming the
    file) when it is not a docorient checkpoint of the asked ``--arch``."""
    if not cfg.init:
        return None
    from .infer import DEFAULT_PT
    from .models import model_from_checkpoint

    src = DEFAULT_PT if cfg.init == "default" else Path(cfg.init)
    if cfg.init == "default" and not src.is_file():
        raise ValueError(f"--init default: this installation has no shipped model ({src})")
    ck = load_checkpoint(src)
    if ck["arch"] != cfg.arch:
        raise ValueError(f"{src}: --init is a {ck['arch']}, the command asks for --arch {cfg.arch}; "
                         f"add --arch {ck['arch']}")
    return model_from_checkpoint(ck, "cpu", src).state_dict()


def _device(cfg: FitConfig, world: int, local_rank: int) -> torch.device:
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def setup(variant: Variant, out: str | os.PathLike, cfg: FitConfig, log: Callable[[str], None]) -> FitRun:
    """Everything a fit decides before its first step: device and process group, the train
    shards (verified), the step counts, the model (``--init`` weights), optimizer and schedule,
    a resumed state, the augmentation and the val split.  Raises ValueError (one line) on a
    variant or options it cannot train with, before anything is written but the folder."""
    cfg.validate()
    rank, world, local_rank = dist_info()
    init = _init_weights(cfg)  # checked before anything is written
    device = _device(cfg, world, local_rank)
    _seed_all(cfg.seed + rank)
    out = Path(out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    size, side = cfg.size or variant.size, variant.size
    views = views_mode(side, size, cfg.crops)
    if cfg.crops and side % size:
        raise ValueError(f"{variant.path}: a multi-view model needs the variant's size ({side}) to be a multiple of "
                         f"--size ({size}); rebuild it with datagen build --size {size * max(1, side // size)}")
    from datagen.contract import verify_shards

    train_shards = verify_shards(variant, "train")  # sha256 against dataset.json: no foreign or cut shard
    n_train = variant.count("train")
    if not train_shards or n_train == 0:
        raise ValueError(f"{variant.path}: the train split is empty; nothing to fit")
    if world > 1 and len(train_shards) < world * max(1, cfg.workers):
        raise ValueError(f"{variant.path}: DDP over {world} ranks x {max(1, cfg.workers)} workers needs at least "
                         f"{world * max(1, cfg.workers)} train shards, the variant has {len(train_shards)}; rebuild "
                         "it with a smaller --shard-size or use fewer --workers")
    steps_per_epoch = max(1, math.ceil(n_train / (cfg.batch_size * world)))
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    run = FitRun(variant, out, cfg, log, rank, world, local_rank, device, size, side,
                 (size, side, cfg.crops) if views else None, train_shards, n_train, steps_per_epoch, total_steps)
    _build(run, init)
    _resume_or_start(run)
    _train_parts(run)
    return run


def _build(run: FitRun, init: dict | None) -> None:
    """The model (from ``--init`` weights where given) on its device, AdamW and the schedule."""
    cfg, device = run.cfg, run.device
    model = build_model(cfg.arch, cfg.weights)
    if init is not None:
        model.load_state_dict(init)
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
    run.model = model
    run.optimizer = cfg.adamw(model.parameters())
    warmup = min(int(cfg.warmup_epochs * run.steps_per_epoch), max(0, run.total_steps // 5))
    run.scheduler = make_scheduler(run.optimizer, run.total_steps, warmup)


def _resume_or_start(run: FitRun) -> None:
    """``--resume``: the state of ``last.pt``, refused (ValueError) where it belongs to another
    build, model or recipe; a fresh run: the files of an earlier run in the folder removed."""
    cfg, variant, out, log, state = run.cfg, run.variant, run.out, run.log, run.state
    last = out / "last.pt"
    if not (cfg.resume and last.exists()):
        if run.main_proc:  # a fresh run: nothing of an earlier run in this folder may pass for this one's
            for name in ("metrics.jsonl", "model.pt", "last.pt", "summary.json", "curves.png", "confusion.png"):
                (out / name).unlink(missing_ok=True)
        return
    ck = load_checkpoint(last)
    if ck.get("dataset_digest") != variant.digest:
        raise ValueError(f"{last}: --resume refused: it was trained on a different build of {variant.name} "
                         "(dataset.json digest differs); start a fresh run without --resume")
    if ck.get("arch") != cfg.arch or ck.get("input_size") != run.size:
        raise ValueError(f"{last}: --resume refused: checkpoint is {ck.get('arch')} at {ck.get('input_size')} px, "
                         f"the command asks for {cfg.arch} at {run.size} px")
    changed = [k for k in RESUME_KEYS if ck.get("config", {}).get(k) != json.loads(json.dumps(asdict(cfg)))[k]]
    if changed:
        was = ", ".join(f"{k.replace('_', '-')} {ck['config'].get(k)!r} -> {getattr(cfg, k)!r}" for k in changed)
        raise ValueError(f"{last}: --resume refused: the command changes {was}; resume with the options of the "
                         "first run, or start a fresh run without --resume")
    run.model.load_state_dict(ck["model"])
    run.optimizer.load_state_dict(ck["optimizer"])
    _resume_scheduler(run.scheduler, ck["scheduler"], ck["step"])
    state.update(epoch=ck["epoch"], step=ck["step"], best_val_acc=ck["metrics"]["best_val_acc"],
                 history=list(ck["metrics"]["history"]))
    if run.main_proc and state["epoch"] >= cfg.epochs:
        log(f"{variant.name}: already trained for {state['epoch']} epochs; nothing to resume")
    elif run.main_proc:
        log(f"resuming {variant.name} after epoch {state['epoch']} (step {state['step']})")


def _train_parts(run: FitRun) -> None:
    """What trains (DDP, compiled), the augmentation, the val split, and what the checkpoints
    say of the recipe and the corpus."""
    cfg, variant, device = run.cfg, run.variant, run.device
    net = run.model
    if run.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(run.model, device_ids=[run.local_rank]
                                                        if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    run.net = net
    augment = make_augment(cfg.augment, cfg.scan_strength)
    run.augment = augment.to(device) if augment is not None else None
    if cfg.turns and variant.record.get("config", {}).get("rotation") != "exact":
        raise ValueError(f"{variant.path}: --turns turns samples losslessly, which only an exact variant allows "
                         f"(this one is {variant.strategy}: its artifacts would turn with the page)")
    run.val = _val_data(variant, run.side if run.views else run.size, turns=cfg.turns) if run.main_proc else None
    run.recipe = {"command": " ".join(["trainer"] + sys.argv[1:]) if sys.argv and "trainer" in sys.argv[0] else None,
                  "config": _plain(asdict(cfg))}
    rec = variant.record
    run.corpus = {"variant": variant.name, "dataset_digest": variant.digest, "sources": rec.get("sources"),
                  "documents": len(rec.get("documents", [])),
                  "counts": {s: rec.get("counts", {}).get(s, {}).get("total") for s in ("train", "val", "test")},
                  "build": {k: rec.get("config", {}).get(k) for k in ("rotation", "size", "dpi", "angles", "seed")}}


def checkpoint(run: FitRun, metrics: dict) -> dict:
    """The checkpoint of ``run`` as it stands: a plain dict that carries its config, data and recipe."""
    cfg, variant, state = run.cfg, run.variant, run.state
    return {"format": FORMAT, "arch": cfg.arch, "classes": list(ANGLES), "input_size": run.size, "in_channels": 1,
            **({"page_side": run.side, "crops": cfg.crops} if run.views else {}),
            "normalize": {"mean": 0.5, "std": 0.5}, "variant": variant.name, "strategy": variant.strategy,
            "dataset_path": str(variant.path.resolve()), "dataset_digest": variant.digest,
            "dataset_config": _plain(variant.record.get("config", {})), "config": _plain(asdict(cfg)),
            "epoch": state["epoch"], "step": state["step"], "metrics": _plain(metrics),
            "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "versions": {"torch": str(torch.__version__)},
            "recipe": run.recipe, "corpus": run.corpus, "code_version": code_version()}


def _end_of_epoch(run: FitRun, tr: dict, t_start: float) -> None:
    """Validate (every ``--val-every`` epochs and after the last), append to ``metrics.jsonl``,
    save ``last.pt`` and, when it is the best yet, ``model.pt``; log one line."""
    cfg, state = run.cfg, run.state
    row = {"epoch": state["epoch"], "step": state["step"], **tr, "lr": run.optimizer.param_groups[0]["lr"]}
    if run.val is not None and (state["epoch"] % cfg.val_every == 0 or state["epoch"] == cfg.epochs):
        vr = evaluate(run.model, run.val, run.device, batch_size=max(64, cfg.batch_size), spec=run.eval_spec)
        row.update(val_acc=vr.accuracy, val_n=vr.n, val_confusion=vr.confusion.tolist())
    else:
        row.update(val_acc=None, val_n=0, val_confusion=None)
    row["elapsed_s"] = round(time.time() - t_start, 2)
    state["history"].append(row)
    with open(run.out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    validated = run.val is None or row["val_acc"] is not None
    score = row["val_acc"] if row["val_acc"] is not None else row["train_acc"]
    improved = validated and score > state["best_val_acc"]
    if improved:
        state["best_val_acc"] = score
    ck = checkpoint(run, {"best_val_acc": state["best_val_acc"], "history": state["history"]})
    save_checkpoint(run.out / "last.pt", ck)
    if improved:
        save_checkpoint(run.out / "model.pt", ck)
    val_txt = f"{100 * row['val_acc']:.1f} %" if row["val_acc"] is not None else "n/a"
    run.log(f"{run.variant.name} epoch {state['epoch']}/{cfg.epochs}: loss {tr['train_loss']:.3f}  "
            f"train acc {100 * tr['train_acc']:.1f} %  val acc {val_txt}  {tr['images_per_s']:.0f} img/s"
            + ("  *best" if improved else ""))


def _calibrate_best(run: FitRun) -> None:
    """The best checkpoint gets its temperature and review threshold on the val split, once."""
    best_path = run.out / "model.pt"
    if run.val is not None and best_path.exists():
        best = load_checkpoint(best_path)
        if "temperature" not in best:
            run.model.load_state_dict(best["model"])
            best.update(calibrate_model(run.model, run.val, run.device, run.log, spec=run.eval_spec))
            save_checkpoint(best_path, best)


def fit(variant: Variant, out: str | os.PathLike, cfg: FitConfig, progress: bool = True, log=None) -> dict:
    """Train one model on ``variant`` into ``out``; returns the final summary dict."""
    from tqdm import tqdm

    run = setup(variant, out, cfg, log or (lambda s: print(s, file=sys.stderr, flush=True)))
    state = run.state
    t_start = time.time()
    micro = micro_batch(cfg.batch_size)
    ddp_micro = (math.ceil(run.steps_per_epoch * cfg.batch_size / micro / max(1, cfg.workers))
                 if run.world > 1 else None)
    stream = TrainStream(run.train_shards, run.n_train, variant.size, cfg.batch_size, cfg.seed, cfg.workers,
                         pin_memory=run.device.type == "cuda", cache=cfg.cache, ddp_micro=ddp_micro)
    if state["epoch"] > 0 and state["epoch"] < cfg.epochs:
        stream.fill()  # a resumed run draws the same batches as an uninterrupted one
    while state["epoch"] < cfg.epochs and (cfg.max_steps is None or state["step"] < cfg.max_steps):
        bar = tqdm(total=min(run.n_train, run.steps_per_epoch * cfg.batch_size), unit="img", file=sys.stderr,
                   desc=f"{variant.name} epoch {state['epoch'] + 1}/{cfg.epochs}",
                   disable=not (progress and run.main_proc), dynamic_ncols=True, mininterval=0.5, leave=False)
        tr = train_one_epoch(run.net, stream.epoch(state["epoch"]), run.optimizer, run.scheduler, run.device,
                             run.size, run.augment, cfg, state, bar)
        bar.close()
        state["epoch"] += 1
        if run.world > 1:
            dist.barrier()
        if run.main_proc:
            _end_of_epoch(run, tr, t_start)
    if run.world > 1:
        dist.barrier()
    if not run.main_proc:
        return {}
    _calibrate_best(run)
    return finish_run(run.out, variant, state)


def calibrate_model(model, data, device, log=None, spec=None, target_risk: float | None = None) -> dict:
    """Temperature and review threshold of ``model`` on labelled ``data``: the fields a
    checkpoint carries (``temperature``, ``review_threshold``, ``calibration``).  The threshold
    is the lowest at which the pages kept are at most ``target_risk`` wrong (default 1 %)."""
    from .calibrate import TARGET_RISK, calibration, fit_temperature, review_threshold

    target_risk = TARGET_RISK if target_risk is None else float(target_risk)

    res = evaluate(model, data, device, batch_size=128, spec=spec)
    if res.n == 0:
        raise ValueError(f"{data.describe()}: no sample could be evaluated; nothing to calibrate on")
    p = np.stack(res.probs)
    y = np.asarray(res.labels)
    logp = np.log(np.clip(p, 1e-12, 1))  # log-probabilities: softmax(logp / T) == softmax(logits / T)
    t = fit_temperature(logp, y)
    z = logp / t
    pt = np.exp(z - z.max(1, keepdims=True))
    pt /= pt.sum(1, keepdims=True)
    before, after = calibration(p, y)["ece"], calibration(pt, y)["ece"]
    rt = review_threshold(pt.max(1), pt.argmax(1) == y, target_risk)
    info = {"temperature": round(float(t), 4), "review_threshold": round(float(rt["threshold"]), 4),
            "calibration": {"data": data.describe(), "n": int(res.n), "accuracy": res.accuracy,
                            "ece_before": before, "ece_after": after, "target_risk": target_risk,
                            "coverage_at_threshold": rt["coverage"], "risk_at_threshold": rt["risk"]}}
    if log:
        log(f"calibrated on {data.describe()}: temperature {t:.3f}, ECE {100 * before:.2f} % -> {100 * after:.2f} %, "
            f"review threshold {rt['threshold']:.3f} (turns {100 * rt['coverage']:.1f} % of pages at "
            f"<= {100 * target_risk:g} % error)")
    return info


def finish_run(out: Path, variant: Variant, state: dict) -> dict:
    from .plots import plot_confusion, plot_curves

    hist = state["history"]
    if not hist:
        raise RuntimeError(f"{out}: no epoch finished; nothing to summarise")
    plot_curves(hist, out / "curves.png", title=f"{variant.name} ({variant.strategy})")
    scored = [h for h in hist if h["val_acc"] is not None] or hist
    best = max(scored, key=lambda h: h["val_acc"] if h["val_acc"] is not None else h["train_acc"])
    if best.get("val_confusion") is not None:
        plot_confusion(best["val_confusion"], out / "confusion.png",
                       title=f"{variant.name}: val, epoch {best['epoch']}")
    else:
        plot_confusion(np.zeros((4, 4)), out / "confusion.png", title=f"{variant.name}: no val split")
    summary = {"variant": variant.name, "strategy": variant.strategy, "run": str(out),
               "epochs": hist[-1]["epoch"], "steps": hist[-1]["step"], "best_epoch": best["epoch"],
               "best_val_acc": best["val_acc"], "train_acc": hist[-1]["train_acc"],
               "images_per_s": float(np.mean([h["images_per_s"] for h in hist])), "elapsed_s": hist[-1]["elapsed_s"]}
    from datagen.contract import write_json_atomic

    write_json_atomic(out / "summary.json", summary)
    return summary


def summary_table(rows: list[dict]) -> str:
    head = f"{'variant':<18} {'strategy':<15} {'epochs':>6} {'best val acc':>12} {'train acc':>9} {'img/s':>7}  run"
    lines = [head, "-" * len(head)]
    for r in rows:
        v = f"{100 * r['best_val_acc']:.1f} %" if r["best_val_acc"] is not None else "n/a"
        lines.append(f"{r['variant']:<18} {r['strategy']:<15} {r['epochs']:>6} {v:>12} {100 * r['train_acc']:>7.1f} % "
                     f"{r['images_per_s']:>7.0f}  {r['run']}")
    return "\n".join(lines)
