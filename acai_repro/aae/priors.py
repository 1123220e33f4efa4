r"""The priors p(z) an adversarial autoencoder imposes on its codes (Makhzani et al. 2015, arXiv:1511.05644).

An AAE only needs to *sample* its prior: the discriminator sees prior samples as "real" and codes as "fake". So
every prior here is first a sampler, ``prior.sample(n, labels=None, generator=None) -> (n, dim)``:

* :class:`GaussianPrior`: the spherical Gaussian N(0, std^2 I) (paper Figure 2a/2c), any dimension.
* :class:`MixturePrior`: the mixture of 10 2-D Gaussians in the layout every public implementation copies:
  component k draws (a, b) with a ~ N(0, 0.5^2) (radial) and b ~ N(0, 0.05^2) (tangential), rotates by
  r = 2 pi k / 10 and shifts by 1.4 (cos r, sin r) (Figure 2b/2d, 4a).
* :class:`SwissRollPrior`: component k draws u = (U(0, 1) + k) / 10, then the point at radius 3 sqrt(u) and angle
  4 pi sqrt(u): the ten labels follow one another along the roll's axis (Figure 4c).
* :class:`SampledPrior`: any prior the user gives as a sampling function ``fn(n, generator) -> (n, dim)``.

The mixture and the swiss roll have 10 components. ``labels`` (n,) selects each sample's component; a label of
:data:`UNLABELLED` (-1) draws from the full prior, which is what the label-conditioned AAE's discriminator sees for
unlabelled images. ``component_of(z)`` tells which component a code falls in (the classification of section 2.3).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

UNLABELLED = -1  # label of an image without a label: the full prior, and the 11th class of the one-hot
N_COMPONENTS = 10


def _labels_or_uniform(n: int, labels: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
    """Each sample's component k: the given label, or uniform in 0..9 where there is none (or it is -1)."""
    drawn = torch.randint(N_COMPONENTS, (n,), generator=generator)
    if labels is None:
        return drawn
    labels = labels.to("cpu", torch.int64)
    if labels.shape != (n,) or ((labels < UNLABELLED) | (labels >= N_COMPONENTS)).any():
        raise ValueError(f"labels must be an (n,) = ({n},) tensor of 0..9 or {UNLABELLED} (unlabelled)")
    return torch.where(labels == UNLABELLED, drawn, labels)


class Prior:
    """A sampler of p(z); subclasses with components also implement :meth:`component_of`."""

    dim: int
    name: str
    n_components: int | None = None

    def sample(self, n: int, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, dim) float32 samples on the CPU (move them to the device of the codes)."""
        raise NotImplementedError

    def component_of(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) index of the component each code (n, dim) falls in."""
        raise ValueError(f"the {self.name} prior has no components")


class GaussianPrior(Prior):
    """p(z) = N(0, std^2 I_dim)."""

    def __init__(self, dim: int = 2, std: float = 1.0) -> None:
        self.dim, self.std, self.name = dim, std, "gaussian"

    def sample(self, n, labels=None, generator=None):
        return self.std * torch.randn(n, self.dim, generator=generator)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), (n,)."""
        return (-0.5 * (z / self.std).pow(2) - math.log(self.std * math.sqrt(2 * math.pi))).sum(1)


class MixturePrior(Prior):
    """Ten 2-D Gaussians on a circle of radius ``shift``; component k has mean shift (cos r_k, sin r_k), r_k = 2 pi k
    / 10, and covariance R_k diag(radial_std^2, tangential_std^2) R_k^T (R_k the rotation by r_k)."""

    def __init__(self, shift: float = 1.4, radial_std: float = 0.5, tangential_std: float = 0.05) -> None:
        self.dim, self.name, self.n_components = 2, "mixture", N_COMPONENTS
        self.shift, self.radial_std, self.tangential_std = shift, radial_std, tangential_std
        r = 2 * math.pi * torch.arange(N_COMPONENTS) / N_COMPONENTS  # (10,)
        self.rotations = torch.stack([torch.stack([r.cos(), -r.sin()], 1), torch.stack([r.sin(), r.cos()], 1)], 1)
        self.means = shift * torch.stack([r.cos(), r.sin()], 1)  # (10, 2)

    def sample(self, n, labels=None, generator=None):
        k = _labels_or_uniform(n, labels, generator)  # (n,)
        ab = torch.randn(n, 2, generator=generator) * torch.tensor([self.radial_std, self.tangential_std])
        return torch.einsum("nij,nj->ni", self.rotations[k], ab) + self.means[k]  # rotate, then shift

    def local_coordinates(self, z: torch.Tensor) -> torch.Tensor:
        """(n, 10, 2): each code in every component's own (a, b) frame, in units of that axis's std."""
        d = z[:, None, :].cpu() - self.means  # (n, 10, 2)
        ab = torch.einsum("kji,nkj->nki", self.rotations, d)  # R_k^T d
        return ab / torch.tensor([self.radial_std, self.tangential_std])

    def component_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """(n, 10): log N(z; mean_k, cov_k), each component's own density (no mixture weight)."""
        u = self.local_coordinates(z)
        return -0.5 * u.pow(2).sum(2) - math.log(2 * math.pi * self.radial_std * self.tangential_std)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) of the equal-weight mixture, (n,)."""
        return torch.logsumexp(self.component_log_density(z), 1) - math.log(N_COMPONENTS)

    def component_of(self, z):
        return self.component_log_density(z).argmax(1)

    def inside_component(self, z: torch.Tensor, k: torch.Tensor, mass: float = 0.95) -> torch.Tensor:
        """(n,) bool: code i lies inside the ellipse of component k_i that holds ``mass`` of that component."""
        radius2 = -2 * math.log(1 - mass)  # chi-square(2) quantile: P(|u|^2 <= r^2) = 1 - exp(-r^2 / 2)
        u = self.local_coordinates(z)[torch.arange(len(z)), k.cpu()]  # (n, 2)
        return u.pow(2).sum(1) <= radius2


class SwissRollPrior(Prior):
    """Points along a swiss roll: u = (U(0, 1) + k) / 10, radius 3 sqrt(u), angle 4 pi sqrt(u)."""

    def __init__(self) -> None:
        self.dim, self.name, self.n_components = 2, "swiss_roll", N_COMPONENTS

    @staticmethod
    def point(u: torch.Tensor) -> torch.Tensor:
        """The roll at axis position u in [0, 1]: (n,) -> (n, 2)."""
        radius, angle = 3 * u.sqrt(), 4 * math.pi * u.sqrt()
        return torch.stack([radius * angle.cos(), radius * angle.sin()], 1)

    def sample(self, n, labels=None, generator=None):
        k = _labels_or_uniform(n, labels, generator)
        u = (torch.rand(n, generator=generator) + k) / N_COMPONENTS
        return self.point(u)

    def axis_position(self, z: torch.Tensor, resolution: int = 2000) -> torch.Tensor:
        """(n,) u of the nearest of ``resolution`` points along the axis: where a code projects onto the roll."""
        u = (torch.arange(resolution) + 0.5) / resolution
        return u[torch.cdist(z.cpu().float(), self.point(u)).argmin(1)]

    def component_of(self, z):
        return (self.axis_position(z) * N_COMPONENTS).long().clamp(max=N_COMPONENTS - 1)


class SampledPrior(Prior):
    """A prior given only by a sampling function ``fn(n, generator) -> (n, dim)``: all an AAE needs."""

    def __init__(self, fn: Callable[[int, torch.Generator | None], torch.Tensor], dim: int, name: str = "user") -> None:
        self.fn, self.dim, self.name = fn, dim, name

    def sample(self, n, labels=None, generator=None):
        if labels is not None and (labels.cpu() != UNLABELLED).any():
            raise ValueError(f"the {self.name} prior has no components to condition on labels")
        z = torch.as_tensor(self.fn(n, generator), dtype=torch.float32)
        if z.shape != (n, self.dim):
            raise ValueError(f"the {self.name} prior's sampler returned shape {tuple(z.shape)}, expected ({n}, {self.dim})")
        return z


PRIORS = ("gaussian", "mixture", "swiss_roll")


def build_prior(name: str, dim: int = 2) -> Prior:
    """One of :data:`PRIORS`; the mixture and the swiss roll are 2-D only."""
    if name == "gaussian":
        return GaussianPrior(dim)
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    if dim != 2:
        raise ValueError(f"the {name} prior is 2-D; got z_dim={dim} (use the gaussian prior for larger codes)")
    return MixturePrior() if name == "mixture" else SwissRollPrior()
