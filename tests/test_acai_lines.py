"""ACAI's lines runs (acai_repro.acai.lines_run) and Table 1 (acai_repro.acai.table) on tiny or synthetic inputs."""

import json
import math

import numpy as np
import pytest
import torch

from acai_repro.acai import lines_run, table
from acai_repro.acai.models import MODEL_NAMES as BUILT_MODELS, build_lines_model
from acai_repro.acai.params import ACAI_LINES, ACAI_LINES_SWEEPS, ACAI_TABLE, MODEL_NAMES, TRAIN_PATHS
from acai_repro.data.lines import LinesSampler, test_lines
from acai_repro.runner import ParameterError
from acai_repro.runner.registry import profile_values, resolve
from acai_repro.training import Trainer


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_schema_and_profiles():
    assert MODEL_NAMES == BUILT_MODELS  # params.py keeps a torch-free copy of the model names
    assert ACAI_LINES.defaults["model"] == "acai" and ACAI_TABLE.defaults["results_root"] == ""
    with pytest.raises(ParameterError, match="'model'.*baseline.*acai"):
        ACAI_LINES.validate({"model": "wae"})
    paper = resolve("acai_lines", "paper")
    protocol = ("images", "batch", "lr", "depth", "eval_every_images", "eval_pairs", "last_evaluations")
    assert [paper[k] for k in protocol] == [2**24, 64, 1e-4, 16, 65536, 256, 20]  # the paper's protocol
    assert paper["train_path"] == "fast" and ACAI_LINES.defaults["train_path"] == "eager"  # GPU: the fast path
    smoke = resolve("acai_lines", "smoke")
    assert smoke["images"] <= 2**11
    assert profile_values("acai_table", "smoke") == {"profile": "smoke"}
    assert ACAI_LINES_SWEEPS["quick"]["model"] == list(MODEL_NAMES)
    assert ACAI_LINES_SWEEPS["paper"]["seed"] == [0, 1, 2] and len(ACAI_LINES_SWEEPS["smoke"]["model"]) <= 4


def test_run_value_is_the_median_of_the_last_20():
    evals = [{"step": i, "mean_distance_e3": float(i), "smoothness": 0.1 * i, "nan_pairs": 0, "probe_accuracy": 0.5}
             for i in range(1, 31)]
    value = lines_run.run_value(evals)
    assert value["evaluations"] == 20
    assert value["mean_distance_e3"] == pytest.approx(20.5)  # median of 11..30
    assert value["smoothness"] == pytest.approx(2.05)
    few = lines_run.run_value(evals[:3])  # fewer than 20: all of them
    assert few["evaluations"] == 3 and few["mean_distance_e3"] == 2.0
    blank = [{**row, "smoothness": math.nan} for row in evals[:3]]
    blank[2]["smoothness"] = 0.7  # NaN evaluations (every pair NaN) are skipped for that metric only
    assert lines_run.run_value(blank)["smoothness"] == 0.7
    blank[2]["smoothness"] = math.nan
    assert math.isnan(lines_run.run_value(blank)["smoothness"])
    with pytest.raises(ValueError, match="no evaluation"):
        lines_run.run_value([])


def test_models_and_paper_values():
    assert set(lines_run.PAPER_TABLE1) == set(MODEL_NAMES)
    assert lines_run.paper_values("acai") == {"mean_distance_e3": 0.24, "smoothness": 0.10}
    assert build_lines_model("vqvae").latent_shape == (16, 4, 4)  # the official lines VQ-VAE
    net = build_lines_model("baseline", depth=4, lr=1e-3)
    assert net.latent_shape == (16, 2, 2) and net.optimizers["ae"].defaults["lr"] == 1e-3
    assert net.probe is not None and net.probe.out_features == 10


def test_training_glue_trains_evaluates_and_resumes(tmp_path):
    """Two steps through the Trainer with an evaluation each; a resumed run ends identical to an uninterrupted one."""
    x_test, theta = test_lines(8)

    def train(run_dir, total):
        torch.manual_seed(0)
        net = build_lines_model("acai", depth=2)
        sampler = LinesSampler(4, seed=0)
        trainer = Trainer({"model": net, "optimizers": net.optimizers, "data": sampler}, total, run_dir,
                          checkpoint_every=1, log_every=1, progress=False)
        history = trainer.fit(lines_run.make_step_fn(net, sampler), lines_run.make_eval_fn(net, x_test, theta), 1)
        return net, history

    net, history = train(tmp_path / "a", 2)
    assert [row["step"] for row in history.evals] == [1, 2]
    row = history.evals[-1]
    assert set(row) == {"step", *lines_run.EVAL_METRICS}
    assert 0 <= row["nan_pairs"] <= 4 and 0 <= row["probe_accuracy"] <= 1 and row["mean_distance_e3"] > 0
    assert net.training  # eval mode only inside the evaluation
    train(tmp_path / "b", 1)
    resumed, resumed_history = train(tmp_path / "b", 2)
    assert json.dumps(resumed_history.to_dict()) == json.dumps(history.to_dict())  # NaN-safe comparison
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in net.state_dict().items())

    strip = lines_run.interpolation_strips(net, x_test, 2)
    assert strip.shape == (2, 16, 32, 32) and strip.dtype == np.float32
    with torch.no_grad():  # the first and last images decode the two end codes
        ends = net.decode(net.encode(torch.stack([x_test[0], x_test[4]])))
    np.testing.assert_allclose(strip[0, [0, -1]], ends[:, 0].numpy(), atol=1e-5)
    lines_run.save_strips(tmp_path / "s.npy", strip)
    assert np.array_equal(np.load(tmp_path / "s.npy"), strip)


def lines_run_kwargs(run_dir=None, steps=4):
    x_test, theta = test_lines(8)
    return dict(steps=steps, batch=4, lr=1e-3, depth=4, device="cpu", run_dir=run_dir, checkpoint_every=2,
                log_every=1, eval_every=2, x_test=x_test, theta_test=theta, progress=False)


def test_fast_train_path_trains_what_the_eager_path_trains(tmp_path):
    """train_path="fast" (ACAI as one functional program) trains what the eager path trains: on a CPU (no vmap,
    no compile) bit for bit, losses, evaluations and weights (with vmap, within float tolerance: test_fast.py);
    a model without such a program trains exactly as on the eager path."""
    eager = lines_run.train_lines("acai", 3, **lines_run_kwargs())
    fast = lines_run.train_lines("acai", 3, train_path="fast", **lines_run_kwargs())
    assert eager.features == {} and fast.features == lines_run.fast_features("cpu").as_dict()
    assert (eager.describe(), fast.describe()) == ("eager path (the model's own train_step)",
                                                   "fast path (one functional program, uncompiled)")
    assert lines_run.TrainedRun(fast.model, fast.history, "fast", {"compile": True, "cuda_graphs": True,
                                                                   "vmap": False}).describe() == \
        "fast path (compile, cuda_graphs)"
    assert [row["step"] for row in fast.history.evals] == [2, 4]
    assert {"loss_ae", "loss_critic", "loss_probe"} <= set(fast.history.losses[-1])
    assert json.dumps(fast.history.to_dict()) == json.dumps(eager.history.to_dict())  # NaN-safe comparison
    assert all(torch.equal(p, q) for p, q in zip(fast.model.parameters(), eager.model.parameters()))
    assert fast.model.training
    # A fast run resumed from its checkpoint ends as the uninterrupted one.
    lines_run.train_lines("acai", 3, train_path="fast", **lines_run_kwargs(tmp_path / "fast", steps=2))
    resumed = lines_run.train_lines("acai", 3, train_path="fast", **lines_run_kwargs(tmp_path / "fast"))
    assert json.dumps(resumed.history.to_dict()) == json.dumps(fast.history.to_dict())
    baseline = [lines_run.train_lines("baseline", 1, train_path=path, **lines_run_kwargs()) for path in TRAIN_PATHS]
    assert json.dumps(baseline[0].history.to_dict()) == json.dumps(baseline[1].history.to_dict())
    assert baseline[1].path == "eager" and baseline[1].features == {}  # no functional program: the eager path
    with pytest.raises(ValueError, match="train_path must be one of eager, fast, got 'turbo'"):
        lines_run.train_lines("acai", 3, train_path="turbo", **lines_run_kwargs())
    with pytest.raises(ParameterError, match="'train_path' must be one of: eager, fast"):
        ACAI_LINES.validate({"train_path": "turbo"})


@pytest.mark.slow
def test_the_notebook_runs_on_the_fast_path(tmp_path):
    """``acai-repro run acai_lines -p train_path fast``: its own run folder, the parameter in its record, and the
    fast step's losses (ACAI's critic included) in its history."""
    from acai_repro.runner import read_metrics, run_notebook
    from acai_repro.runner.runs import run_dir_for

    small = {"images": 256, "batch": 16, "eval_every_images": 128, "eval_pairs": 8, "n_strip": 1, "depth": 4}
    run_dir = run_notebook("acai_lines", "smoke", {**small, "train_path": "fast"}, results_root=tmp_path)
    assert run_dir != run_dir_for("acai_lines", resolve("acai_lines", "smoke", small), tmp_path).resolve()
    record = read_metrics(run_dir / "metrics.json")
    assert record["parameters"]["train_path"] == "fast" and record["metrics"]["evaluations"] == 2
    assert "-p train_path fast" in record["command"]
    history = json.loads((run_dir / "history.json").read_text())
    assert {"loss_ae", "loss_critic", "loss_probe"} <= set(history["losses"][-1])
    assert "trained acai on the fast path (one functional program, uncompiled)" in \
        (run_dir / "acai_lines.ipynb").read_text()


def test_fast_features_compile_and_graph_only_on_cuda():
    assert lines_run.fast_features("cpu") == lines_run.FastFeatures(vmap=False)  # one model: no vmap needed
    cuda = lines_run.fast_features("cuda")
    assert cuda.compile and cuda.cuda_graphs and cuda.vmap and not cuda.bf16


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
    assert text.splitlines()[2] == ("| baseline | 0 | 7.00 +- 0.00 | 6.88 +- 0.21 | 0.500 +- 0.000 | 0.44 +- 0.04 | "
                                    "0.0 +- 0.0 | 0.500 +- 0.000 |")
    assert "| acai | 0,1,2 | 0.20 +- 0.08 | 0.24 +- 0.01 | 0.150 +- 0.050 |" in text
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
    curves = table.evaluation_curves(records, tmp_path)
    assert list(curves) == ["acai"] and curves["acai"]["images"].tolist() == [128, 256]
    assert curves["acai"]["mean_distance_e3"].tolist() == [30.0, 20.0] and curves["acai"]["nan_pairs"][1] == 3
