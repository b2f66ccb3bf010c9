"""``trainer`` command line: fit, eval, predict (thin layer over the library)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from datagen.devices import resolve_device
from datagen.contract import find_variants
from .augment import AUGMENTS
from .models import ARCHS

DEVICES = ("auto", "cpu", "cuda")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docorient-toolkit")
def main():
    """Train, evaluate and apply orientation classifiers (ResNet18 and peers)."""


def _fail(e: Exception):
    raise click.ClickException(str(e))


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default runs/<variant>; with several variants, OUT/<variant>).")
@click.option("--epochs", default=8, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=2e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--weight-decay", default=0.05, show_default=True, type=click.FloatRange(0))
@click.option("--size", default=None, type=click.IntRange(16), help="Input side (default: the variant's own).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0), help="DataLoader workers.")
@click.option("--max-steps", default=None, type=click.IntRange(1), help="Stop after N optimizer steps (tests).")
@click.option("--augment", default="none", show_default=True, type=click.Choice(AUGMENTS))
@click.option("--resume", is_flag=True, help="Continue from RUN/last.pt after the last finished epoch.")
@click.option("--arch", default="resnet18", show_default=True, type=click.Choice(ARCHS))
@click.option("--weights", default=None, help="torchvision weights name (e.g. DEFAULT): downloads, needs the network.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (useful on CUDA).")
@click.option("--cache", default="auto", show_default=True, type=click.Choice(["auto", "on", "off"]),
              help="Keep the decoded train split in memory after the first epoch (auto: if it fits in 4 GiB).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def fit(path, out, epochs, batch_size, lr, weight_decay, size, device, seed, workers, max_steps, augment, resume,
        arch, weights, compile_, cache, quiet):
    """Train one model per dataset variant found at PATH (a variant, or a folder of variants).

    \b
    Example:  trainer fit shards/                       # -> runs/<variant>/model.pt for each
              trainer fit shards/exact --epochs 20 --augment scan --out runs/exact-scan
    """
    from .engine import FitConfig, dist_info, fit as fit_variant, summary_table

    try:
        variants = find_variants(path)
        cfg = FitConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, size=size,
                        device=device, seed=seed, workers=workers, max_steps=max_steps, augment=augment,
                        resume=resume, arch=arch, weights=weights, compile=compile_, cache=cache)
        cfg.validate()
        resolve_device(device)
        rows = []
        for v in variants:
            run = (out if len(variants) == 1 else out / v.name) if out else Path("runs") / v.name
            rows.append(fit_variant(v, run, cfg, progress=not quiet))
    except (ValueError, RuntimeError) as e:
        _fail(e)
    if dist_info()[0] == 0:
        click.echo(summary_table(rows))


def _load(model_path, device):
    from .models import load_model

    dev = resolve_device(device)
    model, ckpt = load_model(model_path, dev)
    return model, ckpt, dev


@main.command(name="eval")
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split of a variant (default test).")
@click.option("--group-by", default=None, help="CSV column to report accuracy per value of.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--tta", is_flag=True, help="Rotation-consistent test-time augmentation (4x compute).")
@click.option("--dpi", default=None, type=float, help="Render dpi for PDFs (default: the training data's).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES))
def eval_cmd(model_path, data, split, group_by, as_json, tta, dpi, batch_size, device):
    """Evaluate MODEL on DATA: a variant folder (its test split), a CSV with columns file,angle,
    or PDFs / folders of PDFs (every page turned losslessly to all four angles).

    \b
    Example:  trainer eval runs/exact/model.pt shards/exact
              trainer eval runs/exact/model.pt real/labels.csv --group-by source --json
    """
    from .data import open_data, describe
    from .evaluate import evaluate, format_result

    try:
        model, ckpt, dev = _load(model_path, device)
        ds = open_data(list(data), int(ckpt["input_size"]), split=split, group_by=group_by,
                       dpi=dpi or float(ckpt.get("dataset_config", {}).get("dpi", 100.0)))
        res = evaluate(model, ds, dev, batch_size=batch_size, tta=tta)
    except (ValueError, RuntimeError) as e:
        _fail(e)
    if res.n == 0:
        msg = f"no sample of {describe(ds)} could be evaluated ({len(res.errors)} errors)"
        if as_json:
            click.echo(json.dumps({"model": str(model_path), "data": describe(ds), **res.to_json()}, indent=2))
        raise click.ClickException(msg)
    if as_json:
        click.echo(json.dumps({"model": str(model_path), "data": describe(ds), "tta": tta, **res.to_json()}, indent=2))
    else:
        click.echo(format_result(res, f"{model_path} on {describe(ds)}" + (" (tta)" if tta else "")))


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--fix", "fix_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write upright copies here (images turned losslessly, PDF pages via /Rotate).")
@click.option("--tta", is_flag=True, help="Rotation-consistent test-time augmentation (4x compute).")
@click.option("--dpi", default=None, type=float, help="Render dpi for PDFs (default: the training data's).")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, type=click.Choice(DEVICES))
def predict(model_path, files, as_json, fix_dir, tta, dpi, batch_size, device):
    """Predict the orientation of every page of FILES (images, PDFs, folders): one line per page
    with the clockwise angle the page is turned by and its probability.

    \b
    Example:  trainer predict runs/exact/model.pt scan1.png report.pdf --fix upright/
    """
    from .predict import expand_files, fix_files, predict_files

    try:
        model, ckpt, dev = _load(model_path, device)
        preds = predict_files(model, ckpt, expand_files(list(files)), dev, batch_size=batch_size, tta=tta, dpi=dpi)
        written = fix_files(preds, fix_dir) if fix_dir else []
    except (ValueError, RuntimeError) as e:
        _fail(e)
    n_err = sum(1 for p in preds if p.error)
    if as_json:
        click.echo(json.dumps({"model": str(model_path), "tta": tta, "pages": [p.to_json() for p in preds],
                               "fixed": [str(w) for w in written]}, indent=2))
    else:
        for p in preds:
            where = p.file + (f"#page={p.page}" if p.page else "")
            if p.error:
                click.echo(f"{where}\terror\t{p.error}")
            else:
                click.echo(f"{where}\t{p.angle}\t{p.prob:.3f}")
        if written:
            click.echo(f"wrote {len(written)} upright file(s) to {fix_dir}", err=True)
    if n_err == len(preds):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
