"""Parameter schemas of the MaskAAE notebooks (defaults = the ``quick`` profile) and the summary's sweeps."""
from acai_repro.runner.schema import Param, Schema

MASKAAE_DIMENSIONALITY = Schema("maskaae_dimensionality", {
    "model": Param(str, "maskaae", "wae (baseline, no mask) or maskaae", choices=("wae", "maskaae")),
    "n": Param(int, 2, "true latent dimension of the synthetic data", low=1, high=64),
    "m": Param(int, 8, "assumed latent dimension (model capacity)", low=1, high=256),
    "data_seed": Param(int, -1, "seed of the generating network f and of the data; -1 = the run's seed",
                       low=-1, high=2**31 - 1),
    "steps": Param(int, 1500, "training steps (each: autoencoder, n_critic critic, generator, mask updates)",
                   low=1, high=10**7),
    "batch_size": Param(int, 64, "batch size (official 64)", low=2, high=4096),
    "width": Param(int, 128, "hidden units per layer of encoder, decoder and critic (official MNIST 1024)",
                   low=4, high=4096),
    "depth": Param(int, 2, "hidden layers per net (official MNIST 4)", low=1, high=8),
    "lr": Param(float, 1e-4, "RMSProp rate of critic and generator; the autoencoder uses 5 lr (official)",
                low=1e-7, high=1.0),
    "mask_lr": Param(float, 5e-3, "RMSProp rate of the mask (official 5 lr = 5e-4; raised so the mask settles "
                     "within the quick profile's steps)", low=1e-7, high=1.0),
    "mask_init": Param(float, 5.0, "a starts U(0, mask_init), alpha = 1 - exp(-a) (official 5)", low=0.01, high=20.0),
    # Quick: 500, measured. With the mask moving from step 0 at the quick rate, the critic term of L_mask pushes
    # every alpha_i down (gradient on a 0.3-0.7, reconstruction's 1e-3-1e-2, n = m = 4, seed 0) while the codes do
    # not yet match the prior, and the variance penalty shrinks the codes of every dim with alpha < ~0.8: needed
    # dims die (2 of 4 kept). Held until step 500, when the codes' per-dim spread has settled, 3 of 4 survive. The
    # official rate (5e-4) moves the mask 10 times more slowly than the quick one, so there too the autoencoder
    # learns first.
    "mask_start": Param(int, 500, "steps trained as a plain WAE before the mask and the variance penalty act "
                        "(official 0)", low=0, high=10**7),
    "mask_rec_weight": Param(float, 10.0, "reconstruction weight in the mask loss (official 1000 with BCE; "
                             "here MSE on standardised vectors)", low=0.0, high=1e6),
    "variance_weight": Param(float, 100.0, "weight of the variance penalty on masked dims (official 100)",
                             low=0.0, high=1e6),
    "gp_weight": Param(float, 10.0, "WGAN-GP gradient-penalty weight (official 10)", low=0.0, high=1e4),
    "n_critic": Param(int, 5, "critic updates per step (official 5)", low=1, high=20),
    "reg_interval": Param(int, 0, "R of the mask schedule (c doubles every 4 R steps, losses / 5 after 5 R); "
                          "0 = official (75 for m <= 20, else min(10000, 1125 m // 10))", low=0, high=10**6),
    "optimizer": Param(str, "tf1", "RMSProp of every player: tf1 = TensorFlow 1's, mean square starting at 1 "
                       "(official); torch = PyTorch's, starting at 0", choices=("tf1", "torch")),
    "bias_init": Param(str, "tf1", "dense biases: tf1 = Glorot-uniform, TensorFlow 1's default for "
                       "bias_initializer=None (official); zeros", choices=("tf1", "zeros")),
    "trace_every": Param(int, 25, "steps between recorded mask values (Figure 5)", low=1, high=10**6),
    "n_eval": Param(int, 10000, "generated vectors for the Frechet distance (held-out: 10,000)",
                    low=100, high=10**6),
    "n_umap": Param(int, 1000, "held-out codes in the latent UMAP", low=10, high=10000),
})

MASKAAE_SUMMARY = Schema("maskaae_summary", {
    "results_root": Param(str, "", "folder holding <profile>/maskaae_dimensionality/ runs; empty = results/"),
})

# The runs the summary expects per profile (the runner's sweep expands each grid; a list of grids is their union).
# quick: the paper's synthetic design at CPU scale, m from n / 2 to 4 n, three seeds (each its own data and weights).
MASKAAE_SWEEPS = {
    "smoke": {"model": ["wae", "maskaae"], "n": [2], "m": [2, 4]},
    "quick": [{"model": ["wae", "maskaae"], "n": [n], "m": [n // 2, n, 2 * n, 4 * n], "seed": [0, 1, 2]}
              for n in (2, 4, 8)],
    "paper": {"model": ["wae", "maskaae"], "n": [8, 16], "m": [4, 8, 12, 16, 24, 32, 48, 64]},
}
