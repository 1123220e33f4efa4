"""``acai-repro bench``: images per second of ACAI training on the lines, the project's paths against a plain loop.

All paths train the same model (official lines nets, batch B, Adam 1e-4):

* ``plain``: the reference a PyTorch user would write. Each line is drawn on the CPU by the official scalar
  renderer (:func:`~acai_repro.data.lines.draw_line`, one sample at a time in Python) inside a ``DataLoader``; each
  batch is moved to the device and trained with the eager fp32 ``ACAI.train_step`` (one step per player).
* ``project``: the project's chapter path: :func:`~acai_repro.training.train` (losses stay on the device, one
  sync per log interval), lines rendered for the whole batch on the device (``LinesSampler``), ``ACAI.train_step``.
* ``graph``: the project's path with the model's whole step captured once as a CUDA graph and replayed
  (:mod:`acai_repro.gpu.graphs`); ``graph_tf32`` the same with TF32 matrix products and convolutions, ``graph_bf16``
  under bfloat16 autocast. Without CUDA the graph path runs its static-buffer step eagerly (its ``mode`` says so)
  and the TF32 / bf16 variants are reported unavailable.
* ``parallel``: ``--runs`` N processes at once on the one device, each the ``graph`` path on its own model and
  seed, started together: images/s per run (median) and in total.

``--models`` times the ``graph`` path of other Table 1 models too (one repeat each), the speeds ``acai-repro gpu
plan`` estimates from. Warm-up steps (DataLoader start-up, graph capture) are not timed; CUDA is synchronised before
each clock reading. ``--repeats`` interleaves the in-process paths (plain, project, graph, ..., plain, ...) so that
a machine shared with other work slows them alike; the figures are medians. The JSON records the device, versions,
threads, options and the TF32 flags in effect.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PATHS = ("plain", "project", "graph", "graph_tf32", "graph_bf16", "parallel")  # torch is imported only to run
DEFAULT_PATHS = ("plain", "project", "graph", "parallel")
GRAPH_PRECISION = {"graph": "default", "graph_tf32": "tf32", "graph_bf16": "bf16"}


def _paths(device, batch: int, seed: int, workers: int, depth: int,
           model_name: str = "acai") -> dict[str, Callable[[], Callable[[int], None]]]:
    """Per path, a builder of ``run(steps)``, which trains that many batches of a freshly seeded model (ACAI); the
    graph paths' ``run`` has the FastStep as ``run.step``."""
    import math

    import numpy as np
    import torch
    from torch.utils.data import DataLoader, IterableDataset, get_worker_info

    from acai_repro.acai.models import build_model
    from acai_repro.data.lines import N_CLASSES, LinesSampler, angle_labels, draw_line
    from acai_repro.device import seed_everything
    from acai_repro.training import train

    class OfficialLines(IterableDataset):
        """Endless lines drawn one at a time by the official scalar renderer: (1, 32, 32) float32, int label."""

        def __iter__(self):
            worker = get_worker_info()
            rng = np.random.default_rng([seed, 0 if worker is None else worker.id])
            while True:
                angle = rng.uniform(0.0, 2 * math.pi)
                yield torch.from_numpy(draw_line(angle)).float().unsqueeze(0), int(angle_labels(np.array([angle]))[0])

    def acai():
        seed_everything(seed)
        return build_model(model_name, depth=depth, n_classes=N_CLASSES).to(device)

    def plain():
        model = acai()
        loader = iter(DataLoader(OfficialLines(), batch_size=batch, num_workers=workers,
                                 pin_memory=device.type == "cuda"))

        def run(steps: int) -> None:
            for _ in range(steps):
                x, label = next(loader)
                model.train_step(x.to(device), label.to(device))

        return run

    def project():
        model, sampler = acai(), LinesSampler(batch, device, seed=seed)

        def run(steps: int) -> None:
            train(model, sampler, steps=steps, run_dir=None, checkpoint_every=steps, log_every=min(100, steps),
                  progress=False)

        return run

    def graph(precision: str):
        from acai_repro.gpu.graphs import accelerate, tf32_mode

        def build():
            model, sampler = acai(), LinesSampler(batch, device, seed=seed)
            step = accelerate(model, precision=precision)

            def run(steps: int) -> None:
                with tf32_mode(precision):
                    train(model, sampler, steps=steps, run_dir=None, checkpoint_every=steps,
                          log_every=min(100, steps), progress=False)

            run.step = step
            return run

        return build

    return {"plain": plain, "project": project, **{name: graph(p) for name, p in GRAPH_PRECISION.items()}}


def _warmup(path: str, warmup: int) -> int:
    """Untimed steps: for a graph path at least the fast path's eager steps, its capture and one replay."""
    from acai_repro.gpu.graphs import WARMUP

    return max(warmup, WARMUP + 2) if path in GRAPH_PRECISION else warmup


def _parallel_worker(rank: int, device: str, batch: int, seed: int, depth: int, warmup: int, steps: int,
                     repeats: int, threads: int | None, barrier, queue) -> None:
    """One of the ``parallel`` path's processes: the graph path on its own model and seed, timed in ``repeats``
    segments that all processes start together (a barrier)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    try:
        dev = torch.device(device)
        run = _paths(dev, batch, seed + rank, 0, depth)["graph"]()
        run(_warmup("graph", warmup))
        _sync(dev)
        times = []
        for _ in range(repeats):
            barrier.wait(timeout=600)
            t0 = time.monotonic()
            run(steps)
            _sync(dev)
            times.append((t0, time.monotonic()))
        queue.put((rank, times, run.step.mode, None))
    except BaseException as error:  # the parent reports it; the others stop at the broken barrier
        barrier.abort()
        queue.put((rank, [], "", f"{type(error).__name__}: {error}"))


def _time_parallel(device, runs: int, batch: int, seed: int, depth: int, warmup: int, steps: int, repeats: int,
                   threads: int | None) -> dict:
    """``runs`` processes at once (spawned: CUDA needs it); per repeat the total rate over the union of their
    intervals and each run's own rate."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(runs), ctx.Queue()
    processes = [ctx.Process(target=_parallel_worker, args=(rank, str(device), batch, seed, depth, warmup, steps,
                                                            repeats, threads, barrier, queue), daemon=True)
                 for rank in range(runs)]
    t0 = time.perf_counter()
    for process in processes:
        process.start()
    try:
        outcomes = [queue.get(timeout=900) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [error for _, _, _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"parallel path: {errors[0]}")
    images = steps * batch
    totals, per_run = [], []
    for r in range(repeats):
        spans = [times[r] for _, times, _, _ in outcomes]
        totals.append(runs * images / (max(end for _, end in spans) - min(start for start, _ in spans)))
        per_run.append(statistics.median(images / (end - start) for start, end in spans))
    return {"models": runs, "images_per_s_per_model": statistics.median(per_run),
            "images_per_s": statistics.median(totals), "runs_images_per_s_per_model": per_run,
            "runs_images_per_s": totals, "seconds": [runs * images / t for t in totals],
            "warmup_seconds": time.perf_counter() - t0, "mode": outcomes[0][2]}


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_bench(*, device: str = "auto", steps: int = 20, batch: int = 64, warmup: int = 3, repeats: int = 3,
              paths: tuple[str, ...] = DEFAULT_PATHS, workers: int = 0, seed: int = 0, depth: int = 16,
              runs: int = 4, models: tuple[str, ...] = (), log: Callable[[str], None] = print) -> dict:
    """Time every path in ``paths``; returns the JSON-ready report (figures are medians over ``repeats``).

    A path this device cannot run (TF32 / bf16 without CUDA) is listed under ``unavailable`` with the reason;
    ``models`` adds a one-repeat timing of the graph path of each named Table 1 model under ``models``.
    """
    import torch

    from acai_repro.acai.models import MODEL_NAMES
    from acai_repro.device import pick_device
    from acai_repro.gpu.graphs import precision_flags

    for name, value in {"steps": steps, "batch": batch, "repeats": repeats, "depth": depth, "runs": runs}.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"bench: {name} must be a positive integer, got {value!r}")
    if warmup < 0 or workers < 0:
        raise ValueError("bench: warmup and workers must be >= 0")
    unknown = set(paths) - set(PATHS)
    if unknown or not paths:
        raise ValueError(f"bench: unknown path(s) {sorted(unknown)}; choose from {', '.join(PATHS)}")
    if set(models) - set(MODEL_NAMES):
        raise ValueError(f"bench: unknown model(s) {sorted(set(models) - set(MODEL_NAMES))}; choose from "
                         f"{', '.join(MODEL_NAMES)}")
    dev = pick_device(device)
    unavailable = {name: "needs CUDA (TF32 and bf16 autocast are GPU options)" for name in ("graph_tf32", "graph_bf16")
                   if name in paths and dev.type != "cuda"}
    in_process = [name for name in paths if name != "parallel" and name not in unavailable]
    builders = _paths(dev, batch, seed, workers, depth)
    runners = {}
    for name in in_process:
        run, count = builders[name](), 1
        t0 = time.perf_counter()
        if warmup or name in GRAPH_PRECISION:
            run(_warmup(name, warmup))  # graph capture, DataLoader start-up: not timed
        _sync(dev)
        runners[name] = (run, count, time.perf_counter() - t0)
    seconds: dict[str, list[float]] = {name: [] for name in in_process}
    for r in range(repeats if in_process else 0):
        for name in in_process:
            run = runners[name][0]
            _sync(dev)
            t0 = time.perf_counter()
            run(steps)
            _sync(dev)
            seconds[name].append(time.perf_counter() - t0)
        log(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{n} {steps * batch / seconds[n][-1]:.1f} img/s/model"
                                                      for n in in_process))
    results = {}
    for name in paths:
        if name in unavailable:
            continue
        if name == "parallel":
            results[name] = _time_parallel(dev, runs, batch, seed, depth, warmup, steps, repeats,
                                           1 if dev.type == "cpu" else None)
            log(f"parallel: {runs} runs at once, {results[name]['images_per_s']:.1f} img/s in total, "
                f"{results[name]['images_per_s_per_model']:.1f} img/s per run")
            continue
        run, count, warm_s = runners[name]
        per_model = [steps * batch / s for s in seconds[name]]
        results[name] = {"models": count, "images_per_s_per_model": statistics.median(per_model),
                         "images_per_s": statistics.median(per_model) * count, "runs_images_per_s_per_model":
                         per_model, "seconds": seconds[name], "warmup_seconds": warm_s}
        if hasattr(run, "step"):
            results[name]["mode"] = run.step.mode
    model_speeds = {}
    for name in models:
        run = _paths(dev, batch, seed, workers, depth, model_name=name)["graph"]()
        run(_warmup("graph", warmup))
        _sync(dev)
        t0 = time.perf_counter()
        run(steps)
        _sync(dev)
        model_speeds[name] = {"images_per_s": steps * batch / (time.perf_counter() - t0), "mode": run.step.mode}
        log(f"graph path, {name}: {model_speeds[name]['images_per_s']:.1f} img/s ({run.step.mode})")
    base = results.get("plain", {}).get("images_per_s")
    ratios = {name: r["images_per_s"] / base for name, r in results.items()} if base else {}
    return {
        "device": dev.type, "device_name": device_name(dev), "torch": torch.__version__,
        "python": platform.python_version(), "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpu_count": os.cpu_count(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "options": {"steps": steps, "batch": batch, "warmup": warmup, "repeats": repeats, "paths": list(paths),
                    "workers": workers, "seed": seed, "depth": depth, "runs": runs, "models": list(models)},
        "precision_flags": precision_flags(),
        "results": results, "ratio_to_plain": ratios, "unavailable": unavailable, "models": model_speeds,
    }


def format_table(report: dict) -> str:
    lines = [f"{'path':<10} {'models':>6} {'img/s':>10} {'img/s/model':>12} {'x plain':>8}  mode"]
    for name, r in report["results"].items():
        ratio = report["ratio_to_plain"].get(name)
        lines.append(f"{name:<10} {r['models']:>6} {r['images_per_s']:>10.1f} {r['images_per_s_per_model']:>12.1f} "
                     f"{'' if ratio is None else f'{ratio:.2f}':>8}  {r.get('mode', '')}")
    for name, reason in report.get("unavailable", {}).items():
        lines.append(f"{name:<10} unavailable: {reason}")
    for name, r in report.get("models", {}).items():
        lines.append(f"graph path, {name}: {r['images_per_s']:.1f} img/s ({r['mode']})")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N")
    p.add_argument("--steps", type=int, default=20, help="timed steps per path and repeat")
    p.add_argument("--batch", type=int, default=64, help="images per model per step (official 64)")
    p.add_argument("--depth", type=int, default=16, help="width of the nets (official 16; acai_lines quick: 8)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per path first")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; figures are medians")
    p.add_argument("--paths", default=",".join(DEFAULT_PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    p.add_argument("--runs", type=int, default=4, help="processes of the parallel path (N runs at once)")
    p.add_argument("--models", default="", help="comma-separated Table 1 models whose graph path is also timed")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain loop")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help="JSON path (default benchmarks/bench-<device>-<date>.json); '-' writes none")


def main_args(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    report = run_bench(device=args.device, steps=args.steps, batch=args.batch, warmup=args.warmup,
                       repeats=args.repeats, paths=tuple(p for p in args.paths.split(",") if p),
                       workers=args.workers, seed=args.seed, depth=args.depth, runs=args.runs,
                       models=tuple(m for m in args.models.split(",") if m), log=lambda m: print(m, file=sys.stderr))
    print(format_table(report))
    if str(args.out) != "-":
        out = args.out or Path("benchmarks") / f"bench-{report['device']}-{dt.date.today().isoformat()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acai-repro bench", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return main_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
