r"""Attribute vectors in a latent space, an edit score that measures them, and an image sharpness measure.

Attribute vectors (the paper's Figures 4 and 5): regress the latent codes z (N, D) of many faces on their binary
attributes a (N, K) with a bias, by ordinary least squares (``numpy.linalg.lstsq``):

.. math::  z \approx a W + b, \qquad W \in \mathbb{R}^{K \times D}

Row k of W, v_k, is the change of code that goes with attribute k turning on while the others stay fixed; an edit
is decode(z + s v_k). Attributes here are coded 0 / 1, so s = 1 is one "off -> on" step; the official example
notebook codes them 0 / 1 too (``1 * (attr == 1)``) and adds 3 v, i.e. s = 3.

The edit score asks an independent judge: a logistic-regression classifier per attribute (scikit-learn), trained
on the *real* training images' pixels. Two choices keep it fair to decoded images:

* the classes are weighted to balance (``class_weight="balanced"``): a rare attribute such as eyeglasses (3 % of
  CelebA) is not simply judged "off" everywhere, and the judge is scored by its balanced accuracy;
* each real face is seen twice, as is and Gaussian-blurred (:data:`JUDGE_BLUR` px at 32 px): every autoencoder's
  reconstructions are blurrier than real faces, and a judge trained on sharp faces alone reads blur as the absence
  of smiles or blond hair (measured: its "smiling" rate on faces blurred by 2 px falls from 0.34 to 0.06). With the
  blurred copies it gives the same rates on sharp and blurred real faces.

For attribute k, take test faces where it is off, reconstruct them (s = 0) and edit them (s > 0): ``on_rate`` is how
often the judge then says the attribute is on (vs ``on_rate_recon`` before the edit), ``others_changed`` the fraction
of the other judged attributes' predicted labels that the edit changed. The same with attribute k on and -s gives
``off_rate``.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

JUDGE_BLUR = 1.5  # std (px, at the judge's 32 px) of the blurred copies of the real training faces


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


def _pooled(images: torch.Tensor) -> torch.Tensor:
    """(N, C, S', S') on the CPU: the images averaged down to at most 32 x 32 (enough to see every attribute here)."""
    images = images.detach()
    if images.shape[-1] > 32:
        images = torch.nn.functional.adaptive_avg_pool2d(images, 32)
    return images.cpu()


def _pixels(images: torch.Tensor) -> np.ndarray:
    """(N, C S'^2) features: the pooled pixels."""
    return _pooled(images).flatten(1).numpy()


class AttributeJudge:
    """One class-balanced logistic regression per attribute on the pixels of real images, each seen sharp and
    blurred (the edit score's classifier; see the module doc)."""

    def __init__(self, images: torch.Tensor, attributes: torch.Tensor, seed: int = 0, c: float = 0.05,
                 blur: float = JUDGE_BLUR) -> None:
        pooled = _pooled(images)  # (N, C, S', S')
        x = pooled.flatten(1).numpy()
        a = attributes.cpu().numpy() > 0.5
        if blur > 0:
            blurred = ndimage.gaussian_filter(pooled.numpy(), (0, 0, blur, blur))  # blur each image and channel
            x, a = np.concatenate([x, blurred.reshape(len(x), -1)]), np.concatenate([a, a])
        self.models = [LogisticRegression(C=c, max_iter=500, class_weight="balanced", random_state=seed).fit(x, a[:, k])
                       if 0 < a[:, k].sum() < len(a) else None for k in range(a.shape[1])]

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """(N, K) bool; an attribute constant in the training set is predicted as that constant (False)."""
        x = _pixels(images)
        return np.stack([m.predict(x) if m is not None else np.zeros(len(x), bool) for m in self.models], axis=1)

    def accuracy(self, images: torch.Tensor, attributes: torch.Tensor) -> np.ndarray:
        """(K,) balanced accuracy (the mean of the recalls of "on" and "off") on labelled images."""
        truth, pred = attributes.cpu().numpy() > 0.5, self.predict(images)
        return np.array([balanced_accuracy_score(truth[:, k], pred[:, k]) if 0 < truth[:, k].sum() < len(truth)
                         else float("nan") for k in range(truth.shape[1])])


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
    """Mean over images (N, C, S, S) in [0, 1] of the variance of the Laplacian of the grey image: higher = sharper."""
    grey = images.detach().cpu().double().numpy().mean(1)  # (N, S, S)
    kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)[None]  # (1, 3, 3): no mixing of images
    lap = ndimage.correlate(grey, kernel, mode="nearest")  # (N, S, S), the discrete Laplacian of each image
    return float(lap.reshape(len(lap), -1).var(1).mean())
