r"""GAIA's losses, its sigmoid balancing and its interpolation scheme (Sainburg et al. 2018, arXiv:1807.06650).

Notation: G is the generator autoencoder (z = G_enc(x), G(x) = G_dec(z)), D the discriminator autoencoder, and
|a - b| the *mean* absolute error over batch and pixels. With z_i the interpolated codes (:func:`interpolate`):

.. math::

    L_r = |x - D(x)|, \quad L_{fr} = |x - D(G(x))|, \quad L_{fs} = |G(z_i) - D(G(z_i))|,
    \quad L_f = (L_{fr} + L_{fs}) / 2

As in BEGAN, D learns to autoencode real images well (L_r small) and generated ones badly (L_f large); G learns
to produce images D autoencodes well, i.e. reconstructions and interpolations that D takes for real faces.
Every balancing weight below is a sigmoid with slope 20 of a difference of losses, computed on detached values: it
steers how much each term counts, it is not itself trained.
"""
from __future__ import annotations

import torch

SLOPE = 20.0  # the official sigmoid slope


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element."""
    return (a - b).abs().mean()


def draw_alpha(pairs: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """alpha ~ N(0.5, 0.25^2), one per pair, *not* clipped (a few fall outside [0, 1]: mild extrapolations)."""
    return 0.5 + 0.25 * torch.randn(pairs, 1, generator=generator, device=device)


def interpolate(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """z_i for a batch of codes z (B, D), B even, alpha (B, 1).

    The batch is split into halves A = z[:B/2] and B = z[B/2:]; row k < B/2 mixes A_k with B_k and row B/2 + k
    mixes the reversed half A_{B/2-1-k} with B_k, each with its own alpha: alpha z_A + (1 - alpha) z_B.
    """
    half = len(z) // 2
    if len(z) != 2 * half:
        raise ValueError(f"GAIA interpolates between batch halves: the batch size must be even, got {len(z)}")
    z_a, z_b = z[:half], z[half:]
    z_a = torch.cat([z_a, z_a.flip(0)])  # (B, D): A, then A reversed
    z_b = torch.cat([z_b, z_b])  # (B, D)
    return alpha * z_a + (1 - alpha) * z_b


def balanced_learning_rates(loss_r: float | torch.Tensor, loss_f: float | torch.Tensor,
                            lr_max: float) -> tuple[float, float]:
    """(lr_D, lr_G) = lr_max (sigmoid(20 (L_r - L_f)), 1 - sigmoid(20 (L_r - L_f))).

    While D reconstructs real images worse than it reconstructs fakes (L_r > L_f), D is losing: it gets the larger
    share of the learning rate; when D wins, G gets it.
    """
    share = torch.sigmoid(SLOPE * torch.as_tensor(loss_r - loss_f, dtype=torch.float64)).item()
    return lr_max * share, lr_max * (1 - share)


def discriminator_loss(loss_r: torch.Tensor, loss_fr: torch.Tensor, loss_fs: torch.Tensor) -> torch.Tensor:
    """L_D = clip(L_r - p_f L_f, -1, 1) with p_f = clip(sigmoid(20 (L_fs / 2 - L_r)), 0, 0.9), L_f = (L_fr + L_fs) / 2.

    p_f lets D push fakes away only once it autoencodes real images well compared with interpolations (BEGAN's
    equilibrium idea); the cap 0.9 keeps the real term dominant.
    """
    loss_f = (loss_fr + loss_fs) / 2
    p_f = torch.sigmoid(SLOPE * (0.5 * loss_fs - loss_r)).detach().clamp(0.0, 0.9)
    return (loss_r - p_f * loss_f).clamp(-1.0, 1.0)


def generator_loss(loss_fr: torch.Tensor, loss_fs: torch.Tensor, loss_dist: torch.Tensor,
                   dist_weight: float = 5e-5) -> torch.Tensor:
    """L_G = clip(p_s L_fs + (1 - p_s) L_fr + 5e-5 L_dist, -1, 1) with p_s = clip(sigmoid(20 (L_fs - L_fr)), 0, 1).

    p_s puts the weight on whichever is worse: interpolations (L_fs) or reconstructions through D (L_fr).
    """
    p_s = torch.sigmoid(SLOPE * (loss_fs - loss_fr)).detach().clamp(0.0, 1.0)
    return (p_s * loss_fs + (1 - p_s) * loss_fr + dist_weight * loss_dist).clamp(-1.0, 1.0)


def pairwise_sq_distances(a: torch.Tensor) -> torch.Tensor:
    """(B, B) squared Euclidean distances between the rows of a (B, ...) batch (flattened)."""
    flat = a.flatten(1)
    return (flat[:, None, :] - flat[None, :, :]).pow(2).sum(-1)


def distance_loss(x: torch.Tensor, z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""The structure-consistency loss: the batch's pairwise distances in z should match those in x.

    .. math::

        d_x = \frac{\|x_i - x_j\|^2}{\operatorname{mean}_{i,j}\|x_i - x_j\|^2}, \quad
        d_z = \frac{\|z_i - z_j\|^2}{\operatorname{mean}_{i,j}\|z_i - z_j\|^2}, \quad
        L_{dist} = \operatorname{mean}_{i,j} \left(\log(1 + d_x) - \log(1 + d_z)\right)^2

    Means run over all B^2 ordered pairs (the zero diagonal included). The natural log, as the reference's reading
    of the official code; the blog post (seed 001) writes log2, which only scales the loss by 1 / ln(2)^2.
    """
    d_x, d_z = pairwise_sq_distances(x), pairwise_sq_distances(z)
    d_x, d_z = d_x / (d_x.mean() + eps), d_z / (d_z.mean() + eps)
    return (torch.log1p(d_x) - torch.log1p(d_z)).pow(2).mean()
