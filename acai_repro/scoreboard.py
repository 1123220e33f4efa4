"""The reproduction scoreboard: each paper's claims, judged from the committed runs by a rule stated beside them.

Each paper's ``claims.py`` lists its claims (:class:`Claim`): the paper's statement and number, the run notebook and
the sweep whose runs judge it, the rule in words, and ``judge``, which reads those runs' ``metrics.json`` records and
returns what they show and the verdict. This module picks the runs (the ``paper`` profile's when they give a
verdict, else the ``quick`` profile's), and writes the one table that ``acai-repro results --claims``, the book's
scoreboard page and the README's ``<!-- claims -->`` block all show. Nothing in it is typed by hand.

The verdicts are the four of :data:`VERDICTS`. Every rule compares seed means by the book's one rule
(:mod:`acai_repro.verdict`): a difference counts only beyond the larger spread over seeds, and a spread needs at
least ``MIN_SEEDS`` seeds; a claim whose runs are missing or too few is "not run".
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import grid_runs
from .runner import find_runs
from .runner.runs import sweep_commands
from .verdict import MIN_SEEDS, seed_spread

VERDICTS = ("holds", "partly", "does not hold", "not run")
PROFILES = ("paper", "quick")  # the order a claim's runs are looked for in: GPU runs first
PAPERS = {  # paper -> (its claims module, its citation key in book/references.bib), in the book's order
    "AAE": ("acai_repro.aae.claims", "makhzani2015aae"),
    "ACAI": ("acai_repro.acai.claims", "berthelot2019acai"),
    "GAIA": ("acai_repro.gaia.claims", "sainburg2018gaia"),
    "MaskAAE": ("acai_repro.maskaae.claims", "mondal2020maskaae"),
}
Record = Mapping[str, Any]  # one run's metrics.json


@dataclass(frozen=True)
class Judgement:
    """What a claim's runs show: the verdict and, in words, the numbers its rule compared."""

    verdict: str
    ours: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper and how the runs judge it."""

    statement: str  # the paper's claim, in words
    paper_value: str  # the paper's number(s), or what it shows instead
    rule: str  # how ``judge`` reads the verdict
    notebook: str  # the run notebook whose runs judge the claim
    sweeps: Mapping[str, Any]  # profile -> the grid of runs that judges it (a dict or a list of dicts)
    judge: Callable[[list[Record]], Judgement]
    evidence: str  # the book page (a document name under book/) that shows the runs


@dataclass(frozen=True)
class Scored:
    """A claim with the runs that judged it."""

    paper: str
    claim: Claim
    judgement: Judgement
    profile: str | None  # None: no run in any profile
    seeds: tuple[int, ...]
    devices: tuple[str, ...]
    commands: tuple[str, ...]  # the sweep command(s) that make the runs


def spread(records: Sequence[Record], metric: str) -> tuple[float, float, int]:
    """(mean, population std, count) of ``metric`` over ``records``, NaN values left out; (NaN, NaN, 0) if none."""
    return seed_spread(r["metrics"][metric] for r in records if metric in r["metrics"])


def pm(stats: tuple[float, float, int], scale: float = 1.0, decimals: int = 3) -> str:
    """``mean ± std`` of :func:`spread`'s triple, times ``scale``, with ``decimals`` decimals."""
    value, std, _ = stats
    return "no value" if math.isnan(value) else f"{value * scale:.{decimals}f} ± {std * scale:.{decimals}f}"


def few_seeds(*counts: int) -> Judgement | None:
    """"not run" when any compared group has fewer than ``MIN_SEEDS`` runs, else None."""
    if min(counts, default=0) < MIN_SEEDS:
        return Judgement("not run", f"{min(counts, default=0)} run(s) where the rule needs {MIN_SEEDS} seeds")
    return None


def claims() -> dict[str, list[Claim]]:
    """Every paper's claims, in the book's order of papers."""
    return {paper: list(importlib.import_module(module).CLAIMS) for paper, (module, _) in PAPERS.items()}


def score(paper: str, claim: Claim, results_root: Path | None = None) -> Scored:
    """Judge ``claim`` on the runs of the first profile of :data:`PROFILES` that gives it a verdict."""
    tried = []
    for profile in (p for p in PROFILES if p in claim.sweeps):
        grid = claim.sweeps[profile]
        records = grid_runs(find_runs(claim.notebook, profile, results_root), claim.notebook, profile, grid)
        if records:
            scored = Scored(paper, claim, claim.judge(records), profile,
                            tuple(sorted({int(r["parameters"].get("seed", 0)) for r in records})),
                            tuple(sorted({r["device"] for r in records})),
                            tuple(sweep_commands(claim.notebook, profile, grid)))
            if scored.judgement.verdict != "not run":
                return scored
            tried.append(scored)
    if tried:
        return tried[0]
    profile = "quick" if "quick" in claim.sweeps else next(iter(claim.sweeps))
    return Scored(paper, claim, Judgement("not run", "no finished run"), None, (), (),
                  tuple(sweep_commands(claim.notebook, profile, claim.sweeps[profile])))


def scoreboard(results_root: Path | None = None) -> list[Scored]:
    """Every claim of every paper, judged."""
    return [score(paper, claim, results_root) for paper, found in claims().items() for claim in found]


def tally(rows: Sequence[Scored]) -> str:
    """"3 hold, 2 partly, ..." over ``rows``."""
    counts = {v: sum(r.judgement.verdict == v for r in rows) for v in VERDICTS}
    words = {"holds": "hold", "partly": "hold partly", "does not hold": "do not hold", "not run": "are not run"}
    return ", ".join(f"{n} {words[v] if n != 1 else v}" for v, n in counts.items() if n)


def markdown(rows: Sequence[Scored], book: bool = False, heading: str = "###") -> str:
    """The scoreboard as Markdown: per paper a table (claim, paper, ours, verdict with its rule), then the commands.

    ``book=True`` writes MyST (citations and links to the evidence pages, which the book resolves); else plain
    Markdown for the README and the terminal. ``heading`` opens each paper's section."""
    parts = [f"{len(rows)} claims: {tally(rows)}.", ""]
    for paper, (_, key) in PAPERS.items():
        mine = [r for r in rows if r.paper == paper]
        if not mine:
            continue
        parts += [f"{heading} {paper}", ""] + ([f"The paper: {{cite:t}}`{key}`.", ""] if book else [])
        parts += ["| # | claim | paper | ours | verdict (rule) |", "| --- | --- | --- | --- | --- |"]
        for i, r in enumerate(mine, 1):
            where = (f"seeds {', '.join(map(str, r.seeds))}; `{r.profile}`, {', '.join(r.devices)}"
                     if r.profile else "no run")
            evidence = f" ({{doc}}`evidence </book/{r.claim.evidence}>`)" if book else ""
            parts.append(f"| {i} | {r.claim.statement} | {r.claim.paper_value} | {r.judgement.ours} ({where})"
                         f"{evidence} | **{r.judgement.verdict}** ({r.claim.rule}) |")
        shared: dict[tuple[str, ...], list[int]] = {}  # claims judged on the same runs share their commands
        for i, r in enumerate(mine, 1):
            shared.setdefault(r.commands, []).append(i)
        parts += ["", "Reproduce (then `acai-repro results --claims`):", ""]
        parts += [f"- claim{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}: "
                  + "; ".join(f"`{c}`" for c in commands) for commands, numbers in shared.items()]
        parts.append("")
    return "\n".join(parts)
