"""Parameter schemas of the ACAI notebooks (defaults = the ``quick`` profile)."""
from math import pi

from acai_repro.runner.schema import Param, Schema

LINES_BENCHMARK = Schema("lines_benchmark", {
    "n_show": Param(int, 16, "random lines drawn in the sample grid", low=1, high=64),
    "start_angle": Param(float, 5 * pi / 7, "start of the reference interpolations (radians)", low=0, high=2 * pi),
    "end_angle": Param(float, 3 * pi / 2, "end of the reference interpolations (radians)", low=0, high=2 * pi),
    "steps": Param(int, 16, "images per interpolation, end points included (paper: 16)", low=3, high=64),
    "n_pairs": Param(int, 256, "random test pairs scored by pixel crossfade (paper: 256)", low=1, high=256),
})

# --- Table 1: one run = one model, one seed (notebook acai_lines) --------------------------------------------------
# The defaults are the `quick` profile, chosen by measurement (the budget study, ACAI_BUDGET_SWEEPS below) to fit about
# 20 CPU-minutes per model on two cores. It keeps the official nets (depth 16) and batch (64) and departs from the
# paper in length and rate: 2^17 images (2,048 steps) instead of 2^24, Adam 3e-4 instead of 1e-4 for every player,
# an evaluation every 8,192 images instead of 65,536, and the median of the last 3 evaluations instead of 20.
# Why (measured, seed 0): every decoder first learns the nearly blank mean image of thin lines, and at the official
# rate the baseline, the VAE and ACAI leave that plateau only after 1,300 to 2,000 steps, and dropout, denoising, AAE
# and VQ-VAE not within 2,048 steps, so a 2^17-image run ends as it starts to draw lines. Tripling the rate halves
# that wait (and lets dropout out as well). A
# half-width net (depth 8) needs more images to leave the plateau, and 1e-3 at batch 16 pushed ACAI's decoder back to
# blanks. The paper profile (notebooks/acai_lines.paper.yaml) restores every official value.
MODEL_NAMES = ("baseline", "dropout", "denoising", "vae", "aae", "vqvae", "acai")  # Table 1's columns

ACAI_LINES = Schema("acai_lines", {
    "model": Param(str, "acai", "which of Table 1's seven autoencoders", choices=MODEL_NAMES),
    "images": Param(int, 2**17, "training images in all (paper: 2^24; quick: 2^17)", low=64, high=2**26),
    "batch": Param(int, 64, "images per step (paper: 64)", low=1, high=4096),
    "lr": Param(float, 3e-4, "Adam learning rate of every player (paper: 1e-4; quick: 3e-4)", low=1e-6, high=1e-1),
    "depth": Param(int, 16, "channels of the first conv, doubled per scale (paper: 16)", low=1, high=128),
    "eval_every_images": Param(int, 2**13, "images between official evaluations (paper: 65,536; quick: 8,192)",
                               low=64, high=2**26),
    "last_evaluations": Param(int, 3, "the run's value is the median of the last N evaluations (paper: 20; quick: 3)",
                              low=1, high=1000),
    "eval_pairs": Param(int, 256, "test interpolations per evaluation (paper: 256)", low=1, high=256),
    "checkpoint_every_images": Param(int, 2**14, "images between checkpoints", low=64, high=2**26),
    "n_strip": Param(int, 4, "test pairs whose interpolation is saved and shown", low=1, high=16),
})

# --- Table 1: the summary of acai_lines runs (notebook acai_table) -------------------------------------------------
ACAI_TABLE = Schema("acai_table", {
    "results_root": Param(str, "", "folder holding <profile>/acai_lines/<run>/metrics.json; empty = results/"),
})

# The acai_lines runs the table expects, per profile: every model, three seeds (Table 1 is mean +- std over re-runs).
ACAI_LINES_SWEEPS = {
    "smoke": {"model": ["baseline", "acai"]},
    "quick": {"model": list(MODEL_NAMES), "seed": [0, 1, 2]},
    "paper": {"model": list(MODEL_NAMES), "seed": [0, 1, 2]},
}

# The budget study behind the quick profile: every model at the official learning rate, seed 0, evaluated every
# 16,384 images. Together with the evaluations of the Table 1 runs (each metric against the images seen), it shows
# when each model leaves the blank plateau at either rate, and so why the quick profile needs the faster one.
ACAI_BUDGET_SWEEPS = {
    "smoke": {"model": ["baseline", "acai"], "lr": [1e-4]},
    "quick": {"model": list(MODEL_NAMES), "lr": [1e-4], "eval_every_images": [2**14]},
}

# Table 1 of the paper (lines benchmark), mean +- std over re-runs: (Mean Distance x 10^3, std, Smoothness, std).
# Quoted from memory of the paper in the project notes (not re-read from the PDF here).
PAPER_TABLE1: dict[str, tuple[float, float, float, float]] = {
    "baseline": (6.88, 0.21, 0.44, 0.04),
    "dropout": (2.85, 0.54, 0.74, 0.02),
    "denoising": (4.21, 0.32, 0.66, 0.02),
    "vae": (1.21, 0.17, 0.49, 0.13),
    "aae": (3.26, 0.19, 0.14, 0.02),
    "vqvae": (5.41, 0.49, 0.77, 0.02),
    "acai": (0.24, 0.01, 0.10, 0.01),
}


def paper_values(model: str) -> dict[str, float]:
    """The paper's Table 1 means for one model, keyed like the run's metrics."""
    md, _, smooth, _ = PAPER_TABLE1[model]
    return {"mean_distance_e3": md, "smoothness": smooth}
