"""Levelling before the windows are cut: :func:`trainer.skew.coarse_tilt` (the spectrum's tilt of
an ink map), :func:`datagen.glyphs.page_windows` with ``tilt_of`` (a tilted page is turned level
before its windows are cut, an untilted one is left exactly as it was), and the window engine's
prep doing it by default.  Also the fine estimate on a sparse page of a few large text blocks
(which the coarse copy shows as a handful of marks).  Every page is made here."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from datagen.glyphs import LEVEL_MIN, ink_mask, page_windows
from tests.test_skew import text_page, tilt
from trainer.skew import coarse_tilt, estimate_skew
from trainer.windowinfer import WindowPrep


def _gray(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("L"))


@pytest.mark.parametrize("angle", [-9.0, -4.0, 3.0, 8.5])
def test_coarse_tilt_finds_the_tilt_within_a_degree(angle):
    ink = ink_mask(_gray(tilt(text_page(seed=3), angle)))
    assert abs(coarse_tilt(ink) - angle) < 1.0


def test_coarse_tilt_of_a_blank_or_tiny_map_is_zero():
    assert coarse_tilt(np.zeros((300, 200), bool)) == 0.0
    assert coarse_tilt(np.ones((8, 8), bool)) == 0.0
    speck = np.zeros((400, 300), bool)
    speck[100:104, 100:104] = True
    assert coarse_tilt(speck) == 0.0


def test_a_tilted_page_is_levelled_before_its_windows_are_cut():
    page = _gray(tilt(text_page(seed=1), 7.0))
    plain = page_windows(page, 8)
    levelled = page_windows(page, 8, tilt_of=coarse_tilt)
    assert plain.tilt == 0.0
    assert abs(levelled.tilt - 7.0) < 1.0
    assert len(levelled.windows) == 8
    # the windows' own text runs level once turned back: their mosaic measures (almost) no tilt,
    # while the plain windows keep the page's 7 degrees
    mosaic = lambda w: np.vstack([np.hstack(list(w.windows[i:i + 4])) for i in (0, 4)])  # noqa: E731
    assert abs(estimate_skew(mosaic(levelled)).angle) < 2.0
    assert abs(estimate_skew(mosaic(plain)).angle - 7.0) < 2.0


def test_an_untilted_page_is_cut_exactly_as_without_levelling():
    page = _gray(text_page(seed=2))
    a, b = page_windows(page, 8), page_windows(page, 8, tilt_of=coarse_tilt)
    assert b.tilt == 0.0 and np.array_equal(a.windows, b.windows) and np.array_equal(a.corners, b.corners)
    small = page_windows(_gray(tilt(text_page(seed=2), LEVEL_MIN / 6)), 8, tilt_of=coarse_tilt)
    assert small.tilt == 0.0  # under LEVEL_MIN the page is left as it is


def test_the_window_prep_levels_by_default_and_can_be_told_not_to():
    page = _gray(tilt(text_page(seed=4), -6.0))
    on, off = WindowPrep(8, 7.0, 64), WindowPrep(8, 7.0, 64, level=False)
    assert on.level and not off.level
    a, b = on(page)["windows"], off(page)["windows"]
    assert len(a) and len(b) and not np.array_equal(a, b)
    assert np.array_equal(b, page_windows(page, 8, 7.0, 64).windows)


def test_a_sparse_page_of_a_few_large_blocks_gets_a_fine_angle():
    """Four lines of large type: the coarse copy shows them as about four marks."""
    im = Image.new("L", (900, 700), 255)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=44)
    for i, line in enumerate(("ANNUAL REPORT", "of the society", "for the year", "nineteen ten")):
        d.text((80, 120 + 110 * i), line, fill=0, font=font)
    sk = estimate_skew(_gray(tilt(im, 3.0)))
    assert not sk.needs_review, sk
    assert abs(sk.angle - 3.0) < 0.3, sk
