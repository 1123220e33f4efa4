"""ACAI (Berthelot et al., 2019, arXiv:1807.07543): adversarially constrained autoencoder interpolation."""
