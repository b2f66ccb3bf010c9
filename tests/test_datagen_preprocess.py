"""The one model-input function: fit inside size x size, aspect kept, pad with the page's background."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from datagen.preprocess import (background_level, fit_page, fit_shape, ink_fraction, letterbox, pil_to_tensor,
                                tensor_to_uint8, to_model_input)


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


def test_to_model_input_shape_and_gray_letterbox(text_page):
    # a portrait page on gray paper (level 200/255) with black ink
    img = text_page(120, 180, seed=2, paper=200, ink=0)
    page = pil_to_tensor(img)  # (1, 1, 180, 120)
    assert tuple(page.shape) == (1, 1, 180, 120)
    out = to_model_input(page, 48)
    assert tuple(out.shape) == (1, 1, 48, 48)
    assert out.dtype == torch.float32
    nh, nw = fit_shape(180, 120, 48)
    assert (nh, nw) == (48, 32)
    left = (48 - nw) // 2
    gray = 200 / 255
    pad = torch.cat([out[0, 0, :, :left].flatten(), out[0, 0, :, left + nw:].flatten()])
    assert pad.numel() == 48 * 16
    # the pad is the page's own paper level: not white, not black
    torch.testing.assert_close(pad, torch.full_like(pad, gray), atol=1e-6, rtol=0)
    assert float(background_level(page)) == pytest.approx(gray, abs=1e-6)
    # the page itself is there, with its ink
    assert out[0, 0, :, left:left + nw].min() < 0.3


def test_to_model_input_batch_and_explicit_background():
    pages = torch.ones(2, 1, 110, 85)
    pages[0] *= 0.9
    out = to_model_input(pages, 32)
    assert tuple(out.shape) == (2, 1, 32, 32)
    # model inputs are 8-bit, as shards store them: 0.9 is the level 230/255
    torch.testing.assert_close(out[0, 0, :, 0], torch.full((32,), 230 / 255), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1, 0, :, 0], torch.ones(32), atol=1e-6, rtol=0)
    out = to_model_input(pages, 32, background=torch.tensor([0.25, 0.5]))
    assert float(out[0, 0, 0, 0]) == pytest.approx(64 / 255) and float(out[1, 0, 0, 0]) == pytest.approx(128 / 255)


def test_to_model_input_landscape_pads_top_and_bottom():
    page = torch.full((1, 1, 40, 80), 0.6)
    out = to_model_input(page, 32)
    assert fit_shape(40, 80, 32) == (16, 32)
    torch.testing.assert_close(out[0, 0, :8], torch.full((8, 32), 0.6), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[0, 0, 24:], torch.full((8, 32), 0.6), atol=1e-6, rtol=0)


def test_to_model_input_refuses_color():
    with pytest.raises(ValueError, match="grayscale"):
        to_model_input(torch.ones(1, 3, 10, 10), 32)


def test_letterbox_refuses_too_large():
    with pytest.raises(ValueError, match="fit_page"):
        letterbox(torch.ones(1, 1, 40, 10), 32, 1.0)


def test_fit_page_keeps_thin_strokes():
    page = torch.ones(1, 1, 400, 300)
    page[..., 200, :] = 0.0  # a one-pixel rule
    out = fit_page(page, 40)
    assert tuple(out.shape) == (1, 1, 40, 30)
    assert out.min() < 0.95  # area-averaged: the rule survives as gray


def test_pil_to_tensor_composites_transparency_on_white():
    from PIL import Image

    rgba = Image.new("RGBA", (4, 3), (0, 0, 0, 0))  # fully transparent black
    t = pil_to_tensor(rgba)
    assert tuple(t.shape) == (1, 1, 3, 4)
    assert torch.equal(t, torch.ones_like(t))


def test_tensor_to_uint8_rounds_half_up_and_clamps():
    t = torch.tensor([0.0, 0.5 / 255, 1.0, 1.5, -0.2, 127.5 / 255]).view(1, 1, 1, 6)
    assert tensor_to_uint8(t).tolist() == [[[0, 1, 255, 255, 0, 128]]]


def test_ink_fraction():
    page = np.full((100, 100), 255, np.uint8)
    assert ink_fraction(page) == 0.0
    page[:10, :10] = 0
    assert ink_fraction(page) == pytest.approx(0.01)
