"""Rotation strategies: label convention, losslessness, artifact masks, skew, artifact_only."""
from __future__ import annotations

import pytest
import torch

from datagen.preprocess import background_level
from datagen.strategies import ANGLES, REGISTRY, canvas_shape, cardinal_k, draw_skews, get_strategy

KORNIA = [n for n in REGISTRY if n.startswith("kornia-")]
# where the top-left block of an upright page lands after a CLOCKWISE turn by the label
CORNER = {0: "top-left", 90: "top-right", 180: "bottom-right", 270: "bottom-left"}


def dark_corner(img: torch.Tensor) -> str:
    """Which corner of a (H, W) image holds the dark pixels (all of them)."""
    dark = (img < 0.5).nonzero()
    assert len(dark) > 0, "no dark pixels left"
    h, w = img.shape
    rows, cols = dark[:, 0], dark[:, 1]
    vert = "top" if rows.max() < h / 2 else "bottom" if rows.min() >= h / 2 else "mixed"
    horiz = "left" if cols.max() < w / 2 else "right" if cols.min() >= w / 2 else "mixed"
    return f"{vert}-{horiz}"


def test_registry_has_the_five_strategies():
    assert set(REGISTRY) == {"kornia-zeros", "kornia-border", "kornia-reflect", "kornia-fill", "exact"}
    with pytest.raises(ValueError) as e:
        get_strategy("pil-rotate")
    for name in REGISTRY:
        assert name in str(e.value)


@pytest.mark.parametrize("angle", ANGLES)
def test_label_convention_exact_on_asymmetric_page(asym_page, angle):
    page = asym_page(8, 6, block=2)  # non-square: exact swaps the canvas for 90/270
    img, mask = get_strategy("exact")(page, [angle])
    assert dark_corner(img[0, 0]) == CORNER[angle]
    assert tuple(img.shape[-2:]) == ((8, 6) if angle % 180 == 0 else (6, 8))
    assert not mask.any()


@pytest.mark.parametrize("name", KORNIA)
@pytest.mark.parametrize("angle", ANGLES)
def test_label_convention_kornia_on_square_page(asym_page, name, angle):
    page = asym_page(8, 8, block=3)
    img, mask = get_strategy(name)(page, [angle])
    assert tuple(img.shape) == (1, 1, 8, 8)
    assert dark_corner(img[0, 0]) == CORNER[angle]
    # a square page turned by a multiple of 90 degrees keeps all its pixels: nothing synthesised,
    # and the turn equals the lossless one up to bilinear rounding
    assert not mask.any()
    torch.testing.assert_close(img, torch.rot90(page, k=cardinal_k(angle), dims=(-2, -1)), atol=1e-4, rtol=0)


@pytest.mark.parametrize("angle", ANGLES)
def test_cardinal_k_matches_torch_rot90_and_exact(asym_page, angle):
    page = asym_page(5, 7, block=2)
    k = cardinal_k(angle)
    assert k == {0: 0, 90: 3, 180: 2, 270: 1}[angle]
    turned = torch.rot90(page, k=k, dims=(-2, -1))
    assert dark_corner(turned[0, 0]) == CORNER[angle]
    # -k fixes a page labelled ``angle``
    assert torch.equal(torch.rot90(turned, k=-k, dims=(-2, -1)), page)
    assert torch.equal(get_strategy("exact")(page, [angle])[0], turned)


def test_cardinal_k_rejects_other_angles():
    with pytest.raises(ValueError, match="0, 90, 180, 270"):
        cardinal_k(45)


@pytest.mark.parametrize("angle", ANGLES)
def test_exact_without_skew_is_lossless_and_mask_free(angle):
    g = torch.Generator().manual_seed(angle)
    pages = torch.rand(3, 1, 11, 7, generator=g)
    img, mask = get_strategy("exact")(pages, [angle] * 3, [0.0] * 3)
    expect = torch.rot90(pages, k=-angle // 90, dims=(-2, -1))
    assert img.dtype == pages.dtype
    assert torch.equal(img, expect)  # bit-exact
    assert mask.dtype == torch.bool and tuple(mask.shape) == tuple(expect.shape)
    assert not mask.any()


def test_exact_refuses_mixed_canvas_shapes():
    with pytest.raises(ValueError, match="canvas"):
        get_strategy("exact")(torch.ones(2, 1, 6, 4), [0, 90])


@pytest.mark.parametrize("angle", [90, 270])
def test_kornia_zeros_bands_on_portrait_page_are_where_the_mask_says(angle):
    h, w = 60, 40
    band = (h - w) // 2  # a 40-wide page turned upright covers 40 of the 60 rows
    strategy = get_strategy("kornia-zeros")
    white = torch.ones(1, 1, h, w)
    img, mask = strategy(white, [angle])
    m = mask[0, 0]
    assert tuple(img.shape) == (1, 1, h, w)  # canvas kept
    # band geometry: whole rows at top and bottom, nothing else
    expect = torch.zeros(h, w, dtype=torch.bool)
    expect[:band] = True
    expect[h - band:] = True
    assert torch.equal(m, expect)
    # on an all-white (all-ones) page: masked pixels are black, unmasked ones stay paper
    assert img[0, 0][m].abs().max() < 1e-5
    assert (img[0, 0][~m] - 1).abs().max() < 1e-5

    # with ink marks the unmasked region is exactly the turned page content (cropped)
    page = torch.ones(1, 1, h, w)
    page[0, 0, 20, 5:9] = 0.0
    page[0, 0, 35:40, 30] = 0.0
    page[0, 0, 2, 2] = 0.0  # top-left corner: cropped away by the 90/270 turn
    img, mask2 = strategy(page, [angle])
    assert torch.equal(mask2, mask)
    lossless = torch.rot90(page, k=cardinal_k(angle), dims=(-2, -1))[0, 0]  # (40, 60)
    visible = lossless[:, band:band + w]  # the middle 40 of its 60 columns
    torch.testing.assert_close(img[0, 0, band:h - band], visible, atol=1e-4, rtol=0)
    assert img[0, 0][m].abs().max() < 1e-5


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_mask_empty_for_zero_turn_without_skew(name):
    g = torch.Generator().manual_seed(1)
    pages = torch.rand(2, 1, 30, 20, generator=g)
    img, mask = get_strategy(name)(pages, [0, 0], [0.0, 0.0])
    assert tuple(mask.shape) == (2, 1, 30, 20)
    assert not mask.any()
    torch.testing.assert_close(img, pages, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("angle", ANGLES)
def test_skew_gives_every_class_a_mask(name, angle, text_page):
    import numpy as np

    page = torch.from_numpy(np.asarray(text_page(32, 32, seed=3), dtype=np.float32) / 255)[None, None]  # (1, 1, 32, 32)
    pages = page.expand(2, 1, 32, 32).contiguous()
    img, mask = get_strategy(name)(pages, [angle, angle], [4.0, -2.5])
    assert mask.shape == img.shape
    per_image = mask.flatten(1).sum(1)
    assert (per_image > 0).all(), f"{name} {angle}: skew left no synthesised pixel"
    # the wedges of a small tilt are a small share of a square canvas, at its border
    assert (per_image < 0.25 * 32 * 32).all()
    assert not mask[:, :, 10:22, 10:22].any()


def test_draw_skews_independent_of_order_and_batching():
    keys = [f"doc{i}-p{j}-r{a}" for i in range(3) for j in (1, 2) for a in ANGLES]
    sk = draw_skews(keys, seed=7, max_deg=3.0)
    assert len(sk) == len(keys)
    assert all(-3.0 <= s <= 3.0 for s in sk)
    assert len(set(sk)) == len(sk)  # one draw per key, not one per batch
    by_key = dict(zip(keys, sk))
    assert draw_skews(keys[::-1], 7, 3.0) == sk[::-1]
    for chunk in (keys[:5], keys[5:9], keys[9:]):
        assert draw_skews(chunk, 7, 3.0) == [by_key[k] for k in chunk]
    assert draw_skews(keys, 8, 3.0) != sk  # the seed matters
    assert draw_skews(keys, 7, 0.0) == [0.0] * len(keys)
    # every class gets tilted, both ways, over a few keys
    many = draw_skews([f"d-p{j}-r{a}" for j in range(40) for a in ANGLES], 0, 2.0)
    assert min(many) < -1.0 and max(many) > 1.0


@pytest.mark.parametrize("name", list(REGISTRY))
@pytest.mark.parametrize("angle,skew", [(0, 0.0), (0, 3.0), (90, 0.0), (90, -4.0), (180, 2.0), (270, 0.0)])
def test_artifact_only_same_mask_untouched_content(name, angle, skew):
    g = torch.Generator().manual_seed(angle + int(10 * skew))
    h, w = (36, 36) if name == "exact" else (40, 28)  # exact's turn swaps a non-square canvas
    pages = torch.rand(2, 1, h, w, generator=g) * 0.2 + 0.7  # gray paper, level ~0.8
    pages[:, :, 5:9, 4:20] = 0.05  # some ink
    strategy = get_strategy(name)
    art, art_mask = strategy.artifact_only(pages, [angle] * 2, [skew] * 2)
    _, mask = strategy(pages, [angle] * 2, [skew] * 2)
    assert torch.equal(art_mask, mask)
    assert torch.equal(art[~art_mask], pages[~art_mask])  # content is NOT turned
    if name == "exact" or (angle in (0, 180) and skew == 0):
        assert art_mask.any() == (skew != 0)
    if name == "kornia-zeros":
        assert torch.equal(art[art_mask], torch.zeros_like(art[art_mask]))
    if name in ("kornia-fill", "exact"):
        bg = background_level(pages).view(-1, 1, 1, 1).expand_as(pages)
        assert torch.equal(art[art_mask], bg[art_mask])


def test_artifact_only_kornia_fill_pads_with_the_page_background():
    pages = torch.full((1, 1, 40, 24), 0.8)
    pages[:, :, 10:12, 3:20] = 0.0
    art, mask = get_strategy("kornia-fill").artifact_only(pages, [90], [0.0])
    assert mask.sum() == 2 * 8 * 24  # bands of (40 - 24) / 2 rows, top and bottom
    torch.testing.assert_close(art[mask], torch.full_like(art[mask], 0.8))
    turned, _ = get_strategy("kornia-fill")(pages, [90], [0.0])
    torch.testing.assert_close(turned[mask], torch.full_like(art[mask], 0.8), atol=1e-5, rtol=0)


def test_canvas_shape():
    assert canvas_shape(60, 40, 90, "kornia-zeros") == (60, 40)
    assert canvas_shape(60, 40, 90, "exact") == (40, 60)
    assert canvas_shape(60, 40, 180, "exact") == (60, 40)


def test_bad_inputs_are_refused_with_the_expectation():
    s = get_strategy("kornia-zeros")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        s(torch.ones(1, 3, 8, 8), [0])
    with pytest.raises(ValueError, match="angles must be among"):
        s(torch.ones(1, 1, 8, 8), [45])
    with pytest.raises(ValueError, match="expected 2 values"):
        s(torch.ones(2, 1, 8, 8), [0, 90, 180])
