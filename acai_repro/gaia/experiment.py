"""The GAIA chapter's experiment: its data, the training of GAIA and its baseline, and the nearest-neighbour walks
through a UMAP of the codes (the blog post's Figure 0). The maths is in the sibling modules."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from acai_repro.common.batches import BatchSampler
from acai_repro.data.faces import FaceData, load_faces
from acai_repro.errors import DataError
from acai_repro.gaia.attributes import sharpness
from acai_repro.gaia.model import GAIA, L1Autoencoder
from acai_repro.runner.registry import repo_root
from acai_repro.training import Trained, train

CELEBA_SHOWN = ("Smiling", "Eyeglasses", "Blond_Hair", "Male", "Bangs", "Young")  # the paper's Figure 4 kind


def to_unit_range(data: FaceData) -> FaceData:
    """The loaders give pixels in [-1, 1]; GAIA works on [0, 1] as the official code (images / 255, sigmoid output)."""
    return dataclasses.replace(data, images=(data.images + 1) / 2)


def find_data_root(data_root: str) -> Path:
    """``data_root`` as given, or else relative to the checkout (the profiles name ``.cache/celeba64.npz``)."""
    path = Path(data_root).expanduser()
    if path.exists() or path.is_absolute():
        return path
    in_checkout = repo_root() / path
    return in_checkout if in_checkout.exists() else path


def load_data(dataset: str, data_root: str, size: int, n_train: int, n_test: int, seed: int) -> tuple[FaceData, FaceData]:
    """(train, test) faces in [0, 1]: procedural (two seeded draws) or CelebA's train and test splits."""
    if dataset == "faces":
        train, test = load_faces(n_train, size, seed), load_faces(n_test, size, seed + 1_000_003)
    else:
        root = find_data_root(data_root) if data_root else None
        if root is None or not root.exists():
            raise DataError(
                f"dataset='celeba' needs data_root: a CelebA folder (img_align_celeba/, list_attr_celeba.txt, "
                f"list_eval_partition.txt) or the .npz that `python data_scripts/prepare_celeba.py CELEBA_FOLDER "
                f".cache/celeba64.npz` writes; got {data_root!r}. Without CelebA, `-p dataset faces` runs on "
                f"procedural faces.")
        from acai_repro.data.celeba import load_celeba

        train, test = load_celeba(root, size, "train", limit=n_train), load_celeba(root, size, "test", limit=n_test)
    return to_unit_range(train), to_unit_range(test)


def shown_attributes(names: tuple[str, ...]) -> list[str]:
    """The attributes the figures show: all five procedural ones, or a few well-known CelebA ones."""
    chosen = [n for n in CELEBA_SHOWN if n in names]
    return chosen or list(names[:6])


def train_models(run, x_train: torch.Tensor, x_eval: torch.Tensor | None = None,
                 progress: bool = True) -> dict[str, Trained]:
    """Train (or resume) GAIA and the plain L1 autoencoder of the same architecture on random batches of the
    faces, each in its own folder ``run.dir / "gaia"`` and ``run.dir / "ae"``; both start from ``seed``.

    With ``x_eval`` (held-out faces), each history also records the sharpness of their reconstructions 20 times
    over training (evaluation ``"sharpness"``): whether GAIA pulls away from the baseline as it trains, or not."""
    p = run.params
    torch.manual_seed(p["seed"])
    models = build_models(p)
    steps = p["steps"]
    # channels_last (NHWC) weights and images: PyTorch's CPU convolutions skip a layout conversion per layer, which
    # makes a step of both models about 1.3x faster at 32 px (benchmarks/gaia_layout.py and its JSON); the losses
    # are unchanged up to float rounding.
    x_train = x_train.contiguous(memory_format=torch.channels_last)
    trained = {}
    for name, model in models.items():
        model = model.to(run.device, memory_format=torch.channels_last)
        evaluate = None if x_eval is None else sharpness_along(model, x_eval)
        trained[name] = train(model, BatchSampler(x_train, batch_size=p["batch_size"], seed=p["seed"]),
                              steps=steps, run_dir=run.dir / name, checkpoint_every=max(steps // 4, 1),
                              log_every=max(steps // 50, 1), desc=name, progress=progress,
                              eval_fn=evaluate, eval_every=max(steps // 20, 1) if evaluate else None)
    return trained


def build_models(p: dict) -> dict[str, GAIA | L1Autoencoder]:
    """GAIA and its baseline, a plain L1 autoencoder of the generator's architecture, from a run's parameters ``p``
    (freshly initialised from the current torch seed)."""
    return {"gaia": GAIA(p["image_size"], p["width"], p["z_dim"], lr_max=p["lr_max"], dist_weight=p["dist_weight"]),
            "ae": L1Autoencoder(p["image_size"], p["width"], p["z_dim"], lr=p["lr_max"] / 2)}  # GAIA's midpoint


def sharpness_along(model, x_eval: torch.Tensor):
    """An ``eval_fn`` for :func:`~acai_repro.training.train`: the sharpness of ``model``'s reconstructions of
    ``x_eval`` at the current step (no randomness drawn, so training is the same with or without it)."""
    def evaluate(step: int) -> dict[str, float]:
        with torch.no_grad():
            return {"sharpness": sharpness(model.reconstruct(x_eval))}
    return evaluate


def nearest_neighbour_walks(points: np.ndarray, starts, hops: int) -> np.ndarray:
    """(len(starts), hops + 1) indices: from each start, repeatedly step to the nearest not-yet-visited point."""
    walks = [np.asarray(starts)]
    visited = np.zeros((len(starts), len(points)), bool)
    visited[np.arange(len(starts)), walks[0]] = True
    for _ in range(hops):
        here = points[walks[-1]]  # (W, 2)
        distance = ((here[:, None, :] - points[None, :, :]) ** 2).sum(-1)  # (W, N)
        distance[visited] = np.inf
        step = distance.argmin(1)
        visited[np.arange(len(starts)), step] = True
        walks.append(step)
    return np.stack(walks, axis=1)


@torch.no_grad()
def decode_walk(model, codes: torch.Tensor, walk, steps: int) -> torch.Tensor:
    """Linear interpolation in z along a walk of code indices, ``steps`` images per hop plus the last end point."""
    z = codes[torch.as_tensor(walk)]  # (H + 1, D)
    t = torch.linspace(0, 1, steps + 1, device=z.device)[:-1].view(1, -1, 1)  # (1, steps, 1)
    path = ((1 - t) * z[:-1, None] + t * z[1:, None]).flatten(0, 1)  # (H * steps, D)
    return model.decode(torch.cat([path, z[-1:]]))
