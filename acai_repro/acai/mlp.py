r"""The 1000-1000 MLP autoencoder family of the TF2 ACAI walk-through on MNIST, as baseline and ACAI.

The walk-through (seed ``003``) replaces the official conv nets by fully connected ones:

* encoder f: flatten -> 1000 -> 1000 -> latent (LeakyReLU(0.2) after the hidden layers, linear code);
* decoder g: latent -> 1000 -> 1000 -> pixels;
* critic d: flatten -> 1000 -> 1000 -> latent outputs, averaged to one scalar per image (as the conv critic averages
  its (latent, w, w) output).

Everything else is ACAI's (Berthelot et al. 2019, arXiv:1807.07543) and is *inherited*, not copied: the same losses
(:class:`~acai_repro.acai.acai.ACAI`: alpha in [0, 1/2], pairs by reversing the batch, lambda 0.5, gamma 0.2, the
critic on gamma x + (1 - gamma) x_hat), the same visible, separate updates, the same latent probe and optimisers
(:class:`~acai_repro.acai.base.Autoencoder`). Only the networks differ, through the ``make_nets`` /
``make_critic`` hooks.

Choices, and where they differ from the walk-through:

* The code z is kept shaped (B, latent, 1, 1), a 1 x 1 "latent image", so that ACAI's per-example alpha (B, 1, 1, 1),
  the mixing and the probe apply unchanged. ``encode(x).flatten(1)`` is the plain (B, latent) vector.
* Data are the project's padded 32 x 32 MNIST in [-1, 1] (1024 inputs), the same as the conv family, and the decoder
  output is linear like the official one; the walk-through feeds 28 x 28 digits in [0, 1] to a sigmoid output.
* Hidden layers start from Keras' ``VarianceScaling(scale=0.2, mode="fan_in", distribution="truncated_normal")``
  as in the walk-through; the output layers from Keras' default (Glorot uniform, zero bias).
* No dropout (the walk-through's class default is 0.0; its example run uses 0.5 in every hidden layer).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from acai_repro.acai.acai import ACAI
from acai_repro.acai.base import Autoencoder
from acai_repro.acai.baselines import Baseline
from acai_repro.acai.nets import LEAKY_SLOPE
from acai_repro.common.mlp import glorot_uniform, keras_variance_scaling, mlp

HIDDEN = 1000  # width of both hidden layers in the walk-through


def mlp_layers(n_in: int, hidden: int, n_out: int) -> list[nn.Module]:
    """n_in -> hidden -> hidden -> n_out, LeakyReLU(0.2) after each hidden layer, linear output; hidden layers
    initialised like the walk-through's Keras VarianceScaling(0.2), the output like Keras' default Dense."""
    return list(mlp([n_in, hidden, hidden, n_out], lambda: nn.LeakyReLU(LEAKY_SLOPE), keras_variance_scaling(0.2),
                    glorot_uniform))


class MLPEncoder(nn.Sequential):
    """f: (B, colors, size, size) -> (B, latent, 1, 1)."""

    def __init__(self, n_pixels: int, hidden: int, latent: int) -> None:
        super().__init__(nn.Flatten(), *mlp_layers(n_pixels, hidden, latent), nn.Unflatten(1, (latent, 1, 1)))


class MLPDecoder(nn.Sequential):
    """g: (B, latent, 1, 1) -> (B, colors, size, size), linear output."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: int, latent: int) -> None:
        super().__init__(nn.Flatten(), *mlp_layers(latent, hidden, math.prod(image_shape)), nn.Unflatten(1, image_shape))


class MLPCritic(nn.Module):
    """d: (B, colors, size, size) -> (B,): an MLP with ``latent`` outputs, averaged (the walk-through's reduce_mean)."""

    def __init__(self, n_pixels: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *mlp_layers(n_pixels, hidden, latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(dim=1)  # (B, latent) -> (B,)


class MLPNets:
    """Mixin: the MLP networks in place of the conv ones. ``depth`` is the hidden width (walk-through: 1000)."""

    def make_nets(self, depth: int, latent: int, colors: int, size: int) -> tuple[nn.Module, nn.Module]:
        return MLPEncoder(colors * size * size, depth, latent), MLPDecoder((colors, size, size), depth, latent)

    def make_critic(self, depth: int) -> nn.Module:
        n_pixels = math.prod(self.decoder[-1].unflattened_size)  # colors * size * size
        return MLPCritic(n_pixels, depth, self.latent_shape[0])


class MLPBaseline(MLPNets, Baseline):
    """Plain MLP autoencoder: minimise MSE(x, g(f(x))); optimiser "ae" (and "probe")."""


class MLPACAI(MLPNets, ACAI):
    """MLP autoencoder + MLP critic trained by the ACAI game; optimisers "ae", "critic" (and "probe")."""


MLP_MODELS: dict[str, type[Autoencoder]] = {"baseline": MLPBaseline, "acai": MLPACAI}
