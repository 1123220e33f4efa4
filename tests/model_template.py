"""Pieces of the model test template every chapter's model tests share."""
import io

import torch


def load_saved_state(model, other, weights_only: bool = True):
    """Save ``model``'s weights and optimiser state as a checkpoint does, load them into ``other``; return ``other``."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizers": model.optimizers.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=weights_only)
    other.load_state_dict(saved["model"])
    other.optimizers.load_state_dict(saved["optimizers"])
    return other
