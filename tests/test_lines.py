"""Lines benchmark data: the official renderer, its batched torch twin, labels, training stream, test set."""

import io
import math

import numpy as np
import pytest
import torch

from acai_repro.data import lines

# sum(x) and sum(x * pixel_index) of the official brain-research/acai draw_line(angle, 32, 32), computed with the
# official code: they pin every pixel's value and position.
OFFICIAL_CHECKSUMS = {
    0.3: (-964.0, -496496.5163951281),
    1.1: (-970.5275583963139, -507667.57665717375),
    2.0: (-969.4421543904591, -507986.1116720504),
    2.9: (-965.7425100910245, -498210.3990576641),
    3.7: (-973.1139980973755, -490575.8673012843),
    4.4: (-964.0, -478811.9558197489),
    5.2: (-968.0, -482409.8113396793),
    6.0: (-964.0, -489004.24273151834),
}


def ink(image: np.ndarray) -> float:
    return float(((image + 1) / 2).sum())


def edge_angles() -> np.ndarray:
    """Multiples of pi/4 (where the renderer switches between walking rows and columns) and values just beside them."""
    angles = []
    for k in range(9):
        centre = k * math.pi / 4
        angles += [centre, np.nextafter(centre, 10.0), np.nextafter(centre, -10.0)]
        angles += [centre + d for d in (1e-12, -1e-12, 1e-9, -1e-9, 1e-6, -1e-6)]
    return np.array(angles + [-0.5, 7.0, 2 * math.pi - 1e-9])


def test_draw_line_shape_range_and_background():
    image = lines.draw_line(1.0)
    assert image.shape == (32, 32) and image.dtype == np.float64
    assert image.min() == -1.0 and image.max() == 1.0
    assert (image > -1).sum() < 40  # one short, thin line; everything else is background
    assert (image[:, :4] == -1).all() and (image[28:] == -1).all()  # far from a line pointing up-right


def test_draw_line_at_zero_is_two_full_rows_to_the_right():
    expected = -np.ones((32, 32))
    expected[15:17, 16:31] = 1.0  # 2 px wide, 15 px long, from the centre towards +x
    np.testing.assert_array_equal(lines.draw_line(0.0), expected)


def test_draw_line_at_half_pi_points_up():
    image = lines.draw_line(math.pi / 2)
    rows, cols = np.nonzero(image > -1)
    assert rows.min() == 1 and rows.max() == 15 and set(cols) == {15, 16}
    assert ink(image) == pytest.approx(30.0)


def test_ink_depends_on_angle_as_in_the_official_data():
    assert ink(lines.draw_line(0.0)) == 30.0
    assert 20.0 < ink(lines.draw_line(math.pi / 4)) < 23.0  # 22.0: the diagonal walk covers fewer pixels


@pytest.mark.parametrize("angle", sorted(OFFICIAL_CHECKSUMS))
def test_draw_line_matches_official_checksums(angle):
    image = lines.draw_line(angle)
    total, weighted = OFFICIAL_CHECKSUMS[angle]
    assert image.sum() == pytest.approx(total, rel=1e-13)
    assert (image * np.arange(1024).reshape(32, 32)).sum() == pytest.approx(weighted, rel=1e-13)


def test_render_lines_equals_draw_line_for_random_and_edge_angles():
    angles = np.concatenate([np.random.default_rng(0).uniform(0, 2 * math.pi, 2000), edge_angles()])
    expected = np.stack([lines.draw_line(a) for a in angles])  # (N, 32, 32)
    rendered = lines.render_lines(torch.from_numpy(angles))
    assert rendered.shape == (len(angles), 1, 32, 32) and rendered.dtype == torch.float32
    assert np.abs(rendered[:, 0].double().numpy() - expected).max() < 1e-5
    exact = lines.render_lines(torch.from_numpy(angles), dtype=torch.float64)[:, 0].numpy()
    assert np.abs(exact - expected).max() < 1e-12  # float64: only cos / sin ulps apart


def test_render_lines_rejects_a_batch_that_is_not_1d():
    with pytest.raises(ValueError, match="1-D"):
        lines.render_lines(torch.zeros(2, 3))


def test_angle_labels_are_the_official_ten_bins():
    # 0.63 is just past 2 pi / 10 = 0.628, in bin 1; the last two would be 10 officially (see angle_labels).
    angles = np.array([0.0, 0.6, 0.63, math.pi, 2 * math.pi - 2e-6, 2 * math.pi - 1e-6, 2 * math.pi - 1e-12])
    expected = np.array([0, 0, 1, 5, 9, 9, 9])
    np.testing.assert_array_equal(lines.angle_labels(angles), expected)
    labels = lines.angle_labels(torch.from_numpy(angles))
    assert labels.dtype == torch.int64 and labels.tolist() == expected.tolist()


def test_sampler_batches_are_fresh_lines_with_matching_labels():
    batch, labels = next(lines.LinesSampler(256, "cpu", seed=3))
    assert batch.shape == (256, 1, 32, 32) and batch.dtype == torch.float32 and labels.dtype == torch.int64
    # The stream draws theta = 2 pi U[0, 1) in float64 from its generator: replay it by hand.
    theta = 2 * math.pi * torch.rand(256, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(batch, lines.render_lines(theta)) and torch.equal(labels, lines.angle_labels(theta))


def test_sampler_covers_all_classes_evenly():
    sampler = lines.LinesSampler(4096, seed=0)
    counts = torch.bincount(torch.cat([next(sampler)[1] for _ in range(2)]), minlength=10)
    assert counts.sum() == 8192 and (counts - 819).abs().max() < 120  # 4.4 sigma of a binomial count


def test_sampler_is_deterministic_per_seed():
    first = next(lines.LinesSampler(16, seed=7))
    again = lines.LinesSampler(16, seed=7).next()
    other = lines.LinesSampler(16, seed=8).next()
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_sampler_state_dict_resumes_the_same_stream():
    sampler = lines.LinesSampler(16, seed=5)
    next(sampler)
    buffer = io.BytesIO()
    torch.save(sampler.state_dict(), buffer)  # as a checkpoint would
    expected = [next(sampler) for _ in range(3)]
    resumed = lines.LinesSampler(16, seed=123)
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for (x, y), (x_resumed, y_resumed) in zip(expected, resumed):
        assert torch.equal(x, x_resumed) and torch.equal(y, y_resumed)
    with pytest.raises(ValueError, match="generator"):
        resumed.load_state_dict({})


def test_sampler_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="batch_size"):
        lines.LinesSampler(0)


def test_test_lines_are_a_fixed_seeded_set():
    x, theta = lines.test_lines()
    assert x.shape == (512, 1, 32, 32) and x.dtype == torch.float32 and theta.dtype == torch.float64
    assert 0 <= theta.min() and theta.max() < 2 * math.pi
    assert torch.equal(x, lines.render_lines(theta))
    x_again, theta_again = lines.test_lines()
    assert torch.equal(x, x_again) and torch.equal(theta, theta_again)
    assert not torch.equal(theta, lines.test_lines(seed=1)[1])
    assert lines.test_lines(n=4)[0].shape == (4, 1, 32, 32)
