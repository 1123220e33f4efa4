"""The GPU window: the fast path computes what the eager step computes, the plan, packing, and the whole window
rehearsed on the CPU (``gpu run --dry-run``, unpack, a notebook executed from the unpacked checkpoint).

On a machine with CUDA the equivalence tests run there too (with a tolerance, and checking which models are
graph-captured): ``python3 -m pytest -q --noconftest tests/test_gpu.py -k cuda`` is the window's own check (the GPU
machine lacks the book's packages that conftest.py imports).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from acai_repro import cli
from acai_repro.checkpoints import CheckpointStore
from acai_repro.common.batches import BatchSampler
from acai_repro.device import seed_everything
from acai_repro.gpu import carry, pack
from acai_repro.gpu import plan as planning
from acai_repro.gpu.graphs import FastStep, accelerate, fast_training, make_capturable
from acai_repro.gpu.items import (EXPERIMENTS, MIRRORED, REHEARSAL_LINES, TRAINERS, Item, paper_groups,
                                  rehearsal_groups)
from acai_repro.runner.registry import repo_root
from acai_repro.training import train

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
GPU_MACHINE_LACKS = ("papermill", "nbformat", "nbclient", "ipykernel", "ipywidgets", "umap", "pynndescent", "myst_nb",
                     "jupyter_book", "IPython", "dask", "distributed", "nbval", "jupyter_client")


@pytest.fixture
def one_thread():
    """One torch thread (as conftest's fixture; defined here so that the GPU machine, which lacks the book's
    packages that conftest imports, runs this file with ``pytest --noconftest tests/test_gpu.py``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the fast path against the eager step -------------------------------------------------------------------------
def _lines(name: str):
    def make(device):
        from acai_repro.acai.models import build_model
        from acai_repro.data.lines import LinesSampler

        extra = {"n_codes": 256} if name == "vqvae" else {}
        return build_model(name, depth=4, n_classes=10, **extra).to(device), LinesSampler(8, device, seed=3)
    return make


def _mnist_mlp(device):
    from acai_repro.acai.models import build_model

    x = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1
    y = torch.arange(64).remainder(10).to(device)
    return (build_model("acai", family="mlp", depth=32, latent=8, n_classes=10).to(device),
            BatchSampler(x, y, batch_size=8, seed=2))


def _maskaae(device):
    from acai_repro.maskaae.model import build_model

    model = build_model("maskaae", 4, d=16, width=16, depth=2, reg_interval=1).to(device)
    x = torch.randn(128, 16, generator=torch.Generator().manual_seed(1)).to(device)
    return model, BatchSampler(x, batch_size=8, seed=2, draws=model.updates_per_step)


def _gaia(device):
    from acai_repro.gaia.model import GAIA

    x = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1
    return GAIA(32, 4, 8).to(device), BatchSampler(x, batch_size=8, seed=2)


def _l1_autoencoder(device):
    from acai_repro.gaia.model import L1Autoencoder

    x = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device) * 2 - 1
    return L1Autoencoder(32, 4, 8).to(device), BatchSampler(x, batch_size=8, seed=2)


def _aae(model_name: str):
    def make(device):
        from acai_repro.aae.model import build_model
        from acai_repro.aae.priors import build_prior

        prior = build_prior("mixture" if model_name == "aae" else "gaussian", 2)
        x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device)
        labels = torch.where(torch.arange(64) % 3 == 0, torch.arange(64) % 10, torch.tensor(-1)).to(device)
        model = build_model(model_name, prior, n_labels=20 if model_name == "aae" else 0, hidden=16)
        return model.to(device), BatchSampler(x, labels, batch_size=8, seed=2)
    return make


# one model of every paper (all seven of Table 1), and on CUDA whether its step is expected to be captured
MODELS = {
    **{f"lines-{name}": (_lines(name), name != "vqvae") for name in
       ("acai", "baseline", "dropout", "denoising", "vae", "aae", "vqvae")},  # vqvae: bincount syncs
    "mnist-mlp-acai": (_mnist_mlp, True),
    "maskaae": (_maskaae, False),  # reads its step counter with int()
    "gaia": (_gaia, False),  # sets its learning rates from .item()
    "gaia-l1-autoencoder": (_l1_autoencoder, True),
    "aae-conditioned": (_aae("aae"), False),  # samples its prior on the CPU
    "aae-vae": (_aae("vae"), True),
}


def _train(make, device, fast: bool, steps: int = 6):
    seed_everything(0)
    model, data = make(device)
    step = accelerate(model) if fast else None
    history = train(model, data, steps=steps, run_dir=None, checkpoint_every=steps, log_every=1, progress=False)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    moments = [v.detach().cpu().clone() for opt in model.optimizers.values() for s in opt.state.values()
               for v in s.values() if isinstance(v, torch.Tensor)]
    return history.history.losses, state, moments, step


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(MODELS))
def test_fast_path_computes_what_the_eager_step_computes(name, device, one_thread):
    make, captured_on_cuda = MODELS[name]
    eager = _train(make, device, fast=False)
    fast = _train(make, device, fast=True)
    if device == "cpu":  # the same arithmetic on the static buffers: bit for bit
        assert fast[0] == eager[0]
        assert all(torch.equal(fast[1][k], eager[1][k]) for k in eager[1])
        assert len(fast[2]) == len(eager[2]) and all(torch.equal(a, b) for a, b in zip(fast[2], eager[2]))
        assert fast[3].mode.startswith("cpu (eager)")
    else:  # replayed kernels: the same up to the order of atomic additions
        for row_f, row_e in zip(fast[0], eager[0]):
            assert row_f.keys() == row_e.keys()
            assert all(abs(row_f[k] - row_e[k]) <= 1e-3 * (1 + abs(row_e[k])) for k in row_e), (row_f, row_e)
        for k in eager[1]:
            torch.testing.assert_close(fast[1][k], eager[1][k], rtol=1e-3, atol=1e-4)
        assert fast[3].mode.startswith("graph") == captured_on_cuda, fast[3].mode


def test_gaia_would_stay_eager_on_cuda_and_says_why(one_thread):
    losses, _, _, step = _train(_gaia, "cpu", fast=True, steps=2)
    assert "on CUDA it would stay eager" in step.mode and "lr" in step.mode


def test_accelerate_is_idempotent_and_keeps_state_dict(one_thread):
    model, _ = _lines("baseline")("cpu")
    keys = set(model.state_dict())
    step = accelerate(model)
    assert accelerate(model) is step and isinstance(model.train_step, FastStep)
    assert set(model.state_dict()) == keys
    with pytest.raises(ValueError, match="precision"):
        accelerate(model, precision="fp8")


def test_fast_training_accelerates_every_train_call_and_restores_it(one_thread):
    import acai_repro.acai.lines_experiment as lines_experiment
    import acai_repro.training as training

    original = training.train
    with fast_training() as made:
        assert lines_experiment.train is not original
        seed_everything(0)
        model, data = _lines("baseline")("cpu")
        lines_experiment.train(model, data, steps=2, run_dir=None, checkpoint_every=2, log_every=1, progress=False)
    assert lines_experiment.train is original and training.train is original
    assert len(made) == 1 and made[0].model is model and made[0].calls == 2


def test_make_capturable_sets_the_flag_and_moves_step_counters():
    model, data = _lines("acai")("cpu")
    model.train_step(*data.next())  # optimiser state exists, Adam's step counters are CPU scalars
    make_capturable(model)
    for optimizer in model.optimizers.values():
        assert all(group["capturable"] for group in optimizer.param_groups)
        assert all(s["step"].dtype == torch.float32 for s in optimizer.state.values())
    maskaae, _ = _maskaae("cpu")
    make_capturable(maskaae)  # TF1RMSProp has no such flag: left as it is
    assert "capturable" not in maskaae.optimizers["ae"].param_groups[0]


# --- packing ------------------------------------------------------------------------------------------------------
def _finished_run(run_dir: Path, steps: int = 4):
    seed_everything(0)
    model, data = _lines("acai")("cpu")
    trained = train(model, data, steps=steps, run_dir=run_dir, checkpoint_every=2, log_every=1, progress=False)
    return model, data, trained


def test_a_packed_checkpoint_without_optimiser_moments_loads_and_trains_nothing(tmp_path, one_thread):
    model, _, trained = _finished_run(tmp_path / "run")
    step, payload = CheckpointStore(tmp_path / "run").load_latest()
    CheckpointStore(tmp_path / "packed").save(step, pack.strip_optimizer_moments(payload))
    seed_everything(5)  # other weights: the checkpoint must replace them all
    fresh, data = _lines("acai")("cpu")
    again = train(fresh, data, steps=4, run_dir=tmp_path / "packed", checkpoint_every=2, log_every=1,
                  progress=False)
    assert again.history.to_dict() == trained.history.to_dict()
    assert CheckpointStore(tmp_path / "packed").steps() == [4]  # nothing new was written
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    assert all(not opt.state for opt in fresh.optimizers.values())


def test_pack_splits_into_parts_leaves_out_what_does_not_fit_and_unpacks(tmp_path, one_thread):
    for name in ("a", "b"):
        _finished_run(tmp_path / "runs" / name)
        (tmp_path / "runs" / name / ".lock").write_text("")
    blob_a, files = pack.run_blob(tmp_path / "runs" / "a", expected_step=4)
    assert "ckpt-000000004.pt" in files and "history.json" in files and ".lock" not in files
    out = tmp_path / "out"
    out.mkdir()
    runs = [(f"smoke/nb/{n}", tmp_path / "runs" / n, 4) for n in ("a", "b")]
    parts, blobs, left = pack.pack_runs(runs, out, capacity=len(blob_a) + 1000, part_bytes=4096,
                                        max_parts=len(blob_a) // 4096 + 10)
    assert [b["relpath"] for b in blobs] == ["smoke/nb/a"] and left[0][0] == "smoke/nb/b" and "no room" in left[0][1]
    assert len(parts) == -(-len(blob_a) // 4096) and all(p["bytes"] <= 4096 for p in parts)
    (out / "window.json").write_text(json.dumps({"parts": parts, "blobs": blobs, "items": []}))
    placed = pack.unpack(out, tmp_path / "results", log=lambda m: None)
    target = tmp_path / "results" / "smoke" / "nb" / "a"
    assert placed[0][1] == target and CheckpointStore(target).steps() == [4]
    assert pack.unpack(out, tmp_path / "results", log=lambda m: None)[0][1] == target  # again: replaced, not kept
    (target / "metrics.json").write_text("{}")
    assert "kept" in pack.unpack(out, tmp_path / "results", log=lambda m: None)[0][1]
    damaged = bytearray((out / parts[0]["file"]).read_bytes())
    damaged[10] ^= 1
    (out / parts[0]["file"]).write_bytes(bytes(damaged))
    with pytest.raises(pack.UnpackError, match="damaged"):
        pack.unpack(out, tmp_path / "results")


def test_pack_refuses_a_run_whose_last_checkpoint_is_not_the_final_one(tmp_path, one_thread):
    _finished_run(tmp_path / "run", steps=4)
    with pytest.raises(ValueError, match="not a good final one"):
        pack.run_blob(tmp_path / "run", expected_step=8)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the repair is for machines without CUDA")
def test_unpack_makes_a_gpu_data_stream_state_loadable_here(tmp_path, one_thread):
    from acai_repro.data.lines import LinesSampler

    _finished_run(tmp_path / "run")
    store = CheckpointStore(tmp_path / "run")
    step, payload = store.load_latest()
    payload["state"]["data"]["generator"] = torch.zeros(16, dtype=torch.uint8)  # what a CUDA generator's state is
    store.save(step, payload)
    with pytest.raises(RuntimeError):
        LinesSampler(8).load_state_dict(payload["state"]["data"])
    notes = pack.make_portable(tmp_path / "run", seed=3)
    assert notes and "GPU one" in notes[0]
    LinesSampler(8).load_state_dict(CheckpointStore(tmp_path / "run").load_latest()[1]["state"]["data"])


# --- items and plan -----------------------------------------------------------------------------------------------
def test_every_trainer_mirrors_lines_that_are_still_in_its_notebook():
    import importlib

    import acai_repro.training as training

    assert set(MIRRORED) == set(TRAINERS) == set(EXPERIMENTS)
    for module in EXPERIMENTS.values():  # fast_training accelerates the models of exactly these train calls
        assert importlib.import_module(module).train is training.train
    for notebook, lines in MIRRORED.items():
        cells = json.loads((repo_root() / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for line in lines:
            assert line in source, f"notebooks/{notebook}.ipynb no longer has `{line}`: update gpu/items.py"


def test_the_plan_is_in_order_of_value_and_uses_the_runners_folders():
    groups = paper_groups()
    assert [g[0].group for g in groups] == ["bench", "Table 1, seed 0", "Table 1, seeds 1 and 2",
                                            "MaskAAE paper sweep", "GAIA, CelebA 64 x 64", "AAE paper runs"]
    table1 = groups[1]
    assert sorted(i.params["model"] for i in table1) == sorted(
        ("acai", "baseline", "dropout", "denoising", "vae", "aae", "vqvae"))
    first = table1[0]
    assert first.params["images"] == 2**24 and first.params["batch"] == 64 and first.params["seed"] == 0
    assert first.command() == "acai-repro run acai_lines --profile paper"  # acai, seed 0: the profile's values
    from acai_repro.runner.runs import run_dir_for

    assert first.run_dir(Path("/r")) == run_dir_for("acai_lines", first.params, Path("/r"))
    assert Item.from_json(first.to_json()) == first
    chosen = planning.plan_items(only=("model=acai",))
    assert chosen[0].notebook is None and [i.params["seed"] for i in chosen[1:]] == [0, 1, 2]


def test_plan_command_prints_estimates(capsys):
    assert cli.main(["gpu", "plan"]) == 0
    text = capsys.readouterr().out
    assert "Table 1, seed 0" in text and "AAE paper runs" in text and "assumed" in text
    assert "gpu run --budget-s 480 --out $OUT" in text


def test_measured_speeds_replace_assumptions(tmp_path):
    bench = {"device": "cuda", "options": {"depth": 16, "batch": 64},
             "results": {"graph": {"images_per_s": 64000.0, "models": 1},
                         "parallel": {"models": 4, "images_per_s": 128000.0, "images_per_s_per_model": 32000.0}},
             "models": {"baseline": {"images_per_s": 128000.0, "mode": "graph"}}}
    (tmp_path / "bench-cuda-x.json").write_text(json.dumps(bench))
    window = {"kind": "acai-repro gpu window", "device": "cuda", "dry_run": False,
              "items": [{"status": "packed", "speed_key": "acai_lines:vae", "train_seconds": 100.0,
                         "trained_steps": 1000}]}
    (tmp_path / "gpu-window-cuda-x.json").write_text(json.dumps(window))
    known = planning.known_speeds(tmp_path)
    assert known["acai_lines:acai"].source.startswith("bench") and known["acai_lines:acai"].seconds_per_step > 1e-3
    assert known["acai_lines:vae"].seconds_per_step == 0.1 and known["acai_lines:vae"].source.startswith("measured")
    assert planning.parallel_slowdown(tmp_path, 4) == (2.0, "measured: bench-cuda-x.json")
    assert planning.parallel_slowdown(tmp_path, 3)[0] == 3.0  # never measured with 3: no gain assumed


def test_schedule_admits_what_fits_the_budget_and_the_room():
    items = [i for g in paper_groups()[:2] for i in g]
    rows = planning.schedule(items, budget_s=480, jobs=1, known={})
    assert rows[0].fits and rows[0].item.notebook is None  # the bench first
    assert not rows[-1].fits and "longer than one command" in rows[-1].why  # the VQ-VAE at the assumed speed
    fitting = [r for r in rows if r.fits]
    assert max(r.end_s for r in fitting) <= 480 and all(a.end_s <= b.start_s + 1e-9 or a is rows[0]
                                                        for a, b in zip(fitting, fitting[1:]))
    small = planning.schedule(items, budget_s=10**6, jobs=1, known={}, capacity=30 * 2**20)
    assert any("more than a window brings back" in r.why for r in small)  # 42 MiB of VQ-VAE buffers
    assert sum(r.size_bytes for r in small if r.fits) <= 30 * 2**20


def test_gpu_run_checks_before_any_work(tmp_path, capsys):
    if not torch.cuda.is_available():
        assert cli.main(["gpu", "run", "--out", str(tmp_path / "o")]) == 2
        assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "o").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert cli.main(["gpu", "run", "--dry-run", "--out", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert cli.main(["gpu", "run", "--dry-run", "--budget-s", "900", "--out", str(tmp_path / "o2")]) == 2
    assert cli.main(["gpu", "unpack", str(tmp_path)]) == 2
    assert "no window.json" in capsys.readouterr().err


def test_carry_collects_mnist_and_reports_the_size(tmp_path, monkeypatch, capsys):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\0" * 1000)
    monkeypatch.setattr(carry, "WHEELS", ())  # no download in a test
    code = carry.main(["--out", str(tmp_path / "carry"), "--celeba", str(tmp_path / "none"), "--mnist",
                       str(tmp_path / "mnist")])
    text = capsys.readouterr().out
    assert code == 0 and (tmp_path / "carry" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    assert "no CelebA folder" in text and "of the 64 MiB that may travel" in text


# --- the whole window, rehearsed ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_dry_run_end_to_end_then_the_notebook_trains_nothing(tmp_path):
    """gpu run --dry-run (without the packages the GPU machine lacks), unpack, then the notebook from the checkpoint."""
    from acai_repro.runner import run_notebook

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        f"BLOCKED = {set(GPU_MACHINE_LACKS)!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not on the GPU machine')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(repo_root())]), OMP_NUM_THREADS="1")
    out, results = tmp_path / "out", tmp_path / "gpu-results"
    done = subprocess.run([sys.executable, "-m", "acai_repro.cli", "gpu", "run", "--dry-run", "--out", str(out),
                           "--results", str(results), "--budget-s", "280", "--jobs", "2"],
                          env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files)
    manifest = json.loads((out / "window.json").read_text())
    assert manifest["dry_run"] and manifest["bench"]["results"]["graph"]["mode"].startswith("cpu")
    statuses = {e["notebook"]: e["status"] for e in manifest["items"]}
    assert statuses == {notebook: "packed" for notebook in TRAINERS}, statuses
    assert len(manifest["items"]) == sum(len(g) for g in rehearsal_groups()) - 1

    unpacked, records = tmp_path / "results", tmp_path / "benchmarks"
    assert cli.main(["gpu", "unpack", str(out), "--results", str(unpacked), "--benchmarks", str(records)]) == 0
    assert any(records.glob("gpu-window-cpu-*.json")) and any(records.glob("bench-cpu-*-window.json"))
    lines = next(e for e in manifest["items"] if e["notebook"] == "acai_lines")
    run_dir = unpacked / lines["relpath"]
    fingerprint = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.glob("*"))
                   if p.is_file() and p.name != ".lock"}
    assert run_notebook("acai_lines", "smoke", dict(REHEARSAL_LINES), results_root=unpacked) == run_dir.resolve()
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run_dir.glob("*") if p.name in fingerprint}
    assert after == fingerprint  # the checkpoint and the history are untouched: nothing was trained
    executed = (run_dir / "acai_lines.ipynb").read_text()
    assert "finished already, nothing to train" in executed and (run_dir / "metrics.json").is_file()


def test_no_paper_and_no_shared_code_imports_the_gpu_code():
    """The fast path wraps the models from outside: the papers and the shared core never depend on it."""
    import ast

    for folder in ("aae", "acai", "gaia", "maskaae", "common", "data", "runner"):
        for path in (repo_root() / "acai_repro" / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not any(n.startswith("acai_repro.gpu") or n == "gpu" for n in names), path
