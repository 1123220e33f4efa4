"""One rule for every summary's verdict: a difference between two models counts only beyond the seeds' own scatter.

Each summary compares seed means; a margin smaller than the larger of the two population standard deviations over
seeds is "level", and no verdict is drawn from fewer than ``MIN_SEEDS`` runs a model (a spread needs seeds).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import fmean, pstdev

MIN_SEEDS = 3  # runs a model needs before its spread, and so a verdict, means anything


def seed_spread(values: Iterable[float | None]) -> tuple[float, float, int]:
    """(mean, population std, count) of the finite ``values`` (one per seed); (NaN, NaN, 0) when there are none.

    Population std (ddof 0), as the papers' ``np.std``; a NaN or None value is a run where the metric is undefined
    (say every interpolation pair failed) and is left out rather than poisoning the mean."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return fmean(finite), pstdev(finite), len(finite)


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
