"""``datagen strategies`` and ``datagen inspect`` (CliRunner), plus the reader side of the contract."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from datagen.contract import decode_sample, find_variants, iter_samples, load_variant
from datagen.strategies import REGISTRY


def test_strategies_lists_all_five_one_line_each(datagen_cli):
    r = datagen_cli("strategies")
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 5
    names = [ln.split()[0] for ln in lines]
    assert names == list(REGISTRY)
    assert set(names) == {"kornia-zeros", "kornia-border", "kornia-reflect", "kornia-fill", "exact"}
    for ln, name in zip(lines, names):
        assert REGISTRY[name].artifact in ln


def test_help_and_version(datagen_cli):
    r = datagen_cli("--help")
    assert r.exit_code == 0
    for cmd in ("build", "fetch", "inspect", "strategies"):
        assert cmd in r.stdout
    r = datagen_cli("build", "--help")
    assert r.exit_code == 0 and "--rotation" in r.stdout and "--part" in r.stdout
    assert datagen_cli("--version").exit_code == 0


@pytest.fixture
def variant(make_pdf, datagen_cli, tmp_path):
    """A small kornia-zeros variant: 4 two-page portrait documents, size 48."""
    for i in range(4):
        make_pdf(f"doc{i}", pages=2, seed=i, folder=tmp_path / "src")
    out = tmp_path / "kz"
    r = datagen_cli("build", tmp_path / "src", "--out", out, "--rotation", "kornia-zeros", "--size", "48",
                    "--dpi", "50", "--device", "cpu", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    return out


def test_inspect_prints_counts_and_mask_coverage_and_draws_a_sheet(variant, datagen_cli, tmp_path):
    sheet = tmp_path / "sheets" / "sheet.png"
    r = datagen_cli("inspect", variant, "--out", sheet)
    assert r.exit_code == 0, r.output
    rec = json.loads((variant / "dataset.json").read_text())
    out = r.stdout
    assert "kornia-zeros" in out and "size 48" in out
    for split in ("train", "val", "test"):
        (line,) = [ln for ln in out.splitlines() if ln.startswith(split)]
        c = rec["counts"][split]
        nums = [int(x) for x in line.split()[1:6]]
        assert nums == [c["0"], c["90"], c["180"], c["270"], c["total"]]
        # mask coverage per class: none for 0/180, bands for 90/270 on a portrait page
        assert "0°:0.0%" in line and "180°:0.0%" in line
        cov = dict(re.findall(r"(\d+)°:([\d.]+)%", line))
        assert 10 < float(cov["90"]) < 30 and cov["90"] == cov["270"]
        assert float(cov["90"]) == pytest.approx(100 * rec["mask_share"][split]["90"], abs=0.06)
    assert "documents 4, skipped 0" in out
    assert f"contact sheet -> {sheet}" in out
    im = Image.open(sheet)
    assert im.format == "PNG" and im.mode == "RGB" and im.width > 400 and im.height > 400
    # the artifact is tinted red somewhere on the sheet (the 90/270 bands)
    a = np.asarray(im).astype(int)
    assert ((a[..., 0] - a[..., 1] > 60) & (a[..., 0] - a[..., 2] > 60)).sum() > 100


def test_inspect_without_out_only_prints(variant, datagen_cli, tmp_path):
    r = datagen_cli("inspect", variant)
    assert r.exit_code == 0 and "mask coverage" in r.stdout and "contact sheet" not in r.stdout
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("what", ["empty-folder", "missing", "a-file"])
def test_inspect_on_a_non_variant_is_a_clear_error(what, datagen_cli, tmp_path):
    target = tmp_path / what
    if what == "empty-folder":
        target.mkdir()
        (target / "notes.txt").write_text("hi")
    elif what == "a-file":
        target.write_text("hi")
    r = datagen_cli("inspect", target, "--out", tmp_path / "s.png")
    assert r.exit_code == 1
    assert isinstance(r.exception, SystemExit) and "Traceback" not in r.output
    assert str(target) in r.output
    expect = {"empty-folder": "not a dataset variant", "missing": "no such folder", "a-file": "got a file"}[what]
    assert expect in r.output
    assert not (tmp_path / "s.png").exists()


def test_readers_refuse_foreign_or_broken_records(variant, tmp_path):
    rec = json.loads((variant / "dataset.json").read_text())
    (variant / "dataset.json").write_text(json.dumps({**rec, "format": "something/9"}))
    with pytest.raises(ValueError, match="unknown format"):
        load_variant(variant)
    (variant / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_variant(variant)
    (variant / "dataset.json").write_text(json.dumps(rec))
    name = rec["shards"][0]["name"]
    (variant / name).unlink()
    with pytest.raises(RuntimeError, match="missing"):
        load_variant(variant).shards(rec["shards"][0]["split"])


def test_find_variants_and_decode_sample(variant, tmp_path):
    (vs,) = find_variants(tmp_path)  # a folder of variants
    assert vs.path == variant and vs.strategy == "kornia-zeros"
    assert find_variants(variant)[0].path == variant
    samples = [decode_sample(s) for s in iter_samples(vs.shards("train"))]
    assert len(samples) == vs.count("train") == 16
    for s in samples:
        assert s["image"].shape == (48, 48) and s["mask"].dtype == bool
        assert s["cls"] == s["meta"]["angle"] // 90 and s["key"] == s["meta"]["key"]
        assert s["mask"].any() == (s["meta"]["angle"] in (90, 270))
