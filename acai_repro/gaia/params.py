"""Parameter schema of the GAIA notebook (defaults = the ``quick`` profile: the CelebA sample at 32 x 32 on a CPU).

The quick profile reads CelebA from ``.cache/celeba64.npz``, which ``data_scripts/prepare_celeba.py`` writes from a
CelebA folder (the cache is derived from CelebA: never commit it). Without CelebA, ``dataset = faces`` runs on
procedural faces drawn by the project (the smoke profile, CI, and any machine without the data).
"""
from acai_repro.runner.schema import Param, Schema

GAIA_ATTRIBUTES = Schema("gaia_attributes", {
    "dataset": Param(str, "celeba", "CelebA (needs data_root) or procedural faces (offline)",
                     choices=("celeba", "faces")),
    "data_root": Param(str, ".cache/celeba64.npz", "CelebA folder in the original layout, or the .npz of "
                       "data_scripts/prepare_celeba.py (relative: from the working directory, else the checkout)"),
    "image_size": Param(int, 32, "image side in px (GPU 64, official 128)", choices=(32, 64)),
    "n_train": Param(int, 4560, "training faces (CelebA: at most this many of the train split)", low=64),
    "n_test": Param(int, 660, "held-out faces for the scores, edits and UMAP (CelebA: of the test split)", low=32),
    "width": Param(int, 16, "G's first conv channels, doubled per halving; D uses half (official 64, MUNIT-like)",
                   low=4, high=256),
    "z_dim": Param(int, 64, "size of the generator's flat latent code (official 512 content + 512 style)",
                   low=2, high=1024),
    "batch_size": Param(int, 32, "even: GAIA interpolates between the two halves (official 8 at 128 px)",
                        low=4, high=1024),
    "steps": Param(int, 15000, "training steps of GAIA and of the plain autoencoder (quick: 105 passes over the "
                   "4,560 faces, 12 to 13 min a run alone on 2 CPU cores; official: up to 1,000 epochs)", low=1),
    "lr_max": Param(float, 1e-4, "lr_max of the sigmoid balancing (official 1e-4)", low=1e-6, high=1e-1),
    "dist_weight": Param(float, 5e-5, "weight of the distance loss in L_G (official 5e-5)", low=0.0),
    "edit_strength": Param(float, 3.0, "s in z + s v, 0/1-coded attributes (official example notebook: 3)",
                           low=0.0, high=10.0),
    "n_umap": Param(int, 660, "test codes embedded by UMAP", low=16),
})

# The seeds the README and the results page pool (no summary notebook: the chapter itself shows seed 0).
GAIA_SWEEPS = {
    "smoke": {"seed": [0]},
    "quick": {"seed": [0, 1, 2]},
    "paper": {"seed": [0]},
}
