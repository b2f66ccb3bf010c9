"""What the benchmarks share: the machine description, CUDA sync, the command line, the notes
footer of a report, the JSON write."""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _tool_version(cmd: list[str]) -> str | None:
    if not shutil.which(cmd[0]):
        return None
    p = subprocess.run(cmd, capture_output=True, text=True)
    out = ((p.stdout or "") + (p.stderr or "")).strip().splitlines()
    return out[0].split()[-1] if out else "?"


def machine(modules: tuple[str, ...] = (), tools: tuple[str, ...] = ()) -> dict:
    """CPU model, cores, load, Python, torch (threads, GPU, CUDA) and the versions of ``modules``
    (import names) and ``tools`` (``pdftoppm``, ``tesseract``) that are present."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    m = {"cpu": _cpu_model(), "cores": cores, "loadavg_1min": round(os.getloadavg()[0], 2),
         "python": platform.python_version(), "gpu": None}
    try:
        import torch

        m.update(torch=str(torch.__version__), torch_threads=torch.get_num_threads())
        if torch.cuda.is_available():
            m.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda)
    except ImportError:
        pass
    for name in modules:
        try:
            mod = __import__(name)
        except ImportError:
            continue
        if name == "pypdfium2":  # the pdfium build, not the wrapper's version
            m["pdfium"] = str(getattr(getattr(mod, "version", None), "PDFIUM_INFO", None) and mod.version.PDFIUM_INFO.build)
        else:
            m[name] = str(getattr(mod, "__version__", "?"))
    versions = {"pdftoppm": (["pdftoppm", "-v"], "poppler"), "tesseract": (["tesseract", "--version"], "tesseract")}
    for tool in tools:
        cmd, key = versions[tool]
        v = _tool_version(cmd)
        if v is not None:
            m[key] = v
    return m


def sync(device) -> None:
    """Wait for the GPU before reading a clock."""
    if getattr(device, "type", device) == "cuda":
        import torch

        torch.cuda.synchronize(device)


def free_cache(device) -> None:
    """Give the GPU's cached blocks back between measurements, so one does not inherit another's
    memory (nothing on the CPU)."""
    if getattr(device, "type", device) == "cuda":
        import torch

        torch.cuda.empty_cache()


def arg_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser: its module docstring's first paragraph as the description, with
    defaults shown in ``--help``."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def report_head(res: dict, title: str, tools: str, device: str | None = None) -> list[str]:
    """The first lines of a benchmark's Markdown report: the title, the command, the machine (with
    ``tools``, the versions the benchmark cares about, written after torch's), the device line where
    ``device`` is given (after the device's name and torch's threads) and the load average, with a
    warning where the machine was already busy at the start."""
    m = res["machine"]
    lines = [f"## {title}", "",
             f"Command: `{res['command']}`  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; GPU: {m['gpu'] or 'none'}; torch {m['torch']}{tools}, "
             f"Python {m['python']}  "]
    if device is not None:
        lines.append(f"Device: {res['device_name']}; torch threads {res['threads']}; {device}  ")
    lines.append(f"Load average (1 min) at start {m['loadavg_1min']:g}, at end {res['loadavg_end']:g} (includes this run)"
                 + (" -- OTHER LOAD ON THE MACHINE AT START, figures are pessimistic"
                    if m["loadavg_1min"] > 0.5 * m["cores"] else "") + "  ")
    return lines


def text_page(width: int = 170, height: int = 220, seed: int = 0, paper: int = 255, ink: int = 0,
              margin: int | None = None):
    """A text-like page (PIL ``L``): a heading bar at the top left, then left-aligned lines of
    "words" (dark bars), some lines short; the same page for the same arguments."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    m = margin if margin is not None else max(4, width // 16)
    im = Image.new("L", (width, height), paper)
    d = ImageDraw.Draw(im)
    bar = max(2, height // 55)
    d.rectangle([m, m, m + width // 2, m + 3 * bar], fill=ink)  # heading, top left
    y = m + 6 * bar
    while y < height - m - bar:
        x = m
        line_end = width - m - (rng.randint(0, width // 3) if rng.random() < 0.3 else 0)
        while x < line_end - 4:
            ww = rng.randint(width // 30 + 2, width // 7 + 3)
            d.rectangle([x, y, min(x + ww, line_end), y + bar], fill=ink)
            x += ww + max(2, width // 40)
        y += 4 * bar
    return im


def note_lines(res: dict) -> list[str]:
    """The report's notes (``res["notes"]``) as Markdown list items."""
    return [f"- {n}" for n in res.get("notes", [])]


def write_json(path: str | os.PathLike, res: dict) -> None:
    """``res`` as JSON, atomically (NaN kept: a failed run's figures are NaN; others as strings)."""
    from datagen.atomic import atomic_write

    text = json.dumps(res, indent=2, default=str) + "\n"
    atomic_write(path, lambda t: t.write_text(text, encoding="utf-8"))


def finish(res: dict, report, json_path: str | None) -> int:
    """Record the load at the end, print ``report(res)`` and write the JSON: how every
    benchmark ends."""
    import sys

    res["loadavg_end"] = round(os.getloadavg()[0], 2)
    print(report(res))
    if json_path:
        write_json(json_path, res)
        print(f"wrote {json_path}", file=sys.stderr)
    return 0
