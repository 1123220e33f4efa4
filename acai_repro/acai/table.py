"""ACAI's Table 1 from the runs of the ``acai_lines`` notebook: mean ± std over seeds beside the paper's values.

Each run's ``metrics.json`` holds the run's value (the median of its last 20 evaluations, see
:mod:`acai_repro.acai.lines_experiment`). The table groups runs by model, in Table 1's column order, and reports for each
metric the mean and the standard deviation (``numpy.std``, ddof 0) over the runs where it is defined: a run whose
decoder outputs blanks has an undefined (NaN) Smoothness, which is left out of the mean and shows in the NaN-pair
column instead.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acai_repro.acai.params import ACAI_BUDGET_SWEEPS, ACAI_LINES_SWEEPS, MODEL_NAMES, PAPER_TABLE1
from acai_repro.results import grid_runs
from acai_repro.runner.runs import sweep_commands
from acai_repro.verdict import MIN_SEEDS, beyond_spread, seed_spread

IDENTITY = ("model", "seed", "profile", "run_dir", "device")  # parameters that may differ between the table's runs


@dataclass(frozen=True)
class Row:
    """One column of Table 1 (one model), over its runs."""

    model: str
    seeds: tuple[int, ...]
    mean_distance_e3: tuple[float, float]  # (mean, std) over runs
    smoothness: tuple[float, float]
    nan_pairs: tuple[float, float]
    probe_accuracy: tuple[float, float]
    paper_mean_distance_e3: tuple[float, float]
    paper_smoothness: tuple[float, float]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0) of the finite values; (NaN, NaN) if there are none."""
    return seed_spread(values)[:2]


def table_rows(records: Sequence[Mapping[str, Any]]) -> list[Row]:
    """One :class:`Row` per model present in ``records`` (``metrics.json`` dicts of acai_lines runs), in Table 1's
    order; models without runs are left out."""
    rows = []
    for model in MODEL_NAMES:
        runs = [r for r in records if r["parameters"]["model"] == model]
        if not runs:
            continue
        md, md_std, smooth, smooth_std = PAPER_TABLE1[model]
        column = {key: mean_std([r["metrics"].get(key, math.nan) for r in runs])
                  for key in ("mean_distance_e3", "smoothness", "nan_pairs", "probe_accuracy")}
        rows.append(Row(model, tuple(sorted(r["parameters"]["seed"] for r in runs)), **column,
                        paper_mean_distance_e3=(md, md_std), paper_smoothness=(smooth, smooth_std)))
    return rows


def _pm(pair: tuple[float, float], digits: int, runs: int = 2) -> str:
    """``mean ± std``; the mean alone for one run (a spread needs seeds)."""
    mean, std = pair
    if math.isnan(mean):
        return "NaN"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if runs > 1 else "")


def format_table(rows: Sequence[Row]) -> str:
    """Table 1 as a Markdown table: obtained and paper values side by side, one line per model."""
    lines = ["| model | seeds | Mean Distance (x10⁻³) | paper | Smoothness | paper | NaN pairs | probe accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        n = len(row.seeds)
        lines.append(f"| {row.model} | {', '.join(map(str, row.seeds))} | {_pm(row.mean_distance_e3, 2, n)} | "
                     f"{_pm(row.paper_mean_distance_e3, 2)} | {_pm(row.smoothness, 3, n)} | "
                     f"{_pm(row.paper_smoothness, 2)} | {_pm(row.nan_pairs, 1, n)} | {_pm(row.probe_accuracy, 3, n)} |")
    return "\n".join(lines)


def describe_runs(records: Sequence[Mapping[str, Any]]) -> str:
    """Which runs the table shows: how many, profile(s), devices, and any parameter that differs between them."""
    if not records:
        raise ValueError("describe_runs: no runs")
    profiles = sorted({r["profile"] for r in records})
    devices = sorted({r["device"] for r in records})
    names = sorted({k for r in records for k in r["parameters"]} - set(IDENTITY))
    shared, varying = [], []
    for name in names:
        values = sorted({repr(r["parameters"].get(name)) for r in records})
        (shared if len(values) == 1 else varying).append(f"{name}={'|'.join(values)}")
    text = (f"{len(records)} runs, profile {', '.join(profiles)}, device {', '.join(devices)}; "
            f"settings: {', '.join(shared)}")
    if varying:
        text += f"; WARNING, settings that differ between runs: {', '.join(varying)}"
    return text


def run_folder(results_root: Path, record: Mapping[str, Any]) -> Path:
    """The folder of a run (where its ``metrics.json``, figures and ``strips.npy`` are)."""
    return Path(results_root) / record["profile"] / record["notebook"] / record["run_id"]


def lowest_seed_files(records: Sequence[Mapping[str, Any]], results_root: Path,
                      filename: str) -> dict[str, tuple[Mapping[str, Any], Path]]:
    """For each model (Table 1 order) with such a file: (record, path) of ``filename`` in its lowest-seed run."""
    out = {}
    for model in MODEL_NAMES:
        runs = sorted((r for r in records if r["parameters"]["model"] == model), key=lambda r: r["parameters"]["seed"])
        found = next(((r, run_folder(results_root, r) / filename) for r in runs
                      if (run_folder(results_root, r) / filename).is_file()), None)
        if found is not None:
            out[model] = found
    return out


def first_strips(records: Sequence[Mapping[str, Any]], results_root: Path) -> dict[str, np.ndarray]:
    """For each model (Table 1 order), the first saved interpolation strip (16, 32, 32) of its lowest-seed run."""
    found = lowest_seed_files(records, results_root, "strips.npy")
    return {model: np.load(path)[0] for model, (_, path) in found.items()}


def sweep_command(profile: str, grid: Mapping[str, Sequence[Any]]) -> str:
    """The ``acai-repro sweep`` command that makes a profile's grid of acai_lines runs."""
    return " && ".join(sweep_commands("acai_lines", profile, grid))


def history_curves(record: Mapping[str, Any], results_root: Path) -> dict[str, np.ndarray] | None:
    """One run's evaluations as arrays: {"images", "mean_distance_e3", "smoothness", "nan_pairs"} (None when the run
    has no ``history.json``)."""
    path = run_folder(results_root, record) / "history.json"
    if not path.is_file():
        return None
    evals = json.loads(path.read_text())["evals"]
    curves = {"images": np.array([row["step"] * record["parameters"]["batch"] for row in evals])}
    for key in CURVE_METRICS:
        curves[key] = np.array([row[key] for row in evals], dtype=np.float64)
    return curves


CURVE_METRICS = ("mean_distance_e3", "smoothness", "nan_pairs")


# --- Which runs are Table 1's, and the budget study ---------------------------------------------------------------

def split_runs(records: Sequence[Mapping[str, Any]], profile: str) -> tuple[list, list]:
    """(Table 1's runs, the budget study's runs) among ``records`` of ``profile``: the first are the profile's grid
    (every model and seed at the profile's settings, ``ACAI_LINES_SWEEPS``), the second ``ACAI_BUDGET_SWEEPS`` (the
    same models at the official learning rate). A run of neither grid, e.g. made by hand with other settings, is left
    out."""
    records = list(records)
    table = grid_runs(records, "acai_lines", profile, ACAI_LINES_SWEEPS[profile])
    budget = grid_runs(records, "acai_lines", profile, ACAI_BUDGET_SWEEPS[profile]) if profile in ACAI_BUDGET_SWEEPS \
        else []
    return table, budget


def budget_curves(records: Sequence[Mapping[str, Any]], results_root: Path,
                  vary: str = "lr") -> dict[tuple[str, Any], dict[str, np.ndarray]]:
    """Curves of the runs grouped by (model, their value of ``vary``): every metric of :data:`CURVE_METRICS` at each
    evaluation as (seeds, evaluations) arrays, plus "images" and "seeds". Each run evaluates at the same image counts
    (an evaluation every ``eval_every_images``), so the value after N images is also what a run of N images gives:
    one run of 2^17 images is the study's run of 16,384, 32,768, ... images (constant rate, fresh data)."""
    grouped: dict[tuple[str, Any], list] = {}
    for record in sorted(records, key=lambda r: r["parameters"]["seed"]):
        curves = history_curves(record, results_root)
        if curves is not None:
            grouped.setdefault((record["parameters"]["model"], record["parameters"][vary]), []).append(
                (record["parameters"]["seed"], curves))
    out = {}
    for key, runs in grouped.items():
        n = min(len(c["images"]) for _, c in runs)  # a run still training has fewer evaluations
        out[key] = {"images": runs[0][1]["images"][:n], "seeds": np.array([seed for seed, _ in runs]),
                    **{m: np.stack([c[m][:n] for _, c in runs]) for m in CURVE_METRICS}}
    return out


def clean_from(curve: Mapping[str, np.ndarray]) -> int | None:
    """The images after which every evaluation of every seed in ``curve`` (:func:`budget_curves`) has no NaN pair,
    i.e. from when on the decoders draw a line at both ends of every test pair; None if the last one still has some."""
    clean = (np.asarray(curve["nan_pairs"]) == 0).all(axis=0)
    later = [i for i in range(len(clean)) if clean[i:].all()]
    return int(curve["images"][later[0]]) if later else None


def plot_budget(curves: Mapping[tuple[str, Any], Mapping[str, np.ndarray]], vary: str = "lr", solid: Any = None):
    """Mean Distance, Smoothness and NaN pairs against the images seen, one line per (model, value of ``vary``): the
    seeds' mean (thick) and each seed (thin); the value ``solid`` (e.g. the profile's) solid, the others dashed.
    Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.0))
    colours = {model: f"C{i}" for i, model in enumerate(MODEL_NAMES)}
    for (model, value), c in sorted(curves.items(), key=lambda kv: (MODEL_NAMES.index(kv[0][0]), str(kv[0][1]))):
        style = "-" if solid is None or value == solid else "--"
        n, shown = len(c["seeds"]), f"{value:g}" if isinstance(value, float) else value
        label = f"{model}, {vary} {shown} ({n} seed{'s' if n > 1 else ''})"
        for ax, key in zip(axes, CURVE_METRICS):
            for row in c[key]:
                ax.plot(c["images"], row, style, color=colours[model], lw=0.6, alpha=0.4)
            with warnings.catch_warnings():  # an evaluation where every seed is NaN stays a gap
                warnings.simplefilter("ignore", RuntimeWarning)
                ax.plot(c["images"], np.nanmean(c[key], axis=0), style, color=colours[model], lw=2, marker="o",
                        ms=3, label=label)
    for ax, title in zip(axes, ("Mean Distance x 10^3 (lower is better)", "Smoothness (lower is better)",
                                "NaN pairs (of 256)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("images seen")
    axes[0].set_yscale("log")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


# --- The paper's claim --------------------------------------------------------------------------------------------

CLAIM_RULE = ("holds: ACAI has the lowest mean Mean Distance and the lowest mean Smoothness of the seven models, no "
              f"NaN pair in any run, and each margin exceeds the larger of the two models' spreads over at least "
              f"{MIN_SEEDS} seeds (a model whose every pair is NaN has no Smoothness and counts as beaten); partly: "
              "the lowest means, but a margin within the spread or NaN pairs; does not hold: another model has a "
              "lower mean; not run: a model has no run")


@dataclass(frozen=True)
class Claim:
    """Table 1's claim (ACAI interpolates best: the lowest Mean Distance and Smoothness) judged by :data:`CLAIM_RULE`."""

    verdict: str  # "holds", "partly", "does not hold", "not run"
    lowest_mean_distance: bool
    lowest_smoothness: bool
    nan_free: bool
    within_spread: tuple[str, ...]  # "model metric" margins ACAI has only within the seeds' spread
    runner_up: dict[str, str]  # metric -> the model with the next-lowest mean


def table1_claim(rows: Sequence[Row]) -> Claim:
    """Judge Table 1's claim on ``rows`` (:func:`table_rows`) by :data:`CLAIM_RULE`."""
    by_model = {row.model: row for row in rows}
    if set(by_model) != set(MODEL_NAMES):
        return Claim("not run", False, False, False, (), {})
    acai = by_model["acai"]
    others = [row for row in rows if row.model != "acai"]
    lowest, within, runner_up = {}, [], {}
    for metric in ("mean_distance_e3", "smoothness"):
        mine = getattr(acai, metric)
        defined = [row for row in others if not math.isnan(getattr(row, metric)[0])]
        runner_up[metric] = min(defined, key=lambda row: getattr(row, metric)[0]).model if defined else ""
        lowest[metric] = not math.isnan(mine[0]) and all(mine[0] < getattr(row, metric)[0] for row in defined)
        for row in defined:
            theirs = getattr(row, metric)
            if min(len(acai.seeds), len(row.seeds)) < MIN_SEEDS or beyond_spread(*theirs, *mine) != 1:
                within.append(f"{row.model} {metric}")
    nan_free = acai.nan_pairs[0] == 0
    both = lowest["mean_distance_e3"] and lowest["smoothness"]
    verdict = "does not hold" if not both else "holds" if nan_free and not within else "partly"
    return Claim(verdict, lowest["mean_distance_e3"], lowest["smoothness"], nan_free, tuple(within), runner_up)


def seed_by_seed(records: Sequence[Mapping[str, Any]], rival: str, metric: str) -> list[tuple[int, float, float]]:
    """(seed, ACAI's value, ``rival``'s value) of ``metric`` for each seed both models ran, in seed order.

    Seeds share the evaluation pairs and differ in initialisation and data order, so a margin within the spread
    over seeds can still be one ACAI wins on every seed; this lists the pairs the verdict's rule does not use."""
    value = {(r["parameters"]["model"], r["parameters"]["seed"]): r["metrics"].get(metric, math.nan) for r in records}
    ran = {name: {seed for model, seed in value if model == name} for name in ("acai", rival)}
    seeds = sorted(ran["acai"] & ran[rival])
    return [(seed, value["acai", seed], value[rival, seed]) for seed in seeds]
