"""The fine skew (:mod:`trainer.skew`) and ``--deskew`` copies (:mod:`trainer.upright`): the
estimate on pages of rendered text tilted by known angles, its sign convention, quarter-turned
pages, too little text, deskewed output measured again, the fill (paper, never black), PDF
pages turned with their text kept as text, and ``trainer predict --fix --deskew`` end to end.
Every page is made here."""
from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from trainer.skew import Skew, deskew_image, estimate_skew, paper_colour

WORDS = ("the quick brown fox jumps over a lazy dog while page scans tilt under the lid of an old flatbed "
         "and every line of text keeps its own slope").split()


def text_page(w: int = 620, h: int = 800, paper=255, ink=20, seed: int = 0, size: int = 15,
              mode: str = "L") -> Image.Image:
    """An upright page of rendered text lines (left aligned, ragged right, a heading)."""
    font = ImageFont.load_default(size=size)
    rng = random.Random(seed)
    im = Image.new(mode, (w, h), paper)
    d = ImageDraw.Draw(im)
    d.text((50, 40), "A HEADING AT THE TOP", fill=ink, font=ImageFont.load_default(size=size * 2))
    y = 40 + 3 * size
    while y < h - 50 - size:
        line, limit = [], (w - 100) * (rng.uniform(0.5, 1.0) if rng.random() < 0.25 else 1.0)
        while True:
            word = rng.choice(WORDS)
            if d.textlength(" ".join(line + [word]), font=font) > limit:
                break
            line.append(word)
        d.text((50, y), " ".join(line), fill=ink, font=font)
        y += int(size * 1.7)
    return im


def tilt(im: Image.Image, angle_cw: float, fill=None) -> Image.Image:
    """``im`` turned CLOCKWISE by ``angle_cw`` degrees (PIL's positive angle is counter-clockwise)."""
    fill = paper_colour(im) if fill is None else fill
    return im.rotate(-angle_cw, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def measured(im: Image.Image) -> Skew:
    return estimate_skew(np.asarray(im.convert("L")))


# --------------------------------------------------------------------------- the estimate
@pytest.mark.parametrize("angle", [-10.0, -6.3, -2.0, -0.4, 0.0, 0.7, 2.5, 5.0, 9.6])
def test_known_tilts_are_found_within_a_third_of_a_degree(angle):
    sk = measured(tilt(text_page(seed=int(angle * 10) % 7), angle))
    assert abs(sk.angle - angle) < 0.3, sk
    assert not sk.needs_review and sk.confidence > 0.35, sk


def test_sign_clockwise_is_positive():
    """Pinned on PIL's own convention: ``rotate(-5)`` turns clockwise as displayed (lines run
    down to the right), which is a skew of +5."""
    page = text_page(seed=3)
    down_right = page.rotate(-5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    assert measured(down_right).angle == pytest.approx(5.0, abs=0.3)
    assert measured(page.rotate(5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)).angle \
        == pytest.approx(-5.0, abs=0.3)


@pytest.mark.parametrize("quarter", [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270])
def test_a_quarter_turned_page_shows_its_tilt_modulo_90(quarter):
    """A quarter turn keeps a clockwise tilt clockwise: the page's whole turn is angle + skew."""
    sk = measured(tilt(text_page(seed=4), 3.0).transpose(quarter))
    assert abs(sk.angle - 3.0) < 0.3, sk


def test_large_tilts_wrap_into_the_half_open_range():
    assert abs(measured(tilt(text_page(seed=5), 30.0)).angle - 30.0) < 0.3
    assert abs(measured(tilt(text_page(seed=5), -40.0)).angle + 40.0) < 0.3
    sk = measured(tilt(text_page(seed=5), 50.0))  # 50 = 90 - 40: lines now read as -40 of the other axis
    assert abs(sk.angle + 40.0) < 0.3 and -45.0 <= sk.angle < 45.0


def test_colour_arrays_pil_images_and_grey_paper_are_read_alike():
    page = tilt(text_page(seed=6, paper=(236, 228, 208), ink=(30, 30, 60), mode="RGB"), -3.0)
    for x in (page, np.asarray(page), np.asarray(page.convert("L"))):
        assert abs(estimate_skew(x).angle + 3.0) < 0.3


def test_too_little_text_needs_review_and_never_raises():
    blank = np.full((600, 450), 250, np.uint8)
    assert estimate_skew(blank) == Skew(0.0, 0.0, True, "too little text to tell")
    dots = Image.new("L", (600, 450), 255)
    ImageDraw.Draw(dots).text((200, 200), "ok", fill=0, font=ImageFont.load_default(size=14))
    assert estimate_skew(np.asarray(dots)).needs_review
    with pytest.raises(ValueError, match="2-D grayscale"):
        estimate_skew(np.zeros((4, 4, 4, 4), np.uint8))


def test_estimate_is_deterministic_and_fast_enough():
    import time

    a = np.asarray(tilt(text_page(seed=7), 1.3))
    first = estimate_skew(a)
    t0 = time.process_time()
    again = [estimate_skew(a) for _ in range(3)]
    cpu = (time.process_time() - t0) / 3
    assert all(s == first for s in again)
    assert cpu < 0.1, f"{cpu * 1000:.1f} ms of CPU per page"  # about 6 ms on a 2-core CPU; a wide margin


# --------------------------------------------------------------------------- deskewed copies
def test_deskew_output_measures_under_a_fifth_of_a_degree():
    for angle in (-7.5, 2.2, 4.0):
        out = deskew_image(tilt(text_page(seed=8), angle), angle)
        assert abs(measured(out).angle) <= 0.2, angle


def test_deskew_turns_counter_clockwise_and_keeps_the_whole_page():
    page = text_page(seed=9)
    out = deskew_image(page, 5.0)
    assert out.width > page.width and out.height > page.height  # the canvas grew: nothing cropped
    ref = page.rotate(5.0, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    assert np.abs(np.asarray(out, np.int16) - np.asarray(ref, np.int16)).mean() < 1.0
    assert deskew_image(page, 0.0).tobytes() == page.tobytes()
    with pytest.raises(ValueError, match="finite"):
        deskew_image(page, float("nan"))


def _corners(im: Image.Image, k: int = 3) -> np.ndarray:
    a = np.asarray(im)
    return np.concatenate([a[:k, :k].reshape(-1, *a.shape[2:]), a[:k, -k:].reshape(-1, *a.shape[2:]),
                           a[-k:, :k].reshape(-1, *a.shape[2:]), a[-k:, -k:].reshape(-1, *a.shape[2:])])


def test_fill_is_the_pages_own_paper_colour():
    cream = (236, 228, 208)
    page = text_page(seed=10, paper=cream, ink=(20, 20, 40), mode="RGB")
    out = deskew_image(tilt(page, 4.0, fill=cream), 4.0)
    assert np.abs(_corners(out).astype(int) - cream).max() <= 2
    grey = deskew_image(text_page(seed=10, paper=200), -3.0)
    assert np.abs(_corners(grey).astype(int) - 200).max() <= 1


def test_fill_is_never_black_even_where_the_scan_border_is():
    page = np.asarray(text_page(seed=11, paper=242)).copy()
    page[:, :25] = 0  # a scanner's black bed along the left edge
    page[-30:, :] = 8
    out = deskew_image(Image.fromarray(page), 3.0)
    c = _corners(out)
    assert c.min() >= 230, c.min()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK"])
def test_every_mode_deskews_with_a_paper_fill(mode):
    page = tilt(text_page(w=300, h=360, seed=12, size=12), 3.0, fill=255).convert(mode)
    out = deskew_image(page, 3.0)
    expect = {"P": "RGB"}.get(mode, mode)
    assert out.mode == expect
    light = np.asarray(out.convert("RGB").convert("L"))
    assert light[:2, :2].min() >= 240 and light[-2:, -2:].min() >= 240, mode
    assert abs(measured(out.convert("RGB")).angle) <= 0.3, mode


def test_paper_colour_of_modes():
    assert paper_colour(Image.new("L", (40, 30), 233)) == 233
    assert paper_colour(Image.new("RGB", (40, 30), (250, 240, 220))) == (250, 240, 220)
    assert paper_colour(Image.new("CMYK", (40, 30), (0, 5, 20, 0))) == (0, 5, 20, 0)
    assert paper_colour(Image.new("1", (40, 30), 1)) == 255


# --------------------------------------------------------------------------- --fix --deskew: writers
def test_image_writer_turns_by_the_quarter_and_the_fine_angle(tmp_path):
    from trainer.upright import image_writer

    shown = tilt(text_page(seed=13), 2.5).transpose(Image.Transpose.ROTATE_270)  # 90 clockwise, then tilted
    src = tmp_path / "scan.png"
    shown.save(src, dpi=(150, 100))
    write = image_writer(src, {0: 90}, {0: None})
    assert write.changed
    write(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["dpi"] == pytest.approx((100, 150), abs=0.05)  # the quarter turn swapped them
        assert abs(measured(im).angle) <= 0.2
        a = np.asarray(im.convert("L"))
    assert a.shape[0] > a.shape[1]  # portrait again
    top, bottom = a[: a.shape[0] // 6].mean(), a[-a.shape[0] // 6:].mean()
    assert top < bottom  # the heading (more ink) is at the top: upright, not upside down


def test_image_writer_uses_a_given_skew_and_leaves_uncertain_ones(tmp_path):
    from trainer.upright import image_writer

    src = tmp_path / "p.png"
    tilt(text_page(seed=14), 3.0).save(src)
    w = image_writer(src, {0: 0}, {0: (3.0, 0.9)})
    w(tmp_path / "a.png")
    assert w.changed and abs(measured(Image.open(tmp_path / "a.png")).angle) <= 0.2
    assert not image_writer(src, {0: 0}, {0: (3.0, 0.05)}).changed  # a skew that needs review: left alone
    assert not image_writer(src, {0: 0}, {0: (0.04, 0.9)}).changed  # below what is worth resampling


def _tilted_vector_pdf(path, angle_cw: float, rotate: int = 0) -> None:
    """A one-page PDF whose text lines (vector bars and one real text line) are tilted clockwise
    by ``angle_cw`` as displayed, with ``/Rotate`` ``rotate``."""
    from conftest import _vector_page_stream, pdf_bytes

    import math

    t = math.radians(-angle_cw)  # PDF user space is y up: clockwise is a negative angle
    c, s = math.cos(t), math.sin(t)
    cx, cy = 144.0, 180.0
    cm = b"%.6f %.6f %.6f %.6f %.4f %.4f cm" % (c, s, -s, c, cx - c * cx + s * cy, cy - s * cx - c * cy)
    data = b"q " + cm + b"\n" + _vector_page_stream(288, 360, 1) + b"\nBT /F1 9 Tf 30 20 Td (Deskewed text) Tj ET\nQ"
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 360] /Rotate %d /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>" % rotate,
            b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    path.write_bytes(pdf_bytes(objs))


def _pdf_page(path, i: int = 0):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    page = pdf[i]
    img = page.render(scale=150 / 72, grayscale=True).to_pil()
    text = page.get_textpage().get_text_range()
    rot = page.get_rotation()
    return img, text, rot


@pytest.mark.parametrize("rotate", [0, 90])
def test_pdf_pages_are_deskewed_by_a_content_transform_text_kept(tmp_path, rotate):
    from trainer.upright import pdf_writer

    src = tmp_path / "tilted.pdf"
    _tilted_vector_pdf(src, 3.0, rotate)
    before, _, _ = _pdf_page(src)
    assert abs(measured(before).angle - 3.0) < 0.3  # as displayed, /Rotate applied
    write = pdf_writer(src, {0: rotate}, {0: None})
    assert write.changed
    write(tmp_path / "out.pdf")
    img, text, rot = _pdf_page(tmp_path / "out.pdf")
    assert rot == 0 and "Deskewed text" in text  # the quarter turn as /Rotate; text is still text
    assert abs(measured(img).angle) <= 0.35  # estimated at 1024 px, measured here at 150 dpi: bars, not text
    assert img.height > img.width  # portrait: upright


# --------------------------------------------------------------------------- end to end
def _load(model):
    from trainer.cli import _load

    return lambda: _load(model, "cpu", "auto", False)


def test_predict_fix_deskew_end_to_end(tmp_path, tiny_models):
    from trainer.predict_run import Job, run

    (tmp_path / "in").mkdir()
    tilt(text_page(seed=15), -4.0).save(tmp_path / "in" / "a.png")
    tilt(text_page(seed=16), 0.0).save(tmp_path / "in" / "flat.png")
    out = tmp_path / "out"
    logs = []
    status = run(Job([str(tmp_path / "in")], fix_dir=out, deskew=True, workers=1), _load(tiny_models["exact"]),
                 log=logs.append)
    assert status == 0, logs
    with Image.open(out / "a.png") as im:
        assert abs(measured(im).angle) <= 0.2
    assert abs(measured(Image.open(out / "flat.png")).angle) <= 0.2
    assert abs(measured(Image.open(tmp_path / "in" / "a.png")).angle + 4.0) < 0.3  # the input is untouched
    with pytest.raises(ValueError, match="--deskew applies to --fix"):
        run(Job([str(tmp_path / "in")], deskew=True), _load(tiny_models["exact"]))


def test_predict_cli_fix_deskew(tmp_path, tiny_models, trainer_cli):
    from trainer.cli import predict

    if not any("--deskew" in o.opts for o in predict.params):
        pytest.skip("trainer predict has no --deskew option yet")
    (tmp_path / "in").mkdir()
    tilt(text_page(seed=17), 6.0).save(tmp_path / "in" / "b.png")
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in", "--device", "cpu", "--workers", "1",
                    "--fix", tmp_path / "out", "--deskew")
    assert r.exit_code == 0, r.output
    assert abs(measured(Image.open(tmp_path / "out" / "b.png")).angle) <= 0.2
    r = trainer_cli("predict", tiny_models["exact"], tmp_path / "in", "--device", "cpu", "--deskew")
    assert r.exit_code == 2 and "--deskew" in r.output


# --------------------------------------------------------------------------- long marks are not text
def test_long_marks_are_dropped_and_text_kept():
    from trainer.skew import _drop_long

    ink = np.zeros((200, 300), np.uint8)
    ink[20:24, 10:290] = 1            # a rule most of the width long
    ink[60:70, 40:46] = 1             # two glyph-sized marks
    ink[60:70, 60:66] = 1
    out = _drop_long(ink)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert out[20:24].sum() == 0                         # the rule is gone
    assert out[60:70, 40:46].all() and out[60:70, 60:66].all()  # the glyphs are left
    assert out.sum() == 2 * 60
    plain = ink.copy()
    plain[20:24] = 0
    assert _drop_long(plain) is plain                    # nothing long: the same map back


def test_long_straight_lines_do_not_pull_the_tilt_of_the_text():
    """A short block of text lying 3 degrees crooked on the glass, below eight long straight
    lines at 0 degrees (the ruled edge of the lid, a form's rules): each line is one long mark,
    and together they outweighed the text's few lines (0.0 was the answer before they were
    dropped from the fine map)."""
    page = tilt(text_page(h=200, seed=3), 3.0)
    w, h = page.size
    scan = Image.new("L", (w + 200, h + 400), 235)
    scan.paste(page, (100, 200))
    d = ImageDraw.Draw(scan)
    for i in range(8):
        d.line((0, 20 + 20 * i, w + 199, 20 + 20 * i), fill=30, width=3)
    sk = measured(scan)
    assert abs(sk.angle - 3.0) < 0.3, sk
