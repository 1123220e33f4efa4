"""ACAI's lines-benchmark evaluation (Berthelot et al. 2019, arXiv:1807.07543, section 3.1), fast and exact.

Every decoded image x is matched to the nearest of R = 10,000 reference lines, theta_r = 2 pi r / R, under the cosine
distance of the flattened pixels, d(x, l) = 1 - <x, l> / (|x| |l|). Two numbers come out:

* **Mean Distance**: the mean of min_r d(x, l_r) over all decoded images (how line-like they are; reported x 10^3).
* **Smoothness** of an interpolation whose images got the angles theta_0..theta_{S-1} (unwrapped):
  max_k |theta_{k+1} - theta_k| / |theta_{S-1} - theta_0| - 1 / (S - 1), zero for a line turning at constant speed.
  It is undefined (NaN) when |theta_{S-1} - theta_0| < 1e-4; the reported mean counts such pairs as 0 but keeps them
  in the denominator (all NaN -> NaN). :class:`LinesScore` also reports how many pairs were NaN, because a decoder
  that outputs blanks gets NaN pairs and would otherwise look smooth.

This reproduces the official float64 ``scipy.spatial.distance.cdist(..., 'cosine')`` + ``argmin`` search (official
``lib/eval.py``) on the images' device: a float32 matrix product shortlists the K best references of each image
(a float64 product where float32 cannot prove the list complete), which are then re-scored in float64 with scipy's
own order of operations. The distances are bit-identical to scipy's, so even exact ties between mirror-image
references (common: a crossfade of a vertical line ties two mirrored references) resolve as the official code does.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import torch

from acai_repro.data.lines import draw_line, render_directions

N_REFERENCES = 10_000
REFERENCE_ANGLES = np.linspace(0, 2 * np.pi - 2 * np.pi / N_REFERENCES, N_REFERENCES)  # (R,) theta_r
INTERPOLATION_STEPS = 16  # S, both end points included
MIN_TOTAL_TURN = 1e-4  # below this |theta_{S-1} - theta_0| the Smoothness of a pair is NaN
_TOP_K = 32  # shortlisted references per image, re-scored exactly
_QUERY_CHUNK = 256  # images per matrix product: bounds the (chunk, R) buffers to ~20 MB
_DECODE_CHUNK = 1024  # latents per decoder call in evaluate_autoencoder
BLUR_SIGMA = 1.0  # pixels, Gaussian blur of the 'blurred' reference interpolation (see reference_interpolations)


@dataclass(frozen=True)
class ReferenceBank:
    """The R reference lines of one image size, on one device."""

    lines: torch.Tensor  # (R, D) float64, bit-identical to the official draw_line images
    lines_t: torch.Tensor  # (D, R) the same, one pixel per row, for the pixel-by-pixel exact sums
    norms: torch.Tensor  # (R,) float64, |l_r| summed like scipy
    unit: torch.Tensor  # (R, D) float32, l_r / |l_r| for the candidate search


@functools.cache
def reference_bank(size: int = 32, device: torch.device = torch.device("cpu")) -> ReferenceBank:
    """Build (once per size and device, then cached) the bank of reference lines at :data:`REFERENCE_ANGLES`."""
    # The C library's cos / sin, like the official renderer, so that the pixels match it to the last bit.
    directions = torch.tensor([(math.cos(-a), math.sin(-a)) for a in REFERENCE_ANGLES], dtype=torch.float64)
    lines = render_directions(directions[:, 0], directions[:, 1], size).flatten(1).to(device)  # (R, D)
    norms = _scipy_norms(lines)
    return ReferenceBank(lines, lines.T.contiguous(), norms, (lines / norms[:, None]).to(torch.float32))


def _scipy_sum(products: Iterator[torch.Tensor], n: int) -> torch.Tensor:
    """Sum n float64 terms in scipy's order (bit-identical results): the even and the odd terms accumulate
    separately, left to right, then the two partial sums are added, then the last term if n is odd. This is how
    scipy 1.17's compiled ``cdist`` loop (two float64 SIMD lanes on x86-64) adds up a dot product, found by
    comparing candidate orders with scipy's output.
    """
    lanes = [0.0, 0.0]
    for i, term in zip(range(n - n % 2), products):
        lanes[i % 2] = lanes[i % 2] + term
    total = lanes[0] + lanes[1]
    return total + next(products) if n % 2 else total


def _scipy_norms(x: torch.Tensor) -> torch.Tensor:
    """Row norms |x_n| of (N, D) float64 x, summed like scipy. The square root is taken by NumPy: torch's float64
    sqrt on the CPU is not always correctly rounded (off by an ulp for about 1 % of inputs in torch 2.13).
    """
    squares = _scipy_sum((column * column for column in x.T), x.shape[1])  # (N,)
    return torch.from_numpy(np.sqrt(squares.cpu().numpy())).to(x.device)


def _scipy_dots(queries: torch.Tensor, lines_t: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """<x_n, l_r> for each query n and each of its candidates r, (N, D) and (N, K) -> (N, K) float64, summed in
    scipy's order. The official choice between two references at the same exact distance (mirror-image lines are
    common) depends on these last bits, so a faster BLAS product is not enough.
    """
    products = (pixel[:, None] * line_pixel[candidates] for pixel, line_pixel in zip(queries.T, lines_t))
    return _scipy_sum(products, queries.shape[1])


@contextlib.contextmanager
def _full_float32_matmul() -> Iterator[None]:
    """Keep float32 products in full float32 (no TF32 / bfloat16 shortcuts), on which the error bound relies."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def nearest_reference(images: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (N, ...) square images (e.g. (N, 1, H, W) or (N, H, W)), return the cosine distance to the nearest
    reference line and that line's angle, both (N,) float64, equal to the official scipy ``cdist`` + ``argmin``.

    Images that are all zero or hold NaN / inf get distance NaN and angle 0, as scipy + argmin give them.
    """
    queries = torch.as_tensor(images)
    if queries.dim() < 2 or queries.shape[0] == 0:
        raise ValueError(f"nearest_reference: expected a non-empty batch of images (N, ...), got {tuple(images.shape)}")
    if queries.device.type == "mps":  # no float64 on MPS: search on the CPU
        queries = queries.cpu()
    queries = queries.reshape(queries.shape[0], -1).to(torch.float64)  # (N, D)
    size = math.isqrt(queries.shape[1])
    if size * size != queries.shape[1]:
        raise ValueError(f"nearest_reference: images must be square, got {tuple(images.shape)}")
    bank = reference_bank(size, queries.device)
    norms = _scipy_norms(queries)  # (N,)
    valid = torch.isfinite(queries).all(dim=1) & (norms > 0)

    # 1. Shortlist K references per image that provably hold the official winner (rare exceptions: `listed`).
    shortlist, listed = _shortlist(queries, norms, valid, bank)  # (N, K), (N,)
    # 2. Order the shortlist by float64 distances computed in BLAS order: each is within `_error(D, 2^-53)` of the
    #    exact value, and so is scipy's. The two best are the finalists; if a third one is within twice both errors
    #    of the best (references tying, as for blank images), the whole shortlist goes on.
    approx = torch.cat([
        _cosine_distance(torch.bmm(bank.lines[s], q[:, :, None])[..., 0], n[:, None], bank.norms[s])
        for q, n, s in zip(queries.split(_QUERY_CHUNK), norms.split(_QUERY_CHUNK), shortlist.split(_QUERY_CHUNK))
    ])  # (N, K)
    ranked = approx.argsort(dim=1, stable=True)
    gap = approx.gather(1, ranked[:, 2:3])[:, 0] - approx.gather(1, ranked[:, :1])[:, 0]
    settled = gap > 4 * _error(queries.shape[1], 2.0**-53)
    # 3. Score the finalists exactly like scipy; unsettled rows score their shortlist, unlisted ones every reference.
    distance, index = _exact_nearest(queries, norms, shortlist.gather(1, ranked[:, :2]), bank)
    for part in (valid & listed & ~settled).nonzero()[:, 0].split(_QUERY_CHUNK):
        distance[part], index[part] = _exact_nearest(queries[part], norms[part], shortlist[part], bank)
    every = torch.arange(N_REFERENCES, device=queries.device)
    for part in (valid & ~listed).nonzero()[:, 0].split(_QUERY_CHUNK // 8):
        distance[part], index[part] = _exact_nearest(queries[part], norms[part], every.expand(len(part), -1), bank)
    distance[~valid], index[~valid] = math.nan, 0
    return distance.cpu().numpy(), REFERENCE_ANGLES[index.cpu().numpy()]


def _exact_nearest(
    queries: torch.Tensor, norms: torch.Tensor, candidates: torch.Tensor, bank: ReferenceBank
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scipy's distance to each (N, k) candidate and the first minimum in reference order, as numpy's argmin picks."""
    candidates = candidates.sort(dim=1).values  # ascending reference index: equal distances go to the lowest
    dots = _scipy_dots(queries, bank.lines_t, candidates)  # (N, k)
    distance, best = _cosine_distance(dots, norms[:, None], bank.norms[candidates]).min(dim=1)
    return distance, candidates.gather(1, best[:, None])[:, 0]


def _shortlist(
    queries: torch.Tensor, norms: torch.Tensor, valid: torch.Tensor, bank: ReferenceBank
) -> tuple[torch.Tensor, torch.Tensor]:
    """The K references of highest cosine for each query (N, K), and whether that list provably holds every
    reference that scipy could find nearest (N,): true when the K-th cosine is below the first by more than twice
    the error of our product plus twice that of scipy's. A float32 product settles most images; the rest (flat,
    line-less images with many near-equal references) are redone with a float64 product.
    """
    length = queries.shape[1]
    unit = torch.where(valid[:, None], queries / norms[:, None], 0.0).to(torch.float32)  # (N, D)
    with _full_float32_matmul():
        found = [(chunk @ bank.unit.T).topk(_TOP_K, dim=1) for chunk in unit.split(_QUERY_CHUNK)]
    cosines, shortlist = torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])  # best first
    listed = cosines[:, 0] - cosines[:, -1] > 2 * (_error(length, 2.0**-24) + _error(length, 2.0**-53))

    for rows in (valid & ~listed).nonzero()[:, 0].split(_QUERY_CHUNK):
        found = ((queries[rows] @ bank.lines_t) / (norms[rows, None] * bank.norms)).topk(_TOP_K, dim=1)  # (n, K)
        shortlist[rows] = found.indices
        listed[rows] = found.values[:, 0] - found.values[:, -1] > 4 * _error(length, 2.0**-53)
    return shortlist, listed


def _error(length: int, unit_roundoff: float) -> float:
    """Bound on the rounding error of a cosine <x, l> / (|x| |l|) of vectors of this length computed with this unit
    roundoff: a dot product in any summation order is off by at most about length * u times sum |x_i l_i| <= |x| |l|
    (plus a few roundings for the normalisation and the division)."""
    return (length + 4) * unit_roundoff


def _cosine_distance(dots: torch.Tensor, query_norms: torch.Tensor, line_norms: torch.Tensor) -> torch.Tensor:
    """1 - <x, l> / (|x| |l|) with the cosine clipped to [-1, 1], the same float64 operations as scipy's cdist."""
    return 1 - (dots / (query_norms * line_norms)).clamp(-1.0, 1.0)


def smoothness(angles: np.ndarray) -> np.ndarray:
    """Official Smoothness of each interpolation; (P, S) angles in radians -> (P,), NaN where the total turn of the
    unwrapped angles is below :data:`MIN_TOTAL_TURN`."""
    theta = np.unwrap(np.atleast_2d(np.asarray(angles, dtype=np.float64)), axis=-1)  # remove 2 pi jumps
    steps = theta.shape[1]
    if steps < 2:
        raise ValueError(f"smoothness: need at least 2 angles per interpolation, got shape {theta.shape}")
    turn = np.abs(np.diff(theta, axis=-1))  # (P, S-1) |theta_{k+1} - theta_k|
    total = np.abs(theta[:, -1] - theta[:, 0])  # (P,)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.max(turn / total[:, None], axis=-1) - 1.0 / (steps - 1)
    score[total < MIN_TOTAL_TURN] = np.nan
    return score


@dataclass(frozen=True)
class LinesScore:
    """The two official numbers of one evaluation, plus how many pairs had an undefined Smoothness."""

    mean_distance: float  # mean cosine distance to the nearest true line (raw; the paper reports x 10^3)
    smoothness: float  # mean Smoothness, NaN pairs counted as 0 (NaN if every pair is NaN)
    nan_pairs: int  # interpolations whose end points decode to (nearly) the same angle
    n_pairs: int

    @property
    def mean_distance_e3(self) -> float:
        """Mean Distance x 10^3, the unit of the paper's tables."""
        return 1e3 * self.mean_distance


def score_interpolations(images: torch.Tensor | np.ndarray) -> LinesScore:
    """Official ``line_eval`` of decoded interpolations, (P, S, 1, H, W) or (P, S, H, W) -> :class:`LinesScore`."""
    shape = tuple(images.shape)
    if len(shape) not in (4, 5) or (len(shape) == 5 and shape[2] != 1):
        raise ValueError(f"score_interpolations: expected (P, S, 1, H, W) or (P, S, H, W) images, got {shape}")
    pairs, steps = shape[:2]
    distance, angles = nearest_reference(images.reshape((pairs * steps, *shape[2:])))
    scores = smoothness(angles.reshape(pairs, steps))  # (P,)
    nan = np.isnan(scores)
    mean_smoothness = math.nan if nan.all() else float(np.sum(scores[~nan]) / pairs)
    return LinesScore(float(np.mean(distance)), mean_smoothness, int(nan.sum()), pairs)


def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, steps: int = INTERPOLATION_STEPS) -> torch.Tensor:
    """Straight lines in latent space, z_k = (z_a (S-1-k) + z_b k) / (S-1) for k = 0..S-1; (P, ...) -> (P, S, ...)."""
    if z_a.shape != z_b.shape or steps < 2:
        raise ValueError(f"interpolate_latents: need equal shapes and steps >= 2, got {tuple(z_a.shape)}, "
                         f"{tuple(z_b.shape)}, steps={steps}")
    k = torch.arange(steps, dtype=z_a.dtype, device=z_a.device).reshape(1, steps, *([1] * (z_a.dim() - 1)))
    return (z_a.unsqueeze(1) * (steps - 1 - k) + z_b.unsqueeze(1) * k) / (steps - 1)


@torch.no_grad()
def evaluate_autoencoder(
    encode: Callable[[torch.Tensor], torch.Tensor],
    decode: Callable[[torch.Tensor], torch.Tensor],
    x_test: torch.Tensor,
    steps: int = INTERPOLATION_STEPS,
) -> LinesScore:
    """The official evaluation: encode the 2P test lines, interpolate line p with line P + p in latent space over
    ``steps`` points, decode (raw output, no clipping) and score. Pass callables in evaluation mode (no dropout).
    """
    if x_test.dim() != 4 or len(x_test) < 2 or len(x_test) % 2:
        raise ValueError(f"evaluate_autoencoder: x_test must be (2P, 1, H, W) lines, got {tuple(x_test.shape)}")
    pairs = len(x_test) // 2
    z = encode(x_test)  # (2P, ...)
    z_path = interpolate_latents(z[:pairs], z[pairs:], steps).flatten(0, 1)  # (P S, ...)
    decoded = torch.cat([decode(chunk) for chunk in z_path.split(_DECODE_CHUNK)])  # (P S, 1, H, W)
    return score_interpolations(decoded.reshape(pairs, steps, *decoded.shape[1:]))


def reference_interpolations(
    start: float = 5 * math.pi / 7, end: float = 3 * math.pi / 2, steps: int = INTERPOLATION_STEPS
) -> dict[str, np.ndarray]:
    """Five hand-made interpolations between the lines at ``start`` and ``end`` (radians), each (S, 32, 32) float64,
    to show what the two metrics reward and punish:

    * ``correct``: the line turns at constant speed along the short arc (Mean Distance ~ 0, Smoothness ~ 0);
    * ``crossfade``: pixel-space mix (1 - t) x_start + t x_end, not a line in between (high Mean Distance);
    * ``abrupt``: x_start for the first half, then x_end (real lines, but Smoothness ~ 1 - 1/(S-1));
    * ``long_way``: turns at constant speed the long way round (not penalised: the metrics ignore the direction);
    * ``blurred``: the correct path blurred by a Gaussian of :data:`BLUR_SIGMA` px (scipy.ndimage, mode 'reflect'):
      smooth but not quite lines (Mean Distance 0.0100, Smoothness 0.0176).

    The project notes quote Mean Distance ~0.408 / Smoothness ~0.0107 for "blurred lines"; no blur of the correct
    path tried reproduces that pair (Gaussian sigma 0.3-6 px in every boundary mode, box blurs, in [-1, 1] or
    [0, 1] pixel units, with or without rescaling). A blur that keeps the -1 background stays within cosine
    distance 0.06 of some line; one whose background is 0 lands at 0.9 or more.
    """
    t = np.arange(steps) / (steps - 1)  # (S,) from 0 to 1
    short_turn = (end - start + math.pi) % (2 * math.pi) - math.pi  # signed turn in [-pi, pi)
    long_turn = short_turn - math.copysign(2 * math.pi, short_turn)
    first, last = draw_line(start), draw_line(end)  # (H, W)
    correct = np.stack([draw_line(start + short_turn * tk) for tk in t])  # (S, H, W)
    return {
        "correct": correct,
        "crossfade": (1 - t)[:, None, None] * first + t[:, None, None] * last,
        "abrupt": np.where((np.arange(steps) < steps / 2)[:, None, None], first, last),
        "long_way": np.stack([draw_line(start + long_turn * tk) for tk in t]),
        "blurred": scipy.ndimage.gaussian_filter(correct, sigma=(0, BLUR_SIGMA, BLUR_SIGMA)),
    }
