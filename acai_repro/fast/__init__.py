"""The fast training path: batches made on the device, K seeds batched with torch.func, optional torch.compile,
CUDA graphs and bf16 autocast (each with a fallback). :mod:`acai_repro.bench` measures it against a plain loop."""

from acai_repro.fast.compiled import FastFeatures
from acai_repro.fast.ensemble import ACAIEnsemble, EnsembleLines, ensemble_step_fn
from acai_repro.fast.train import EnsembleResult, build_lines_model, build_seeded_models, train_ensemble

__all__ = ["ACAIEnsemble", "EnsembleLines", "EnsembleResult", "FastFeatures", "build_lines_model",
           "build_seeded_models", "ensemble_step_fn", "train_ensemble"]
