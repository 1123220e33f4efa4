"""Attribute vectors by least squares, the edit score with its pixel classifier, and the sharpness measure."""

import numpy as np
import pytest
import torch

from acai_repro.data.faces import load_faces
from acai_repro.gaia.attributes import AttributeJudge, attribute_vectors, edit, edit_scores, sharpness


def test_attribute_vectors_recover_known_directions():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(500, 3, generator=g) < 0.5).float()
    w = torch.randn(3, 6, generator=g)
    z = a @ w + torch.randn(6, generator=g) + 0.01 * torch.randn(500, 6, generator=g)  # bias + small noise
    assert torch.allclose(attribute_vectors(z, a), w, atol=0.01)


class Pixels(torch.nn.Module):
    """A 'model' whose code is the image itself, so an edit is plain pixel arithmetic."""

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.view(-1, 3, 16, 16)

    def reconstruct(self, x):
        return x


def test_edit_score_on_pixel_arithmetic():
    train, test = load_faces(600, size=16, seed=0), load_faces(200, size=16, seed=1)
    judge = AttributeJudge(train.images, train.attributes)
    assert (judge.accuracy(test.images, test.attributes) > 0.8).all()
    model = Pixels()
    vectors = attribute_vectors(model.encode(train.images), train.attributes)  # mean pixel change per attribute
    assert edit(model, test.images[:2], vectors[0], [0.0, 1.0]).shape == (2, 2, 3, 16, 16)
    rows = edit_scores(model, judge, test.images, test.attributes, vectors, 1.0, train.names)
    assert [r["attribute"] for r in rows] == list(train.names)
    light = rows[train.names.index("light_background")]  # a global colour change: pixel arithmetic nails it
    assert light["on_rate_recon"] < 0.2 and light["on_rate"] > 0.9 and light["off_rate"] > 0.9
    assert all(0 <= r["others_changed"] <= 1 for r in rows)
    assert light["n_on_candidates"] + light["n_off_candidates"] == 200


def test_sharpness():
    flat = torch.zeros(2, 3, 8, 8)
    assert sharpness(flat) == 0.0
    checker = ((torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2).float()  # pixels 0 / 1
    images = checker.expand(1, 3, 8, 8)
    blurred = torch.nn.functional.avg_pool2d(images, 3, 1, 1, count_include_pad=False)
    assert sharpness(images) > 4 * sharpness(blurred) > 0
    # Interior of a checkerboard: Laplacian = +-4 over each pixel, so the variance is close to 16.
    assert sharpness(images) == pytest.approx(np.var(np.where(checker.numpy() > 0, -4.0, 4.0)), rel=0.3)


def test_judge_is_balanced_and_keeps_its_rates_on_blurred_faces():
    """A rare attribute is not judged 'off' everywhere, and blur alone does not switch attributes off."""
    from scipy import ndimage

    train, test = load_faces(600, size=16, seed=0), load_faces(300, size=16, seed=1)
    rare = train.attributes[:, :1] * (torch.rand(600, 1, generator=torch.Generator().manual_seed(0)) < 0.15)
    judge = AttributeJudge(train.images, torch.cat([train.attributes, rare], 1))
    assert judge.predict(train.images)[:, -1].mean() > 0.5 * rare.mean().item()  # the rare class is predicted
    blurred = torch.from_numpy(ndimage.gaussian_filter(test.images.numpy(), (0, 0, 1.0, 1.0)))
    sharp_rates, blur_rates = judge.predict(test.images).mean(0), judge.predict(blurred).mean(0)
    assert np.abs(sharp_rates - blur_rates)[:-1].max() < 0.1
    sharp_only = AttributeJudge(train.images, train.attributes, blur=0.0)  # without the blurred copies
    assert np.abs(sharp_only.predict(test.images).mean(0) - sharp_only.predict(blurred).mean(0)).max() > 0.15
    accuracy = judge.accuracy(test.images, torch.cat([test.attributes, test.attributes[:, :1] * 0], 1))
    assert np.isnan(accuracy[-1]) and (accuracy[:-1] > 0.8).all()  # balanced accuracy; undefined for one class
