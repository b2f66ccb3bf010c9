"""The fine skew against its peers on the SAME real pages, tilted by known angles, in one run.

Input: ``--labels DIR/labels.csv`` of the real-page set (columns ``file,angle,kind,...``); only
the upright rows (``angle == 0``) are sources.  Each source is shown as a viewer shows it (EXIF
applied), made 8-bit grey and shrunk to ``--side`` px on its long side (1000), then turned
CLOCKWISE by every tilt of ``--tilts`` and by ``--random`` more drawn uniformly from
``[-10, 10]`` (seeded), bicubic on a grown canvas whose corners get the page's own paper colour
(:func:`trainer.skew.paper_colour`, never black).  The known answer is the tilt: the clockwise
skew, degrees.

Contenders (each in a child process of its own interpreter, the tilted images made there by the
same function; the time of the call alone is counted, in CPU seconds of that process and in
wall seconds):

* ``docorient``: :func:`trainer.skew.estimate_skew`;
* ``deskew``: ``deskew.determine_skew`` (PyPI ``deskew``, Hough lines on Canny edges, scikit-image),
  range ±45;
* ``jdeskew``: ``jdeskew.estimator.get_angle`` (adaptive radial projection of the spectrum), its
  default ±15 range;
* ``occular``: occular-deskew 0.5.0's ``detect_angle`` (FHT fine angle, then its OriNet quadrant
  on the levelled page); its answer is the whole counter-clockwise correction, so the fine angle
  is that answer modulo 90 (wrapped to [-45, 45)) and the quadrant the rest.  Its fine angle has
  a "do no harm" guard: tilts under 0.7 degrees, or lines that disagree, answer 0.
* ``occular-fht``: occular's fine-angle step alone (``skew_fht.fine_angle``, the guard included).

Every answer is the clockwise tilt (each convention pinned by the sign test in
tests/test_skew.py for ours; for the peers, by their documented "rotate by +angle to level" =
counter-clockwise correction = our clockwise tilt).

Errors: ``|answer - tilt|`` (on scans and photos this counts the page's own tilt as error, so
the report also gives ``rel``: ``|answer(tilt) - answer(0) - tilt|``, the error in the CHANGE of
tilt, which a page's own skew does not enter), median and 95th percentile, per kind and overall.

Quadrant accuracy (``--model PATH`` or ``--model default``): the orientation model
(:class:`trainer.api.Orienter`) on every source turned by 0/90/180/270 and then tilted by each
of ``--quadrant-tilts`` (0, ±2, ±5, ±10), and occular's quadrant on the same images when it ran.

Run from the repository root::

    python -m bench.skew --labels /path/real/labels.csv --json skew.json \\
        --python deskew=.venv-skew/bin/python --python jdeskew=.venv-skew/bin/python \\
        --python occular=.venv-occular/bin/python --python occular-fht=.venv-occular/bin/python
    python -m bench.skew --labels real/labels.csv --only docorient --limit 20 --model default

Exit status: 0 when every contender ran, 1 when one failed (the report says why), 2 for bad
arguments.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("docorient", "deskew", "jdeskew", "occular", "occular-fht")
QUADRANT_TILTS = (0.0, -2.0, 2.0, -5.0, 5.0, -10.0, 10.0)


# --------------------------------------------------------------------------- pages
def tilted(img, angle_cw: float):
    """``img`` (PIL) turned CLOCKWISE by ``angle_cw`` degrees, bicubic, on a grown canvas whose
    corners get the page's own paper colour."""
    from PIL import Image

    from trainer.skew import paper_colour

    if not angle_cw:
        return img.copy()
    return img.rotate(-angle_cw, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper_colour(img))


def sources(labels: Path, limit: int | None) -> list[dict]:
    """The upright rows of ``labels``, interleaved by kind (so that a ``limit`` keeps each kind
    in proportion... roughly: one of each in turn)."""
    with open(labels, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if str(r.get("angle", "")).strip() in ("0", "0.0")]
    if not rows:
        raise ValueError(f"{labels}: no row with angle 0 (expected columns file,angle[,kind])")
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r.get("kind") or "page", []).append(r)
    order = [r for group in itertools.zip_longest(*by.values()) for r in group if r]
    return order[:limit] if limit else order


def prepare(rows: list[dict], labels: Path, side: int, out: Path) -> list[dict]:
    """Each source as 8-bit grey PNG, shown as a viewer shows it, long side ``side``, in ``out``."""
    from PIL import Image, ImageOps

    from datagen.preprocess import to_gray

    made = []
    for i, r in enumerate(rows):
        with Image.open(labels.parent / r["file"]) as im:
            im.draft("L", (side, side))
            g = to_gray(ImageOps.exif_transpose(im))
        g.thumbnail((side, side), Image.Resampling.LANCZOS)
        path = out / f"src-{i:04d}.png"
        g.save(path)
        made.append({"src": str(path), "file": r["file"], "kind": r.get("kind") or "page"})
    return made


# --------------------------------------------------------------------------- the child processes
def _answer(method: str, img):
    """``(fine clockwise tilt, quadrant or None)`` of one tilted page image (PIL, grey)."""
    if method == "docorient":
        from trainer.skew import estimate_skew

        return estimate_skew(np.asarray(img)).angle, None
    if method == "deskew":
        from deskew import determine_skew

        a = determine_skew(np.asarray(img), min_angle=-45.0, max_angle=45.0)
        return (0.0 if a is None else float(a)), None
    if method == "jdeskew":
        from jdeskew.estimator import get_angle

        return float(get_angle(np.asarray(img))), None
    if method == "occular-fht":
        from occular_deskew.skew_fht import fine_angle

        return float(fine_angle(np.asarray(img.convert("RGB")))), None
    if method == "occular":
        from occular_deskew import detect_angle

        total = float(detect_angle(img.convert("RGB")))  # the counter-clockwise correction = our clockwise turn
        fine = (total + 45.0) % 90.0 - 45.0
        return fine, int(round((total - fine) / 90.0)) % 4 * 90
    raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")


def worker(method: str, cases_file: Path) -> None:
    """Child: answer every case of ``cases_file`` (JSON list of ``{src, tilt, turn}``), one JSON
    line each on stdout, with the CPU and wall seconds of the call alone."""
    from PIL import Image

    cases = json.loads(cases_file.read_text())
    warm = True
    for c in cases:
        with Image.open(c["src"]) as im:
            img = im.convert("L")
        if c.get("turn"):
            img = img.rotate(-c["turn"], expand=True)  # exact quarter turn, clockwise
        img = tilted(img, c["tilt"])
        if warm:  # imports and model loads are not the method's per-page cost
            _answer(method, img)
            warm = False
        t0, w0 = time.process_time(), time.perf_counter()
        try:
            fine, quad = _answer(method, img)
            err = None
        except Exception as e:  # one page's failure is its row
            fine, quad, err = None, None, f"{type(e).__name__}: {e}"
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        print(json.dumps({"fine": fine, "quadrant": quad, "cpu_s": cpu, "wall_s": wall, "error": err}), flush=True)


def run_method(method: str, python: str, cases: list[dict], tmp: Path) -> tuple[list[dict], str | None]:
    """Answers of ``method`` for ``cases`` from a child of ``python``: (rows, failure or None)."""
    cf = tmp / f"cases-{method}.json"
    cf.write_text(json.dumps(cases))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    p = subprocess.run([python, str(Path(__file__).resolve()), "--worker", method, "--cases", str(cf)],
                       capture_output=True, text=True, env=env, cwd=str(ROOT))
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or len(rows) != len(cases):
        tail = " ".join((p.stderr or "").strip().splitlines()[-2:])[:300]
        return rows, f"exit {p.returncode}, {len(rows)} of {len(cases)} answers: {tail}"
    return rows, None


# --------------------------------------------------------------------------- figures
def _stats(errors: list[float]) -> dict:
    e = np.abs(np.asarray(errors, dtype=np.float64))
    if not len(e):
        return {"n": 0}
    return {"n": int(len(e)), "median": round(float(np.median(e)), 3), "p95": round(float(np.percentile(e, 95)), 3),
            "over_1deg": round(float((e > 1.0).mean()), 4)}


def fine_report(cases: list[dict], rows: list[dict]) -> dict:
    """Median and 95th percentile of the absolute error, and of the error in the change of tilt,
    per kind and overall; pages per CPU second and per wall second."""
    base = {c["src"]: r["fine"] for c, r in zip(cases, rows) if c["tilt"] == 0 and r["fine"] is not None}
    out = {}
    for kind in sorted({c["kind"] for c in cases}) + ["all"]:
        sel = [(c, r) for c, r in zip(cases, rows) if (kind == "all" or c["kind"] == kind) and r["fine"] is not None]
        rel = [r["fine"] - base[c["src"]] - c["tilt"] for c, r in sel if c["tilt"] != 0 and c["src"] in base]
        out[kind] = {"abs": _stats([r["fine"] - c["tilt"] for c, r in sel]), "rel": _stats(rel)}
    off = [r["fine"] - c["tilt"] for c, r in zip(cases, rows) if c.get("random") and r["fine"] is not None]
    out["random_tilts"] = {"abs": _stats(off), "note": "tilts drawn from [-10, 10]: off any method's angle grid"}
    ok = [r for r in rows if r["error"] is None]
    cpu, wall = sum(r["cpu_s"] for r in ok), sum(r["wall_s"] for r in ok)
    out["speed"] = {"pages": len(ok), "errors": len(rows) - len(ok),
                    "pages_per_cpu_s": round(len(ok) / cpu, 1) if cpu else None,
                    "pages_per_wall_s": round(len(ok) / wall, 1) if wall else None,
                    "cpu_ms_per_page": round(1000 * cpu / len(ok), 2) if ok else None}
    return out


def quadrant_cases(made: list[dict], tilts: tuple[float, ...]) -> list[dict]:
    return [{**m, "turn": turn, "tilt": t} for m in made for turn in (0, 90, 180, 270) for t in tilts]


def docorient_quadrants(model: str, cases: list[dict]) -> list[int | None]:
    """The orientation model's quarter turn for each quadrant case (made as the workers make them)."""
    from PIL import Image

    from trainer.api import Orienter

    from trainer.skew import estimate_skew

    orienter = Orienter(None if model == "default" else model, device="cpu")
    out, cpu = [], {"model": 0.0, "skew": 0.0}
    for c in cases:
        with Image.open(c["src"]) as im:
            img = im.convert("L")
        img = tilted(img.rotate(-c["turn"], expand=True) if c["turn"] else img, c["tilt"])
        t0 = time.process_time()
        out.append(orienter.predict(img).angle)
        t1 = time.process_time()
        estimate_skew(np.asarray(img))
        cpu["model"] += t1 - t0
        cpu["skew"] += time.process_time() - t1
    n = max(1, len(cases))
    cpu = {"model_cpu_ms_per_page": round(1000 * cpu["model"] / n, 2), "skew_cpu_ms_per_page": round(1000 * cpu["skew"] / n, 2),
           "skew_share_of_predict": round(cpu["skew"] / cpu["model"], 3) if cpu["model"] else None}
    return out, cpu


def quadrant_report(cases: list[dict], answers: list) -> dict:
    out = {}
    for t in sorted({c["tilt"] for c in cases}):
        sel = [(c, a) for c, a in zip(cases, answers) if c["tilt"] == t]
        out[f"{t:+g}"] = {"n": len(sel), "accuracy": round(sum(a == c["turn"] for c, a in sel) / len(sel), 4)}
    return out


def fix_check(cases: list[dict], tmp: Path) -> dict:
    """``trainer predict DIR --fix OUT --deskew`` on the tilted ``cases`` (written as PNG), then
    each written copy's skew estimated again: it should be close to 0 whatever the page's own
    tilt was.  Pages ``--fix`` leaves as they were (orientation or skew left for review, or a
    fine angle under ``MIN_DESKEW``) are counted apart, as is the run's wall time."""
    from PIL import Image

    from trainer.skew import estimate_skew

    src, out = tmp / "fix-in", tmp / "fix-out"
    src.mkdir()
    kinds = {}
    for i, c in enumerate(cases):
        with Image.open(c["src"]) as im:
            img = im.convert("L")
        name = f"case-{i:04d}.png"
        tilted(img, c["tilt"]).save(src / name)
        kinds[name] = c["kind"]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "trainer", "predict", str(src), "--fix", str(out), "--deskew"],
                       capture_output=True, text=True, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"failure": f"exit {p.returncode}: {' '.join(p.stderr.strip().splitlines()[-2:])[:300]}"}
    res, alone = {}, {}
    for name, kind in kinds.items():
        o = next(out.rglob(name), None)
        if o is None or o.read_bytes() == (src / name).read_bytes():
            alone[kind] = alone.get(kind, 0) + 1
            continue
        with Image.open(o) as im:
            res.setdefault(kind, []).append(estimate_skew(np.asarray(im.convert("L"))).angle)
    report = {k: _stats(v) for k, v in sorted(res.items())}
    report["all"] = _stats([e for v in res.values() for e in v])
    report["left_as_they_were"] = alone
    report["wall_s"] = round(wall, 1)
    report["note"] = "|skew| of each --fix --deskew copy, estimated again (degrees)"
    return report


# --------------------------------------------------------------------------- the run
def _args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, help="labels.csv of the real-page set")
    ap.add_argument("--only", default="docorient,deskew,jdeskew,occular",
                    help=f"comma-separated contenders of: {', '.join(METHODS)}")
    ap.add_argument("--python", action="append", default=[], metavar="METHOD=PATH",
                    help="interpreter for a contender (default: this one)")
    ap.add_argument("--tilts", default="0,-2,2,-5,5,-10,10", help="clockwise tilts in degrees, comma-separated")
    ap.add_argument("--random", type=int, default=2, help="tilts per page drawn from [-10, 10] besides --tilts")
    ap.add_argument("--side", type=int, default=1000, help="long side the sources are shrunk to (px)")
    ap.add_argument("--limit", type=int, default=None, help="first N upright pages (kinds interleaved)")
    ap.add_argument("--model", default=None, help="orientation model for quadrant accuracy ('default': the shipped one)")
    ap.add_argument("--quadrant-limit", type=int, default=None, help="quadrant cases on the first N pages only")
    ap.add_argument("--fix-check", action="store_true",
                    help="also run `trainer predict --fix --deskew` on the randomly tilted pages and estimate the copies again")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the report here too")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cases", type=Path, default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = _args(argv)
    if a.worker:
        worker(a.worker, a.cases)
        return 0
    only = [m.strip() for m in a.only.split(",") if m.strip()]
    bad = [m for m in only if m not in METHODS]
    if bad or not a.labels:
        print(f"bench/skew.py: {'unknown contender ' + ', '.join(bad) if bad else '--labels is required'}; "
              f"contenders: {', '.join(METHODS)}", file=sys.stderr)
        return 2
    pythons = dict(p.split("=", 1) for p in a.python)
    tilts = [float(t) for t in a.tilts.split(",") if t.strip()]
    rng = random.Random(a.seed)
    report = {"command": " ".join(["python", "bench/skew.py", *(argv if argv is not None else sys.argv[1:])])}
    from bench.common import machine

    report["machine"] = machine(("numpy", "cv2", "PIL"))
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-skew-") as tmp:
        tmp = Path(tmp)
        made = prepare(sources(a.labels, a.limit), a.labels, a.side, tmp)
        cases = [{**m, "tilt": t, "turn": 0, "random": k >= len(tilts)} for m in made
                 for k, t in enumerate(tilts + [round(rng.uniform(-10, 10), 2) for _ in range(a.random)])]
        report["pages"], report["cases"] = len(made), len(cases)
        qcases = quadrant_cases(made[:a.quadrant_limit] if a.quadrant_limit else made, QUADRANT_TILTS)
        for m in only:
            rows, why = run_method(m, pythons.get(m, sys.executable), cases, tmp)
            report[m] = {"fine": fine_report(cases[:len(rows)], rows) if rows else None, "failure": why}
            failed |= why is not None
            print(f"{m}: {json.dumps(report[m]['fine'])}" + (f" FAILED: {why}" if why else ""), file=sys.stderr)
            if m == "occular" and a.model is not None and why is None:
                qrows, qwhy = run_method(m, pythons.get(m, sys.executable), qcases, tmp)
                report[m]["quadrant"] = quadrant_report(qcases, [r["quadrant"] for r in qrows]) if not qwhy else qwhy
        if a.model is not None:
            report["docorient"] = report.get("docorient", {})
            answers, cpu = docorient_quadrants(a.model, qcases)
            report["docorient"]["quadrant"] = quadrant_report(qcases, answers)
            report["docorient"]["predict_cost"] = cpu  # the API's predict (page prepared, model run) vs estimate_skew
            report["docorient"]["model"] = a.model
        if a.fix_check:
            report["fix_check"] = fix_check([c for c in cases if c["random"]] or cases, tmp)
            print(f"fix-check: {json.dumps(report['fix_check'])}", file=sys.stderr)
    text = json.dumps(report, indent=2, allow_nan=False)
    print(text)
    if a.json:
        a.json.write_text(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
