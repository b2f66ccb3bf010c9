"""Calibrated confidence: temperature scaling, ECE, risk-coverage, the review threshold, and the
commands that use them (fit stores them, calibrate refits them, eval reports and plots them)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import cli_explain
from trainer.calibrate import calibration, fit_temperature, flagged_errors, review_threshold, risk_coverage

DEV = ("--device", "cpu")


def _overconfident(n=4000, seed=0):
    """Logits of a model that is right 80 % of the time but says 99 %: temperature must be > 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.8, y, (y + rng.integers(1, 4, n)) % 4)
    z = np.zeros((n, 4))
    z[np.arange(n), pred] = 6.0
    return z, y


def test_temperature_recovers_the_calibrating_scale():
    z, y = _overconfident()
    t = fit_temperature(z, y)
    assert t > 1.5
    p = np.exp(z / t) / np.exp(z / t).sum(1, keepdims=True)
    # after scaling, the confidence matches the 80 % accuracy and the ECE collapses
    assert abs(p.max(1).mean() - 0.8) < 0.02
    p1 = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert calibration(p, y)["ece"] < 0.02 < 0.1 < calibration(p1, y)["ece"]
    # the answers do not change
    assert (p.argmax(1) == p1.argmax(1)).all()


def test_fit_temperature_refuses_bad_input():
    with pytest.raises(ValueError, match="non-finite"):
        fit_temperature(np.array([[np.nan, 0, 0, 0]]), np.array([0]))
    with pytest.raises(ValueError, match="needs logits"):
        fit_temperature(np.zeros((3, 4)), np.zeros(2, int))


def test_risk_coverage_keeps_the_most_confident_first():
    conf = np.array([0.99, 0.98, 0.97, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3])
    correct = np.array([1, 1, 1, 1, 0, 1, 0, 1, 1, 1], bool)
    rc = risk_coverage(conf, correct)
    assert rc["at"]["100"]["accuracy"] == pytest.approx(0.8)
    assert rc["at"]["90"]["kept"] == 9 and rc["at"]["90"]["accuracy"] == pytest.approx(7 / 9)
    assert rc["curve"][0] == [0.1, 0.0, 0.99] and rc["curve"][-1][:2] == [1.0, pytest.approx(0.2)]
    th = review_threshold(conf, correct, target_risk=0.0)
    assert th["threshold"] == 0.6 and th["coverage"] == 0.4 and th["risk"] == 0.0
    f = flagged_errors(conf, correct, th["threshold"])
    assert f["flagged"] == pytest.approx(0.6) and f["wrong_not_flagged"] == 0.0 and f["wrong_flagged"] == 0.2
    assert review_threshold(np.array([0.9]), np.array([False]))["threshold"] == 1.0  # review everything


def test_fit_stores_a_temperature_and_eval_reports_and_plots(trainer_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    ck = torch.load(runs / "exact" / "model.pt", weights_only=True)
    assert 0 < ck["temperature"] < 100 and 0 <= ck["review_threshold"] <= 1
    assert ck["calibration"]["n"] > 0 and "val" in ck["calibration"]["data"]
    r = trainer_cli("eval", runs / "exact" / "model.pt", tiny_shards / "exact", *DEV, "--json", "--plots",
                    tmp_path / "plots")
    assert r.exit_code == 0, cli_explain(r)
    res = json.loads(r.stdout)
    assert 0 <= res["ece"] <= 1 and set(res["accuracy_at_coverage"]) == {"100", "99", "95", "90"}
    assert set(res["review"]) >= {"threshold", "flagged", "wrong_not_flagged"}
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["reliability.png", "risk-coverage.png"]


def test_calibrate_writes_a_new_checkpoint_and_never_the_model(trainer_cli, tiny_fit, tiny_shards, tmp_path):
    _, runs = tiny_fit
    model = runs / "exact" / "model.pt"
    before = model.read_bytes()
    out = tmp_path / "cal.pt"
    r = trainer_cli("calibrate", model, tiny_shards / "exact", "--out", out, *DEV)
    assert r.exit_code == 0, cli_explain(r)
    info = json.loads(r.stdout)
    ck = torch.load(out, weights_only=True)
    assert ck["temperature"] == info["temperature"] and model.read_bytes() == before
    r = trainer_cli("calibrate", model, tiny_shards / "exact", "--out", model, *DEV)
    assert r.exit_code == 1 and "MODEL itself" in r.output and model.read_bytes() == before


def test_calibrate_target_risk_moves_the_threshold_as_review_threshold_says(trainer_cli, tiny_fit, tiny_shards,
                                                                          tmp_path):
    """--target-risk R: the stored threshold is review_threshold's at R on the same predictions, and
    a looser target never asks for a higher threshold."""
    _, runs = tiny_fit
    model = runs / "exact" / "model.pt"
    got = {}
    for risk in ("0.01", "0.5"):
        out = tmp_path / f"cal-{risk}.pt"
        r = trainer_cli("calibrate", model, tiny_shards / "exact", "--out", out, "--target-risk", risk, *DEV)
        assert r.exit_code == 0, cli_explain(r)
        ck = torch.load(out, weights_only=True)
        assert ck["calibration"]["target_risk"] == float(risk)
        got[risk] = ck["review_threshold"]
    assert got["0.5"] <= got["0.01"]
    r = trainer_cli("calibrate", model, tiny_shards / "exact", "--out", tmp_path / "x.pt", "--target-risk", "0", *DEV)
    assert r.exit_code == 2 and "--target-risk" in r.output and not (tmp_path / "x.pt").exists()
