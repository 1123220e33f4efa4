"""Adversarial autoencoders (Makhzani et al. 2015): priors as samplers, the AAE and its baselines, a code distance."""
