"""ACAI's Table 1 from the runs of the ``acai_lines`` notebook: mean +- std over seeds beside the paper's values.

Each run's ``metrics.json`` holds the run's value (the median of its last 20 evaluations, see
:mod:`acai_repro.acai.lines_experiment`). The table groups runs by model, in Table 1's column order, and reports for each
metric the mean and the standard deviation (``numpy.std``, ddof 0) over the runs where it is defined: a run whose
decoder outputs blanks has an undefined (NaN) Smoothness, which is left out of the mean and shows in the NaN-pair
column instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acai_repro.acai.params import MODEL_NAMES, PAPER_TABLE1
from acai_repro.runner.runs import sweep_commands

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
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if not len(finite):
        return math.nan, math.nan
    return float(finite.mean()), float(finite.std())


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


def _pm(pair: tuple[float, float], digits: int) -> str:
    mean, std = pair
    return "nan" if math.isnan(mean) else f"{mean:.{digits}f} +- {std:.{digits}f}"


def format_table(rows: Sequence[Row]) -> str:
    """Table 1 as a Markdown table: obtained and paper values side by side, one line per model."""
    lines = ["| model | seeds | Mean Distance (x10^-3) | paper | Smoothness | paper | NaN pairs | probe accuracy |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row.model} | {','.join(map(str, row.seeds))} | {_pm(row.mean_distance_e3, 2)} | "
                     f"{_pm(row.paper_mean_distance_e3, 2)} | {_pm(row.smoothness, 3)} | "
                     f"{_pm(row.paper_smoothness, 2)} | {_pm(row.nan_pairs, 1)} | {_pm(row.probe_accuracy, 3)} |")
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


def evaluation_curves(records: Sequence[Mapping[str, Any]], results_root: Path) -> dict[str, dict[str, np.ndarray]]:
    """For each model's lowest-seed run with a ``history.json``: {"images", metric: ...} arrays of its evaluations."""
    out = {}
    for model, (record, path) in lowest_seed_files(records, results_root, "history.json").items():
        evals = json.loads(path.read_text())["evals"]
        curves = {"images": np.array([row["step"] * record["parameters"]["batch"] for row in evals])}
        for key in ("mean_distance_e3", "smoothness", "nan_pairs"):
            curves[key] = np.array([row[key] for row in evals], dtype=np.float64)
        out[model] = curves
    return out
