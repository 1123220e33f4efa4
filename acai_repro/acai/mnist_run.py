"""What the ACAI MNIST notebook does, outside the notebook: build a model, draw batches, train, evaluate.

The notebook stays thin: it calls :func:`build`, trains with :class:`~acai_repro.training.Trainer` on a
:class:`BatchSampler`, then :func:`encode_all`, :func:`interpolation_grid` and :func:`downstream`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.mlp import build_mlp_model
from acai_repro.acai.models import build_model
from acai_repro.metrics.probes import clustering_accuracy, linear_probe_accuracy

CONV_CHANNELS = {32: 2, 256: 16}  # conv latent size -> channels of the 4 x 4 code (official mnist32 runs)
ALPHAS = tuple(np.round(np.linspace(0, 1, 11), 1))  # interpolation rows 0, 0.1, ..., 1 (the walk-through's grid)


def build(family: str, model: str, latent: int, *, lr: float = 1e-4, lambda_: float = 0.5, gamma: float = 0.2,
          hidden: int = 1000, n_classes: int = 10) -> Autoencoder:
    """A fresh baseline / ACAI of one family with the official latent probe (``n_classes``); ``hidden``: MLP width."""
    extra = {"lambda_": lambda_, "gamma": gamma} if model == "acai" else {}
    if family == "mlp":
        return build_mlp_model(model, hidden=hidden, latent=latent, lr=lr, n_classes=n_classes, **extra)
    if family == "conv":
        if latent not in CONV_CHANNELS:
            raise ValueError(f"conv latent must be one of {sorted(CONV_CHANNELS)}, got {latent!r}")
        return build_model(model, depth=16, latent_width=4, latent=CONV_CHANNELS[latent], lr=lr,
                           n_classes=n_classes, **extra)
    raise ValueError(f"family must be 'conv' or 'mlp', got {family!r}")


class BatchSampler:
    """Random minibatches (x, label) of a dataset held on the device; indices uniform with replacement.

    Its generator is checkpointable (``state_dict``), so a resumed run draws the same batches.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(self.images), (self.batch_size,), generator=self.generator)
        index = index.to(self.images.device)
        return self.images[index], self.labels[index]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


@torch.no_grad()
def encode_all(model: Autoencoder, images: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Flattened codes (N, D) of many images, in chunks."""
    return torch.cat([model.encode(images[i:i + chunk]).flatten(1) for i in range(0, len(images), chunk)])


@torch.no_grad()
def interpolation_grid(model: Autoencoder, x_a: torch.Tensor, x_b: torch.Tensor,
                       alphas=ALPHAS) -> torch.Tensor:
    """Decoded g((1 - alpha) f(x_a) + alpha f(x_b)) for each alpha: (len(alphas), P, C, H, W); row 0 decodes x_a."""
    z_a, z_b = model.encode(x_a), model.encode(x_b)  # (P, ...)
    return torch.stack([model.decode((1 - a) * z_a + a * z_b) for a in alphas])


@torch.no_grad()
def downstream(model: Autoencoder, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
               kmeans_restarts: int = 100, seed: int = 0) -> dict[str, float]:
    """Test metrics of a trained model: reconstruction MSE, the two linear probes, K-means clustering accuracy."""
    (x_train, y_train), (x_test, y_test) = train, test
    z_train, z_test = encode_all(model, x_train).cpu(), encode_all(model, x_test).cpu()
    probe_logits = torch.cat([model.classify(x_test[i:i + 500]) for i in range(0, len(x_test), 500)])
    mse = torch.stack([F.mse_loss(model.reconstruct(x_test[i:i + 500]), x_test[i:i + 500], reduction="sum")
                       for i in range(0, len(x_test), 500)]).sum() / x_test.numel()
    return {
        "test_mse": mse.item(),
        "probe_acc": (probe_logits.argmax(1) == y_test).float().mean().item(),  # the paper's probe, trained alongside
        "linear_probe_acc": linear_probe_accuracy(z_train, y_train.cpu(), z_test, y_test.cpu()),  # post-hoc fit
        "clustering_acc": clustering_accuracy(z_train, z_test, y_test.cpu(), n_init=kmeans_restarts, seed=seed),
    }
