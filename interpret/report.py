"""Reports of ``interpret compare`` and ``interpret audit``: Markdown, CSV, JSON and figures,
drawn from the JSON-ready results alone, written into OUT atomically (a temporary folder beside
it, renamed into place once complete: :func:`datagen.atomic.atomic_dir`)."""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

from datagen.atomic import atomic_dir
from datagen.contract import ANGLES

SETS = (("own", "own test split"), ("clean", "clean pages"), ("real", "real pages"))


# --------------------------------------------------------------------------- formatting
def pct(v) -> str:
    """A share as ``"12.3 %"``; ``"n/a"`` for None or NaN."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def pct_ci(v, ci) -> str:
    """``"12.3 % [10.1–14.5]"``, or just the share without an interval."""
    return f"{pct(v)} [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]" if ci and v is not None else pct(v)


def flip_ci(r: dict) -> str:
    """A cue's or a shortcut test's flip rate with its interval."""
    return pct_ci(r["flip_rate"], r.get("flip_rate_ci95"))


def points_ci(g: dict) -> str:
    """A difference of shares in points with its interval: ``"-38.5 points [-45.0, -31.9]"``."""
    lo, hi = g["ci95"]
    return f"{100 * g['difference']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _mean_ci(v) -> str:
    if not v or v.get("mean") is None:
        return "n/a"
    ci = v.get("ci95")
    return f"{v['mean']:.2f} [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else f"{v['mean']:.2f}"


def _mean_pct(v) -> str:
    if not v or v.get("mean") is None:
        return "n/a"
    return f"{100 * v['mean']:.0f} %"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def _write_json(res: dict, folder: Path) -> None:
    (folder / "report.json").write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- compare
def write_report(result: dict, out: Path, grids: dict, probe_imgs) -> None:
    """``report.md/json/csv`` and the figures of a comparison, into ``out`` atomically."""
    from .figures import aar_chart, accuracy_chart, probe_grid, shortcut_chart

    with atomic_dir(out) as tmp:  # a failed report leaves nothing half-written behind
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
        _write_json(result, tmp)
        write_csv(result, tmp / "report.csv")
        (tmp / "report.md").write_text(render_markdown(result), encoding="utf-8")


def write_csv(result: dict, path: Path) -> None:
    """One line per run: accuracies (with their 95 % intervals), the shortcut test, AAR and pointing game."""
    methods = result["methods"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        head = ["run", "variant", "strategy", "acc_own", "acc_clean", "acc_real", "shortcut_strategy", "flip_rate",
                "own_acc_painted_change"]
        head += [f"aar_{s}_{m}" for s in ("own", "probe") for m in methods]
        head += [f"pointing_{s}_{m}" for s in ("own", "probe") for m in methods]
        head += [f"acc_{k}_ci95_{e}" for k, _ in SETS for e in ("low", "high")]
        w.writerow(head)
        for r in result["runs"]:
            sc = r["shortcut"]
            line = [r["name"], r["variant"], r["strategy"], r["accuracy"]["own"], r["accuracy"]["clean"],
                    r["accuracy"]["real"], sc["strategy"], sc["artifact_only"].get("flip_rate"),
                    sc["painted_out"].get("accuracy_change")]
            line += [((r["aar"][s] or {}).get(m) or {}).get("mean") for s in ("own", "probe") for m in methods]
            line += [((r["pointing_game"][s] or {}).get(m) or {}).get("mean") for s in ("own", "probe") for m in methods]
            cis = r.get("accuracy_ci95") or {}
            line += [(cis.get(k) or [None, None])[e] for k, _ in SETS for e in (0, 1)]
            w.writerow(["" if v is None else v for v in line])


def render_markdown(result: dict) -> str:
    """``report.md`` of a comparison."""
    rows, figs = result["runs"], result["figures"]
    clean = result["clean"] if isinstance(result["clean"], str) else ", ".join(result["clean"])
    L = ["# Which generation strategy teaches a shortcut?", ""]
    L += [f"Runs compared: {len(rows)}. Clean pages: {clean}. Probe: `{result['probe']}` (test split). "
          f"Real pages: {_real_line(result)}. Time: {result['elapsed_s']} s.", ""]
    L += ["## Verdict", ""] + [f"- {t}" for t in result["verdict"]["text"]] + [""]
    L += _md_accuracy(rows, figs)
    L += _md_shortcut(rows, figs)
    L += _md_attention(rows, result["methods"], figs)
    grids = [k for k in figs if k.startswith("grid-")]
    if grids:
        L += ["## The same probe pages, explained by every model", ""]
        for g in grids:
            L += [f"![{g}]({figs[g]})", ""]
    if result.get("audit"):
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


def _real_line(result: dict) -> str:
    if not result.get("real"):
        return "not given"
    d = next((r["accuracy_detail"]["real"] for r in result["runs"] if (r.get("accuracy_detail") or {}).get("real")),
             None)
    return f"`{result['real']}`" + (f" ({d['n']} images of {d['clusters']} {d['unit']})" if d else "")


def _md_accuracy(rows: list[dict], figs: dict) -> list[str]:
    L = ["## Accuracy", "", "| run | strategy | own test split | clean pages | real pages | clean − own |",
         "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        a, ci = r["accuracy"], r.get("accuracy_ci95") or {}
        d = f"{100 * (a['clean'] - a['own']):+.1f}" if a["clean"] is not None and a["own"] is not None else "n/a"
        L.append(f"| {r['name']} | {r['strategy']} | " + " | ".join(pct_ci(a[k], ci.get(k)) for k, _ in SETS)
                 + f" | {d} |")
    units = []
    for k, label in SETS:
        d = [(r.get("accuracy_detail") or {}).get(k) for r in rows]
        d = [x for x in d if x and x.get("clusters")]
        if d:
            units.append(f"{label} {d[0]['clusters']} {d[0]['unit']}")
    if units:
        L += ["", "95 % intervals: bootstrap over whole documents (every page and turn of a document drawn "
                  f"together): {', '.join(units)}."]
    kinds = sorted({k for r in rows for k in ((r.get("accuracy_detail") or {}).get("real") or {}).get("by_kind", {})})
    if kinds:
        L += ["", "Real pages by kind:", "", "| run | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for r in rows:
            by = r["accuracy_detail"]["real"].get("by_kind", {})
            L.append(f"| {r['name']} | " + " | ".join(pct_ci((by.get(k) or {}).get("accuracy"),
                                                              (by.get(k) or {}).get("ci95")) for k in kinds) + " |")
    return L + ["", f"![accuracy]({figs['accuracy']})", ""]


def _md_shortcut(rows: list[dict], figs: dict) -> list[str]:
    L = ["## Shortcut test", "",
         "Artifact only: clean pages get the strategy's bands/padding without any turn of the content; the share of "
         "answers that change. Painted out: the strategy's own samples with the artifact painted in page background.",
         "", "| run | artifact added | flip rate [95 % CI] | flips toward the artifact's turn | own samples → painted |",
         "|---|---|---:|---:|---:|"]
    foreign = " (foreign: the variant has none)"
    for r in rows:
        sc = r["shortcut"]
        ao, po = sc["artifact_only"], sc["painted_out"]
        fr = "n/a" if ao.get("flip_rate") is None else flip_ci(ao)
        tag = "" if r.get("own_artifact", True) else foreign
        L.append(f"| {r['name']} | {sc['strategy']}{tag} | {fr} | {pct(ao.get('flips_toward_artifact_turn'))} | "
                 f"{pct(po['own_accuracy'])} → {pct(po['painted_accuracy'])} |")
    return L + ["", f"![shortcut]({figs['shortcut']})", ""]


def _md_attention(rows: list[dict], methods: list[str], figs: dict) -> list[str]:
    L = ["## Artifact attention", "",
         "AAR = (share of relevance on artifact pixels) / (share of the image they cover): 1 = attention in proportion "
         "to area, ≫ 1 = the model looks at the artifact. Means with 95 % bootstrap intervals; samples with an empty "
         "mask are excluded (\"n/a\" for a mask-free variant).", ""]
    head = ["| run | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for key, label in (("own", "own test split"), ("probe", "common kornia-zeros probe")):
        L += [f"### AAR on the {label}", ""] + head
        L += [f"| {r['name']} | " + " | ".join(_mean_ci(r["aar"][key].get(m)) for m in methods) + " |" for r in rows]
        L += ["", f"Pointing game on the {label} (share of samples whose most relevant pixel is an artifact pixel):",
              ""] + head
        L += [f"| {r['name']} | " + " | ".join(_mean_pct(r["pointing_game"][key].get(m)) for m in methods) + " |"
              for r in rows]
        L.append("")
    return L + [f"![aar]({figs['aar']})", ""]


# --------------------------------------------------------------------------- audit
def write_audit_figures(res: dict, folder: Path) -> dict:
    """``cues.png``, ``cue-examples.png`` and one ``spray-<run>.png`` per run with clusters;
    returns ``{key: file name}``.  Drawn from the JSON result alone."""
    from .figures import cue_examples, cues_chart, spray_chart

    figs = {"cues": "cues.png", "cue_examples": "cue-examples.png"}
    cues_chart(res["runs"], res["threshold"], folder / figs["cues"])
    size = max((r["input_size"] for r in res["runs"]), default=128)
    cue_examples([c["name"] for c in res["cue_registry"]], folder / figs["cue_examples"], size=max(64, size))
    used = set()
    for r in res["runs"]:
        if r.get("spray") and r["spray"].get("classes"):
            slug = _slug(r["name"])
            while slug in used:
                slug += "_"
            used.add(slug)
            figs[f"spray:{r['name']}"] = f"spray-{slug}.png"
            spray_chart(r["spray"], folder / figs[f"spray:{r['name']}"], title=f"{r['name']}: Grad-CAM relevance "
                        "clusters per class (red = mostly off the text ink)")
    return figs


def write_audit_report(res: dict, out: Path) -> None:
    """``report.md/json`` and the figures of an audit, into ``out`` atomically."""
    with atomic_dir(out) as tmp:
        res["figures"] = write_audit_figures(res, tmp)
        _write_json(res, tmp)
        md = ["# Audit: which cues does each model rely on?", ""]
        md += [f"Runs: {len(res['runs'])}. Clean pages: "
               f"{res['clean'] if isinstance(res['clean'], str) else ', '.join(res['clean'])}; up to {res['pages']} "
               f"pages per run, four turns each. Seed {res['seed']}. Time: {res['elapsed_s']} s.", ""]
        md += audit_markdown(res, res["figures"], level=2)
        if res.get("notes"):
            md += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
        (tmp / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def audit_markdown(res: dict, figs: dict, level: int = 2) -> list[str]:
    """The audit's sections (headings at ``level``), for its own report and for compare's."""
    h = "#" * level
    L = [f"{h} Verdict per run", ""]
    for r in res["runs"]:
        for t in r["verdict"]["text"]:
            L.append(t if t.startswith("  - ") else f"- {t}")
        L.append("")
    L += _md_cues(res, figs, h)
    if res.get("leak"):
        L += _md_leak(res["leak"], h)
    sprays = [r for r in res["runs"] if r.get("spray") and r["spray"].get("classes")]
    if sprays:
        L += _md_spray(sprays, figs, h)
    return L


def _md_cues(res: dict, figs: dict, h: str) -> list[str]:
    thr = 100 * res["threshold"]
    L = [f"{h} Cue battery", "",
         f"Each clean page at its four turns, edited by one cue in the displayed frame (the right answer does not "
         f"change). Flip rate: the share of answers that change, with a 95 % bootstrap interval over pages. A cue is "
         f"relied on at {thr:.0f} % or more with its whole interval, inconclusive when the interval straddles "
         f"{thr:.0f} %. \"Most frequent\": the class most flips go to; \"toward anchor\": the share going to the "
         "answer that puts a side cue on top (a corner cue at the top left).", "", f"![cue flip rates]({figs['cues']})",
         ""]
    for r in res["runs"]:
        b = r["cues"]
        L += [f"{h}# {r['name']} ({r['strategy']}, {r['input_size']} px)", "",
              f"{b['pages']} pages of {r['clean']}; clean accuracy {pct(b['clean_accuracy'])}, mean confidence "
              f"{b['clean_confidence']:.2f}.", "",
              "| cue | flip rate [95 % CI] | verdict | most frequent (share of flips) | toward anchor | accuracy change |",
              "|---|---:|---|---:|---:|---:|"]
        for k, c in b["cues"].items():
            if not c["valid"]:
                continue
            verdict = c["decision"] + (f" ({c['pages_to_decide']} pages would decide)" if c["pages_to_decide"] else "")
            if c.get("control"):
                verdict += f"; {c['control']}: {pct(c['control_flip_rate'])}"
            most = f"{c['top_class']}° ({pct(c['top_class_share'])})" if c["flips"] else "—"
            anchor = f"{c['anchor']}°: {pct(c['toward_anchor'])}" if c.get("anchor") is not None and c["flips"] else "—"
            L.append(f"| {k} | {flip_ci(c)} | {verdict} | {most} | {anchor} | {100 * c['accuracy_change']:+.1f} |")
        inv = {k: c for k, c in b["cues"].items() if not c["valid"]}
        if inv:
            L += ["", "| no right answer | answers 0° / 90° / 180° / 270° | mean confidence (clean) |", "|---|---|---:|"]
            for k, c in inv.items():
                ans = " / ".join(pct(c["answers"][str(a)]) for a in ANGLES)
                L.append(f"| {k} | {ans} | {c['mean_confidence']:.2f} ({c['clean_confidence']:.2f}) |")
        L.append("")
    L += [f"{h}# The cues", "", f"![what each cue does to a page]({figs['cue_examples']})", "", "| cue | edit |",
          "|---|---|"]
    return L + [f"| {c['name']} | {c['summary']} |" for c in res["cue_registry"]] + [""]


def _md_leak(leaks: list[dict], h: str) -> list[str]:
    L = [f"{h} Leak test: the data alone", "",
         "A logistic-regression probe, cross-validated by document, predicts the label from features that should "
         "carry no orientation. Accuracy against chance, 95 % bootstrap interval over documents; \"clean turns\": "
         "the same probe on artifact-free turns of the same pages (what inference sees); a leak is a generator "
         "trace when the variant beats its clean turns, a layout cue when the clean turns carry it as much. Axis: "
         "the share on the right axis (0/180 vs 90/270, chance 50 %).", "",
         "| variant | features | probe accuracy [95 % CI] | axis | clean turns | excess [95 % CI] | verdict |",
         "|---|---|---:|---:|---:|---:|---|"]
    for lk in leaks:
        for f, x in lk["features"].items():
            if x.get("accuracy") is None:
                L.append(f"| {lk['variant']} | {f} | n/a | | | | {x.get('note', '')} |")
                continue
            ex = "n/a" if x["excess"] is None else \
                f"{100 * x['excess']:+.1f} [{100 * x['excess_ci95'][0]:+.1f}, {100 * x['excess_ci95'][1]:+.1f}]"
            status = f"**{x['status']}**" if x["status"] == "generator trace" else x["status"]
            L.append(f"| {lk['variant']} | {f} | {pct_ci(x['accuracy'], x['ci95'])} | {pct(x['axis_accuracy'])} | "
                     f"{pct(x['clean_accuracy'])} | {ex} | {status} |")
    L.append("")
    L += [f"- {lk['verdict']} (chance {pct(lk['chance'])}, {lk['samples']} samples, {lk['documents']} documents)"
          for lk in leaks]
    return L + [""]


def _md_spray(sprays: list[dict], figs: dict, h: str) -> list[str]:
    sp0 = sprays[0]["spray"]
    L = [f"{h} Relevance clusters (SpRAy)", "",
         f"Grad-CAM maps (explaining the predicted class) of up to {sp0['n_per_class']} test samples per true class, "
         f"pooled to {sp0['grid']}x{sp0['grid']}, normalised, and clustered per class by spectral clustering "
         f"({sp0['clusters_rule']}). A cluster is flagged when more than {100 * sp0['flag_off_ink_mass']:.0f} % of its "
         f"relevance lies off the text ink, at least {sp0['flag_off_ink_odds']:g}x as densely as on it (odds ratio "
         "against the off-ink area; text ink: |x − paper| > 0.25 without solid dark regions or artifact pixels, "
         "dilated by 1/32 of the side).", ""]
    for r in sprays:
        sp = r["spray"]
        L += [f"{h}# {r['name']}", ""]
        if sp.get("note"):
            L += [f"Note: {sp['note']}.", ""]
        L += ["| class | cluster | share | accuracy | relevance off ink | off-ink area | density ratio | flag |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
        for a, v in sp["classes"].items():
            for j, cl in enumerate(v["clusters"]):
                odds = "n/a" if cl["off_ink_odds"] is None else f"{cl['off_ink_odds']:.2f}"
                L.append(f"| {a}° | {j + 1} | {pct(cl['share'])} | {pct(cl['accuracy'])} | {pct(cl['off_ink_mass'])} | "
                         f"{pct(cl['off_ink_area'])} | {odds} | {'**off ink**' if cl['flagged'] else ''} |")
        key = f"spray:{r['name']}"
        if key in figs:
            L += ["", f"![relevance clusters of {r['name']}]({figs[key]})"]
        L.append("")
    return L


def format_audit(res: dict) -> str:
    """The verdict lines of an audit, for the terminal."""
    lines = []
    for r in res["runs"]:
        lines += [t.replace("**", "") for t in r["verdict"]["text"]]
    return "\n".join(lines)
