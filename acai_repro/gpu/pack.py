"""Finished runs into at most 8 files of at most 16 MiB, and back into a results folder.

What comes back from the GPU machine is at most 8 files of 16 MiB each, 64 MiB in all, so a window packs whole
finished runs only, each with what its notebook needs to execute from the checkpoint without training:

* the newest checkpoint of each of the run's checkpoint folders, with its weights, buffers, history, data-stream
  and random states, but **without the optimisers' moments** (Adam's averages, RMSProp's mean squares): a finished
  run never takes another step, and the moments would triple the size. The optimisers' ``param_groups`` stay, so
  ``load_state_dict`` works and :class:`~acai_repro.training.Trainer` finds step = total steps and trains nothing.
  ``capturable`` is reset to False (the flag of the GPU's fast path), so the checkpoint is what an eager run writes;
* every other file of the run (``history.json``, ``mask_trace.pt``, ...) except locks and temporaries.

Each run becomes one gzipped tar (a *blob*); the blobs, in order of value, are concatenated into one stream cut into
parts ``runs-NNN.bin``; ``window.json`` (written by the window) lists each blob's place, length and sha256. A run
that does not fit the remaining room is left out whole, never cut off.

:func:`unpack` checks every part and blob, then places each run at ``<results>/<profile>/<notebook>/<run-id>``,
where ``acai-repro run`` looks, holding the run's lock; a run already finished there (``metrics.json``) is kept
unless ``force``. A checkpoint whose data stream was drawn on a GPU (the lines sampler's CUDA generator) cannot be
restored on a machine without CUDA; there it gets a fresh CPU generator state and a note, which changes nothing for a
finished run (it draws no more batches).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import torch

from acai_repro.checkpoints import CheckpointStore, atomic_write_text
from acai_repro.gpu.errors import UnpackError

PART_NAME = "runs-{:03d}.bin"
SKIPPED_FILES = (".lock",)


def strip_optimizer_moments(payload: dict) -> dict:
    """The checkpoint of a finished run without the optimisers' per-parameter state (see the module docstring)."""
    optimizers = payload["state"].get("optimizers")
    if optimizers is None:
        return payload
    payload["state"]["optimizers"] = {
        name: {"state": {}, "param_groups": [{**g, **({"capturable": False} if "capturable" in g else {})}
                                             for g in state["param_groups"]]}
        for name, state in optimizers.items()}
    payload["packed"] = "acai-repro gpu: finished run; optimiser moments dropped (a finished run takes no step)"
    return payload


def _keep(path: Path) -> bool:
    name = path.name
    return not (name in SKIPPED_FILES or name.endswith(".tmp") or ".partial." in name or name.startswith("ckpt-"))


def run_blob(run_dir: Path, expected_step: int | None = None) -> tuple[bytes, list[str]]:
    """One finished run as a gzipped tar (paths relative to the run folder) and the list of its files."""
    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        for folder in [run_dir, *sorted(p for p in run_dir.rglob("*") if p.is_dir())]:
            store = CheckpointStore(folder)
            steps = store.steps()
            if not steps:
                continue
            found = store.load_latest()
            if found is None or found[0] != steps[-1] or (expected_step is not None and found[0] != expected_step):
                raise ValueError(f"{folder}: the newest checkpoint (step {steps[-1]}) is not a good final one "
                                 f"(loaded {found and found[0]}, expected {expected_step})")
            target = staging / folder.relative_to(run_dir)
            CheckpointStore(target, keep=1).save(found[0], strip_optimizer_moments(found[1]))
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and _keep(path):
                target = staging / path.relative_to(run_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        buffer = io.BytesIO()
        names = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
            for name in names:
                tar.add(staging / name, arcname=name)
    return buffer.getvalue(), names


def pack_runs(runs: list[tuple[str, Path, int | None]], out: Path, capacity: int, part_bytes: int,
              max_parts: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, str]]]:
    """Pack ``runs`` ([(relpath, run folder, expected final step)], in order of value) into parts in ``out``.

    Returns (parts, blobs, left out): parts ``[{"file", "bytes", "sha256"}]``; blobs ``[{"relpath", "offset",
    "length", "sha256", "files"}]`` in stream order; runs left out ``[(relpath, reason)]``.
    """
    capacity = min(capacity, part_bytes * max_parts)
    stream, blobs, left = bytearray(), [], []
    for relpath, run_dir, expected in runs:
        try:
            blob, names = run_blob(run_dir, expected)
        except (ValueError, OSError) as error:
            left.append((relpath, f"not packed: {error}"))
            continue
        if len(stream) + len(blob) > capacity:
            left.append((relpath, f"no room: {len(blob) / 2**20:.1f} MiB, {(capacity - len(stream)) / 2**20:.1f} "
                                  "MiB left of what comes back"))
            continue
        blobs.append({"relpath": relpath, "offset": len(stream), "length": len(blob),
                      "sha256": hashlib.sha256(blob).hexdigest(), "files": names})
        stream += blob
    parts = []
    for index, start in enumerate(range(0, len(stream), part_bytes)):
        chunk = bytes(stream[start:start + part_bytes])
        (out / PART_NAME.format(index)).write_bytes(chunk)
        parts.append({"file": PART_NAME.format(index), "bytes": len(chunk),
                      "sha256": hashlib.sha256(chunk).hexdigest()})
    return parts, blobs, left


def read_stream(folder: Path, manifest: dict) -> bytes:
    """The parts of one window, checked against the manifest and joined."""
    stream = bytearray()
    for part in manifest["parts"]:
        path = folder / part["file"]
        if not path.is_file():
            raise UnpackError(f"{path} is missing: copy all {len(manifest['parts'])} runs-*.bin files beside "
                              f"window.json")
        data = path.read_bytes()
        if len(data) != part["bytes"] or hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise UnpackError(f"{path} is damaged ({len(data)} bytes, expected {part['bytes']} with sha256 "
                              f"{part['sha256'][:12]}...)")
        stream += data
    return bytes(stream)


def unpack(folder: Path, results_root: Path, force: bool = False, log=print) -> list[tuple[dict, Path | str]]:
    """Place every run of the window in ``folder`` under ``results_root``; returns [(blob entry, run folder or the
    reason it was not placed)]."""
    from acai_repro.runner.runs import acquire

    manifest = json.loads((folder / "window.json").read_text())
    stream = read_stream(folder, manifest)
    placed: list[tuple[dict, Path | str]] = []
    for blob in manifest["blobs"]:
        data = stream[blob["offset"]:blob["offset"] + blob["length"]]
        if hashlib.sha256(data).hexdigest() != blob["sha256"]:
            raise UnpackError(f"run {blob['relpath']} is damaged in the stream (sha256 mismatch)")
        target = results_root / blob["relpath"]
        if (target / "metrics.json").is_file() and not force:
            placed.append((blob, "kept: finished here already (metrics.json); --force replaces it"))
            continue
        lock = acquire(target)  # RunLockedError if a notebook is writing this run now
        try:
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.unpack-") as staging:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                    tar.extractall(staging, filter="data")
                for old in [p for p in target.rglob("ckpt-*") if p.is_file()]:
                    old.unlink()  # the window's final checkpoint supersedes any older one here
                for name in blob["files"]:
                    (target / name).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(Path(staging) / name, target / name)
            notes = make_portable(target, seed=_seed_of(manifest, blob["relpath"]))
            if notes:
                atomic_write_text(target / "gpu-window-notes.txt", "\n".join(notes) + "\n")
        finally:
            lock.release()
        placed.append((blob, target))
        log(f"placed {target}")
    return placed


def _seed_of(manifest: dict, relpath: str) -> int:
    for entry in manifest.get("items", []):
        if entry.get("relpath") == relpath:
            return int(entry.get("params", {}).get("seed", 0))
    return 0


def make_portable(run_dir: Path, seed: int = 0) -> list[str]:
    """Let each checkpoint of a run load on this machine: a data-stream generator state made on a GPU (which a CPU
    generator cannot take) becomes a fresh, seeded CPU state where this machine has no CUDA. Returns notes."""
    notes = []
    if torch.cuda.is_available():
        return notes
    for folder in [run_dir, *sorted(p for p in run_dir.rglob("*") if p.is_dir())]:
        store = CheckpointStore(folder, keep=1)
        found = store.load_latest() if store.steps() else None
        if found is None:
            continue
        step, payload = found
        data_state = payload["state"].get("data")
        if not isinstance(data_state, dict) or not isinstance(data_state.get("generator"), torch.Tensor):
            continue
        try:
            torch.Generator().set_state(data_state["generator"].cpu())
        except RuntimeError:
            data_state["generator"] = torch.Generator().manual_seed(seed).get_state()
            store.save(step, payload)
            notes.append(f"{folder.relative_to(run_dir).as_posix()}/ckpt-{step:09d}.pt: the data stream's generator "
                         f"state was a GPU one; replaced by a CPU generator seeded {seed} so that this machine can "
                         f"load the finished run (it draws no more batches)")
    return notes
