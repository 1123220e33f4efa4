"""The reproduction scoreboard: each rule can fail, the runs are picked by profile, and the committed board agrees
with the summaries' own verdicts and with the README."""
import json
from pathlib import Path

import pytest

from acai_repro.aae.claims import CLAIMS as AAE_CLAIMS
from acai_repro.cli import main
from acai_repro.gaia.claims import CLAIMS as GAIA_CLAIMS
from acai_repro.maskaae.claims import active_dims, flat_quality, runs_table, wae_u_shape
from acai_repro.runner import find_runs, resolve
from acai_repro.scoreboard import VERDICTS, Judgement, markdown, score, scoreboard

COVERAGE, ARMS, SEMI_100, SEMI_1000 = AAE_CLAIMS
SHARPNESS, EDITS = GAIA_CLAIMS


def record(notebook: str, profile: str, metrics: dict, **params) -> dict:
    return {"notebook": notebook, "profile": profile, "parameters": resolve(notebook, profile, params),
            "metrics": metrics, "device": "cpu (x86_64)", "command": "cmd", "git_commit": "a" * 40, "paper": {}}


def write(root: Path, rec: dict) -> None:
    run = root / rec["profile"] / rec["notebook"] / "-".join(f"{k}{v}" for k, v in sorted(rec["parameters"].items())
                                                               if k in ("model", "seed", "n", "m", "n_labels"))
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(rec))


def coverage_runs(aae: float, vae: float, ae: float = 0.5, seeds=(0, 1, 2), jitter: float = 0.01) -> list[dict]:
    return [record("aae_priors", "quick", {"coverage": value + jitter * (s - 1)}, prior="gaussian", model=model,
                   n_labels=0, seed=s) for model, value in (("aae", aae), ("vae", vae), ("ae", ae)) for s in seeds]


@pytest.mark.parametrize("aae, vae, ae, verdict", [(0.95, 0.80, 0.5, "holds"), (0.90, 0.895, 0.5, "partly"),
                                                   (0.90, 0.895, 0.9, "does not hold"), (0.80, 0.95, 0.5,
                                                                                         "does not hold")])
def test_the_coverage_rule_reads_every_verdict(aae, vae, ae, verdict):
    assert COVERAGE.judge(coverage_runs(aae, vae, ae)).verdict == verdict


def test_a_rule_given_fewer_than_three_seeds_says_not_run():
    judged = COVERAGE.judge(coverage_runs(0.95, 0.80, seeds=(0, 1)))
    assert judged.verdict == "not run" and "3 seeds" in judged.ours


def test_the_semisupervised_rule_compares_with_the_papers_spread():
    def runs(errors):
        return [record("aae_semisupervised", "quick", {"test_error": e, "n_train": 4000}, n_labels=100, seed=s)
                for s, e in enumerate(errors)]
    assert SEMI_100.judge(runs([0.018, 0.019, 0.021])).verdict == "holds"
    assert SEMI_100.judge(runs([0.10, 0.12, 0.14])).verdict == "does not hold"
    assert "12.0 ± 1.6 %" in SEMI_100.judge(runs([0.10, 0.12, 0.14])).ours


def test_the_gaia_rules():
    def runs(gaia, on, off):
        metrics = {"sharpness_ae": 0.005, "sharpness_real": 0.04, "mean_on_rate": on, "mean_on_rate_recon": 0.2,
                   "mean_off_rate": off, "mean_off_rate_recon": 0.3, "mean_others_changed": 0.1}
        return [record("gaia_attributes", "quick", {**metrics, "sharpness_gaia": gaia + 1e-4 * (s - 1)}, seed=s)
                for s in range(3)]
    assert SHARPNESS.judge(runs(0.02, 0.9, 0.9)).verdict == "holds"
    level, blurrier = SHARPNESS.judge(runs(0.005, 0.9, 0.9)), SHARPNESS.judge(runs(0.003, 0.9, 0.9))
    assert level.verdict == blurrier.verdict == "does not hold"
    assert "(GAIA level within the spread)" in level.ours and "(GAIA blurrier beyond the spread)" in blurrier.ours
    assert [EDITS.judge(runs(0.02, on, off)).verdict for on, off in ((0.9, 0.9), (0.9, 0.3), (0.2, 0.3))] == [
        "holds", "partly", "does not hold"]


def test_the_maskaae_rules_count_true_dimensions():
    rows = []
    for n in (2, 4):
        for m in (n // 2, n, 2 * n, 4 * n):
            for s in range(3):
                kept = min(m, n)
                fd_wae = 1.0 + abs(m - n) + 0.01 * s  # U-shaped, best at m = n
                fd_mask = 1.0 + 0.01 * s + (5.0 if n == 4 and m == 4 * n else 0.0)  # flat for n = 2 only
                rows += [record("maskaae_dimensionality", "quick", {"active_dims": kept, "frechet_distance": fd_wae},
                                model="wae", n=n, m=m, seed=s),
                         record("maskaae_dimensionality", "quick", {"active_dims": kept, "frechet_distance": fd_mask},
                                model="maskaae", n=n, m=m, seed=s)]
    table = runs_table(rows)
    assert active_dims(table)[0] == "holds" and active_dims(table)[2] == 1.0
    assert wae_u_shape(table)[0] == "holds"
    assert flat_quality(table)[:2] == ("partly", "1 of 2 true dimensions pass (the FD of MaskAAE at every m >= n "
                                                 "within the spread of its best m >= n)")
    table.loc[table.model == "maskaae", "active_dims"] = table.m
    assert active_dims(table)[0] == "does not hold"


def test_runs_come_from_the_paper_profile_when_they_give_a_verdict_else_from_quick(tmp_path):
    for rec in coverage_runs(0.95, 0.80):
        write(tmp_path, rec)
    scored = score("AAE", COVERAGE, tmp_path)
    assert (scored.profile, scored.seeds, scored.judgement.verdict) == ("quick", (0, 1, 2), "holds")
    assert scored.commands == ("acai-repro sweep aae_priors --profile quick -g prior gaussian -g model aae,vae,ae "
                               "-g n_labels 0 -g seed 0,1,2",)
    one_paper_seed = [dict(r, profile="paper", parameters=resolve("aae_priors", "paper", {
        k: r["parameters"][k] for k in ("prior", "model", "n_labels", "seed")})) for r in coverage_runs(0.8, 0.95)
                      if r["parameters"]["seed"] == 0]
    for rec in one_paper_seed:  # one seed of the paper profile: no verdict, so the quick runs still judge
        write(tmp_path, rec)
    assert score("AAE", COVERAGE, tmp_path).profile == "quick"
    missing = score("AAE", ARMS, tmp_path)
    assert (missing.profile, missing.judgement) == (None, Judgement("not run", "no finished run"))
    assert "--profile quick" in missing.commands[0]


def test_a_judgement_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict must be one of"):
        Judgement("maybe", "")


def test_the_committed_board_agrees_with_the_summaries(capsys):
    rows = scoreboard()
    assert {r.paper for r in rows} == {"AAE", "ACAI", "GAIA", "MaskAAE"}
    assert all(r.judgement.verdict in VERDICTS and r.profile in ("paper", "quick") and len(r.seeds) >= 3
               for r in rows), [(r.claim.statement, r.profile, r.seeds) for r in rows]
    summary = {name: find_runs(name, "quick")[0]["metrics"]
               for name in ("maskaae_summary", "acai_table", "aae_semisupervised_summary", "acai_mnist_summary")}
    by_statement = {r.claim.statement: r for r in rows}
    masked = next(r for s, r in by_statement.items() if s.startswith("MaskAAE's mask"))
    share = summary["maskaae_summary"]["active_within_1_share"]
    assert masked.judgement.verdict == ("holds" if share >= 8 / 9 else "does not hold")
    table1 = next(r for s, r in by_statement.items() if s.startswith("Table 1"))
    assert (table1.judgement.verdict == "holds") == bool(summary["acai_table"]["claim_holds"])
    semi = next(r for s, r in by_statement.items() if "from 100 labels" in s)
    assert f"test error {100 * summary['aae_semisupervised_summary']['test_error_100']:.1f} ±" in semi.judgement.ours
    downstream = next(r for s, r in by_statement.items() if s.startswith("ACAI's codes"))
    mnist = summary["acai_mnist_summary"]
    both = mnist["acai_better_probe_share"] == 1 and mnist["acai_better_cluster_share"] == 1
    assert (downstream.judgement.verdict == "holds") == both
    assert main(["results", "--claims"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == markdown(rows).strip()
    board = markdown(rows, book=True)
    assert "{cite:t}`berthelot2019acai`" in board and "{doc}`evidence </book/executed/acai_table>`" in board
