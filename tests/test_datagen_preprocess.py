"""The one model-input function: fit inside size x size, aspect kept, pad with the page's background."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from datagen.preprocess import fit_shape, ink_share, letterbox, prepare, square, tensor_to_uint8, to_gray


@pytest.mark.parametrize("h,w,size,expect", [
    (1100, 850, 224, (224, 173)),
    (850, 1100, 224, (173, 224)),
    (100, 100, 32, (32, 32)),
    (10, 5, 64, (64, 32)),  # small pages are scaled UP to the long side
    (1000, 1, 32, (32, 1)),  # never zero
    (60, 40, 48, (48, 32)),
])
def test_fit_shape(h, w, size, expect):
    assert fit_shape(h, w, size) == expect


def test_fit_shape_refuses_empty_sizes():
    with pytest.raises(ValueError, match="positive"):
        fit_shape(0, 10, 32)


def test_model_input_shape_and_gray_letterbox(text_page):
    # a portrait page on gray paper (level 200/255) with black ink, through the one input path
    img = text_page(120, 180, seed=2, paper=200, ink=0)
    fitted, paper = prepare(to_gray(img), 48)
    assert paper == 200 and fitted.shape == fit_shape(180, 120, 48) == (48, 32)
    out = square(fitted, 48, paper)
    assert out.shape == (48, 48) and out.dtype == np.uint8
    left = (48 - 32) // 2
    pad = np.concatenate([out[:, :left].ravel(), out[:, left + 32:].ravel()])
    assert pad.size == 48 * 16 and (pad == 200).all()   # the pad is the page's own paper level
    assert out[:, left:left + 32].min() < 80               # the page itself is there, with its ink


def test_model_input_explicit_paper_and_landscape_pads_top_and_bottom():
    from PIL import Image

    fitted, paper = prepare(Image.new("L", (80, 40), 153), 32)
    assert paper == 153 and fit_shape(40, 80, 32) == (16, 32)
    out = square(fitted, 32, paper)
    assert (out[:8] == 153).all() and (out[24:] == 153).all()
    assert (square(fitted, 32, 64)[:8] == 64).all()


def test_letterbox_refuses_too_large():
    with pytest.raises(ValueError, match="does not fit"):
        letterbox(torch.ones(1, 1, 40, 10), 32, 1.0)


def test_to_gray_composites_transparency_on_white():
    from PIL import Image

    rgba = Image.new("RGBA", (4, 3), (0, 0, 0, 0))  # fully transparent black
    g = np.asarray(to_gray(rgba))
    assert g.shape == (3, 4) and (g == 255).all()


def test_tensor_to_uint8_rounds_half_up_and_clamps():
    t = torch.tensor([0.0, 0.5 / 255, 1.0, 1.5, -0.2, 127.5 / 255]).view(1, 1, 1, 6)
    assert tensor_to_uint8(t).tolist() == [[[0, 1, 255, 255, 0, 128]]]


def test_ink_share():
    page = np.full((100, 100), 255, np.uint8)
    assert ink_share(page) == 0.0
    page[:10, :10] = 0
    assert ink_share(page) == pytest.approx(0.01)
