"""The Python API (trainer.api.Orienter): any kind of page in, the same answer as trainer predict."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import cli_explain

ANGLES = (0, 90, 180, 270)


@pytest.fixture(scope="module")
def orienter(tiny_models):
    from trainer.api import Orienter

    return Orienter(tiny_models["exact"], device="cpu")


def test_every_kind_of_page_gives_the_same_answer(orienter, text_page, tmp_path, trainer_cli, tiny_models):
    img = text_page(100, 140, seed=6)
    path = tmp_path / "p.png"
    img.save(path)
    a = orienter.predict(path)
    assert a.angle in ANGLES and 0.25 <= a.confidence <= 1 and set(a.probs) == set(ANGLES)
    assert orienter.predict(img) == a
    assert orienter.predict(np.asarray(img)) == a
    assert orienter.predict(np.asarray(img.convert("RGB"))) == a
    assert orienter.predict(np.asarray(img).astype(np.uint16) * 257) == a  # 16-bit, scaled
    r = trainer_cli("predict", tiny_models["exact"], path, "--device", "cpu", "--json")
    assert r.exit_code == 0, cli_explain(r)
    cli = json.loads(r.stdout)
    assert cli["angle"] == a.angle and cli["confidence"] == pytest.approx(a.confidence, abs=1e-4)


def test_upright_turns_back_by_the_answer(orienter, text_page):
    img = text_page(80, 120, seed=8).convert("RGB")
    res = orienter.predict(img)
    up = orienter.upright(img, res)
    assert up.mode == "RGB"
    assert np.array_equal(np.asarray(up), np.rot90(np.asarray(img), k=res.angle // 90))


def test_pdf_pages_and_bad_input(orienter, make_pdf, tmp_path, close_cached_pdfium_documents):
    pdf = make_pdf("two", pages=2, folder=tmp_path)
    res = orienter.predict_pdf(pdf)
    assert len(res) == 2 and res[0] == orienter.predict((pdf, 1))
    with pytest.raises(ValueError, match="pass \\(path, page\\)"):
        orienter.predict(pdf)
    with pytest.raises(ValueError, match="expected a path"):
        orienter.predict(42)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a readable image"):
        orienter.predict(tmp_path / "bad.png")
