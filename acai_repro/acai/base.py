"""What the seven autoencoders of ACAI's Table 1 share (Berthelot et al. 2019, arXiv:1807.07543).

Every model is an :class:`Autoencoder`: the official conv encoder f and decoder g (:mod:`acai_repro.acai.nets`),
its own optimisers in :attr:`Autoencoder.optimizers`, an optional latent linear probe, and a
``train_step(x, label=None)`` that performs all the updates for one batch as separate, visible steps (each its
own ``zero_grad`` / ``backward`` / ``step``) and returns the detached losses by name.

Simultaneous updates. The official TensorFlow code groups the train ops of all players, so each player's gradient
is taken at the weights *before* any update of the batch. ``train_step`` gets the same result by doing one forward
pass, then the autoencoder step (the other player :func:`frozen`), then the other players' steps on ``.detach()``-ed
tensors from that forward pass: an optimiser step changes weights, never tensors already computed.

Checkpointing: the module's ``state_dict`` holds the networks (and the VQ-VAE's codebook buffers);
``model.optimizers`` has its own ``state_dict`` / ``load_state_dict``. A training loop keeps both, e.g.
:func:`acai_repro.training.train` does. All randomness (alpha,
noise, dropout masks, prior samples) comes from torch's global generator.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.acai.nets import Decoder, Encoder, n_scales
from acai_repro.common.mlp import dense
from acai_repro.common.model import Model
from acai_repro.common.players import Optimizers, adam, update


class Autoencoder(Model):
    """Base of the seven models: conv encoder f: x -> z, decoder g: z -> x_hat, optimisers, optional probe.

    x is (B, colors, size, size) in [-1, 1]; z is (B, latent, w, w) with w = ``latent_width``.
    ``n_classes`` adds the official latent probe, one dense layer trained by cross-entropy on the stop-gradient
    code (Adam, same lr); ``train_step(x, label)`` then trains it too, and :meth:`classify` predicts with it.
    """

    def __init__(
        self,
        *,
        depth: int = 16,  # channels of the first conv, doubled at each scale; lines and MNIST: 16, SVHN/CelebA: 64
        latent_width: int = 2,  # w; lines: 2 (so z is (B, 16, 2, 2)), other datasets and the lines VQ-VAE: 4
        latent: int = 16,  # latent channels C; lines: 16
        colors: int = 1,  # image channels
        size: int = 32,  # image height = width
        lr: float = 1e-4,  # Adam learning rate of every player and of the probe (official 1e-4)
        n_classes: int | None = None,  # probe classes (lines: 10 angle bins, MNIST: 10); None: no probe
    ) -> None:
        super().__init__()
        self.scales = n_scales(latent_width, size)  # 4 for the lines: 32 -> 2
        self.latent_shape = (latent, latent_width, latent_width)  # (C, w, w) of z
        self.depth, self.colors, self.lr = depth, colors, lr
        self.encoder, self.decoder = self.make_nets(depth, latent, colors, size)
        if n_classes is not None and n_classes < 2:
            raise ValueError(f"n_classes must be None (no probe) or at least 2, got {n_classes!r}")
        self.probe = None if n_classes is None else dense(latent * latent_width**2, n_classes)

    def make_nets(self, depth: int, latent: int, colors: int, size: int) -> tuple[nn.Module, nn.Module]:
        """(f, g): the official conv encoder and decoder; a family with other networks (the MLPs) overrides this."""
        return Encoder(self.scales, depth, latent, colors), Decoder(self.scales, depth, latent, colors)

    def make_optimizers(self, **players: Iterable[nn.Parameter]) -> Optimizers:
        """One Adam(lr) per player, plus "probe" when the model has one."""
        opts = Optimizers({name: adam(params, self.lr) for name, params in players.items()})
        if self.probe is not None:
            opts["probe"] = adam(self.probe.parameters(), self.lr)
        return opts

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """The parameters the autoencoder loss trains (optimiser "ae"): f and g, plus any latent heads."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f(x): (B, colors, H, W) -> (B, latent, w, w); the code the official evaluation interpolates."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x_hat = g(z): (B, latent, w, w) -> (B, colors, H, W), raw decoder output (no clipping)."""
        return self.decoder(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """g(f(x)) without any training-time corruption (no dropout, no input noise)."""
        return self.decode(self.encode(x))

    def probe_features(self, x: torch.Tensor) -> torch.Tensor:
        """The tensor the official probe reads: the conv encoder's output for every model but the VQ-VAE."""
        return self.encoder(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Probe logits (B, n_classes) for images x."""
        if self.probe is None:
            raise ValueError(f"{type(self).__name__} was built without a probe: pass n_classes to build it")
        return self.probe(self.probe_features(x).flatten(1))

    def probe_step(self, features: torch.Tensor | None, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One Adam step of the probe on stop-gradient ``features`` (B, ...) for int64 labels (B,).

        Without labels it does nothing and returns an empty dict (``features`` may then be None).
        """
        if label is None:
            return {}
        if self.probe is None:
            raise ValueError(f"{type(self).__name__}.train_step got labels but has no probe: pass n_classes")
        loss_probe = F.cross_entropy(self.probe(features.detach().flatten(1)), label)
        return {"loss_probe": update(self.optimizers["probe"], loss_probe)}

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """All the updates for one batch; returns the detached scalar losses by name."""
        raise NotImplementedError
