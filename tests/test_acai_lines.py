"""ACAI's lines runs (acai_repro.acai.lines_experiment) and Table 1 (acai_repro.acai.table) on tiny or synthetic inputs."""

import json
import math

import numpy as np
import pytest
import torch

from types import SimpleNamespace

from acai_repro.acai import lines_experiment, table
from acai_repro.acai.models import MODEL_NAMES as BUILT_MODELS
from acai_repro.acai.params import ACAI_BUDGET_SWEEPS, ACAI_LINES, ACAI_LINES_SWEEPS, ACAI_TABLE, MODEL_NAMES, PAPER_TABLE1, paper_values
from acai_repro.data.lines import test_lines
from acai_repro.runner import ParameterError
from acai_repro.runner.registry import profile_values, resolve
from acai_repro.runner.runs import run_id


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_schema_and_profiles():
    assert MODEL_NAMES == BUILT_MODELS  # params.py keeps a torch-free copy of the model names
    assert ACAI_LINES.defaults["model"] == "acai" and ACAI_TABLE.defaults["results_root"] == ""
    with pytest.raises(ParameterError, match="'model'.*baseline.*acai"):
        ACAI_LINES.validate({"model": "wae"})
    paper = resolve("acai_lines", "paper")
    protocol = ("images", "batch", "lr", "depth", "eval_every_images", "eval_pairs", "last_evaluations")
    assert [paper[k] for k in protocol] == [2**24, 64, 1e-4, 16, 65536, 256, 20]  # the paper's protocol
    quick = resolve("acai_lines", "quick")  # the official nets, batch and rate, for 2^17 images
    assert [quick[k] for k in protocol] == [2**17, 64, 3e-4, 16, 8192, 256, 3]
    assert ACAI_LINES_SWEEPS["quick"]["seed"] == [0, 1, 2]
    assert ACAI_BUDGET_SWEEPS["quick"] == {"model": list(MODEL_NAMES), "lr": [1e-4], "eval_every_images": [16384]}
    smoke = resolve("acai_lines", "smoke")
    assert smoke["images"] <= 2**11
    assert profile_values("acai_table", "smoke") == {"profile": "smoke"}
    assert ACAI_LINES_SWEEPS["quick"]["model"] == list(MODEL_NAMES)
    assert ACAI_LINES_SWEEPS["paper"]["seed"] == [0, 1, 2] and len(ACAI_LINES_SWEEPS["smoke"]["model"]) <= 4


def test_run_value_is_the_median_of_the_last_20():
    evals = [{"step": i, "mean_distance_e3": float(i), "smoothness": 0.1 * i, "nan_pairs": 0, "probe_accuracy": 0.5}
             for i in range(1, 31)]
    value = lines_experiment.run_value(evals)
    assert value["evaluations"] == 20
    assert value["mean_distance_e3"] == pytest.approx(20.5)  # median of 11..30
    assert value["smoothness"] == pytest.approx(2.05)
    few = lines_experiment.run_value(evals[:3])  # fewer than 20: all of them
    assert few["evaluations"] == 3 and few["mean_distance_e3"] == 2.0
    blank = [{**row, "smoothness": math.nan} for row in evals[:3]]
    blank[2]["smoothness"] = 0.7  # NaN evaluations (every pair NaN) are skipped for that metric only
    assert lines_experiment.run_value(blank)["smoothness"] == 0.7
    blank[2]["smoothness"] = math.nan
    assert math.isnan(lines_experiment.run_value(blank)["smoothness"])
    with pytest.raises(ValueError, match="no evaluation"):
        lines_experiment.run_value([])


def test_paper_values():
    assert set(PAPER_TABLE1) == set(MODEL_NAMES)
    assert paper_values("acai") == {"mean_distance_e3": 0.24, "smoothness": 0.10}


def small_run(run_dir, images, model="acai", seed=3):
    """What train_lines reads of a Run: its parameters, device and folder."""
    params = {"model": model, "seed": seed, "images": images, "batch": 4, "lr": 1e-3, "depth": 2,
              "eval_every_images": 4, "checkpoint_every_images": 4}
    return SimpleNamespace(params=params, device=torch.device("cpu"), dir=run_dir)


def test_train_lines_trains_evaluates_and_resumes(tmp_path):
    """Two steps with an evaluation each; a resumed run ends identical to an uninterrupted one."""
    x_test, theta = test_lines(8)
    trained = lines_experiment.train_lines(small_run(tmp_path / "a", 8), x_test, theta, progress=False)
    net, history = trained.model, trained.history
    assert net.latent_shape == (16, 2, 2) and net.optimizers["ae"].defaults["lr"] == 1e-3
    assert net.probe is not None and net.probe.out_features == 10
    assert [row["step"] for row in history.evals] == [1, 2]
    row = history.evals[-1]
    assert set(row) == {"step", *lines_experiment.EVAL_METRICS}
    assert 0 <= row["nan_pairs"] <= 4 and 0 <= row["probe_accuracy"] <= 1 and row["mean_distance_e3"] > 0
    assert net.training  # eval mode only inside the evaluation
    assert json.dumps(json.loads((tmp_path / "a" / "history.json").read_text())) == json.dumps(history.to_dict())
    lines_experiment.train_lines(small_run(tmp_path / "b", 4), x_test, theta, progress=False)  # stops after one step
    resumed = lines_experiment.train_lines(small_run(tmp_path / "b", 8), x_test, theta, progress=False)
    assert json.dumps(resumed.history.to_dict()) == json.dumps(history.to_dict())  # NaN-safe comparison
    assert all(torch.equal(v, resumed.model.state_dict()[k]) for k, v in net.state_dict().items())
    vqvae = lines_experiment.train_lines(small_run(None, 4, "vqvae"), x_test, theta, progress=False).model
    assert vqvae.latent_shape == (16, 4, 4)  # the official lines VQ-VAE

    strip = lines_experiment.interpolation_strips(net, x_test, 2)
    assert strip.shape == (2, 16, 32, 32) and strip.dtype == np.float32
    with torch.no_grad():  # the first and last images decode the two end codes
        ends = net.decode(net.encode(torch.stack([x_test[0], x_test[4]])))
    np.testing.assert_allclose(strip[0, [0, -1]], ends[:, 0].numpy(), atol=1e-5)
    lines_experiment.save_strips(tmp_path / "s.npy", strip)
    assert np.array_equal(np.load(tmp_path / "s.npy"), strip)


def record(model, seed, md, smooth, nan_pairs=0, lr=1e-3, profile="quick", device="cpu (x86_64)"):
    """A synthetic metrics.json of an acai_lines run."""
    return {"notebook": "acai_lines", "profile": profile, "run_id": f"model={model}_seed={seed}",
            "parameters": {"profile": profile, "seed": seed, "device": "auto", "model": model, "lr": lr, "depth": 8},
            "metrics": {"mean_distance_e3": md, "smoothness": smooth, "nan_pairs": nan_pairs, "probe_accuracy": 0.5},
            "paper": {}, "device": device, "command": "", "git_commit": ""}


def test_table_mean_std_over_seeds_beside_the_paper():
    records = [record("acai", 1, 0.3, 0.2), record("acai", 0, 0.1, math.nan, nan_pairs=256),
               record("baseline", 0, 7.0, 0.5), record("acai", 2, 0.2, 0.1)]
    rows = table.table_rows(records)
    assert [r.model for r in rows] == ["baseline", "acai"]  # Table 1 order, only models with runs
    acai = rows[1]
    assert acai.seeds == (0, 1, 2)
    assert acai.mean_distance_e3 == pytest.approx((0.2, math.sqrt(0.02 / 3)))  # numpy std, ddof 0
    assert acai.smoothness == pytest.approx((0.15, 0.05))  # the NaN run is left out of the mean
    assert acai.nan_pairs == pytest.approx((256 / 3, math.sqrt(2 * (256 / 3) ** 2 / 3 + (512 / 3) ** 2 / 3)))
    assert acai.paper_mean_distance_e3 == (0.24, 0.01) and acai.paper_smoothness == (0.10, 0.01)
    assert rows[0].mean_distance_e3 == (7.0, 0.0)
    text = table.format_table(rows)
    assert text.splitlines()[2] == ("| baseline | 0 | 7.00 | 6.88 ± 0.21 | 0.500 | 0.44 ± 0.04 | "
                                    "0.0 | 0.500 |")
    assert "| acai | 0, 1, 2 | 0.20 ± 0.08 | 0.24 ± 0.01 | 0.150 ± 0.050 |" in text
    assert table.mean_std([math.nan]) == pytest.approx((math.nan, math.nan), nan_ok=True)


def test_describe_runs_and_strips(tmp_path):
    records = [record("acai", 0, 0.1, 0.1), record("baseline", 0, 7.0, 0.5, lr=1e-4)]
    text = table.describe_runs(records)
    assert text.startswith("2 runs, profile quick, device cpu (x86_64)")
    assert "depth=8" in text and "WARNING" in text and "lr=0.0001|0.001" in text
    with pytest.raises(ValueError, match="no runs"):
        table.describe_runs([])
    assert table.sweep_command("paper", ACAI_LINES_SWEEPS["paper"]) == (
        "acai-repro sweep acai_lines --profile paper -g model baseline,dropout,denoising,vae,aae,vqvae,acai "
        "-g seed 0,1,2")
    folder = table.run_folder(tmp_path, records[0])
    folder.mkdir(parents=True)
    np.save(folder / "strips.npy", np.full((2, 16, 32, 32), 0.5, dtype=np.float32))
    (folder / "metrics.json").write_text(json.dumps(records[0]))
    strips = table.first_strips(records, tmp_path)
    assert list(strips) == ["acai"] and strips["acai"].shape == (16, 32, 32)  # the baseline has no strips.npy
    records[0]["parameters"]["batch"] = 16
    evals = [{"step": 8, "mean_distance_e3": 30.0, "smoothness": math.nan, "nan_pairs": 256, "probe_accuracy": 0.1},
             {"step": 16, "mean_distance_e3": 20.0, "smoothness": 0.5, "nan_pairs": 3, "probe_accuracy": 0.5}]
    (folder / "history.json").write_text(json.dumps({"losses": [], "evals": evals}))
    assert table.history_curves(records[1], tmp_path) is None  # the baseline has no history.json
    curves = table.history_curves(records[0], tmp_path)
    assert curves["images"].tolist() == [128, 256]
    assert curves["mean_distance_e3"].tolist() == [30.0, 20.0] and curves["nan_pairs"][1] == 3


def quick_record(model, seed, md=1.0, smooth=0.1, nan_pairs=0, **changed):
    """A metrics.json of a quick acai_lines run with the profile's own parameters (plus ``changed``)."""
    params = resolve("acai_lines", "quick", {"model": model, "seed": seed, **changed})
    return {**record(model, seed, md, smooth, nan_pairs), "parameters": params, "run_id": run_id("acai_lines", params)}


def test_split_runs_keeps_the_grid_and_the_budget_study_apart():
    grid = [quick_record(m, s) for m in ("baseline", "acai") for s in (0, 1, 2)]
    budget = [quick_record(m, 0, lr=1e-4, eval_every_images=16384) for m in ("acai", "baseline")]
    by_hand = [quick_record("acai", 0, lr=1e-3), quick_record("acai", 0, lr=1e-4, depth=8), quick_record("acai", 5)]
    table_runs, budget_runs = table.split_runs(grid + budget + by_hand, "quick")
    assert table_runs == grid and budget_runs == budget
    assert table.split_runs(grid, "paper") == ([], [])  # quick runs are not the paper profile's


def claim_rows(acai=(0.5, 0.1), baseline=(5.0, 0.4), seeds=(0, 1, 2), acai_nan=0, spread=0.01, missing=()):
    """Table rows of all seven models over ``seeds``: ACAI and the baseline at (Mean Distance, Smoothness), the
    other five worse than the baseline; each value +- ``spread`` across seeds."""
    values = {m: (baseline[0] * 2, baseline[1] * 2) for m in MODEL_NAMES}
    values.update(acai=acai, baseline=baseline)
    records = []
    for model, (md, smooth) in values.items():
        if model in missing:
            continue
        for i, seed in enumerate(seeds):
            shift = spread * (i - (len(seeds) - 1) / 2)
            records.append(record(model, seed, md + shift, smooth + shift, acai_nan if model == "acai" else 0))
    return table.table_rows(records)


def test_table1_claim_follows_its_rule():
    holds = table.table1_claim(claim_rows())
    assert holds.verdict == "holds" and holds.lowest_mean_distance and holds.lowest_smoothness and holds.nan_free
    assert holds.within_spread == () and holds.runner_up == {"mean_distance_e3": "baseline", "smoothness": "baseline"}
    close = table.table1_claim(claim_rows(acai=(0.5, 0.1), baseline=(0.52, 0.3), spread=0.05))
    assert close.verdict == "partly" and close.within_spread == ("baseline mean_distance_e3",)
    assert table.table1_claim(claim_rows(acai_nan=3)).verdict == "partly"  # NaN pairs: lowest, yet not clean
    assert table.table1_claim(claim_rows(acai=(0.5, 0.5))).verdict == "does not hold"  # the baseline is smoother
    assert table.table1_claim(claim_rows(seeds=(0,))).verdict == "partly"  # one seed has no spread
    assert table.table1_claim(claim_rows(missing=("vqvae",))).verdict == "not run"
    blank = claim_rows(baseline=(5.0, math.nan))  # the baseline decodes blanks: no Smoothness, beaten
    assert table.table1_claim(blank).verdict == "holds"
    assert "lowest mean Mean Distance" in table.CLAIM_RULE


def test_seed_by_seed_pairs_acai_with_a_rival_on_shared_seeds():
    records = [record("acai", 2, 1.0, 0.2), record("acai", 0, 3.0, 0.1), record("baseline", 0, 4.0, 0.3),
               record("baseline", 1, 5.0, 0.4), record("baseline", 2, 2.0, 0.5), record("vae", 0, 9.0, 0.9)]
    assert table.seed_by_seed(records, "baseline", "mean_distance_e3") == [(0, 3.0, 4.0), (2, 1.0, 2.0)]
    assert table.seed_by_seed(records, "baseline", "smoothness") == [(0, 0.1, 0.3), (2, 0.2, 0.5)]
    assert table.seed_by_seed(records, "aae", "smoothness") == []  # no shared seed


def test_budget_curves_align_the_seeds_evaluations(tmp_path):
    runs = [quick_record("acai", 0), quick_record("acai", 1), quick_record("acai", 0, lr=1e-4)]
    for run, n in zip(runs, (3, 2, 3)):  # seed 1 is still training: two evaluations so far
        folder = table.run_folder(tmp_path, run)
        folder.mkdir(parents=True)
        evals = [{"step": 256 * (i + 1), "mean_distance_e3": 10.0 - i - run["parameters"]["seed"],
                  "smoothness": math.nan if i == 0 else 0.5, "nan_pairs": 256 - 100 * i} for i in range(n)]
        (folder / "history.json").write_text(json.dumps({"losses": [], "evals": evals}))
    curves = table.budget_curves(runs, tmp_path)
    assert set(curves) == {("acai", 3e-4), ("acai", 1e-4)}
    wide = curves[("acai", 3e-4)]
    assert wide["images"].tolist() == [16384, 32768] and wide["seeds"].tolist() == [0, 1]
    assert wide["mean_distance_e3"].tolist() == [[10.0, 9.0], [9.0, 8.0]]  # (seeds, evaluations)
    assert np.isnan(wide["smoothness"][:, 0]).all() and curves[("acai", 1e-4)]["nan_pairs"].tolist() == [[256, 156, 56]]
    assert table.clean_from(wide) is None  # 156 NaN pairs at the last evaluation
    assert table.clean_from({"images": np.array([1, 2, 3]), "nan_pairs": np.array([[0, 4, 0], [9, 0, 0]])}) == 3
    fig = table.plot_budget(curves, solid=3e-4)
    assert len(fig.axes) == 3 and fig.axes[0].get_yscale() == "log"
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].lines if not line.get_label().startswith("_")}
    assert styles == {"acai, lr 0.0001 (1 seed)": "--", "acai, lr 0.0003 (2 seeds)": "-"}
    assert set(table.budget_curves(runs, tmp_path, vary="depth")) == {("acai", 16)}
