"""Benchmark of ``trainer predict`` (end to end, as a user runs it) against Tesseract's orientation
detection, on a labelled folder of full-resolution page images.

In one run (see ``--help``):

1. **The labelled folder** (in a temporary directory, or ``--keep DIR``): the pages the variant
   used for its TEST documents (the same page selection as ``trainer.data.clean_test_data``),
   rendered with pdfium at the variant's render dpi (``--dpi``), blank pages skipped
   (``datagen.preprocess.ink_fraction < datagen.build.BLANK_INK``), each turned losslessly
   CLOCKWISE by 0/90/180/270 degrees, saved as PNG (with the dpi in the file) plus ``labels.csv``
   (``file,angle,doc,page``).  ``--pages N`` caps the upright pages (taken round-robin over the
   documents, so every document is represented).
2. **ours**: ``trainer predict MODEL <every PNG> --json`` in a subprocess, timed end to end
   (process start-up, model load, image decode, preprocessing, inference, JSON); start-up is
   reported separately from ``trainer predict MODEL <one PNG> --json``.  The same with ``--tta``.
   ``trainer eval MODEL labels.csv --json`` cross-checks the accuracy.
3. **Tesseract** ``tesseract IMG - --psm 0 --dpi D`` (OSD) on the same PNGs at the render dpi
   and on copies upscaled 2x (PIL LANCZOS, ``--dpi 2D``), ``OMP_THREAD_LIMIT=1``, ``--jobs``
   processes at a time.  Tesseract is slow, so it runs on the first ``--tesseract-pages`` upright
   pages of the round-robin order (all four angles); ours is also reported on that subset.
   "Too few characters" and other failures count as wrong answers.
4. A Markdown report with the machine description; ``--json OUT`` writes the same figures.

Run from the repository root: ``python bench/predict.py`` (needs ``runs/exact/model.pt`` and
``shards/exact`` with its corpus; ``--no-tesseract`` where tesseract is not installed).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# This folder holds train.py, predict.py, interpret.py and datagen.py: when a script here runs, its
# folder comes first on sys.path and (for interpret.py, datagen.py) would shadow the real packages.
# Drop it and make sure the repository root is there.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))
from bench.common import arg_parser, machine as machine_of, note_lines  # noqa: E402

import numpy as np  # noqa: E402

ANGLES = (0, 90, 180, 270)

# Tesseract's OSD convention, found empirically (tesseract 5.3.0 + Debian tesseract-ocr-osd) on an
# upright text page turned clockwise by 0/90/180/270 with PIL (clockwise 90 = ROTATE_270), at 2x:
#   turned clockwise by  0 -> "Orientation in degrees: 0",   "Rotate: 0"
#   turned clockwise by 90 -> "Orientation in degrees: 90",  "Rotate: 270"
#   turned clockwise by 180-> "Orientation in degrees: 180", "Rotate: 180"
#   turned clockwise by 270-> "Orientation in degrees: 270", "Rotate: 90"
# So "Orientation in degrees" IS our label (the clockwise angle the page was turned by), and
# "Rotate" is the clockwise turn that fixes the page, i.e. (360 - label) % 360.  The benchmark
# reads "Orientation in degrees" and counts answers where the two fields disagree with this rule.
_ORIENT = re.compile(r"Orientation in degrees:\s*(\d+)")
_ROTATE = re.compile(r"Rotate:\s*(\d+)")


# --------------------------------------------------------------------------- machine
def machine() -> dict:
    return machine_of(tools=("tesseract",))


# --------------------------------------------------------------------------- the labelled folder
def test_pages(variant, corpus: Path | None = None) -> list[tuple[str, str, list[int]]]:
    """(doc id, file, 0-based page indices) of the variant's test documents: the selection
    ``trainer.data.clean_test_data`` uses (the documents' ``pages`` within ``pages_total``, cut to
    the build's ``max_pages_per_doc``).  A document missing at its recorded path is looked up by
    file name in ``corpus`` (another machine's copy of the corpus)."""
    from datagen.manifest import parse_pages

    cfg = variant.record["config"]
    out = []
    for d in variant.documents("test"):
        file = d["file"]
        if not Path(file).exists() and corpus is not None and (corpus / Path(file).name).exists():
            file = str(corpus / Path(file).name)
        if not Path(file).exists():
            raise ValueError(f"{variant.path}: test document {d['file']} is gone; fetch the corpus again "
                             "(datagen build fetches the default corpus) or pass --corpus DIR holding "
                             f"{Path(d['file']).name}")
        total = d.get("pages_total") or 0
        if not total:
            continue
        idx = parse_pages(d.get("pages"), total)
        if cfg.get("max_pages_per_doc"):
            idx = idx[:cfg["max_pages_per_doc"]]
        out.append((d["id"], file, idx))
    if not out:
        raise ValueError(f"{variant.path}: no documents in the test split")
    return out


def round_robin(docs: list[tuple[str, str, list[int]]]) -> list[tuple[str, str, int]]:
    """All (doc, file, page) in round-robin order over the documents."""
    queues = [[(d, f, i) for i in idx] for d, f, idx in docs]
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def make_folder(variant, folder: Path, dpi: float, max_pages: int, log, corpus: Path | None = None) -> dict:
    """Render, skip blanks, turn losslessly, save PNGs + labels.csv.  Returns a summary dict."""
    from PIL import Image

    from datagen.build import BLANK_INK
    from datagen.preprocess import ink_fraction
    from datagen.render import RenderError, render_page

    # clockwise turn by the label, losslessly (PIL's ROTATE_* turn counter-clockwise)
    cw = {0: None, 90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    folder.mkdir(parents=True, exist_ok=True)
    rows, order, blank, failed = [], [], [], []
    t0 = time.perf_counter()
    for doc, file, i in round_robin(test_pages(variant, corpus)):
        if len(order) >= max_pages:
            break
        try:
            arr = render_page(file, i, dpi, "pdfium")
        except RenderError as e:
            failed.append(f"{doc} page {i + 1}: {e}")
            continue
        if ink_fraction(arr) < BLANK_INK:
            blank.append(f"{doc} page {i + 1}")
            continue
        page = Image.fromarray(arr, mode="L")
        order.append(f"{doc}-p{i + 1}")
        for angle in ANGLES:
            im = page if cw[angle] is None else page.transpose(cw[angle])
            name = f"{doc}-p{i + 1}-r{angle}.png"
            im.save(folder / name, dpi=(dpi, dpi), compress_level=1)
            rows.append({"file": name, "angle": angle, "doc": doc, "page": i + 1})
    try:  # render_page keeps the last document open in a module cache; close it (no warning at exit)
        import datagen.render as _render

        for doc_obj in list(getattr(_render, "_PDFIUM_CACHE", {}).values()):
            doc_obj.close()
        getattr(_render, "_PDFIUM_CACHE", {}).clear()
    except Exception:  # cosmetic only
        pass
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["file", "angle", "doc", "page"])
        w.writeheader()
        w.writerows(rows)
    log(f"labelled folder: {len(order)} upright pages x 4 angles = {len(rows)} PNGs at {dpi:g} dpi "
        f"({len(blank)} blank pages skipped, {len(failed)} failed) in {time.perf_counter() - t0:.1f} s")
    return {"rows": rows, "pages": order, "blank": blank, "failed": failed,
            "docs": sorted({r["doc"] for r in rows})}


def upscale_folder(src: Path, dst: Path, files: list[str], factor: int, dpi: float) -> None:
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    for name in files:
        with Image.open(src / name) as im:
            big = im.resize((im.width * factor, im.height * factor), Image.LANCZOS)
            big.save(dst / name, dpi=(dpi * factor, dpi * factor), compress_level=1)


# --------------------------------------------------------------------------- scoring
def doc_of(name: str) -> str:
    """``<doc>-p<page>-r<angle>.png`` -> ``<doc>``."""
    return re.sub(r"-p\d+-r\d+\.png$", "", name)


def score(pred: dict[str, int | None], truth: dict[str, int], files: list[str]) -> dict:
    """Accuracy, per-class and per-document accuracy, failures (None answers count as wrong), confusion."""
    conf = np.zeros((4, 5), dtype=int)  # rows true, columns predicted 0/90/180/270/failed
    docs: dict[str, list[int]] = {}
    for f in files:
        p = pred.get(f)
        conf[truth[f] // 90, 4 if p is None else p // 90] += 1
        c = docs.setdefault(doc_of(f), [0, 0])
        c[0] += int(p == truth[f])
        c[1] += 1
    n = len(files)
    per = {str(a): (float(conf[c, c] / conf[c].sum()) if conf[c].sum() else None) for c, a in enumerate(ANGLES)}
    return {"n": n, "correct": int(np.trace(conf[:, :4])), "accuracy": float(np.trace(conf[:, :4]) / n) if n else None,
            "per_class": per, "failures": int(conf[:, 4].sum()), "confusion_true_x_pred_or_failed": conf.tolist(),
            "per_doc": {d: {"accuracy": c / t, "n": t} for d, (c, t) in sorted(docs.items())}}


# --------------------------------------------------------------------------- ours
def trainer_cmd() -> list[str]:
    exe = shutil.which("trainer")
    return [exe] if exe else [sys.executable, "-m", "trainer"]


def run_cli(cmd: list[str]) -> tuple[float, dict, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {p.returncode}): {p.stderr.strip()[-800:]}")
    return wall, json.loads(p.stdout), p.stderr


def run_ours(model: Path, folder: Path, files: list[str], truth: dict[str, int], device: str, tta: bool,
             startup_s: float, subset: list[str]) -> dict:
    cmd = trainer_cmd() + ["predict", str(model), *[str(folder / f) for f in files], "--json", "--device", device]
    if tta:
        cmd.append("--tta")
    wall, out, _ = run_cli(cmd)
    pred = {}
    errors = []
    for p in out["pages"]:
        name = Path(p["file"]).name
        pred[name] = p["angle"]
        if p.get("error"):
            errors.append(f"{name}: {p['error']}")
    n = len(files)
    r = {"method": "ours: trainer predict" + (" --tta" if tta else ""), "kind": "ours", "tta": tta,
         "wall_s": wall, "pages_per_s": n / wall,
         "pages_per_s_after_startup": (n - 1) / (wall - startup_s) if wall > startup_s and n > 1 else None,
         "errors": errors[:20], **score(pred, truth, files), "answers": pred}
    r["subset"] = score(pred, truth, subset)
    return r


# --------------------------------------------------------------------------- tesseract
def tesseract_one(path: Path, dpi: float) -> tuple[int | None, str | None, float, bool]:
    """(our label or None, failure reason, seconds, fields consistent) for one image."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(["tesseract", str(path), "-", "--psm", "0", "--dpi", f"{dpi:g}"], capture_output=True,
                           text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "timeout (120 s)", time.perf_counter() - t0, True
    sec = time.perf_counter() - t0
    out = p.stdout + "\n" + p.stderr
    o, r = _ORIENT.search(out), _ROTATE.search(out)
    if p.returncode != 0 or o is None:
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip() and not ln.startswith("Warning")]
        return None, (lines[0] if lines else f"exit {p.returncode}, no orientation"), sec, True
    label = int(o.group(1)) % 360
    consistent = r is None or (int(r.group(1)) + label) % 360 == 0
    if label not in ANGLES:
        return None, f"unexpected orientation {label}", sec, consistent
    return label, None, sec, consistent


def run_tesseract(folder: Path, files: list[str], truth: dict[str, int], dpi: float, jobs: int, label: str) -> dict:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        res = list(ex.map(lambda f: tesseract_one(folder / f, dpi), files))
    wall = time.perf_counter() - t0
    pred = {f: r[0] for f, r in zip(files, res)}
    reasons: dict[str, int] = {}
    for r in res:
        if r[1]:
            reasons[r[1]] = reasons.get(r[1], 0) + 1
    busy = sum(r[2] for r in res)
    return {"method": f"Tesseract --psm 0 ({label})", "kind": "tesseract", "dpi": dpi, "jobs": jobs,
            "wall_s": wall, "pages_per_s_parallel": len(files) / wall, "pages_per_s": len(files) / busy,
            "sec_per_page": busy / len(files), "failure_reasons": reasons,
            "inconsistent_fields": sum(1 for r in res if not r[3]), **score(pred, truth, files), "answers": pred}


# --------------------------------------------------------------------------- report
def _pc(r: dict) -> str:
    pc = r["per_class"]
    return " / ".join("–" if pc[str(a)] is None else f"{100 * pc[str(a)]:.0f}" for a in ANGLES)


def report(res: dict) -> str:
    m = res["machine"]
    a = res["args"]
    lines = ["## docorient predict vs Tesseract benchmark", "",
             f"Command: `{res['command']}`  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; GPU: {m['gpu'] or 'none'}; torch {m.get('torch', '?')}, "
             f"tesseract {m.get('tesseract', 'not run')}, Python {m['python']}  ",
             f"Load average (1 min) at start {m['loadavg_1min']:g}, at end {res['loadavg_end']:g} (includes this run)"
             + (" -- OTHER LOAD ON THE MACHINE AT START, figures are pessimistic"
                if m["loadavg_1min"] > 0.5 * m["cores"] else "") + "  ",
             f"Model: `{a['model']}` ({res['model_info']}); device {a['device']}  ",
             f"Pages: the test documents of `{a['variant']}` ({', '.join(res['folder']['docs'])}), rendered with "
             f"pdfium at {res['dpi']:g} dpi, {len(res['folder']['pages'])} upright pages (cap --pages {a['pages']}; "
             f"{len(res['folder']['blank'])} blank skipped) x 4 clockwise turns = {res['n']} PNGs", ""]
    rows = res["results"]
    lines += [f"### All {res['n']} images", "",
              "| method | resolution | accuracy | per class 0/90/180/270 (%) | failures | pages/s "
              "| pages/s after start-up |",
              "|---|---|---:|---|---:|---:|---:|"]
    for r in rows:
        if r["kind"] != "ours":
            continue
        after = f"{r['pages_per_s_after_startup']:.1f}" if r["pages_per_s_after_startup"] else "–"
        lines.append(f"| {r['method']} | {res['dpi']:g} dpi page -> {res['input_size']} px | "
                     f"{100 * r['accuracy']:.1f} % | {_pc(r)} | {r['failures']} | {r['pages_per_s']:.1f} | {after} |")
    ours = [r for r in rows if r["kind"] == "ours"]
    lines += ["", "Per document (images): " + ", ".join(f"{d} ({v['n']})" for d, v in ours[0]["per_doc"].items())
              + "; " + "; ".join(f"{r['method']}: " + ", ".join(f"{100 * v['accuracy']:.0f} %"
                                                             for v in r["per_doc"].values()) for r in ours) + "."]
    if res.get("eval"):
        e = res["eval"]
        lines += ["", f"Cross-check `trainer eval MODEL labels.csv --json`: accuracy {100 * e['accuracy']:.1f} % on "
                      f"{e['n']} images ({e['errors']} errors), {e['wall_s']:.1f} s; "
                      + ("agrees with the predict run." if e["agrees"] else
                         f"DISAGREES with the predict run ({100 * e['predict_accuracy']:.1f} %).")]
    tess = [r for r in rows if r["kind"] == "tesseract"]
    if tess:
        sub = res["tesseract_subset"]
        lines += ["", f"### Side by side on the Tesseract subset: {sub['pages']} upright pages x 4 = {sub['n']} images "
                      f"(first pages of the round-robin order over the documents; cap --tesseract-pages "
                      f"{a['tesseract_pages']})", "",
                  "| method | resolution | accuracy | per class 0/90/180/270 (%) | failures | pages/s (1 process) "
                  f"| pages/s ({tess[0]['jobs']} processes) |",
                  "|---|---|---:|---|---:|---:|---:|"]
        for r in rows:
            if r["kind"] == "ours":
                s = r["subset"]
                lines.append(f"| {r['method']} | {res['dpi']:g} dpi page -> {res['input_size']} px | "
                             f"{100 * s['accuracy']:.1f} % | {_pc(s)} | {s['failures']} | {r['pages_per_s']:.1f} "
                             "(all images, one process) | – |")
        for r in tess:
            lines.append(f"| {r['method']} | {r['dpi']:g} dpi | {100 * r['accuracy']:.1f} % | {_pc(r)} | "
                         f"{r['failures']} | {r['pages_per_s']:.2f} | {r['pages_per_s_parallel']:.2f} |")
        lines.append("")
        for r in tess:
            why = ", ".join(f"{k!r}: {v}" for k, v in sorted(r["failure_reasons"].items(), key=lambda kv: -kv[1]))
            lines.append(f"- {r['method']}: {r['failures']} failures ({why or 'none'}); "
                         f"{r['sec_per_page']:.2f} s per image per process; "
                         f"{r['inconsistent_fields']} answers where Rotate != (360 - Orientation) % 360.")
        docs = list(tess[0]["per_doc"])
        lines += ["", "Accuracy per document on the Tesseract subset (images per document in brackets):", "",
                  "| method | " + " | ".join(f"{d} ({tess[0]['per_doc'][d]['n']})" for d in docs) + " |",
                  "|---|" + "---:|" * len(docs)]
        for r in rows:
            pd = (r["subset"] if r["kind"] == "ours" else r)["per_doc"]
            lines.append(f"| {r['method']} | "
                         + " | ".join(f"{100 * pd[d]['accuracy']:.0f} %" for d in docs) + " |")
    lines += ["", *note_lines(res), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--variant", default="shards/exact", help="dataset variant whose TEST documents are used")
    ap.add_argument("--model", default="runs/exact/model.pt", help="trainer checkpoint")
    ap.add_argument("--pages", type=int, default=120, help="cap on upright pages (x 4 angles)")
    ap.add_argument("--tesseract-pages", type=int, default=30,
                    help="upright pages (x 4 angles) Tesseract runs on (0 = all of --pages)")
    ap.add_argument("--dpi", type=float, default=0, help="render dpi (0 = the variant's own)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="trainer predict --device")
    ap.add_argument("--jobs", type=int, default=0, help="tesseract processes at a time (0 = one per core)")
    ap.add_argument("--no-tesseract", action="store_true", help="skip Tesseract (machines without it)")
    ap.add_argument("--no-tta", action="store_true", help="skip the trainer predict --tta run")
    ap.add_argument("--corpus", metavar="DIR", help="where to find test PDFs missing at their recorded paths")
    ap.add_argument("--keep", metavar="DIR", help="write the labelled folder here (kept) instead of a temp dir")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    try:
        from datagen.contract import load_variant
        from trainer.models import load_checkpoint

        variant = load_variant(args.variant)
        model = Path(args.model)
        if not model.is_file():
            raise ValueError(f"{model}: no such model checkpoint; train one first (trainer fit {args.variant}) "
                             "or pass --model")
        ck = load_checkpoint(model)
        if args.pages < 1 or args.tesseract_pages < 0 or args.dpi < 0 or args.jobs < 0:
            raise ValueError("--pages must be >= 1; --tesseract-pages, --dpi and --jobs >= 0")
        if not args.no_tesseract and not shutil.which("tesseract"):
            raise ValueError("tesseract not found on PATH (apt-get install tesseract-ocr tesseract-ocr-osd), "
                             "or pass --no-tesseract")
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dpi = args.dpi or float(variant.record["config"].get("dpi", 100.0))
    jobs = args.jobs or machine()["cores"]
    res: dict = {"command": " ".join(["python", "bench/predict.py", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": machine(), "args": vars(args), "dpi": dpi, "input_size": int(ck["input_size"]),
                 "model_info": f"{ck['arch']} at {ck['input_size']} px, trained on {ck.get('variant')} "
                               f"({ck.get('strategy')}), epoch {ck.get('epoch')}",
                 "results": [], "notes": []}
    del ck
    with tempfile.TemporaryDirectory(prefix="docorient-bench-predict-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "pages"
        try:
            info = make_folder(variant, folder, dpi, args.pages, log, Path(args.corpus) if args.corpus else None)
        except (ValueError, RuntimeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        rows = info["rows"]
        if not rows:
            print("error: no non-blank test page could be rendered", file=sys.stderr)
            return 2
        files = [r["file"] for r in rows]
        truth = {r["file"]: r["angle"] for r in rows}
        n_sub = args.tesseract_pages or len(info["pages"])
        sub_pages = set(info["pages"][:n_sub])
        subset = [r["file"] for r in rows if f"{r['doc']}-p{r['page']}" in sub_pages]
        res["n"] = len(files)
        res["folder"] = {k: info[k] for k in ("pages", "blank", "failed", "docs")}
        res["tesseract_subset"] = {"pages": len(sub_pages), "n": len(subset)}

        # ours, end to end through the CLI
        try:
            log("ours: trainer predict start-up (one image) ...")
            base = trainer_cmd() + ["predict", str(model)]
            startup, _, _ = run_cli(base + [str(folder / files[0]), "--json", "--device", args.device])
            res["startup_s"] = startup
            for tta in (False,) if args.no_tta else (False, True):
                log(f"ours: trainer predict {len(files)} images{' --tta' if tta else ''} ...")
                r = run_ours(model, folder, files, truth, args.device, tta, startup, subset)
                log(f"  {100 * r['accuracy']:.1f} %, {r['pages_per_s']:.1f} pages/s")
                res["results"].append(r)
            log("ours: trainer eval labels.csv (cross-check) ...")
            wall, ev, _ = run_cli(trainer_cmd() + ["eval", str(model), str(folder / "labels.csv"), "--json",
                                                   "--device", args.device])
            pa = res["results"][0]["accuracy"]
            res["eval"] = {"accuracy": ev["accuracy"], "n": ev["n"], "errors": ev["errors"], "wall_s": wall,
                           "predict_accuracy": pa, "agrees": abs(ev["accuracy"] - pa) < 1e-9 and ev["n"] == len(files)}
        except (RuntimeError, json.JSONDecodeError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        res["notes"].append(f"ours: pages/s = images / wall time of one `trainer predict MODEL <{len(files)} PNGs> "
                            f"--json` process; its start-up (imports, model load, one image) took {startup:.1f} s, "
                            "measured as `trainer predict MODEL <1 PNG> --json`; 'after start-up' = "
                            "(images - 1) / (wall - start-up)")

        if not args.no_tesseract:
            big = Path(tmp) / "pages-2x"
            log(f"upscaling {len(subset)} PNGs 2x (LANCZOS) ...")
            upscale_folder(folder, big, subset, 2, dpi)
            for where, d, label in ((folder, dpi, f"{dpi:g} dpi"), (big, 2 * dpi, f"2x upscale, {2 * dpi:g} dpi")):
                log(f"tesseract on {len(subset)} images at {label}, {jobs} processes ...")
                r = run_tesseract(where, subset, truth, d, jobs, label)
                log(f"  {100 * r['accuracy']:.1f} %, {r['failures']} failures, {r['pages_per_s']:.2f} pages/s "
                    "per process")
                res["results"].append(r)
            res["notes"].append(f"Tesseract: one `tesseract IMG - --psm 0 --dpi D` process per image, "
                                f"OMP_THREAD_LIMIT=1, {jobs} at a time; 'pages/s (1 process)' = images / sum of "
                                f"per-image seconds (what one process achieves; measured while {jobs} ran at once), "
                                f"'pages/s ({jobs} processes)' = images / wall. Our label = Tesseract's "
                                "'Orientation in degrees' (checked against 'Rotate'); failures count as wrong.")
    res["loadavg_end"] = round(os.getloadavg()[0], 2)
    text = report(res)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
