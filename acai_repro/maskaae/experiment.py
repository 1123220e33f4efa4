"""The MaskAAE chapter's experiment: train a WAE or MaskAAE on the synthetic vectors, recording the mask.

The notebook ``maskaae_dimensionality`` calls :func:`train_maskaae` (train, or resume from the run folder); the
mask's values every ``trace_every`` steps (the paper's Figure 5) are the run's evaluations, also written to
``mask_trace.pt`` as arrays.
"""
from __future__ import annotations

import numpy as np
import torch

from acai_repro.checkpoints import atomic_save
from acai_repro.common.batches import BatchSampler
from acai_repro.maskaae.model import build_model
from acai_repro.training import Trained, train

# The notebook parameters passed to the model as they are.
MODEL_SETTINGS = ("width", "depth", "lr", "gp_weight", "n_critic", "reg_interval", "variance_weight",
                  "mask_rec_weight", "mask_lr", "mask_init", "mask_start", "optimizer", "bias_init")


def train_maskaae(run, x_train: torch.Tensor, progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) the model ``run.params`` names; each step draws one fresh batch of
    ``x_train`` (N, d) per update, uniformly with replacement, as the official code does."""
    p = run.params
    model = build_model(p["model"], p["m"], d=x_train.shape[1], **{k: p[k] for k in MODEL_SETTINGS}).to(run.device)
    data = BatchSampler(x_train, batch_size=p["batch_size"], seed=p["seed"], draws=model.updates_per_step)

    def trace_mask(step: int) -> dict[str, float]:
        return {f"alpha_{i}": value for i, value in enumerate(model.alpha.detach().cpu().tolist())}

    trained = train(model, data, steps=p["steps"], run_dir=run.dir, checkpoint_every=max(1, p["steps"] // 4),
                    log_every=p["trace_every"], eval_fn=trace_mask, eval_every=p["trace_every"],
                    desc=f"{p['model']} m={p['m']}", progress=progress)
    steps, alpha = mask_history(trained.history, p["m"])
    atomic_save({"steps": steps, "alpha": alpha}, run.dir / "mask_trace.pt")
    return trained


def mask_history(history, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps (T,), alpha (T, m)): the recorded mask values of a run."""
    steps = np.array([row["step"] for row in history.evals])
    return steps, np.array([[row[f"alpha_{i}"] for i in range(m)] for row in history.evals])
