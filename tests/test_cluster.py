"""Sweeps on Dask (runner/cluster.py): the --cluster values, the default process pool, GPU resources, and on a real
LocalCluster of two worker processes: a smoke sweep, a worker killed mid-run (replaced, its run retried and ending
as it would have uninterrupted), and Ctrl-C (tasks cancelled, the cluster and its kernels gone)."""
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from acai_repro.cli import main
from acai_repro.runner import cluster as cluster_mod
from acai_repro.runner import execute, resolve
from acai_repro.runner.cluster import ClusterSpec, parse_cluster, run_on_cluster, task_resources
from acai_repro.runner.execute import run_notebook, sweep
from acai_repro.runner.runs import acquire, read_metrics

NOTEBOOK = "lines_benchmark"  # the cheapest notebook: no training, about 15 s at the smoke profile


def _no_cluster(*args, **kwargs):
    raise AssertionError("a cluster was started")


@pytest.mark.parametrize("value, message", [
    ("local:0", "at least one worker"),
    ("local:two", "is not one of the accepted forms"),
    ("local", "is not one of the accepted forms"),
    ("tcp://scheduler", "is not one of the accepted forms"),
    ("tcp://scheduler:99999", "port 99999 is out of range"),
    ("http://scheduler:8786", "is not one of the accepted forms"),
    ("slurm:2,colour=red", "unknown key(s) colour"),
    ("slurm:2,gpus=one,memory=4GB", "gpus must be a whole number"),
    ("slurm:2", "say how much memory a job gets"),
])
def test_a_bad_cluster_value_exits_2_naming_the_forms_before_anything_starts(value, message, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.setattr(cluster_mod, "start_cluster", _no_cluster)
    monkeypatch.setattr(cluster_mod, "connect", _no_cluster)
    import dask

    pytest.importorskip("dask_jobqueue")  # (the test extra has it) its configuration first, then the override below
    start = time.time()
    with dask.config.set({"jobqueue.slurm.memory": None}):  # whatever ~/.config/dask/jobqueue.yaml says
        code = main(["sweep", NOTEBOOK, "--profile", "smoke", "-g", "seed", "0,1", "--cluster", value,
                     "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and time.time() - start < 10, err
    assert message in err
    if value != "slurm:2":  # that one names the missing key instead
        assert "accepted" in err and all(form in err for form in ("local:N", "tcp://HOST:PORT", "slurm:N[,KEY="))
    assert not (tmp_path / "results").exists()


def test_a_missing_dask_jobqueue_is_named_with_its_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import dask_jobqueue now raises ImportError
    monkeypatch.setattr(cluster_mod, "start_cluster", _no_cluster)
    code = main(["sweep", NOTEBOOK, "--profile", "smoke", "-g", "seed", "0,1", "--cluster", "slurm:2,memory=4GB",
                 "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "needs the package dask-jobqueue" in err and 'pip install "acai-repro[cluster]"' in err


def test_cluster_options_are_checked_with_the_parameters_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cluster_mod, "start_cluster", _no_cluster)
    monkeypatch.setattr(cluster_mod, "connect", _no_cluster)
    argv = ["sweep", NOTEBOOK, "--profile", "smoke", "-g", "seed", "0,1", "--results", str(tmp_path)]
    assert main(argv + ["--cluster", "local:2", "--jobs", "2"]) == 2
    assert "--jobs sizes the local process pool" in capsys.readouterr().err
    assert main(argv + ["--gpu"]) == 2  # without --cluster there is no worker to ask
    assert "add --cluster" in capsys.readouterr().err
    assert main(argv + ["--cluster", "local:2", "-g", "steps", "1"]) == 2  # a bad combination: nothing starts
    assert "parameter 'steps' must be int in [3, 64]; got 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_local_process_pool_stays_the_default(tmp_path, monkeypatch):
    """No --cluster: the runs go to the process pool (here a thread pool, so that a fake run can stand in)."""
    pools, ran = [], []

    def pool(max_workers):
        pools.append(max_workers)
        return ThreadPoolExecutor(max_workers)

    def fake_run(name, profile, overrides, results_root, progress, reuse_finished):
        ran.append(overrides["seed"])
        return Path(results_root) / str(overrides["seed"])

    monkeypatch.setattr(execute, "ProcessPoolExecutor", pool)
    monkeypatch.setattr(execute, "run_notebook", fake_run)
    monkeypatch.setattr(cluster_mod, "connect", _no_cluster)
    assert main(["sweep", NOTEBOOK, "--profile", "smoke", "-g", "seed", "0,1", "--results", str(tmp_path)]) == 0
    assert pools == [1] and sorted(ran) == [0, 1]
    outcomes = sweep(NOTEBOOK, "smoke", {"seed": [0, 1, 2]}, jobs=2, results_root=tmp_path)
    assert pools == [1, 2] and [o for _, o in outcomes] == [tmp_path / "0", tmp_path / "1", tmp_path / "2"]


def test_gpu_runs_ask_for_the_gpu_resource():
    assert task_resources(resolve(NOTEBOOK, "smoke", {"device": "cuda"})) == {"GPU": 1}
    assert task_resources(resolve(NOTEBOOK, "smoke", {"device": "auto"})) is None
    assert task_resources(resolve(NOTEBOOK, "smoke", {"device": "cpu"})) is None
    assert task_resources(resolve(NOTEBOOK, "smoke"), gpu=True) == {"GPU": 1}


def test_a_slurm_value_builds_one_single_threaded_worker_per_job():
    pytest.importorskip("dask_jobqueue")
    spec = parse_cluster("slurm:3,queue=gpu,account=lab,memory=16GB,walltime=02:00:00,cores=4,gpus=1")
    assert spec == ClusterSpec("slurm", 3, options={"queue": "gpu", "account": "lab", "memory": "16GB",
                                                    "walltime": "02:00:00", "cores": "4", "gpus": "1"})
    cluster = cluster_mod.slurm_cluster(spec)  # starts a scheduler here, submits no job
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p gpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=4", "#SBATCH -t 02:00:00",
                 "#SBATCH --gres=gpu:1", "--nthreads 1", "--resources GPU=1", "'OMP_NUM_THREADS': '4'"):
        assert line in script, script


# ------------------------------------------------------------------------------------------------ a real cluster

@pytest.fixture(scope="module")
def local_cluster():
    import cloudpickle
    from distributed import LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    yield cluster
    cluster.close()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def uninterrupted(local_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    return root, sweep(NOTEBOOK, "smoke", {"seed": [0, 1]}, cluster=local_cluster, results_root=root)


def _metrics(run_dir: Path) -> str:
    return json.dumps(read_metrics(run_dir / "metrics.json")["metrics"], sort_keys=True)  # NaN == NaN as text


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by its new parent
    except psutil.NoSuchProcess:
        return True


def _wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.xdist_group("cluster")
def test_a_smoke_sweep_on_a_local_cluster_writes_both_runs(uninterrupted, local_cluster):
    root, outcomes = uninterrupted
    assert [c for c, _ in outcomes] == [{"seed": 0}, {"seed": 1}]
    dirs = [o for _, o in outcomes]
    assert all(isinstance(d, Path) for d in dirs), dirs
    for seed, run in zip((0, 1), dirs):
        assert run.parent == root / "smoke" / NOTEBOOK
        record = read_metrics(run / "metrics.json")
        assert record["parameters"]["seed"] == seed and record["metrics"]
        assert (run / f"{NOTEBOOK}.ipynb").is_file() and not list(run.glob(".*.partial.ipynb"))
    assert local_cluster.status.name == "running"  # a cluster handed in stays open


def _die_once_mid_run(name, profile, overrides, results_root, progress=False, reuse_finished=False):
    """``run_notebook``, except that the first attempt SIGKILLs its own worker once the kernel is mid-notebook."""
    import psutil

    marker = Path(results_root) / "killed.json"
    if not marker.exists():
        def kill_mid_run():
            me = psutil.Process()
            while not (list(Path(results_root).glob(f"{profile}/{name}/*/figures/*.png")) and me.children()):
                time.sleep(0.05)
            marker.write_text(json.dumps({"worker": me.pid, "kernels": [k.pid for k in me.children()]}))
            os.kill(me.pid, signal.SIGKILL)

        threading.Thread(target=kill_mid_run, daemon=True).start()
    return run_notebook(name, profile, overrides, results_root, progress, reuse_finished)


@pytest.mark.slow
@pytest.mark.xdist_group("cluster")
def test_a_worker_killed_mid_run_is_replaced_and_the_run_retried_to_the_same_end(local_cluster, uninterrupted,
                                                                                  tmp_path):
    from distributed import Client

    outcomes = run_on_cluster(local_cluster, NOTEBOOK, "smoke", [{"seed": 0}], tmp_path, task=_die_once_mid_run)
    killed = json.loads((tmp_path / "killed.json").read_text())  # the first attempt did die
    (_, run), = outcomes
    assert isinstance(run, Path), run
    assert _metrics(run) == _metrics(uninterrupted[1][0][1])  # as if it had never been interrupted
    assert (run / f"{NOTEBOOK}.ipynb").is_file() and not list(run.glob(".*.partial.ipynb"))
    assert _gone(killed["worker"]) and killed["kernels"]
    _wait_until(lambda: all(_gone(pid) for pid in killed["kernels"]), 10, "the orphaned kernel to exit")
    with Client(local_cluster) as client:  # the nanny replaced the dead worker
        _wait_until(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "the worker to be replaced")
    acquire(run).release()  # nothing holds the run's lock


@pytest.mark.slow
@pytest.mark.xdist_group("cluster")
def test_ctrl_c_cancels_the_sweep_and_closes_the_cluster_it_started(tmp_path, monkeypatch, capsys):
    """``--cluster local:2`` with three runs: Ctrl-C once two kernels are mid-notebook. The CLI exits 130, the
    queued run never starts, the cluster, its workers and their kernels are gone and the runs' locks are free."""
    import psutil

    started, seen = [], {}

    def start(spec):
        started.append(real_start(spec))
        return started[-1]

    def interrupt_mid_run(futures):
        runs = tmp_path / "smoke" / NOTEBOOK
        workers = list(futures[0].client.run(os.getpid).values())
        _wait_until(lambda: len(list(runs.glob("*/figures/*.png"))) >= 2, 120, "two runs to be mid-notebook")
        seen["workers"] = workers
        seen["kernels"] = [k.pid for w in workers for k in psutil.Process(w).children()]
        raise KeyboardInterrupt

    real_start = cluster_mod.start_cluster
    monkeypatch.setattr(cluster_mod, "start_cluster", start)
    monkeypatch.setattr(cluster_mod, "_completed", interrupt_mid_run)
    t0 = time.time()
    code = main(["sweep", NOTEBOOK, "--profile", "smoke", "-g", "seed", "0,1,2", "--cluster", "local:2",
                 "--results", str(tmp_path)])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert started and started[0].status.name == "closed" and time.time() - t0 < 120
    assert len(seen["kernels"]) == 2
    _wait_until(lambda: all(map(_gone, seen["workers"] + seen["kernels"])), 10, "workers and kernels to exit")
    runs = sorted((tmp_path / "smoke" / NOTEBOOK).iterdir())
    assert len(runs) == 2  # the third run never started
    for run in runs:
        # Closing the cluster ends the two running kernels; a run within a second or two of its end (this notebook
        # saves its first figure about 3 s before its last cell on a fast CPU) may finish during the shutdown's
        # grace period. Either way nothing is half-written: a record only beside its executed notebook.
        if (run / "metrics.json").exists():
            assert (run / f"{NOTEBOOK}.ipynb").is_file() and read_metrics(run / "metrics.json")["metrics"]
        acquire(run).release()
