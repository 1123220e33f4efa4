"""``acai-repro gpu plan``: what the next GPU window would run, in order of value, with each item's estimated time.

A window is 15 minutes of device time (the machine's start, every command and every idle wait count), one command
runs at most 10 minutes, and at most 64 MiB come back from it (8 files of 16 MiB). Only whole runs come back, so
an item is worth starting only if it can finish, and be packed, inside the command: :func:`schedule` admits items in
order of value while their estimated end fits the budget and their checkpoints fit what can come back, and ``gpu
run`` applies the same rule at each launch with the clock it then has.

Estimated time = steps x seconds per step + a per-item overhead (process start, CUDA, data, capture). The seconds
per step come, best first, from

1. a window's record (``benchmarks/gpu-window-*.json``, written by ``gpu unpack``): the measured wall time of that
   kind of run (notebook and model) on a GPU, evaluations included;
2. a GPU bench (``benchmarks/bench-cuda-*.json`` at the paper's depth 16 and batch 64): the graph path of each
   Table 1 model, plus an assumed cost of the evaluations;
3. :data:`ASSUMED`: stated assumptions, marked ``assumed`` wherever they are used.

Several runs at once (``--jobs``) help only where the bench measured it: without a measurement the plan assumes
that N runs at once each go N times slower (no gain).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from acai_repro.gpu.items import Item, paper_groups, rehearsal_groups, state_bytes

MIB = 2**20
WINDOW_S = 900  # device time of one session, start and idle included
COMMAND_S = 600  # one command's limit
DEFAULT_BUDGET_S = 480  # what `gpu run` may use of one command: leaves the start, the transfers and a margin
RETURN_FILES, RETURN_FILE_BYTES, RETURN_BYTES = 8, 16 * MIB, 64 * MIB
MANIFEST_BYTES = 1 * MIB  # kept free for window.json
ITEM_OVERHEAD_S = {"gpu": 20.0, "cpu": 6.0}  # assumed: process start, import, CUDA context, data, capture
BENCH_S = {"gpu": 90.0, "cpu": 40.0}  # assumed: the window's bench (all paths, seven models)
LINES_EVAL_S = 0.3  # assumed: one official lines evaluation on a GPU (256 pairs x 16 decodes, 10,000 references)

# Seconds per training step of one run alone on an H200, before any measurement, with the reasoning. A Table 1 step
# at batch 64 is a few hundred kernels of a few microseconds each (gpu.md: 0.15-0.47 GFLOP per image), so it is
# bound by kernel count, not FLOPs; graph capture removes the launch cost but not the kernels. Models that cannot be
# captured (their step synchronises with the host) pay ~10 us of Python and launch per operation.
ASSUMED: dict[str, tuple[float, str]] = {
    "acai_lines:baseline": (0.8e-3, "~150 kernels, graph-captured"),
    "acai_lines:dropout": (0.8e-3, "~150 kernels, graph-captured"),
    "acai_lines:denoising": (0.9e-3, "~170 kernels, graph-captured"),
    "acai_lines:vae": (0.9e-3, "~170 kernels, graph-captured"),
    "acai_lines:aae": (1.1e-3, "~220 kernels, graph-captured"),
    "acai_lines:acai": (2.5e-3, "~500 kernels, graph-captured"),
    "acai_lines:vqvae": (4.0e-3, "eager: its codebook update calls bincount, a host sync"),
    "maskaae_dimensionality:wae": (9e-3, "eager (reads its step counter with int()): 8 updates of 512 x 4 MLPs"),
    "maskaae_dimensionality:maskaae": (10e-3, "eager (reads its step counter with int()): 9 updates"),
    "gaia_attributes:": (16e-3, "eager (lr from .item()): GAIA 12 ms + the L1 autoencoder 4 ms per step"),
    "aae_priors:aae": (3e-3, "eager (prior sampled on the CPU): 3 updates of 1000-1000 MLPs"),
    "aae_priors:vae": (0.4e-3, "graph-captured 1000-1000 MLPs"),
    "aae_priors:ae": (0.3e-3, "graph-captured 1000-1000 MLPs"),
}
DRY_RUN_STEP_S = 0.05  # a smoke step on one CPU core, roughly


@dataclass
class Speed:
    seconds_per_step: float
    source: str  # "measured: <file>", "bench: <file>" or "assumed: <why>"


@dataclass
class Row:
    item: Item
    estimate_s: float
    size_bytes: int
    start_s: float
    end_s: float
    fits: bool
    why: str  # why it does not fit ('' when it does)
    speed: Speed | None


def _eval_s_per_step(item: Item) -> float:
    if item.notebook != "acai_lines":
        return 0.0
    p = item.params
    return LINES_EVAL_S / max(1, p["eval_every_images"] // p["batch"])


def known_speeds(benchmarks: Path) -> dict[str, Speed]:
    """Measured seconds per step by speed key, from the GPU records in ``benchmarks`` (newest file wins; a
    window's measured run wins over a bench)."""
    speeds: dict[str, Speed] = {}
    files = sorted(benchmarks.glob("*.json"), key=lambda p: p.stat().st_mtime) if benchmarks.is_dir() else []
    for path in files:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("kind") == "acai-repro gpu window" and record.get("device") == "cuda" and not record.get(
                "dry_run"):
            for entry in record.get("items", []):
                if entry.get("status") in ("packed", "finished") and entry.get("trained_steps"):
                    speeds[entry["speed_key"]] = Speed(entry["train_seconds"] / entry["trained_steps"],
                                                       f"measured: {path.name}")
        elif isinstance(record, dict) and "results" in record:
            for key, speed in bench_speeds(record, path.name).items():
                if not speeds.get(key, Speed(0, "")).source.startswith("measured"):
                    speeds[key] = speed
    return speeds


def bench_speeds(report: dict, name: str) -> dict[str, Speed]:
    """Seconds per step of each Table 1 model on the graph path, from a GPU bench at the paper's depth and batch
    (plus the assumed cost of the evaluations); nothing from a CPU bench or another size."""
    options = report.get("options", {})
    if report.get("device") != "cuda" or options.get("depth") != 16 or options.get("batch") != 64:
        return {}
    found = dict(report.get("models", {}))
    if "graph" in report.get("results", {}):
        found.setdefault("acai", report["results"]["graph"])
    return {f"acai_lines:{model}": Speed(64 / figures["images_per_s"] + LINES_EVAL_S / 1024,
                                         f"bench: {name} (+ assumed evaluations)")
            for model, figures in found.items()}


def parallel_slowdown(benchmarks: Path, jobs: int, report: dict | None = None) -> tuple[float, str]:
    """How much slower each run goes with ``jobs`` at once: measured by a GPU bench's parallel path with that many
    runs (``report``, else the newest in ``benchmarks``), else assumed ``jobs`` (no gain)."""
    if jobs == 1:
        return 1.0, "one run at a time"
    reports = [("this window's bench", report)] if report else []
    if benchmarks.is_dir():
        for path in sorted(benchmarks.glob("bench-cuda*.json"), reverse=True):
            try:
                reports.append((path.name, json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
    for name, record in reports:
        results = record.get("results", {})
        if record.get("device") == "cuda" and "parallel" in results and "graph" in results and \
                results["parallel"]["models"] == jobs:
            return (results["graph"]["images_per_s"] / results["parallel"]["images_per_s_per_model"],
                    f"measured: {name}")
    return float(jobs), f"assumed: {jobs} runs at once share the GPU with no gain (no bench of {jobs} at once yet)"


def speed_for(item: Item, known: dict[str, Speed], dry_run: bool = False) -> Speed:
    if dry_run:
        return Speed(DRY_RUN_STEP_S, "assumed: a smoke step on a CPU")
    key = item.speed_key()
    if key in known:
        return known[key]
    seconds, why = ASSUMED.get(key, (10e-3, "no assumption for this kind of run"))
    return Speed(seconds + _eval_s_per_step(item), f"assumed: {why}")


def estimate_s(item: Item, known: dict[str, Speed], dry_run: bool = False) -> tuple[float, Speed | None]:
    """(seconds, speed) of one item run alone."""
    place = "cpu" if dry_run else "gpu"
    if item.notebook is None:
        return BENCH_S[place], None
    speed = speed_for(item, known, dry_run)
    return item.steps() * speed.seconds_per_step + ITEM_OVERHEAD_S[place], speed


def packed_bytes(item: Item) -> int:
    """What the item's finished run adds to the files that come back: weights and buffers, history, slack."""
    return 0 if item.notebook is None else int(state_bytes(item) * 1.02) + 256 * 1024


def return_capacity() -> int:
    return min(RETURN_BYTES, (RETURN_FILES - 1) * RETURN_FILE_BYTES) - MANIFEST_BYTES


def schedule(items: list[Item], *, budget_s: float, jobs: int, known: dict[str, Speed], slowdown: float = 1.0,
             dry_run: bool = False, capacity: int | None = None) -> list[Row]:
    """Admit items in order while they fit: ``jobs`` runs at a time (each ``slowdown`` times slower), the bench
    alone first; an item fits if its estimated end is within ``budget_s`` and its checkpoints within ``capacity``."""
    capacity = return_capacity() if capacity is None else capacity
    free_at = [0.0] * jobs
    used, rows = 0, []
    for item in items:
        seconds, speed = estimate_s(item, known, dry_run)
        size = packed_bytes(item)
        if item.notebook is None:  # the bench runs alone, before everything
            start, end = 0.0, seconds
        else:
            slot = min(range(jobs), key=free_at.__getitem__)
            start = free_at[slot]
            end = start + (seconds - ITEM_OVERHEAD_S["cpu" if dry_run else "gpu"]) * slowdown + ITEM_OVERHEAD_S[
                "cpu" if dry_run else "gpu"]
        why = ""
        if end > budget_s:
            why = (f"longer than one command ({seconds:.0f} s > {budget_s:.0f} s)" if seconds > budget_s else
                   "no time left in this window")
        elif used + size > capacity:
            why = (f"{size / MIB:.0f} MiB of checkpoints: more than a window brings back ({capacity / MIB:.0f} MiB)"
                   if size > capacity else "no room left in the files that come back")
        if not why:
            used += size
            if item.notebook is None:
                free_at = [end] * jobs
            else:
                free_at[slot] = end
        rows.append(Row(item, seconds, size, start, end, not why, why, speed))
    return rows


def plan_items(dry_run: bool = False, only: tuple[str, ...] = ()) -> list[Item]:
    """The items of a window in order of value; ``only``: those whose group or label holds one of the texts (the
    bench always stays first)."""
    items = [item for group in (rehearsal_groups() if dry_run else paper_groups()) for item in group]
    return [i for i in items if not only or i.notebook is None or any(t in i.group or t in i.label for t in only)]


def format_plan(rows: list[Row], *, budget_s: float, jobs: int, slowdown_note: str) -> str:
    """The plan as text: the facts of a window, one line per item, a line per group, how to run it."""
    lines = [f"GPU window: {WINDOW_S // 60} min of device time; one command at most {COMMAND_S} s; `gpu run "
             f"--budget-s {budget_s:.0f}`; {jobs} run(s) at a time ({slowdown_note}); at most "
             f"{RETURN_BYTES // MIB} MiB of whole runs come back.",
             "Estimates: steps x seconds per step (source per line) + "
             f"{ITEM_OVERHEAD_S['gpu']:.0f} s per item (assumed).", ""]
    group, totals = None, {}
    for row in rows:
        totals.setdefault(row.item.group, [0, 0.0, 0])
        totals[row.item.group][0] += 1
        totals[row.item.group][1] += row.estimate_s
        totals[row.item.group][2] += row.fits
    header = f"{'#':>3}  {'item':<58} {'est.':>8} {'MiB':>6}  next window"
    previous_source = None
    for i, row in enumerate(rows, 1):
        if row.item.group != group:
            group = row.item.group
            n, seconds, fitting = totals[group]
            lines += [f"== {group}: {n} item(s), {_duration(seconds)} one at a time; {fitting} in the next window",
                      header]
        what = row.item.label.replace("acai_lines ", "")
        when = "yes" if row.fits else f"no: {row.why}"
        source = None if row.speed is None else row.speed.source
        note = f"  [{source}]" if source and source != previous_source else ""  # a source once, where it changes
        previous_source = source
        lines.append(f"{i:>3}  {what:<58} {_duration(row.estimate_s):>8} {row.size_bytes / MIB:>6.1f}  {when}{note}")
    total = sum(r.estimate_s for r in rows)
    fitting = [r for r in rows if r.fits]
    lines += ["", f"The next window trains {sum(r.item.notebook is not None for r in fitting)} run(s) "
              f"(ends at ~{max((r.end_s for r in fitting), default=0):.0f} s of {budget_s:.0f} s); everything "
              f"listed takes ~{total / 3600:.1f} h one at a time.",
              "Before the window: `make gpu-carry` (.gpu/carry), and `acai-repro gpu run --dry-run --out /tmp/w`.",
              "In the window, one device call (carry [\".gpu/carry\"], timeout_s "
              f"{min(COMMAND_S, budget_s + 80):.0f}):",
              f"  python3 -m acai_repro.cli gpu run --budget-s {budget_s:.0f} --out $OUT",
              "Back here: acai-repro gpu unpack DIR (the folder the files came back to), then the printed "
              "`acai-repro run ... --profile paper` commands render each notebook from its checkpoint."]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"
