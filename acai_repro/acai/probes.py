r"""Downstream evaluations of a latent space, as in ACAI's Section 5 (Berthelot et al. 2019, arXiv:1807.07543).

* :func:`linear_probe_accuracy`: a single linear layer (multinomial logistic regression, i.e. a dense layer trained
  by cross-entropy) fitted *after training* on the frozen codes of the training set, scored on the test codes. The
  paper instead trains its dense layer on the stop-gradient code alongside the autoencoder (the models' built-in
  probe, :meth:`~acai_repro.acai.base.Autoencoder.classify`); both read the same frozen features, the post-hoc fit
  runs to convergence rather than for the autoencoder's step count.
* :func:`clustering_accuracy`: the paper's clustering protocol. Codes are centred and whitened with the SVD of the
  training codes, K-means (k = number of classes, random initialisation, many restarts) is fitted on the training
  codes, and each test code takes its nearest centroid. Clusters carry no class names, so the score is the best
  one-to-one matching of clusters to labels (the Hungarian algorithm on the confusion matrix):

  .. math:: \mathrm{ACC} = \max_{\pi} \frac{1}{N} \sum_i \mathbb{1}[y_i = \pi(c_i)]
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression


def _as_2d(codes) -> np.ndarray:
    """Tensor or array (N, ...) -> float64 numpy (N, D)."""
    arr = codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)
    return arr.reshape(len(arr), -1).astype(np.float64)


def matched_accuracy(labels, clusters) -> float:
    """Accuracy of cluster ids against labels under the best one-to-one matching (Hungarian algorithm).

    Works for any number of clusters and classes; unmatched clusters count as errors.
    """
    labels, clusters = np.asarray(labels).ravel(), np.asarray(clusters).ravel()
    if labels.shape != clusters.shape or len(labels) == 0:
        raise ValueError(f"labels and clusters must be non-empty and of one length, got {labels.shape} and {clusters.shape}")
    _, y = np.unique(labels, return_inverse=True)
    _, c = np.unique(clusters, return_inverse=True)
    counts = np.zeros((c.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(counts, (c, y), 1)  # counts[k, j]: points of cluster k with label j
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def whiten(train, *others, eps: float = 1e-6) -> list[np.ndarray]:
    """Centre and SVD-whiten with the training codes' statistics; returns [train, *others] whitened.

    With train - mean = U S V^T (N points), each code maps to (z - mean) V S^{-1} sqrt(N), so the training codes
    have identity covariance. Directions with a singular value below ``eps`` times the largest (dead units) are
    dropped rather than blown up.
    """
    z = _as_2d(train)
    mean = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    keep = s > eps * s[0]
    project = vt[keep].T / s[keep] * np.sqrt(len(z))  # (D, rank)
    return [(z - mean) @ project] + [(_as_2d(o) - mean) @ project for o in others]


def clustering_accuracy(train_codes, test_codes, test_labels, n_clusters: int = 10, n_init: int = 100,
                        seed: int = 0) -> float:
    """The paper's K-means clustering accuracy: whiten, fit K-means on train codes, Hungarian-matched test accuracy."""
    z_train, z_test = whiten(train_codes, test_codes)
    kmeans = KMeans(n_clusters=n_clusters, init="random", n_init=n_init, random_state=seed).fit(z_train)
    return matched_accuracy(test_labels, kmeans.predict(z_test))


def linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels, max_iter: int = 2000) -> float:
    """Test accuracy of one linear layer (softmax regression, lbfgs, default L2 C = 1) on standardised frozen codes."""
    z_train, z_test = _as_2d(train_codes), _as_2d(test_codes)
    mean, std = z_train.mean(axis=0), z_train.std(axis=0) + 1e-8  # standardising keeps lbfgs well conditioned
    clf = LogisticRegression(max_iter=max_iter).fit((z_train - mean) / std, np.asarray(train_labels).ravel())
    return float(clf.score((z_test - mean) / std, np.asarray(test_labels).ravel()))
