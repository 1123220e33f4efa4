"""The ACAI MNIST summary: the finished ``acai_mnist`` runs as one table, baseline beside ACAI and the paper.

The summary notebook reads runs (never trains): :func:`runs_frame` flattens their ``metrics.json`` records,
:func:`comparison` averages over seeds (with the spread) and puts each (family, latent) pair's baseline beside its
ACAI and the paper's (unverified) values, :func:`verdicts` says which model is better beyond that spread, :func:`traces`
reads the metrics each run measured during training and :func:`load_grid` a run's saved interpolation grid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acai_repro.acai.mnist_params import PAPER_CLUSTERING_ACCURACY, PAPER_PROBE_ACCURACY
from acai_repro.runner.runs import sweep_commands
from acai_repro.verdict import MIN_SEEDS, compare

KEYS = ("family", "latent", "model", "seed")
METRICS = ("test_mse", "probe_acc", "linear_probe_acc", "clustering_acc")
SETTINGS = ("steps", "batch", "lr", "lambda_", "gamma", "hidden", "kmeans_restarts")


def sweep_command(profile: str, grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]) -> str:
    """The ``acai-repro sweep`` command(s) that make a profile's grid of acai_mnist runs."""
    return " && ".join(sweep_commands("acai_mnist", profile, grid))


def runs_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run: its identity (family, latent, model, seed), settings, metrics, data, device and folder."""
    rows = []
    for r in records:
        p, m = r["parameters"], r["metrics"]
        rows.append({**{k: p[k] for k in KEYS}, **{k: p.get(k) for k in SETTINGS},
                     **{k: m.get(k, np.nan) for k in METRICS}, "n_train": m.get("n_train"), "n_test": m.get("n_test"),
                     "data_source": m.get("data_source", "?"), "device": r["device"],
                     "wall_time_s": r.get("wall_time_s"), "run_id": r["run_id"]})
    frame = pd.DataFrame(rows)
    return frame.sort_values(list(KEYS)).reset_index(drop=True)


def describe(frame: pd.DataFrame) -> str:
    """Plain words on which runs the table holds: profile settings, seeds, data, devices, settings that differ."""
    varying = [k for k in SETTINGS if frame[k].nunique(dropna=False) > 1]
    shared = ", ".join(f"{k}={frame[k].iloc[0]}" for k in SETTINGS if k not in varying)
    lines = [f"{len(frame)} runs; seeds {sorted(frame.seed.unique().tolist())}; "
             f"devices {', '.join(sorted(frame.device.unique()))}",
             f"settings: {shared}",
             f"data: {'; '.join(sorted(frame.data_source.unique()))} "
             f"({'|'.join(map(str, sorted(frame.n_train.unique())))} train / "
             f"{'|'.join(map(str, sorted(frame.n_test.unique())))} test digits)"]
    if varying:
        lines.append(f"WARNING, settings that differ between runs: {', '.join(varying)}")
    return "\n".join(lines)


def comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (family, latent): probe and clustering accuracy of baseline and ACAI over seeds, and the paper's.

    Columns: runs (baseline/acai), seeds_baseline, seeds_acai (run counts), probe_baseline, probe_acai (seed means),
    probe_baseline_std, probe_acai_std (population standard deviation over seeds, 0 for one seed),
    paper_probe_baseline, paper_probe_acai, and the same for clustering (``cluster_*``) and the post-hoc probe
    (``posthoc_*``). The paper only has the conv family; its values are unverified (see ``mnist_params``). Missing
    runs give NaN.
    """
    groups = frame.groupby(["family", "latent", "model"])[list(METRICS)]
    means, spreads, counts = groups.mean(), groups.std(ddof=0), groups.size()
    rows = []
    for family, latent in sorted({(f, l) for f, l, _ in means.index}):
        row: dict[str, Any] = {"family": family, "latent": latent}
        row["runs"] = "/".join(str(counts.get((family, latent, m), 0)) for m in ("baseline", "acai"))
        row.update({f"seeds_{m}": int(counts.get((family, latent, m), 0)) for m in ("baseline", "acai")})
        for short, metric, paper in (("probe", "probe_acc", PAPER_PROBE_ACCURACY),
                                     ("posthoc", "linear_probe_acc", None),
                                     ("cluster", "clustering_acc", PAPER_CLUSTERING_ACCURACY)):
            for model in ("baseline", "acai"):
                key = (family, latent, model)
                row[f"{short}_{model}"] = means.loc[key, metric] if key in means.index else np.nan
                row[f"{short}_{model}_std"] = spreads.loc[key, metric] if key in spreads.index else np.nan
                if paper is not None:
                    row[f"paper_{short}_{model}"] = paper.get((model, latent), np.nan) if family == "conv" else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame, short: str, min_seeds: int = MIN_SEEDS) -> list[str]:
    """For each (family, latent) with both models, which is better on ``short`` beyond the spread over seeds.

    ``"acai"`` when ACAI's seed mean exceeds the baseline's by more than the larger of the two population standard
    deviations, ``"baseline"`` the other way round, ``"level"`` when the difference is within that spread (no
    verdict from a difference smaller than the seeds' own scatter), ``"few seeds"`` when either model has fewer than
    ``min_seeds`` runs (a spread needs seeds to be measured).
    """
    both = table.dropna(subset=[f"{short}_baseline", f"{short}_acai"])
    words = {"a": "acai", "b": "baseline", "level": "level", "few seeds": "few seeds"}
    return [words[compare(r[f"{short}_acai"], r[f"{short}_acai_std"], r["seeds_acai"], r[f"{short}_baseline"],
                          r[f"{short}_baseline_std"], r["seeds_baseline"], min_seeds)]
            for r in both.to_dict("records")]


def traces(records: Sequence[Mapping[str, Any]], results_root: Path, profile: str) -> pd.DataFrame:
    """The downstream metrics each run measured during training (``history.json`` evaluations), one row per run and
    evaluation step: its identity (family, latent, model, seed), ``step`` and the metrics."""
    rows = []
    for r in records:
        path = Path(results_root) / profile / "acai_mnist" / r["run_id"] / "history.json"
        if not path.is_file():
            continue
        identity = {k: r["parameters"][k] for k in KEYS}
        rows += [{**identity, **row} for row in json.loads(path.read_text())["evals"]]
    return pd.DataFrame(rows, columns=[*KEYS, "step", *METRICS])


def load_grid(results_root: Path, profile: str, run_id: str) -> np.ndarray | None:
    """A run's saved interpolation grid (alphas, pairs, 1, 32, 32) as float32, or None if it has none."""
    path = Path(results_root) / profile / "acai_mnist" / run_id / "interpolation_grid.npy"
    return np.load(path).astype(np.float32) if path.is_file() else None
