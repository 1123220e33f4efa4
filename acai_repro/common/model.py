"""The contract every model of every paper follows, so that one training call and one test template serve them all.

A model is an ``nn.Module`` with

* ``optimizers``: an :class:`~acai_repro.common.players.Optimizers`, one optimiser per player, checkpointable;
* ``train_step(x, label=None) -> dict[str, Tensor]``: every update of one batch drawn from its data stream, as
  separate visible steps, returning the detached scalar losses by name. ``label`` is the batch's labels where the
  data has them (models that do not use labels ignore them);
* ``encode(x)`` and ``decode(z)``: the code and the image (or vector) it decodes to.

All its other state (e.g. a step counter that drives a schedule) lives in buffers, so ``state_dict`` holds it, and
all its randomness comes from torch's global generator, which the Trainer checkpoints.
"""
from __future__ import annotations

import torch
from torch import nn

from acai_repro.common.players import Optimizers


class Model(nn.Module):
    """Base of every model: ``optimizers`` by player, ``train_step``, ``encode`` and ``decode``."""

    def __init__(self) -> None:
        super().__init__()
        self.optimizers = Optimizers()

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """All the updates for one batch; returns the detached scalar losses by name."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
