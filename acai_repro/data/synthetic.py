r"""MaskAAE's synthetic data (Mondal et al. 2020, arXiv:1912.04564, section 5.1): x = f(z), z ~ N(0, I_n).

Nature is assumed to sample a "true" latent z in n dimensions and pass it through a fixed function f into
d = 128 dimensions. As in the paper, f is a fixed random two-layer fully connected network with leaky ReLU:

.. math::

    x = \mathrm{lrelu}(W_2\, \mathrm{lrelu}(W_1 z + b_1) + b_2), \qquad W_1 \in \mathbb{R}^{h \times n},\;
    W_2 \in \mathbb{R}^{d \times h}

The paper's hidden width and sample counts are lost from the text we have, so ours are stated here:
h = 64 hidden units (>= n, so with the leaky ReLU's slope 0.2 f is injective and the data manifold really has
dimension n), Gaussian weights with variance 2 / fan_in and biases N(0, 0.1^2), 20,000 training and 10,000 held-out
vectors. The output is standardised per coordinate with the training split's mean and standard deviation (part of f,
so mean squared errors are in units of each coordinate's variance).

Everything is drawn from generators seeded by (n, seed): the same n and seed always give the same f and the same data.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

D = 128  # data dimension d (paper: 128)
HIDDEN = 64  # hidden width h of f (our choice; the paper's value is lost)
N_TRAIN = 20_000  # training vectors (our choice)
N_TEST = 10_000  # held-out vectors, the "real" side of the Frechet distance (our choice)
SLOPE = 0.2  # leaky ReLU negative slope


@dataclass(frozen=True)
class SyntheticData:
    """Training and held-out vectors x = f(z) and their true latents z (float32 tensors on the CPU)."""

    n: int  # true latent dimension
    seed: int
    x_train: torch.Tensor  # (N_TRAIN, D)
    z_train: torch.Tensor  # (N_TRAIN, n)
    x_test: torch.Tensor  # (N_TEST, D)
    z_test: torch.Tensor  # (N_TEST, n)


def random_generator_weights(n: int, seed: int, hidden: int = HIDDEN, d: int = D) -> dict[str, torch.Tensor]:
    """The fixed weights of f for (n, seed): W1 (h, n), b1 (h,), W2 (d, h), b2 (d,), float64."""
    g = torch.Generator().manual_seed(1_000_003 * seed + n)  # one stream per (n, seed)
    w1 = torch.randn(hidden, n, generator=g, dtype=torch.float64) * (2.0 / n) ** 0.5
    b1 = 0.1 * torch.randn(hidden, generator=g, dtype=torch.float64)
    w2 = torch.randn(d, hidden, generator=g, dtype=torch.float64) * (2.0 / hidden) ** 0.5
    b2 = 0.1 * torch.randn(d, generator=g, dtype=torch.float64)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def apply_generator(z: torch.Tensor, weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """x = lrelu(W2 lrelu(W1 z + b1) + b2) for z (N, n) -> (N, d), before standardisation."""
    h = F.leaky_relu(z @ weights["w1"].T + weights["b1"], SLOPE)  # (N, h)
    return F.leaky_relu(h @ weights["w2"].T + weights["b2"], SLOPE)  # (N, d)


def make_synthetic(n: int, seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST,
                   hidden: int = HIDDEN, d: int = D) -> SyntheticData:
    """Draw the data set for true dimension n: z ~ N(0, I_n), x = f(z), standardised with training statistics."""
    if n < 1 or hidden < n:
        raise ValueError(f"need 1 <= n <= hidden ({hidden}) so that f is injective; got n={n}")
    weights = random_generator_weights(n, seed, hidden, d)
    g = torch.Generator().manual_seed(2_000_029 * seed + n + 7)  # the latent samples, apart from the weights
    z_train = torch.randn(n_train, n, generator=g, dtype=torch.float64)
    z_test = torch.randn(n_test, n, generator=g, dtype=torch.float64)
    x_train, x_test = apply_generator(z_train, weights), apply_generator(z_test, weights)
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-8)  # (d,): standardisation is part of f
    return SyntheticData(n, seed, ((x_train - mean) / std).float(), z_train.float(),
                         ((x_test - mean) / std).float(), z_test.float())
