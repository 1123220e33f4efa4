"""The seven autoencoders of ACAI's Table 1, and the MLP family, behind one builder (arXiv:1807.07543).

Every model is an :class:`~acai_repro.acai.base.Autoencoder` (the project's :class:`~acai_repro.common.model.Model`):

* ``encode(x) -> z`` (B, C, w, w) and ``decode(z) -> x_hat`` (B, colors, 32, 32): what the interpolation
  evaluation uses (the VAE's ``encode`` draws a sample of q(z|x); the VQ-VAE's is the code before quantisation);
* ``optimizers``: its Adam optimisers by player name, with ``state_dict`` / ``load_state_dict``;
* ``train_step(x, label=None) -> dict[str, Tensor]``: every update of one batch, detached losses by name.

Typical use::

    model = build_model("acai", n_classes=10).to(device)  # move before the first train_step
    losses = model.train_step(*sampler.next())  # {"loss_ae": ..., "loss_critic": ..., "loss_probe": ...}
"""

from __future__ import annotations

from acai_repro.acai.acai import ACAI
from acai_repro.acai.base import Autoencoder
from acai_repro.acai.baselines import AAEBaseline, Baseline, DenoisingAE, DropoutAE, VAEBaseline
from acai_repro.acai.mlp import HIDDEN, MLP_MODELS
from acai_repro.acai.vqvae import VQVAE

MODELS: dict[str, type[Autoencoder]] = {  # in the column order of Table 1
    "baseline": Baseline,
    "dropout": DropoutAE,
    "denoising": DenoisingAE,
    "vae": VAEBaseline,
    "aae": AAEBaseline,
    "vqvae": VQVAE,
    "acai": ACAI,
}
MODEL_NAMES = tuple(MODELS)
LINES_LATENT_WIDTH = {"vqvae": 4}  # the official lines run of the VQ-VAE uses a 4 x 4 latent; every other model 2 x 2


def build_model(name: str, *, family: str = "conv", depth: int | None = None, latent_width: int | None = None,
                latent: int = 16, lr: float = 1e-4, **model_specific) -> Autoencoder:
    """A fresh model. ``family="conv"``: one of Table 1's seven with the official conv nets, by default with the
    lines settings (depth 16, z of shape (B, 16, 2, 2), 4 x 4 for the VQ-VAE, Adam 1e-4). ``family="mlp"``: the
    walk-through's MLP baseline or ACAI, ``depth`` its hidden width (default 1000), z of shape (B, latent, 1, 1).

    ``model_specific`` goes to the model's constructor: ``n_classes`` (probe), ``colors``, ``size``, and e.g.
    ``lambda_`` / ``gamma`` / ``critic_depth`` (ACAI), ``keep`` (dropout), ``noise`` (denoising), ``beta`` (VAE,
    VQ-VAE), ``disc_sizes`` / ``disc_lr`` (AAE), ``n_codes`` / ``num_latents`` (VQ-VAE).
    """
    families = {"conv": MODELS, "mlp": MLP_MODELS}
    if family not in families:
        raise ValueError(f"unknown family {family!r}: expected conv or mlp")
    if name not in families[family]:
        raise ValueError(f"unknown {family} model {name!r}: expected one of {', '.join(families[family])}")
    if family == "mlp":
        depth, latent_width = depth or HIDDEN, 1
    else:
        depth, latent_width = depth or 16, latent_width or LINES_LATENT_WIDTH.get(name, 2)
    return families[family][name](depth=depth, latent_width=latent_width, latent=latent, lr=lr, **model_specific)
