"""Execute runs and sweeps with papermill.

``run_notebook`` validates the parameters (before any kernel starts), takes the run's lock, executes the
notebook into a temporary file and moves it into place only when it finished, so the run folder holds either
the previous executed notebook or the new one. A failed execution is kept as ``<name>.failed.ipynb``.
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Mapping, Sequence

from .registry import notebook_path, resolve
from .schema import ParameterError
from .runs import LOCK_ENV, acquire, run_dir_for


class RunFailed(RuntimeError):
    """The notebook raised; the message carries the notebook's own error."""

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # ipykernel's own default


def is_finished(name: str, run_dir: Path) -> bool:
    """A run is finished when its folder holds both the executed notebook and ``metrics.json``."""
    return (run_dir / f"{name}.ipynb").is_file() and (run_dir / "metrics.json").is_file()


def run_notebook(name: str, profile: str = "quick", overrides: Mapping[str, Any] | None = None,
                 results_root: Path | None = None, progress: bool = False, reuse_finished: bool = False) -> Path:
    """Execute one run and return its folder (``results/<profile>/<name>/<run-id>``, or the ``run_dir`` given).

    ``reuse_finished`` returns a finished run's folder without executing it again (the book does this); by default a
    run is re-executed, resuming its training from the last checkpoint.
    """
    import papermill as pm

    from .kernels import UnixSocketKernelManager

    params = resolve(name, profile, overrides)
    run_dir = Path(params["run_dir"] or run_dir_for(name, params, results_root)).resolve()
    if reuse_finished and is_finished(name, run_dir):
        return run_dir
    lock = acquire(run_dir)
    for leftover in run_dir.glob(".*.tmp"):  # temporaries of atomic writes killed mid-way; we hold the lock
        leftover.unlink(missing_ok=True)
    partial = run_dir / f".{name}.partial.ipynb"
    os.environ[LOCK_ENV] = str(run_dir)  # the kernel inherits it: the notebook knows we hold the lock
    # The kernel must draw figures into the notebook whatever the caller's MPLBACKEND (e.g. Agg for headless tests).
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        pm.execute_notebook(
            str(notebook_path(name)), str(partial), parameters={**params, "run_dir": str(run_dir)},
            kernel_name="python3", progress_bar=progress, cwd=str(notebook_path(name).parent),
            kernel_manager_class=UnixSocketKernelManager)  # no TCP port races between parallel runs
    except pm.PapermillExecutionError as err:
        os.replace(partial, run_dir / f"{name}.failed.ipynb")
        raise RunFailed(f"{name} ({profile}) failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                        f"executed notebook kept at {run_dir / f'{name}.failed.ipynb'}") from None
    finally:
        os.environ.pop(LOCK_ENV, None)
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend
        lock.release()
    os.replace(partial, run_dir / f"{name}.ipynb")
    (run_dir / f"{name}.failed.ipynb").unlink(missing_ok=True)  # an earlier failure, now superseded
    return run_dir


Grid = Mapping[str, Sequence[Any]]


def expand_grid(grid: Grid | Sequence[Grid]) -> list[dict[str, Any]]:
    """The cartesian product of a sweep's ``-g NAME v1,v2`` axes, in a stable order.

    A list of grids is their union (each expanded in turn, repeats dropped): e.g. every prior with the AAE, plus the
    Gaussian prior only with the VAE and the plain autoencoder.
    """
    if not isinstance(grid, Mapping):
        combos: list[dict[str, Any]] = []
        for part in grid:
            combos += [c for c in expand_grid(part) if c not in combos]
        return combos
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def sweep(name: str, profile: str, grid: Grid | Sequence[Grid], overrides: Mapping[str, Any] | None = None,
          jobs: int = 1, results_root: Path | None = None,
          reuse_finished: bool = False, cluster: Any = None, gpu: bool = False,
          retries: int | None = None) -> list[tuple[dict[str, Any], Path | Exception]]:
    """Many runs from one call, in a local process pool of ``jobs`` processes, or on a Dask ``cluster``.

    ``cluster``: a ``--cluster`` value (``local:N``, ``tcp://HOST:PORT``, ``slurm:N[,KEY=VALUE...]``), a Dask
    cluster object (``LocalCluster``, dask-jobqueue's ``SLURMCluster``, ...) or a ``distributed.Client``; each run is
    one task (runner/cluster.py). There ``gpu=True`` makes every run ask for the worker resource ``GPU=1`` (runs with
    ``device=cuda`` always do) and a run that raised is submitted again ``retries`` times (default 1).
    The cluster value and every combination are validated before any cluster starts or any run begins.
    """
    spec = None
    if cluster is not None:
        from .cluster import parse_cluster

        spec = parse_cluster(cluster) if isinstance(cluster, str) else cluster
        if jobs != 1:
            raise ParameterError("jobs is the size of the local process pool; on a cluster its workers set how many "
                                 "runs go at once (local:N for N)")
    elif gpu or retries is not None:
        raise ParameterError("gpu and retries apply to a sweep on a Dask cluster: add --cluster (cluster=)")
    combos = [{**(overrides or {}), **combo} for combo in expand_grid(grid)]
    if any(combo.get("run_dir") for combo in combos) and len(combos) > 1:
        raise ParameterError("a sweep's runs each get their own folder: drop run_dir (use --results ROOT to choose "
                             "where the run folders go)")
    for combo in combos:
        resolve(name, profile, combo)
    if spec is not None:
        from .cluster import run_on_cluster

        return run_on_cluster(spec, name, profile, combos, results_root, reuse_finished, gpu=gpu,
                              retries=1 if retries is None else retries)
    outcomes: list[tuple[dict[str, Any], Path | Exception]] = []
    pool = ProcessPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(run_notebook, name, profile, combo, results_root, False, reuse_finished): combo for combo in combos}
        for future in as_completed(futures):
            try:
                outcomes.append((futures[future], future.result()))
            except Exception as err:  # one failed run does not stop the sweep; the caller reports it
                outcomes.append((futures[future], err))
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM): start no further run and end the running ones now (leaving the pool would wait
        # for every queued run). Their kernels exit with them, the OS releases their locks, their checkpoints stay:
        # the same command resumes them.
        workers = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.kill()
        raise
    pool.shutdown()
    order = {id(c): i for i, c in enumerate(combos)}
    return sorted(outcomes, key=lambda o: order[id(o[0])])
