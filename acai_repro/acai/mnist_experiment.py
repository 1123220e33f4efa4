"""ACAI on MNIST, outside the notebook: train a baseline or ACAI, then its interpolations and downstream probes.

The notebook ``acai_mnist`` calls :func:`train_mnist` (train, or resume from the run folder), then
:func:`interpolation_grid` and :func:`downstream`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.models import build_model
from acai_repro.acai.probes import clustering_accuracy, linear_probe_accuracy
from acai_repro.common.batches import BatchSampler
from acai_repro.common.codes import encode_all, in_chunks
from acai_repro.training import Trained, train

CONV_CHANNELS = {32: 2, 256: 16}  # conv latent size -> channels of the 4 x 4 code (official mnist32 runs)
ALPHAS = tuple(np.round(np.linspace(0, 1, 11), 1))  # interpolation rows 0, 0.1, ..., 1 (the walk-through's grid)


def build_mnist_model(family: str, model: str, latent: int, *, lr: float = 1e-4, lambda_: float = 0.5,
                      gamma: float = 0.2, hidden: int = 1000, n_classes: int = 10) -> Autoencoder:
    """A fresh baseline / ACAI of one family with the official latent probe (``n_classes``); ``hidden``: MLP width."""
    extra = {"lambda_": lambda_, "gamma": gamma} if model == "acai" else {}
    if family == "conv" and latent not in CONV_CHANNELS:
        raise ValueError(f"conv latent must be one of {sorted(CONV_CHANNELS)}, got {latent!r}")
    if family == "mlp":
        return build_model(model, family="mlp", depth=hidden, latent=latent, lr=lr, n_classes=n_classes, **extra)
    return build_model(model, family=family, depth=16, latent_width=4, latent=CONV_CHANNELS.get(latent, latent),
                       lr=lr, n_classes=n_classes, **extra)


def train_mnist(run, x_train: torch.Tensor, y_train: torch.Tensor, test_set: tuple[torch.Tensor, torch.Tensor],
                progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) the model ``run.params`` names on random batches of the digits.

    Every ``eval_every`` steps (and at the end) the downstream metrics of :func:`downstream` are measured on the
    test digits with ``trace_restarts`` K-means restarts, into ``history.evals``: how the downstream claim moves with
    the training budget, in the run itself. The evaluation draws no torch random numbers, so it leaves the training
    trajectory (and an exact resume) untouched.
    """
    p = run.params
    model = build_mnist_model(p["family"], p["model"], p["latent"], lr=p["lr"], lambda_=p["lambda_"],
                              gamma=p["gamma"], hidden=p["hidden"]).to(run.device)
    data = BatchSampler(x_train, y_train, batch_size=p["batch"], seed=p["seed"])  # uniform, with replacement

    def evaluate(step: int) -> dict[str, float]:
        model.eval()
        metrics = downstream(model, (x_train, y_train), test_set, kmeans_restarts=p["trace_restarts"], seed=p["seed"])
        model.train()
        return metrics

    return train(model, data, steps=p["steps"], run_dir=run.dir, checkpoint_every=p["checkpoint_every"],
                 log_every=max(1, p["steps"] // 50), eval_fn=evaluate, eval_every=p["eval_every"] or None,
                 desc=f"{p['family']} {p['model']}", progress=progress)


@torch.no_grad()
def interpolation_grid(model: Autoencoder, x_a: torch.Tensor, x_b: torch.Tensor,
                       alphas=ALPHAS) -> torch.Tensor:
    """Decoded g((1 - alpha) f(x_a) + alpha f(x_b)) for each alpha: (len(alphas), P, C, H, W); row 0 decodes x_a."""
    z_a, z_b = model.encode(x_a), model.encode(x_b)  # (P, ...)
    return torch.stack([model.decode((1 - a) * z_a + a * z_b) for a in alphas])


@torch.no_grad()
def downstream(model: Autoencoder, train_set: tuple[torch.Tensor, torch.Tensor],
               test_set: tuple[torch.Tensor, torch.Tensor], kmeans_restarts: int = 100,
               seed: int = 0) -> dict[str, float]:
    """Test metrics of a trained model: reconstruction MSE, the two linear probes, K-means clustering accuracy."""
    (x_train, y_train), (x_test, y_test) = train_set, test_set
    z_train, z_test = encode_all(model, x_train).cpu(), encode_all(model, x_test).cpu()
    probe_logits = in_chunks(model.classify, x_test)
    squared_errors = in_chunks(lambda x: F.mse_loss(model.reconstruct(x), x, reduction="sum").view(1), x_test)
    mse = squared_errors.sum() / x_test.numel()
    return {
        "test_mse": mse.item(),
        "probe_acc": (probe_logits.argmax(1) == y_test).float().mean().item(),  # the paper's probe, trained alongside
        "linear_probe_acc": linear_probe_accuracy(z_train, y_train.cpu(), z_test, y_test.cpu()),  # post-hoc fit
        "clustering_acc": clustering_accuracy(z_train, z_test, y_test.cpu(), n_init=kmeans_restarts, seed=seed),
    }
