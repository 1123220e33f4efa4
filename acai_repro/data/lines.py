"""The synthetic lines benchmark of ACAI (Berthelot et al. 2019, arXiv:1807.07543, section 3).

Each 32 x 32 image holds one antialiased line, 2 px wide, drawn from the image centre outwards for x0 - 1 = 15 px
at an angle theta (0 points right along +x, pi / 2 points up). Pixels are in [-1, 1] with background -1. The
renderer reproduces the official one (brain-research/acai ``lib/data.py``) to the last bit in float64:

* The line is walked along its *major* axis u (rows when the line is steep, columns when it is shallow; a tie
  counts as steep) one pixel at a time. In every visited row u the line covers the span [v_s, v_s + w) of the
  minor axis, with v_s = v_0 + (u - u_0 - 1/2) * dv/du, i.e. the centre line sampled half a pixel *before* the
  row (an official quirk kept on purpose) and shifted by w / 2.
* Each pixel receives its exact coverage of that span, |[v_s, v_s + w) cap [v, v + 1)|, times a row weight: the
  first row, cut by a non-integer start u_0, weighs ceil(u_0) - u_0; every other visited row weighs 1 (the
  official far-end weight is unreachable, so the last row is always full).
* pixel = clip(-1 + 2 * coverage, -1, 1).

Total ink sum((x + 1) / 2) therefore depends on the angle (30 at theta = 0, 22 at pi / 4): that is the
benchmark, not a bug. :func:`draw_line` is the readable scalar version, :func:`render_lines` the batched torch one
(used for training streams and the evaluation's reference bank), equal to it to float32 precision.
"""

from __future__ import annotations

import math

import numpy as np
import torch

IMAGE_SIZE = 32  # official lines32 images are 32 x 32 x 1
LINE_WIDTH = 2.0  # w, in pixels
N_CLASSES = 10  # probe labels: the angle cut into 10 equal bins
_LABEL_PERIOD = 2 * math.pi - 1e-6  # official bin width is (2 pi - 1e-6) / 10
TEST_SEED = 1807_07543  # default seed of the fixed evaluation lines (the arXiv number of the paper)
_CHUNK = 256  # images per vectorised pass: keeps its (chunk, S, S) float64 buffers (2 MiB each) in cache


def draw_line(angle: float, height: int = IMAGE_SIZE, width: int = IMAGE_SIZE, w: float = LINE_WIDTH) -> np.ndarray:
    """Render one line at ``angle`` radians exactly like the official renderer; returns (height, width) float64.

    (The official code takes the x centre from ``height`` and the y centre from ``width``; kept, it only matters for
    non-square images.)
    """
    centre_x, centre_y = height * 0.5, width * 0.5
    end_x = centre_x + (centre_x - 1) * math.cos(-angle)  # image rows grow downwards, hence -angle
    end_y = centre_y + (centre_y - 1) * math.sin(-angle)
    shallow = abs(centre_y - end_y) < abs(centre_x - end_x)  # walk along columns instead of rows
    if shallow:  # u = major axis (walked), v = minor axis (spanned)
        u0, u1, v0, v1 = centre_x, end_x, centre_y, end_y
    else:
        u0, u1, v0, v1 = centre_y, end_y, centre_x, end_x
    if u1 < u0:  # walk from the smaller major coordinate
        u0, u1, v0, v1 = u1, u0, v1, v0
    v0, v1 = v0 - w / 2, v1 - w / 2  # the span starts w / 2 before the centre line
    slope = (v1 - v0) / (u1 - u0) if u1 != u0 else 0.0  # dv / du, |slope| <= 1
    n_minor = height if shallow else width
    cells = np.arange(n_minor, dtype=np.float64)  # left edges v of the minor-axis pixels
    coverage = np.zeros((width, height) if shallow else (height, width))  # indexed (u, v)
    for u in range(int(u0), math.ceil(u1)):
        weight = math.ceil(u0) - u0 if u < math.ceil(u0) else 1.0  # partial first row
        start = v0 + (u - u0 - 0.5) * slope  # v_s
        overlap = np.minimum(start + w, cells + 1) - np.maximum(start, cells)  # |[v_s, v_s + w) cap [v, v + 1)|
        coverage[u] = weight * np.clip(overlap, 0.0, None)
    if shallow:
        coverage = coverage.T  # back to (row, column)
    return np.clip(2 * coverage - 1, -1.0, 1.0)


def render_lines(
    angles: torch.Tensor, size: int = IMAGE_SIZE, w: float = LINE_WIDTH, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Render a batch of lines on ``angles.device``; (N,) angles -> (N, 1, size, size) in [-1, 1].

    The same arithmetic as :func:`draw_line`, in float64, with every sample's walk unrolled over all ``size`` rows
    of the major axis (rows the walk does not visit get weight 0). Equal to :func:`draw_line` within float32
    rounding for any angle; in float64 it differs only where torch's cos / sin differ from the C library's by an
    ulp (about 1e-15).
    """
    if angles.dim() != 1:
        raise ValueError(f"render_lines: angles must be a 1-D tensor of radians, got shape {tuple(angles.shape)}")
    theta = angles.to(torch.float64)
    return render_directions(torch.cos(-theta), torch.sin(-theta), size, w).to(dtype)


def render_directions(
    cos: torch.Tensor, sin: torch.Tensor, size: int = IMAGE_SIZE, w: float = LINE_WIDTH
) -> torch.Tensor:
    """:func:`render_lines` from precomputed (N,) float64 cos(-theta) and sin(-theta); (N, 1, size, size) float64.

    Lets a caller supply the C library's trig values (``math.cos``), which makes the pixels bit-identical to
    :func:`draw_line`: the evaluation's reference bank is built that way.
    """
    chunks = [_render_chunk(c, s, size, w) for c, s in zip(cos.split(_CHUNK), sin.split(_CHUNK))]
    if not chunks:
        return torch.empty(0, 1, size, size, dtype=torch.float64, device=cos.device)
    return torch.cat(chunks).unsqueeze(1)


def _render_chunk(cos: torch.Tensor, sin: torch.Tensor, size: int, w: float) -> torch.Tensor:
    centre = size * 0.5
    end_x = centre + (centre - 1) * cos  # (N,)
    end_y = centre + (centre - 1) * sin
    shallow = (centre - end_y).abs() < (centre - end_x).abs()  # (N,) walk along columns
    far_u = torch.where(shallow, end_x, end_y)  # the near end (u, v) is the centre for every line
    far_v = torch.where(shallow, end_y, end_x)
    backwards = far_u < centre  # walk from the smaller major coordinate
    u0 = torch.where(backwards, far_u, torch.full_like(far_u, centre))
    u1 = torch.where(backwards, torch.full_like(far_u, centre), far_u)
    v0 = torch.where(backwards, far_v, torch.full_like(far_v, centre)) - w / 2
    v1 = torch.where(backwards, torch.full_like(far_v, centre), far_v) - w / 2
    du = u1 - u0
    slope = torch.where(du != 0, (v1 - v0) / torch.where(du != 0, du, 1.0), 0.0)  # (N,) dv / du

    cells = torch.arange(size, dtype=torch.float64, device=cos.device)  # pixel indices / left edges
    u, first_full = cells[None, :], u0.ceil()[:, None]  # (1, S), (N, 1)
    visited = (u >= u0.floor()[:, None]) & (u < u1.ceil()[:, None])  # (N, S)
    weight = torch.where(u < first_full, first_full - u0[:, None], 1.0) * visited  # (N, S)
    start = v0[:, None] + (u - u0[:, None] - 0.5) * slope[:, None]  # (N, S) v_s per visited row
    span = start[:, :, None]  # (N, S, 1)
    coverage = torch.minimum(span + w, cells + 1)  # (N, u, v), in place from here on: |[v_s, v_s + w) cap [v, v + 1)|
    coverage -= torch.maximum(span, cells)
    coverage.clamp_(min=0.0).mul_(weight[:, :, None])  # times the row weight
    coverage = torch.where(shallow[:, None, None], coverage.transpose(1, 2), coverage)  # (N, row, column)
    return coverage.mul_(2).sub_(1).clamp_(-1.0, 1.0)


def angle_labels(angles: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Official probe label of each angle in [0, 2 pi): int(10 * theta / (2 pi - 1e-6)), as int64 of the same kind.

    The official formula gives 10 for theta in [2 pi - 1e-6, 2 pi) (one line in about 6 million), which TF's one-hot
    turned into an all-zero target; here it is clamped to 9 so that a 10-way cross-entropy never sees it.
    """
    if isinstance(angles, torch.Tensor):
        return (N_CLASSES * angles.to(torch.float64) / _LABEL_PERIOD).to(torch.int64).clamp(max=N_CLASSES - 1)
    labels = (N_CLASSES * np.asarray(angles, dtype=np.float64) / _LABEL_PERIOD).astype(np.int64)
    return np.minimum(labels, N_CLASSES - 1)


class LinesSampler:
    """Endless stream of fresh random lines, generated on ``device`` from a seeded ``torch.Generator``.

    Each batch draws theta ~ U[0, 2 pi) (float64) and yields ``(x, label)``: x (B, 1, 32, 32) float32 in [-1, 1] and
    label (B,) int64. ``state_dict()`` / ``load_state_dict()`` save and restore the generator, so a resumed
    training run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, batch_size: int, device: torch.device | str = "cpu", seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"LinesSampler: batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._draw_on = torch.device("cpu") if self.device.type == "mps" else self.device  # MPS has no float64
        self.generator = torch.Generator(device=self._draw_on)
        self.generator.manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch (x, label)."""
        uniform = torch.rand(self.batch_size, generator=self.generator, device=self._draw_on, dtype=torch.float64)
        theta = 2 * math.pi * uniform  # (B,)
        return render_lines(theta).to(self.device), angle_labels(theta).to(self.device)

    __next__ = next

    def __iter__(self) -> LinesSampler:
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if "generator" not in state:
            raise ValueError(f"LinesSampler.load_state_dict: expected a 'generator' entry, got keys {sorted(state)}")
        self.generator.set_state(state["generator"].cpu())  # a ByteTensor on the CPU, whatever map_location did


def test_lines(
    n: int = 512, seed: int = TEST_SEED, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed evaluation set: (x (n, 1, 32, 32) float32, theta (n,) float64), drawn on the CPU so that every
    machine gets the same lines, then moved to ``device``. The official evaluation pairs lines 0..255 with 256..511.
    """
    if n < 1:
        raise ValueError(f"test_lines: n must be a positive integer, got {n!r}")
    generator = torch.Generator().manual_seed(seed)
    theta = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)  # (n,)
    return render_lines(theta).to(device), theta.to(device)


test_lines.__test__ = False  # a data function, not a pytest test, when imported into a test module
