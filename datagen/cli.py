"""``datagen`` command line: fetch, build, strategies, inspect (thin layer over the library)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .build import DEFAULT_DPI, DEFAULT_SIZE, BuildConfig, BuildError, build, summary_lines
from .contract import ANGLES, load_variant
from .manifest import (KINDS, ManifestError, default_dest, default_manifest_path, docs_from_manifest,
                       fetch as fetch_manifest, load_manifest, select_kinds)
from .render import DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT, RENDERERS, default_workers
from .strategies import REGISTRY

DEVICES = ("auto", "cpu", "cuda")


def _os_error(e: OSError) -> str:
    """An OS error (an unwritable folder, a full disk) as one line naming the file."""
    return f"{e.filename}: {e.strerror or e}" if getattr(e, "filename", None) else str(e.strerror or e)


def _angles(ctx, param, value):
    try:
        out = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated angles among {ANGLES}, got {value!r}") from None
    if not out or any(a not in ANGLES for a in out) or len(set(out)) != len(out):
        raise click.BadParameter(f"expected distinct angles among {ANGLES}, got {value!r}")
    return out


from datagen.devices import click_device as _device  # noqa: E402

def _split(ctx, param, value):
    try:
        fr = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected TRAIN,VAL,TEST fractions like 0.8,0.1,0.1, got {value!r}") from None
    import math

    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) or not abs(sum(fr) - 1) <= 1e-3:
        raise click.BadParameter(f"expected three finite, non-negative fractions summing to 1, got {value!r}")
    return fr


def _part(ctx, param, value):
    if value is None:
        return None
    try:
        i, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"expected I/N like 2/8, got {value!r}") from None
    if not 1 <= i <= n:
        raise click.BadParameter(f"expected 1 <= I <= N, got {value!r}")
    return (i, n)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docorient-toolkit")
def main():
    """Generate orientation datasets from PDFs: render, rotate by a strategy, write shards."""


@main.command()
def strategies():
    """List the rotation strategies, one line each."""
    width = max(len(n) for n in REGISTRY)
    for name, s in REGISTRY.items():
        click.echo(f"{name:<{width}}  {s.summary}; artifact: {s.artifact}")


@main.command()
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the PDFs (default: the cache, ~/.cache/docorient/corpus/<name>).")
def fetch(manifest, dest):
    """Fetch and verify (sha256) the documents of MANIFEST (default: the built-in corpus).

    \b
    Example:  datagen fetch data_manifests/debian-docs.toml --dest corpus/
    """
    try:
        m = load_manifest(manifest or default_manifest_path())
        dest = dest or default_dest(m)
        rep = fetch_manifest(m, dest, log=lambda s: click.echo(s, err=True))
    except (ManifestError, ValueError) as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException(_os_error(e))
    click.echo(f"{m.name}: {len(rep.fetched)} fetched, {len(rep.present)} already present and verified -> {dest}")


@main.command(name="build")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Variant folder (default: shards/<rotation>).")
@click.option("--rotation", required=True, type=click.Choice(list(REGISTRY)), help="Rotation strategy.")
@click.option("--size", default=DEFAULT_SIZE, show_default=True, type=click.IntRange(16, 4096),
              help="Model input side in pixels.")
@click.option("--dpi", default=DEFAULT_DPI, show_default=True, type=click.FloatRange(10, 1200, min_open=False),
              help="Render resolution.")
@click.option("--skew", default=0.0, show_default=True, type=click.FloatRange(0, 45),
              help="Uniform ±DEG scan-like tilt, applied to every class.")
@click.option("--angles", default="0,90,180,270", show_default=True, callback=_angles, help="Label angles to generate.")
@click.option("--fractions", "--split", "split", default="0.8,0.1,0.1", show_default=True, callback=_split,
              help="TRAIN,VAL,TEST fractions, by document (--split is its older name).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and of the skews.")
@click.option("--device", default="auto", show_default=True, callback=_device,
              help="Where pages are turned: auto, cpu, cuda or cuda:N.")
@click.option("--renderer", default="pdfium", show_default=True, type=click.Choice(RENDERERS),
              help="PDF renderer: pdfium (pypdfium2) or poppler (pdftoppm).")
@click.option("--workers", default=default_workers(), show_default=True, type=click.IntRange(1, 256),
              help="Render processes.")
@click.option("--part", default=None, callback=_part, help="Build slice I of N (documents), e.g. 2/8.")
@click.option("--max-pages-per-doc", default=None, type=click.IntRange(1), help="First N selected pages per document.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on the first unreadable document or page.")
@click.option("--max-pixels", default=DEFAULT_MAX_PIXELS, show_default=True, type=click.IntRange(1),
              help="Pixel cap per rendered page.")
@click.option("--render-timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Seconds a page may take to render.")
@click.option("--shard-size", default=1000, show_default=True, type=click.IntRange(1), help="Samples per shard.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1), help="Pages turned per batch.")
@click.option("--force", is_flag=True, help="Rebuild even if OUT already holds this exact build.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build_cmd(sources, out, rotation, size, dpi, skew, angles, split, seed, device, renderer, workers, part,
              max_pages_per_doc, strict, max_pixels, render_timeout, shard_size, batch_size, force, quiet):
    """Build a dataset variant from SOURCES (PDFs, folders of PDFs, manifests; default: the
    built-in corpus, fetched into the cache if needed).

    \b
    Example:  datagen build --rotation=kornia-reflect          # -> shards/kornia-reflect/
              datagen build my_pdfs/ --rotation exact --size 128 --out shards/mine
    """
    cfg = BuildConfig(rotation=rotation, size=size, dpi=dpi, skew=skew, angles=angles, split=split, seed=seed,
                      device=device, renderer=renderer, workers=workers, part=part,
                      max_pages_per_doc=max_pages_per_doc, strict=strict, max_pixels=max_pixels,
                      render_timeout=render_timeout, shard_size=shard_size, batch_size=batch_size)
    out = out or Path("shards") / rotation
    try:
        record = build([str(s) for s in sources], out, cfg, progress=not quiet, force=force)
    except (ValueError, ManifestError, BuildError, RuntimeError) as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException(_os_error(e))
    for line in summary_lines(record):
        click.echo(line, err=True)
    if cfg.part and record.get("parts"):
        click.echo(f"all {cfg.part[1]} parts present: merged {out / 'dataset.json'}", err=True)
    click.echo(str(out))


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write (refused if it exists, unless --force).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Where the documents are fetched (default: the cache).")
@click.option("--dpi", default=150.0, show_default=True, type=click.FloatRange(10, 1200),
              help="Render resolution of PDF pages (images keep theirs).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
              help="Only the documents of this kind (repeatable; default: all).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def pages(manifest, out, dest, dpi, kinds, force):
    """Write the pages of MANIFEST, upright then turned clockwise by 0/90/180/270, as PNGs with a
    labels.csv (file,angle,doc,page,kind,script,license): a labelled folder any tool can be scored on.

    \b
    Example:  datagen pages data_manifests/real-pages.toml --out real/
              trainer eval real/labels.csv --group-by kind
    """
    from .export import export_pages

    try:
        rep = export_pages(select_kinds(load_manifest(manifest), kinds), out, dest, dpi=dpi, force=force,
                           log=lambda s: click.echo(s, err=True))
    except (ManifestError, ValueError, RuntimeError) as e:
        raise click.ClickException(" ".join(str(e).split()))
    except OSError as e:
        raise click.ClickException(_os_error(e))
    click.echo(f"{rep['images']} images ({rep['pages']} pages of {rep['documents']} documents, 4 turns each) -> {out}"
               + (f"; {len(rep['skipped'])} document(s) skipped" if rep["skipped"] else ""))


@main.command(name="windows")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write (refused if it exists, unless --force).")
@click.option("--manifest", "manifests", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A corpus manifest whose train and val documents are cut (repeatable; default: the built-in "
                   "corpus unless SOURCES are given).")
@click.option("--per-page", default=80, show_default=True, type=click.IntRange(1, 1000), help="Windows per page.")
@click.option("--target", default=7.0, show_default=True, type=click.FloatRange(2, 40),
              help="Text scale (px) the windows are cut at.")
@click.option("--jitter", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Log-uniform jitter of that scale (+-).")
@click.option("--max-pages-per-doc", default=24, show_default=True, type=click.IntRange(1))
@click.option("--val-share", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="Share of the SOURCES pages kept for validation (corpus documents follow datagen build's split).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the splits, the degradations and the cut.")
@click.option("--workers", default=default_workers(), show_default=True, type=click.IntRange(1, 256))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def windows_cmd(sources, out, manifests, per_page, target, jitter, max_pages_per_doc, val_share, seed, workers,
                force):
    """Cut glyph-scale training windows (upright, uint8) from a corpus's train and val documents
    and from SOURCES, folders of upright page images (``datagen synth`` output), for
    ``trainer fit-windows``.  Pages are degraded (tilt, ink, blur, light, stains, noise, JPEG) before
    the cut; the trainer draws each window's turn, so no degradation can depend on a label.

    \b
    Example:  datagen synth --out synth/ --pages 2500 --size-px 2200
              datagen windows synth/ --manifest data_manifests/debian-docs.toml --out windows/
              trainer fit-windows windows/ --out runs/windows
    """
    from .build import DEFAULT_SPLIT, assign_splits, refuse_reserved
    from .windows import WindowConfig, build_windows, plan_tasks

    def body():
        if out.exists() and not force:
            raise ValueError(f"{out}: already exists (give --force to replace it)")
        for s_ in sources:
            if not s_.is_dir():
                raise ValueError(f"{s_}: not a folder of page images")
        paths = list(manifests) or ([] if sources else [default_manifest_path()])
        docs = []
        for m in paths:
            docs += docs_from_manifest(load_manifest(m), log=lambda s_: click.echo(s_, err=True))
        refuse_reserved(docs)
        split = assign_splits(docs, DEFAULT_SPLIT, seed) if docs else {}
        cfg = WindowConfig(per_page=per_page, target=target, jitter=jitter, max_pages_per_doc=max_pages_per_doc,
                           val_share=val_share, seed=seed, workers=workers)
        tasks = plan_tasks([(d, split[d.id]) for d in docs], sources, cfg)
        if not tasks:
            raise ValueError("no pages to cut: give a manifest or folders of page images")
        meta = build_windows(tasks, out, cfg, log=lambda s_: click.echo(s_, err=True))
        c = meta["counts"]
        click.echo(f"{c['train']} train and {c['val']} val windows from {len(meta['pages'])} pages -> {out}"
                   + (f"; {len(meta['problems'])} page(s) skipped" if meta["problems"] else ""))

    try:
        body()
    except (ManifestError, ValueError, RuntimeError) as e:
        raise click.ClickException(" ".join(str(e).split()))
    except OSError as e:
        raise click.ClickException(_os_error(e))


@main.command()
@click.argument("variant", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Contact sheet PNG to write.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Split to draw (default: test if any).")
@click.option("--samples-per-class", "--per-class", "per_class", default=6, show_default=True,
              type=click.IntRange(1, 50), help="Samples drawn per class in the contact sheet (--per-class: older name).")
def inspect(variant, out, split, per_class):
    """Print counts and mask coverage of VARIANT; with --out, draw a contact sheet.

    \b
    Example:  datagen inspect shards/kornia-zeros --out sheet.png
    """
    from .sheet import contact_sheet, stats_lines

    try:
        v = load_variant(variant)
        for line in stats_lines(v):
            click.echo(line)
        if out:
            contact_sheet(v, out, split=split, per_class=per_class)
            click.echo(f"contact sheet -> {out}")
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException(_os_error(e))


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write (refused if it exists and is not empty, unless --force).  Required.")
@click.option("--pages", type=click.IntRange(1), help="Number of pages.  Required.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the pages: the same seed, the same bytes.")
@click.option("--size-px", default=1100, show_default=True, type=click.IntRange(200, 6000),
              help="Long side of a page in pixels.")
@click.option("--scripts", default=None, help="Comma-separated scripts (default: all that fonts and text allow); "
              "see `datagen synth --list-scripts`.")
@click.option("--layouts", default=None, help="Comma-separated layouts (default: all): book, article, letter, form, "
              "table, receipt, slide, note, manual.")
@click.option("--fonts-dir", "fonts_dirs", multiple=True, type=click.Path(path_type=Path),
              help="More fonts (a folder searched recursively, or a font file); repeatable.")
@click.option("--no-system-fonts", is_flag=True, help="Do not search /usr/share/fonts (only --fonts-dir).")
@click.option("--locale-dir", "locale_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Translation catalogues (LANG/LC_MESSAGES/*.mo) to take text from (default: /usr/share/locale); "
                   "repeatable.")
@click.option("--start", default=0, show_default=True, type=click.IntRange(0),
              help="Index of the first page (page i depends only on seed and i: disjoint ranges make disjoint sets).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256), help="Drawing processes.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the font-scan and corpus cache.")
@click.option("--force", is_flag=True, help="Replace OUT if it holds anything.")
@click.option("--list-scripts", is_flag=True,
              help="Print the scripts that can be drawn (with these options), and exit.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def synth(out, pages, seed, size_px, scripts, layouts, fonts_dirs, no_system_fonts, locale_dirs, start, workers,
          no_cache, force, list_scripts, quiet):
    """Write PAGES synthetic upright document pages (8-bit gray PNG) and synth.json into OUT:
    real text of many languages and scripts from the machine's translation catalogues, in every
    installed font that covers it, laid out as books, articles, letters, forms, tables, receipts,
    slides, handwritten notes and manuals.  Deterministic for a seed and font set.

    \b
    Example:  datagen synth --out synth/ --pages 2000 --seed 1
              datagen synth --out hebrew/ --pages 50 --scripts hebrew,arabic --layouts letter,form
    """
    from tqdm import tqdm

    from .synth import synth as synth_pages

    def _list(v):
        return [s.strip() for s in v.split(",") if s.strip()] if v else None

    if not list_scripts and (out is None or pages is None):
        raise click.UsageError("--out and --pages are required (or use --list-scripts)")

    bar = None if quiet or list_scripts else tqdm(total=pages, unit="page", desc="synth", leave=False)
    try:
        if list_scripts:
            from .manifest import cache_root
            from .synth import Generator

            g = Generator(seed, size_px, _list(scripts), _list(layouts), fonts_dirs, not no_system_fonts,
                          locale_dirs or None, None if no_cache else cache_root(),
                          log=lambda s: click.echo(s, err=True))
            d = g.describe()
            for s in d["scripts"]:
                fams = d["font_families"][s]
                click.echo(f"{s:<11} {len(d['languages'][s]):>3} languages, "
                           + ", ".join(f"{len(v)} {r} families" for r, v in fams.items()))
            for n in g.notes:
                click.echo(f"note: {n}", err=True)
            return
        rec = synth_pages(out, pages, seed=seed, size_px=size_px, scripts=_list(scripts), layouts=_list(layouts),
                          fonts_dirs=fonts_dirs, system_fonts=not no_system_fonts, locale_dirs=locale_dirs or None,
                          start=start, force=force, workers=workers, cache=not no_cache,
                          log=lambda s: click.echo(s, err=True), progress=bar.update if bar else None)
    except (ValueError, RuntimeError) as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
    finally:
        if bar is not None:
            bar.close()
    click.echo(f"{len(rec['items'])} pages ({len(rec['scripts'])} scripts) in {rec['elapsed_s']:.1f} s "
               f"({len(rec['items']) / max(rec['elapsed_s'], 1e-9):.1f} pages/s) -> {out}", err=True)
    click.echo(str(out))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
