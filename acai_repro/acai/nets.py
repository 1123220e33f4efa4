"""The convolutional encoder, decoder and critic of ACAI's official code (brain-research/acai ``lib/layers.py``).

All three are plain stacks of 'same'-padded convolutions with LeakyReLU(0.2), no normalisation:

* :class:`Encoder` (B, colors, 32, 32) -> (B, latent, w, w): a 1x1 conv to ``depth`` channels, then per scale
  s = 0 .. scales - 1 two 3x3 convs with ``depth << s`` channels and a 2x2 average pool, then a 3x3 conv with
  ``depth << scales`` channels and a linear 3x3 conv to ``latent`` channels.
* :class:`Decoder` (B, latent, w, w) -> (B, colors, 32, 32): the mirror image, per scale from the top two 3x3
  convs with ``depth << s`` channels and a nearest-neighbour x2 upsampling, then a 3x3 conv with ``depth``
  channels and a linear 3x3 conv to ``colors``.
* :class:`Critic` (B, colors, 32, 32) -> (B,): an encoder whose (B, latent, w, w) output is averaged to one
  scalar per image.

``scales = round(log2(size / w))`` halvings take the 32 x 32 image to the w x w latent (4 for the lines' w = 2).

Initialisation (the official ``HeModifiedNormalInitializer``): biases zero, weights drawn from
N(0, 1 / ((1 + a^2) fan_in)) with a = 0.2, He's gain for a LeakyReLU of slope a. fan_in = kh * kw * C_in counts
the inputs of one output unit: in PyTorch's (C_out, C_in, kh, kw) layout that is ``weight[0].numel()``, not
the product of all leading dimensions as in TensorFlow's (kh, kw, C_in, C_out) layout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LEAKY_SLOPE = 0.2  # TensorFlow's tf.nn.leaky_relu default; PyTorch's nn.LeakyReLU defaults to 0.01


def n_scales(latent_width: int, size: int = 32) -> int:
    """Number of 2x2 poolings from a ``size`` image to a ``latent_width`` latent: round(log2(size / width))."""
    if not isinstance(latent_width, int) or latent_width < 1 or size % latent_width:
        raise ValueError(f"latent_width must be a positive integer dividing the image size {size}, got {latent_width!r}")
    scales = round(math.log2(size // latent_width))
    if size >> scales != latent_width:
        raise ValueError(f"latent_width must be the image size {size} halved a whole number of times, got {latent_width}")
    return scales


def he_modified_normal_(conv: nn.Conv2d | nn.Linear, slope: float = LEAKY_SLOPE) -> None:
    """In place: weight ~ N(0, 1 / ((1 + slope^2) fan_in)) with fan_in = kh kw C_in, bias = 0."""
    fan_in = conv.weight[0].numel()  # (C_out, C_in, kh, kw): one output unit sees C_in * kh * kw inputs
    nn.init.normal_(conv.weight, std=1.0 / math.sqrt((1.0 + slope**2) * fan_in))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def conv(c_in: int, c_out: int, kernel: int) -> nn.Conv2d:
    """A stride-1 conv with TensorFlow 'same' padding (odd kernels pad k // 2 on every side), official init."""
    layer = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
    he_modified_normal_(layer)
    return layer


def conv_act(c_in: int, c_out: int) -> list[nn.Module]:
    """A 3x3 conv followed by LeakyReLU(0.2)."""
    return [conv(c_in, c_out, 3), nn.LeakyReLU(LEAKY_SLOPE)]


class Encoder(nn.Sequential):
    """(B, colors, size, size) -> (B, latent, size >> scales, size >> scales); the last conv is linear."""

    def __init__(self, scales: int, depth: int, latent: int, colors: int = 1) -> None:
        layers: list[nn.Module] = [conv(colors, depth, 1)]  # 1x1 conv to depth, no activation
        c = depth
        for s in range(scales):
            layers += conv_act(c, depth << s) + conv_act(depth << s, depth << s) + [nn.AvgPool2d(2)]
            c = depth << s
        layers += conv_act(c, depth << scales) + [conv(depth << scales, latent, 3)]
        super().__init__(*layers)


class Decoder(nn.Sequential):
    """(B, latent, w, w) -> (B, colors, w << scales, w << scales); linear output (no tanh, no clipping)."""

    def __init__(self, scales: int, depth: int, latent: int, colors: int = 1) -> None:
        layers: list[nn.Module] = []
        c = latent
        for s in range(scales - 1, -1, -1):
            layers += conv_act(c, depth << s) + conv_act(depth << s, depth << s)
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))  # official upscale2d: nearest neighbours
            c = depth << s
        layers += conv_act(c, depth) + [conv(depth, colors, 3)]
        super().__init__(*layers)


class Critic(nn.Module):
    """ACAI's critic: an :class:`Encoder` (own weights) averaged over H, W and C; (B, colors, 32, 32) -> (B,)."""

    def __init__(self, scales: int, depth: int, latent: int, colors: int = 1) -> None:
        super().__init__()
        self.encoder = Encoder(scales, depth, latent, colors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).mean(dim=(1, 2, 3))  # (B, latent, w, w) -> (B,)
