"""The summaries' shared rule: a difference counts only beyond the larger spread over seeds, with enough seeds."""
import math

import pytest

from acai_repro.verdict import beyond_spread, compare, seed_spread


def test_beyond_spread_needs_a_margin_above_the_larger_std():
    assert beyond_spread(0.60, 0.01, 0.55, 0.02) == 1  # margin 0.05 > 0.02
    assert beyond_spread(0.55, 0.02, 0.60, 0.01) == -1
    assert beyond_spread(0.60, 0.06, 0.55, 0.01) == 0  # margin 0.05 within a's 0.06
    assert beyond_spread(0.60, math.nan, 0.55, 0.01) == 0  # a missing spread is no evidence


def test_compare_names_the_winner_and_refuses_few_seeds():
    assert compare(0.6, 0.01, 3, 0.5, 0.01, 3) == "a"
    assert compare(0.5, 0.01, 3, 0.6, 0.01, 3) == "b"
    assert compare(0.6, 0.2, 3, 0.5, 0.01, 3) == "level"
    assert compare(0.6, 0.01, 2, 0.5, 0.01, 3) == "few seeds"
    assert compare(0.6, 0.01, 2, 0.5, 0.01, 2, min_seeds=2) == "a"


def test_seed_spread_pools_finite_values_with_the_population_std():
    assert seed_spread([1.0, 2.0, 3.0]) == pytest.approx((2.0, (2 / 3) ** 0.5, 3))
    assert seed_spread([1.0, math.nan, None, 3.0]) == pytest.approx((2.0, 1.0, 2))  # undefined runs left out
    assert seed_spread([5.0])[1:] == (0.0, 1)
    mean, std, count = seed_spread([math.nan, math.inf])
    assert math.isnan(mean) and math.isnan(std) and count == 0
