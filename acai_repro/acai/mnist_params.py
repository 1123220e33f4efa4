"""Parameter schemas of the ACAI MNIST notebooks (defaults = the ``quick`` profile), their sweeps and paper values."""
from acai_repro.runner.schema import Param, Schema

ACAI_MNIST = Schema("acai_mnist", {
    "family": Param(str, "mlp", "mlp: the walk-through's 1000-1000 MLPs (quick); conv: the official conv autoencoder on "
                    "32 x 32 (about 1-2 s per ACAI step of 64 on one CPU core: paper profile)",
                    choices=("conv", "mlp")),
    "model": Param(str, "acai", "baseline (MSE only) or acai (MSE + adversarial interpolation critic)",
                   choices=("baseline", "acai")),
    "latent": Param(int, 32, "latent size: conv 4 x 4 x 2 = 32 or 4 x 4 x 16 = 256; mlp a 32- or 256-vector",
                    choices=(32, 256)),
    "steps": Param(int, 8000, "training steps (paper: 2^24 images / 64 = 262,144; quick: what ACAI trains in about "
                   "17 minutes on one CPU core)", low=1, high=2**20),
    "batch": Param(int, 64, "batch size (paper: 64)", low=2, high=1024),
    "hidden": Param(int, 1000, "mlp: width of both hidden layers of f, g and d (walk-through: 1000); conv: unused",
                    low=8, high=4096),
    "lr": Param(float, 1e-4, "Adam learning rate of every player and the probe (paper: 1e-4)", low=1e-6, high=1e-2),
    "lambda_": Param(float, 0.5, "ACAI lambda: weight of the critic term in the autoencoder loss (paper: 0.5)",
                     low=0.0, high=10.0),
    "gamma": Param(float, 0.2, "ACAI gamma: share of x in the critic's regulariser input (paper: 0.2)", low=0.0, high=1.0),
    "kmeans_restarts": Param(int, 100, "K-means restarts (random initialisation) for the clustering accuracy",
                             low=1, high=1000),
    "eval_every": Param(int, 1000, "steps between downstream evaluations during training (0: only at the end)",
                        low=0, high=2**20),
    "trace_restarts": Param(int, 10, "K-means restarts of the evaluations during training (the final one uses "
                            "kmeans_restarts)", low=1, high=1000),
    "n_umap": Param(int, 1000, "test digits embedded by UMAP", low=10, high=10000),
    "n_pairs": Param(int, 10, "pairs of test digits in the interpolation grid (columns)", low=1, high=32),
    "checkpoint_every": Param(int, 250, "steps between checkpoints", low=1, high=2**20),
})

ACAI_MNIST_SUMMARY = Schema("acai_mnist_summary", {
    "results_root": Param(str, "", "results folder to read runs from; empty = the checkout's results/"),
})

# The runs each profile of the summary expects (acai-repro sweep acai_mnist --profile P -g NAME V1,V2 ...).
ACAI_MNIST_SWEEPS = {
    "smoke": {"family": ["mlp"], "model": ["baseline", "acai"]},
    "quick": {"family": ["mlp"], "model": ["baseline", "acai"], "latent": [32], "seed": [0, 1, 2]},
    "paper": {"family": ["conv", "mlp"], "model": ["baseline", "acai"], "latent": [32, 256], "seed": [0, 1, 2]},
}

# ACAI Table 2, single-layer classifier test accuracy on MNIST with the conv autoencoders (fractions), keyed by
# (model, latent). Unverified: recalled from the paper, which could not be re-read here.
PAPER_PROBE_ACCURACY = {
    ("baseline", 32): 0.9490, ("acai", 32): 0.9825,
    ("baseline", 256): 0.9394, ("acai", 256): 0.9900,
}

# ACAI Table 3 (left), K-means clustering accuracy on MNIST with the conv autoencoders (fractions), keyed like the
# probe values. Unverified: recalled from the paper, which could not be re-read here.
PAPER_CLUSTERING_ACCURACY = {
    ("baseline", 32): 0.7756, ("acai", 32): 0.9438,
    ("baseline", 256): 0.5055, ("acai", 256): 0.9617,
}
