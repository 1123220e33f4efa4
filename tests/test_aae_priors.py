"""The AAE's priors (acai_repro.aae.priors): shapes, component means and spreads against their definitions,
label-conditioned sampling, component assignment, and a prior given only as a user's sampling function."""
import math

import pytest
import torch

from acai_repro.aae.priors import (UNLABELLED, GaussianPrior, MixturePrior, SampledPrior, SwissRollPrior,
                                   build_prior)

N = 20000


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name, dim", [("gaussian", 2), ("gaussian", 8), ("mixture", 2), ("swiss_roll", 2)])
def test_shapes_and_seeded(name, dim):
    prior = build_prior(name, dim)
    z = prior.sample(50, generator=gen())
    assert z.shape == (50, dim) and z.dtype == torch.float32
    assert torch.equal(z, prior.sample(50, generator=gen()))  # same generator seed, same samples


def test_unknown_prior_and_non_2d_mixture_are_refused():
    with pytest.raises(ValueError, match="unknown prior 'ring'.*gaussian, mixture, swiss_roll"):
        build_prior("ring")
    with pytest.raises(ValueError, match="2-D"):
        build_prior("mixture", 8)


def test_gaussian_moments():
    z = GaussianPrior(3).sample(N, generator=gen())
    assert z.mean(0).abs().max() < 0.03
    assert (z.std(0) - 1).abs().max() < 0.03


@pytest.mark.parametrize("k", [0, 3, 7])
def test_mixture_component_mean_and_spreads(k):
    prior = MixturePrior()
    z = prior.sample(N, labels=torch.full((N,), k), generator=gen())
    r = 2 * math.pi * k / 10
    mean = torch.tensor([1.4 * math.cos(r), 1.4 * math.sin(r)])
    assert torch.allclose(z.mean(0), mean, atol=0.02)
    radial = torch.tensor([math.cos(r), math.sin(r)])  # a: along the radius, std 0.5
    tangential = torch.tensor([-math.sin(r), math.cos(r)])  # b: across it, std 0.05
    d = z - mean
    assert abs((d @ radial).std().item() - 0.5) < 0.01
    assert abs((d @ tangential).std().item() - 0.05) < 0.001
    assert (prior.component_of(z) == k).float().mean() > 0.8  # the long axes of neighbours overlap a little


def test_mixture_unlabelled_draws_every_component_evenly():
    prior = MixturePrior()
    z = prior.sample(N, labels=torch.full((N,), UNLABELLED), generator=gen())
    share = torch.bincount(prior.component_of(z), minlength=10).float() / N
    assert (share - 0.1).abs().max() < 0.02
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=0.03)


def test_mixture_log_density_integrates_to_one():
    prior = MixturePrior()
    t = torch.linspace(-3.5, 3.5, 701)
    z = torch.stack(torch.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    mass = prior.log_density(z).exp().sum() * (t[1] - t[0]) ** 2
    assert abs(mass.item() - 1) < 0.01


def test_mixture_inside_component_holds_the_stated_mass():
    prior = MixturePrior()
    k = torch.randint(10, (N,), generator=gen(1))
    z = prior.sample(N, labels=k, generator=gen())
    assert abs(prior.inside_component(z, k, mass=0.95).float().mean().item() - 0.95) < 0.01
    assert prior.inside_component(z, (k + 5) % 10).float().mean() < 0.01  # the opposite component


def test_swiss_roll_definition_and_components():
    prior = SwissRollPrior()
    k = torch.randint(10, (N,), generator=gen(1))
    z = prior.sample(N, labels=k, generator=gen())
    radius = z.norm(dim=1)
    u = (radius / 3) ** 2  # radius = 3 sqrt(u)
    assert ((u >= k / 10 - 1e-5) & (u <= (k + 1) / 10 + 1e-5)).all()  # u in [k/10, (k+1)/10]
    angle = 4 * math.pi * u.sqrt()
    assert torch.allclose(z, radius[:, None] * torch.stack([angle.cos(), angle.sin()], 1), atol=1e-4)
    assert (prior.component_of(z) == k).float().mean() > 0.99
    assert torch.allclose(prior.point(torch.tensor([1.0])), torch.tensor([[3.0, 0.0]]), atol=1e-5)


def test_labels_are_checked():
    with pytest.raises(ValueError, match="0..9 or -1"):
        MixturePrior().sample(3, labels=torch.tensor([0, 10, 1]))


def test_user_sampler():
    def ring(n, generator):
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        return torch.stack([angle.cos(), angle.sin()], 1)

    prior = SampledPrior(ring, dim=2, name="ring")
    z = prior.sample(100, generator=gen())
    assert z.shape == (100, 2) and torch.allclose(z.norm(dim=1), torch.ones(100), atol=1e-5)
    assert prior.sample(4, labels=torch.full((4,), UNLABELLED)).shape == (4, 2)
    with pytest.raises(ValueError, match="no components"):
        prior.sample(4, labels=torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"returned shape \(5, 3\), expected \(5, 2\)"):
        SampledPrior(lambda n, g: torch.zeros(n, 3), dim=2).sample(5)


def test_coverage_sees_a_hole_that_the_mean_distance_hides():
    from acai_repro.aae.experiment import evaluate

    prior = GaussianPrior(2)
    full = prior.sample(1000, generator=torch.Generator().manual_seed(5))
    assert evaluate(prior, full, torch.zeros(1000, dtype=torch.long))["coverage"] > 0.9  # a fresh sample fills it
    # The same number of codes with the left half-plane empty: the prior samples there have no code nearby.
    holed = full.clone()
    holed[:, 0] = holed[:, 0].abs()
    assert evaluate(prior, holed, torch.zeros(1000, dtype=torch.long))["coverage"] < 0.6


def test_a_vae_is_scored_on_samples_of_its_posterior():
    from acai_repro.aae.experiment import posterior_codes
    from acai_repro.aae.model import build_model

    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    vae = build_model("vae", GaussianPrior(2), hidden=8)
    sample = posterior_codes(vae, x, seed=1)
    assert sample.shape == (6, 2) and torch.equal(sample, posterior_codes(vae, x, seed=1))  # seeded
    assert not torch.allclose(sample, vae.encode(x).detach())  # not the means
    ae = build_model("ae", GaussianPrior(2), hidden=8)
    assert torch.equal(posterior_codes(ae, x), ae.encode(x).detach())  # deterministic codes as they are
