"""Training the window model (``trainer fit-windows WINDOWS/ --out RUN/``).

Windows come upright from ``datagen windows``; each one is turned by a quarter drawn for it
alone, and that turn is its label, so nothing but the glyphs can tell the class.  AdamW with a
linear warm-up and a cosine decay (``SequentialLR``), label smoothing, bf16 autocast where the
CPU has it.  Every ``--val-every`` steps: window accuracy and page accuracy (``K`` windows voted)
on the validation documents; the last checkpoint is ``model.pt`` with its page temperature fitted
on validation pages (:func:`calibrate`).  ``--resume`` continues from ``last.pt``.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .glyphnet import GlyphNet, page_probs, page_scores
from .optim import OptimConfig

WINDOW_KIND = "windows"


@dataclass
class WindowFit(OptimConfig):
    epochs: float = 3.0
    batch_size: int = 128
    warmup: int = 300
    val_every: int = 2000
    val_windows: int = 20000
    k: int = 16  # windows a page votes with
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)
    bf16: bool = True
    max_steps: int = 0  # 0: epochs decide


def _turned(batch: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each ``(W, W)`` window of ``batch`` turned counter-clockwise by its own random quarter,
    and the labels (classes of the clockwise turn it then shows)."""
    k = torch.from_numpy(rng.integers(0, 4, len(batch)))
    out = torch.empty_like(batch)
    for q in range(4):
        m = k == q
        if m.any():
            out[m] = torch.rot90(batch[m], q, dims=(1, 2))
    return out, (-k) % 4


def _as_input(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(1).float().div_(255.0).contiguous(memory_format=torch.channels_last)


def window_logits(model: nn.Module, windows: np.ndarray, batch: int = 512) -> np.ndarray:
    """Logits ``(n, 4)`` of upright-as-given ``(n, W, W)`` uint8 windows."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            out.append(model(_as_input(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch])))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 4), np.float32)


def page_groups(pages: np.ndarray, k: int) -> list[np.ndarray]:
    """Per validation page, the indices of its first ``k`` windows (the cut order spreads them)."""
    order = np.argsort(pages, kind="stable")
    bounds = np.nonzero(np.r_[True, pages[order][1:] != pages[order][:-1], True])[0]
    return [order[a:b][:k] for a, b in zip(bounds[:-1], bounds[1:])]


def val_pages(model: nn.Module, ws, k: int, seed: int = 1, limit: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Page evidence ``(n, 4)`` and labels ``(n,)`` of up to ``limit`` validation pages, each
    turned by a quarter drawn for the page (all its windows the same way)."""
    rng = np.random.default_rng(seed)
    groups = page_groups(np.asarray(ws.val_pages), k)
    if len(groups) > limit:
        groups = [groups[i] for i in np.sort(rng.choice(len(groups), limit, replace=False))]
    scores, labels = [], []
    for g in groups:
        q = int(rng.integers(4))
        w = np.rot90(np.asarray(ws.val[np.sort(g)]), q, axes=(1, 2))
        scores.append(page_scores(window_logits(model, w)))
        labels.append((-q) % 4)
    return np.array(scores), np.array(labels)


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The page temperature that minimises the validation pages' negative log-likelihood."""
    best, best_t = math.inf, 1.0
    for t in np.exp(np.linspace(math.log(0.2), math.log(40), 200)):
        p = page_probs(scores, t)[np.arange(len(labels)), labels]
        nll = -np.log(np.clip(p, 1e-12, 1)).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def _evaluate(model, ws, cfg: WindowFit, rng) -> dict:
    if len(ws.val) == 0:
        return {"window_acc": None, "page_acc": None, "pages": 0}
    n = min(cfg.val_windows, len(ws.val))
    idx = np.sort(rng.choice(len(ws.val), n, replace=False)) if n < len(ws.val) else np.arange(n)
    x, y = _turned(torch.from_numpy(np.array(ws.val[idx])), np.random.default_rng(cfg.seed + 7))
    z = window_logits(model, x.numpy())
    scores, labels = val_pages(model, ws, cfg.k)
    model.train()
    return {"window_acc": float((z.argmax(1) == y.numpy()).mean()),
            "page_acc": float((scores.argmax(1) == labels).mean()) if len(labels) else None, "pages": int(len(labels))}


def _save(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _schedule(opt, cfg: WindowFit, total: int):
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    warm = max(1, min(cfg.warmup, total // 10))
    return SequentialLR(opt, [LinearLR(opt, 0.01, 1.0, total_iters=warm),
                              CosineAnnealingLR(opt, T_max=max(1, total - warm), eta_min=cfg.lr * 0.01)], [warm])


def fit_windows(windows: str | os.PathLike, out: str | os.PathLike, cfg: WindowFit, resume: bool = False,
                log=print) -> Path:
    """Train GlyphNet on a ``datagen windows`` folder into ``out`` (``model.pt``, ``last.pt``,
    ``log.jsonl``); returns the path of ``model.pt``."""
    from datagen.windows import load_windows

    ws = load_windows(windows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train = torch.from_numpy(np.array(ws.train))  # into memory (a writable copy): random batches
    n = len(train)
    if n < cfg.batch_size:
        raise ValueError(f"{windows}: {n} training windows, fewer than one batch of {cfg.batch_size}")
    steps_per_epoch = n // cfg.batch_size
    total = cfg.max_steps or int(cfg.epochs * steps_per_epoch)
    model = GlyphNet().to(memory_format=torch.channels_last)
    opt = cfg.adamw(model.parameters())
    sched = _schedule(opt, cfg, total)
    step, history = 0, []
    last = out / "last.pt"
    if resume and last.is_file():
        st = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
        step, history = int(st["step"]), st["history"]
        log(f"fit-windows: resumed at step {step}/{total}")
    rng = np.random.default_rng([cfg.seed, step])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    use_bf16 = cfg.bf16 and torch.backends.mkldnn.is_available()
    model.train()
    t0, seen, run_loss = time.time(), 0, 0.0
    while step < total:
        idx = torch.from_numpy(rng.integers(0, n, cfg.batch_size))
        x, y = _turned(train[idx], rng)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            loss = loss_fn(model(_as_input(x)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        seen += len(x)
        run_loss += float(loss.detach())
        if step % 200 == 0:
            log(f"step {step}/{total} loss {run_loss / 200:.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"{seen / (time.time() - t0):.0f} win/s")
            run_loss = 0.0
        if step % cfg.val_every == 0 or step == total:
            res = {"step": step, **_evaluate(model, ws, cfg, np.random.default_rng(cfg.seed))}
            history.append(res)
            log(f"val {json.dumps(res)}")
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(res) + "\n")
            _save(last, {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                         "step": step, "history": history})
    scores, labels = val_pages(model, ws, cfg.k, seed=2, limit=2000)
    temperature = fit_temperature(scores, labels) if len(labels) else 1.0
    ck = checkpoint(model, ws.meta, cfg, temperature, history)
    _save(out / "model.pt", ck)
    log(f"fit-windows: {out / 'model.pt'} (page temperature {temperature:.3f} on {len(labels)} validation pages)")
    return out / "model.pt"


def checkpoint(model: nn.Module, windows_meta: dict, cfg: WindowFit, temperature: float, history: list) -> dict:
    """The window model's checkpoint: weights and the contract a prediction needs."""
    wcfg = windows_meta.get("config", {})
    return {"kind": WINDOW_KIND, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "classes": [0, 90, 180, 270], "win": int(windows_meta.get("win", 64)),
            "target": float(wcfg.get("target", 7.0)), "k": int(cfg.k), "temperature": float(temperature),
            "fit": asdict(cfg), "windows": {"config": wcfg, "counts": windows_meta.get("counts")},
            "history": history}


def load_window_model(path: str | os.PathLike | dict) -> tuple[GlyphNet, dict]:
    """A window checkpoint's GlyphNet (float32, eval mode) and the checkpoint dict; ``path`` is
    the checkpoint's file, or the checkpoint dict already read from it (then nothing is read)."""
    ck = path if isinstance(path, dict) else torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ck, dict) or ck.get("kind") != WINDOW_KIND:
        name = "checkpoint" if isinstance(path, dict) else path
        raise ValueError(f"{name}: not a window model checkpoint (trainer fit-windows writes one)")
    net = GlyphNet()
    net.load_state_dict({k: v.float() for k, v in ck["model"].items()})
    return net.eval(), ck
