"""``--augment`` (trainer/augment.py): label-independent; scan geometry fills with paper; bars land on
every side equally often."""
from __future__ import annotations

import inspect

import pytest
import torch

from datagen.preprocess import prepare, square, to_gray
from trainer.augment import AUGMENTS, BarAugment, ScanAugment, make_augment


def _page(text_page, paper=255, margin=None):
    """A text page as a model input: ``(1, 1, 32, 32)`` float in [0, 1]."""
    fitted, level = prepare(to_gray(text_page(168, 220, seed=1, paper=paper, margin=margin)), 32)
    return torch.from_numpy(square(fitted, 32, level)).float().div_(255.0)[None, None]


def test_forward_takes_images_only():
    params = list(inspect.signature(ScanAugment.forward).parameters)
    assert params == ["self", "x"]
    with pytest.raises(TypeError):
        ScanAugment()(torch.ones(2, 1, 16, 16), torch.tensor([0, 1]))


def test_every_class_gets_the_same_augmentation_distribution(text_page):
    """One batch holding the same page at all four angles (the four classes): once each output is
    turned back, the four classes' mean images agree within sampling noise, and a deliberately
    class-biased augmentation (darkening the top rows only) would not."""
    torch.manual_seed(0)
    page = _page(text_page)
    n = 256
    batch = torch.cat([torch.rot90(page, k=-c, dims=(-2, -1)).expand(n, 1, 32, 32) for c in range(4)])  # (4n, 1, 32, 32)
    aug = ScanAugment()

    def class_means(out):
        return [torch.rot90(out[c * n:(c + 1) * n], k=c, dims=(-2, -1)).mean(0) for c in range(4)]

    out = aug(batch)
    assert (out - batch).abs().amax(dim=(1, 2, 3)).gt(0.05).float().mean() > 0.5  # it does augment
    means = class_means(out)
    spread = max((m - means[0]).abs().max().item() for m in means[1:])
    assert spread < 0.1, spread
    assert (means[0] - page[0]).abs().max() > 3 * spread  # far more than the noise: a real effect

    def biased(x):  # what the rule forbids: an augmentation that is not the same for every orientation
        y = aug(x).clone()
        y[..., :2, :] *= 0.7
        return y

    bmeans = class_means(biased(batch))
    assert max((m - bmeans[0]).abs().max().item() for m in bmeans[1:]) > 0.1


def test_geometric_steps_fill_with_paper_never_zeros():
    torch.manual_seed(0)
    page = torch.full((16, 1, 32, 32), 0.8)
    out = ScanAugment(p_geom=1.0, strength=0.0)(page)
    assert out.shape == page.shape
    border = torch.cat([out[..., 0, :], out[..., -1, :], out[..., :, 0], out[..., :, -1]], dim=-1)
    assert border.min() >= 0.8 - 1e-4 and out.min() >= 0.8 - 1e-4
    # the same geometric step with kornia's default zero fill would leave dark corners
    import kornia.augmentation as K

    zeros = K.RandomAffine(degrees=2.0, translate=(0.02, 0.02), scale=(0.93, 1.05), p=1.0)(page)
    assert zeros.min() < 0.5


def test_geometric_steps_move_the_content_and_fill_its_margin_with_its_paper(text_page):
    torch.manual_seed(1)
    page = _page(text_page, paper=204, margin=40).expand(32, 1, 32, 32)  # paper level 0.8, wide margins
    ring = lambda t: torch.cat([t[..., :2, :].flatten(1), t[..., -2:, :].flatten(1),  # noqa: E731
                                t[..., :, :2].flatten(1), t[..., :, -2:].flatten(1)], 1)
    assert (ring(page) - 0.8).abs().max() < 1e-6
    out = ScanAugment(p_geom=1.0, strength=0.0)(page)
    assert (out - page).abs().amax(dim=(1, 2, 3)).gt(0.1).all()  # every page moved
    # the outer two pixels were paper; after the warp they still are: no black (or any other) fill
    assert (ring(out) - 0.8).abs().max() < 1e-3


def test_output_stays_in_range_and_rejects_bad_shapes(text_page):
    torch.manual_seed(2)
    out = ScanAugment(p_geom=1.0, strength=2.0)(_page(text_page).expand(8, 1, 32, 32))
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        ScanAugment()(torch.ones(2, 3, 8, 8))


def test_make_augment_registry():
    assert AUGMENTS == ("none", "scan", "bars", "scan+bars")
    assert make_augment("none") is None and isinstance(make_augment("scan"), ScanAugment)
    assert isinstance(make_augment("bars"), BarAugment)
    both = make_augment("scan+bars")
    assert [type(m) for m in both] == [BarAugment, ScanAugment]
    with pytest.raises(ValueError, match="none, scan, bars, scan\\+bars"):
        make_augment("rotate")


def test_bars_take_images_only_and_every_class_gets_the_same_bars(text_page):
    """The scan test's rule, for bars: the same page at all four angles, turned back after the
    augmentation, has the same mean image per class within sampling noise."""
    assert list(inspect.signature(BarAugment.forward).parameters) == ["self", "x"]
    torch.manual_seed(0)
    page = _page(text_page)
    n = 512
    batch = torch.cat([torch.rot90(page, k=-c, dims=(-2, -1)).expand(n, 1, 32, 32) for c in range(4)])  # (4n, 1, 32, 32)
    out = BarAugment()(batch)
    means = [torch.rot90(out[c * n:(c + 1) * n], k=c, dims=(-2, -1)).mean(0) for c in range(4)]
    spread = max((m - means[0]).abs().max().item() for m in means[1:])
    assert spread < 0.1, spread
    assert (means[0] - page[0]).abs().max() > 2 * spread  # the bars are a real effect on the mean


def test_bars_are_flat_full_length_bands_on_every_side():
    torch.manual_seed(1)
    x = torch.ones(400, 1, 24, 32)
    out = BarAugment(p=1.0, p_pair=0.0, offset=(0.0, 0.0))(x)
    sides = {"top": 0, "bottom": 0, "left": 0, "right": 0}
    for img in out[:, 0]:
        dark = img < 1
        rows, cols = dark.all(1), dark.all(0)
        assert dark.any()
        assert img[dark].unique().numel() == 1  # one flat grey level
        if rows.any():  # a horizontal band of whole rows, touching the top or the bottom edge
            assert dark.sum() == rows.sum() * 32
            sides["top" if rows[0] else "bottom"] += 1
            assert rows[0] or rows[-1]
        else:
            assert cols.any() and dark.sum() == cols.sum() * 24
            sides["left" if cols[0] else "right"] += 1
            assert cols[0] or cols[-1]
    assert min(sides.values()) > 60, sides  # 100 expected per side


def test_bars_pair_on_opposite_sides_and_reject_bad_input():
    torch.manual_seed(2)
    out = BarAugment(p=1.0, p_pair=1.0, offset=(0.0, 0.0), thickness=(0.1, 0.1))(torch.ones(50, 1, 20, 20))
    for img in out[:, 0]:
        dark = img < 1
        assert (dark[0].all() and dark[-1].all()) or (dark[:, 0].all() and dark[:, -1].all())
    assert BarAugment(p=0.0)(torch.ones(4, 1, 8, 8)).eq(1).all()
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        BarAugment()(torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match="thickness"):
        BarAugment(thickness=(0.5, 0.2))


def _side_means(out: torch.Tensor, depth: int = 3) -> torch.Tensor:
    """Mean level of the outer ``depth`` rows/columns on each side: top, right, bottom, left."""
    return torch.stack([out[..., :depth, :].mean(), out[..., :, -depth:].mean(), out[..., -depth:, :].mean(),
                        out[..., :, :depth].mean()])


def test_scan_cues_favour_no_side():
    """Blank pages carry no orientation, so anything the scan augmentation draws on them is a
    synthetic cue (borders, fold shadows, light gradients, stamps).  Their mean image must be the
    same under every quarter turn, side by side; an augmentation that favours one side (a border
    on top only) fails the same check."""
    torch.manual_seed(0)
    aug = ScanAugment(strength=2.0)
    blank = torch.full((512, 1, 32, 32), 0.9)
    out = torch.cat([aug(blank) for _ in range(6)])  # (3072, 1, 32, 32)
    assert (out - 0.9).abs().amax(dim=(1, 2, 3)).gt(0.1).float().mean() > 0.5  # it does draw cues
    sides = _side_means(out)
    assert (sides.max() - sides.min()) < 0.01, sides
    mean = out.mean(0)[0]
    for k in (1, 2, 3):
        assert (mean - torch.rot90(mean, k)).abs().max() < 0.05, k  # per pixel: sampling noise is ~0.01
    biased = out.clone()
    biased[..., :3, :] *= 0.97  # a top border on 3 % of the level: subtler than any real cue
    sides = _side_means(biased)
    assert (sides.max() - sides.min()) > 0.01


def test_scan_degradations_keep_the_page_readable(text_page):
    """Every degraded page keeps some contrast: a page washed out to nothing would be label noise."""
    torch.manual_seed(3)
    page = _page(text_page).expand(256, 1, 32, 32)
    out = ScanAugment(strength=1.0)(page)
    spread = out.flatten(1).quantile(0.98, dim=1) - out.flatten(1).quantile(0.02, dim=1)
    assert (spread > 0.15).float().mean() > 0.97, spread.min()


def test_scan_steps_each_have_their_own_probability():
    from trainer.augment import SCAN_STEPS

    page = torch.rand(4, 1, 16, 16)
    off = ScanAugment(strength=2.0, p_geom=0.0, p={name: 0.0 for name in SCAN_STEPS})
    assert torch.equal(off(page.clone()), page.clamp(0, 1))   # every step off: nothing but the final clamp
    torch.manual_seed(0)
    only_jpeg = ScanAugment(strength=1.0, p_geom=0.0, p={name: 0.0 for name in SCAN_STEPS if name != "jpeg"} | {"jpeg": 1.0})
    out = only_jpeg(page.clone())
    assert not torch.equal(out, page) and (out - page).abs().max() < 0.5   # a JPEG round trip on every page
    with pytest.raises(ValueError, match="unknown step"):
        ScanAugment(p={"sepia": 0.5})
