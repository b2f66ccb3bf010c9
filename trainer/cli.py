"""``trainer`` command line: fit, eval, predict (thin layer over the library)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from datagen.contract import find_variants
from datagen.devices import click_device as _device

from .options import ARCHS, AUGMENTS



@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docorient-toolkit")
def main():
    """Train, evaluate and apply orientation classifiers (ResNet18 and peers)."""


def _fail(e: Exception):
    raise click.ClickException(" ".join(str(e).split()))


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default runs/<variant>; with several variants, OUT/<variant>).")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(1), help="Passes over the train split.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1), help="Samples per optimizer step.")
@click.option("--lr", default=2e-3, show_default=True, type=click.FloatRange(0, 10, min_open=True),
              help="Peak learning rate of AdamW (one warm-up epoch, then cosine decay).")
@click.option("--weight-decay", default=0.05, show_default=True, type=click.FloatRange(0, 10),
              help="AdamW weight decay.")
@click.option("--size", default=None, type=click.IntRange(16), help="Input side (default: the variant's own).")
@click.option("--device", default="auto", show_default=True, callback=_device, help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of shuffling, initialisation and augmentation.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0),
              help="Processes that read the shards (0: the main process reads them).")
@click.option("--max-steps", default=None, type=click.IntRange(1), help="Stop after N optimizer steps (tests).")
@click.option("--augment", default="none", show_default=True, type=click.Choice(AUGMENTS),
              help="Label-blind augmentation: scan (scan and photo degradations), bars (dark header/footer bars), both.")
@click.option("--resume", is_flag=True, help="Continue from RUN/last.pt after the last finished epoch.")
@click.option("--arch", default="resnet18", show_default=True, type=click.Choice(ARCHS),
              help="torchvision classifier, made 1-channel with a 4-way head.")
@click.option("--weights", default=None, help="torchvision weights name (e.g. DEFAULT): downloads, needs the network.")
@click.option("--init", default=None, metavar="CKPT",
              help="Start from the weights of a docorient checkpoint ('default': the shipped model), e.g. to "
                   "fine-tune it on your own pages; --size may differ from the checkpoint's.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (useful on CUDA).")
@click.option("--cache", default="auto", show_default=True, type=click.Choice(["auto", "on", "off"]),
              help="Keep the decoded train split in memory after the first epoch (auto: if it fits in 4 GiB).")
@click.option("--turns", is_flag=True,
              help="Turn each sample clockwise by a random multiple of 90 degrees (lossless, the label moves with "
                   "it): an exact variant built with --angles 0 trains all four classes.")
@click.option("--crops", default=0, show_default=True, type=click.IntRange(0, 64),
              help="A multi-view model: it sees the whole page at --size plus this many --size windows of the "
                   "variant's full resolution where the ink is (the variant's size must be a multiple of --size).")
@click.option("--p-whole", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Multi-view training: the share of samples shown whole (the rest are ink windows).")
@click.option("--scan-strength", default=1.0, show_default=True, type=click.FloatRange(0, 2),
              help="--augment scan: scales how often each scan degradation is drawn.")
@click.option("--val-every", default=1, show_default=True, type=click.IntRange(1),
              help="Validate (and keep the best model) every N epochs, and after the last.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def fit(path, out, epochs, batch_size, lr, weight_decay, size, device, seed, workers, max_steps, augment, resume,
        arch, weights, init, compile_, cache, turns, crops, p_whole, scan_strength, val_every, quiet):
    """Train one model per dataset variant found at PATH (a variant, or a folder of variants).

    \b
    Example:  trainer fit shards/                       # -> runs/<variant>/model.pt for each
              trainer fit shards/exact --epochs 20 --augment scan --out runs/exact-scan
              trainer fit my-shards/ --init default --epochs 4 --lr 5e-4   # fine-tune the shipped model
    """
    from .engine import FitConfig, dist_info, fit as fit_variant, summary_table

    try:
        variants = find_variants(path)
        cfg = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, size=size,
                        device=device, seed=seed, workers=workers, max_steps=max_steps, augment=augment,
                        resume=resume, arch=arch, weights=weights, compile=compile_, cache=cache, turns=turns,
                        crops=crops, p_whole=p_whole, val_every=val_every, scan_strength=scan_strength,
                        init=init)
        cfg.validate()
        from datagen.devices import resolve_device

        resolve_device(device)
        rows = []
        for v in variants:
            run = (out if len(variants) == 1 else out / v.name) if out else Path("runs") / v.name
            rows.append(fit_variant(v, run, cfg, progress=not quiet))
    except (ValueError, RuntimeError) as e:
        _fail(e)
    if dist_info()[0] == 0:
        click.echo(summary_table(rows))


def _split_model(args: tuple) -> tuple[Path | None, list[Path]]:
    """``[MODEL] DATA...``: the first argument is the model when it is a .pt or .onnx file."""
    from .infer import is_model_file

    args = [Path(a) for a in args]
    if args and is_model_file(args[0]):
        return args[0], args[1:]
    return None, args


def _load(model_path, device, engine: str = "torch", tta: bool = False):
    """(engine object, checkpoint-or-meta dict, input spec ``(size, page side, crops)``, dpi, path)
    for a model path (None = the default): :func:`trainer.loading.load_engine`."""
    from .loading import load_engine

    return tuple(load_engine(model_path, device, engine, tta))


def _run(fn):
    """Run a command body: library errors and OS errors become one-line ClickExceptions."""
    try:
        return fn()
    except (ValueError, RuntimeError) as e:
        _fail(e)
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        raise click.ClickException(f"{where}{e.strerror or e}") from None


@main.command(name="eval")
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] DATA...")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split of a variant (default test).")
@click.option("--group-by", default=None, help="CSV column (or manifest field) to report accuracy per value of.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--tta", is_flag=True, help="Rotation-consistent test-time augmentation (4x compute).")
@click.option("--dpi", default=None, type=click.FloatRange(10, 1200), help="Render dpi for PDFs (default: the training data's).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1), help="Pages per forward pass.")
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="Render processes (default: the cores, at most 8).")
@click.option("--engine", default="auto", show_default=True, type=click.Choice(["auto", "torch", "onnx"]),
              help="auto: onnxruntime for an .onnx model (the default model when onnxruntime is installed).")
@click.option("--device", default="auto", show_default=True, callback=_device, help="auto, cpu, cuda or cuda:N.")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path),
              help="Write reliability.png and risk-coverage.png into this folder.")
def eval_cmd(args, split, group_by, as_json, tta, dpi, batch_size, workers, engine, device, plots):
    """Evaluate MODEL (default: the shipped model) on DATA: a variant folder (its test split), a
    CSV with columns file,angle[,skew] (with skew: the fine skew's errors too), a manifest (.toml:
    its pages turned to all four angles, by kind and script), or PDFs, images and folders of them
    (upright pages turned losslessly to all four angles).

    \b
    Example:  trainer eval runs/exact/model.pt shards/exact
              trainer eval real/labels.csv --group-by kind --json
              trainer eval data_manifests/real-pages.toml
    """
    from .data import open_data
    from .evaluate import evaluate, format_result

    def body():
        model_path, data = _split_model(args)
        if not data:
            raise click.UsageError("no DATA given: a variant folder, a file,angle CSV, a manifest, or PDFs and images")
        eng, ckpt, spec, ddpi, path = _load(model_path, device, engine, tta)
        ds = open_data(data, spec[1], split=split, group_by=group_by, dpi=dpi or ddpi, workers=workers,
                       prep=getattr(eng, "prep", None))
        res = evaluate(None, ds, batch_size=batch_size, engine=eng, spec=spec)
        res.review_threshold = float(ckpt.get("review_threshold", 0.0)) if "review_threshold" in ckpt else None
        if plots and res.n:
            from .plots import plot_reliability, plot_risk_coverage

            plots.mkdir(parents=True, exist_ok=True)
            conf = res.confidence_report()
            title = f"{path.name} on {ds.describe()}"
            plot_reliability(conf["calibration"], plots / "reliability.png", title)
            plot_risk_coverage(conf["risk_coverage"], plots / "risk-coverage.png", title, res.review_threshold)
        return path, ds, res

    path, ds, res = _run(body)
    if as_json:
        click.echo(json.dumps({"model": str(path), "data": ds.describe(), "tta": tta, **res.to_json()}, indent=2,
                              allow_nan=False))
    else:
        click.echo(format_result(res, f"{path} on {ds.describe()}" + (" (tta)" if tta else "")))
    if res.n == 0:
        raise click.ClickException(f"no sample of {ds.describe()} could be evaluated ({len(res.errors)} errors)")


@main.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] FILES...")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per page, in input order.")
@click.option("--fix", "fix_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write upright copies here, keeping the inputs' relative paths (images turned losslessly, "
                   "PDF pages via /Rotate).")
@click.option("--in-place", is_flag=True, help="Rewrite the inputs themselves (atomically, every page and frame kept, "
                                               "owner, group, mode and timestamps too).")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in the --fix folder.")
@click.option("--min-confidence", default=None, type=click.FloatRange(0, 1),
              help="Pages below this confidence are left unturned and listed in review.csv "
                   "(default: the model's review threshold).")
@click.option("--tta", is_flag=True, help="Rotation-consistent test-time augmentation (4x compute; "
                                           "disagreeing views flag a page for review).")
@click.option("--per-document", is_flag=True,
              help="Pages of one PDF or TIFF share a prior: weak pages follow their document, strong ones keep "
                   "their own answer.")
@click.option("--engine", default="auto", show_default=True, type=click.Choice(["auto", "torch", "onnx"]),
              help="auto: onnxruntime for an .onnx model (the default model when onnxruntime is installed).")
@click.option("--dpi", default=None, type=click.FloatRange(10, 1200), help="Render dpi for PDFs (default: the training data's).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1), help="Pages per forward pass.")
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="Decode/render processes (default: the cores, at most 8).")
@click.option("--max-pixels", default=None, type=click.IntRange(1), help="Pixel cap per page or image (default 40,000,000).")
@click.option("--device", default="auto", show_default=True, callback=_device, help="auto, cpu, cuda or cuda:N (torch engine).")
@click.option("-0", "--null", "null", is_flag=True, help="With FILES '-': the paths on stdin are NUL-separated "
                                                          "(find -print0), not one per line.")
@click.option("--skew", is_flag=True, help="Also give each page's fine tilt: skew (clockwise degrees in [-45, 45)) "
                                           "and skew_confidence columns / JSON fields.")
@click.option("--deskew", is_flag=True, help="With --fix or --in-place: also turn each page by its fine tilt "
                                             "(paper-coloured fill; PDF pages by a content transformation, text kept). "
                                             "Implies --skew.")
def predict(args, as_json, fix_dir, in_place, overwrite, min_confidence, tta, per_document, engine, dpi, batch_size,
            workers, max_pixels, device, null, skew, deskew):
    """Predict the orientation of every page of FILES (images, PDFs, folders; '-' reads their
    paths from stdin) with MODEL (default: the shipped model): one line per page with the
    clockwise angle the page is turned by, its confidence, the four probabilities and whether
    it needs review.  A file that cannot be read is a row saying why, and the run goes on.

    Exit status: 0 all done, 1 some input failed (or the run could not start), 2 usage,
    130/143 stopped by SIGINT/SIGTERM.

    \b
    Example:  trainer predict scan1.png report.pdf
              trainer predict inbox/ --fix upright/          # upright/ mirrors inbox/
              find inbox -name '*.tif' -print0 | trainer predict - -0 --fix upright/
              trainer predict runs/exact/model.pt inbox/ --json
    """
    from .predict_run import Job, run

    model_path, files = _split_model(args)
    files = [str(f) for f in files]
    if not files:
        raise click.UsageError("no FILES given: images, PDFs or folders of them ('-': their paths on stdin)")
    if files.count("-") > 1:
        raise click.UsageError("'-' (paths on stdin) can be given once")
    if null and "-" not in files:
        raise click.UsageError("-0 applies to '-' (paths on stdin)")
    if in_place and fix_dir is not None:
        raise click.UsageError("--in-place and --fix OUT exclude each other: --in-place rewrites the inputs themselves")
    if deskew and fix_dir is None and not in_place:
        raise click.UsageError("--deskew applies to --fix OUT or --in-place (it turns the copies it writes)")
    if fix_dir is None and not in_place and (overwrite or min_confidence is not None):
        raise click.UsageError("--overwrite and --min-confidence apply to --fix or --in-place")
    if "-" in files:
        from datagen.pages import read_path_list

        i = files.index("-")
        files[i:i + 1] = read_path_list(click.get_binary_stream("stdin").read(), null)
        if not files:
            raise click.UsageError("'-' read no paths from stdin")
    job = Job(files, as_json, fix_dir, in_place, overwrite, min_confidence, per_document, dpi, batch_size, workers,
              max_pixels, deskew=deskew, skew=skew)
    status = _run(lambda: run(job, lambda: _load(model_path, device, engine, tta)))
    sys.exit(status)


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The calibrated checkpoint to write (MODEL itself is never changed).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split of a variant (default val).")
@click.option("--workers", default=None, type=click.IntRange(1, 256), help="Render processes (default: the cores, at most 8).")
@click.option("--device", default="auto", show_default=True, callback=_device, help="auto, cpu, cuda or cuda:N.")
@click.option("--target-risk", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="The review threshold is the lowest confidence at which the pages turned automatically are "
                   "at most this share wrong on DATA.")
def calibrate(model_path, data, out, split, workers, device, target_risk):
    """Fit MODEL's temperature and review threshold on labelled DATA (as trainer eval reads it)
    and write the calibrated checkpoint to OUT.

    \b
    Example:  trainer calibrate runs/exact/model.pt shards/exact --split val --out runs/exact/calibrated.pt
              trainer calibrate model.pt my-pages/labels.csv --target-risk 0.02 --out model-2pct.pt
    """
    from .data import open_data
    from .engine import calibrate_model
    from .models import save_checkpoint

    def body():
        from datagen.devices import resolve_device
        from .models import load_model

        if out.resolve() == model_path.resolve():
            raise ValueError(f"{out}: is MODEL itself; write the calibrated checkpoint to another file")
        from .infer import input_spec

        dev = resolve_device(device)
        model, ck = load_model(model_path, dev)
        spec = input_spec(ck)  # (size, page side, crops): the data is read as eval and predict read it
        ds = open_data(list(data), spec[1], split=split or ("val" if len(data) == 1 and
                                                            (data[0] / "dataset.json").is_file() else None),
                       dpi=float(ck.get("dataset_config", {}).get("dpi", 100.0)), workers=workers)
        ck.pop("temperature", None)
        info = calibrate_model(model, ds, dev, log=lambda s: click.echo(s, err=True), spec=spec,
                               target_risk=target_risk)
        ck.update(info)
        out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out, ck)
        return info

    info = _run(body)
    click.echo(json.dumps(info, indent=2, allow_nan=False))


@main.command(name="fit-windows")
@click.argument("windows", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder to write.")
@click.option("--epochs", default=3.0, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(8))
@click.option("--lr", default=2e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--k", default=16, show_default=True, type=click.IntRange(1, 256), help="Windows a page votes with.")
@click.option("--val-every", default=2000, show_default=True, type=click.IntRange(1), help="Steps between validations.")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0), help="Torch threads (0: torch's choice).")
@click.option("--max-steps", default=0, show_default=True, type=click.IntRange(0), help="Stop after N steps (0: epochs decide).")
@click.option("--no-bf16", is_flag=True, help="Train in float32 (default: bf16 autocast).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt.")
def fit_windows_cmd(windows, out, epochs, batch_size, lr, k, val_every, threads, max_steps, no_bf16, seed, resume):
    """Train the glyph-window model (GlyphNet, 0.29 M parameters) on WINDOWS (``datagen windows``):
    each window turned by its own random quarter, which is its label.  Writes OUT/model.pt with
    its page temperature fitted on the validation documents.

    \b
    Example:  trainer fit-windows windows/ --out runs/windows --epochs 3
              trainer predict runs/windows/model.pt inbox/
    """
    from .windowfit import WindowFit, fit_windows

    cfg = WindowFit(epochs=epochs, batch_size=batch_size, lr=lr, k=k, val_every=val_every, threads=threads,
                    max_steps=max_steps, bf16=not no_bf16, seed=seed)
    _run(lambda: fit_windows(windows, out, cfg, resume=resume, log=lambda s: click.echo(s, err=True)))


@main.command(name="export")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "onnx_out", type=click.Path(dir_okay=False, path_type=Path), help="The .onnx file to write.")
@click.option("--pt", "pt_out", type=click.Path(dir_okay=False, path_type=Path),
              help="A slim checkpoint to write: float16 weights, no optimizer state (what the package ships).")
@click.option("--fp32", is_flag=True, help="Store float32 weights in the ONNX file (default: float16 storage, "
                                           "float32 compute).")
@click.option("--int8", is_flag=True, help="Window models: int8 static quantisation, calibrated on --calibrate.")
@click.option("--calibrate", type=click.Path(file_okay=False, path_type=Path),
              help="Window models: a datagen windows folder whose training windows calibrate --int8.")
@click.option("--whole", default=None, help="Window models: the file name, beside the export, of a whole-page "
                                            "ONNX model that answers pages without text.")
@click.option("--review-threshold", type=click.FloatRange(0, 1), default=None,
              help="Window models: the confidence below which answers need review (stored in the export).")
@click.option("--k", "k_first", type=click.IntRange(1, 1024), default=None,
              help="Window models, with --calibrate: the windows every page is read with first (default: the "
                   "checkpoint's K; its temperature is fitted on the folder's validation pages).")
@click.option("--k-max", type=click.IntRange(1, 1024), default=64, show_default=True,
              help="Window models, with --calibrate: the windows an uncertain page is read with again "
                   "(its temperature is fitted on the folder's validation pages).")
@click.option("--escalate", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Window models, with --calibrate: the top probability after K windows below which a page "
                   "is read with --k-max windows.")
def export_cmd(model_path, onnx_out, pt_out, fp32, int8, calibrate, whole, review_threshold, k_first, k_max,
               escalate):
    """Export MODEL to ONNX, with its preprocessing contract (input size, normalisation, classes,
    temperature, review threshold) in the model's metadata.

    \b
    Example:  trainer export runs/exact/model.pt --onnx exact.onnx
              trainer predict exact.onnx inbox/ --json        # runs on onnxruntime, without torch
    """
    from .export import export_half, export_onnx

    def body():
        if not onnx_out and not pt_out:
            raise click.UsageError("nothing to write: give --onnx OUT.onnx and/or --pt OUT.pt")
        for p in (onnx_out, pt_out):
            if p is not None and p.resolve() == model_path.resolve():
                raise ValueError(f"{p}: is MODEL itself; write the export to another file")
        if _window_checkpoint(model_path):
            return _export_windows(model_path, onnx_out, pt_out, int8, calibrate, whole, review_threshold,
                                   k_max, escalate, k_first)
        if pt_out:
            export_half(model_path, pt_out)
            click.echo(f"wrote {pt_out} ({pt_out.stat().st_size / 2**20:.1f} MiB, float16 weights)")
        if onnx_out:
            try:
                import onnx  # noqa: F401
            except ImportError:
                raise ValueError("trainer export --onnx needs onnx: pip install 'docorient-toolkit[onnx]'") from None
            meta = export_onnx(model_path, onnx_out, half_weights=not fp32)
            click.echo(f"wrote {onnx_out} ({onnx_out.stat().st_size / 2**20:.1f} MiB; {meta['arch']}, "
                       f"{meta['input_size']} px, temperature {meta['temperature']:.3f})")

    _run(body)


def _window_checkpoint(path: Path) -> bool:
    from .loading import _is_window_checkpoint

    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return path.suffix.lower() == ".pt" and _is_window_checkpoint(path)


def _whole_input(out: Path, whole: str | None) -> dict:
    """``{"whole_input": [size, side, crops]}`` of the whole-page model ``whole`` beside ``out``, so
    that prediction opens it only for a page without text; ``{}`` when it is not there (it is then
    opened at start)."""
    if not whole:
        return {}
    p = out.parent / whole
    if not p.is_file():
        click.echo(f"note: {p} is not there yet; the export will open it at start, not lazily", err=True)
        return {}
    from .infer import input_spec, onnx_session, read_onnx_meta

    return {"whole_input": list(input_spec(read_onnx_meta(onnx_session(p), p)))}


def _export_windows(model_path, onnx_out, pt_out, int8, calibrate, whole, review_threshold, k_max=64, escalate=0.8,
                    k_first=None):
    import torch

    from .windowexport import escalation, export_windows

    extra = {k: v for k, v in (("whole", whole), ("review_threshold", review_threshold)) if v is not None}
    if k_first and not calibrate:
        raise click.UsageError("--k needs --calibrate WINDOWS/: its page temperature is fitted on validation pages")
    if calibrate:
        extra |= escalation(model_path, calibrate, k_max, escalate, k_first)
        if "temperature" in extra:
            click.echo(f"vote: {extra['k']} windows first (temperature {extra['temperature']:.3f} on validation pages)")
        if "temperature_max" in extra:
            click.echo(f"escalation: below {escalate:g}, up to {extra['k_max']} windows "
                       f"(temperature {extra['temperature_max']:.3f} on validation pages)")
    if pt_out:
        from datagen.atomic import atomic_write

        ck = torch.load(model_path, map_location="cpu", weights_only=True)
        ck = {k: v for k, v in ck.items() if k != "history"} | extra | _whole_input(pt_out, whole)
        atomic_write(pt_out, lambda t: torch.save(ck, t))
        click.echo(f"wrote {pt_out} ({pt_out.stat().st_size / 2**20:.1f} MiB, window model)")
    if onnx_out:
        export_windows(model_path, onnx_out, int8=int8, calibrate=calibrate, extra_meta=extra | _whole_input(onnx_out, whole))
        click.echo(f"wrote {onnx_out} ({onnx_out.stat().st_size / 2**20:.2f} MiB; window model"
                   + (", int8" if int8 else "") + ")")


if __name__ == "__main__":  # pragma: no cover
    main()
