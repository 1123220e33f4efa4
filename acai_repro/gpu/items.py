"""What a GPU window trains: items in order of value, each one run of one notebook.

An :class:`Item` is exactly the run ``acai-repro run NOTEBOOK --profile PROFILE -p NAME VALUE ...`` would make: its
parameters are resolved and validated by the runner (:func:`~acai_repro.runner.resolve`), its folder is the runner's
(``<results>/<profile>/<notebook>/<run-id>``, :func:`~acai_repro.runner.runs.run_dir_for`), and it is trained by the
function the notebook itself calls, after the same data preparation as the notebook's cells (:data:`TRAINERS`;
:data:`MIRRORED` lists the notebook lines each one mirrors, and a test checks they are still in the notebook). So a
notebook executed afterwards with the same parameters finds the finished checkpoint and trains nothing.

The order of value (:func:`paper_groups`): the bench, Table 1 seed 0 for all seven models at 2^24 images, seeds 1
and 2, the MaskAAE paper sweep, GAIA on CelebA 64 x 64, the AAE paper runs. :func:`rehearsal_groups` is the same
pipeline at smoke size for ``acai-repro gpu run --dry-run`` on a CPU.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acai_repro.runner import resolve
from acai_repro.runner.execute import expand_grid
from acai_repro.runner.runs import command_for, run_dir_for, run_id

BENCH = "bench"
TABLE1_ORDER = ("acai", "baseline", "dropout", "denoising", "vae", "aae", "vqvae")  # ACAI first, the VQ-VAE (41 MiB
# of codebook buffers, eager: its step calls bincount) last


@dataclass(frozen=True)
class Item:
    """One run of one notebook (``notebook`` None: the bench), in a named group of the plan."""

    group: str
    notebook: str | None
    profile: str = "paper"
    overrides: tuple[tuple[str, Any], ...] = ()

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """All parameters, validated by the runner (defaults < profile file < overrides); do not modify."""
        return resolve(self.notebook, self.profile, dict(self.overrides))

    @property
    def label(self) -> str:
        if self.notebook is None:
            return BENCH
        return f"{self.notebook} " + (" ".join(f"{k}={v}" for k, v in self.overrides) or "(profile values)")

    @property
    def run_id(self) -> str:
        return run_id(self.notebook, self.params)

    @property
    def relpath(self) -> str:
        """``<profile>/<notebook>/<run-id>``: the run's folder under any results root."""
        return f"{self.profile}/{self.notebook}/{self.run_id}"

    def run_dir(self, results_root: Path) -> Path:
        return run_dir_for(self.notebook, self.params, results_root)

    def command(self) -> str:
        """The ``acai-repro run`` command that executes this run's notebook (here: from the finished checkpoint)."""
        return command_for(self.notebook, self.params)

    def steps(self) -> int:
        """Training steps of the run (GAIA: of each of its two models)."""
        p = self.params
        return p["images"] // p["batch"] if self.notebook == "acai_lines" else p["steps"]

    def speed_key(self) -> str:
        """What the speed of a step depends on, beside the profile: the notebook and its model."""
        return f"{self.notebook}:{self.params.get('model', '')}"

    def to_json(self) -> dict[str, Any]:
        return {"group": self.group, "notebook": self.notebook, "profile": self.profile,
                "overrides": dict(self.overrides)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        return cls(data["group"], data["notebook"], data["profile"], tuple(data["overrides"].items()))


def _items(group: str, notebook: str, profile: str, grid) -> list[Item]:
    return [Item(group, notebook, profile, tuple(combo.items())) for combo in expand_grid(grid)]


def paper_groups() -> list[list[Item]]:
    """The plan of a real window, in order of value; each group a list of items."""
    from acai_repro.aae.params import AAE_SWEEPS
    from acai_repro.maskaae.params import MASKAAE_SWEEPS

    table1 = lambda seeds, name: _items(name, "acai_lines", "paper",  # noqa: E731
                                        {"seed": seeds, "model": list(TABLE1_ORDER)})
    return [
        [Item("bench", None)],
        table1([0], "Table 1, seed 0"),
        table1([1, 2], "Table 1, seeds 1 and 2"),
        _items("MaskAAE paper sweep", "maskaae_dimensionality", "paper", MASKAAE_SWEEPS["paper"]),
        [Item("GAIA, CelebA 64 x 64", "gaia_attributes", "paper")],
        _items("AAE paper runs", "aae_priors", "paper", AAE_SWEEPS["paper"]),
    ]


REHEARSAL_LINES = {"model": "acai", "images": 256, "batch": 16, "depth": 4, "eval_every_images": 128,
                   "eval_pairs": 8, "checkpoint_every_images": 128}  # the smoke profile, smaller still


def rehearsal_groups() -> list[list[Item]]:
    """The same pipeline at smoke size (seconds per item on a CPU): one item per kind of training function."""
    return [
        [Item("bench", None, "smoke")],
        [Item("Table 1 (rehearsal)", "acai_lines", "smoke", tuple(REHEARSAL_LINES.items()))],
        [Item("MaskAAE (rehearsal)", "maskaae_dimensionality", "smoke")],
        [Item("GAIA (rehearsal)", "gaia_attributes", "smoke")],
        [Item("AAE (rehearsal)", "aae_priors", "smoke")],
    ]


# --- the training of each notebook, mirrored from its cells --------------------------------------------------------
# Each trainer gets the Run of runner.start_run (parameters validated, seeded, device picked, folder locked) and runs
# what the notebook runs between its start_run cell and its training call, then that call. It returns the Trained
# results by checkpoint folder ("" = the run folder itself). The process's working directory is notebooks/, as under
# papermill, so that a relative data_root means what it means in the notebook.

def train_acai_lines(run) -> dict[str, Any]:
    from acai_repro.acai.lines_experiment import train_lines
    from acai_repro.data.lines import test_lines

    x_test, theta_test = test_lines(2 * run.params["eval_pairs"], device=run.device)
    return {"": train_lines(run, x_test, theta_test, progress=False)}


def train_maskaae_dimensionality(run) -> dict[str, Any]:
    from acai_repro.data.synthetic import make_synthetic
    from acai_repro.maskaae.experiment import train_maskaae

    p = run.params
    data = make_synthetic(p["n"], p["seed"] if p["data_seed"] < 0 else p["data_seed"])
    return {"": train_maskaae(run, data.x_train.to(run.device), progress=False)}


def train_gaia_attributes(run) -> dict[str, Any]:
    from acai_repro.gaia.experiment import load_data, train_models

    p = run.params
    train_set, test_set = load_data(p["dataset"], p["data_root"], p["image_size"], p["n_train"], p["n_test"],
                                    p["seed"])
    # the test faces too: the notebook draws the sharpness that training records along the way
    return train_models(run, train_set.images.to(run.device), test_set.images.to(run.device), progress=False)


def train_aae_priors(run) -> dict[str, Any]:
    from acai_repro.aae.experiment import hide_labels, train_priors
    from acai_repro.aae.params import check_combination
    from acai_repro.aae.priors import build_prior
    from acai_repro.data.mnist import load_mnist

    p = run.params
    check_combination(p)
    digits = load_mnist("train", "28", p["mnist_root"] or None)
    x_train = digits.images.to(run.device)
    y_seen = hide_labels(digits.labels, p["n_labels"], seed=p["seed"]).to(run.device)
    return {"": train_priors(run, build_prior(p["prior"], p["z_dim"]), x_train, y_seen, progress=False)}


TRAINERS: dict[str, Callable] = {
    "acai_lines": train_acai_lines,
    "maskaae_dimensionality": train_maskaae_dimensionality,
    "gaia_attributes": train_gaia_attributes,
    "aae_priors": train_aae_priors,
}

# The notebook lines each trainer mirrors (tests/test_gpu.py checks that every one is still in its notebook).
MIRRORED: dict[str, tuple[str, ...]] = {
    "acai_lines": ("x_test, theta_test = test_lines(2 * eval_pairs, device=run.device)",
                   "trained = train_lines(run, x_test, theta_test)"),
    "maskaae_dimensionality": ("data = make_synthetic(n, seed if data_seed < 0 else data_seed)",
                               "x_train, x_test = data.x_train.to(run.device), data.x_test.to(run.device)",
                               "trained = train_maskaae(run, x_train)"),
    "gaia_attributes": ("train_set, test_set = load_data(dataset, data_root, image_size, n_train, n_test, seed)",
                        "x_train, x_test = train_set.images.to(run.device), test_set.images.to(run.device)",
                        "trained = train_models(run, x_train, x_test)"),
    "aae_priors": ("check_combination(run.params)",
                   'train, test = load_mnist("train", "28", mnist_root or None), load_mnist("test", "28", mnist_root '
                   'or None)',
                   "x_train = train.images.to(run.device)",
                   "y_seen = hide_labels(train.labels, n_labels, seed=seed).to(run.device)",
                   "p_z = build_prior(prior, z_dim)",
                   "trained = train_priors(run, p_z, x_train, y_seen)"),
}


EXPERIMENTS = {  # the module whose `train` each trainer's training function calls
    "acai_lines": "acai_repro.acai.lines_experiment", "maskaae_dimensionality": "acai_repro.maskaae.experiment",
    "gaia_attributes": "acai_repro.gaia.experiment", "aae_priors": "acai_repro.aae.experiment"}


def trainer_modules(notebook: str) -> None:
    """Import the experiment module of a notebook's trainer, so that :func:`~acai_repro.gpu.graphs.fast_training`
    finds its ``train`` to accelerate."""
    import importlib

    importlib.import_module(EXPERIMENTS[notebook])


# --- what an item's checkpoints weigh --------------------------------------------------------------------------------
def state_bytes(item: Item) -> int:
    """Bytes of the weights and buffers the item's final checkpoint(s) hold (models built on the meta device: no
    memory, no time). Optimiser moments are not counted: packing drops them from finished runs."""
    shape = {k: v for k, v in item.params.items() if k not in ("seed", "data_seed", "run_dir", "device")}
    return _state_bytes(item.notebook, json.dumps(shape, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _state_bytes(notebook: str, params_json: str) -> int:
    import torch

    with torch.device("meta"):
        models = _models(notebook, json.loads(params_json))
    return sum(t.numel() * t.element_size() for m in models for t in m.state_dict().values())


def _models(notebook: str, p: dict[str, Any]) -> list:
    if notebook == "acai_lines":
        from acai_repro.acai.models import build_model
        from acai_repro.data.lines import N_CLASSES

        return [build_model(p["model"], depth=p["depth"], lr=p["lr"], n_classes=N_CLASSES)]
    if notebook == "maskaae_dimensionality":
        from acai_repro.data.synthetic import D
        from acai_repro.maskaae.experiment import MODEL_SETTINGS
        from acai_repro.maskaae.model import build_model

        return [build_model(p["model"], p["m"], d=D, **{k: p[k] for k in MODEL_SETTINGS})]
    if notebook == "gaia_attributes":
        from acai_repro.gaia.model import GAIA, L1Autoencoder

        return [GAIA(p["image_size"], p["width"], p["z_dim"]), L1Autoencoder(p["image_size"], p["width"], p["z_dim"])]
    if notebook == "aae_priors":
        from acai_repro.aae.model import build_model
        from acai_repro.aae.priors import build_prior

        return [build_model(p["model"], build_prior(p["prior"], p["z_dim"]), n_labels=p["n_labels"],
                            hidden=p["hidden"], layers=p["layers"])]
    raise ValueError(f"no trainer for notebook {notebook!r}; the GPU window trains {', '.join(TRAINERS)}")
