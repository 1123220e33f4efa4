"""MaskAAE's claims, judged on the synthetic-data runs: used by the summary page and the reproduction scoreboard.

The paper (Figure 4) claims that a WAE's sample quality is U-shaped in the assumed latent size $m$, best at the true
dimension $n$; that MaskAAE's stays flat for $m \\ge n$; and that the number of mask entries MaskAAE keeps lands near
$n$ whatever $m$ is. Each rule below reads a table of runs (one row per run: model, n, m, seed, active_dims,
frechet_distance) and returns ``(verdict, text)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from acai_repro.maskaae.params import MASKAAE_SWEEPS
from acai_repro.scoreboard import Claim, Judgement, Record, few_seeds
from acai_repro.verdict import beyond_spread, seed_spread

ACTIVE_SHARE = 8 / 9  # the share of MaskAAE runs with m >= n that must keep n +- 1 dimensions for "holds"
SWEEPS = {p: g for p, g in MASKAAE_SWEEPS.items() if p != "smoke"}
NOT_TESTABLE = "not testable with these runs"


def runs_table(records: Sequence[Record]) -> pd.DataFrame:
    """One row per run: model, n, m, seed and its metrics."""
    return pd.DataFrame([{**{k: r["parameters"][k] for k in ("model", "n", "m", "seed")}, **r["metrics"]}
                         for r in records])


def active_dims(table: pd.DataFrame) -> tuple[str, str, float]:
    """MaskAAE keeps n +- 1 dimensions whenever m >= n: (verdict, text, share of runs that do)."""
    runs = table[(table.model == "maskaae") & (table.m >= table.n)] if len(table) else table
    if not len(runs):
        return "not run", NOT_TESTABLE, float("nan")
    within = (runs.active_dims - runs.n).abs() <= 1
    share = float(within.mean())
    return ("holds" if share >= ACTIVE_SHARE else "does not hold",
            f"{int(within.sum())} of {len(runs)} MaskAAE runs with m >= n keep n ± 1 dimensions", share)


def _fd(table: pd.DataFrame, model: str, n_true: int, m: int) -> tuple[float, float]:
    values = table[(table.model == model) & (table.n == n_true) & (table.m == m)].frechet_distance
    return seed_spread(values)[:2]


def _worse(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """a's mean above b's by more than the larger spread over seeds."""
    return beyond_spread(a[0], a[1], b[0], b[1]) > 0


def _by_share(checks: list[bool], what: str) -> tuple[str, str, float]:
    if not checks:
        return "not run", NOT_TESTABLE, float("nan")
    verdict = "holds" if all(checks) else "partly" if any(checks) else "does not hold"
    return verdict, f"{sum(checks)} of {len(checks)} true dimensions pass ({what})", float(np.mean(checks))


def wae_u_shape(table: pd.DataFrame) -> tuple[str, str, float]:
    """For each n: the WAE's FD at m = 4n (and at m = n/2 where run) above its FD at m = n beyond the spread."""
    checks = []
    for n_true in sorted(table.n.unique()) if len(table) else []:
        at_n, at_4n, at_half = (_fd(table, "wae", n_true, m) for m in (n_true, 4 * n_true, n_true // 2))
        if not np.isnan(at_n[0]) and not np.isnan(at_4n[0]):
            checks.append(_worse(at_4n, at_n) and (np.isnan(at_half[0]) or _worse(at_half, at_n)))
    return _by_share(checks, "the FD of the WAE at m = n/2 and m = 4n above its FD at m = n by more than the spread")


def flat_quality(table: pd.DataFrame) -> tuple[str, str, float]:
    """For each n: MaskAAE's FD at every m >= n within the spread of its best m >= n."""
    checks = []
    for n_true in sorted(table.n.unique()) if len(table) else []:
        at_m = [_fd(table, "maskaae", n_true, m) for m in sorted(table[table.n == n_true].m.unique()) if m >= n_true]
        at_m = [v for v in at_m if not np.isnan(v[0])]
        if len(at_m) > 1:
            best = min(at_m)
            checks.append(not any(_worse(v, best) for v in at_m))
    return _by_share(checks, "the FD of MaskAAE at every m >= n within the spread of its best m >= n")


def _judge(rule):
    def judge(records: Sequence[Record]) -> Judgement:
        table = runs_table(records)
        if too_few := few_seeds(int(table.groupby(["model", "n", "m"]).size().min())):
            return too_few
        verdict, text, _ = rule(table)
        return Judgement(verdict, text)
    return judge


PER_N = "for every true dimension run; partly: for some; does not hold: for none; not run: fewer than 3 seeds"
CLAIMS = [
    Claim(statement="MaskAAE's mask keeps about n entries (the data's true dimension) whatever the assumed m >= n",
          paper_value="figures only (synthetic data; its n and m are lost from the text held here)",
          rule=f"holds: at least {ACTIVE_SHARE * 9:.0f} of every 9 MaskAAE runs with m >= n keep n ± 1 entries; "
               "does not hold: fewer; not run: fewer than 3 seeds",
          notebook="maskaae_dimensionality", sweeps=SWEEPS, judge=_judge(active_dims),
          evidence="executed/maskaae_summary"),
    Claim(statement="MaskAAE's sample quality (Frechet distance) stays flat for every m >= n",
          paper_value="figures only",
          rule="holds: its FD at every m >= n within the larger spread over seeds of its best m >= n, " + PER_N,
          notebook="maskaae_dimensionality", sweeps=SWEEPS, judge=_judge(flat_quality),
          evidence="executed/maskaae_summary"),
    Claim(statement="A WAE's sample quality is U-shaped in m, best at m = n",
          paper_value="figures only",
          rule="holds: the WAE's FD at m = n/2 and at m = 4n above its FD at m = n beyond the larger spread, " + PER_N,
          notebook="maskaae_dimensionality", sweeps=SWEEPS, judge=_judge(wae_u_shape),
          evidence="executed/maskaae_summary"),
]
