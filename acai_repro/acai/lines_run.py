"""One Table 1 run on the lines benchmark: the step, the official evaluation and the run's value.

The paper trains each autoencoder on 2^24 fresh random lines (batch 64), runs the official interpolation evaluation
(:func:`acai_repro.metrics.lines.evaluate_autoencoder`: 256 test pairs, 16 steps) every 65,536 images, and reports
for each run the **median of the last 20 evaluations** (:func:`run_value`); Table 1 then shows the mean +- std of
that value over re-runs. The notebook ``acai_lines`` glues these pieces to :class:`acai_repro.training.Trainer`::

    model = build_lines_model("acai", depth=16, lr=1e-4).to(device)
    sampler = LinesSampler(64, device, seed=seed)
    evaluate = make_eval_fn(model, *test_lines(512, device=device))
    trainer = Trainer({"model": model, "optimizers": model.optimizers, "data": sampler}, steps, run_dir, ...)
    history = trainer.fit(make_step_fn(model, sampler), evaluate, eval_every=65_536 // 64)
    value = run_value(history.evals)  # {"mean_distance_e3": ..., "smoothness": ..., ...}
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.models import build_model
from acai_repro.checkpoints import atomic_write_bytes
from acai_repro.data.lines import LinesSampler, N_CLASSES, angle_labels
from acai_repro.metrics.lines import INTERPOLATION_STEPS, evaluate_autoencoder, interpolate_latents

LAST_EVALUATIONS = 20  # the paper's run value: median over the last 20 evaluations
LATENT_WIDTH = {"vqvae": 4}  # the official lines run of the VQ-VAE uses a 4 x 4 latent; every other model 2 x 2
EVAL_METRICS = ("mean_distance_e3", "smoothness", "nan_pairs", "probe_accuracy")

# Table 1 of the paper (lines benchmark), mean +- std over re-runs: (Mean Distance x 10^3, std, Smoothness, std).
# Quoted from memory of the paper in the project notes (not re-read from the PDF here).
PAPER_TABLE1: dict[str, tuple[float, float, float, float]] = {
    "baseline": (6.88, 0.21, 0.44, 0.04),
    "dropout": (2.85, 0.54, 0.74, 0.02),
    "denoising": (4.21, 0.32, 0.66, 0.02),
    "vae": (1.21, 0.17, 0.49, 0.13),
    "aae": (3.26, 0.19, 0.14, 0.02),
    "vqvae": (5.41, 0.49, 0.77, 0.02),
    "acai": (0.24, 0.01, 0.10, 0.01),
}


def paper_values(model: str) -> dict[str, float]:
    """The paper's Table 1 means for one model, keyed like the run's metrics."""
    md, _, smooth, _ = PAPER_TABLE1[model]
    return {"mean_distance_e3": md, "smoothness": smooth}


def build_lines_model(name: str, *, depth: int = 16, lr: float = 1e-4) -> Autoencoder:
    """A Table 1 model with the official lines settings (latent 16 x 2 x 2, 4 x 4 for the VQ-VAE) and the
    10-way angle probe trained on its stop-gradient code."""
    return build_model(name, depth=depth, lr=lr, latent_width=LATENT_WIDTH.get(name, 2), n_classes=N_CLASSES)


def make_step_fn(model: Autoencoder, sampler: LinesSampler) -> Callable[[int], dict[str, torch.Tensor]]:
    """The Trainer's ``step_fn``: one fresh batch of lines, every update of the model (and its probe)."""

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        x, label = sampler.next()  # (B, 1, 32, 32), (B,)
        return model.train_step(x, label)

    return step_fn


def make_eval_fn(model: Autoencoder, x_test: torch.Tensor, theta_test: torch.Tensor) -> Callable[[int], dict]:
    """The Trainer's ``eval_fn``: the official interpolation evaluation on ``x_test`` (2P lines, line p paired with
    line P + p) plus the probe's accuracy on the same lines; the model is in eval mode only inside."""
    labels = angle_labels(theta_test)

    @torch.no_grad()
    def eval_fn(step: int) -> dict[str, float]:
        model.eval()
        try:
            score = evaluate_autoencoder(model.encode, model.decode, x_test)
            accuracy = (model.classify(x_test).argmax(1) == labels).double().mean().item()
        finally:
            model.train()
        return {"mean_distance_e3": score.mean_distance_e3, "smoothness": score.smoothness,
                "nan_pairs": score.nan_pairs, "probe_accuracy": accuracy}

    return eval_fn


def run_value(evals: Sequence[Mapping[str, float]], last: int = LAST_EVALUATIONS) -> dict[str, float]:
    """The paper's value of one run: for each metric, the median of the last ``last`` evaluations (all of them
    if fewer). Evaluations whose Smoothness is NaN (every pair NaN, e.g. blank decodes) are skipped for that
    metric; it is NaN only if all of them are."""
    if not evals:
        raise ValueError("run_value: the run has no evaluation")
    window = list(evals)[-last:]
    out: dict[str, float] = {}
    for name in EVAL_METRICS:
        values = np.array([row[name] for row in window if name in row], dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[name] = float(np.median(finite)) if len(finite) else math.nan
    out["evaluations"] = len(window)
    return out


@torch.no_grad()
def interpolation_strips(model: Autoencoder, x_test: torch.Tensor, n: int,
                         steps: int = INTERPOLATION_STEPS) -> np.ndarray:
    """Decoded latent interpolations between the first ``n`` evaluation pairs (line p and line P + p), exactly as
    the evaluation makes them: (n, steps, 32, 32) float32 in the decoder's raw range."""
    pairs = len(x_test) // 2
    model.eval()
    try:
        z = model.encode(torch.cat([x_test[:n], x_test[pairs:pairs + n]]))  # (2n, C, w, w)
        path = interpolate_latents(z[:n], z[n:], steps).flatten(0, 1)  # (n steps, C, w, w)
        images = model.decode(path)  # (n steps, 1, 32, 32)
    finally:
        model.train()
    return images.reshape(n, steps, *images.shape[-2:]).cpu().numpy().astype(np.float32)


def save_strips(path: Path, strip: np.ndarray) -> None:
    """Write the interpolation strips as ``.npy`` atomically (the Table 1 chapter reads them)."""
    buffer = io.BytesIO()
    np.save(buffer, strip)
    atomic_write_bytes(path, buffer.getvalue())
