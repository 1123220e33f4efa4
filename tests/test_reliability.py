"""Fault injection (issue 8): interrupted runs, torn files, concurrent runs, determinism and broken data lose nothing.

The end-to-end tests drive the real command, ``python -m acai_repro.cli run acai_lines --profile smoke`` with a
32-step parameter set, in a subprocess: they stop it with SIGTERM or SIGKILL once it has checkpointed, run the same
command again, and compare the resumed run's ``metrics.json``, ``history.json`` and saved strips with those of a
run never interrupted (same seed, CPU). The fault matrix these tests back is book/reliability.md.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from acai_repro import checkpoints
from acai_repro.acai.lines_experiment import train_lines
from acai_repro.acai.params import MODEL_NAMES
from acai_repro.checkpoints import CheckpointStore, atomic_write_text
from acai_repro.cli import main
from acai_repro.data.celeba import load_celeba, read_attributes
from acai_repro.data.lines import test_lines
from acai_repro.data.mnist import load_mnist
from acai_repro.device import seed_everything
from acai_repro.errors import DataError
from acai_repro.runner import RunLockedError, resolve
from acai_repro.runner.runs import Run, acquire, run_dir_for, start_run
from acai_repro.training import Trainer

REPO = Path(__file__).resolve().parents[1]
# 512 images in batches of 16 = 32 steps, a checkpoint every 4 steps, 4 evaluations: ~20-40 s per run on one core.
SMALL = {"images": 512, "batch": 16, "checkpoint_every_images": 64, "eval_every_images": 128, "eval_pairs": 8,
         "n_strip": 1, "depth": 4}
STEPS = SMALL["images"] // SMALL["batch"]
posix_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="signals and /proc: Linux only")


def command(results: Path) -> list[str]:
    words = [sys.executable, "-m", "acai_repro.cli", "run", "acai_lines", "--profile", "smoke", "--results",
             str(results)]
    for name, value in SMALL.items():
        words += ["-p", name, str(value)]
    return words


def environment() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


def run_folder(results: Path) -> Path:
    return run_dir_for("acai_lines", resolve("acai_lines", "smoke", SMALL), results).resolve()


def finish_run(results: Path, log: Path) -> subprocess.CompletedProcess:
    with open(log, "w") as err:
        done = subprocess.run(command(results), cwd=REPO, env=environment(), stdout=subprocess.PIPE, stderr=err,
                              text=True, timeout=900)
    assert done.returncode == 0, log.read_text()[-3000:]
    return done


def outputs(run_dir: Path) -> dict[str, object]:
    """What a finished run leaves that must not depend on interruptions: its metrics, its history (every logged
    loss and evaluation, bit for bit as JSON text, NaN included) and the interpolation strip of the final model."""
    record = json.loads((run_dir / "metrics.json").read_text())
    return {"metrics": json.dumps(record["metrics"]), "history": (run_dir / "history.json").read_text(),
            "strips": (run_dir / "strips.npy").read_bytes()}


def notebook_text(run_dir: Path) -> str:
    """Every stream output of the executed notebook (the Trainer's resume notice and warnings land there)."""
    notebook = json.loads((run_dir / "acai_lines.ipynb").read_text())  # a complete JSON document, never torn
    return "".join("".join(out.get("text", "")) for cell in notebook["cells"] for out in cell.get("outputs", []))


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the Jupyter kernel of a run), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def gone(pid: int, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":  # exited, not yet reaped by its new parent
            return True
        time.sleep(0.1)
    return False


def good_steps(run_dir: Path) -> list[int]:
    """Checkpoint steps whose checksum file was written (a save that completed)."""
    return sorted(int(p.name[5:14]) for p in run_dir.glob("ckpt-*.pt.sha256") if (run_dir / p.name[:-7]).exists())


def start_and_stop(results: Path, sig: signal.Signals, checkpoints_first: int, log: Path,
                   while_running=None) -> tuple[int, str]:
    """Start the run, wait for ``checkpoints_first`` completed checkpoints, send ``sig``; return (exit code, stderr).
    ``while_running(run_dir)`` is called once the run holds its lock, before any checkpoint."""
    run_dir = run_folder(results)
    with open(log, "w") as err:
        proc = subprocess.Popen(command(results), cwd=REPO, env=environment(), stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.time() + 600  # generous: the CPU may be shared
            called = while_running is None
            while len(good_steps(run_dir)) < checkpoints_first:
                assert proc.poll() is None, f"the run ended before it was stopped:\n{log.read_text()[-3000:]}"
                assert time.time() < deadline, "no checkpoint within 600 s"
                if not called and (run_dir / ".lock").exists():  # acquire() creates it: the run holds the lock
                    while_running(run_dir)
                    called = True
                time.sleep(0.1)
            kernels = children(proc.pid)
            assert kernels, "the run should have started its Jupyter kernel"
            proc.send_signal(sig)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # The kernel goes too: shut down by the runner (SIGTERM), or by its own parent poller when the runner is
    # SIGKILLed. An orphaned kernel would keep training into the run folder beside the rerun.
    assert all(gone(pid, timeout=15) for pid in kernels), f"kernel(s) {kernels} outlived the run"
    return proc.returncode, log.read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, object]:
    """A run of the same command never interrupted."""
    results = tmp_path_factory.mktemp("reference")
    finish_run(results, results / "stderr.txt")
    return outputs(run_folder(results))


def assert_resumed_and_equal(run_dir: Path, reference: dict, loaded_step: int) -> None:
    assert f"resuming: loaded step {loaded_step}/{STEPS} from {run_dir / f'ckpt-{loaded_step:09d}.pt'}" in \
        notebook_text(run_dir)
    assert outputs(run_dir) == reference  # metrics, every logged loss and evaluation, the final model's strips
    assert not list(run_dir.glob(".*.partial.ipynb")) and not (run_dir / "acai_lines.failed.ipynb").exists()


@pytest.mark.slow
@posix_only
def test_sigterm_then_rerun_resumes_from_the_last_checkpoint_and_ends_identical(tmp_path, reference):
    results = tmp_path / "results"
    second: list[subprocess.CompletedProcess] = []

    def same_run_again(run_dir):  # fault: two runs of one notebook with the same parameters at once
        second.append(subprocess.run(command(results), cwd=REPO, env=environment(), capture_output=True, text=True,
                                     timeout=600))

    code, err = start_and_stop(results, signal.SIGTERM, 1, tmp_path / "stderr1.txt", while_running=same_run_again)
    assert second[0].returncode == 2, second[0].stderr[-2000:]
    assert "acai-repro: error: another process is writing the run" in second[0].stderr
    assert code == 130 and "interrupted; run the same command again to resume" in err
    run_dir = run_folder(results)
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "acai_lines.ipynb").exists()
    last = good_steps(run_dir)[-1]
    finish_run(results, tmp_path / "stderr2.txt")
    assert_resumed_and_equal(run_dir, reference, last)


@pytest.mark.slow
@posix_only
def test_sigkill_and_a_truncated_checkpoint_then_rerun_falls_back_and_ends_identical(tmp_path, reference):
    results = tmp_path / "results"
    code, _ = start_and_stop(results, signal.SIGKILL, 2, tmp_path / "stderr1.txt")
    assert code == -signal.SIGKILL
    run_dir = run_folder(results)
    assert (run_dir / ".lock").exists()  # left behind by the killed process; the OS has released its flock
    *_, previous, newest = good_steps(run_dir)
    newest_path = run_dir / f"ckpt-{newest:09d}.pt"
    newest_path.write_bytes(newest_path.read_bytes()[: newest_path.stat().st_size // 2])  # a torn checkpoint
    finish_run(results, tmp_path / "stderr2.txt")
    text = notebook_text(run_dir)
    assert f"skipping checkpoint {newest_path}: sha256 mismatch" in text and "trying the previous one" in text
    assert_resumed_and_equal(run_dir, reference, previous)


SWEEP_WITH_SLOW_RUNS = """
import sys, time
from pathlib import Path
from acai_repro import cli
from acai_repro.runner import execute

def slow_run(name, profile, overrides, results_root, progress, reuse_finished):  # stands in for a notebook run
    (Path(sys.argv[1]) / f"started-{overrides['seed']}").touch()
    time.sleep(60)
    return Path(sys.argv[1])

execute.run_notebook = slow_run  # the pool's workers are forked from here: they call it too
sys.exit(cli.main(["sweep", "lines_benchmark", "--profile", "smoke", "-g", "seed", "0,1,2,3,4,5", "--jobs", "2"]))
"""


@posix_only
def test_sigterm_stops_a_sweep_without_starting_its_queued_runs(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SWEEP_WITH_SLOW_RUNS, str(tmp_path)], cwd=REPO, env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while len(list(tmp_path.glob("started-*"))) < 2:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.1)
        workers = children(proc.pid)
        stopped = time.time()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            for pid in children(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "run the same command again to resume" in err
    assert time.time() - stopped < 20  # not after the 60 s runs, let alone all six
    assert sorted(p.name for p in tmp_path.glob("started-*")) == ["started-0", "started-1"]  # no queued run began
    assert all(gone(pid, timeout=5) for pid in workers)


# --- concurrent runs without a kernel -----------------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def test_a_locked_run_is_refused_before_it_touches_any_file(tmp_path, capsys):
    run_dir = run_folder(tmp_path)
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text('{"metrics": {"smoothness": 0.1}}')
    CheckpointStore(run_dir).save(4, {"weights": torch.ones(3)})
    lock = acquire(run_dir)  # the first run, writing
    try:
        before = snapshot(run_dir)
        argv = ["run", "acai_lines", "--profile", "smoke", "--results", str(tmp_path)]
        for name, value in SMALL.items():
            argv += ["-p", name, str(value)]
        assert main(argv) == 2
        assert f"another process is writing the run {run_dir}" in capsys.readouterr().err
        # the same notebook opened in Jupyter (no runner) takes the lock in start_run and is refused too
        namespace = {**resolve("acai_lines", "smoke", SMALL), "run_dir": str(run_dir)}
        with pytest.raises(RunLockedError):
            start_run("acai_lines", namespace)
        assert snapshot(run_dir) == before
    finally:
        lock.release()
    assert CheckpointStore(run_dir).load_latest()[0] == 4


def test_a_notebook_interrupted_in_jupyter_runs_again_in_the_same_kernel(tmp_path):
    namespace = {**resolve("acai_lines", "smoke", SMALL), "run_dir": str(tmp_path)}
    start_run("acai_lines", namespace)  # ... then the user interrupts the training cell and runs all cells again
    run = start_run("acai_lines", namespace)  # the kernel still holds the lock: it is its own, not another writer's
    refused = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                              "from acai_repro.runner.runs import acquire; acquire(Path(sys.argv[1]))", str(tmp_path)],
                             capture_output=True, text=True, cwd=REPO)
    assert refused.returncode == 1 and "RunLockedError: another process is writing the run" in refused.stderr
    run.finish({"smoothness": 0.5})  # releases it
    acquire(tmp_path).release()


# --- torn files ---------------------------------------------------------------------------------------------------
class HalfWritten:
    """The file object of a write that stops half-way through (disk full; a kill looks the same on disk)."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise OSError(28, "No space left on device")


def disk_full_half_way(monkeypatch) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr(checkpoints.os, "fdopen", lambda *a, **k: HalfWritten(real_fdopen(*a, **k)))


def test_disk_full_while_saving_a_checkpoint_keeps_the_previous_ones(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save(4, {"weights": torch.full((3,), 4.0)})
    disk_full_half_way(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        store.save(8, {"weights": torch.full((3,), 8.0)})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000004.pt", "ckpt-000000004.pt.sha256"]
    step, payload = store.load_latest()
    assert step == 4 and torch.equal(payload["weights"], torch.full((3,), 4.0))


def test_disk_full_while_writing_metrics_json_keeps_the_old_file(tmp_path, monkeypatch):
    params = {**resolve("acai_lines", "smoke", SMALL), "run_dir": str(tmp_path)}
    run = Run("acai_lines", params, tmp_path, torch.device("cpu"))
    run.finish({"smoothness": 0.5})
    old = (tmp_path / "metrics.json").read_text()
    disk_full_half_way(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        run.finish({"smoothness": 0.25})
    monkeypatch.undo()
    assert (tmp_path / "metrics.json").read_text() == old  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # and no half-written temporary
    run.finish({"smoothness": 0.25})
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == {"smoothness": 0.25}


@posix_only
def test_sigkill_during_atomic_writes_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "metrics.json"
    versions = ['{"version": "A", "pad": "' + "a" * 4_000_000 + '"}', '{"version": "B", "pad": "' + "b" * 4_000_000 + '"}']
    atomic_write_text(target, versions[0])
    # the writer needs no torch: a stub module keeps the child's start short
    writer = ("import sys, types; sys.modules['torch'] = types.ModuleType('torch')\n"
              "from acai_repro.checkpoints import atomic_write_text\n"
              "texts = [open(sys.argv[2]).read(), open(sys.argv[3]).read()]\nprint('ready', flush=True)\n"
              "i = 1\nwhile True:\n    atomic_write_text(sys.argv[1], texts[i % 2]); i += 1\n")
    for name, text in zip("AB", versions):
        (tmp_path / name).write_text(text)
    for delay in (0.05, 0.3):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(target), str(tmp_path / "A"), str(tmp_path / "B")],
                                stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay + random.random() * 0.02)
        proc.kill()
        proc.wait()
        assert target.read_text() in versions  # never torn
    # temporaries of killed writes may remain (dot-named, beside the target); the target is always whole


# --- divergence and checkpoints that are all damaged ----------------------------------------------------------------
def tiny_trainer(run_dir: Path, total_steps: int) -> tuple[Trainer, callable]:
    seed_everything(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.Generator().manual_seed(0)

    def step_fn(step):
        optimizer.zero_grad()
        loss = model(torch.randn(8, 3, generator=data)).pow(2).mean()
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    trainer = Trainer({"model": model, "opt": optimizer, "data": data}, total_steps, run_dir, checkpoint_every=2,
                      log_every=1, progress=False, desc="tiny")
    return trainer, step_fn


DIVERGING = """
import torch
from acai_repro.runner import start_run
from acai_repro.training import Trainer

run = start_run("acai_lines", globals())
model = torch.nn.Linear(3, 1)

def step_fn(step):  # a loss that turns infinite at step 5
    loss = model(torch.ones(1, 3)).pow(2).mean().detach()
    return {"loss_ae": loss if step < 5 else loss / 0.0}

Trainer({"model": model}, 8, run.dir, checkpoint_every=2, log_every=1, desc=model_name).fit(step_fn)
"""


@pytest.mark.slow
def test_a_diverging_notebook_fails_naming_step_and_loss_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch,
                                                                                            capsys):
    import nbformat

    from acai_repro.runner import execute

    parameters = nbformat.v4.new_code_cell(
        "\n".join(f"{k} = {v!r}" for k, v in resolve("acai_lines").items()) + "\nmodel_name = 'diverging'")
    parameters.metadata["tags"] = ["parameters"]
    notebook = tmp_path / "diverging.ipynb"
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
              "language_info": {"name": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(DIVERGING)],
                                            metadata=kernel), notebook)
    monkeypatch.setattr(execute, "notebook_path", lambda name: notebook)  # the acai_lines parameters, this code
    argv = ["run", "acai_lines", "--profile", "smoke", "--results", str(tmp_path / "results")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    run_dir = run_dir_for("acai_lines", resolve("acai_lines", "smoke"), tmp_path / "results").resolve()
    assert "acai-repro: run failed: acai_lines (smoke) failed in cell 3: DivergenceError: diverging: loss 'loss_ae' = " \
           "inf at step 5 is not finite (training diverged)." in err
    assert f"The last good checkpoint, step 4 at {run_dir / 'ckpt-000000004.pt'}, was kept" in err
    assert f"executed notebook kept at {run_dir / 'acai_lines.failed.ipynb'}" in err
    assert "Traceback" not in err  # the notebook's error, not papermill's
    assert CheckpointStore(run_dir).steps() == [2, 4] and CheckpointStore(run_dir).load_latest()[0] == 4
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "acai_lines.ipynb").exists()


def test_all_checkpoints_damaged_starts_afresh_and_says_so(tmp_path, capsys):
    trainer, step_fn = tiny_trainer(tmp_path, 4)
    trainer.fit(step_fn)
    for step in CheckpointStore(tmp_path).steps():
        path = tmp_path / f"ckpt-{step:09d}.pt"
        path.write_bytes(path.read_bytes()[:100])
    trainer, step_fn = tiny_trainer(tmp_path, 6)
    with pytest.warns(UserWarning, match="sha256 mismatch") as caught:
        history = trainer.fit(step_fn)
    assert len(caught) == 2  # each damaged checkpoint is named
    assert f"tiny: no usable checkpoint in {tmp_path}: starting afresh from step 0" in capsys.readouterr().err
    assert [row["step"] for row in history.losses] == [1, 2, 3, 4, 5, 6]


# --- determinism --------------------------------------------------------------------------------------------------
def train_lines_model(name: str, seed: int) -> tuple[dict, list, list]:
    """A few steps of one Table 1 model, as the notebook trains it: (weights, losses, evaluations)."""
    run = SimpleNamespace(params={"model": name, "seed": seed, "images": 8, "batch": 4, "lr": 1e-3, "depth": 2,
                                  "eval_every_images": 8, "checkpoint_every_images": 8},
                          device=torch.device("cpu"), dir=None)
    trained = train_lines(run, *test_lines(8), progress=False)
    return trained.model.state_dict(), trained.history.losses, json.dumps(trained.history.evals)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_twice_gives_identical_training_on_cpu(name):
    weights, losses, evals = train_lines_model(name, seed=3)
    weights_again, losses_again, evals_again = train_lines_model(name, seed=3)
    assert losses == losses_again and evals == evals_again
    assert weights.keys() == weights_again.keys()
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    _, losses_other, _ = train_lines_model(name, seed=4)
    assert losses_other != losses  # the seed does matter: the test is not vacuous


# --- bad data not covered by test_mnist.py / test_celeba.py ---------------------------------------------------------
def test_mnist_file_that_is_not_gzip_at_all_is_named(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"<html>mirror error page</html>")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    with pytest.raises(DataError, match=str(tmp_path / "t10k-images-idx3-ubyte.gz")):
        load_mnist("test", root=tmp_path)


ATTRIBUTE_FILE = "2\n Smiling Male Young\n000001.jpg  1 -1  1\n000002.jpg -1  1  1\n"


@pytest.mark.parametrize("text, match", [
    (ATTRIBUTE_FILE.replace(" Young", ""), r"list_attr_celeba.txt, line 3: expected 2 values"),  # a missing column
    (ATTRIBUTE_FILE.replace("-1  1  1", "-1  1"), r"list_attr_celeba.txt, line 4: expected 3 values"),
    ("\x89PNG\r\n\x1a\n\x00\x00", r"list_attr_celeba.txt: line 1 must be the number of rows"),  # binary garbage
    ("", r"list_attr_celeba.txt: empty attribute file"),
])
def test_attribute_files_with_missing_columns_name_the_file_and_line(tmp_path, text, match):
    (tmp_path / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(DataError, match=match):
        read_attributes(tmp_path / "list_attr_celeba.txt")


def test_celeba_images_named_unlike_the_attribute_rows_are_named(tmp_path):
    from PIL import Image

    (tmp_path / "img_align_celeba").mkdir()
    (tmp_path / "list_attr_celeba.txt").write_text(ATTRIBUTE_FILE)
    for name in ("1.jpg", "2.jpg"):  # renamed files: no row matches
        Image.new("RGB", (20, 24)).save(tmp_path / "img_align_celeba" / name)
    with pytest.raises(DataError, match=r"lists no row for 2 image\(s\).*1.jpg"):
        load_celeba(tmp_path, size=8)
