r"""Attribute vectors in a latent space, an edit score that measures them, and an image sharpness measure.

Attribute vectors (the paper's Figures 4 and 5): regress the latent codes z (N, D) of many faces on their binary
attributes a (N, K) with a bias, by ordinary least squares (``numpy.linalg.lstsq``):

.. math::  z \approx a W + b, \qquad W \in \mathbb{R}^{K \times D}

Row k of W, v_k, is the change of code that goes with attribute k turning on while the others stay fixed; an edit
is decode(z + s v_k). Attributes here are coded 0 / 1, so s = 1 is one "off -> on" step; the paper's CelebA
attributes are coded -1 / 1 and its figures add 3 v, i.e. s = 1.5 in our units.

The edit score asks an independent judge: a logistic-regression classifier per attribute (scikit-learn), trained
on the *real* training images' pixels. For attribute k, take test faces where it is off, reconstruct them (s = 0)
and edit them (s > 0): ``on_rate`` is how often the judge then says the attribute is on (vs ``on_rate_recon``
before the edit), ``others_changed`` the fraction of the other attributes' predicted labels that the edit changed.
The same with attribute k on and -s gives ``off_rate``.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from sklearn.linear_model import LogisticRegression


def attribute_vectors(codes: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
    """(K, D) least-squares coefficients of codes (N, D) on attributes (N, K) in {0, 1} plus a bias."""
    a = np.concatenate([attributes.cpu().double().numpy(), np.ones((len(attributes), 1))], axis=1)  # (N, K + 1)
    coef, *_ = np.linalg.lstsq(a, codes.detach().cpu().double().numpy(), rcond=None)  # (K + 1, D)
    return torch.from_numpy(coef[:-1]).float()  # drop the bias row


@torch.no_grad()
def edit(model, x: torch.Tensor, vector: torch.Tensor, strengths) -> torch.Tensor:
    """decode(encode(x) + s v) for each s: (len(strengths), B, 3, S, S)."""
    z = model.encode(x)  # (B, D)
    return torch.stack([model.decode(z + s * vector.to(z)) for s in strengths])


def _pixels(images: torch.Tensor) -> np.ndarray:
    """(N, 3 S'^2) features: the pixels, averaged down to at most 32 x 32 (enough to see every attribute here)."""
    images = images.detach()
    if images.shape[-1] > 32:
        images = torch.nn.functional.adaptive_avg_pool2d(images, 32)
    return images.cpu().flatten(1).numpy()


class AttributeJudge:
    """One logistic regression per attribute on raw pixels of real images (the edit score's classifier)."""

    def __init__(self, images: torch.Tensor, attributes: torch.Tensor, seed: int = 0, c: float = 0.05) -> None:
        x, a = _pixels(images), attributes.cpu().numpy() > 0.5
        self.models = [LogisticRegression(C=c, max_iter=500, random_state=seed).fit(x, a[:, k])
                       if 0 < a[:, k].sum() < len(a) else None for k in range(a.shape[1])]

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """(N, K) bool; an attribute constant in the training set is predicted as that constant (False)."""
        x = _pixels(images)
        return np.stack([m.predict(x) if m is not None else np.zeros(len(x), bool) for m in self.models], axis=1)

    def accuracy(self, images: torch.Tensor, attributes: torch.Tensor) -> np.ndarray:
        """(K,) accuracy on labelled images."""
        return (self.predict(images) == (attributes.cpu().numpy() > 0.5)).mean(0)


@torch.no_grad()
def edit_scores(model, judge: AttributeJudge, x: torch.Tensor, attributes: torch.Tensor, vectors: torch.Tensor,
                strength: float, names, batch: int = 256) -> list[dict]:
    """One row per attribute: on_rate_recon, on_rate, off_rate_recon, off_rate, others_changed, n_on / n_off."""
    labels = attributes.cpu().numpy() > 0.5
    recon = torch.cat([model.reconstruct(x[i:i + batch]) for i in range(0, len(x), batch)])
    pred_recon = judge.predict(recon)  # (N, K)
    rows = []
    for k, name in enumerate(names):
        row = {"attribute": name}
        changed = []
        for flag, sign, key in ((False, 1.0, "on"), (True, -1.0, "off")):
            chosen = np.flatnonzero(labels[:, k] == flag)
            row[f"n_{key}_candidates"] = len(chosen)
            if not len(chosen):
                row[f"{key}_rate_recon"] = row[f"{key}_rate"] = float("nan")
                continue
            edited = torch.cat([edit(model, x[chosen[i:i + batch]], vectors[k], [sign * strength])[0]
                                for i in range(0, len(chosen), batch)])
            pred = judge.predict(edited)
            target = not flag  # "on" edits want True, "off" edits want False
            row[f"{key}_rate_recon"] = float((pred_recon[chosen, k] == target).mean())
            row[f"{key}_rate"] = float((pred[:, k] == target).mean())
            others = np.delete(np.arange(labels.shape[1]), k)
            changed.append(pred[:, others] != pred_recon[chosen][:, others])
        row["others_changed"] = float(np.concatenate(changed).mean()) if changed else float("nan")
        rows.append(row)
    return rows


def sharpness(images: torch.Tensor) -> float:
    """Mean over images of the variance of the Laplacian of the grey image (in [0, 1]): higher = sharper edges."""
    grey = ((images.detach().cpu().double().numpy() + 1) / 2).mean(1)  # (N, S, S)
    kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)[None]  # (1, 3, 3): no mixing of images
    lap = ndimage.correlate(grey, kernel, mode="nearest")  # (N, S, S), the discrete Laplacian of each image
    return float(lap.reshape(len(lap), -1).var(1).mean())
