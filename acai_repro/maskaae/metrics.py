r"""MaskAAE's evaluation on vectors: Frechet distance, NAC and the active-dimension count.

* Frechet distance between two samples, each summarised by its mean and covariance (Heusel et al. 2017):

  .. math:: FD = \lVert \mu_1 - \mu_2 \rVert^2 + \mathrm{tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\big)

  The paper's FID computes it on Inception features of images; on the 128-D synthetic vectors it is computed on
  the raw vectors (no feature network), with scipy's matrix square root.
* NAC, the mean off-diagonal normalised absolute covariance of the codes: with C the sample covariance,
  NAC = mean over i != j of |C_ij| / sqrt(C_ii C_jj). It is 0 for an isotropic Gaussian (up to sampling noise of
  order 1 / sqrt(N)); for MaskAAE only the active (unmasked) dimensions count, as in the paper.
* Active dimensions: the number of mask entries alpha_i >= 0.1 (official threshold).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from acai_repro.maskaae.model import ACTIVE_THRESHOLD


def _numpy(a) -> np.ndarray:
    return (a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)).astype(np.float64)


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2) -> float:
    """FD between N(mu1, sigma1) and N(mu2, sigma2), using scipy.linalg.sqrtm for (sigma1 sigma2)^(1/2)."""
    mu1, mu2, sigma1, sigma2 = map(_numpy, (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: nudge both, as the reference FID implementation does
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)  # discard the tiny imaginary part that rounding leaves
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance(x, y) -> float:
    """FD between two samples (N, D) and (M, D) (tensors or arrays), from their means and covariances."""
    x, y = _numpy(x), _numpy(y)
    cov = lambda a: np.atleast_2d(np.cov(a, rowvar=False))  # (D, D), also for D = 1
    return frechet_distance_from_moments(x.mean(0), cov(x), y.mean(0), cov(y))


def nac(codes, keep=None) -> float:
    """Mean off-diagonal |C_ij| / sqrt(C_ii C_jj) of codes (N, m); ``keep`` (bool mask (m,)) picks dimensions.

    NaN when fewer than two dimensions are kept (there is no off-diagonal entry).
    """
    z = _numpy(codes)
    if keep is not None:
        z = z[:, _numpy(keep).astype(bool)]
    if z.shape[1] < 2:
        return float("nan")
    corr = np.abs(np.corrcoef(z, rowvar=False))  # (k, k): covariance normalised by the standard deviations
    off_diagonal = ~np.eye(len(corr), dtype=bool)
    return float(corr[off_diagonal].mean())


def active_mask(alpha) -> torch.Tensor:
    """Which dimensions are active: alpha >= 0.1 (official), as a bool tensor (m,)."""
    return torch.as_tensor(_numpy(alpha)) >= ACTIVE_THRESHOLD


def active_dims(alpha) -> int:
    """The number of active dimensions."""
    return int(active_mask(alpha).sum())
