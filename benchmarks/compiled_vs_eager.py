"""Compiled vs eager fast path: the losses of the first 8 steps from the same seed (CPU, one thread).

Usage: OMP_NUM_THREADS=1 python benchmarks/compiled_vs_eager.py > benchmarks/compiled-vs-eager-cpu-DATE.json
(about 3 minutes here, most of it Inductor compiling the step). CI tests only the compiled path's fallback.
"""
import json

import torch

from acai_repro.device import seed_everything
from acai_repro.fast import ACAIEnsemble, EnsembleLines, FastFeatures, build_seeded_models, ensemble_step_fn

STEPS = 8


def losses(compile_step: bool) -> list[dict[str, float]]:
    """Per-step losses of one seeded ACAI on fresh lines, through the fast path."""
    seed_everything(0)
    ensemble = ACAIEnsemble(build_seeded_models("acai", [0], "cpu"), FastFeatures(compile=compile_step))
    step = ensemble_step_fn(ensemble, EnsembleLines(64, [0], "cpu"))
    return [{name: float(value) for name, value in step(i).items()} for i in range(STEPS)]


if __name__ == "__main__":
    torch.set_num_threads(1)
    eager, compiled = losses(False), losses(True)
    worst = max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-8) for a, b in zip(eager, compiled) for k in a)
    print(json.dumps({"steps": STEPS, "max_relative_difference": worst, "eager_last": eager[-1],
                      "compiled_last": compiled[-1]}, indent=1))
