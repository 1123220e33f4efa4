"""One run = one execution of one notebook with one parameter set, writing its own results folder.

``results/<profile>/<notebook>/<run-id>/`` holds the executed notebook, ``figures/``, checkpoints and
``metrics.json``. The run-id is derived from the parameters, so the same parameters find (and resume) the same
run; a lock file stops two processes from writing one run.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from filelock import FileLock, Timeout

from .registry import code_paths, get_schema, profile_values, repo_root
from .schema import ParameterError

METRICS_SCHEMA_VERSION = 1
LOCK_ENV = "ACAI_REPRO_RUN_LOCKED"  # set by the runner, which holds the lock while the kernel runs
RUNNER_ONLY = ("run_dir", "results_root")  # where a run writes / a summary reads: not part of its identity


class RunLockedError(RuntimeError):
    """Another process is writing this run."""


def run_id(notebook: str, params: Mapping[str, Any]) -> str:
    """``<what differs from the quick defaults>-<hash of all parameters>``, stable across processes and machines.

    A parameter marked ``added_later`` is hashed only when it differs from its default, so the runs made before it
    existed keep their ids.
    """
    schema = get_schema(notebook)
    defaults, later = schema.defaults, schema.added_later
    keyed = {k: v for k, v in sorted(params.items())
             if k not in RUNNER_ONLY and k != "profile" and not (k in later and v == later[k])}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:10]
    label = "_".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in keyed.items() if v != defaults[k])
    label = re.sub(r"[^A-Za-z0-9_.=+-]", "", label)[:80] or "defaults"
    return f"{label}-{digest}"


def run_dir_for(notebook: str, params: Mapping[str, Any], results_root: Path | None = None) -> Path:
    root = results_root if results_root is not None else repo_root() / "results"
    return Path(root) / params["profile"] / notebook / run_id(notebook, params)


def lock_for(run_dir: Path) -> FileLock:
    return FileLock(str(run_dir / ".lock"))


def acquire(run_dir: Path) -> FileLock:
    """Take the run's lock at once or raise :class:`RunLockedError` (a killed process releases it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_for(run_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLockedError(f"another process is writing the run {run_dir} (lock {run_dir / '.lock'})") from None
    return lock


def command_for(notebook: str, params: Mapping[str, Any]) -> str:
    """The shortest ``acai-repro run`` command that reproduces ``params``."""
    profile = params["profile"]
    base = {**get_schema(notebook).defaults, **profile_values(notebook, profile)}
    words = ["acai-repro", "run", notebook, "--profile", profile]
    for k, v in params.items():
        if k not in RUNNER_ONLY and k != "profile" and v != base.get(k):
            words += ["-p", k, str(v)]
    return shlex.join(words)


def sweep_commands(notebook: str, profile: str, grid: Any) -> list[str]:
    """The ``acai-repro sweep`` command(s) that make a grid of runs (one command per grid of a list of grids)."""
    grids = [grid] if isinstance(grid, Mapping) else list(grid)
    return [shlex.join(["acai-repro", "sweep", notebook, "--profile", profile]
                       + [w for k, vs in g.items() for w in ("-g", k, ",".join(map(str, vs)))]) for g in grids]


def git_commit(notebook: str | None = None) -> str:
    """HEAD's commit, with ``-dirty`` when tracked files differ from it: only the files ``notebook``'s results depend
    on (:func:`~acai_repro.runner.registry.code_paths`) when a notebook is named, so an edit elsewhere in the tree
    (a book page, another paper) does not mark its runs as made from uncommitted code."""
    paths = ["--", *code_paths(notebook, repo_root())] if notebook else []
    try:
        out = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo_root()), "status", "--porcelain", "--untracked-files=no",
                                *paths], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@dataclass
class Run:
    """What a notebook holds while it runs: validated parameters, its folder, its device."""

    notebook: str
    params: dict[str, Any]
    dir: Path
    device: Any
    started: float = field(default_factory=time.time)
    lock: FileLock | None = None
    commit: str = ""  # the code this run was made by: HEAD (+ "-dirty") when it started

    def __post_init__(self) -> None:
        self.commit = self.commit or git_commit(self.notebook)

    @property
    def figures(self) -> Path:
        path = self.dir / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_figure(self, fig, name: str) -> None:
        """Save a matplotlib figure as ``figures/<name>.png``.

        Returns None, so a cell ending with this call shows the figure, not the path of its file.
        """
        fig.savefig(self.figures / f"{name}.png", dpi=100, bbox_inches="tight")

    def finish(self, metrics: Mapping[str, Any], paper: Mapping[str, Any] | None = None) -> Path:
        """Write ``metrics.json`` (the project's one schema) atomically, release the lock, return its path."""
        from acai_repro.checkpoints import atomic_write_text
        from acai_repro.device import describe_environment

        unknown = set(paper or {}) - set(metrics)
        if unknown:
            raise KeyError(f"paper values must be keyed like the metrics; no metric named {sorted(unknown)}")
        env = describe_environment(self.device)
        record = {
            "schema_version": METRICS_SCHEMA_VERSION,
            "notebook": self.notebook,
            "profile": self.params["profile"],
            "run_id": self.dir.name,
            "parameters": {k: v for k, v in self.params.items() if k not in RUNNER_ONLY},
            "metrics": dict(metrics),
            "paper": dict(paper or {}),
            "git_commit": self.commit,
            "device": f"{env['device']} ({env['device_name']})",
            "torch_version": env["torch"],
            "environment": env,
            "wall_time_s": round(time.time() - self.started, 2),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command_for(self.notebook, self.params),
        }
        path = self.dir / "metrics.json"
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=False, default=_jsonable) + "\n")
        if self.lock is not None:
            self.lock.release()
        return path


def _jsonable(value: Any) -> Any:
    """numpy / torch scalars to plain Python; NaN stays NaN (JSON's NaN literal, read back by json.loads)."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to metrics.json")


_HELD: dict[str, FileLock] = {}  # run folders this process locked in start_run (released by Run.finish)


def start_run(notebook: str, namespace: Mapping[str, Any]) -> Run:
    """The notebook's first cell: validate its parameters, seed, pick the device, make the run folder.

    Run through ``acai-repro run`` the runner has validated, chosen ``run_dir`` and holds the lock; run through
    papermill or Jupyter alone, this derives the same folder and takes the lock itself.
    """
    from acai_repro.device import pick_device, seed_everything

    params = get_schema(notebook).from_namespace(namespace)
    directory = Path(params["run_dir"]) if params["run_dir"] else run_dir_for(notebook, params)
    key = str(directory.resolve())
    if os.environ.get(LOCK_ENV) == key:  # the runner holds the lock
        lock = None
    elif key in _HELD and _HELD[key].is_locked:  # run again in the same kernel after an interrupt: still ours
        lock = _HELD[key]
    else:
        lock = _HELD[key] = acquire(directory)
    seed_everything(params["seed"])
    return Run(notebook, params, directory, pick_device(params["device"]), lock=lock)


def read_metrics(path: Path) -> dict[str, Any]:
    """Read one ``metrics.json`` and check it has the project's schema."""
    record = json.loads(Path(path).read_text())
    needed = {"notebook", "profile", "parameters", "metrics", "paper", "command", "device", "git_commit"}
    if not isinstance(record, dict) or not needed <= set(record):
        raise ValueError(f"{path} is not a metrics.json of this project (needs {sorted(needed)})")
    try:  # a run made before a parameter was added ran at its default
        record["parameters"] = {**get_schema(record["notebook"]).added_later, **record["parameters"]}
    except ParameterError:  # a notebook this checkout does not know: its record as written
        pass
    return record


def find_runs(notebook: str, profile: str, results_root: Path | None = None) -> list[dict[str, Any]]:
    """Every finished run of a notebook in a profile (summary notebooks read these; they never retrain)."""
    root = results_root if results_root is not None else repo_root() / "results"
    return [read_metrics(p) for p in sorted((Path(root) / profile / notebook).glob("*/metrics.json"))]
