"""The summaries' shared rule: a difference counts only beyond the larger spread over seeds, with enough seeds."""
import math

from acai_repro.verdict import beyond_spread, compare


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
