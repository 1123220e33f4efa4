"""Mini-batches of a data set held in memory, on the device: the data stream of every in-memory experiment.

:class:`BatchSampler` draws index batches with its own seeded generator (checkpointable, so a resumed run draws the
same batches) and returns the indexed tensors, never leaving the device. Two ways to draw, as the papers' code did:

* ``replacement=True``: each batch is ``batch_size`` indices uniform with replacement;
* ``replacement=False``: epochs of a fresh random permutation, cut into batches (the last partial batch of an
  epoch is dropped).

``draws`` > 1 returns that many independent batches stacked, (draws, batch_size, ...): one fresh batch for each of
the several updates of one training step (MaskAAE's official step draws one per update).
"""
from __future__ import annotations

import torch


class BatchSampler:
    """``next()`` -> a tuple of the given tensors indexed by one batch of indices."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0, replacement: bool = True,
                 draws: int = 1) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError(f"BatchSampler needs tensors of one length, got {[len(t) for t in tensors]}")
        n = len(tensors[0])
        if not 1 <= batch_size <= n or draws < 1:
            raise ValueError(f"batch_size must be in 1..{n} and draws at least 1, got {batch_size}, {draws}")
        self.tensors, self.n, self.batch_size, self.draws = tensors, n, batch_size, draws
        self.replacement = replacement
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = (None, 0) if replacement else (torch.randperm(n, generator=self.generator), 0)

    def indices(self) -> torch.Tensor:
        """The next ``draws * batch_size`` indices, on the CPU."""
        size = self.draws * self.batch_size
        if self.replacement:
            return torch.randint(self.n, (size,), generator=self.generator)
        parts = []
        for _ in range(self.draws):
            if self.position + self.batch_size > self.n:
                self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
            self.position += self.batch_size
            parts.append(self.order[self.position - self.batch_size:self.position])
        return torch.cat(parts)

    def next(self) -> tuple[torch.Tensor, ...]:
        index = self.indices().to(self.tensors[0].device)
        batch = tuple(t[index] for t in self.tensors)
        if self.draws > 1:
            batch = tuple(t.view(self.draws, self.batch_size, *t.shape[1:]) for t in batch)
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]
