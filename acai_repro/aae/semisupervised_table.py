"""The semi-supervised AAE summary: finished ``aae_semisupervised`` runs as one table, beside the paper's Table 2."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from acai_repro.aae.semisupervised_params import PAPER_ERRORS

SETTINGS = ("z_dim", "hidden", "layers", "steps", "batch_size", "labelled_batch", "lr", "lr_adv", "lr_semi",
            "disc_noise")


def runs_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run: n_labels, n_extra (images added to the unlabelled pool), seed, settings, the two errors, data
    and device."""
    rows = [{"n_labels": r["parameters"]["n_labels"], "n_extra": r["metrics"].get("n_extra_unlabelled", 0),
             "seed": r["parameters"]["seed"],
             **{k: r["parameters"][k] for k in SETTINGS},
             "test_error": r["metrics"]["test_error"], "unlabelled_error": r["metrics"]["unlabelled_error"],
             "n_train": r["metrics"]["n_train"], "data_source": r["metrics"]["data_source"], "device": r["device"],
             "wall_time_s": r.get("wall_time_s"), "run_id": r["run_id"]} for r in records]
    return pd.DataFrame(rows).sort_values(["n_labels", "n_extra", "seed"]).reset_index(drop=True)


def by_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Per n_labels, n_extra and steps (runs of other budgets are never pooled): seeds, mean and population std of the
    test and unlabelled errors, and the paper's test error."""
    groups = frame.groupby(["n_labels", "n_extra", "steps"])
    table = pd.DataFrame({"seeds": groups.size(),
                          "test_error": groups.test_error.mean(), "test_error_std": groups.test_error.std(ddof=0),
                          "unlabelled_error": groups.unlabelled_error.mean(),
                          "unlabelled_error_std": groups.unlabelled_error.std(ddof=0)})
    table["paper_test_error"] = [PAPER_ERRORS.get(n, np.nan) for n, _, _ in table.index]
    return table.reset_index()


def learning_curves(records: Sequence[Mapping[str, Any]], results_root: Path, profile: str) -> pd.DataFrame:
    """The errors each run measured during training (its ``history.json`` evaluations): n_labels, n_extra, steps
    (the run's budget), seed, step, test_error, unlabelled_error."""
    rows = []
    for r in records:
        path = Path(results_root) / profile / "aae_semisupervised" / r["run_id"] / "history.json"
        if path.is_file():
            key = {"n_labels": r["parameters"]["n_labels"], "n_extra": r["metrics"].get("n_extra_unlabelled", 0),
                   "steps": r["parameters"]["steps"], "seed": r["parameters"]["seed"]}
            rows += [{**key, **row} for row in json.loads(path.read_text())["evals"]]
    return pd.DataFrame(rows, columns=["n_labels", "n_extra", "steps", "seed", "step", "test_error",
                                       "unlabelled_error"])
