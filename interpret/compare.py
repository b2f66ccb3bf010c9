"""``interpret compare``: which generation strategy taught its model a shortcut?

For every run (a folder with ``model.pt``): accuracy on its own test split, on clean pages and
on real pages; artifact attention (AAR, pointing game) per method on its own test split and on
a common probe set (the kornia-zeros variant's test split); the shortcut test with the run's
own strategy (kornia-zeros for a mask-free variant); and, unless ``audit=False``, the audit of
:mod:`interpret.audit` (cue battery, leak test, relevance clusters).  Writes report.md/json/csv
and figures into the output folder atomically (built in a temporary folder, then swapped in).
"""
from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from datagen.contract import ANGLES, Variant, is_variant, load_variant
from datagen.strategies import get_strategy
from trainer.data import EvalSource, VariantData, clean_test_data, open_data
from trainer.evaluate import evaluate
from trainer.models import load_model
from .core import load_masked, score_set
from .metrics import bootstrap_ci
from .methods import METHODS
from .shortcut import shortcut_test
from .stats import ABOVE, INCONCLUSIVE, decide

PROBE_STRATEGY = "kornia-zeros"
SHORTCUT_FLIP = 0.10  # a flip rate at or above this, with its whole 95 % interval, marks a shortcut


@dataclass
class Run:
    name: str
    path: Path
    ckpt_path: Path


def find_runs(paths: list[Path], log=print) -> tuple[list[Run], list[str]]:
    """Runs to compare: named folders (each must hold model.pt) or, with none named, every
    folder under ``runs/`` (those without model.pt are skipped and reported)."""
    skipped = []
    if paths:
        runs = []
        for p in paths:
            p = Path(p)
            ck = p if p.suffix == ".pt" else p / "model.pt"
            if not p.exists():
                raise ValueError(f"{p}: no such run folder")
            if not ck.is_file():
                raise ValueError(f"{p}: not a run folder (no model.pt); train one with 'trainer fit'")
            runs.append(Run(ck.parent.name, ck.parent, ck))
        return runs, skipped
    base = Path("runs")
    if not base.is_dir():
        raise ValueError("no runs/ folder here: train models with 'trainer fit shards/' or name RUN_DIRs")
    runs = []
    for d in sorted(base.iterdir()):
        if not d.is_dir():
            continue
        if (d / "model.pt").is_file():
            runs.append(Run(d.name, d, d / "model.pt"))
        else:
            skipped.append(f"{d}: no model.pt (unfinished run?)")
            log(f"skipping {d}: no model.pt")
    if not runs:
        raise ValueError("runs/ holds no run with a model.pt: train models with 'trainer fit shards/'")
    return runs, skipped


def load_runs(runs: list[Run], device: torch.device, missing: str | None) -> list[tuple]:
    """``(run, model, checkpoint, variant)`` per run, the variant being the run's training data, or
    None when it is gone; with ``missing`` set, a gone variant is an error that ends with it."""
    loaded = []
    for r in runs:
        model, ck = load_model(r.ckpt_path, device)
        vpath = Path(ck.get("dataset_path", ""))
        variant = load_variant(vpath) if is_variant(vpath) else None
        if variant is None and missing:
            raise ValueError(f"{r.ckpt_path}: its training data {vpath} is gone; {missing}")
        loaded.append((r, model, ck, variant))
    return loaded


def ensure_probe(probe: Path | None, first_variant: Variant, log=print) -> Variant:
    """The probe variant; with none named, ``shards/kornia-zeros``, built like the runs' data if absent."""
    if probe is not None:
        if not is_variant(probe):
            raise ValueError(f"{probe}: --probe must be a dataset variant folder (with dataset.json)")
        return load_variant(probe)
    default = Path("shards") / PROBE_STRATEGY
    if is_variant(default):
        return load_variant(default)
    from datagen.build import BuildConfig, build

    c = first_variant.record["config"]
    cfg = BuildConfig(rotation=PROBE_STRATEGY, size=c["size"], dpi=c["dpi"], skew=c["skew"], angles=tuple(c["angles"]),
                      split=tuple(c["split"][s] for s in ("train", "val", "test")), seed=c["seed"],
                      renderer=c["renderer"], max_pages_per_doc=c.get("max_pages_per_doc"),
                      max_pixels=c["max_pixels"], render_timeout=c["render_timeout"])
    log(f"building the probe variant {default} (kornia-zeros, like {first_variant.name})")
    build(first_variant.record.get("sources", []), default, cfg, progress=True)
    return load_variant(default)


def _acc(res) -> float | None:
    return res.accuracy if res is not None and res.n else None


def compare(run_paths: list[Path], out: Path, probe: Path | None = None, clean: list[Path] | None = None,
            real: Path | None = None, methods: list[str] | None = None, n: int = 48, grid_n: int = 6,
            shortcut_pages: int = 40, ig_steps: int = 32, device: torch.device | None = None, log=None,
            audit: bool = True, audit_pages: int | None = None, seed: int = 0,
            audit_options: dict | None = None) -> dict:
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    device = device or torch.device("cpu")
    methods = list(methods or METHODS)
    t0 = time.time()
    runs, skipped = find_runs(run_paths, log)
    loaded = load_runs(runs, device, "compare needs each run's variant")
    probe_v = ensure_probe(probe, loaded[0][3], log)
    test_docs = {tuple(sorted(d["id"] for d in v.documents("test"))) for *_, v in loaded}
    notes = list(skipped)
    if len(test_docs) > 1:
        notes.append("the runs' variants do not share the same test documents; clean accuracy compares different pages")
    clean_cache: dict[int, EvalSource] = {}
    real_cache: dict[int, EvalSource] = {}

    def clean_for(size: int) -> EvalSource:
        if size not in clean_cache:
            ds = open_data(clean, size) if clean else clean_test_data(loaded[0][3], size)
            clean_cache[size] = ds.cache()
        return clean_cache[size]

    def real_for(size: int) -> EvalSource | None:
        if real is None:
            return None
        if size not in real_cache:
            real_cache[size] = open_data([real], size).cache()
        return real_cache[size]

    rows, grids = [], {m: [] for m in methods}
    probe_imgs = None
    for r, model, ck, variant in loaded:
        size = int(ck["input_size"])
        log(f"[{r.name}] accuracy (own test split, clean pages{', real pages' if real else ''})")
        own = evaluate(model, VariantData(variant, "test", size), device)
        cl = evaluate(model, clean_for(size), device, keep_predictions=True)
        rl = evaluate(model, real_for(size), device) if real else None
        log(f"[{r.name}] attributions on own test split and probe ({', '.join(methods)}; n <= {n})")
        own_set = load_masked(variant, "test", n, size)
        own_score = score_set(model, own_set, methods, device, ig_steps=ig_steps)
        probe_set = load_masked(probe_v, "test", n, size)
        probe_score = score_set(model, probe_set, methods, device, ig_steps=ig_steps, keep_maps=True)
        if probe_imgs is None and probe_set.keys:
            k = min(grid_n, len(probe_set.keys))
            sel = np.linspace(0, len(probe_set.keys) - 1, k).round().astype(int).tolist()
            probe_imgs = (probe_set.images[sel], probe_set.masks[sel], [ANGLES[i] for i in probe_set.labels[sel].tolist()],
                          sel)
        if probe_imgs is not None and "_maps" in probe_score:
            sel = probe_imgs[3]
            for m in methods:
                grids[m].append({"name": r.name, "strategy": variant.strategy, "relevance": probe_score["_maps"][m][sel],
                                 "pred": [ANGLES[i] for i in probe_score["_preds"][sel].tolist()]})
        probe_score.pop("_maps", None)
        probe_score.pop("_preds", None)
        strat = variant.strategy if get_strategy(variant.strategy).keeps_canvas else PROBE_STRATEGY
        log(f"[{r.name}] shortcut test with {strat} artifacts on {shortcut_pages} clean pages")
        sc = shortcut_test(model, clean_for(size), strat, device, limit=shortcut_pages)
        rows.append({
            "name": r.name, "run": str(r.path), "variant": variant.name, "strategy": variant.strategy,
            "arch": ck["arch"], "input_size": size, "epochs": ck.get("epoch"),
            "accuracy": {"own": _acc(own), "clean": _acc(cl), "real": _acc(rl)},
            "clean_accuracy_ci95": list(bootstrap_ci([float(p["true"] == p["pred"]) for p in cl.predictions])[1:]),
            "own_artifact": get_strategy(variant.strategy).keeps_canvas,
            "n": {"own": own.n, "clean": cl.n, "real": rl.n if rl else 0},
            "per_class_clean": cl.per_class(),
            "confusion_clean": cl.confusion.tolist(),
            "aar": {"own": {m: (own_score["methods"][m] or {}).get("aar") for m in methods},
                    "probe": {m: (probe_score["methods"][m] or {}).get("aar") for m in methods}},
            "pointing_game": {"own": {m: (own_score["methods"][m] or {}).get("pointing_game") for m in methods},
                              "probe": {m: (probe_score["methods"][m] or {}).get("pointing_game") for m in methods}},
            "score_own": own_score, "score_probe": probe_score, "shortcut": sc,
        })
    result = {"runs": rows, "methods": methods, "probe": str(probe_v.path), "notes": notes,
              "clean": [str(c) for c in clean] if clean else f"clean renderings of {loaded[0][3].name}'s test documents",
              "real": str(real) if real else None}
    result["verdict"] = verdict(rows)
    if audit:
        from .audit import audit_runs

        result["audit"] = audit_runs(loaded, lambda e: clean_for(int(e[2]["input_size"])), device,
                                     pages=audit_pages or shortcut_pages, seed=seed,
                                     clean_args=[str(c) for c in clean] if clean else None, log=log,
                                     **(audit_options or {}))
    result["elapsed_s"] = round(time.time() - t0, 1)
    write_report(result, out, grids, probe_imgs)
    return result


def verdict(rows: list[dict]) -> dict:
    """Name the cleanest strategy from the numbers.

    A run has a shortcut when the artifacts of its OWN strategy, added to clean pages without
    turning them, change at least ``SHORTCUT_FLIP`` of its answers with the whole 95 % interval
    of the flip rate; when the interval straddles the threshold the verdict is **inconclusive**
    and says how many clean pages would decide it (:func:`interpret.stats.decide`).  A mask-free
    variant has no artifact of its own: its flip rate under kornia-zeros bands measures
    robustness to an artifact it never saw, reported but not counted as a shortcut.  Among runs
    with neither a shortcut nor an inconclusive test, a mask-free one is the cleanest when its
    clean-page accuracy is statistically tied with the best (95 % intervals overlap); otherwise
    the most accurate on clean pages is.
    """
    def flip(r):
        v = (r["shortcut"]["artifact_only"] or {}).get("flip_rate")
        return v if v is not None else 0.0

    def ci(r):
        c = r.get("clean_accuracy_ci95") or [r["accuracy"]["clean"] or 0] * 2
        return (c[0] if c[0] is not None else 0.0), (c[1] if c[1] is not None else 0.0)

    def decision(r):
        ao = r["shortcut"]["artifact_only"] or {}
        return decide(flip(r), ao.get("flip_rate_ci95"), SHORTCUT_FLIP, int(r["shortcut"].get("pages") or 0))

    def flip_ci(r):
        c = (r["shortcut"]["artifact_only"] or {}).get("flip_rate_ci95")
        return f"{_p(flip(r))} [{100 * c[0]:.1f}–{100 * c[1]:.1f}]" if c else _p(flip(r))

    own = lambda r: r.get("own_artifact", True)  # noqa: E731
    shortcut = [r for r in rows if own(r) and decision(r)["status"] == ABOVE]
    unsure = [r for r in rows if own(r) and decision(r)["status"] == INCONCLUSIVE]
    candidates = [r for r in rows if r not in shortcut and r not in unsure] or \
        [r for r in rows if r not in shortcut] or rows
    top = max(candidates, key=lambda r: r["accuracy"]["clean"] or 0)
    tied_free = [r for r in candidates if not own(r) and ci(r)[1] >= ci(top)[0]]
    best = max(tied_free, key=lambda r: r["accuracy"]["clean"] or 0) if tied_free else top
    gap = lambda r: (r["accuracy"]["own"] or 0) - (r["accuracy"]["clean"] or 0)  # noqa: E731
    why = "no artifact by construction, and clean-page accuracy tied with the best" if not own(best) else \
        "the highest clean-page accuracy among strategies without a shortcut"
    if best in shortcut:
        lines = [f"No strategy is free of a shortcut here; the least affected: **{best['strategy']}** ({best['name']}): "
                 f"flip rate {_p(flip(best))}, {_p(best['accuracy']['clean'])} on clean pages."]
    elif best in unsure:
        lines = [f"No strategy is free of a shortcut beyond doubt here; the least affected: **{best['strategy']}** "
                 f"({best['name']}): flip rate {flip_ci(best)}, an interval that straddles the "
                 f"{100 * SHORTCUT_FLIP:.0f} % threshold; {_p(best['accuracy']['clean'])} on clean pages."]
    else:
        lo, hi = ci(best)
        lines = [f"Cleanest strategy: **{best['strategy']}** ({best['name']}) — {why}: {_p(best['accuracy']['clean'])} "
                 f"on clean pages [95 % CI {100 * lo:.1f}–{100 * hi:.1f}], {_p(best['accuracy']['own'])} on its own "
                 "test split."]
    for r in sorted(shortcut, key=flip, reverse=True):
        if r is best:
            continue
        lines.append(f"Shortcut: **{r['strategy']}** ({r['name']}): its own artifacts alone change {_p(flip(r))} of "
                     f"the answers; {_p(r['accuracy']['own'])} on its own test split but {_p(r['accuracy']['clean'])} "
                     f"on clean pages ({-100 * gap(r):+.1f} points).")
    for r in sorted(unsure, key=flip, reverse=True):
        d = decision(r)
        need = (f"about {d['groups_to_decide']} clean pages (now {d['n']}) would decide it "
                f"(--shortcut-pages {d['groups_to_decide']})") if d["groups_to_decide"] else \
            "the estimate sits on the threshold, so no page count decides it"
        lines.append(f"Inconclusive: **{r['strategy']}** ({r['name']}): its own artifacts change {flip_ci(r)} of the "
                     f"answers, an interval that straddles the {100 * SHORTCUT_FLIP:.0f} % threshold; {need}.")
    for r in rows:
        if r in shortcut or r in unsure or r is best:
            continue
        if own(r):
            lines.append(f"No shortcut found: {r['strategy']} ({r['name']}): its own artifacts change {_p(flip(r))} of "
                         f"the answers; {_p(r['accuracy']['clean'])} on clean pages.")
        else:
            lines.append(f"Mask-free: {r['strategy']} ({r['name']}): {_p(r['accuracy']['clean'])} on clean pages.")
    for r in rows:
        if not own(r):
            lines.append(f"Robustness, not a shortcut: {r['strategy']} ({r['name']}) has no artifact of its own; "
                         f"adding {r['shortcut']['strategy']} bands (never seen in training) changes {_p(flip(r))} "
                         "of its answers.")
    clean_best = best not in shortcut and best not in unsure
    return {"cleanest": best["strategy"] if clean_best else None, "least_affected": best["strategy"],
            "cleanest_run": best["name"], "shortcut_strategies": [r["strategy"] for r in shortcut],
            "inconclusive_strategies": [r["strategy"] for r in unsure],
            "pages_to_decide": {r["name"]: decision(r)["groups_to_decide"] for r in unsure},
            "flip_threshold": SHORTCUT_FLIP, "text": lines}


def _p(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _ci(v) -> str:
    if not v or v.get("mean") is None:
        return "n/a"
    ci = v.get("ci95")
    return f"{v['mean']:.2f} [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else f"{v['mean']:.2f}"


def _ci_pct(v) -> str:
    if not v or v.get("mean") is None:
        return "n/a"
    return f"{100 * v['mean']:.0f} %"


def write_report(result: dict, out: Path, grids: dict, probe_imgs) -> None:
    from .audit import atomic_folder, write_audit_figures
    from .figures import aar_chart, accuracy_chart, probe_grid, shortcut_chart

    with atomic_folder(out) as tmp:  # a failed report leaves nothing half-written behind
        rows, methods = result["runs"], result["methods"]
        figs = {"accuracy": "accuracy.png", "aar": "aar.png", "shortcut": "shortcut.png"}
        accuracy_chart(rows, tmp / figs["accuracy"])
        aar_chart(rows, methods, tmp / figs["aar"])
        shortcut_chart(rows, tmp / figs["shortcut"])
        if probe_imgs is not None:
            for m in methods:
                if grids.get(m):
                    figs[f"grid-{m}"] = f"grid-{m}.png"
                    probe_grid(probe_imgs[0], probe_imgs[1], grids[m], tmp / figs[f"grid-{m}"], m, true=probe_imgs[2])
        if result.get("audit"):
            figs.update({f"audit:{k}": v for k, v in write_audit_figures(result["audit"], tmp).items()})
        result["figures"] = figs
        (tmp / "report.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        with open(tmp / "report.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            head = ["run", "variant", "strategy", "acc_own", "acc_clean", "acc_real", "shortcut_strategy", "flip_rate",
                    "own_acc_painted_change"]
            head += [f"aar_{s}_{m}" for s in ("own", "probe") for m in methods]
            head += [f"pointing_{s}_{m}" for s in ("own", "probe") for m in methods]
            w.writerow(head)
            for r in rows:
                sc = r["shortcut"]
                line = [r["name"], r["variant"], r["strategy"], r["accuracy"]["own"], r["accuracy"]["clean"],
                        r["accuracy"]["real"], sc["strategy"], sc["artifact_only"].get("flip_rate"),
                        sc["painted_out"].get("accuracy_change")]
                line += [((r["aar"][s] or {}).get(m) or {}).get("mean") for s in ("own", "probe") for m in methods]
                line += [((r["pointing_game"][s] or {}).get(m) or {}).get("mean") for s in ("own", "probe") for m in methods]
                w.writerow(["" if v is None else v for v in line])
        (tmp / "report.md").write_text(render_markdown(result), encoding="utf-8")


def render_markdown(result: dict) -> str:
    rows, methods, figs = result["runs"], result["methods"], result["figures"]
    L = ["# Which generation strategy teaches a shortcut?", ""]
    L += [f"Runs compared: {len(rows)}. Clean pages: {result['clean'] if isinstance(result['clean'], str) else ', '.join(result['clean'])}. "
          f"Probe: `{result['probe']}` (test split). Real pages: {result['real'] or 'not given'}. "
          f"Time: {result['elapsed_s']} s.", ""]
    L += ["## Verdict", ""] + [f"- {t}" for t in result["verdict"]["text"]] + [""]
    L += ["## Accuracy", "", "| run | strategy | own test split | clean pages | real pages | clean − own |",
          "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        a = r["accuracy"]
        d = f"{100 * (a['clean'] - a['own']):+.1f}" if a["clean"] is not None and a["own"] is not None else "n/a"
        L.append(f"| {r['name']} | {r['strategy']} | {_p(a['own'])} | {_p(a['clean'])} | {_p(a['real'])} | {d} |")
    L += ["", f"![accuracy]({figs['accuracy']})", ""]
    L += ["## Shortcut test", "",
          "Artifact only: clean pages get the strategy's bands/padding without any turn of the content; the share of "
          "answers that change. Painted out: the strategy's own samples with the artifact painted in page background.",
          "", "| run | artifact added | flip rate [95 % CI] | flips toward the artifact's turn | own samples → painted |",
          "|---|---|---:|---:|---:|"]
    foreign = " (foreign: the variant has none)"
    for r in rows:
        sc = r["shortcut"]
        ao, po = sc["artifact_only"], sc["painted_out"]
        fr = "n/a" if ao.get("flip_rate") is None else \
            f"{_p(ao['flip_rate'])} [{100 * ao['flip_rate_ci95'][0]:.1f}–{100 * ao['flip_rate_ci95'][1]:.1f}]"
        tag = "" if r.get("own_artifact", True) else foreign
        L.append(f"| {r['name']} | {sc['strategy']}{tag} | {fr} | {_p(ao.get('flips_toward_artifact_turn'))} | "
                 f"{_p(po['own_accuracy'])} → {_p(po['painted_accuracy'])} |")
    L += ["", f"![shortcut]({figs['shortcut']})", ""]
    L += ["## Artifact attention", "",
          "AAR = (share of relevance on artifact pixels) / (share of the image they cover): 1 = attention in proportion "
          "to area, ≫ 1 = the model looks at the artifact. Means with 95 % bootstrap intervals; samples with an empty "
          "mask are excluded (\"n/a\" for a mask-free variant).", ""]
    for key, label in (("own", "own test split"), ("probe", "common kornia-zeros probe")):
        L += [f"### AAR on the {label}", "", "| run | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
        for r in rows:
            L.append(f"| {r['name']} | " + " | ".join(_ci(r["aar"][key].get(m)) for m in methods) + " |")
        L += ["", f"Pointing game on the {label} (share of samples whose most relevant pixel is an artifact pixel):", "",
              "| run | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
        for r in rows:
            L.append(f"| {r['name']} | " + " | ".join(_ci_pct(r["pointing_game"][key].get(m)) for m in methods) + " |")
        L.append("")
    L += [f"![aar]({figs['aar']})", ""]
    grids = [k for k in figs if k.startswith("grid-")]
    if grids:
        L += ["## The same probe pages, explained by every model", ""]
        for g in grids:
            L += [f"![{g}]({figs[g]})", ""]
    if result.get("audit"):
        from .audit import audit_markdown

        au = result["audit"]
        afigs = {k.split(":", 1)[1]: v for k, v in figs.items() if k.startswith("audit:")}
        L += ["## Audit: the shortcuts nobody planted", "",
              f"`interpret audit` on every run: a battery of {len(au['cue_registry'])} label-free cue edits on up to "
              f"{au['pages']} clean pages at four turns each, a leak test on each run's training data, and Grad-CAM "
              f"relevance clusters. Seed {au['seed']}; {au['elapsed_s']} s.", ""]
        L += audit_markdown(au, afigs, level=3)
    if result["notes"]:
        L += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(L) + "\n"
