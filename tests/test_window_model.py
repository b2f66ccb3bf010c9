"""The window model end to end on tiny data: datagen windows -> trainer fit-windows -> export
(fp32 and int8) -> trainer predict / Orienter, torch and onnxruntime alike."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import cli_invoke

ort = pytest.importorskip("onnxruntime", reason="the ONNX engine needs onnxruntime (the [onnx] extra)")
pytest.importorskip("onnx", reason="trainer export needs onnx (the [onnx] extra)")


def _page(seed: int, w: int = 700, h: int = 900) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = Image.new("L", (w, h), 245)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=16)
    words = ["Glyph", "windows", "read", "the", "page", "up", "and", "down", "qjpgy", "bdfhkl", "A.B,C;"]
    for i in range(26):
        line = " ".join(rng.choice(words, 7))
        d.text((30, 30 + 32 * i), line, font=font, fill=10)
    return im


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from datagen.cli import main as datagen_main
    from trainer.cli import main as trainer_main

    root = tmp_path_factory.mktemp("winmodel")
    pages = root / "pages"
    pages.mkdir()
    for i in range(6):
        _page(i).save(pages / f"p{i}.png")
    r = cli_invoke(datagen_main, "windows", str(pages), "--out", str(root / "w"), "--per-page", "24", "--workers", "1",
                   "--val-share", "0.4")
    assert r.exit_code == 0, r.output
    r = cli_invoke(trainer_main, "fit-windows", str(root / "w"), "--out", str(root / "run"), "--max-steps", "40",
                   "--batch-size", "32", "--val-every", "20", "--k", "8", "--threads", "1")
    assert r.exit_code == 0, r.output
    return root


def test_fit_windows_writes_a_calibrated_checkpoint(run):
    import torch

    ck = torch.load(run / "run" / "model.pt", weights_only=False)
    assert ck["kind"] == "windows" and ck["k"] == 8 and ck["win"] == 64
    assert 0.2 <= ck["temperature"] <= 40
    assert [h["step"] for h in ck["history"]] == [20, 40]
    log = [json.loads(x) for x in (run / "run" / "log.jsonl").read_text().splitlines()]
    assert all(0 <= x["window_acc"] <= 1 for x in log)


def test_resume_continues_where_it_stopped(run, tmp_path):
    from trainer.cli import main as trainer_main

    args = ["fit-windows", str(run / "w"), "--out", str(tmp_path / "r"), "--batch-size", "32", "--val-every", "10",
            "--threads", "1", "--k", "4"]
    assert cli_invoke(trainer_main, *args, "--max-steps", "10").exit_code == 0
    r = cli_invoke(trainer_main, *args, "--max-steps", "20", "--resume")
    assert r.exit_code == 0 and "resumed at step 10/20" in r.output


def test_onnx_exports_agree_with_torch(run):
    from trainer.cli import main as trainer_main
    from trainer.windowinfer import OnnxWindows, TorchWindows

    for extra, name in (([], "f.onnx"), (["--int8", "--calibrate", str(run / "w")], "q.onnx")):
        r = cli_invoke(trainer_main, "export", str(run / "run" / "model.pt"), "--onnx", str(run / name), *extra)
        assert r.exit_code == 0, r.output
    x = np.random.default_rng(0).integers(0, 256, (5, 64, 64)).astype(np.uint8)
    t = TorchWindows(run / "run" / "model.pt").logits(x)
    f = OnnxWindows(run / "f.onnx")
    assert f.meta["kind"] == "windows" and f.meta["target"] == 7.0
    np.testing.assert_allclose(f.logits(x), t, atol=1e-3)
    q = OnnxWindows(run / "q.onnx")
    assert q.meta.get("int8") and (run / "q.onnx").stat().st_size < 0.5 * (run / "f.onnx").stat().st_size
    assert np.abs(q.logits(x) - t).max() < 1.0  # quantised, not another model


def test_int8_needs_calibration_windows(run, tmp_path):
    from trainer.cli import main as trainer_main

    r = cli_invoke(trainer_main, "export", str(run / "run" / "model.pt"), "--onnx", str(tmp_path / "q.onnx"), "--int8")
    assert r.exit_code != 0 and "--calibrate" in r.output and not (tmp_path / "q.onnx").exists()


def test_predict_answers_from_windows_and_flags_a_page_without_text(run, tmp_path):
    from trainer.cli import main as trainer_main

    _page(9).save(tmp_path / "text.png")
    Image.new("L", (400, 500), 250).save(tmp_path / "blank.png")
    for model in (run / "run" / "model.pt", run / "f.onnx"):
        r = cli_invoke(trainer_main, "predict", str(model), str(tmp_path / "text.png"), str(tmp_path / "blank.png"),
                       "--json")
        assert r.exit_code == 0, r.output
        rows = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
        text, blank = rows
        assert text["basis"] == "windows" and text["windows"] == 8 and text["text_scale"] > 3
        assert abs(sum(text["probs"].values()) - 1) < 1e-3
        assert blank["basis"] == "none" and blank["needs_review"] and blank["review_reason"] == "no text found"


def test_turning_a_page_turns_the_answer_of_a_trained_window_vote(run):
    """With TTA the window vote is rotation-consistent: a page turned by a quarter gets the
    answer shifted by that quarter (exactly, whatever the weights)."""
    from trainer.api import Orienter

    o = Orienter(run / "f.onnx", tta=True)
    page = np.asarray(_page(11))
    base = o.predict(page)
    assert base.basis == "windows"
    turned = o.predict(np.rot90(page, -1).copy())  # turned clockwise by 90
    assert turned.angle == (base.angle + 90) % 360


def test_pdf_pages_are_read_at_the_window_dpi(run, make_pdf):
    from trainer.api import Orienter

    pdf = make_pdf("doc", pages=2, width=500, height=650)
    res = Orienter(run / "f.onnx").predict_pdf(pdf)
    assert len(res) == 2 and all(r.angle in (0, 90, 180, 270) for r in res)


def test_interpret_audit_runs_on_a_window_model_with_window_positions_as_a_cue(run, tmp_path):
    import csv

    from interpret.cli import main as interpret_main

    rows = []
    for i in range(3):
        _page(20 + i).save(tmp_path / f"c{i}.png")
        rows.append({"file": f"c{i}.png", "angle": 0, "doc": f"d{i}"})
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "angle", "doc"])
        w.writeheader()
        w.writerows(rows)
    r = cli_invoke(interpret_main, "audit", str(run / "f.onnx"), "--clean", str(tmp_path / "labels.csv"),
                   "--pages", "3", "--out", str(tmp_path / "audit"), "--json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "audit" / "report.json").read_text())
    assert res["pages"] == 3 and {"region-top", "region-left", "bar-top", "blank"} <= set(res["cues"])
    for c in ("region-top", "region-bottom", "bar-top"):
        rate = res["cues"][c]["flip_rate"]
        assert res["cues"][c]["n"] > 0 and 0 <= rate[1] <= rate[0] <= rate[2] <= 1
    assert (tmp_path / "audit" / "report.md").read_text().startswith("# Window-model audit")
    r = cli_invoke(interpret_main, "audit", str(run / "f.onnx"), "--out", str(tmp_path / "a2"))
    assert r.exit_code != 0 and "--clean LABELS.csv" in r.output and not (tmp_path / "a2").exists()


def test_export_with_calibration_windows_stores_a_fitted_escalation(run, tmp_path):
    import torch

    from trainer.cli import main as trainer_main
    from trainer.windowinfer import OnnxWindows

    args = ["export", str(run / "run" / "model.pt"), "--calibrate", str(run / "w"), "--k-max", "16", "--escalate", "0.7"]
    r = cli_invoke(trainer_main, *args, "--pt", str(tmp_path / "e.pt"), "--onnx", str(tmp_path / "e.onnx"))
    assert r.exit_code == 0, r.output
    ck = torch.load(tmp_path / "e.pt", weights_only=True)
    meta = OnnxWindows(tmp_path / "e.onnx").meta
    for m in (ck, meta):
        assert m["k"] == 8 and m["k_max"] == 16 and m["escalate"] == 0.7
        assert 0.2 <= m["temperature_max"] <= 40
    from trainer.loading import load_engine

    eng = load_engine(str(tmp_path / "e.onnx")).engine
    assert (eng.k, eng.k_max, eng.prep.k, eng.escalate) == (8, 16, 16, 0.7)
    # a first vote of another K gets its own temperature; --k alone cannot fit one
    r = cli_invoke(trainer_main, *args, "--k", "4", "--pt", str(tmp_path / "f.pt"))
    assert r.exit_code == 0, r.output
    f = torch.load(tmp_path / "f.pt", weights_only=True)
    assert f["k"] == 4 and f["temperature"] != ck["temperature"] and f["temperature_max"] == m["temperature_max"]
    r = cli_invoke(trainer_main, "export", str(run / "run" / "model.pt"), "--k", "4", "--pt", str(tmp_path / "g.pt"))
    assert r.exit_code != 0 and "--calibrate" in r.output and not (tmp_path / "g.pt").exists()
