"""Figures shared by the chapters: loss curves, image grids, interpolation strips, a scrubbable animation."""
from __future__ import annotations

from typing import Sequence

import re

import matplotlib.pyplot as plt
import numpy as np

# matplotlib's to_jshtml() links Font Awesome 4 from a CDN for its player buttons. The book's theme ships Font
# Awesome locally (its fontawesome.js knows the v4 names), so the link is dropped: offline it would only stall a page.
_JSHTML_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^"]*">\s*')


def loss_curves(history, names: Sequence[str] | None = None, *, per_step: float = 1, xlabel: str = "step",
                log: Sequence[str] = (), ncols: int = 4, label: str | None = None, axes=None):
    """One panel per logged loss of a :class:`~acai_repro.training.History` (all of them by default), ``per_step``
    units of x per step (e.g. the batch size for images), a log y-axis for the names in ``log``.

    Returns ``(fig, {name: ax})``; pass ``axes`` (that dict) to draw a second history on the same panels.
    """
    names = list(names or [k for k in history.losses[0] if k != "step"])
    if axes is None:
        ncols = min(ncols, len(names))
        nrows = -(-len(names) // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
        for ax in grid.flat[len(names):]:
            ax.axis("off")
        axes = dict(zip(names, grid.flat))
    for name in names:
        steps, values = history.series(name)
        ax = axes[name]
        ax.plot(np.asarray(steps) * per_step, values, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        if name in log:
            ax.set_yscale("log")
    fig = next(iter(axes.values())).figure
    fig.tight_layout()
    return fig, axes


def _as_images(images) -> np.ndarray:
    """(N, H, W), (N, 1, H, W) or (N, C, H, W) tensors/arrays -> (N, H, W[, C]) numpy in [0, 1]."""
    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if arr.ndim == 4:
        arr = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)
    lo = -1.0 if arr.min() < 0 else 0.0  # images in [-1, 1] (ACAI convention) or [0, 1]
    return np.clip((arr - lo) / (1.0 - lo), 0.0, 1.0)


def image_grid(images, ncols: int = 8, size: float = 0.9, title: str | None = None):
    """A grid of images, ``ncols`` per row; returns the figure."""
    imgs = _as_images(images)
    nrows = int(np.ceil(len(imgs) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img in zip(axes.flat, imgs):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    if title:
        fig.suptitle(title)
    return fig


def strips(rows: Sequence, labels: Sequence[str], size: float = 0.7):
    """One interpolation per row (each (S, ...) images), labelled on the left; returns the figure."""
    rows = [_as_images(r) for r in rows]
    steps = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), steps, figsize=(steps * size, len(rows) * size * 1.05), squeeze=False)
    for i, (row, label) in enumerate(zip(rows, labels)):
        for k in range(steps):
            ax = axes[i, k]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if k < len(row):
                ax.imshow(row[k], cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def scrubbable(rows: Sequence, labels: Sequence[str], interval: int = 150) -> str:
    """An HTML/JavaScript animation (one frame per interpolation step, a row of panels per frame).

    The returned HTML carries its frames and its own slider and buttons, so a reader can scrub it in the static
    book with no kernel (``IPython.display.HTML(scrubbable(...))``).
    """
    from matplotlib import animation

    rows = [_as_images(r) for r in rows]
    fig, axes = plt.subplots(1, len(rows), figsize=(1.6 * len(rows), 1.9), squeeze=False)
    shown = []
    for ax, row, label in zip(axes[0], rows, labels):
        ax.axis("off")
        ax.set_title(label, fontsize=9)
        shown.append(ax.imshow(row[0], cmap="gray", vmin=0, vmax=1))

    def frame(k: int):
        for im, row in zip(shown, rows):
            im.set_data(row[min(k, len(row) - 1)])
        return shown

    anim = animation.FuncAnimation(fig, frame, frames=max(len(r) for r in rows), interval=interval, blit=True)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return _JSHTML_CDN_LINK.sub("", html)
