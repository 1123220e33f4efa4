"""The training paths that ``acai-repro bench`` times (see :mod:`acai_repro.bench`), each as ``make(device, batch,
seed, features, k, workers, depth) -> (run, models)``: ``run(steps)`` trains that many batches, ``models`` is how
many models one step trains."""

from __future__ import annotations

import math
import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from acai_repro.data.lines import LinesSampler, angle_labels, draw_line
from acai_repro.fast.ensemble import ACAIEnsemble, EnsembleLines, ensemble_step_fn
from acai_repro.fast.train import build_seeded_models
from acai_repro.training import Trainer

PATHS = ("plain", "project", "fast", "ensemble")


class OfficialLines(IterableDataset):
    """Endless lines drawn one at a time by the official scalar renderer: (1, 32, 32) float32, int label."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __iter__(self):
        worker = get_worker_info()
        rng = np.random.default_rng([self.seed, 0 if worker is None else worker.id])
        while True:
            angle = rng.uniform(0.0, 2 * math.pi)
            yield torch.from_numpy(draw_line(angle)).float().unsqueeze(0), int(angle_labels(np.array([angle]))[0])


def _plain(device, batch, seed, features, k, workers, depth) -> tuple[Callable[[int], None], int]:
    (model,) = build_seeded_models("acai", [seed], device, depth)
    loader = iter(DataLoader(OfficialLines(seed), batch_size=batch, num_workers=workers,
                             pin_memory=device.type == "cuda"))

    def run(steps: int) -> None:
        for _ in range(steps):
            x, label = next(loader)
            model.train_step(x.to(device), label.to(device))

    return run, 1


def _project(device, batch, seed, features, k, workers, depth) -> tuple[Callable[[int], None], int]:
    (model,) = build_seeded_models("acai", [seed], device, depth)
    sampler = LinesSampler(batch, device, seed=seed)

    def run(steps: int) -> None:
        trainer = Trainer({"model": model, "optimizers": model.optimizers, "data": sampler}, steps, None,
                          checkpoint_every=steps, log_every=min(100, steps), progress=False)
        trainer.fit(lambda step: model.train_step(*sampler.next()))

    return run, 1


def _ensemble_runner(n_models: int):
    def make(device, batch, seed, features, k, workers, depth) -> tuple[Callable[[int], None], int]:
        seeds = list(range(seed, seed + (n_models or k)))
        ensemble = ACAIEnsemble(build_seeded_models("acai", seeds, device, depth), features)
        data = EnsembleLines(batch, seeds, device)
        step_fn = ensemble_step_fn(ensemble, data)

        def run(steps: int) -> None:
            Trainer({"ensemble": ensemble, "data": data}, steps, None, checkpoint_every=steps,
                    log_every=min(100, steps), progress=False).fit(step_fn)

        run.ensemble = ensemble  # lets the report say which features really ran
        return run, len(seeds)
    return make


RUNNERS = {"plain": _plain, "project": _project, "fast": _ensemble_runner(1), "ensemble": _ensemble_runner(0)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
