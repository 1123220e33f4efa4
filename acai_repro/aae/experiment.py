"""The AAE chapter's experiment: hide labels, train (or resume), score the codes, walk the code space."""
from __future__ import annotations

import contextlib
import io
import math

import torch
from prdc import compute_prdc
from scipy.stats import norm

from acai_repro.aae.distance import sliced_wasserstein
from acai_repro.aae.model import VAE, build_model
from acai_repro.aae.priors import N_COMPONENTS, UNLABELLED, MixturePrior, Prior, SwissRollPrior
from acai_repro.common.batches import BatchSampler
from acai_repro.common.codes import encode_all
from acai_repro.training import Trained, train


def hide_labels(labels: torch.Tensor, n_labels: int, seed: int = 0) -> torch.Tensor:
    """Keep ``n_labels`` labels, ``n_labels / 10`` per digit chosen at random (seeded); the rest become -1."""
    if n_labels % N_COMPONENTS:
        raise ValueError(f"n_labels must be a multiple of {N_COMPONENTS} (balanced over the digits), got {n_labels}")
    per_class = n_labels // N_COMPONENTS
    counts = torch.bincount(labels, minlength=N_COMPONENTS)
    if per_class > counts.min():
        raise ValueError(f"n_labels={n_labels} needs {per_class} images per digit; the rarest digit has {counts.min()}")
    rank = torch.empty(len(labels), dtype=torch.int64)  # each image's random rank within its own digit
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    shuffled = labels[order]
    for digit in range(N_COMPONENTS):  # 10 vectorised steps, one per digit
        where = order[shuffled == digit]
        rank[where] = torch.arange(len(where))
    return torch.where(rank < per_class, labels, torch.full_like(labels, UNLABELLED))


def train_priors(run, prior: Prior, x_train: torch.Tensor, y_seen: torch.Tensor, progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) the model ``run.params`` names with the prior ``prior``, on shuffled
    epochs of the training images; ``y_seen`` holds each image's label or -1 (only the conditioned AAE reads it)."""
    p = run.params
    model = build_model(p["model"], prior, n_labels=p["n_labels"], hidden=p["hidden"], layers=p["layers"],
                        lr=p["lr"], lr_adv=p["lr_adv"]).to(run.device)
    data = BatchSampler(x_train, y_seen, batch_size=p["batch_size"], seed=p["seed"], replacement=False)
    steps = p["steps"]
    return train(model, data, steps=steps, run_dir=run.dir, checkpoint_every=max(1, steps // 4),
                 log_every=max(1, steps // 50), desc=f"{p['model']} {p['prior']}", progress=progress)


def evaluate(prior: Prior, codes: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """The run's numbers for one set of codes (n, dim) with their true labels:

    * ``sw_codes_prior``: SW_1(codes, prior samples), and ``sw_prior_prior`` between two prior samples (the floor a
      perfect match reaches at this sample size);
    * ``coverage``: the paper's "no holes" claim as a number, the coverage of Naeem et al. (2020, the ``prdc``
      package): the share of prior samples whose ball to their 5th-nearest prior neighbour holds at least one code.
      Codes that fill the prior reach about 0.97 at this k; a hole leaves the prior samples inside it uncovered;
    * for a prior with components, the classification error (a code's class = the component it falls in) and, for
      the mixture, the share of codes inside their own label's 95% ellipse.
    """
    g = torch.Generator().manual_seed(seed + 1)
    n = len(codes)
    reference = prior.sample(n, generator=g)
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
        coverage = compute_prdc(reference.double().numpy(), codes.double().cpu().numpy(), nearest_k=5)["coverage"]
    out = {"sw_codes_prior": sliced_wasserstein(codes, reference),
           "sw_prior_prior": sliced_wasserstein(prior.sample(n, generator=g), prior.sample(n, generator=g)),
           "coverage": float(coverage)}
    if prior.n_components:
        out["classification_error"] = (prior.component_of(codes) != labels).float().mean().item()
    if isinstance(prior, MixturePrior):
        out["own_component_share"] = prior.inside_component(codes, labels).float().mean().item()
    return out


@torch.no_grad()
def posterior_codes(model, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Codes (n, dim) as the model's posterior gives them: one sample z ~ q(z|x) per image for the VAE (its
    aggregated posterior is made of those, not of the means), the deterministic code for the others."""
    if not isinstance(model, VAE):
        return encode_all(model, x).cpu()
    mu, logvar = (torch.cat(parts) for parts in zip(*(model.posterior(c) for c in x.split(500))))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed)).to(mu.device)
    return (mu + (0.5 * logvar).exp() * eps).cpu()


def code_grid(prior: Prior, n: int = 15) -> tuple[torch.Tensor, tuple[float, float]]:
    """(n * n, 2) codes on a regular grid over the prior's support (row-major, top row = largest z_2) and the extent.

    Gaussian: the grid walks the prior's quantiles 0.02 .. 0.98 (the paper's manifold figure); other priors: the box
    holding 99% of their samples.
    """
    if isinstance(prior, (MixturePrior, SwissRollPrior)):
        s = prior.sample(20000, generator=torch.Generator().manual_seed(0))
        lo, hi = s.quantile(0.005).item(), s.quantile(0.995).item()
        axis = torch.linspace(lo, hi, n)
    else:
        axis = torch.tensor(norm.ppf(torch.linspace(0.02, 0.98, n).numpy()) * getattr(prior, "std", 1.0),
                            dtype=torch.float32)
    z1, z2 = torch.meshgrid(axis, axis.flip(0), indexing="xy")
    return torch.stack([z1.flatten(), z2.flatten()], 1), (axis[0].item(), axis[-1].item())


def component_grid(prior: MixturePrior, components: list[int], n: int = 7, spread: float = 1.5) -> torch.Tensor:
    """Codes (len(components) * n * n, 2): the same (a, b) grid, +-``spread`` std on each axis, placed in each
    component's own frame. Rows walk a (radial), columns b (tangential): the same cell = the same style."""
    t = torch.linspace(-spread, spread, n)
    a, b = torch.meshgrid(t * prior.radial_std, t * prior.tangential_std, indexing="ij")
    ab = torch.stack([a.flatten(), b.flatten()], 1)  # (n * n, 2)
    k = torch.tensor(components)
    return (torch.einsum("kij,nj->kni", prior.rotations[k], ab) + prior.means[k][:, None]).reshape(-1, 2)


def swiss_roll_walk(n: int = 20) -> torch.Tensor:
    """(n, 2) codes along the swiss roll's axis, u from the centre (0) to the outer end (1), mid-component steps."""
    u = (torch.arange(n) + 0.5) / n
    return SwissRollPrior.point(u)


def circle_walk(prior: Prior, n: int = 40) -> torch.Tensor:
    """(n, 2) codes on a closed path through the prior's bulk, for the animation: the mixture's ring of means, the
    swiss roll's axis, or the Gaussian's circle of radius 1 (first two code dimensions; the rest 0)."""
    if isinstance(prior, SwissRollPrior):
        return swiss_roll_walk(n)
    t = 2 * math.pi * torch.arange(n) / n
    radius = prior.shift if isinstance(prior, MixturePrior) else 1.0
    z = torch.zeros(n, prior.dim)
    z[:, 0], z[:, 1] = radius * t.cos(), radius * t.sin()
    return z


def tile(images: torch.Tensor, ncols: int) -> torch.Tensor:
    """(N, 1, H, W) images -> one (rows * H, ncols * W) picture, row-major (the manifold figure as a single image)."""
    n, _, h, w = images.shape
    rows = -(-n // ncols)
    padded = torch.zeros(rows * ncols, h, w, dtype=images.dtype)
    padded[:n] = images[:, 0].cpu()
    return padded.view(rows, ncols, h, w).permute(0, 2, 1, 3).reshape(rows * h, ncols * w)
