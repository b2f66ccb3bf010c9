"""Glyph-scale windows: the text scale follows the resolution, windows sit on ink, pages without
text say so, and the training windows carry no label (the turn is drawn by the trainer)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import pdf_bytes
from datagen import glyphs
from datagen.render import render_page

LINES = [b"The quick brown fox jumps over the lazy dog; page orientation, glyphs,",
         b"ascenders and descenders: bdfhklt against gjpqy, CAPITALS, 0123456789.",
         b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod."]


def text_pdf(path, lines: int = 40, size: float = 10.0):
    """A one-page A5 PDF of real text in Helvetica (a base-14 font, drawn by pdfium)."""
    ops = [b"BT /F1 %g Tf %g TL 36 560 Td" % (size, size * 1.3)]
    for i in range(lines):
        ops.append(b"(%s) '" % LINES[i % len(LINES)])
    ops.append(b"ET")
    data = b"\n".join(ops)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    path.write_bytes(pdf_bytes(objs))
    return path


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    pdf = text_pdf(tmp_path_factory.mktemp("glyphs") / "text.pdf")
    return {dpi: render_page(str(pdf), 0, dpi, "pdfium") for dpi in (75, 150, 300, 600)}


def test_text_scale_follows_the_dpi(renders):
    s = {dpi: glyphs.text_scale(g).size for dpi, g in renders.items()}
    assert all(v is not None for v in s.values()), s
    for dpi in (75, 150, 600):  # against 300 dpi; at 75 dpi (x-height ~5 px) glyphs touch, so 30 %
        assert s[dpi] / s[300] == pytest.approx(dpi / 300, rel=0.3 if dpi == 75 else 0.15), s
    assert s[75] < s[150] < s[300] < s[600]
    # 10 pt Helvetica: x-height about 5.2 pt, i.e. 0.72 px per dpi/10
    assert s[300] == pytest.approx(0.0723 * 300, rel=0.25)


def test_windows_are_cut_at_the_target_scale_whatever_the_dpi(renders):
    for dpi, gray in renders.items():
        w = glyphs.page_windows(gray, 16)
        assert len(w.windows) == 16 and w.windows.shape[1:] == (glyphs.WIN, glyphs.WIN)
        assert w.factor == pytest.approx(glyphs.TARGET / w.scale.size)
        if dpi == 75:  # enlarged, blurred glyphs touch: measured again, the scale reads high
            continue
        again = glyphs.text_scale(glyphs.resample(gray, w.factor)).size
        assert again == pytest.approx(glyphs.TARGET, rel=0.25), (dpi, again)


def test_windows_sit_on_ink_and_spread_over_the_page(renders):
    gray = renders[150]
    w = glyphs.page_windows(gray, 16)
    ink = [(x < 128).mean() for x in w.windows]
    assert min(ink) > 0.02
    rows = w.corners[:, 0]
    assert rows.max() - rows.min() > 0.5 * w.shape[0]  # not all from one line


def test_a_page_without_text_has_no_scale_and_no_windows():
    blank = np.full((800, 600), 240, np.uint8)
    photo = (np.random.default_rng(0).normal(128, 40, (400, 300)).clip(0, 255)).astype(np.uint8)
    big = np.full((800, 600), 250, np.uint8)
    big[100:700, 100:500] = 30  # one solid block is not text
    for page in (blank, photo, big):
        w = glyphs.page_windows(page, 16)
        assert w.scale.size is None and len(w.windows) == 0


def test_ink_is_relative_to_the_local_paper():
    im = Image.new("L", (900, 600), 255)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=18)
    for i in range(20):
        for x in (20, 460):
            d.text((x, 20 + 28 * i), "uneven light over a page, dark", font=font, fill=0)
    g = np.asarray(im).astype(np.float32)
    g = (g * np.linspace(1.0, 0.45, g.shape[1])[None, :]).astype(np.uint8)  # the right side in shadow
    mask = glyphs.ink_mask(g)
    right = mask[:, 600:]
    assert 0.02 < right.mean() < 0.4  # text found in the shadow, the shadow itself not ink
    assert glyphs.text_scale(g).size == pytest.approx(glyphs.text_scale(np.asarray(im)).size, rel=0.25)


def test_select_is_deterministic_and_bounded():
    corners = np.array([[r, c] for r in range(0, 400, 16) for c in range(0, 400, 16)])
    share = np.random.default_rng(0).random(len(corners))
    a = glyphs.select(corners, share, 8)
    assert len(a) == 8 and len(set(a.tolist())) == 8
    assert (a == glyphs.select(corners, share, 8)).all()
    assert len(glyphs.select(corners[:3], share[:3], 8)) == 3
    assert len(glyphs.select(corners[:0], share[:0], 8)) == 0


def test_training_windows_are_upright_and_carry_no_label(tmp_path, renders):
    """Label-blind by construction: the stored windows are the upright page's, with no label
    field; every degradation is drawn before the turn, which the trainer draws per window."""
    import torch

    from datagen.windows import PageTask, WindowConfig, build_windows, load_windows
    from trainer.windowfit import _turned

    folder = tmp_path / "pages"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(renders[300]).save(folder / f"p{i}.png")
    cfg = WindowConfig(per_page=12, workers=1, synth_scale=(0.5, 0.5))
    tasks = [PageTask("image", str(p), 0, p.stem, "train" if i else "val", i) for i, p in
             enumerate(sorted(folder.glob("*.png")))]
    meta = build_windows(tasks, tmp_path / "w", cfg, log=lambda s: None)
    ws = load_windows(tmp_path / "w")
    assert meta["counts"]["train"] == len(ws.train) > 0 and len(ws.val) > 0
    assert "label" not in json.dumps(meta["pages"]) and set(ws.meta) >= {"format", "config", "counts"}
    # the text in stored windows runs horizontally (upright): rows vary more than columns
    x = np.asarray(ws.train, np.float32)
    assert x.mean(2).std(1).mean() > x.mean(1).std(1).mean()
    # the trainer's turn is the label: undoing it gives the stored window back, bit for bit
    batch = torch.from_numpy(np.array(ws.train[:20]))
    turned, y = _turned(batch, np.random.default_rng(0))
    for t, lab, orig in zip(turned, y, batch):
        q = (-int(lab)) % 4  # the counter-clockwise quarter turns applied
        assert torch.equal(torch.rot90(t, -q, dims=(0, 1)), orig)


def test_degradations_never_see_a_label():
    import inspect

    from datagen.windows import degrade

    assert list(inspect.signature(degrade).parameters) == ["gray", "rng", "strength"]
    g = np.full((300, 200), 230, np.uint8)
    g[50:60, 20:180] = 20
    a = degrade(g, np.random.default_rng(3))
    b = degrade(g, np.random.default_rng(3))
    assert a.shape == g.shape and a.dtype == np.uint8 and np.array_equal(a, b)
