"""``trainer eval`` on a labels CSV with a ``skew`` column: the fine skew of every labelled page is
estimated where it is read and its absolute error reported (median, p95), for both kinds of
engine (pages read by the engine, and whole-page squares), per group, in text and JSON; a bad
``skew`` cell is one line naming the CSV, its line and the file.  Every page is made here."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from test_skew import text_page, tilt


def _labelled(tmp_path, tilts=(3.0, -6.0, 0.0), blank_skew_too=True) -> str:
    """Pages tilted by ``tilts`` (clockwise), the second one also quarter-turned (skew is modulo
    90, so its label stays the tilt), and a page with no skew label."""
    rows = []
    for i, t in enumerate(tilts):
        im = tilt(text_page(seed=40 + i), t)
        angle = 90 if i == 1 else 0
        if angle:
            im = im.transpose(Image.Transpose.ROTATE_270)  # clockwise by 90
        im.save(tmp_path / f"p{i}.png")
        rows.append({"file": f"p{i}.png", "angle": angle, "kind": "a" if i % 2 else "b", "skew": t})
    if blank_skew_too:
        text_page(seed=49).save(tmp_path / "unlabelled.png")
        rows.append({"file": "unlabelled.png", "angle": 0, "kind": "b", "skew": ""})
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "angle", "kind", "skew"])
        w.writeheader()
        w.writerows(rows)
    return path


class _PageEngine:
    """An engine that reads pages (as the window engine does): answers 0 degrees for every page."""

    prep = None
    spec = (32, 32, 0)

    def page_input(self, page):
        return page.src_size

    def answers(self, inputs):
        probs = np.tile(np.array([0.7, 0.1, 0.1, 0.1]), (len(inputs), 1))
        return probs, [{}] * len(inputs)


def test_page_engine_scores_the_skew_of_labelled_pages(tmp_path):
    from trainer.data import open_data
    from trainer.evaluate import evaluate, format_result

    ds = open_data([_labelled(tmp_path)], 32, group_by="kind", workers=1)
    res = evaluate(None, ds, engine=_PageEngine())
    assert res.n == 4
    assert len(res.skews) == 3  # the page without a label is not scored
    rep = res.skew_report()
    assert rep["n"] == 3 and rep["p95_abs_error"] < 0.3, res.skews
    assert {r["key"]: r["true"] for r in res.skews} == {"p0.png": 3.0, "p1.png": -6.0, "p2.png": 0.0}
    assert set(rep["groups"]["kind"]) == {"a", "b"} and rep["groups"]["kind"]["a"]["n"] == 1
    assert ds.prep is None  # the skew's prep is the evaluation's own, not left on the data
    assert "fine skew on 3 labelled page(s)" in format_result(res, "t")
    assert json.loads(json.dumps(res.to_json()))["skew"]["n"] == 3


def test_a_wrong_estimate_shows_in_the_error(tmp_path):
    """The error is measured against the label: a label 2 degrees off reads as a 2-degree error."""
    from trainer.data import open_data
    from trainer.evaluate import evaluate

    path = _labelled(tmp_path, tilts=(4.0,), blank_skew_too=False)
    text = path.read_text().replace(",4.0", ",2.0")
    path.write_text(text)
    res = evaluate(None, open_data([path], 32, workers=1), engine=_PageEngine())
    assert res.skew_report()["median_abs_error"] == pytest.approx(2.0, abs=0.3)


def test_no_skew_column_no_skew_report(tmp_path):
    from trainer.data import open_data
    from trainer.evaluate import evaluate, format_result

    text_page(seed=3).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("file,angle\na.png,0\n")
    res = evaluate(None, open_data([tmp_path / "labels.csv"], 32, workers=1), engine=_PageEngine())
    assert res.skews == [] and "skew" not in res.to_json() and "fine skew" not in format_result(res, "t")


def test_cli_eval_reports_skew_with_a_whole_page_model(tmp_path, tiny_models, trainer_cli):
    path = _labelled(tmp_path)
    r = trainer_cli("eval", tiny_models["exact"], path, "--device", "cpu", "--workers", "1", "--json")
    assert r.exit_code == 0, r.output
    sk = json.loads(r.output[r.output.index("{"):])["skew"]
    assert sk["n"] == 3 and sk["median_abs_error"] < 0.3, sk
    assert json.loads(r.output[r.output.index("{"):])["errors"] == 0  # the second read adds no errors
    r = trainer_cli("eval", tiny_models["exact"], path, "--device", "cpu", "--workers", "1")
    assert r.exit_code == 0 and "fine skew on 3 labelled page(s)" in r.output, r.output


def test_cli_eval_bad_skew_cell_is_one_line(tmp_path, tiny_models, trainer_cli):
    path = _labelled(tmp_path, blank_skew_too=False)
    path.write_text(path.read_text().replace(",-6.0", ",tilted"))
    r = trainer_cli("eval", tiny_models["exact"], path, "--device", "cpu", "--workers", "1")
    assert r.exit_code != 0
    assert "line 3 (p1.png): skew 'tilted' is not a finite number" in r.output and "Traceback" not in r.output
