"""2-D views of latent codes: UMAP (umap-learn) with the project's fixed settings, and its scatter plot.

Every chapter that shows a latent space through UMAP goes through :func:`umap_2d`, so the settings (seeded,
single-threaded as umap-learn requires for reproducibility) are the same everywhere. The first call in a fresh
process compiles numba code (20-50 s on 2 cores); ``NUMBA_CACHE_DIR`` (set by the Makefile) keeps it across processes.
"""
from __future__ import annotations

import numpy as np


def umap_2d(codes, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """Embed codes (N, D) (tensor or array; extra dims are flattened) into (N, 2) with a seeded UMAP."""
    import umap  # heavy import (numba): only where a chapter needs it

    arr = codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)
    arr = arr.reshape(len(arr), -1).astype(np.float32)
    if len(arr) < 4:
        raise ValueError(f"UMAP needs at least 4 codes, got {len(arr)}")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(arr) - 1), min_dist=min_dist,
                        random_state=seed, n_jobs=1)
    return reducer.fit_transform(arr)


def scatter_2d(points: np.ndarray, labels=None, title: str = "", ax=None, size: float = 4.0):
    """Scatter (N, 2) points coloured by integer labels (tab10) with a legend; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(size, size))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=3, alpha=0.7)
    else:
        labels = np.asarray(labels)
        for k in np.unique(labels):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.7, color=plt.cm.tab10(int(k) % 10),
                       label=str(k))
        ax.legend(markerscale=3, fontsize=7, loc="best", frameon=False)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return ax
