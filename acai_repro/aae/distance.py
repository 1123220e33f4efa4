r"""A two-sample distance between codes and prior samples: the sliced Wasserstein-1 distance.

For two sets of n points in R^D and K random unit directions theta_k, project both sets onto each direction; in
one dimension the Wasserstein-1 distance between two equal-size samples is the mean absolute difference of their
sorted values. The sliced distance averages that over the directions:

.. math::

    SW_1(A, B) = \frac{1}{K} \sum_k \frac{1}{n} \sum_i |(A \theta_k)_{(i)} - (B \theta_k)_{(i)}|

where ``(i)`` is the i-th smallest value. It is 0 when the samples coincide, is in the codes' own units, and needs no
density: so it scores the AAE's swiss roll as well as its Gaussian. All K projections are sorted at once (one matrix
product and one sort); ``tests/test_aae_distance.py`` checks it by hand and against scipy's one-dimensional
``wasserstein_distance``.
"""
from __future__ import annotations

import torch


def random_directions(k: int, dim: int, seed: int = 0) -> torch.Tensor:
    """(k, dim) unit vectors, uniform on the sphere, from a fixed seed (the same directions for every run)."""
    theta = torch.randn(k, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return theta / theta.norm(dim=1, keepdim=True)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, n_directions: int = 256, seed: int = 0) -> float:
    """SW_1 between samples a (n, D) and b (n, D) of the same size, over ``n_directions`` seeded directions."""
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"need two (n, D) samples of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    theta = random_directions(n_directions, a.shape[1], seed).to(a.device)  # (K, D)
    pa = (a.double() @ theta.T).sort(dim=0).values  # (n, K), each column sorted
    pb = (b.double() @ theta.T).sort(dim=0).values
    return (pa - pb).abs().mean().item()  # mean over i and k
