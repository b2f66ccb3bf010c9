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


def jsonl(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.strip().splitlines()]


def test_predict_table_has_the_json_columns(trainer_cli, tiny_models, inputs):
    r = trainer_cli("predict", tiny_models["exact"], *inputs, *DEV)
    assert r.exit_code == 0, cli_explain(r)
    head, *lines = r.stdout.strip().splitlines()
    assert head.split("\t") == ["file", "page", "angle", "confidence", "p0", "p90", "p180", "p270", "needs_review"]
    assert [tuple(ln.split("\t")[:2]) for ln in lines] == [(str(inputs[0]), ""), (str(inputs[1]), ""),
                                                            (str(inputs[2]), "1"), (str(inputs[2]), "2")]
    for ln in lines:
        _, _, angle, conf, *probs, review = ln.split("\t")
        assert int(angle) in ANGLES and 0.25 <= float(conf) <= 1.0  # the arg-max of 4 probabilities
        assert sum(map(float, probs)) == pytest.approx(1, abs=1e-3) and review in ("yes", "no")


def test_predict_json_lines_in_input_order(trainer_cli, tiny_models, inputs):
    # the PDF first: output follows the order the user gave, not "images, then PDFs"
    order = [inputs[2], inputs[1], inputs[0]]
    r = trainer_cli("predict", tiny_models["exact"], *order, *DEV, "--json")
    assert r.exit_code == 0, cli_explain(r)
    pages = jsonl(r.stdout)
    assert [(p["file"], p["page"]) for p in pages] == [(str(inputs[2]), 1), (str(inputs[2]), 2),
                                                      (str(inputs[1]), None), (str(inputs[0]), None)]
    for p in pages:
        assert set(p["probs"]) == {"0", "90", "180", "270"}
        assert sum(p["probs"].values()) == pytest.approx(1, abs=1e-3)
        assert p["angle"] == int(max(p["probs"], key=p["probs"].get))
        assert p["confidence"] == max(p["probs"].values()) and p["needs_review"] is False


def test_predict_folder_and_unreadable_image(trainer_cli, tiny_models, inputs, tmp_path):
    folder = inputs[0].parent
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    r = trainer_cli("predict", tiny_models["exact"], folder, *DEV, "--json")
    assert r.exit_code == 1, cli_explain(r)  # one bad file among good ones: a row, the run goes on, status 1
    assert "1 of 4 input(s) failed" in r.stderr
    pages = jsonl(r.stdout)
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
    pages = jsonl(r.stdout)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "doc.pdf", "review.csv"]  # no temp files
    for p in pages:
        if p["page"] is None:
            src = np.asarray(Image.open(p["file"]))
            got = np.asarray(Image.open(out / p["file"].rsplit("/", 1)[1]))
            assert np.array_equal(got, np.rot90(src, k=p["angle"] // 90))  # counter-clockwise by the angle
    pdf = pdfium.PdfDocument(str(out / "doc.pdf"))
    try:
        assert [pdf[i].get_rotation() for i in range(len(pdf))] == [(-p["angle"]) % 360 for p in pages[2:]]
    finally:
        pdf.close()


# --------------------------------------------------------------------------- nothing of the user's is lost
def _snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fix_refuses_an_output_folder_that_is_or_holds_an_input(trainer_cli, tiny_models, inputs, tmp_path):
    folder = inputs[0].parent
    before = _snapshot(tmp_path)
    for out in (folder, tmp_path, folder / "upright"):
        r = trainer_cli("predict", tiny_models["exact"], folder, *DEV, "--fix", out)
        assert r.exit_code == 1, cli_explain(r)
        assert "input" in r.output and "Traceback" not in r.output
    r = trainer_cli("predict", tiny_models["exact"], inputs[0], *DEV, "--fix", folder)  # a file inside OUT
    assert r.exit_code == 1 and "holds the input" in r.output
    assert _snapshot(tmp_path) == before  # nothing written, nothing touched


def test_fix_keeps_relative_paths_so_same_names_never_collide(trainer_cli, tiny_models, tmp_path, text_page, make_pdf):
    page = np.asarray(text_page(80, 100, seed=1))
    for d in ("a", "b"):
        (tmp_path / "in" / d).mkdir(parents=True)
        Image.fromarray(page if d == "a" else cw(page, 90)).save(tmp_path / "in" / d / "scan.png")
        make_pdf("doc", pages=1, seed=ord(d), folder=tmp_path / "in" / d)
    out = tmp_path / "out"
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in", *DEV, "--fix", out)
    assert r.exit_code == 0, cli_explain(r)
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert got == ["a/doc.pdf", "a/scan.png", "b/doc.pdf", "b/scan.png", "review.csv"]
    # two files given one by one keep their folders too
    out2 = tmp_path / "out2"
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in" / "a" / "scan.png",
                    tmp_path / "in" / "b" / "scan.png", *DEV, "--fix", out2)
    assert r.exit_code == 0, cli_explain(r)
    assert sorted(str(p.relative_to(out2)) for p in out2.rglob("*.png")) == ["a/scan.png", "b/scan.png"]
    # a second run does not overwrite what the first wrote, unless asked
    before = _snapshot(out2)
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in" / "a" / "scan.png",
                    tmp_path / "in" / "b" / "scan.png", *DEV, "--fix", out2)
    assert r.exit_code == 1 and "already exist" in r.output and "--overwrite" in r.output
    assert _snapshot(out2) == before
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in" / "a" / "scan.png",
                    tmp_path / "in" / "b" / "scan.png", *DEV, "--fix", out2, "--overwrite")
    assert r.exit_code == 0, cli_explain(r)


def _tiff_frames(path):
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("L")).copy())
        return out


def test_multi_frame_tiff_is_predicted_and_fixed_frame_by_frame(trainer_cli, tiny_models, tmp_path, text_page):
    up = [np.asarray(text_page(60, 80, seed=s)).copy() for s in range(3)]
    frames = [Image.fromarray(cw(up[0], 0)), Image.fromarray(cw(up[1], 90)), Image.fromarray(cw(up[2], 180))]
    src = tmp_path / "in" / "scan.tif"
    src.parent.mkdir()
    frames[0].save(src, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    original = src.read_bytes()
    r = trainer_cli("predict", tiny_models["exact"], src, *DEV, "--json", "--fix", tmp_path / "out")
    assert r.exit_code == 0, cli_explain(r)
    pages = jsonl(r.stdout)
    assert [p["page"] for p in pages] == [1, 2, 3]  # every frame, as PDF pages are
    got = _tiff_frames(tmp_path / "out" / "scan.tif")
    assert len(got) == 3  # no frame dropped
    for p, g, f in zip(pages, got, frames):
        assert np.array_equal(g, np.rot90(np.asarray(f), k=p["angle"] // 90))
    assert src.read_bytes() == original  # the input is untouched


def test_in_place_rewrites_atomically_and_keeps_every_frame(tmp_path, text_page):
    from datagen.pages import expand
    from trainer.predict import PagePrediction, fix_files, plan_fix

    up = [np.asarray(text_page(50, 70, seed=s)).copy() for s in range(2)]
    src = tmp_path / "scan.tif"
    Image.fromarray(cw(up[0], 90)).save(src, save_all=True, append_images=[Image.fromarray(up[1])])
    still = tmp_path / "upright.png"
    Image.fromarray(up[0]).save(still)
    still_bytes = still.read_bytes()
    sel = expand([src, still])
    plan = plan_fix(sel, None, in_place=True)
    preds = [PagePrediction(str(src), 1, 90, 0.9), PagePrediction(str(src), 2, 0, 0.9),
             PagePrediction(str(still), None, 0, 0.9)]
    written, review = fix_files(preds, plan)
    assert written == [src] and review == []
    got = _tiff_frames(src)
    assert len(got) == 2 and np.array_equal(got[0], up[0]) and np.array_equal(got[1], up[1])
    assert still.read_bytes() == still_bytes  # nothing to turn: not rewritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.tif", "upright.png"]  # no temporary file left


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    from datagen.pages import read_image

    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0..65535
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    Image.fromarray(ramp).save(tmp_path / "g16.tif")
    for f in ("g16.png", "g16.tif"):
        got = np.asarray(read_image(str(tmp_path / f)))
        assert got.dtype == np.uint8 and np.array_equal(got, np.arange(256).reshape(16, 16)), f


def test_image_over_the_pixel_cap_is_refused_before_decoding(trainer_cli, tiny_models, tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (3000, 2000), 255).save(big)  # 6 M pixels, a few KB on disk
    r = trainer_cli("predict", tiny_models["exact"], big, *DEV, "--max-pixels", "1000000")
    assert r.exit_code == 1 and "exceeds the pixel cap of 1,000,000" in r.stdout


def test_file_names_cannot_forge_lines_in_the_table(trainer_cli, tiny_models, tmp_path, text_page):
    evil = tmp_path / "a\tb\nfake\t0\t1.0.png"
    text_page(60, 80, seed=2).save(evil)
    r = trainer_cli("predict", tiny_models["exact"], evil, *DEV)
    assert r.exit_code == 0, cli_explain(r)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].count("\t") == 8  # the header and one row of 9 fields
    assert lines[1].startswith(str(tmp_path) + "/a\\tb\\nfake")


def test_unwritable_fix_folder_is_one_line(trainer_cli, tiny_models, inputs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = trainer_cli("predict", tiny_models["exact"], inputs[0], *DEV, "--fix", blocker / "out")
    assert r.exit_code == 1 and "Traceback" not in r.output and "Error:" in r.output


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
    from datagen.pages import expand
    from trainer.predict import plan_fix

    plan = plan_fix(expand([tmp_path / f"r{a}.png" for a in ANGLES] + [rgb]), tmp_path / "out")
    plan.targets[str(tmp_path / "err.png")] = tmp_path / "out" / "err.png"
    written, review = fix_files(preds, plan)
    assert [w.name for w in written] == ["r0.png", "r90.png", "r180.png", "r270.png", "rgb90.png"]
    assert [p.file for p in review] == [str(tmp_path / "err.png")]
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
    from datagen.pages import expand
    from trainer.predict import plan_fix

    written, _ = fix_files(preds, plan_fix(expand([rotated]), tmp_path / "out"))
    assert written == [tmp_path / "out" / "rot.pdf"]
    out = pdfium.PdfDocument(str(written[0]))
    try:
        assert len(out) == 3
        assert [out[i].get_rotation() for i in range(3)] == [(90 - 90) % 360, (270 - 90) % 360, 0]
    finally:
        out.close()
    assert np.array_equal(render(written[0], 0), upright)  # page 1 is upright again, content untouched


# --------------------------------------------------------------------------- document voting
def _doc(file, probs_per_page):
    from trainer.predict import PagePrediction

    out = []
    for i, pr in enumerate(probs_per_page, start=1):
        c = int(np.argmax(pr))
        out.append(PagePrediction(file, i, ANGLES[c], max(pr), {str(a): v for a, v in zip(ANGLES, pr)}, False))
    return out


def test_a_weak_wrong_page_follows_its_document():
    from trainer.predict import vote_documents

    sure_up = [0.97, 0.01, 0.01, 0.01]
    weak_flip = [0.35, 0.05, 0.55, 0.05]  # leans to 180, not by much
    preds = _doc("report.pdf", [sure_up, sure_up, weak_flip, sure_up])
    assert preds[2].angle == 180
    voted = vote_documents(preds)
    assert [p.angle for p in voted] == [0, 0, 0, 0]
    assert voted[0].confidence >= 0.97  # the sure pages stay sure


def test_a_genuinely_turned_page_keeps_its_own_answer():
    from trainer.predict import vote_documents

    sure_up = [0.95, 0.02, 0.02, 0.01]
    landscape_table = [0.004, 0.99, 0.003, 0.003]  # a table printed sideways, seen clearly
    preds = _doc("report.pdf", [sure_up, sure_up, landscape_table, sure_up, sure_up])
    voted = vote_documents(preds)
    assert [p.angle for p in voted] == [0, 0, 90, 0, 0]
    # single images and other files are left alone
    single = _doc("scan.png", [[0.3, 0.3, 0.2, 0.2]])
    single[0].page = None
    assert vote_documents(single)[0].angle == single[0].angle


def test_per_document_flag_runs_end_to_end(trainer_cli, tiny_models, inputs):
    r = trainer_cli("predict", tiny_models["exact"], *inputs, *DEV, "--json", "--per-document")
    assert r.exit_code == 0, cli_explain(r)
    pages = jsonl(r.stdout)
    assert [p["page"] for p in pages] == [None, None, 1, 2]
    assert all(abs(sum(p["probs"].values()) - 1) < 1e-3 for p in pages)
