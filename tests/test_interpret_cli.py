"""``interpret explain / score / shortcut / compare`` end to end (CliRunner) on the session's tiny runs."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import cli_explain, cli_invoke

DEV = ("--device", "cpu")
FAST = ("--method", "saliency,gradcam", "--ig-steps", "2", *DEV)
CHOICES = "saliency, guided-backprop, integrated-gradients, gradcam"


def ok(r):
    assert r.exit_code == 0, cli_explain(r)
    return r


# --------------------------------------------------------------------------- explain
def test_explain_writes_a_png_grid(interpret_cli, tiny_models, tiny_shards, tiny_corpus, tmp_path):
    out = tmp_path / "ex"
    r = ok(interpret_cli("explain", tiny_models["kornia-zeros"], tiny_shards / "kornia-zeros", "--out", out, "--n", "4",
                         *FAST))
    assert r.stdout.split() == [str(out / "explain-000.png")]
    assert [p.name for p in out.iterdir()] == ["explain-000.png"]
    with Image.open(out / "explain-000.png") as im:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 200
    # all four methods on PDFs (no masks), 8 samples -> one grid of 8 rows
    r = ok(interpret_cli("explain", tiny_models["exact"], tiny_corpus / "doc0.pdf", "--out",
                         tmp_path / "ex2", "--n", "8", "--ig-steps", "2", *DEV))
    assert len(r.stdout.split()) == 1


def test_explain_bad_method_exits_2_listing_choices(interpret_cli, tiny_models, tiny_shards, tmp_path):
    r = interpret_cli("explain", tiny_models["exact"], tiny_shards / "exact", "--out", tmp_path / "ex",
                      "--method", "saliency,lime", *DEV)
    assert r.exit_code == 2, cli_explain(r)
    assert "lime" in r.output and CHOICES in r.output
    assert not (tmp_path / "ex").exists()


def test_explain_bad_model_or_data_is_a_clear_error(interpret_cli, tiny_models, tiny_shards, tmp_path):
    r = interpret_cli("explain", tmp_path / "none.pt", tiny_shards / "exact", "--out", tmp_path / "ex", *DEV)
    assert r.exit_code == 1 and "no such checkpoint" in r.output
    r = interpret_cli("explain", tiny_models["exact"], tmp_path / "nothing", "--out", tmp_path / "ex", *DEV)
    assert r.exit_code == 1 and "no such file or folder" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- score
def test_score_json_has_aar_per_method(interpret_cli, tiny_models, tiny_shards):
    r = ok(interpret_cli("score", tiny_models["kornia-zeros"], tiny_shards / "kornia-zeros", "--n", "4", "--json",
                         *FAST))
    res = json.loads(r.stdout)
    assert res["split"] == "test" and res["n"] == 4 and res["total"] == 16 and res["excluded_empty_mask"] >= 4
    assert set(res["methods"]) == {"saliency", "gradcam"}
    for m, v in res["methods"].items():
        assert v["n"] + v["excluded_no_relevance"] == 4
        assert isinstance(v["aar"]["mean"], float) and v["aar"]["mean"] >= 0
        assert 0 <= v["artifact_mass"]["mean"] <= 1 and 0 <= v["pointing_game"]["mean"] <= 1
        assert 0 < v["area_share"]["mean"] < 1
        lo, hi = v["aar"]["ci95"]
        assert lo <= v["aar"]["mean"] <= hi
    r = ok(interpret_cli("score", tiny_models["kornia-zeros"], tiny_shards / "kornia-zeros", "--n", "4", *FAST))
    assert "AAR" in r.stdout and "saliency" in r.stdout and "gradcam" in r.stdout


def test_score_mask_free_variant_is_na_with_excluded_count(interpret_cli, tiny_models, tiny_shards):
    r = ok(interpret_cli("score", tiny_models["exact"], tiny_shards / "exact", "--json", *FAST))
    res = json.loads(r.stdout)
    assert res["n"] == 0 and res["excluded_empty_mask"] == res["total"] == 16
    assert res["methods"] == {"saliency": None, "gradcam": None} and "n/a" in res["note"]
    r = ok(interpret_cli("score", tiny_models["exact"], tiny_shards / "exact", *FAST))
    assert "n/a" in r.stdout


def test_score_errors(interpret_cli, tiny_models, tiny_shards, tiny_corpus):
    r = interpret_cli("score", tiny_models["exact"], tiny_corpus, *FAST)
    assert r.exit_code == 1 and "not a dataset variant" in r.output
    r = interpret_cli("score", tiny_models["exact"], tiny_shards / "exact", "--method", "shap", *DEV)
    assert r.exit_code == 2 and CHOICES in r.output


# --------------------------------------------------------------------------- shortcut
def test_shortcut_json(interpret_cli, tiny_models, tiny_shards):
    r = ok(interpret_cli("shortcut", tiny_models["exact"], "--clean", tiny_shards / "exact", "--strategy",
                         "kornia-zeros", "--pages", "2", "--json", *DEV))
    res = json.loads(r.stdout)
    assert res["strategy"] == "kornia-zeros" and res["pages"] == 2 and res["clean"] == [str(tiny_shards / "exact")]
    ao = res["artifact_only"]
    assert 0 <= ao["flip_rate"] <= 1 and ao["n"] > 0 and ao["flips"] == round(ao["flip_rate"] * ao["n"])
    assert 0 <= res["clean_accuracy"] <= 1 and res["painted_out"]["n"] == 8
    r = ok(interpret_cli("shortcut", tiny_models["exact"], "--clean", tiny_shards / "exact", "--strategy",
                         "kornia-zeros", "--pages", "2", *DEV))
    assert "flip rate" in r.stdout and "painted out" in r.stdout


def test_shortcut_errors(interpret_cli, tiny_models, tiny_shards, tmp_path):
    r = interpret_cli("shortcut", tiny_models["exact"], "--clean", tiny_shards / "exact", "--strategy", "pil-magic", *DEV)
    assert r.exit_code == 2 and "kornia-zeros" in r.output and "exact" in r.output
    r = interpret_cli("shortcut", tiny_models["exact"], "--strategy", "kornia-zeros", *DEV)
    assert r.exit_code == 2 and "--clean" in r.output
    r = interpret_cli("shortcut", tiny_models["exact"], "--clean", tmp_path / "gone", "--strategy", "kornia-zeros", *DEV)
    assert r.exit_code == 1 and "no such file or folder" in r.output


# --------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def compared(tiny_fit, tiny_shards, tmp_path_factory):
    from interpret.cli import main

    _, runs = tiny_fit
    out = tmp_path_factory.mktemp("compare") / "report"
    r = cli_invoke(main, "compare", runs / "exact", runs / "kornia-zeros", "--probe", tiny_shards / "kornia-zeros",
                   "--clean", tiny_shards / "exact", "--out", out, "--n", "4", "--shortcut-pages", "2", *FAST)
    assert r.exit_code == 0, cli_explain(r)
    return r, out


def test_compare_writes_the_report(compared):
    r, out = compared
    names = sorted(p.name for p in out.iterdir())
    for f in ("report.md", "report.json", "report.csv", "aar.png", "accuracy.png", "grid-saliency.png",
              "grid-gradcam.png"):
        assert f in names, f
    assert not [n for n in names if n.startswith(".")]  # no temporary files
    assert not [p for p in out.parent.iterdir() if p.name != out.name]  # and nothing beside OUT
    for png in (n for n in names if n.endswith(".png")):
        with Image.open(out / png) as im:
            assert im.format == "PNG"
    res = json.loads((out / "report.json").read_text())
    rows = {row["variant"]: row for row in res["runs"]}
    assert set(rows) == {"exact", "kornia-zeros"} and res["methods"] == ["saliency", "gradcam"]
    assert rows["exact"]["n"]["own"] == 16 and rows["exact"]["n"]["clean"] == 16  # clean: 4 upright pages x 4
    assert rows["exact"]["aar"]["own"] == {"saliency": None, "gradcam": None}  # mask-free: n/a
    assert rows["exact"]["shortcut"]["strategy"] == "kornia-zeros"  # mask-free variant: probed with kornia-zeros
    assert isinstance(rows["kornia-zeros"]["aar"]["own"]["saliency"]["mean"], float)
    for row in rows.values():
        assert isinstance(row["aar"]["probe"]["gradcam"]["mean"], float)
        assert 0 <= row["shortcut"]["artifact_only"]["flip_rate"] <= 1
    v = res["verdict"]
    # a strategy is named "cleanest" only when its flip rate is below the threshold; else the
    # verdict says no strategy is free of a shortcut and names the least affected one
    assert v["least_affected"] in ("exact", "kornia-zeros") and v["text"]
    assert v["cleanest"] in (v["least_affected"], None)
    assert (v["cleanest"] is None) == v["text"][0].startswith("No strategy is free of a shortcut")
    md = (out / "report.md").read_text()
    assert "## Verdict" in md and ("Cleanest strategy" in md or "No strategy is free of a shortcut" in md)
    # the audit section (on by default): cue battery, leak test and relevance clusters of every run
    au = res["audit"]
    assert [x["name"] for x in au["runs"]] == ["exact", "kornia-zeros"] and au["pages"] == 2
    assert {lk["variant"] for lk in au["leak"]} == {"exact", "kornia-zeros"}
    assert "## Audit: the shortcuts nobody planted" in md and "### Cue battery" in md and "### Leak test" in md
    for fig in ("cues.png", "cue-examples.png", "spray-exact.png", "spray-kornia-zeros.png"):
        assert fig in names and f"]({fig})" in md, fig
    assert "relies on" in r.stdout
    assert "| exact | exact |" in md and "| kornia-zeros | kornia-zeros |" in md
    for fig in ("aar.png", "accuracy.png", "grid-saliency.png"):
        assert f"]({fig})" in md
    with open(out / "report.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["variant"] for row in table] == ["exact", "kornia-zeros"]
    assert table[0]["aar_own_saliency"] == "" and float(table[1]["aar_own_saliency"]) >= 0
    assert ("Cleanest strategy" in r.stdout or "No strategy is free" in r.stdout) and f"report: {out / 'report.md'}" in r.stdout


def test_compare_run_without_model_is_a_clear_error_and_writes_nothing(interpret_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    (tmp_path / "unfinished").mkdir()
    out = tmp_path / "reports" / "cmp"
    r = interpret_cli("compare", runs / "exact", tmp_path / "unfinished", "--probe", tiny_shards / "kornia-zeros",
                      "--clean", tiny_shards / "exact", "--out", out, "--n", "4", "--shortcut-pages", "2", *FAST)
    assert r.exit_code == 1, cli_explain(r)
    assert "unfinished" in r.output and "no model.pt" in r.output and "Traceback" not in r.output
    assert not out.exists()
    assert not (out.parent.exists() and list(out.parent.iterdir()))


def test_compare_with_no_runs_folder_here(interpret_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = interpret_cli("compare", "--out", tmp_path / "o", *DEV)
    assert r.exit_code == 1 and "no runs/ folder here" in r.output
    r = interpret_cli("compare", "--method", "bogus", *DEV)
    assert r.exit_code == 2 and CHOICES in r.output


def _leftovers(folder: Path, name: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != name)


@pytest.fixture
def failing_report(compared, monkeypatch):
    """(report.json of the good run, write_report) with a figure that fails: disk full."""
    import interpret.figures
    from interpret.compare import write_report

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(interpret.figures, "shortcut_chart", disk_full)
    return json.loads((compared[1] / "report.json").read_text()), write_report


def test_compare_report_failing_midway_leaves_nothing(failing_report, tmp_path):
    """A failure while the report is being written leaves no OUT and no temporary folder beside it."""
    result, write_report = failing_report
    out = tmp_path / "fresh"
    with pytest.raises(OSError):
        write_report(dict(result), out, {}, None)
    assert not out.exists()
    assert _leftovers(tmp_path, "fresh") == [], "temporary output left behind"


def test_compare_report_failing_midway_keeps_the_earlier_report(failing_report, tmp_path):
    result, write_report = failing_report
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.md").write_text("the earlier report\n")
    with pytest.raises(OSError):
        write_report(dict(result), old, {}, None)
    assert [p.name for p in old.iterdir()] == ["report.md"] and (old / "report.md").read_text() == "the earlier report\n"
    assert _leftovers(tmp_path, "old") == [], "temporary output left behind"


def test_compare_replaces_an_earlier_report(compared, tmp_path):
    from interpret.compare import write_report

    _, good = compared
    result = json.loads((good / "report.json").read_text())
    out = tmp_path / "r"
    out.mkdir()
    (out / "stale.png").write_text("from an older report")
    write_report(dict(result), out, {}, None)
    assert "stale.png" not in [p.name for p in out.iterdir()] and (out / "report.md").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def _row(name, flip, own, clean, ci=None, pages=30):
    ao = {"flip_rate": flip, **({"flip_rate_ci95": ci} if ci else {})}
    return {"name": name, "strategy": name, "accuracy": {"own": own, "clean": clean, "real": None},
            "shortcut": {"strategy": "kornia-zeros", "pages": pages, "artifact_only": ao}}


def test_verdict_names_the_clean_strategy_and_the_shortcut():
    from interpret.compare import SHORTCUT_FLIP, verdict

    rows = [_row("kornia-zeros", 0.6, 0.99, 0.40), _row("exact", 0.02, 0.90, 0.88), _row("kornia-fill", 0.05, 0.9, 0.7)]
    v = verdict(rows)
    assert v["cleanest"] == "exact" and v["shortcut_strategies"] == ["kornia-zeros"]
    assert v["flip_threshold"] == SHORTCUT_FLIP
    assert v["text"][0].startswith("Cleanest strategy: **exact**")
    assert any(t.startswith("Shortcut: **kornia-zeros**") and "(-59.0 points)" in t for t in v["text"])
    assert any(t.startswith("No shortcut found: kornia-fill") for t in v["text"])


def test_verdict_does_not_call_a_foreign_artifact_a_shortcut():
    """A mask-free variant probed with kornia-zeros bands (which it never saw) may flip a lot:
    that is robustness, not a shortcut; and a mask-free run tied on clean accuracy is the cleanest."""
    from interpret.compare import verdict

    exact = {**_row("exact", 0.25, 0.92, 0.92), "own_artifact": False, "clean_accuracy_ci95": [0.89, 0.95]}
    fill = {**_row("kornia-fill", 0.045, 0.95, 0.945), "own_artifact": True, "clean_accuracy_ci95": [0.92, 0.97]}
    zeros = {**_row("kornia-zeros", 0.94, 0.93, 0.49), "own_artifact": True, "clean_accuracy_ci95": [0.44, 0.54]}
    v = verdict([exact, fill, zeros])
    assert v["shortcut_strategies"] == ["kornia-zeros"] and v["cleanest"] == "exact"
    assert any(t.startswith("Robustness, not a shortcut: exact") and "25.0 %" in t for t in v["text"])
    # no longer tied: the mask-free run is clearly less accurate, so the best clean accuracy wins
    exact["clean_accuracy_ci95"] = [0.80, 0.85]
    exact["accuracy"]["clean"] = 0.825
    assert verdict([exact, fill, zeros])["cleanest"] == "kornia-fill"


def test_verdict_respects_the_flip_rate_interval():
    """A flip rate whose 95 % interval straddles the threshold is inconclusive, with the number of
    clean pages that would decide it; it is neither a shortcut nor a candidate for the cleanest."""
    from interpret.compare import verdict

    rows = [_row("kornia-zeros", 0.60, 0.99, 0.40, [0.52, 0.68]), _row("kornia-fill", 0.067, 0.91, 0.93, [0.038, 0.12]),
            _row("kornia-border", 0.042, 0.90, 0.92, [0.017, 0.067]), _row("exact", 0.02, 0.90, 0.90, [0.0, 0.05])]
    v = verdict(rows)
    assert v["shortcut_strategies"] == ["kornia-zeros"] and v["inconclusive_strategies"] == ["kornia-fill"]
    assert v["cleanest"] == "kornia-border"  # the most accurate without a shortcut and with a decided test
    # side above the estimate 0.053, distance 0.033: 30 x (0.053 / 0.033)^2 = 78 pages
    assert v["pages_to_decide"] == {"kornia-fill": 78}
    line = next(t for t in v["text"] if t.startswith("Inconclusive: **kornia-fill**"))
    assert "6.7 % [3.8–12.0]" in line and "straddles the 10 % threshold" in line
    assert "about 78 clean pages (now 30)" in line
    # every own-artifact run undecided or a shortcut: nothing is called clean
    v = verdict([rows[0], rows[1]])
    assert v["cleanest"] is None and v["least_affected"] == "kornia-fill"
    assert v["text"][0].startswith("No strategy is free of a shortcut beyond doubt here")


def test_compare_without_the_audit(interpret_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    out = tmp_path / "r"
    ok(interpret_cli("compare", runs / "exact", "--probe", tiny_shards / "kornia-zeros", "--clean",
                     tiny_shards / "exact", "--out", out, "--n", "2", "--shortcut-pages", "1", "--no-audit",
                     "--method", "gradcam", *DEV))
    assert "audit" not in json.loads((out / "report.json").read_text())
    assert "## Audit" not in (out / "report.md").read_text() and not (out / "cues.png").exists()
