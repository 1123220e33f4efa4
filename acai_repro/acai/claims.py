"""ACAI's claims on the reproduction scoreboard (:mod:`acai_repro.scoreboard`).

Two claims, each judged by the rule its chapter page already states: Table 1's ranking on the lines benchmark
(:func:`acai_repro.acai.table.table1_claim`) and the downstream gain on MNIST (:func:`acai_repro.acai.mnist_table.
verdicts`, ACAI against the baseline beyond the spread over seeds).
"""
from __future__ import annotations

from acai_repro.acai.mnist_params import ACAI_MNIST_SWEEPS, PAPER_CLUSTERING_ACCURACY, PAPER_PROBE_ACCURACY
from acai_repro.acai.mnist_table import comparison, runs_frame, verdicts
from acai_repro.acai.params import ACAI_LINES_SWEEPS, MODEL_NAMES, PAPER_TABLE1
from acai_repro.acai.table import CLAIM_RULE, table1_claim, table_rows
from acai_repro.scoreboard import Claim, Judgement, few_seeds

LABELS = dict(zip(MODEL_NAMES, ("baseline", "dropout", "denoising", "VAE", "AAE", "VQ-VAE", "ACAI")))


def _paper_ranking() -> str:
    md = min((v[0], m) for m, v in PAPER_TABLE1.items() if m != "acai")
    smooth = min((v[2], m) for m, v in PAPER_TABLE1.items() if m != "acai")
    acai = PAPER_TABLE1["acai"]
    return (f"ACAI {acai[0]:.2f} ± {acai[1]:.2f} Mean Distance (x10⁻³), {acai[2]:.2f} ± {acai[3]:.2f} Smoothness; "
            f"next lowest {LABELS[md[1]]} {md[0]:.2f}, {LABELS[smooth[1]]} {smooth[0]:.2f} (unverified)")


def judge_table1(records) -> Judgement:
    rows = table_rows(records)
    claim = table1_claim(rows)
    if claim.verdict == "not run":
        return Judgement("not run", f"runs of {len(rows)} of the {len(MODEL_NAMES)} models")
    by_model = {row.model: row for row in rows}
    acai = by_model["acai"]
    ours = (f"ACAI {acai.mean_distance_e3[0]:.3g} ± {acai.mean_distance_e3[1]:.2g} Mean Distance (x10⁻³), "
            f"{acai.smoothness[0]:.3g} ± {acai.smoothness[1]:.2g} Smoothness, "
            f"{'no' if claim.nan_free else 'some'} NaN pairs")
    runner = [f"{LABELS[m]} {getattr(by_model[m], metric)[0]:.3g} ± {getattr(by_model[m], metric)[1]:.2g}"
              for metric, m in claim.runner_up.items() if m]
    if runner:
        ours += "; next lowest " + ", ".join(runner)
    if claim.within_spread:
        ours += "; within the spread: " + ", ".join(w.replace("_e3", "").replace("_", " ") for w in claim.within_spread)
    return Judgement(claim.verdict, ours)


def judge_downstream(records) -> Judgement:
    table = comparison(runs_frame(records))
    words = {short: verdicts(table, short) for short in ("cluster", "probe")}
    if not table.empty and (too_few := few_seeds(int(table.seeds_acai.min()), int(table.seeds_baseline.min()))):
        return too_few
    won = [short for short, found in words.items() if found and all(w == "acai" for w in found)]
    parts = []
    for r in table.to_dict("records"):
        for short, name in (("cluster", "clustering"), ("probe", "probe")):
            parts.append(f"{name} ({r['family']}, {r['latent']}-D): ACAI {100 * r[f'{short}_acai']:.1f} ± "
                         f"{100 * r[f'{short}_acai_std']:.1f} %, baseline {100 * r[f'{short}_baseline']:.1f} ± "
                         f"{100 * r[f'{short}_baseline_std']:.1f} %")
    verdict = "holds" if len(won) == 2 else "partly" if won else "does not hold"
    return Judgement(verdict, "; ".join(parts))


CLAIMS = [
    Claim(statement="Table 1: ACAI interpolates best on the lines benchmark, with the lowest Mean Distance and the "
                    "lowest Smoothness of the seven autoencoders",
          paper_value=_paper_ranking(),
          rule=CLAIM_RULE, notebook="acai_lines", sweeps=ACAI_LINES_SWEEPS, judge=judge_table1,
          evidence="executed/acai_table"),
    Claim(statement="ACAI's codes serve downstream tasks better than a plain autoencoder's: higher K-means "
                    "clustering accuracy and higher accuracy of a single-layer classifier on the codes (MNIST)",
          paper_value=(f"conv, 32-D: clustering ACAI {100 * PAPER_CLUSTERING_ACCURACY['acai', 32]:.1f} %, baseline "
                       f"{100 * PAPER_CLUSTERING_ACCURACY['baseline', 32]:.1f} %; probe ACAI "
                       f"{100 * PAPER_PROBE_ACCURACY['acai', 32]:.1f} %, baseline "
                       f"{100 * PAPER_PROBE_ACCURACY['baseline', 32]:.1f} % (full MNIST; unverified)"),
          rule="holds: ACAI above the baseline beyond the larger spread over seeds in both clustering and the probe, "
               "for every family and code size run; partly: in one of the two; does not hold: in neither; not run: "
               "fewer than 3 seeds of a model",
          notebook="acai_mnist", sweeps=ACAI_MNIST_SWEEPS, judge=judge_downstream,
          evidence="executed/acai_mnist_summary"),
]
