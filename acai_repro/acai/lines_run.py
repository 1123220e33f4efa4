"""One Table 1 run on the lines benchmark: the step, the official evaluation and the run's value.

The paper trains each autoencoder on 2^24 fresh random lines (batch 64), runs the official interpolation evaluation
(:func:`acai_repro.metrics.lines.evaluate_autoencoder`: 256 test pairs, 16 steps) every 65,536 images, and reports
for each run the **median of the last 20 evaluations** (:func:`run_value`); Table 1 then shows the mean +- std of
that value over re-runs. The notebook ``acai_lines`` calls :func:`train_lines`, which glues these pieces to
:class:`acai_repro.training.Trainer`::

    x_test, theta_test = test_lines(512, device=device)
    trained = train_lines("acai", seed, steps=2**24 // 64, batch=64, lr=1e-4, depth=16, device=device,
                          run_dir=run_dir, checkpoint_every=2**14, log_every=64, eval_every=65_536 // 64,
                          x_test=x_test, theta_test=theta_test, train_path="fast")
    value = run_value(trained.history.evals)  # {"mean_distance_e3": ..., "smoothness": ..., ...}
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.params import TRAIN_PATHS
from acai_repro.checkpoints import atomic_write_bytes
from acai_repro.data.lines import LinesSampler, angle_labels
from acai_repro.fast import FastFeatures, build_seeded_models, train_ensemble
from acai_repro.fast.train import BATCHED_MODELS
from acai_repro.metrics.lines import INTERPOLATION_STEPS, evaluate_autoencoder, interpolate_latents
from acai_repro.training import History, Trainer

LAST_EVALUATIONS = 20  # the paper's run value: median over the last 20 evaluations
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


@dataclass
class TrainedRun:
    """What :func:`train_lines` returns: the trained model, its History, the path it took and, on the fast path,
    the :class:`~acai_repro.fast.FastFeatures` that ran (empty on the eager path)."""

    model: Autoencoder
    history: History
    path: str
    features: dict[str, bool]

    def describe(self) -> str:
        """``"eager path"``, or the fast path and what sped it up, e.g. ``"fast path (compile, cuda_graphs)"``."""
        if self.path == "eager":
            return "eager path (the model's own train_step)"
        ran = [name for name, on in self.features.items() if on]
        return f"fast path ({', '.join(ran) if ran else 'one functional program, uncompiled'})"


def fast_features(device: torch.device | str) -> FastFeatures:
    """What ``train_path="fast"`` turns on. On CUDA, where a step of these tiny nets is bound by kernel launches,
    not arithmetic: ``torch.compile`` and one CUDA graph for the whole step. On a CPU neither (CUDA graphs need
    CUDA; compiling takes minutes there for a 1.14x faster step, benchmarks/bench-cpu-compile-2026-11-23.json),
    and no vmap, which only adds overhead for one model: the plain functional step, somewhat slower than the eager
    one on a CPU (README, Training speed), so ``eager`` stays the default there."""
    cuda = torch.device(device).type == "cuda"
    return FastFeatures(compile=cuda, cuda_graphs=cuda, vmap=cuda)


def train_lines(model_name: str, seed: int, *, steps: int, batch: int, lr: float, depth: int,
                device: torch.device | str, run_dir: str | PathLike | None, checkpoint_every: int, log_every: int,
                eval_every: int, x_test: torch.Tensor, theta_test: torch.Tensor, train_path: str = "eager",
                progress: bool = True) -> TrainedRun:
    """One run of Table 1: ``model_name`` from the weights ``seed_everything(seed)`` gives, trained for ``steps``
    batches of ``LinesSampler(batch, device, seed=seed)``, evaluated on ``x_test`` every ``eval_every`` steps and
    at the end; checkpoints and resume in ``run_dir``.

    ``train_path="eager"`` calls the model's own ``train_step``. ``"fast"`` trains ACAI as a one-model
    :class:`~acai_repro.fast.ACAIEnsemble` with :func:`fast_features`: the same updates written as one functional
    program (bit for bit the eager run on a CPU; compiled, within float tolerance); the other models have no such
    program and take the eager path.
    """
    if train_path not in TRAIN_PATHS:
        raise ValueError(f"train_lines: train_path must be one of {', '.join(TRAIN_PATHS)}, got {train_path!r}")

    def evaluate(net: Autoencoder) -> dict[str, float]:
        return make_eval_fn(net, x_test, theta_test)(0)

    if train_path == "fast" and model_name in BATCHED_MODELS:
        result = train_ensemble(model_name, [seed], steps, batch_size=batch, device=device, depth=depth, lr=lr,
                                features=fast_features(device), run_dir=run_dir, checkpoint_every=checkpoint_every,
                                log_every=log_every, eval_fn=evaluate, eval_every=eval_every, progress=progress)
        return TrainedRun(result.models[0], result.histories[0], "fast", result.features)
    (net,) = build_seeded_models(model_name, [seed], device, depth, lr)
    sampler = LinesSampler(batch, device, seed=seed)  # in the checkpoint, so a resumed run continues the stream
    trainer = Trainer({"model": net, "optimizers": net.optimizers, "data": sampler}, steps, run_dir,
                      checkpoint_every, log_every, desc=model_name, progress=progress)
    history = trainer.fit(make_step_fn(net, sampler), make_eval_fn(net, x_test, theta_test), eval_every)
    return TrainedRun(net, history, "eager", {})


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
