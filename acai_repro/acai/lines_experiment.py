"""One Table 1 run on the lines benchmark: the experiment, the official evaluation and the run's value.

The paper trains each autoencoder on 2^24 fresh random lines (batch 64), runs the official interpolation evaluation
(:func:`acai_repro.acai.lines_eval.evaluate_autoencoder`: 256 test pairs, 16 steps) every 65,536 images, and reports
for each run the **median of the last 20 evaluations** (:func:`run_value`); Table 1 then shows the mean +- std of
that value over re-runs. The notebook ``acai_lines`` trains (or resumes) one run with one call::

    x_test, theta_test = test_lines(512, device=run.device)
    trained = train_lines(run, x_test, theta_test)  # run.params: model, seed, images, batch, lr, depth, ...
    value = run_value(trained.history.evals)  # {"mean_distance_e3": ..., "smoothness": ..., ...}
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.lines_eval import INTERPOLATION_STEPS, evaluate_autoencoder, interpolate_latents
from acai_repro.acai.models import build_model
from acai_repro.checkpoints import atomic_write_bytes
from acai_repro.data.lines import N_CLASSES, LinesSampler, angle_labels
from acai_repro.device import seed_everything
from acai_repro.training import Trained, train

LAST_EVALUATIONS = 20  # the paper's run value: median over the last 20 evaluations
EVAL_METRICS = ("mean_distance_e3", "smoothness", "nan_pairs", "probe_accuracy")


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


def train_lines(run, x_test: torch.Tensor, theta_test: torch.Tensor, progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) one run of Table 1 with ``run.params`` on ``run.device``.

    The model ``params["model"]`` starts from the weights ``seed_everything(seed)`` gives, with the official lines
    settings (:func:`~acai_repro.acai.models.build_model`) and the 10-way angle probe; it trains on
    ``images // batch`` batches of fresh lines from ``LinesSampler(batch, device, seed=seed)`` and is evaluated on
    ``x_test`` every ``eval_every_images`` images and at the end.
    """
    p = run.params
    seed_everything(p["seed"])
    model = build_model(p["model"], depth=p["depth"], lr=p["lr"], n_classes=N_CLASSES).to(run.device)
    steps = p["images"] // p["batch"]
    return train(model, LinesSampler(p["batch"], run.device, seed=p["seed"]), steps=steps, run_dir=run.dir,
                 checkpoint_every=max(1, p["checkpoint_every_images"] // p["batch"]),
                 log_every=max(1, min(64, steps // 32)), eval_fn=make_eval_fn(model, x_test, theta_test),
                 eval_every=max(1, p["eval_every_images"] // p["batch"]), desc=p["model"], progress=progress)


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
