"""``interpret`` command line: explain, score, shortcut, compare, audit, leak, cues (thin layer over the library)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from datagen.devices import DEVICES, click_device as _device, resolve_device
from datagen.strategies import REGISTRY as STRATEGIES
from .methods import METHODS


def _methods(ctx, param, value):
    if not value:
        return list(METHODS)
    out = []
    for v in value:
        for m in v.split(","):
            m = m.strip()
            if m not in METHODS:
                raise click.BadParameter(f"unknown method {m!r}; choose from: {', '.join(METHODS)}")
            out.append(m)
    return list(dict.fromkeys(out))


method_opt = click.option("--method", "methods", multiple=True, callback=_methods,
                          help=f"Attribution method(s), repeatable or comma-separated: {', '.join(METHODS)} "
                               "(default: all).")


def _cues(ctx, param, value):
    from .cues import REGISTRY as CUES

    out = []
    for v in value or ():
        for c in v.split(","):
            c = c.strip()
            if c not in CUES:
                raise click.BadParameter(f"unknown cue {c!r}; choose from: {', '.join(CUES)}")
            out.append(c)
    return list(dict.fromkeys(out)) or None


def _clusters(ctx, param, value):
    if value == "auto":
        return value
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise click.BadParameter(f"expected a number of clusters >= 1 or 'auto', got {value!r}")
    return k


device_opt = click.option("--device", default="auto", show_default=True, callback=_device,
                          help=f"Device: {', '.join(DEVICES)} (auto = cuda when available).")
seed_opt = click.option("--seed", default=0, show_default=True, type=int,
                        help="Seed of the bootstrap intervals, the cues' random draws and the clustering.")
steps_opt = click.option("--ig-steps", default=32, show_default=True, type=click.IntRange(2, 1024),
                         help="Integrated-gradients steps.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docorient-toolkit")
def main():
    """Audit orientation models: attribution maps, artifact attention, shortcut tests, comparisons."""


def _load(model_path, device):
    from trainer.models import load_model

    dev = resolve_device(device)
    model, ckpt = load_model(model_path, dev)
    return model, ckpt, dev


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the PNG grids.")
@method_opt
@click.option("--samples", "--n", "n", default=16, show_default=True, type=click.IntRange(1),
              help="Samples to explain (--n is its older name).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split of a variant (default test).")
@click.option("--target", default="pred", show_default=True, type=click.Choice(["pred", "true"]),
              help="Explain the predicted or the true class.")
@steps_opt
@device_opt
def explain(model_path, data, out, methods, n, split, target, ig_steps, device):
    """PNG grids for DATA: each sample with its artifact mask outlined, then one heat map per method.

    \b
    Example:  interpret explain runs/kornia-zeros/model.pt shards/kornia-zeros --out explain/ --n 8
    """
    from trainer.data import open_data, describe
    from .core import explain_batches

    try:
        model, ckpt, dev = _load(model_path, device)
        ds = open_data(list(data), int(ckpt["input_size"]), split=split)
        files = explain_batches(model, ds, methods, dev, out, n=n, target=target, ig_steps=ig_steps,
                                title=f"{ckpt.get('variant')} model on {describe(ds)}")
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    if not files:
        raise click.ClickException(f"no sample of {describe(ds)} could be read")
    for f in files:
        click.echo(str(f))


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.argument("variant", type=click.Path(path_type=Path))
@method_opt
@click.option("--samples", "--n", "n", default=64, show_default=True, type=click.IntRange(1),
              help="Samples with a mask to score (--n is its older name).")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]),
              help="Split of the variant to score.")
@click.option("--target", default="pred", show_default=True, type=click.Choice(["pred", "true"]),
              help="Explain the predicted or the true class.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap intervals.")
@steps_opt
@device_opt
def score(model_path, variant, methods, n, split, target, as_json, seed, ig_steps, device):
    """Artifact attention (AAR, artifact mass, pointing game) per method on VARIANT's test split.

    \b
    Example:  interpret score runs/kornia-zeros/model.pt shards/kornia-zeros --json
    """
    from datagen.contract import load_variant
    from .core import format_score, load_masked, score_set

    try:
        model, ckpt, dev = _load(model_path, device)
        v = load_variant(variant)
        if v.count(split) == 0:
            raise ValueError(f"{variant}: the {split!r} split is empty")
        ms = load_masked(v, split, n, int(ckpt["input_size"]))
        res = score_set(model, ms, methods, dev, target=target, ig_steps=ig_steps, seed=seed)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    res = {"model": str(model_path), "variant": str(variant), "split": split, **res}
    if as_json:
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(format_score(res, f"{model_path} on {variant} [{split}]"))


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--clean", "clean", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Clean DATA: a variant (its 0° artifact-free samples), a file,angle CSV, or PDFs.")
@click.option("--strategy", required=True, type=click.Choice(list(STRATEGIES)), help="Whose artifact to add.")
@click.option("--pages", default=None, type=click.IntRange(1), help="Use at most N clean pages.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split of a clean variant (default test).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap interval.")
@device_opt
def shortcut(model_path, clean, strategy, pages, split, as_json, seed, device):
    """The intervention test: add only a strategy's artifact to clean pages (no turn of the
    content) and count changed predictions; paint the artifact out of the strategy's own samples
    and report the accuracy change.

    \b
    Example:  interpret shortcut runs/kornia-zeros/model.pt --clean shards/exact --strategy kornia-zeros
    """
    from trainer.data import open_data
    from .shortcut import format_shortcut, shortcut_test

    try:
        model, ckpt, dev = _load(model_path, device)
        ds = open_data(list(clean), int(ckpt["input_size"]), split=split)
        res = shortcut_test(model, ds, strategy, dev, limit=pages, seed=seed)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    res = {"model": str(model_path), "clean": [str(c) for c in clean], **res}
    if as_json:
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(format_shortcut(res, f"{model_path}: shortcut test with {strategy} artifacts"))


@main.command()
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--probe", type=click.Path(path_type=Path),
              help="Probe variant (default shards/kornia-zeros, built if absent).")
@click.option("--clean", multiple=True, type=click.Path(path_type=Path),
              help="Clean DATA (default: clean renderings of the runs' test documents).")
@click.option("--real", type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled real pages: a file,angle CSV, with doc and kind columns for intervals by document and "
                   "a breakdown by kind (as 'datagen pages' writes).")
@click.option("--out", default=Path("reports/compare"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Report folder (written atomically).")
@method_opt
@click.option("--samples", "--n", "n", default=48, show_default=True, type=click.IntRange(1),
              help="Masked samples per set for AAR (--n is its older name).")
@click.option("--shortcut-pages", default=40, show_default=True, type=click.IntRange(1),
              help="Clean pages for the shortcut test.")
@click.option("--audit/--no-audit", default=True, show_default=True,
              help="Add the audit section (cue battery, leak test, relevance clusters; see 'interpret audit').")
@click.option("--audit-pages", default=None, type=click.IntRange(1),
              help="Clean pages for the cue battery (default: --shortcut-pages).")
@steps_opt
@seed_opt
@device_opt
def compare(runs, probe, clean, real, out, methods, n, shortcut_pages, audit, audit_pages, ig_steps, seed, device):
    """Compare runs (default: every run under runs/): accuracy own/clean/real, artifact attention
    per method on own and probe data, shortcut test, and the audit; writes report.md/json/csv and figures.

    \b
    Example:  interpret compare                     # runs/* -> reports/compare/
              interpret compare runs/kornia-zeros runs/exact --real real/labels.csv --out reports/two
    """
    from .compare import compare as run_compare

    try:
        res = run_compare(list(runs), out, probe=probe, clean=list(clean) or None, real=real, methods=methods, n=n,
                          shortcut_pages=shortcut_pages, ig_steps=ig_steps, device=resolve_device(device),
                          audit=audit, audit_pages=audit_pages, seed=seed)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    for line in res["verdict"]["text"]:
        click.echo(line.replace("**", ""))
    if res.get("audit"):
        from .report import format_audit

        click.echo(format_audit(res["audit"]))
    click.echo(f"report: {out / 'report.md'}")


@main.command()
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--clean", multiple=True, type=click.Path(path_type=Path),
              help="Clean DATA: a variant (its 0-degree artifact-free samples), a file,angle CSV, a manifest or PDFs "
                   "(default: clean renderings of each run's test documents).")
@click.option("--out", default=Path("reports/audit"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Report folder (written atomically).")
@click.option("--pages", default=40, show_default=True, type=click.IntRange(1),
              help="Clean pages for the cue battery (each at its four turns).")
@click.option("--cue", "cues", multiple=True, callback=_cues,
              help="Run only these cues, repeatable or comma-separated (default: all; 'interpret cues' lists them).")
@click.option("--spray-samples", "--spray-n", "spray_n", default=16, show_default=True, type=click.IntRange(2),
              help="Test samples per class for the relevance clusters (--spray-n: older name).")
@click.option("--clusters", default="3", show_default=True, callback=_clusters,
              help="Relevance clusters per class: a number, or 'auto' (eigengap, 1-4).")
@click.option("--leak/--no-leak", default=True, show_default=True,
              help="Run the leak test on each run's training data.")
@click.option("--spray/--no-spray", "spray_on", default=True, show_default=True,
              help="Cluster Grad-CAM maps of each run's test split.")
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the verdict.")
@seed_opt
@device_opt
def audit(runs, clean, out, pages, cues, spray_n, clusters, leak, spray_on, as_json, seed, device):
    """Find the shortcuts nobody planted: a battery of label-free cue edits on clean pages (flip
    rates with intervals), a leak test on the training data, and relevance clusters.  RUN is a
    run folder with model.pt or a model.pt path (default: every run under runs/).  A window model
    (trainer fit-windows, or its .onnx) gets its own cues, window positions among them, on
    --clean LABELS.csv.

    \b
    Example:  interpret audit runs/exact --out reports/audit
              interpret audit runs-full/exact/model.pt --cue bar-top,bar-bottom --pages 155 --no-spray
              interpret audit trainer/weights/default.onnx --clean real/labels.csv --pages 60
    """
    from .audit import audit as run_audit
    from .report import format_audit

    if len(runs) == 1 and _is_window_model(runs[0]):
        return _audit_windows(runs[0], clean, out, pages, seed, as_json)
    try:
        res = run_audit(list(runs), out, clean=list(clean) or None, cues=cues, pages=pages, seed=seed,
                        spray_n=spray_n, clusters=clusters, leak=leak, spray_on=spray_on, device=resolve_device(device))
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    if as_json:
        click.echo((out / "report.json").read_text(encoding="utf-8").rstrip())
        return
    click.echo(format_audit(res))
    click.echo(f"report: {out / 'report.md'}")


def _is_window_model(path: Path) -> bool:
    """A window model file (``trainer fit-windows`` checkpoint or its ONNX export)?"""
    if not path.is_file() or path.suffix.lower() not in (".pt", ".onnx"):
        return False
    if path.suffix.lower() == ".onnx":
        from trainer.infer import onnx_session, read_onnx_meta

        return read_onnx_meta(onnx_session(path), path).get("kind") == "windows"
    from trainer.loading import _is_window_checkpoint

    return _is_window_checkpoint(path)


def _audit_windows(model: Path, clean, out: Path, pages: int, seed: int, as_json: bool) -> None:
    from .windowaudit import audit_windows, window_markdown, write_window_audit

    labels = [c for c in clean if c.suffix.lower() == ".csv"]
    if len(labels) != 1:
        raise click.ClickException(f"{model}: a window model is audited on clean page files: give --clean "
                                   "LABELS.csv (datagen pages output)")
    try:
        res = audit_windows(str(model), labels[0], pages=pages, seed=seed)
        write_window_audit(res, out)
    except (ValueError, RuntimeError, OSError) as e:
        raise click.ClickException(str(e))
    click.echo(json.dumps(res, indent=1) if as_json else window_markdown(res) + f"report: {out / 'report.md'}")


@main.command()
@click.argument("variants", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2),
              help="Cross-validation folds (by document; fewer when there are fewer documents).")
@click.option("--max-samples", default=None, type=click.IntRange(10),
              help="Use at most N samples per variant, spread evenly (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the probe and the bootstrap intervals.")
def leak(variants, folds, max_samples, as_json, seed):
    """Does the data give the label away?  A logistic-regression probe, cross-validated by
    document, predicts the label from the artifact mask, the border rows, the letterbox geometry
    and the image turned back upright; accuracy against chance, per variant.  No model needed.

    \b
    Example:  interpret leak shards/kornia-zeros shards/exact
    """
    from .leak import format_leak, leak_test

    try:
        res = [leak_test(v, folds=folds, seed=seed, max_samples=max_samples) for v in variants]
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    if as_json:
        click.echo(json.dumps(res, indent=2))
    else:
        click.echo(format_leak(res))


@main.command("cues")
def list_cues():
    """List the cues of the audit's battery, one line each."""
    from .cues import REGISTRY

    w = max(len(n) for n in REGISTRY)
    for c in REGISTRY.values():
        click.echo(f"{c.name:<{w}}  {c.summary}")


if __name__ == "__main__":  # pragma: no cover
    main()
