"""The semi-supervised AAE's experiment: hide all but ``n_labels`` labels, train (or resume), score q(y|x)."""
from __future__ import annotations

import torch

from acai_repro.aae.experiment import hide_labels
from acai_repro.aae.semisupervised import LabelledMixSampler, SemiSupervisedAAE
from acai_repro.common.codes import in_chunks
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
                         test_set: tuple[torch.Tensor, torch.Tensor], progress: bool = True) -> Trained:
    """Train (or resume from ``run.dir``) on the training digits, of which the model sees ``n_labels`` labels.

    Every ``eval_every`` steps (and at the end) the error on the held-out ``test_set`` (``test_error``) and on the
    training digits whose labels were hidden (``unlabelled_error``) go to ``history.evals``: the run's learning
    curve. The evaluation draws no random numbers, so it leaves the training (and an exact resume) untouched.
    """
    p = run.params
    model = build_model(p).to(run.device)
    y_seen = seen_labels(y_train, p["n_labels"], p["seed"])
    data = LabelledMixSampler(x_train, y_seen, batch_size=p["batch_size"], labelled_batch=p["labelled_batch"],
                              seed=p["seed"])
    hidden = y_seen < 0

    def evaluate(step: int) -> dict[str, float]:
        return {"test_error": error_rate(model, *test_set),
                "unlabelled_error": error_rate(model, x_train[hidden], y_train[hidden])}

    return train(model, data, steps=p["steps"], run_dir=run.dir, checkpoint_every=max(1, p["steps"] // 4),
                 log_every=max(1, p["steps"] // 50), eval_fn=evaluate, eval_every=p["eval_every"] or None,
                 desc=f"semi-supervised AAE, {p['n_labels']} labels", progress=progress)
