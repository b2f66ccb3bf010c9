"""interpret/metrics.py on hand-made 4x4 tensors: artifact mass, AAR, pointing game, exclusions, CIs."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from interpret.metrics import (area_share, artifact_attention_ratio, artifact_mass, bootstrap_ci, pointing_game,
                               summarise)

# relevance: sum 15; the left column holds 1 + 2 + 3 + 4 = 10, the maximum (5) is at (0, 3)
A1 = torch.tensor([[1., 0., 0., 5.],
                   [2., 0., 0., 0.],
                   [3., 0., 0., 0.],
                   [4., 0., 0., 0.]])
LEFT = torch.zeros(4, 4, dtype=torch.bool)
LEFT[:, 0] = True  # a = 4 / 16
CORNER = torch.zeros(4, 4, dtype=torch.bool)
CORNER[0, 3] = True  # a = 1 / 16


def test_artifact_mass_and_aar_by_hand():
    assert artifact_mass(A1, LEFT).tolist() == [pytest.approx(10 / 15)]
    assert area_share(LEFT).tolist() == [pytest.approx(0.25)]
    assert artifact_attention_ratio(A1, LEFT).tolist() == [pytest.approx((10 / 15) / 0.25)]  # 8/3 of its share
    assert artifact_mass(A1, CORNER).tolist() == [pytest.approx(5 / 15)]
    assert artifact_attention_ratio(A1, CORNER).tolist() == [pytest.approx((5 / 15) / (1 / 16))]  # 16/3
    uniform = torch.ones(4, 4)
    assert artifact_attention_ratio(uniform, LEFT).tolist() == [pytest.approx(1.0)]  # attention in proportion to area


def test_pointing_game_hit_and_miss():
    assert pointing_game(A1, CORNER).tolist() == [1.0]  # arg-max (0, 3) is in the mask
    assert pointing_game(A1, LEFT).tolist() == [0.0]  # most mass, but not the arg-max
    A = torch.stack([A1, A1.flip(-1)])
    M = torch.stack([CORNER, CORNER])
    assert pointing_game(A, M).tolist() == [1.0, 0.0]


def test_empty_mask_and_zero_relevance_are_excluded_and_counted():
    empty = torch.zeros(4, 4, dtype=torch.bool)
    A = torch.stack([A1, A1, torch.zeros(4, 4), A1])
    M = torch.stack([LEFT, empty, LEFT, CORNER])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warnings either
        m = artifact_mass(A, M)
        r = artifact_attention_ratio(A, M)
        p = pointing_game(A, M)
        s = summarise(A, M, seed=0)
    assert m[0] == pytest.approx(2 / 3) and m[3] == pytest.approx(1 / 3)
    assert math.isnan(m[1]) and math.isnan(m[2]) and math.isnan(r[1]) and math.isnan(r[2])
    assert math.isnan(p[1]) and math.isnan(p[2]) and p[0] == 0 and p[3] == 1
    assert s["n"] == 2 and s["excluded_empty_mask"] == 1 and s["excluded_no_relevance"] == 1
    assert s["artifact_mass"]["mean"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert s["aar"]["mean"] == pytest.approx((8 / 3 + 16 / 3) / 2)
    assert s["pointing_game"]["mean"] == pytest.approx(0.5)
    assert s["area_share"]["mean"] == pytest.approx((4 / 16 + 1 / 16) / 2)
    lo, hi = s["aar"]["ci95"]
    assert 8 / 3 - 1e-6 <= lo <= 4.0 <= hi <= 16 / 3 + 1e-6


def test_all_excluded_gives_none_not_a_crash():
    s = summarise(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    assert s["n"] == 0 and s["excluded_empty_mask"] == 2
    assert s["aar"] == {"mean": None, "ci95": None} and s["pointing_game"]["mean"] is None


def test_single_hw_map_and_shape_errors():
    assert artifact_mass(A1, LEFT).shape == (1,)
    with pytest.raises(ValueError, match="non-negative"):
        artifact_mass(-A1, LEFT)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        artifact_mass(torch.ones(2, 4, 4), torch.ones(2, 4, 5, dtype=torch.bool))


def test_bootstrap_ci_contains_the_mean_and_is_deterministic():
    vals = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, float("nan")]
    mean, lo, hi = bootstrap_ci(vals, seed=3)
    assert mean == pytest.approx(sum(vals[:-1]) / 7)  # NaN dropped
    assert lo < mean < hi and 0.1 <= lo and hi <= 0.9
    assert bootstrap_ci(vals, seed=3) == (mean, lo, hi)
    assert bootstrap_ci(vals, seed=4) != (mean, lo, hi)  # the seed is what makes it repeatable
    wide = bootstrap_ci(vals, alpha=0.01, seed=3)
    assert wide[1] <= lo and wide[2] >= hi  # 99 % interval contains the 95 % one
    assert bootstrap_ci([0.4]) == (0.4, 0.4, 0.4)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    assert all(math.isnan(v) for v in bootstrap_ci([float("nan")]))
