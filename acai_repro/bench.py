"""``acai-repro bench``: images per second of ACAI training on the lines, the project's paths against a plain loop.

All paths train the same model (official lines nets, batch B, Adam 1e-4) in one process:

* ``plain``: the reference a PyTorch user would write. Each line is drawn on the CPU by the official scalar
  renderer (:func:`~acai_repro.data.lines.draw_line`, one sample at a time in Python) inside a ``DataLoader``; each
  batch is moved to the device and trained with the eager fp32 ``ACAI.train_step`` (one step per player).
* ``project``: the project's chapter path: :func:`~acai_repro.training.train` (losses stay on the device, one
  sync per log interval), lines rendered for the whole batch on the device (``LinesSampler``), ``ACAI.train_step``.

Warm-up steps (DataLoader start-up) are not timed; CUDA is synchronised before each clock
reading. ``--repeats`` interleaves the paths (plain, project, ... , plain, project, ...) so that a machine shared
with other work slows them alike; the figures are medians. The JSON records the device, versions, threads, options.
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

PATHS = ("plain", "project")  # this module imports torch only when it runs


def _paths(device, batch: int, seed: int, workers: int, depth: int) -> dict[str, Callable[[], Callable[[int], None]]]:
    """Per path, a builder of ``run(steps)``, which trains that many batches of a freshly seeded ACAI."""
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
        return build_model("acai", depth=depth, n_classes=N_CLASSES).to(device)

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

    return {"plain": plain, "project": project}


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
              paths: tuple[str, ...] = PATHS, workers: int = 0, seed: int = 0, depth: int = 16,
              log: Callable[[str], None] = print) -> dict:
    """Time every path in ``paths``; returns the JSON-ready report (figures are medians over ``repeats``)."""
    import torch

    from acai_repro.device import pick_device

    for name, value in {"steps": steps, "batch": batch, "repeats": repeats, "depth": depth}.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"bench: {name} must be a positive integer, got {value!r}")
    if warmup < 0 or workers < 0:
        raise ValueError("bench: warmup and workers must be >= 0")
    unknown = set(paths) - set(PATHS)
    if unknown or not paths:
        raise ValueError(f"bench: unknown path(s) {sorted(unknown)}; choose from {', '.join(PATHS)}")
    dev = pick_device(device)
    builders = _paths(dev, batch, seed, workers, depth)
    runners = {}
    for name in paths:
        run, models = builders[name](), 1
        t0 = time.perf_counter()
        if warmup:
            run(warmup)  # compilation, graph capture, DataLoader start-up: not timed
        _sync(dev)
        runners[name] = (run, models, time.perf_counter() - t0)
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(repeats):
        for name in paths:
            run = runners[name][0]
            _sync(dev)
            t0 = time.perf_counter()
            run(steps)
            _sync(dev)
            seconds[name].append(time.perf_counter() - t0)
        log(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{n} {steps * batch / seconds[n][-1]:.1f} img/s/model"
                                                      for n in paths))
    results = {}
    for name in paths:
        run, models, warm_s = runners[name]
        per_model = [steps * batch / s for s in seconds[name]]
        results[name] = {"models": models, "images_per_s_per_model": statistics.median(per_model),
                         "images_per_s": statistics.median(per_model) * models, "runs_images_per_s_per_model":
                         per_model, "seconds": seconds[name], "warmup_seconds": warm_s}
    base = results.get("plain", {}).get("images_per_s")
    ratios = {name: r["images_per_s"] / base for name, r in results.items()} if base else {}
    return {
        "device": dev.type, "device_name": device_name(dev), "torch": torch.__version__,
        "python": platform.python_version(), "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "cpu_count": os.cpu_count(),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "options": {"steps": steps, "batch": batch, "warmup": warmup, "repeats": repeats, "paths": list(paths),
                    "workers": workers, "seed": seed, "depth": depth},
        "results": results, "ratio_to_plain": ratios,
    }


def format_table(report: dict) -> str:
    lines = [f"{'path':<10} {'models':>6} {'img/s':>10} {'img/s/model':>12} {'x plain':>8}"]
    for name, r in report["results"].items():
        ratio = report["ratio_to_plain"].get(name)
        lines.append(f"{name:<10} {r['models']:>6} {r['images_per_s']:>10.1f} {r['images_per_s_per_model']:>12.1f} "
                     f"{'' if ratio is None else f'{ratio:.2f}':>8}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N")
    p.add_argument("--steps", type=int, default=20, help="timed steps per path and repeat")
    p.add_argument("--batch", type=int, default=64, help="images per model per step (official 64)")
    p.add_argument("--depth", type=int, default=16, help="width of the nets (official 16; acai_lines quick: 8)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per path first")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; figures are medians")
    p.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
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
                       workers=args.workers, seed=args.seed, depth=args.depth, log=lambda m: print(m, file=sys.stderr))
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
