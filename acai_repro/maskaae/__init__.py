"""MaskAAE (Mondal et al. 2020, arXiv:1912.04564): the mask discovers the true latent dimension on synthetic data."""
from acai_repro.maskaae.model import MaskAAE, WAE, build_model

__all__ = ["MaskAAE", "WAE", "build_model"]
