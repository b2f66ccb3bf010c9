"""``interpret compare``: which generation strategy taught its model a shortcut?

For every run (a folder with ``model.pt``): accuracy on its own test split, on clean pages and
on real pages, each with a 95 % document-cluster interval (:mod:`interpret.accuracy`); artifact
attention (AAR, pointing game) per method on its own test split and on a common probe set (the
kornia-zeros variant's test split); the shortcut test with the run's own strategy (kornia-zeros
for a mask-free variant); and, unless ``audit=False``, the audit of :mod:`interpret.audit` (cue
battery, leak test, relevance clusters).  :func:`verdict` names the cleanest strategy from those
numbers; :mod:`interpret.report` writes report.md/json/csv and figures into the output folder
atomically.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from datagen.contract import ANGLES, Variant, is_variant, load_variant
from datagen.strategies import get_strategy
from trainer.data import EvalSource, VariantData, clean_test_data, open_data
from .accuracy import paired_gap, score
from .audit import audit_runs
from .core import load_masked, score_set
from .methods import METHODS
from .report import pct, pct_ci, points_ci, write_report
from .runs import find_runs, load_runs
from .shortcut import shortcut_test
from .stats import ABOVE, INCONCLUSIVE, decide

PROBE_STRATEGY = "kornia-zeros"
SHORTCUT_FLIP = 0.10  # a flip rate at or above this, with its whole 95 % interval, marks a shortcut
GAP_PAIR = ("kornia-zeros", "exact")  # the study's headline: the paper's strategy against the lossless one


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


class EvalSets:
    """The clean and real pages every run is scored on, read once per input size."""

    def __init__(self, clean: list[Path] | None, real: Path | None, first_variant: Variant):
        self.clean_paths, self.real_path, self.first = clean, real, first_variant
        self._clean: dict[int, EvalSource] = {}
        self._real: dict[int, EvalSource] = {}

    def clean(self, size: int) -> EvalSource:
        if size not in self._clean:
            ds = open_data(self.clean_paths, size) if self.clean_paths else clean_test_data(self.first, size)
            self._clean[size] = ds.cache()
        return self._clean[size]

    def real(self, size: int) -> EvalSource | None:
        if self.real_path is None:
            return None
        if size not in self._real:
            self._real[size] = open_data([self.real_path], size).cache()
        return self._real[size]

    def real_errors(self) -> list[dict]:
        return [e for ds in self._real.values() for e in ds.errors]


def compare(run_paths: list[Path], out: Path, probe: Path | None = None, clean: list[Path] | None = None,
            real: Path | None = None, methods: list[str] | None = None, n: int = 48, grid_n: int = 6,
            shortcut_pages: int = 40, ig_steps: int = 32, device: torch.device | None = None, log=None,
            audit: bool = True, audit_pages: int | None = None, seed: int = 0,
            audit_options: dict | None = None) -> dict:
    """Compare runs (default: every run under ``runs/``) and write the report into ``out``.

    ``clean``: clean DATA (default: clean renderings of the first run's test documents);
    ``real``: labelled real pages (a ``file,angle[,doc,kind]`` CSV, as ``datagen pages`` writes).
    Returns the JSON-ready result that ``report.json`` holds.
    """
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
    sets = EvalSets(clean, real, loaded[0][3])
    rows, grids, probe_imgs = [], {m: [] for m in methods}, None
    for entry in loaded:
        row = _accuracy_row(entry, sets, device, seed, log)
        probe_imgs = _attention(row, entry, probe_v, methods, grids, probe_imgs, n, grid_n, ig_steps, device, log)
        r, model, _, variant = entry
        strat = variant.strategy if get_strategy(variant.strategy).keeps_canvas else PROBE_STRATEGY
        log(f"[{r.name}] shortcut test with {strat} artifacts on {shortcut_pages} clean pages")
        row["shortcut"] = shortcut_test(model, sets.clean(row["input_size"]), strat, device, limit=shortcut_pages)
        rows.append(row)
    if sets.real_errors():
        notes.append(f"{len(sets.real_errors())} real page(s) could not be read and are not counted, e.g. "
                     f"{sets.real_errors()[0]['reason']}")
    result = {"runs": rows, "methods": methods, "probe": str(probe_v.path), "notes": notes,
              "clean": [str(c) for c in clean] if clean else f"clean renderings of {loaded[0][3].name}'s test documents",
              "real": str(real) if real else None}
    result["verdict"] = verdict(rows, seed=seed)
    if audit:
        result["audit"] = audit_runs(loaded, lambda e: sets.clean(int(e[2]["input_size"])), device,
                                     pages=audit_pages or shortcut_pages, seed=seed,
                                     clean_args=[str(c) for c in clean] if clean else None, log=log,
                                     **(audit_options or {}))
    result["elapsed_s"] = round(time.time() - t0, 1)
    write_report(result, out, grids, probe_imgs)
    return result


def _accuracy_row(entry: tuple, sets: EvalSets, device, seed: int, log) -> dict:
    """A run's row of the report with its accuracies (own test split, clean pages, real pages)."""
    r, model, ck, variant = entry
    size = int(ck["input_size"])
    log(f"[{r.name}] accuracy (own test split, clean pages{', real pages' if sets.real_path else ''})")
    own, own_s = score(model, VariantData(variant, "test", size), device, seed)
    cl, cl_s = score(model, sets.clean(size), device, seed)
    rl, rl_s = score(model, sets.real(size), device, seed) if sets.real_path else (None, None)
    detail = {"own": own_s, "clean": cl_s, "real": rl_s}
    return {
        "name": r.name, "run": str(r.path), "variant": variant.name, "strategy": variant.strategy,
        "arch": ck["arch"], "input_size": size, "epochs": ck.get("epoch"),
        "accuracy": {k: (v or {}).get("accuracy") for k, v in detail.items()},
        "accuracy_ci95": {k: (v or {}).get("ci95") for k, v in detail.items()},
        "clean_accuracy_ci95": cl_s["ci95"],
        "accuracy_detail": detail,
        "own_artifact": get_strategy(variant.strategy).keeps_canvas,
        "n": {"own": own.n, "clean": cl.n, "real": rl.n if rl else 0},
        "per_class_clean": cl.per_class(),
        "confusion_clean": cl.confusion.tolist(),
    }


def _attention(row: dict, entry: tuple, probe_v: Variant, methods: list[str], grids: dict, probe_imgs, n: int,
               grid_n: int, ig_steps: int, device, log):
    """Artifact attention of a run on its own test split and on the probe, into ``row``; the
    probe's grid maps into ``grids``.  Returns the probe pages the grids show."""
    r, model, ck, variant = entry
    size = row["input_size"]
    log(f"[{r.name}] attributions on own test split and probe ({', '.join(methods)}; n <= {n})")
    own_score = score_set(model, load_masked(variant, "test", n, size), methods, device, ig_steps=ig_steps)
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
    scores = {"own": own_score, "probe": probe_score}
    row["aar"] = {k: {m: (s["methods"][m] or {}).get("aar") for m in methods} for k, s in scores.items()}
    row["pointing_game"] = {k: {m: (s["methods"][m] or {}).get("pointing_game") for m in methods}
                            for k, s in scores.items()}
    row["score_own"], row["score_probe"] = own_score, probe_score
    return probe_imgs


# --------------------------------------------------------------------------- verdict
def _flip(r: dict) -> float:
    v = (r["shortcut"]["artifact_only"] or {}).get("flip_rate")
    return v if v is not None else 0.0


def _decision(r: dict) -> dict:
    ao = r["shortcut"]["artifact_only"] or {}
    return decide(_flip(r), ao.get("flip_rate_ci95"), SHORTCUT_FLIP, int(r["shortcut"].get("pages") or 0))


def _own(r: dict) -> bool:
    return r.get("own_artifact", True)


def _clean_ci(r: dict) -> tuple[float, float]:
    c = r.get("clean_accuracy_ci95") or [r["accuracy"]["clean"] or 0] * 2
    return (c[0] if c[0] is not None else 0.0), (c[1] if c[1] is not None else 0.0)


def _pick(candidates: list[dict]) -> dict:
    """The most accurate on clean pages, or a mask-free run statistically tied with it (95 % intervals overlap)."""
    top = max(candidates, key=lambda r: r["accuracy"]["clean"] or 0)
    tied_free = [r for r in candidates if not _own(r) and _clean_ci(r)[1] >= _clean_ci(top)[0]]
    return max(tied_free, key=lambda r: r["accuracy"]["clean"] or 0) if tied_free else top


def _real(r: dict) -> dict | None:
    return (r.get("accuracy_detail") or {}).get("real")


def real_shortfall(rows: list[dict], r: dict, seed: int = 0) -> dict | None:
    """How far run ``r`` is behind the best run on real pages, when it is behind beyond the 95 %
    interval (paired document-cluster bootstrap on the same documents); None otherwise or
    without real pages.  ``{"than", "strategy", "difference", "ci95", "documents"}``."""
    scored = [x for x in rows if _real(x) and _real(x).get("accuracy") is not None]
    if not any(x is r for x in scored):
        return None
    top = max(scored, key=lambda x: x["accuracy"]["real"])
    g = paired_gap(_real(top), _real(r), seed) if top is not r else None
    if g is None or g["ci95"][0] <= 0:
        return None
    return {"than": top["name"], "strategy": top["strategy"], **g}


def real_gap(rows: list[dict], pair: tuple[str, str] = GAP_PAIR, seed: int = 0) -> dict | None:
    """Real-page accuracy of the first strategy of ``pair`` minus the second's, with its paired
    95 % document-cluster interval; None unless both ran and were scored on real pages."""
    a = next((r for r in rows if r["strategy"] == pair[0] and _real(r)), None)
    b = next((r for r in rows if r["strategy"] == pair[1] and _real(r)), None)
    g = paired_gap(_real(a), _real(b), seed) if a and b else None
    return {"runs": [a["name"], b["name"]], "strategies": list(pair), **g} if g else None


def verdict(rows: list[dict], seed: int = 0) -> dict:
    """Name the cleanest strategy from the numbers.

    A run has a shortcut when the artifacts of its OWN strategy, added to clean pages without
    turning them, change at least ``SHORTCUT_FLIP`` of its answers with the whole 95 % interval
    of the flip rate; when the interval straddles the threshold the verdict is **inconclusive**
    and says how many clean pages would decide it (:func:`interpret.stats.decide`).  A mask-free
    variant has no artifact of its own: its flip rate under kornia-zeros bands measures
    robustness to an artifact it never saw, reported but not counted as a shortcut.  Among runs
    with neither a shortcut nor an inconclusive test, a mask-free one is the cleanest when its
    clean-page accuracy is statistically tied with the best (95 % intervals overlap); otherwise
    the most accurate on clean pages is.  With real pages, a run behind the best on real pages
    beyond the interval (:func:`real_shortfall`) is not called the cleanest: the next run by the
    same rule is, and none is when every candidate is behind.
    """
    shortcut = [r for r in rows if _own(r) and _decision(r)["status"] == ABOVE]
    unsure = [r for r in rows if _own(r) and _decision(r)["status"] == INCONCLUSIVE]
    decided = [r for r in rows if r not in shortcut and r not in unsure]
    candidates = decided or [r for r in rows if r not in shortcut] or rows
    behind = {r["name"]: real_shortfall(rows, r, seed) for r in candidates} if decided else {}
    passing = [r for r in candidates if not behind.get(r["name"])]
    first, best = _pick(candidates), _pick(passing or candidates)
    vetoed = [first] if behind.get(first["name"]) else []
    clean_best = bool(decided) and bool(passing)
    lines = _headline(best, shortcut, unsure, clean_best, vetoed)
    lines += _veto_lines(vetoed, behind)
    lines += _other_lines(rows, best, shortcut, unsure)
    gap = real_gap(rows, seed=seed)
    if gap:
        lines.append(f"On real pages, {gap['strategies'][0]} ({gap['runs'][0]}) scores {points_ci(gap)} against "
                     f"{gap['strategies'][1]} ({gap['runs'][1]}) (95 % CI, paired bootstrap over the "
                     f"{gap['documents']} real documents).")
    return {"cleanest": best["strategy"] if clean_best else None, "least_affected": best["strategy"],
            "cleanest_run": best["name"], "shortcut_strategies": [r["strategy"] for r in shortcut],
            "inconclusive_strategies": [r["strategy"] for r in unsure],
            "pages_to_decide": {r["name"]: _decision(r)["groups_to_decide"] for r in unsure},
            "flip_threshold": SHORTCUT_FLIP, "real_gap": gap,
            "behind_on_real_pages": {k: v for k, v in behind.items() if v}, "text": lines}


def _on_real(r: dict) -> str:
    d = _real(r)
    return f", {pct_ci(d['accuracy'], d['ci95'])} on real pages" if d and d.get("accuracy") is not None else ""


def _headline(best: dict, shortcut: list, unsure: list, clean_best: bool, vetoed: list) -> list[str]:
    flip_ci = lambda r: pct_ci(_flip(r), (r["shortcut"]["artifact_only"] or {}).get("flip_rate_ci95"))  # noqa: E731
    if best in shortcut:
        return [f"No strategy is free of a shortcut here; the least affected: **{best['strategy']}** ({best['name']}): "
                f"flip rate {pct(_flip(best))}, {pct(best['accuracy']['clean'])} on clean pages."]
    if best in unsure:
        return [f"No strategy is free of a shortcut beyond doubt here; the least affected: **{best['strategy']}** "
                f"({best['name']}): flip rate {flip_ci(best)}, an interval that straddles the "
                f"{100 * SHORTCUT_FLIP:.0f} % threshold; {pct(best['accuracy']['clean'])} on clean pages."]
    if not clean_best:
        return [f"No strategy is the cleanest on both clean and real pages here: every strategy without a shortcut "
                f"is behind another on real pages beyond the interval; the best on clean pages: **{best['strategy']}** "
                f"({best['name']}), {pct(best['accuracy']['clean'])} on clean pages{_on_real(best)}."]
    why = "no artifact by construction, and clean-page accuracy tied with the best" if not _own(best) else \
        "the highest clean-page accuracy among strategies without a shortcut"
    if _real(best):
        why += ("; not behind another run on real pages beyond the interval" if not vetoed else
                "; chosen among the runs not behind another on real pages beyond the interval")
    lo, hi = _clean_ci(best)
    return [f"Cleanest strategy: **{best['strategy']}** ({best['name']}) — {why}: {pct(best['accuracy']['clean'])} "
            f"on clean pages [95 % CI {100 * lo:.1f}–{100 * hi:.1f}], {pct(best['accuracy']['own'])} on its own "
            f"test split{_on_real(best)}."]


def _veto_lines(vetoed: list, behind: dict) -> list[str]:
    lines = []
    for r in vetoed:
        b = behind[r["name"]]
        lo, hi = b["ci95"]
        lines.append(f"Not the cleanest: **{r['strategy']}** ({r['name']}) leads on clean pages by the rule above, "
                     f"but on real pages it is {100 * b['difference']:.1f} points behind {b['strategy']} ({b['than']}) "
                     f"[95 % CI {100 * lo:.1f}–{100 * hi:.1f}, paired over {b['documents']} documents].")
    return lines


def _other_lines(rows: list[dict], best: dict, shortcut: list, unsure: list) -> list[str]:
    gap = lambda r: (r["accuracy"]["own"] or 0) - (r["accuracy"]["clean"] or 0)  # noqa: E731
    flip_ci = lambda r: pct_ci(_flip(r), (r["shortcut"]["artifact_only"] or {}).get("flip_rate_ci95"))  # noqa: E731
    lines = []
    for r in sorted(shortcut, key=_flip, reverse=True):
        if r is not best:
            lines.append(f"Shortcut: **{r['strategy']}** ({r['name']}): its own artifacts alone change {pct(_flip(r))} "
                         f"of the answers; {pct(r['accuracy']['own'])} on its own test split but "
                         f"{pct(r['accuracy']['clean'])} on clean pages ({-100 * gap(r):+.1f} points){_on_real(r)}.")
    for r in sorted(unsure, key=_flip, reverse=True):
        d = _decision(r)
        need = (f"about {d['groups_to_decide']} clean pages (now {d['n']}) would decide it "
                f"(--shortcut-pages {d['groups_to_decide']})") if d["groups_to_decide"] else \
            "the estimate sits on the threshold, so no page count decides it"
        lines.append(f"Inconclusive: **{r['strategy']}** ({r['name']}): its own artifacts change {flip_ci(r)} of the "
                     f"answers, an interval that straddles the {100 * SHORTCUT_FLIP:.0f} % threshold; {need}.")
    for r in rows:
        if r in shortcut or r in unsure or r is best:
            continue
        if _own(r):
            lines.append(f"No shortcut found: {r['strategy']} ({r['name']}): its own artifacts change {pct(_flip(r))} "
                         f"of the answers; {pct(r['accuracy']['clean'])} on clean pages{_on_real(r)}.")
        else:
            lines.append(f"Mask-free: {r['strategy']} ({r['name']}): {pct(r['accuracy']['clean'])} on clean "
                         f"pages{_on_real(r)}.")
    for r in rows:
        if not _own(r):
            lines.append(f"Robustness, not a shortcut: {r['strategy']} ({r['name']}) has no artifact of its own; "
                         f"adding {r['shortcut']['strategy']} bands (never seen in training) changes {pct(_flip(r))} "
                         "of its answers.")
    return lines
