"""GAIA's claims on the reproduction scoreboard (:mod:`acai_repro.scoreboard`).

The paper reports no number for either claim, only figures: reconstructions sharper than an autoencoder's, and
attribute vectors that add or remove an attribute. Both are judged on the ``gaia_attributes`` runs: sharpness as
the variance of the Laplacian against the plain autoencoder trained beside GAIA, edits by the independent judge of
:mod:`acai_repro.gaia.attributes` against the unedited reconstructions.
"""
from __future__ import annotations

from acai_repro.gaia.params import GAIA_SWEEPS
from acai_repro.scoreboard import Claim, Judgement, few_seeds, pm, spread
from acai_repro.verdict import beyond_spread

SWEEPS = {p: g for p, g in GAIA_SWEEPS.items() if p != "smoke"}


def judge_sharpness(records) -> Judgement:
    gaia, ae, real = (spread(records, f"sharpness_{k}") for k in ("gaia", "ae", "real"))
    if too_few := few_seeds(gaia[2], ae[2]):
        return too_few
    order = beyond_spread(*gaia[:2], *ae[:2])
    verdict = "holds" if order == 1 else "does not hold"
    where = {1: "sharper", 0: "level within the spread", -1: "blurrier beyond the spread"}[order]
    return Judgement(verdict, f"variance of the Laplacian of the reconstructions: GAIA {pm(gaia, decimals=4)}, plain "
                              f"autoencoder {pm(ae, decimals=4)} (GAIA {where}); real faces {real[0]:.4f}")


def judge_edits(records) -> Judgement:
    on, on_recon = spread(records, "mean_on_rate"), spread(records, "mean_on_rate_recon")
    off, off_recon = spread(records, "mean_off_rate"), spread(records, "mean_off_rate_recon")
    others = spread(records, "mean_others_changed")
    if too_few := few_seeds(on[2], off[2]):
        return too_few
    passed = (beyond_spread(*on[:2], *on_recon[:2]) == 1) + (beyond_spread(*off[:2], *off_recon[:2]) == 1)
    verdict = {2: "holds", 1: "partly", 0: "does not hold"}[passed]
    return Judgement(verdict, f"adding turns the attribute on in {pm(on, decimals=2)} of the faces without it "
                              f"(unedited reconstructions {pm(on_recon, decimals=2)}); subtracting turns it off in "
                              f"{pm(off, decimals=2)} (unedited {pm(off_recon, decimals=2)}); other attributes moved "
                              f"{pm(others, decimals=2)}; six attributes, CelebA test faces")


CLAIMS = [
    Claim(statement="GAIA's reconstructions are sharper than a plain autoencoder's",
          paper_value="figures only (no number)",
          rule="holds: GAIA's sharpness above the autoencoder's beyond the larger spread over seeds; does not hold: "
               "level or below; not run: fewer than 3 seeds",
          notebook="gaia_attributes", sweeps=SWEEPS, judge=judge_sharpness, evidence="executed/gaia_attributes"),
    Claim(statement="Adding or subtracting an attribute vector (least squares on the codes) turns that attribute "
                    "on or off in a face",
          paper_value="figures only (no number)",
          rule="holds: the judge sees the attribute turned on after adding, and off after subtracting, more often "
               "than in the unedited reconstructions, each beyond the larger spread over seeds; partly: one of the "
               "two; does not hold: neither; not run: fewer than 3 seeds",
          notebook="gaia_attributes", sweeps=SWEEPS, judge=judge_edits, evidence="executed/gaia_attributes"),
]
