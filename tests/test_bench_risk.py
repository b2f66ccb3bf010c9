"""``bench/risk.py`` on the session's tiny model: each row's threshold is review_threshold's at its
target on the CHOOSE data, and its flagged / let-through shares are flagged_errors' at it."""
from __future__ import annotations

import json

import numpy as np


def test_risk_rows_follow_review_threshold(tiny_models, tiny_shards, tmp_path, capsys):
    from bench import risk
    from trainer.calibrate import flagged_errors, review_threshold

    out = tmp_path / "risk.json"
    assert risk.main(["--model", str(tiny_models["exact"]), "--choose", str(tiny_shards / "exact"),
                      "--check", str(tiny_shards / "kornia-zeros"), "--targets", "0.01,0.5", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert "| 1 % |" in capsys.readouterr().out
    c, ok, _ = risk.scores(tiny_models["exact"], str(tiny_shards / "exact"), None, 1)
    c2, ok2, _ = risk.scores(tiny_models["exact"], str(tiny_shards / "kornia-zeros"), None, 1)
    assert res["choose"]["n"] == len(c) and res["check"]["n"] == len(c2) and len(c2) > 0
    for row in res["rows"]:
        th = review_threshold(c, ok, row["target_risk"])["threshold"]
        assert row["threshold"] == th
        assert np.isclose(row["flagged"][1], flagged_errors(c2, ok2, th)["flagged"])
        assert np.isclose(row["wrong_not_flagged"][0], flagged_errors(c, ok, th)["wrong_not_flagged"])
    assert res["rows"][1]["threshold"] <= res["rows"][0]["threshold"]
