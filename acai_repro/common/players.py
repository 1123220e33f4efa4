"""The players of an adversarial game: their optimisers, one update each, and holding the other player fixed.

Every model in the project trains several players (autoencoder, critic, discriminator, mask, probe), each with its
own optimiser, and writes each update as a visible step: a loss, then :func:`update` on that player's optimiser.
While one player's loss is computed through another player's network, that network is :func:`frozen`.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def adam(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with TensorFlow's defaults (beta1 0.9, beta2 0.999, epsilon 1e-8; PyTorch's are the same)."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> torch.Tensor:
    """One step of one player: zero its gradients, backpropagate ``loss``, step. Returns ``loss.detach()``."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Within the block the module's parameters record no gradient: the other player of a game is held fixed.

    Its outputs still carry gradients back to its *inputs*, which is what the player being trained needs.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class Optimizers(dict[str, torch.optim.Optimizer]):
    """The optimisers of one model by player name ("ae", "critic", "disc", ...), checkpointable as a whole."""

    def state_dict(self) -> dict[str, dict]:
        return {name: opt.state_dict() for name, opt in self.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        if set(state) != set(self):
            raise ValueError(f"Optimizers.load_state_dict: expected optimisers {sorted(self)}, got {sorted(state)}")
        for name, opt in self.items():
            opt.load_state_dict(state[name])
