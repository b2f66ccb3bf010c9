"""interpret/shortcut.py with hand-made models: one that cheats on black top rows, one that is honest."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from interpret.shortcut import shortcut_test
from trainer.data import open_data

CPU = torch.device("cpu")


class Cheater(nn.Module):
    """Answers 90 degrees whenever the top two rows are black (kornia-zeros' band), else 0."""

    def forward(self, x):  # (B, 1, S, S) -> (B, 4)
        top = x[..., :2, :].mean(dim=(1, 2, 3))  # (B,)
        out = torch.zeros(x.shape[0], 4)
        out[:, 0] = 5.0
        out[top < 0.3] = torch.tensor([0.0, 5.0, 0.0, 0.0])
        return out


class Honest(nn.Module):
    """Ignores the bands (and everything else): always 0 degrees."""

    def forward(self, x):
        return torch.tensor([3.0, 1.0, 0.0, 0.0]).expand(x.shape[0], 4)


@pytest.fixture(scope="module")
def clean_pdfs(tiny_corpus):
    """Clean portrait pages: two PDFs of tiny_corpus rendered at 50 dpi, model input 32."""
    return open_data([tiny_corpus / "doc0.pdf", tiny_corpus / "doc1.pdf"], 32, dpi=50).cache()


def test_cheating_model_flips_toward_the_artifact(clean_pdfs):
    res = shortcut_test(Cheater(), clean_pdfs, "kornia-zeros", CPU, limit=3)
    assert res["pages"] == 3 and res["strategy"] == "kornia-zeros"
    assert res["clean_accuracy"] == pytest.approx(0.25)  # clean pages: always 0
    ao = res["artifact_only"]
    # portrait pages at 0/180 get black bands at the top for a 90/270 artifact; at 90/270 they don't
    assert ao["flip_rate"] > 0.4
    assert ao["flips"] > 0 and ao["flipped_to"]["90"] == ao["flips"]
    assert ao["flips_toward_artifact_turn"] == 1.0
    assert set(ao["by_artifact_angle"]) <= {"90", "180", "270"} and "90" in ao["by_artifact_angle"]
    assert 0 <= ao["flip_rate_ci95"][0] <= ao["flip_rate"] <= ao["flip_rate_ci95"][1] <= 1
    po = res["painted_out"]
    # own samples: the band says 90 for 90 (right) and 270 (wrong); painted out, only 0 is right
    assert po["n"] == 12 and po["own_accuracy"] == pytest.approx(0.5)
    assert po["painted_accuracy"] == pytest.approx(0.25) and po["accuracy_change"] == pytest.approx(-0.25)


def test_honest_model_never_flips(clean_pdfs):
    res = shortcut_test(Honest(), clean_pdfs, "kornia-zeros", CPU, limit=3)
    assert res["artifact_only"]["n"] > 0
    assert res["artifact_only"]["flip_rate"] == 0.0 and res["artifact_only"]["flips"] == 0
    assert res["painted_out"]["accuracy_change"] == 0.0
    assert res["clean_accuracy"] == pytest.approx(0.25)


def test_a_strategy_without_artifacts_reports_na(clean_pdfs):
    res = shortcut_test(Cheater(), clean_pdfs, "exact", CPU, limit=2)
    assert res["artifact_only"]["flip_rate"] is None and "no artifact" in res["artifact_only"]["note"]
    assert res["painted_out"]["accuracy_change"] == 0.0  # nothing to paint


def test_clean_pages_from_a_variant(tiny_shards):
    ds = open_data([tiny_shards / "exact"], 32)
    res = shortcut_test(Cheater(), ds, "kornia-zeros", CPU)
    assert res["pages"] == 4  # the test split's 0-degree samples: 2 documents x 2 pages
    assert res["artifact_only"]["flip_rate"] > 0.4 and res["artifact_only"]["flips_toward_artifact_turn"] == 1.0


def test_upright_pages_from_a_csv_undo_the_label(tmp_path, text_page):
    """Each CSV image, turned clockwise by its label, comes back as the same upright page."""
    up = np.asarray(text_page(60, 80, seed=5)).copy()
    up[:6, :6] = 100
    with open(tmp_path / "l.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "angle"])
        for a in (0, 90, 180, 270):
            Image.fromarray(np.ascontiguousarray(np.rot90(up, k=-a // 90))).save(tmp_path / f"r{a}.png")
            w.writerow([f"r{a}.png", a])
        w.writerow(["missing.png", 0])
    ds = open_data([tmp_path / "l.csv"], 32)
    pages = list(ds.upright())
    assert [p.key for p in pages] == ["r0.png", "r90.png", "r180.png", "r270.png"]
    ref = pages[0].fitted
    assert ref.shape == (32, 24)  # portrait, fitted
    for p in pages[1:]:
        assert np.array_equal(p.fitted, ref) and p.paper == pages[0].paper
    assert len(ds.errors) == 1 and ds.errors[0]["item"] == "missing.png"


def test_no_usable_page_is_a_clear_error(tmp_path):
    (tmp_path / "l.csv").write_text("file,angle\nmissing.png,0\n")
    with pytest.raises(ValueError, match="no upright, artifact-free pages"):
        shortcut_test(Honest(), open_data([tmp_path / "l.csv"], 32), "kornia-zeros", CPU)
