"""Benchmark of ``datagen build`` against a naive generator, and of the rotation stage alone.

In one run (see ``--help``):

1. **End-to-end**: ``datagen.build.build`` (library call, progress off, default workers and
   renderer ``pdfium``, then again with ``renderer="poppler"``) on the default corpus (or
   ``--corpus DIR``), ``--pages N`` pages per document, into a temporary folder.
2. **Naive baseline**, one process, on exactly the pages the pdfium build used (blank pages it
   skipped are left out too): pdf2image ``convert_from_path`` one page at a time at the same dpi,
   PIL ``Image.rotate(angle, expand=False)`` (black fill) for each of the four angles, PIL resize
   to ``size x size``, PIL PNG encode, ``tarfile``: the same 4 samples per page.
3. **Rotation stage alone**: every strategy of the registry on a batch of random 1100x850 pages
   (and at the build's fitted size), all four angles, on ``--device``; ``torch.rot90`` for reference.
4. A Markdown report with the machine description; ``--json OUT`` writes the same figures.

``--rotation-only`` runs step 3 only (no corpus, no network, no renderer needed): use it on a
lent GPU machine.  Run from the repository root: ``python -m bench.bench_datagen``.
"""
from __future__ import annotations

import io
import shutil
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from bench.common import arg_parser, finish, machine as machine_of, free_cache, note_lines, report_head, sync
from datagen.contract import ANGLES

PAGE_HW = (1100, 850)  # a letter page at 100 dpi, portrait


# --------------------------------------------------------------------------- machine
def machine() -> dict:
    return machine_of(modules=("kornia", "pypdfium2"), tools=("pdftoppm",))


def poppler_problem() -> str | None:
    """Why pdf2image/poppler cannot run here, or None."""
    try:
        import pdf2image  # noqa: F401
    except ImportError:
        return "pdf2image is not installed (pip install pdf2image)"
    missing = [t for t in ("pdftoppm", "pdfinfo") if not shutil.which(t)]
    if missing:
        return f"poppler tools {', '.join(missing)} not found on PATH (apt-get install poppler-utils)"
    return None


# --------------------------------------------------------------------------- end-to-end
@contextmanager
def count_batch_time(acc: dict):
    """Time spent in the build's main-process batch work (turn, letterbox, PNG encode, tar write)."""
    import datagen.build as b

    orig = b._process_batch

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            acc["s"] = acc.get("s", 0.0) + time.perf_counter() - t

    b._process_batch = timed
    try:
        yield acc
    finally:
        b._process_batch = orig


def run_build(sources: list[str], out: Path, args, renderer: str) -> dict:
    from datagen.build import SPLITS, BuildConfig, build
    from datagen.devices import resolve_device

    cfg = BuildConfig(rotation=args.rotation, size=args.size, dpi=args.dpi, skew=args.skew, device=args.device,
                      renderer=renderer, max_pages_per_doc=args.pages)
    if args.workers:
        cfg.workers = args.workers
    logs: list[str] = []
    acc: dict = {}
    with count_batch_time(acc):
        t0 = time.perf_counter()
        rec = build(sources, out, cfg, progress=False, log=logs.append)
        wall = time.perf_counter() - t0
    samples = sum(rec["counts"][s]["total"] for s in SPLITS)
    pages = sum(d.get("pages_used", 0) for d in rec["documents"])
    return {"kind": "build", "name": f"datagen build ({renderer}, {cfg.workers} workers, {cfg.rotation}, {resolve_device(args.device)})",
            "renderer": renderer, "workers": cfg.workers, "pages": pages, "samples": samples,
            "wall_s": wall, "samples_per_s": samples / wall, "pages_per_s": pages / wall,
            "main_batch_s": acc.get("s", 0.0), "skipped": len(rec["skipped"]), "record": rec}


def page_set(record: dict) -> list[tuple[str, str, list[int]]]:
    """(doc id, file, 0-based page indices) the build actually turned into samples."""
    from datagen.manifest import parse_pages

    skipped = {(s["doc"], s["page"]) for s in record["skipped"] if s.get("page")}
    out = []
    for d in record["documents"]:
        if not d.get("pages_total"):
            continue
        idx = parse_pages(d["pages"], d["pages_total"])[:d["pages_selected"]]
        idx = [i for i in idx if (d["id"], i + 1) not in skipped]
        if idx:
            out.append((d["id"], d["file"], idx))
    return out


def run_naive(pages: list[tuple[str, str, list[int]]], out: Path, args) -> dict:
    """The naive generator: one process, pdf2image per page, PIL rotate/resize/PNG, tarfile."""
    from pdf2image import convert_from_path
    from PIL import Image

    def member(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    t = {"render": 0.0, "rotate": 0.0, "resize": 0.0, "png": 0.0, "tar": 0.0}
    n_pages = n_samples = 0
    t0 = time.perf_counter()
    with tarfile.open(out, "w") as tar:
        for doc_id, path, idx in pages:
            for i in idx:
                a = time.perf_counter()
                img = convert_from_path(path, dpi=args.dpi, first_page=i + 1, last_page=i + 1, grayscale=True)[0]
                t["render"] += time.perf_counter() - a
                n_pages += 1
                for angle in ANGLES:
                    a = time.perf_counter()
                    r = img.rotate(-angle, expand=False)  # PIL turns counter-clockwise; label is clockwise
                    b = time.perf_counter()
                    r = r.resize((args.size, args.size), Image.BILINEAR)
                    c = time.perf_counter()
                    buf = io.BytesIO()
                    r.save(buf, format="PNG", compress_level=6)
                    d = time.perf_counter()
                    key = f"{doc_id}-p{i + 1}-r{angle}"
                    member(tar, key + ".png", buf.getvalue())
                    member(tar, key + ".cls", str(angle // 90).encode())
                    e = time.perf_counter()
                    t["rotate"] += b - a
                    t["resize"] += c - b
                    t["png"] += d - c
                    t["tar"] += e - d
                    n_samples += 1
    wall = time.perf_counter() - t0
    return {"kind": "naive", "name": "naive (1 process: pdf2image, PIL rotate/resize/PNG, tarfile)", "renderer": "poppler",
            "workers": 1, "pages": n_pages, "samples": n_samples, "wall_s": wall,
            "samples_per_s": n_samples / wall, "pages_per_s": n_pages / wall, "stages_s": t}


# --------------------------------------------------------------------------- rotation stage
_sync = sync


def time_fn(fn, warm, device: torch.device, min_time: float) -> tuple[float, int]:
    """Best seconds per call of ``fn`` (after a warm-up call of ``warm``), and the number of timed
    calls: calls repeat until ``min_time`` seconds have passed (one call if it alone takes that
    long).  The best call is the least disturbed by other load on a shared machine."""
    warm()
    _sync(device)
    best, reps, t0 = float("inf"), 0, time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
        reps += 1
        if time.perf_counter() - t0 >= min_time:
            return best, reps


def run_rotation(args, device: torch.device) -> list[dict]:
    from datagen.preprocess import fit_shape
    from datagen.strategies import REGISTRY

    b = args.batch or (128 if device.type == "cuda" else 32)
    shapes = [PAGE_HW, fit_shape(*PAGE_HW, args.size)]
    gen = torch.Generator().manual_seed(0)
    skews = ((torch.rand(b, generator=gen) * 2 - 1) * args.skew).tolist()
    rows = []
    for h, w in shapes:
        pages = torch.rand(b, 1, h, w, generator=gen).to(device)  # (B, 1, H, W)
        small = pages[:2].contiguous()  # (2, 1, H, W) warm-up batch: lazy init without a full pass
        cands = [(name, s) for name, s in REGISTRY.items()]
        cands.append(("torch.rot90 (reference)",
                      lambda p, a, s: torch.rot90(p, k=(-a[0] // 90) % 4, dims=(-2, -1)).contiguous()))
        for name, fn in cands:
            def one_pass(fn=fn, x=pages):
                for angle in ANGLES:  # like the build: one call per angle over the whole batch
                    fn(x, [angle] * x.shape[0], skews[:x.shape[0]])

            with torch.inference_mode():
                sec, reps = time_fn(one_pass, lambda: one_pass(x=small), device, args.min_time)
            rows.append({"strategy": name, "device": str(device), "batch": b, "h": h, "w": w,
                         "skew": args.skew, "reps": reps, "pages_per_s": b * len(ANGLES) / sec})
            print(f"  rotation {name:<24} {h}x{w} B={b}: {b * len(ANGLES) / sec:,.0f} pages/s", file=sys.stderr)
        del pages
        free_cache(device)
    return rows


# --------------------------------------------------------------------------- report
def report(res: dict) -> str:
    m = res["machine"]
    lines = report_head(res, "docorient datagen benchmark",
                        f" ({m['torch_threads']} threads), kornia {m.get('kornia', '?')}, pdfium {m.get('pdfium', '?')}, "
                        f"poppler {m.get('poppler', 'missing')}")
    lines += [f"Settings: rotation `{res['args']['rotation']}`, size {res['args']['size']}, "
             f"dpi {res['args']['dpi']:g}, skew {res['args']['skew']:g}, {res['args']['pages']} pages per document, "
             f"device {res['device']}", ""]
    e2e = res.get("end_to_end")
    if e2e is not None:
        base = next((r for r in e2e if r["kind"] == "naive" and "error" not in r), None)
        lines += ["### End-to-end (PDF -> shards)", "",
                  "| run | pages | samples | wall s | pages/s | samples/s | vs naive |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in e2e:
            if "error" in r:
                lines.append(f"| {r['name']} | – | – | – | – | – | not run: {r['error']} |")
                continue
            ratio = f"{r['samples_per_s'] / base['samples_per_s']:.2f}x" if base else "–"
            lines.append(f"| {r['name']} | {r['pages']} | {r['samples']} | {r['wall_s']:.1f} | "
                         f"{r['pages_per_s']:.1f} | {r['samples_per_s']:.1f} | {ratio} |")
        lines.append("")
        for r in e2e:
            if "main_batch_s" in r:
                lines.append(f"- {r['name']}: main-process batch work (turn + letterbox + PNG + tar) "
                             f"{r['main_batch_s']:.1f} s of {r['wall_s']:.1f} s wall "
                             f"({100 * r['main_batch_s'] / r['wall_s']:.0f} %); the rest is waiting on render workers "
                             f"and setup; {r['skipped']} pages skipped (blank/unreadable).")
            if "stages_s" in r:
                st = r["stages_s"]
                tot = sum(st.values())
                lines.append("- naive stages: " + ", ".join(f"{k} {v:.1f} s ({100 * v / tot:.0f} %)"
                                                            for k, v in st.items()) + ".")
        lines += note_lines(res)
        lines.append("")
    rot = res.get("rotation")
    if rot:
        dev = rot[0]["device"]
        where = m["gpu"] if dev.startswith("cuda") else m["cpu"]
        shapes = sorted({(r["h"], r["w"]) for r in rot}, reverse=True)
        lines += [f"### Rotation stage alone ({dev}: {where}; batch {rot[0]['batch']}, all four angles, "
                  f"skew ±{rot[0]['skew']:g}°; best pass after a warm-up)", "",
                  "| strategy | " + " | ".join(f"{h}x{w} pages/s" for h, w in shapes) + " |",
                  "|---|" + "---:|" * len(shapes)]
        for name in dict.fromkeys(r["strategy"] for r in rot):
            cells = []
            for hw in shapes:
                r = next((r for r in rot if r["strategy"] == name and (r["h"], r["w"]) == hw), None)
                cells.append(f"{r['pages_per_s']:,.0f}" if r else "–")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"({shapes[-1][0]}x{shapes[-1][1]} is the fitted size the build actually turns at size "
                      f"{res['args']['size']}.)", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = arg_parser(__doc__)
    ap.add_argument("--pages", type=int, default=8, help="pages per document (BuildConfig.max_pages_per_doc)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--json", metavar="OUT.json", help="also write the figures as JSON here")
    ap.add_argument("--rotation", default="kornia-zeros", help="strategy used by the end-to-end build")
    ap.add_argument("--size", type=int, default=224, help="model input side (pixels)")
    ap.add_argument("--dpi", type=float, default=100.0, help="render resolution")
    ap.add_argument("--skew", type=float, default=0.0, help="max skew in degrees (build and rotation stage)")
    ap.add_argument("--workers", type=int, default=0, help="render workers of the build (0 = default: all cores, max 8)")
    ap.add_argument("--corpus", metavar="DIR", help="folder of PDFs to use instead of the default manifest corpus")
    ap.add_argument("--rotation-only", action="store_true", help="skip end-to-end and baseline; rotation stage only")
    ap.add_argument("--no-rotation", action="store_true", help="skip the rotation stage")
    ap.add_argument("--batch", type=int, default=0, help="rotation-stage batch (0 = 32 on CPU, 128 on CUDA)")
    ap.add_argument("--min-time", type=float, default=1.0, help="minimum timed seconds per rotation measurement")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in this process (0 = torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    try:
        from datagen.build import resolve_sources
        from datagen.devices import resolve_device
        from datagen.strategies import get_strategy

        device = resolve_device(args.device)
        get_strategy(args.rotation)
        if args.pages < 1 or args.size < 16 or args.dpi <= 0 or args.batch < 0:
            raise ValueError("--pages must be >= 1, --size >= 16, --dpi > 0, --batch >= 0")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    res: dict = {"command": " ".join(["python", "-m", "bench.bench_datagen", *(argv if argv is not None else sys.argv[1:])]),
                 "machine": machine(), "device": str(device), "args": vars(args)}

    if not args.rotation_only:
        try:
            sources = [args.corpus] if args.corpus else []
            docs = resolve_sources(sources, log=lambda s: print(s, file=sys.stderr))
        except Exception as e:  # fetch failures (no network) must read as one line
            print(f"error: cannot resolve the corpus: {e}\n(on a machine without the corpus use --corpus DIR or "
                  "--rotation-only)", file=sys.stderr)
            return 2
        print(f"corpus: {len(docs)} documents; {args.pages} pages each at most", file=sys.stderr)
        e2e: list[dict] = []
        res["notes"] = []
        problem = poppler_problem()
        with tempfile.TemporaryDirectory(prefix="docorient-bench-") as tmp:
            tmp = Path(tmp)
            print("end-to-end: datagen build (pdfium) ...", file=sys.stderr)
            main_run = run_build(sources, tmp / "build-pdfium", args, "pdfium")
            e2e.append(main_run)
            if problem:
                e2e.append({"kind": "build", "name": "datagen build (poppler)", "error": problem})
                e2e.append({"kind": "naive", "name": "naive baseline (pdf2image)", "error": problem})
                print(f"WARNING: {problem}; the poppler build and the naive baseline are skipped", file=sys.stderr)
            else:
                print("end-to-end: datagen build (poppler) ...", file=sys.stderr)
                e2e.append(run_build(sources, tmp / "build-poppler", args, "poppler"))
                pages = page_set(main_run["record"])
                print(f"naive baseline on the same {sum(len(i) for _, _, i in pages)} pages ...", file=sys.stderr)
                nv = run_naive(pages, tmp / "naive.tar", args)
                e2e.append(nv)
                if nv["samples"] != main_run["samples"]:
                    res["notes"].append(f"sample counts differ: build {main_run['samples']}, naive {nv['samples']}")
            for r in e2e:
                r.pop("record", None)
        res["end_to_end"] = e2e
        if not problem:
            res["speedup"] = e2e[0]["samples_per_s"] / e2e[-1]["samples_per_s"]
            res["notes"].append(f"speedup of datagen build (pdfium) over the naive baseline: {res['speedup']:.2f}x "
                                f"(target >= 3x); the build also encodes a mask PNG and JSON per sample, "
                                "the naive one writes image + class only")

    if not args.no_rotation:
        print(f"rotation stage on {device} ...", file=sys.stderr)
        res["rotation"] = run_rotation(args, device)

    return finish(res, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
