"""``train_ensemble``: several seeds of one Table 1 model on the lines, through the shared Trainer.

ACAI trains its K seeds as one batched program (:class:`~acai_repro.fast.ensemble.ACAIEnsemble`); every other
model trains its seeds one after the other with its own eager ``train_step`` (same API, same result type), so a
sweep can call one function for the whole of Table 1::

    result = train_ensemble("acai", seeds=[0, 1, 2], steps=2**18, device="cuda", run_dir=run_dir,
                            eval_fn=lambda model: evaluate(model), eval_every=1024)
    result.models[1]      # the trained model of seed 1 (an ordinary ACAI module, Adam state included)
    result.histories[1]   # its History: losses every log_every steps, evaluations every eval_every steps

Model k starts from the weights ``seed_everything(seeds[k])`` gives and reads the lines of
``LinesSampler(batch_size, device, seed=seeds[k])``, like a separate run with that seed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import torch

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.models import build_lines_model
from acai_repro.data.lines import LinesSampler
from acai_repro.device import seed_everything
from acai_repro.fast.compiled import FastFeatures
from acai_repro.fast.ensemble import ACAIEnsemble, EnsembleLines, ensemble_step_fn
from acai_repro.training import History, Trainer

BATCHED_MODELS = ("acai",)  # models whose seeds train as one vmapped program; the others loop over seeds


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns: per seed, the trained model and its history."""

    seeds: list[int]
    models: list[Autoencoder]
    histories: list[History]
    features: dict[str, bool] = field(default_factory=dict)  # the speed-ups that actually ran


def build_seeded_models(name: str, seeds: Sequence[int], device: torch.device | str, depth: int = 16,
                        lr: float = 1e-4) -> list[Autoencoder]:
    """One lines model per seed, each built right after ``seed_everything(seed)`` (a separate run's weights)."""
    models = []
    for seed in seeds:
        seed_everything(seed)
        models.append(build_lines_model(name, depth=depth, lr=lr).to(device))
    return models


def train_ensemble(
    model_name: str,
    seeds: Sequence[int],
    steps: int,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    depth: int = 16,
    lr: float = 1e-4,
    features: FastFeatures = FastFeatures(),
    run_dir: str | PathLike | None = None,
    checkpoint_every: int | None = None,
    log_every: int = 100,
    eval_fn: Callable[[Autoencoder], Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    progress: bool = True,
) -> EnsembleResult:
    """Train ``model_name`` on fresh lines for ``steps`` batches per seed; checkpoints and resume in ``run_dir``.

    ``eval_fn(model)`` (e.g. the official interpolation evaluation) runs on each seed's model every ``eval_every``
    steps and at the end. For ACAI the seeds train batched; any other model trains seed by seed (``run_dir/seed-S``).
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"train_ensemble: seeds must be distinct and non-empty, got {seeds}")
    device = torch.device(device)
    checkpoint_every = checkpoint_every or steps
    models = build_seeded_models(model_name, seeds, device, depth, lr)
    if model_name not in BATCHED_MODELS:
        return _train_one_by_one(model_name, seeds, models, steps, batch_size, device, run_dir, checkpoint_every,
                                 log_every, eval_fn, eval_every, progress)
    ensemble = ACAIEnsemble(models, features)
    data = EnsembleLines(batch_size, seeds, device)

    def ensemble_eval(step: int) -> dict[str, float]:
        trained = ensemble.sync_models()
        rows = {}
        for k, model in enumerate(trained):
            model.eval()
            try:
                rows.update({f"{name}@{k}": float(v) for name, v in eval_fn(model).items()})
            finally:
                model.train()
        return rows

    trainer = Trainer({"ensemble": ensemble, "data": data}, steps, run_dir, checkpoint_every, log_every,
                      desc=f"{model_name} x{len(seeds)}", progress=progress)
    history = trainer.fit(ensemble_step_fn(ensemble, data), ensemble_eval if eval_fn else None,
                          eval_every if eval_fn else None)
    return EnsembleResult(seeds, ensemble.sync_models(), split_history(history, len(seeds)),
                          ensemble.features.as_dict())


def split_history(history: History, k: int) -> list[History]:
    """Per-model Histories from one whose keys are ``"name@k"``."""
    def part(rows: list[dict[str, float]], i: int) -> list[dict[str, float]]:
        suffix = f"@{i}"
        return [{"step": row["step"], **{key[:-len(suffix)]: value for key, value in row.items()
                                        if key.endswith(suffix)}} for row in rows]
    return [History(part(history.losses, i), part(history.evals, i)) for i in range(k)]


def _train_one_by_one(name, seeds, models, steps, batch_size, device, run_dir, checkpoint_every, log_every,
                      eval_fn, eval_every, progress) -> EnsembleResult:
    histories = []
    for seed, model in zip(seeds, models):
        sampler = LinesSampler(batch_size, device, seed=seed)
        seed_everything(seed)  # the model's own randomness (noise, dropout, prior) as in a separate run

        def step_fn(step: int, model=model, sampler=sampler) -> dict[str, torch.Tensor]:
            return model.train_step(*sampler.next())

        def one_eval(step: int, model=model) -> dict[str, float]:
            model.eval()
            try:
                return dict(eval_fn(model))
            finally:
                model.train()

        trainer = Trainer({"model": model, "optimizers": model.optimizers, "data": sampler}, steps,
                          None if run_dir is None else Path(run_dir) / f"seed-{seed}", checkpoint_every,
                          log_every, desc=f"{name} seed {seed}", progress=progress)
        histories.append(trainer.fit(step_fn, one_eval if eval_fn else None, eval_every if eval_fn else None))
    return EnsembleResult(seeds, models, histories, FastFeatures().as_dict())
