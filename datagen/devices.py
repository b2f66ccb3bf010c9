"""``--device``: one rule for every command.  ``auto`` is CUDA when available, else the CPU;
``cuda`` or ``cuda:N`` without a GPU is an error, never a silent fallback."""
from __future__ import annotations

import re

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def check_device(name: str) -> str:
    """Validate the spelling of a device name (no torch needed); returns it."""
    if name in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", name or ""):
        return name
    raise ValueError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")


def resolve_device(name: str):
    """``auto`` = cuda when available, else cpu; a CUDA device that is not there is an error."""
    import torch

    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here; use --device cpu or auto")
    dev = torch.device(name)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} GPU(s)")
    return dev


def click_device(ctx, param, value):
    """The ``--device`` option's click callback, shared by the three command lines."""
    import click

    try:
        return check_device(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
