"""MaskAAE's synthetic data (acai_repro.data.synthetic) and its metrics (acai_repro.maskaae.metrics)."""
import math

import numpy as np
import pytest
import torch

from acai_repro.data.synthetic import D, N_TEST, N_TRAIN, apply_generator, make_synthetic, random_generator_weights
from acai_repro.maskaae.metrics import active_dims, active_mask, frechet_distance, frechet_distance_from_moments, nac


@pytest.fixture(scope="module")
def data2():
    return make_synthetic(2, seed=0)


def test_shapes_and_standardisation(data2):
    assert data2.x_train.shape == (N_TRAIN, D) and data2.z_train.shape == (N_TRAIN, 2)
    assert data2.x_test.shape == (N_TEST, D) and data2.z_test.shape == (N_TEST, 2)
    assert data2.x_train.dtype == torch.float32 and D == 128
    assert data2.x_train.mean(0).abs().max() < 1e-4
    assert (data2.x_train.std(0) - 1).abs().max() < 1e-3
    assert (data2.x_test.std(0) - 1).abs().max() < 0.1  # the same f: held-out statistics nearly equal


def test_same_n_and_seed_give_the_same_data(data2):
    again = make_synthetic(2, seed=0)
    assert torch.equal(again.x_train, data2.x_train) and torch.equal(again.x_test, data2.x_test)
    assert not torch.equal(make_synthetic(2, seed=1).x_train, data2.x_train)
    assert not torch.equal(make_synthetic(3, seed=0).x_train[:, :2], data2.x_train[:, :2])
    assert not torch.equal(data2.x_train[:N_TEST], data2.x_test)  # held-out vectors are new draws


def test_generator_is_the_stated_two_layer_leaky_relu_net():
    w = random_generator_weights(3, seed=5)
    assert w["w1"].shape == (64, 3) and w["w2"].shape == (128, 64)
    z = torch.randn(7, 3, dtype=torch.float64)
    h = z @ w["w1"].T + w["b1"]
    h = torch.where(h > 0, h, 0.2 * h)
    x = h @ w["w2"].T + w["b2"]
    assert torch.allclose(apply_generator(z, w), torch.where(x > 0, x, 0.2 * x))
    with pytest.raises(ValueError, match="injective"):
        make_synthetic(65)


def test_data_has_the_true_dimension_locally(data2):
    """f is piecewise linear and injective: its Jacobian at any z has rank n (here 2) out of 128 outputs."""
    w = random_generator_weights(2, seed=0)
    jac = torch.autograd.functional.jacobian(lambda z: apply_generator(z[None], w)[0], torch.tensor([0.3, -1.2],
                                             dtype=torch.float64))
    assert jac.shape == (128, 2) and torch.linalg.matrix_rank(jac) == 2


def test_frechet_distance_closed_form_for_commuting_covariances():
    """Sigma_1 = Q diag(a) Q^T, Sigma_2 = Q diag(b) Q^T: FD = |mu_1 - mu_2|^2 + sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = rng.uniform(0.5, 3, 5), rng.uniform(0.5, 3, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance_from_moments(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-8)
    assert frechet_distance_from_moments(mu1, q @ np.diag(a) @ q.T, mu1, q @ np.diag(a) @ q.T) == pytest.approx(
        0, abs=1e-8)


def test_frechet_distance_of_samples():
    """1-D: N(0, 1) vs N(1, 4) has FD = 1 + (1 - 2)^2 = 2; samples of 200,000 land within 2%."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 1, generator=g)
    y = 1 + 2 * torch.randn(200_000, 1, generator=g)
    assert frechet_distance(x, y) == pytest.approx(2.0, rel=0.02)


def test_nac_isotropic_near_zero_and_correlated_high():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 6, generator=g)
    assert nac(z) < 0.02
    mixed = torch.cat([z[:, :1], z[:, :1] + 0.01 * z[:, 1:2], -z[:, :1]], dim=1)  # three copies of one variable
    assert nac(mixed) == pytest.approx(1.0, abs=1e-3)
    assert math.isnan(nac(mixed, keep=[True, False, False]))  # one dimension: no off-diagonal entry
    half = torch.stack([z[:, 0], z[:, 0] + z[:, 1]], dim=1)  # correlation 1 / sqrt 2
    assert nac(half) == pytest.approx(1 / math.sqrt(2), abs=0.01)


def test_active_dims_threshold():
    alpha = torch.tensor([0.0, 0.05, 0.0999, 0.1, 0.5, 0.99])
    assert active_dims(alpha) == 3
    assert active_mask(alpha).tolist() == [False, False, False, True, True, True]
