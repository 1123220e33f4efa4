"""The two autoencoders of GAIA (Sainburg et al. 2018, arXiv:1807.06650), smaller than the official ones.

The official networks (timsainb/GAIA ``network.py``) are MUNIT-like: a content encoder (7x7 conv, two stride-2 4x4
convs, four residual blocks with instance norm), a style encoder, and a decoder of adaptive residual blocks,
nearest-neighbour upsampling and layer norm, at 128 x 128 px with 64 base channels. Here both players are compact
enough for a CPU at 32 px (and a GPU at 64 px); what the official code does that matters for the paper's claims is
kept:

* **The generator G** (:class:`ConvAutoencoder`) has a flat code z: strided 4x4 convs halve the image and double
  the channels (``width``, 2 ``width``, ...) down to 4 x 4, then a linear layer gives z (the official content code is
  a linear layer of 512 units too). Attribute vectors and interpolations act on z.
* **The discriminator D** (:class:`SpatialAutoencoder`) has **no bottleneck**: as in the official code, where D's
  content encoder skips the linear layer, it decodes from a spatial map at a quarter of the image side (two halvings,
  the official ``n_sample = 2``), with half of G's channels (the official D uses ``ch / 2``). A D that must squeeze
  faces through a small flat code reconstructs blurry images best, and would teach G that blur looks real.
* **Pixels in [0, 1] with a sigmoid output**, as the official decoder (images / 255): every L1 loss and therefore
  every slope-20 balancing sigmoid of :mod:`acai_repro.gaia.losses` acts at the scale the official code tuned.
* **Upsampling by nearest neighbour and a conv** in every decoder, as the official one.
* **He initialisation** (the official ``variance_scaling_initializer``: normal, fan-in, gain 2) and ReLU, as the
  official code; zero biases.

No normalisation layers (batch statistics would leak between real and generated images in D). The only convs at full
resolution are the last ones, which give the three colours: on a CPU, wide full-resolution convs dominate the cost
of a step.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def n_halvings(size: int) -> int:
    """How many stride-2 convs take a ``size`` image to 4 x 4 (3 for 32 px, 4 for 64 px)."""
    if not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"image size must be a power of two of at least 8, got {size!r}")
    return int(math.log2(size)) - 2


def he_init(module: nn.Module) -> nn.Module:
    """He (Kaiming) normal weights, fan-in, gain sqrt(2), and zero biases for every conv and linear layer."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def _down(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]  # S -> S / 2


def _up(c_in: int, c_out: int, last: bool) -> list[nn.Module]:
    """S -> 2 S: nearest-neighbour upsampling then a 3x3 conv, as the official decoder (which uses 5x5); unlike a
    strided transposed conv it leaves no checkerboard, which a sharpness measure would count as detail. The last
    layer gives the colours through a sigmoid ([0, 1] pixels)."""
    return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.Sigmoid() if last else nn.ReLU()]


class ConvEncoder(nn.Sequential):
    """(B, colors, S, S) -> (B, z_dim); the code is linear (no activation)."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        layers: list[nn.Module] = []
        c_in, c = colors, width
        for _ in range(n_halvings(size)):  # channels width, 2 width, 4 width, ...
            layers += _down(c_in, c)
            c_in, c = c, 2 * c
        layers += [nn.Flatten(), nn.Linear(c_in * 16, z_dim)]  # (B, c, 4, 4) -> (B, z_dim)
        super().__init__(*layers)


class ConvDecoder(nn.Sequential):
    """(B, z_dim) -> (B, colors, S, S) in [0, 1]."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        k = n_halvings(size)
        c = width << (k - 1)  # the encoder's last channel count
        layers: list[nn.Module] = [nn.Linear(z_dim, c * 16), nn.ReLU(), nn.Unflatten(1, (c, 4, 4))]
        for i in range(k):  # 4 -> 8 -> ... -> S; channels halved, the last layer gives the colours
            c_out = colors if i == k - 1 else c // 2
            layers += _up(c, c_out, last=i == k - 1)
            c = c_out
        super().__init__(*layers)


class ConvAutoencoder(nn.Module):
    """The generator: encoder + decoder through a flat code; ``forward(x)`` is decode(encode(x))."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        super().__init__()
        self.size, self.z_dim = size, z_dim
        self.encoder = ConvEncoder(size, width, z_dim, colors)
        self.decoder = ConvDecoder(size, width, z_dim, colors)
        he_init(self)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, z_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, colors, S, S)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class Residual(nn.Module):
    """x + conv3x3(relu(conv3x3(x))), then ReLU: the official residual block without its instance norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class SpatialAutoencoder(nn.Module):
    """The discriminator: (B, colors, S, S) -> (B, colors, S, S) through a (B, 2 c, S / 4, S / 4) map, no flat code.

    Two stride-2 convs (channels c = ``width`` / 2, then 2 c), one residual block at S / 4, and two upsampling
    stages back; c = max(``width`` // 2, 1) as the official D halves G's base channels.
    """

    HALVINGS = 2  # the official n_sample: D's map is a quarter of the image side

    def __init__(self, size: int = 32, width: int = 16, colors: int = 3) -> None:
        super().__init__()
        n_halvings(size)  # validates the size
        c = max(width // 2, 1)
        self.size = size
        self.net = nn.Sequential(*_down(colors, c), *_down(c, 2 * c), Residual(2 * c),
                                 *_up(2 * c, c, last=False), *_up(c, colors, last=True))
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
