"""One rule for every summary's verdict: a difference between two models counts only beyond the seeds' own scatter.

Each summary compares seed means; a margin smaller than the larger of the two population standard deviations over
seeds is "level", and no verdict is drawn from fewer than ``MIN_SEEDS`` runs a model (a spread needs seeds).
"""
from __future__ import annotations

import math

MIN_SEEDS = 3  # runs a model needs before its spread, and so a verdict, means anything


def beyond_spread(mean_a: float, std_a: float, mean_b: float, std_b: float) -> int:
    """+1 when ``mean_a`` exceeds ``mean_b`` by more than ``max(std_a, std_b)``, -1 the other way round, 0 within the
    spread (or when a number is missing)."""
    values = (mean_a, std_a, mean_b, std_b)
    if any(v is None or math.isnan(v) for v in values):
        return 0
    spread = max(std_a, std_b)
    return 1 if mean_a - mean_b > spread else -1 if mean_b - mean_a > spread else 0


def compare(mean_a: float, std_a: float, count_a: int, mean_b: float, std_b: float, count_b: int,
            min_seeds: int = MIN_SEEDS) -> str:
    """"a", "b" (which is higher beyond the spread), "level", or "few seeds" when either has under ``min_seeds``."""
    if min(count_a, count_b) < min_seeds:
        return "few seeds"
    return {1: "a", -1: "b", 0: "level"}[beyond_spread(mean_a, std_a, mean_b, std_b)]
