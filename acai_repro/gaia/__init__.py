"""GAIA (Sainburg et al. 2018, arXiv:1807.06650): an autoencoder GAN trained to make latent interpolations look real.

``nets``: the conv autoencoder both players use; ``losses``: the L1 terms, sigmoid balancing, distance loss and the
interpolation scheme; ``model``: :class:`GAIA` and the plain-autoencoder baseline with their visible update steps;
``attributes``: least-squares attribute vectors, the edit score and the sharpness measure; ``params``: the schema.
"""
from acai_repro.gaia.model import GAIA, L1Autoencoder

__all__ = ["GAIA", "L1Autoencoder"]
