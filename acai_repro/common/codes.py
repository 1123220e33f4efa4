"""A model applied to many inputs in chunks, without gradients: codes, decodings and reconstructions of a data set.

Results stay on the model's device; call ``.cpu()`` where a figure or scikit-learn needs them.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

CHUNK = 500  # inputs per forward pass: bounds the memory of one pass


@torch.no_grad()
def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """``fn`` applied to ``inputs`` chunk by chunk, outputs concatenated along the first dimension."""
    return torch.cat([fn(inputs[i:i + chunk]) for i in range(0, len(inputs), chunk)])


def encode_all(model, x: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Codes of many inputs, flattened to (N, D)."""
    return in_chunks(lambda batch: model.encode(batch).flatten(1), x, chunk)


def decode_all(model, z: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """Decodings of many codes; ``z`` is moved to the model's device first."""
    device = next(model.parameters()).device
    return in_chunks(model.decode, z.to(device), chunk)


def reconstruct_all(model, x: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """decode(encode(x)) of many inputs (the model's ``reconstruct`` where it has one: no training-time noise)."""
    return in_chunks(getattr(model, "reconstruct", lambda batch: model.decode(model.encode(batch))), x, chunk)
