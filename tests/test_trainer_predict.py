"""``trainer predict`` (CliRunner) and the upright copies of ``--fix`` (pixels and /Rotate checked)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import cli_explain

DEV = ("--device", "cpu")
ANGLES = (0, 90, 180, 270)


def cw(arr: np.ndarray, angle: int) -> np.ndarray:
    """``arr`` turned CLOCKWISE by ``angle`` (np.rot90 with positive k turns counter-clockwise)."""
    return np.ascontiguousarray(np.rot90(arr, k=-angle // 90))


@pytest.fixture
def inputs(tmp_path, text_page, make_pdf):
    """Two page images (one turned 90 clockwise) and a 2-page PDF."""
    folder = tmp_path / "in"
    folder.mkdir()
    up = np.asarray(text_page(120, 160, seed=3))
    Image.fromarray(up).save(folder / "a.png")
    Image.fromarray(cw(up, 90)).save(folder / "b.png")
    pdf = make_pdf("doc", pages=2, seed=4, folder=folder)
    return [folder / "a.png", folder / "b.png", pdf]


def test_predict_text_lines(trainer_cli, tiny_models, inputs):
    r = trainer_cli("predict", tiny_models["exact"], *inputs, *DEV)
    assert r.exit_code == 0, cli_explain(r)
    lines = r.stdout.strip().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == [str(inputs[0]), str(inputs[1]), f"{inputs[2]}#page=1",
                                                   f"{inputs[2]}#page=2"]
    for ln in lines:
        _, angle, prob = ln.split("\t")
        assert int(angle) in ANGLES and 0.25 <= float(prob) <= 1.0  # the arg-max of 4 probabilities


def test_predict_json(trainer_cli, tiny_models, inputs):
    r = trainer_cli("predict", tiny_models["exact"], *inputs, *DEV, "--json")
    assert r.exit_code == 0, cli_explain(r)
    res = json.loads(r.stdout)
    assert res["fixed"] == [] and res["tta"] is False
    pages = res["pages"]
    assert [(p["file"], p["page"]) for p in pages] == [(str(inputs[0]), None), (str(inputs[1]), None),
                                                      (str(inputs[2]), 1), (str(inputs[2]), 2)]
    for p in pages:
        assert set(p["probs"]) == {"0", "90", "180", "270"}
        assert sum(p["probs"].values()) == pytest.approx(1, abs=1e-3)
        assert p["angle"] == int(max(p["probs"], key=p["probs"].get)) and p["prob"] == max(p["probs"].values())


def test_predict_folder_and_unreadable_image(trainer_cli, tiny_models, inputs, tmp_path):
    folder = inputs[0].parent
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    r = trainer_cli("predict", tiny_models["exact"], folder, *DEV, "--json")
    assert r.exit_code == 0, cli_explain(r)  # one bad file among good ones: reported, not fatal
    pages = json.loads(r.stdout)["pages"]
    assert len(pages) == 5
    bad = [p for p in pages if p.get("error")]
    assert len(bad) == 1 and bad[0]["file"].endswith("broken.jpg") and bad[0]["angle"] is None
    r = trainer_cli("predict", tiny_models["exact"], folder / "broken.jpg", *DEV)
    assert r.exit_code == 1 and "error" in r.stdout and "not a readable image" in r.stdout


def test_predict_missing_file_is_a_clear_error(trainer_cli, tiny_models, tmp_path):
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "nope.png", *DEV)
    assert r.exit_code == 1 and "no such file" in r.output and "Traceback" not in r.output
    (tmp_path / "empty").mkdir()
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "empty", *DEV)
    assert r.exit_code == 1 and "holds no images or PDFs" in r.output
    r = trainer_cli("predict", tiny_models["exact"], *DEV)
    assert r.exit_code == 2


def test_predict_fix_writes_upright_copies(trainer_cli, tiny_models, inputs, tmp_path):
    """Whatever the tiny model answers, each fixed copy is its input turned back by that answer:
    images counter-clockwise by the angle, pixel for pixel; PDF pages through /Rotate."""
    import pypdfium2 as pdfium

    out = tmp_path / "fixed"
    r = trainer_cli("predict", tiny_models["exact"], *inputs, *DEV, "--json", "--fix", out)
    assert r.exit_code == 0, cli_explain(r)
    res = json.loads(r.stdout)
    assert sorted(res["fixed"]) == sorted(str(out / p.name) for p in inputs)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "doc.pdf"]  # no temporary files left
    for p in res["pages"]:
        if p["page"] is None:
            src = np.asarray(Image.open(p["file"]))
            got = np.asarray(Image.open(out / p["file"].rsplit("/", 1)[1]))
            assert np.array_equal(got, np.rot90(src, k=p["angle"] // 90))  # counter-clockwise by the angle
    pdf = pdfium.PdfDocument(str(out / "doc.pdf"))
    try:
        assert [pdf[i].get_rotation() for i in range(len(pdf))] == [(-p["angle"]) % 360 for p in res["pages"][2:]]
    finally:
        pdf.close()


# --------------------------------------------------------------------------- fix_files, by hand
def test_fix_files_turns_images_back_exactly(tmp_path, text_page):
    from trainer.predict import PagePrediction, fix_files

    up = np.asarray(text_page(60, 90, seed=9))  # portrait, asymmetric
    up = up.copy()
    up[:5, :5] = 77  # a mark in the top-left corner
    preds = []
    for angle in ANGLES:
        f = tmp_path / f"r{angle}.png"
        Image.fromarray(cw(up, angle)).save(f)
        preds.append(PagePrediction(str(f), None, angle, 0.9))
    rgb = tmp_path / "rgb90.png"
    Image.fromarray(cw(np.stack([up, up // 2, 255 - up], -1), 90)).save(rgb)  # colour stays colour
    preds.append(PagePrediction(str(rgb), None, 90, 0.9))
    preds.append(PagePrediction(str(tmp_path / "err.png"), None, None, None, error="unreadable"))  # skipped
    written = fix_files(preds, tmp_path / "out")
    assert [w.name for w in written] == ["r0.png", "r90.png", "r180.png", "r270.png", "rgb90.png"]
    for angle in ANGLES:
        got = np.asarray(Image.open(tmp_path / "out" / f"r{angle}.png"))
        assert got.shape == up.shape and np.array_equal(got, up), angle
    got = np.asarray(Image.open(tmp_path / "out" / "rgb90.png"))
    assert np.array_equal(got, np.stack([up, up // 2, 255 - up], -1))


def test_fix_files_sets_pdf_rotation(tmp_path, make_pdf):
    import pypdfium2 as pdfium

    from trainer.predict import PagePrediction, fix_files

    def render(path, i):
        doc = pdfium.PdfDocument(str(path))
        try:
            return np.asarray(doc[i].render(scale=50 / 72, grayscale=True).to_pil().convert("L"))
        finally:
            doc.close()

    src = make_pdf("scan", pages=3, folder=tmp_path)
    pdf = pdfium.PdfDocument(str(src))
    pdf[0].set_rotation(90)  # page 1 shows turned 90 clockwise (/Rotate is clockwise)
    pdf[1].set_rotation(270)
    rotated = tmp_path / "rot.pdf"
    pdf.save(str(rotated))
    pdf.close()
    upright = render(src, 0)
    assert np.array_equal(render(rotated, 0), cw(upright, 90))  # the convention this test relies on
    preds = [PagePrediction(str(rotated), 1, 90, 0.8), PagePrediction(str(rotated), 2, 90, 0.8),
             PagePrediction(str(rotated), 3, 0, 0.8)]
    written = fix_files(preds, tmp_path / "out")
    assert written == [tmp_path / "out" / "rot.pdf"]
    out = pdfium.PdfDocument(str(written[0]))
    try:
        assert len(out) == 3
        assert [out[i].get_rotation() for i in range(3)] == [(90 - 90) % 360, (270 - 90) % 360, 0]
    finally:
        out.close()
    assert np.array_equal(render(written[0], 0), upright)  # page 1 is upright again, content untouched
