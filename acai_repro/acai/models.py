"""The seven autoencoders of ACAI's Table 1 behind one interface (Berthelot et al. 2019, arXiv:1807.07543).

Every model is an :class:`~acai_repro.acai.base.Autoencoder` (an ``nn.Module``) with

* ``encode(x) -> z`` (B, C, w, w) and ``decode(z) -> x_hat`` (B, colors, 32, 32): what the interpolation
  evaluation uses (the VAE's ``encode`` draws a sample of q(z|x); the VQ-VAE's is the code before quantisation);
* ``optimizers``: its Adam optimisers by player name, with ``state_dict`` / ``load_state_dict``;
* ``train_step(x, label=None) -> dict[str, Tensor]``: every update of one batch, detached losses by name.

Typical use::

    model = build_model("acai", n_classes=10).to(device)  # move before the first train_step
    x, label = sampler.next()
    losses = model.train_step(x, label)  # {"loss_ae": ..., "loss_critic": ..., "loss_probe": ...}
    trainer_state = {"model": model, "optimizers": model.optimizers, "data": sampler}
"""

from __future__ import annotations

from acai_repro.acai.acai import ACAI
from acai_repro.acai.base import Autoencoder
from acai_repro.acai.baselines import AAE, VAE, Baseline, DenoisingAE, DropoutAE
from acai_repro.acai.vqvae import VQVAE
from acai_repro.data.lines import N_CLASSES

MODELS: dict[str, type[Autoencoder]] = {  # in the column order of Table 1
    "baseline": Baseline,
    "dropout": DropoutAE,
    "denoising": DenoisingAE,
    "vae": VAE,
    "aae": AAE,
    "vqvae": VQVAE,
    "acai": ACAI,
}
MODEL_NAMES = tuple(MODELS)


def build_model(name: str, *, depth: int = 16, latent_width: int = 2, latent: int = 16, lr: float = 1e-4,
                **model_specific) -> Autoencoder:
    """A fresh Table 1 model with the lines settings by default (depth 16, z of shape (B, 16, 2, 2), Adam 1e-4).

    ``model_specific`` goes to the model's constructor: ``n_classes`` (probe), ``colors``, ``size``, and e.g.
    ``lambda_`` / ``gamma`` (ACAI), ``keep`` (dropout), ``noise`` (denoising), ``beta`` (VAE, VQ-VAE),
    ``disc_sizes`` / ``disc_lr`` (AAE), ``n_codes`` / ``num_latents`` (VQ-VAE). The official lines run of the
    VQ-VAE uses ``latent_width=4``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODEL_NAMES)}")
    return MODELS[name](depth=depth, latent_width=latent_width, latent=latent, lr=lr, **model_specific)


LATENT_WIDTH = {"vqvae": 4}  # the official lines run of the VQ-VAE uses a 4 x 4 latent; every other model 2 x 2


def build_lines_model(name: str, *, depth: int = 16, lr: float = 1e-4) -> Autoencoder:
    """A Table 1 model with the official lines settings (latent 16 x 2 x 2, 4 x 4 for the VQ-VAE) and the
    10-way angle probe trained on its stop-gradient code."""
    return build_model(name, depth=depth, lr=lr, latent_width=LATENT_WIDTH.get(name, 2), n_classes=N_CLASSES)
