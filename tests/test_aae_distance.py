"""The sliced Wasserstein-1 distance (acai_repro.aae.distance) on hand-checked cases and against scipy."""
import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from acai_repro.aae.distance import random_directions, sliced_wasserstein


def test_one_dimension_by_hand():
    # sorted {0, 1, 5} vs sorted {2, 3, 4}: |0-2| + |1-3| + |5-4| = 5, mean 5/3; in 1-D every direction is +-1
    a, b = torch.tensor([[5.0], [0.0], [1.0]]), torch.tensor([[3.0], [2.0], [4.0]])
    assert sliced_wasserstein(a, b, n_directions=7) == pytest.approx(5 / 3)


def test_translation_by_hand():
    # b = a + c: every projection moves by c . theta, so SW_1 = mean_k |c . theta_k|
    a = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    c = torch.tensor([3.0, 0.0])
    theta = random_directions(64, 2)
    assert sliced_wasserstein(a, a + c, 64) == pytest.approx((theta @ c.double()).abs().mean().item(), rel=1e-6)
    assert sliced_wasserstein(a, a[torch.randperm(50)], 64) == pytest.approx(0.0, abs=1e-12)


def test_matches_scipy_per_projection():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(200, 3, generator=g), 0.5 + 2 * torch.rand(200, 3, generator=g)
    theta = random_directions(16, 3).numpy()
    expected = np.mean([wasserstein_distance(a.double().numpy() @ t, b.double().numpy() @ t) for t in theta])
    assert sliced_wasserstein(a, b, 16) == pytest.approx(expected, rel=1e-9)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        sliced_wasserstein(torch.zeros(3, 2), torch.zeros(4, 2))
