"""Where the time of ``trainer predict`` goes, and its speed and memory beside PP-LCNet.

In one run (see ``--help``):

1. **Stage profile** (in this process, one image at a time, no worker processes): for each image
   of a labelled folder (``datagen pages`` writes one), the wall time of every stage of the page
   path: open and decode (PIL, JPEG draft mode), conversion to gray as a user sees it (EXIF,
   transparency, 16-bit), the paper level (histogram), the fit to the model's page side (PIL box
   filter), the model input (letterbox, multi-view windows) and the engine's forward pass.  Both
   engines when both can run: torch (a ``.pt`` checkpoint) and onnxruntime (its ``.onnx`` export,
   made in a temporary folder if only the ``.pt`` is given).
2. **Whole processes, side by side**: ``trainer predict`` and the PP-LCNet wheel on the same
   images, each a whole process (start-up and model load included), in alternation, ``--repeat``
   times: images/s and peak memory (max RSS), through ``bench.peers``' runners.
3. A Markdown report with the machine; ``--json OUT`` keeps the figures.

Run from the repository root::

    python -m bench.predict --labels real/labels.csv --model default --repeat 3
"""
from __future__ import annotations

import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import arg_parser, finish, machine as machine_of, note_lines

STAGES = ("decode", "gray", "paper", "fit", "input", "forward")
# the window model's page path: read as a user sees it (decode, gray, EXIF; JPEG draft), paper
# level, text scale (shrink, darkness, Otsu, connected components), the rest of the window cut
# (coarse tilt, levelling, resampling, candidates, selection), the whole view for pages without
# windows, and the network (K windows, escalated to k_max when uncertain; whole-page model)
WINDOW_STAGES = ("read", "paper", "measure", "windows", "fit", "forward")


def _model_paths(model: str) -> tuple[Path | None, Path | None]:
    """(.pt, .onnx) for ``--model``: 'default' is the shipped model."""
    if model == "default":
        from trainer.infer import DEFAULT_ONNX, DEFAULT_PT

        return (DEFAULT_PT if DEFAULT_PT.is_file() else None), (DEFAULT_ONNX if DEFAULT_ONNX.is_file() else None)
    p = Path(model)
    if p.suffix.lower() == ".onnx":
        return None, p
    return p, None


def _summary(times: dict[str, list[float]]) -> dict:
    """Mean, median and share of the total of every stage's per-image times (ms), and the total."""
    total = np.sum([v for v in times.values()], axis=0)
    out = {s: {"mean_ms": float(np.mean(v)), "median_ms": float(np.median(v)),
               "share": float(np.sum(v) / np.sum(total))} for s, v in times.items()}
    out["total"] = {"mean_ms": float(np.mean(total)), "images_per_s": 1000 / float(np.mean(total))}
    return out


def profile(engine, spec, files: list[Path], log) -> dict:
    """Per-stage wall times (ms per image) of the page path for ``files``."""
    from PIL import Image, ImageOps

    from datagen.preprocess import fit_image, fit_shape, paper_level, to_gray
    from trainer.infer import model_inputs

    size, side, crops = spec
    times = {s: [] for s in STAGES}
    for f in files:
        t0 = time.perf_counter()
        im = Image.open(f)
        if im.format == "JPEG":
            w, h = im.size
            nh, nw = fit_shape(h, w, side)
            im.draft("L", (2 * nw, 2 * nh))
        im.load()
        t1 = time.perf_counter()
        g = to_gray(ImageOps.exif_transpose(im))
        t2 = time.perf_counter()
        paper = paper_level(g)
        t3 = time.perf_counter()
        fitted = fit_image(g, side)
        t4 = time.perf_counter()
        x = model_inputs(fitted, paper, spec)
        t5 = time.perf_counter()
        engine.predict(x[None])
        t6 = time.perf_counter()
        for s, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5), (t1, t2, t3, t4, t5, t6)):
            times[s].append(1000 * (b - a))
    return _summary(times)


def profile_windows(loaded, files: list[Path], log) -> dict:
    """Per-stage wall times (ms per image) of the window model's page path (what a render worker
    and the main process of ``trainer predict`` do for one image), one image at a time."""
    from datagen.glyphs import _measure, stretched
    from datagen.pages import Page, Source, read_image
    from datagen.preprocess import fit_image, paper_level
    from trainer.infer import engine_answers, engine_input

    eng = loaded.engine
    prep, side = eng.prep, loaded.spec[1]
    times = {s: [] for s in WINDOW_STAGES}
    bases: dict[str, int] = {}
    for f in files:
        t0 = time.perf_counter()
        gray = read_image(str(f), 0, side=max(side, prep.draft_side))
        t1 = time.perf_counter()
        paper = paper_level(gray)
        t2 = time.perf_counter()
        arr = np.asarray(gray)
        _measure(stretched(arr))
        t3 = time.perf_counter()
        extra = prep(arr)  # measures again inside: its own measure is taken off below
        t4 = time.perf_counter()
        fitted = None if len(extra["windows"]) else fit_image(gray, side)
        t5 = time.perf_counter()
        src = Source(str(f), f.stem)
        page = Page(src, 0, 1, fitted, paper, (gray.size[1], gray.size[0]), extra)
        _, infos = engine_answers(eng, [engine_input(eng, page, loaded.spec)])[1:]
        t6 = time.perf_counter()
        b = infos[0].get("basis", "?") + (f"-{infos[0].get('windows')}" if infos[0].get("basis") == "windows" else "")
        bases[b] = bases.get(b, 0) + 1
        for s, v in zip(WINDOW_STAGES, (t1 - t0, t2 - t1, t3 - t2, max(0.0, (t4 - t3) - (t3 - t2)), t5 - t4,
                                        t6 - t5)):
            times[s].append(1000 * v)
    out = _summary(times)
    out["answered_by"] = dict(sorted(bases.items(), key=lambda kv: -kv[1]))
    return out


def report(res: dict) -> str:
    m = res["machine"]
    lines = ["## Where `trainer predict`'s time goes, and its speed beside PP-LCNet", "",
             f"Date: {res['date']}  ", f"Command: `{res['command']}`  ",
             f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m.get('torch', '-')}, "
             f"onnxruntime {m.get('onnxruntime', '-')}  ",
             f"Images: `{res['labels']}`, {res['n_profile']} profiled one at a time in one process "
             f"(median image {res['median_megapixels']:.2f} MP)", ""]
    for name, prof in res["profiles"].items():
        lines += [f"### Stages, {name} engine (ms per image; one process, no workers)", "",
                  "| stage | mean | median | share |", "|---|---:|---:|---:|"]
        for s in (WINDOW_STAGES if "answered_by" in prof else STAGES):
            p = prof[s]
            lines.append(f"| {s} | {p['mean_ms']:.1f} | {p['median_ms']:.1f} | {100 * p['share']:.0f} % |")
        lines += [f"| **total** | **{prof['total']['mean_ms']:.1f}** | | {prof['total']['images_per_s']:.1f} img/s |",
                  ""]
        if "answered_by" in prof:
            lines += ["Pages answered by (basis-windows voted): " + ", ".join(
                f"{k} {v}" for k, v in prof["answered_by"].items()), ""]
    w = res.get("whole")
    if w:
        lines += ["### Whole processes, in alternation", "",
                  "| contender | images/s | peak memory (MiB) | runs (s) |", "|---|---:|---:|---|"]
        for c in w["contenders"]:
            if c.get("status") != "ok":
                lines.append(f"| {c['label']} | – | – | {c.get('reason', '')} |")
                continue
            lines.append(f"| {c['label']} | {c['images_per_s']:.1f} | {c['max_rss_mib']:.0f} | "
                         f"{', '.join(f'{x:.1f}' for x in c['wall_s_all'])} |")
        if w.get("ratios"):
            r = w["ratios"]
            lines += ["", f"- images/s, docorient ÷ PP-LCNet: **{r['speed']:.2f}**",
                      f"- peak memory, docorient ÷ PP-LCNet: **{r['memory']:.2f}**"]
    lines += ["", "### Notes", ""] + note_lines(res)
    return "\n".join(lines)


def main(argv=None) -> int:
    import datetime

    ap = arg_parser(__doc__)
    ap.add_argument("--labels", required=True, metavar="DIR/labels.csv", help="labelled folder (datagen pages)")
    ap.add_argument("--model", default="default", help="checkpoint (.pt), export (.onnx) or 'default'")
    ap.add_argument("--profile-images", type=int, default=120, metavar="N",
                    help="images for the stage profile (spread over the folder)")
    ap.add_argument("--repeat", type=int, default=3, metavar="K", help="whole-process runs of each contender")
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="first N upright pages for the whole runs")
    ap.add_argument("--no-whole", action="store_true", help="only the stage profile")
    ap.add_argument("--docorient-args", default="", metavar='"ARGS"', help="extra trainer predict args (write with =)")
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures here")
    args = ap.parse_args(argv)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    from bench import peers

    lab = peers.read_labels(args.labels)
    rows = lab["rows"]
    step = max(1, len(rows) // max(1, args.profile_images))
    files = [Path(r["path"]) for r in rows[::step][:args.profile_images]]
    from PIL import Image

    mp = [Image.open(f).size for f in files]
    res = {"command": " ".join(["python", "-m", "bench.predict", *map(shlex.quote, argv if argv is not None
                                                                   else sys.argv[1:])]),
           "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "machine": machine_of(modules=("onnxruntime",)), "labels": str(args.labels), "n_profile": len(files),
           "median_megapixels": statistics.median(w * h for w, h in mp) / 1e6, "profiles": {}, "notes": []}
    from trainer.loading import load_engine

    loaded = load_engine(None if args.model == "default" else args.model)
    windows = getattr(loaded.engine, "name", "") == "windows"
    pt, onnx_path = (None, None) if windows else _model_paths(args.model)
    if windows:
        log(f"profiling the window engine on {len(files)} images ...")
        res["profiles"]["windows"] = profile_windows(loaded, files, log)
    with tempfile.TemporaryDirectory(prefix="docorient-bench-predict-") as tmpd:
        if pt is not None:
            import torch

            from trainer.infer import TorchEngine, input_spec
            from trainer.models import load_model

            torch.set_num_threads(min(2, torch.get_num_threads()))
            model, ck = load_model(pt, "cpu")
            eng = TorchEngine(model, torch.device("cpu"), temperature=float(ck.get("temperature", 1.0)))
            log(f"profiling the torch engine on {len(files)} images ...")
            res["profiles"]["torch"] = profile(eng, input_spec(ck), files, log)
            if onnx_path is None:
                try:
                    from trainer.export import export_onnx

                    onnx_path = Path(tmpd) / "model.onnx"
                    export_onnx(pt, onnx_path)
                    res["notes"].append("the ONNX engine ran a temporary export of the checkpoint")
                except ImportError:
                    res["notes"].append("onnx is not installed: no ONNX profile")
        if onnx_path is not None:
            try:
                from trainer.infer import OnnxEngine, input_spec

                eng = OnnxEngine(onnx_path)
                log(f"profiling the onnx engine on {len(files)} images ...")
                res["profiles"]["onnx"] = profile(eng, input_spec(eng.meta), files, log)
            except ValueError as e:
                res["notes"].append(f"no ONNX profile: {e}")
    if not args.no_whole:
        whole = Path(tempfile.mkdtemp(prefix="docorient-bench-whole-")) / "peers.json"
        pa = ["--labels", args.labels, "--model", args.model, "--only", "docorient,pp-lcnet", "--repeat",
              str(args.repeat), "--json", str(whole)]
        if args.limit:
            pa += ["--limit", str(args.limit)]
        if args.docorient_args:
            pa += [f"--docorient-args={args.docorient_args}"]
        rc = peers.main(pa)
        if whole.exists():
            import json

            res["whole"] = json.loads(whole.read_text())
        else:
            res["notes"].append(f"the whole-process comparison failed (bench.peers exit {rc})")
    res["notes"].append("stage times: one image at a time in this process; trainer predict decodes in worker "
                        "processes and batches the forward pass, so the whole-process figures are what users see")
    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
