"""Sweeps on a Dask cluster: ``acai-repro sweep ... --cluster local:N | tcp://HOST:PORT | slurm:N[,KEY=VALUE...]``.

Each run is one Dask task that calls :func:`~acai_repro.runner.execute.run_notebook` on a worker, so a run on a
cluster is the same run as one made by ``acai-repro run``: same folder, same lock, same resume from checkpoints.
The workers write the run folders themselves: every worker must see the results root at the same path (a shared
filesystem) and have this package installed from the same checkout.

- ``local:N``: a :class:`distributed.LocalCluster` of N worker processes with one thread each, started and closed here.
- ``tcp://HOST:PORT``: a running scheduler (``dask scheduler``; workers ``dask worker tcp://HOST:PORT``).
- ``slurm:N[,KEY=VALUE...]``: N Slurm jobs of one worker each through dask-jobqueue (optional: ``pip install
  "acai-repro[cluster]"``). Anything the keys do not cover: build the cluster in Python and pass it to ``sweep``.

A run that raises is submitted again up to ``retries`` times; a worker that dies (killed, out of memory) is replaced
by its nanny and the scheduler gives its run to a worker again (``distributed.scheduler.allowed-failures`` times).
Either way the run resumes from its last checkpoint. A GPU run (``device=cuda``, or every run with ``gpu=True``)
asks for the worker resource ``GPU=1``, so it only goes to workers started with ``--resources GPU=1``.
"""
from __future__ import annotations

import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .registry import repo_root, resolve
from .runs import run_dir_for
from .schema import ParameterError

GPU = "GPU"  # the worker resource a GPU run asks for (dask worker --resources GPU=1)
SLURM_KEYS = ("queue", "account", "walltime", "memory", "cores", "gpus", "interface")
FORMS = ("local:N (N worker processes on this machine), tcp://HOST:PORT (a running Dask scheduler), "
         f"slurm:N[,KEY=VALUE...] (N Slurm jobs through dask-jobqueue; keys: {', '.join(SLURM_KEYS)})")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CONNECT_TIMEOUT = "10s"


class ClusterError(ParameterError):
    """A ``--cluster`` value that is malformed, needs a package that is missing, or names no reachable scheduler."""


@dataclass(frozen=True)
class ClusterSpec:
    """A parsed ``--cluster`` value: ``kind`` is ``local``, ``scheduler`` or ``slurm``."""

    kind: str
    workers: int = 0
    address: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


def parse_cluster(value: str) -> ClusterSpec:
    """Check a ``--cluster`` value (starts nothing); a bad one raises :class:`ClusterError` naming the forms."""
    text = str(value).strip()
    if m := re.fullmatch(r"local:(\d+)", text):
        if int(m[1]) < 1:
            raise ClusterError(f"--cluster {value!r}: a local cluster needs at least one worker; accepted: {FORMS}")
        return ClusterSpec("local", workers=int(m[1]))
    if m := re.fullmatch(r"tcp://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})/?", text):
        if not 0 < int(m[2]) < 65536:
            raise ClusterError(f"--cluster {value!r}: port {m[2]} is out of range; accepted: {FORMS}")
        return ClusterSpec("scheduler", address=f"tcp://{m[1]}:{int(m[2])}")
    if m := re.fullmatch(r"slurm:(\d+)((?:,[A-Za-z_]+=[^,\s]+)*)", text):
        options = dict(item.split("=", 1) for item in m[2].split(",")[1:])
        unknown = sorted(set(options) - set(SLURM_KEYS))
        if int(m[1]) < 1 or unknown:
            problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "at least one job is needed"
            raise ClusterError(f"--cluster {value!r}: {problem}; accepted: {FORMS}")
        for key in ("cores", "gpus"):
            if key in options and not (options[key].isdigit() and int(options[key]) >= 1):
                raise ClusterError(f"--cluster {value!r}: {key} must be a whole number >= 1; got {options[key]!r}; "
                                  f"accepted: {FORMS}")
        _require_jobqueue()
        import dask

        if "memory" not in options and dask.config.get("jobqueue.slurm.memory", None) is None:
            raise ClusterError(f"--cluster {value!r}: say how much memory a job gets, e.g. slurm:{m[1]},memory=16GB "
                               "(or set jobqueue.slurm.memory in Dask's configuration, ~/.config/dask/jobqueue.yaml)")
        return ClusterSpec("slurm", workers=int(m[1]), options=options)
    raise ClusterError(f"--cluster {value!r} is not one of the accepted forms: {FORMS}")


def _require_jobqueue() -> None:
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise ClusterError("a Slurm cluster needs the package dask-jobqueue, which is not installed: "
                           "pip install \"acai-repro[cluster]\" (or pip install dask-jobqueue)") from None


def _thread_env(threads: int) -> dict[str, str]:
    """Threads of one run: what the caller's environment says, else ``threads`` (a Dask nanny would make it 1)."""
    default = os.environ.get("OMP_NUM_THREADS", str(threads))
    return {var: os.environ.get(var, default) for var in THREAD_VARS}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def start_cluster(spec: ClusterSpec):
    """Start the cluster a ``local:`` or ``slurm:`` spec describes (the caller closes it)."""
    if spec.kind == "local":
        from distributed import LocalCluster

        threads = max(1, (os.cpu_count() or 1) // spec.workers)
        return LocalCluster(n_workers=spec.workers, processes=True, threads_per_worker=1, dashboard_address=":0",
                            resources={GPU: 1} if _cuda_available() else None, env=_thread_env(threads))
    if spec.kind == "slurm":
        cluster = slurm_cluster(spec)
        cluster.scale(jobs=spec.workers)
        return cluster
    raise ValueError(f"a {spec.kind} spec names a running cluster; there is nothing to start")


def slurm_cluster(spec: ClusterSpec):
    """A dask-jobqueue ``SLURMCluster`` whose jobs each hold one worker with one thread (one run at a time); no job
    is submitted yet (``cluster.scale(jobs=spec.workers)`` does that).

    ``cores=K`` gives the job K CPUs (``--cpus-per-task``) and the run K threads; ``gpus=K`` asks Slurm for
    ``--gres=gpu:K`` and makes the worker offer the resource ``GPU=K``. Everything else comes from Dask's
    ``jobqueue.slurm`` configuration.
    """
    _require_jobqueue()
    import dask
    from dask_jobqueue import SLURMCluster

    options = dict(spec.options)
    cores, gpus = int(options.pop("cores", 1)), int(options.pop("gpus", 0))
    env = ", ".join(f"{var!r}: '{cores}'" for var in THREAD_VARS)
    prologue = list(dask.config.get("jobqueue.slurm.job-script-prologue", None) or [])
    prologue.append(f'export DASK_DISTRIBUTED__NANNY__ENVIRON="{{{env}}}"')  # Dask's nanny would set 1 thread
    directives = list(dask.config.get("jobqueue.slurm.job-extra-directives", None) or [])
    worker_args = list(dask.config.get("jobqueue.slurm.worker-extra-args", None) or [])
    if gpus:
        directives.append(f"--gres=gpu:{gpus}")
        worker_args += ["--resources", f"{GPU}={gpus}"]
    cluster = SLURMCluster(cores=1, processes=1, job_cpu=cores, job_script_prologue=prologue,
                           job_extra_directives=directives, worker_extra_args=worker_args, **options)
    return cluster


@contextmanager
def connect(cluster: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for a spec string, a :class:`ClusterSpec`, a cluster object or a client.

    What is started or connected here is closed on the way out (closing a cluster ends its workers and so the runs
    on them); a cluster object or client handed in stays open.
    """
    from distributed import Client

    if isinstance(cluster, Client):
        yield cluster
        return
    spec = parse_cluster(cluster) if isinstance(cluster, str) else cluster
    owned = None
    if isinstance(spec, ClusterSpec) and spec.kind == "scheduler":
        try:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"no Dask scheduler answered at {spec.address} within {CONNECT_TIMEOUT} ({err}); "
                               f"start one with `dask scheduler` and its workers with `dask worker {spec.address}`"
                               ) from None
    else:
        owned = start_cluster(spec) if isinstance(spec, ClusterSpec) else None
        try:
            client = Client(owned if owned is not None else spec)
        except BaseException:
            if owned is not None:
                owned.close()
            raise
    try:
        yield client
    finally:
        client.close()
        if owned is not None:
            owned.close()


def wants_gpu(params: Mapping[str, Any], gpu: bool = False) -> bool:
    """A run asks its worker for a GPU when it is told to run on CUDA, or when the whole sweep asks (``gpu=True``)."""
    return gpu or params.get("device") == "cuda"


def task_resources(params: Mapping[str, Any], gpu: bool = False) -> dict[str, int] | None:
    """The Dask resources one run's task asks for: ``{"GPU": 1}`` for a GPU run, else none."""
    return {GPU: 1} if wants_gpu(params, gpu) else None


def _check_gpu_workers(client: Any) -> None:
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # distributed before 2025: every worker, no argument
        workers = client.scheduler_info()["workers"]
    if workers and not any((w.get("resources") or {}).get(GPU) for w in workers.values()):
        raise ClusterError(f"the runs ask for a GPU (device=cuda or --gpu) but none of the {len(workers)} workers "
                           f"offers the resource {GPU}: start GPU workers with `dask worker ADDRESS --resources "
                           f"{GPU}=1` (slurm:N,gpus=1 does), or drop --gpu")


def _completed(futures: Sequence[Any]) -> Iterable[Any]:
    """The futures in the order they finish (a seam for the tests' Ctrl-C)."""
    from distributed import as_completed

    return as_completed(futures)


def run_on_cluster(cluster: Any, name: str, profile: str, combos: Sequence[Mapping[str, Any]],
                   results_root: Path | None = None, reuse_finished: bool = False, gpu: bool = False,
                   retries: int = 1, task: Callable[..., Path] | None = None
                   ) -> list[tuple[dict[str, Any], Path | Exception]]:
    """Submit one task per (already validated) combination and wait for all; outcomes in the combinations' order.

    ``task`` replaces ``run_notebook`` (same arguments; the tests use it to kill a worker mid-run). Stopped
    (Ctrl-C, SIGTERM), the sweep cancels its tasks and closes what it started, which ends the runs on it.
    """
    from .execute import run_notebook

    task = task or run_notebook
    root = Path(results_root if results_root is not None else repo_root() / "results").resolve()  # same on workers
    runs = []
    for combo in combos:
        params = resolve(name, profile, combo)
        runs.append((dict(combo), run_dir_for(name, params, root), task_resources(params, gpu)))
    outcomes: list[tuple[dict[str, Any], Path | Exception]] = []
    with connect(cluster) as client:
        if any(resources for _, _, resources in runs):
            _check_gpu_workers(client)
        futures: dict[Any, dict[str, Any]] = {}
        try:
            for combo, run_dir, resources in runs:
                key = f"{name}-{run_dir.name}-{uuid.uuid4().hex[:8]}"  # readable on the dashboard, never shared
                future = client.submit(task, name, profile, combo, root, False, reuse_finished, key=key,
                                       retries=retries, resources=resources)
                futures[future] = combo
            for future in _completed(list(futures)):
                try:
                    outcomes.append((futures[future], future.result()))
                except Exception as err:  # one failed run does not stop the sweep; the caller reports it
                    outcomes.append((futures[future], err))
        except BaseException:
            # Stopped: drop every task (queued ones never start). A cluster started here is closed on the way out,
            # which ends its workers, their kernels and so the running runs; their locks are released by the OS and
            # their checkpoints stay, so the same command resumes them.
            if futures:
                client.cancel(list(futures), force=True)
            raise
    order = {id(c): i for i, (c, _, _) in enumerate(runs)}
    return sorted(outcomes, key=lambda o: order[id(o[0])])
