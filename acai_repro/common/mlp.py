"""The one MLP builder, and the initialisers of the papers' TensorFlow / Keras code.

Each paper's official code builds its fully connected nets with its framework's defaults, and the project follows
them: :func:`glorot_uniform` (``tf.layers.dense``, Keras ``Dense``), :func:`glorot_normal` (the MaskAAE code),
:func:`keras_variance_scaling` (the TF2 ACAI walk-through's hidden layers), or PyTorch's own default (``None``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn

Init = Callable[[nn.Linear], None]


def glorot_uniform(layer: nn.Linear) -> None:
    """TensorFlow's default dense initialisation: Glorot-uniform weights, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)


def glorot_normal(layer: nn.Linear) -> None:
    """Glorot-normal weights, zero bias."""
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)


def keras_variance_scaling(scale: float = 0.2) -> Init:
    """Keras' VarianceScaling(scale, fan_in, truncated normal), zero bias.

    Keras draws N(0, s^2) truncated at 2 s with s = sqrt(scale / fan_in) / 0.8796 (the std of a unit normal
    truncated at +-2 is 0.8796, so the truncated draw has variance scale / fan_in).
    """

    def init(layer: nn.Linear) -> None:
        std = math.sqrt(scale / layer.in_features) / 0.87962566103423978
        nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.zeros_(layer.bias)

    return init


def dense(n_in: int, n_out: int, init: Init | None = glorot_uniform) -> nn.Linear:
    """One linear layer, initialised by ``init`` (``None``: PyTorch's default)."""
    layer = nn.Linear(n_in, n_out)
    if init is not None:
        init(layer)
    return layer


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU, init: Init | None = None,
        last_init: Init | None = None) -> nn.Sequential:
    """sizes[0] -> sizes[1] -> ... -> sizes[-1]: linear layers with ``activation`` between them, a linear output.

    ``init`` initialises the hidden layers and ``last_init`` the output layer (``None``: PyTorch's default). Layers
    are built and initialised in order, so a seeded build draws the same weights whatever ``init`` follows.
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(dense(n_in, n_out, last_init if last else init))
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)
