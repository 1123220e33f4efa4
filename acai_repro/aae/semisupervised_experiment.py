"""The semi-supervised AAE's experiment: hide all but ``n_labels`` labels, train (or resume), score q(y|x)."""
from __future__ import annotations

import torch

from acai_repro.aae.experiment import hide_labels
from acai_repro.aae.priors import UNLABELLED
from acai_repro.aae.semisupervised import LabelledMixSampler, SemiSupervisedAAE
from acai_repro.common.codes import in_chunks
from acai_repro.data.mnist import load_mnist
from acai_repro.errors import DataError
from acai_repro.training import Trained, train

ALL_LABELS = -1  # n_labels value: every training label is seen (the paper's fully supervised row)


def build_model(p: dict) -> SemiSupervisedAAE:
    """The model the run parameters ``p`` describe."""
    return SemiSupervisedAAE(z_dim=p["z_dim"], hidden=p["hidden"], layers=p["layers"], lr=p["lr"],
                             lr_adv=p["lr_adv"], lr_semi=p["lr_semi"], disc_noise=p["disc_noise"])


def seen_labels(labels: torch.Tensor, n_labels: int, seed: int) -> torch.Tensor:
    """Each training digit's label as the model sees it: ``n_labels`` kept (balanced over the digits, chosen by
    ``seed``), the rest -1; :data:`ALL_LABELS` keeps them all."""
    return labels.clone() if n_labels == ALL_LABELS else hide_labels(labels, n_labels, seed)


def unlabelled_pool(root: str, held_out: torch.Tensor) -> torch.Tensor:
    """Extra training images with no label (N, 1, 28, 28): the MNIST test-set IDX files (``t10k-*``) in ``root``.

    With the bundled digits (a subset of MNIST's *training* set) the 10,000 test-set digits are new images; with full
    MNIST they are the held-out digits themselves, so any image of the pool equal to a held-out one raises
    DataError before training: the pool may only grow the unlabelled data, never leak the test set.
    """
    pool = load_mnist("test", "28", root).images
    as_bytes = lambda x: (x.flatten(1) * 255).round().to(torch.uint8)  # noqa: E731  exact pixels
    _, which = torch.unique(torch.cat([as_bytes(held_out.cpu()), as_bytes(pool)]), dim=0, return_inverse=True)
    shared = torch.isin(which[:len(held_out)], which[len(held_out):]).sum().item()
    if shared:
        raise DataError(f"{root}: {shared} of the held-out digits are also in the unlabelled pool; give a folder whose "
                        f"test-set images are not the held-out ones (with full MNIST, leave unlabelled_root empty)")
    return pool


@torch.no_grad()
def error_rate(model: SemiSupervisedAAE, x: torch.Tensor, y: torch.Tensor) -> float:
    """The paper's metric: the share of digits whose argmax q(y|x) is not their label (nan for no digits)."""
    if len(x) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    wrong = (in_chunks(model.classify, x).argmax(1) != y).float().mean().item()
    model.train(was_training)
    return wrong


def train_semisupervised(run, x_train: torch.Tensor, y_train: torch.Tensor,
                         test_set: tuple[torch.Tensor, torch.Tensor], x_extra: torch.Tensor | None = None,
                         progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) on the training digits, of which the model sees ``n_labels`` labels, and
    on the images ``x_extra`` (an :func:`unlabelled_pool`, never labelled) when given.

    Every ``eval_every`` steps (and at the end) the error on the held-out ``test_set`` (``test_error``) and on the
    training digits whose labels were hidden (``unlabelled_error``) go to ``history.evals``: the run's learning
    curve. The evaluation draws no random numbers, so it leaves the training (and an exact resume) untouched.
    """
    p = run.params
    model = build_model(p).to(run.device)
    y_seen = seen_labels(y_train, p["n_labels"], p["seed"])
    hidden = y_seen < 0
    if x_extra is not None and len(x_extra):
        x_pool = torch.cat([x_train, x_extra.to(x_train.device)])
        y_pool = torch.cat([y_seen, torch.full((len(x_extra),), UNLABELLED, dtype=y_seen.dtype, device=y_seen.device)])
    else:
        x_pool, y_pool = x_train, y_seen
    data = LabelledMixSampler(x_pool, y_pool, batch_size=p["batch_size"], labelled_batch=p["labelled_batch"],
                              seed=p["seed"])

    def evaluate(step: int) -> dict[str, float]:
        return {"test_error": error_rate(model, *test_set),
                "unlabelled_error": error_rate(model, x_train[hidden], y_train[hidden])}

    return train(model, data, steps=p["steps"], run_dir=run.dir, checkpoint_every=max(1, p["steps"] // 4),
                 log_every=max(1, p["steps"] // 50), eval_fn=evaluate, eval_every=p["eval_every"] or None,
                 desc=f"semi-supervised AAE, {p['n_labels']} labels", progress=progress)
