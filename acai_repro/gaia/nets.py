"""The small convolutional autoencoder both GAIA players are made of (Sainburg et al. 2018, arXiv:1807.06650).

GAIA's generator G and discriminator D are both autoencoders (the official code uses U-Net-like nets at
128 x 128 px); here one compact design serves both, sized for 32 px on a CPU and 64 px on a GPU:

* :class:`ConvEncoder` (B, 3, S, S) -> (B, z_dim): strided 4x4 convs halve the image and double the channels
  (``width``, 2 ``width``, ...) until it is 4 x 4, then a linear layer gives a flat code z.
* :class:`ConvDecoder` (B, z_dim) -> (B, 3, S, S): the mirror image with 4x4 transposed convs; tanh output, since
  images are in [-1, 1].

A flat code keeps the paper's attribute arithmetic (z + s v, a least-squares fit of z on the attributes) simple.
LeakyReLU(0.2) everywhere, no normalisation (batch statistics would leak between real and generated images in D).
No stride-1 conv at full resolution: on one CPU core those dominate the cost of a step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

SLOPE = 0.2  # LeakyReLU slope


def n_halvings(size: int) -> int:
    """How many stride-2 convs take a ``size`` image to 4 x 4 (3 for 32 px, 4 for 64 px)."""
    if not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"image size must be a power of two of at least 8, got {size!r}")
    return int(math.log2(size)) - 2


class ConvEncoder(nn.Sequential):
    """(B, colors, S, S) -> (B, z_dim); the code is linear (no activation)."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        layers: list[nn.Module] = []
        c_in, c = colors, width
        for _ in range(n_halvings(size)):  # S -> S / 2; channels width, 2 width, 4 width, ...
            layers += [nn.Conv2d(c_in, c, 4, stride=2, padding=1), nn.LeakyReLU(SLOPE)]
            c_in, c = c, 2 * c
        layers += [nn.Flatten(), nn.Linear(c_in * 16, z_dim)]  # (B, c, 4, 4) -> (B, z_dim)
        super().__init__(*layers)


class ConvDecoder(nn.Sequential):
    """(B, z_dim) -> (B, colors, S, S) in [-1, 1]."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        k = n_halvings(size)
        c = width << (k - 1)  # the encoder's last channel count
        layers: list[nn.Module] = [nn.Linear(z_dim, c * 16), nn.LeakyReLU(SLOPE), nn.Unflatten(1, (c, 4, 4))]
        for i in range(k):  # 4 -> 8 -> ... -> S; channels halved, the last layer gives the colours
            c_out = colors if i == k - 1 else c // 2
            layers += [nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1),
                       nn.Tanh() if i == k - 1 else nn.LeakyReLU(SLOPE)]
            c = c_out
        super().__init__(*layers)


class ConvAutoencoder(nn.Module):
    """encoder + decoder; ``forward(x)`` is the reconstruction decode(encode(x))."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, colors: int = 3) -> None:
        super().__init__()
        self.size, self.z_dim = size, z_dim
        self.encoder = ConvEncoder(size, width, z_dim, colors)
        self.decoder = ConvDecoder(size, width, z_dim, colors)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, z_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, colors, S, S)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
