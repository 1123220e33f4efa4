"""Parameter schema of the GAIA notebook (defaults = the ``quick`` profile: procedural faces on one CPU core)."""
from acai_repro.runner.schema import Param, Schema

GAIA_ATTRIBUTES = Schema("gaia_attributes", {
    "dataset": Param(str, "faces", "procedural faces (offline) or CelebA (needs data_root)",
                     choices=("faces", "celeba")),
    "data_root": Param(str, "", "CelebA folder in the original layout, or the .npz of data_scripts/prepare_celeba.py"),
    "image_size": Param(int, 32, "image side in px (CPU 32, GPU 64; the official code used 128)", choices=(32, 64)),
    "n_train": Param(int, 4000, "training faces (CelebA: at most this many of the train split)", low=64),
    "n_test": Param(int, 1000, "held-out faces for the scores, edits and UMAP", low=32),
    "width": Param(int, 16, "channels of the first conv of both autoencoders, doubled per halving", low=4, high=256),
    "z_dim": Param(int, 32, "size of the generator's (and the discriminator's) flat latent code", low=2, high=1024),
    "batch_size": Param(int, 32, "even: GAIA interpolates between the two halves (official 8 at 128 px)",
                        low=4, high=1024),
    "steps": Param(int, 1200, "training steps of GAIA and of the plain autoencoder", low=1),
    "lr_max": Param(float, 1e-3, "lr_max of the sigmoid balancing (official 1e-4; larger for a short CPU run)",
                    low=1e-6, high=1e-1),
    "dist_weight": Param(float, 5e-5, "weight of the distance loss in L_G (official 5e-5)", low=0.0),
    "edit_strength": Param(float, 1.5, "s in z + s v, 0/1-coded attributes (paper: 3 v with -1/1 coding = 1.5)",
                           low=0.0, high=10.0),
    "n_umap": Param(int, 1000, "test codes embedded by UMAP", low=16),
})
