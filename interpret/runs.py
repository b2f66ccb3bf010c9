"""The runs that ``interpret compare`` and ``interpret audit`` read: folders with a ``model.pt``,
each loaded with the dataset variant it was trained on."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from datagen.contract import is_variant, load_variant
from trainer.models import load_model


@dataclass
class Run:
    name: str
    path: Path
    ckpt_path: Path


def find_runs(paths: list[Path], log=print) -> tuple[list[Run], list[str]]:
    """Runs to compare: named folders (each must hold model.pt) or, with none named, every
    folder under ``runs/`` (those without model.pt are skipped and reported).

    Returns:
        ``(runs, skipped)``: the runs, and one line per folder of ``runs/`` left out.
    """
    if paths:
        runs = []
        for p in paths:
            p = Path(p)
            ck = p if p.suffix == ".pt" else p / "model.pt"
            if not p.exists():
                raise ValueError(f"{p}: no such run folder")
            if not ck.is_file():
                raise ValueError(f"{p}: not a run folder (no model.pt); train one with 'trainer fit'")
            runs.append(Run(ck.parent.name, ck.parent, ck))
        return runs, []
    base = Path("runs")
    if not base.is_dir():
        raise ValueError("no runs/ folder here: train models with 'trainer fit shards/' or name RUN_DIRs")
    runs, skipped = [], []
    for d in sorted(base.iterdir()):
        if not d.is_dir():
            continue
        if (d / "model.pt").is_file():
            runs.append(Run(d.name, d, d / "model.pt"))
        else:
            skipped.append(f"{d}: no model.pt (unfinished run?)")
            log(f"skipping {d}: no model.pt")
    if not runs:
        raise ValueError("runs/ holds no run with a model.pt: train models with 'trainer fit shards/'")
    return runs, skipped


def load_runs(runs: list[Run], device: torch.device, missing: str | None) -> list[tuple]:
    """``(run, model, checkpoint, variant)`` per run, the variant being the run's training data, or
    None when it is gone; with ``missing`` set, a gone variant is an error that ends with it."""
    loaded = []
    for r in runs:
        model, ck = load_model(r.ckpt_path, device)
        vpath = Path(ck.get("dataset_path", ""))
        variant = load_variant(vpath) if is_variant(vpath) else None
        if variant is None and missing:
            raise ValueError(f"{r.ckpt_path}: its training data {vpath} is gone; {missing}")
        loaded.append((r, model, ck, variant))
    return loaded
