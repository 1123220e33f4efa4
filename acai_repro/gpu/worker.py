"""One item of a GPU window, in its own process: ``python -m acai_repro.gpu.worker SPEC.json RESULT.json``.

A process per run keeps runs apart: each has its own CUDA context, a failure (or the deadline's kill) ends only that
run, and several run at once on one GPU. The worker does what a notebook does up to its training call, with the
runner's own functions (:func:`~acai_repro.runner.start_run`: parameters validated, seeded, device picked, run folder
locked) and the notebook's own training function (:data:`~acai_repro.gpu.items.TRAINERS`), inside
:func:`~acai_repro.gpu.graphs.fast_training` so that every model's step goes through the fast path. Its working
directory is ``notebooks/``, as under papermill. It writes RESULT.json: status, timings, steps trained and how each
model's step ran (``graph`` or ``eager: <reason>``).
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from acai_repro.checkpoints import CheckpointStore, atomic_write_text


def checkpoint_steps(run_dir: Path) -> dict[str, int]:
    """The newest checkpoint step of every checkpoint folder in a run ('' = the run folder itself; GAIA: gaia, ae)."""
    found = {}
    for folder in [run_dir, *sorted(p for p in run_dir.iterdir() if p.is_dir())] if run_dir.is_dir() else []:
        steps = CheckpointStore(folder).steps()
        if steps:
            found["" if folder == run_dir else folder.name] = steps[-1]
    return found


def train_item(spec: dict) -> dict:
    """Train one item as its notebook would (resuming from its folder); returns the result record."""
    from acai_repro.gpu.graphs import fast_training
    from acai_repro.gpu.items import TRAINERS, Item, trainer_modules
    from acai_repro.runner import start_run
    from acai_repro.runner.registry import repo_root

    t0 = time.time()
    item = Item.from_json(spec["item"])
    run_dir = item.run_dir(Path(spec["results_root"]))
    os.chdir(repo_root() / "notebooks")  # papermill's working directory: relative paths mean what they mean there
    trainer_modules(item.notebook)
    before = checkpoint_steps(run_dir)
    run = start_run(item.notebook, {**item.params, "run_dir": str(run_dir)})
    with fast_training(spec.get("precision", "default"), spec.get("verify", True)) as steps:
        t1 = time.time()
        trained = TRAINERS[item.notebook](run)
        if run.device.type == "cuda":
            import torch

            torch.cuda.synchronize(run.device)
        t2 = time.time()
    after = checkpoint_steps(run_dir)
    total = item.steps()
    finished = set(after) == set(trained) and all(step == total for step in after.values())
    return {"status": "finished" if finished else "failed", "run_dir": str(run_dir), "relpath": item.relpath,
            "device": run.device.type, "steps": total, "checkpoints": after,
            "trained_steps": total - min(before.get(k, 0) for k in trained), "setup_seconds": t1 - t0,
            "train_seconds": t2 - t1, "modes": {s.name: s.mode for s in steps},
            **({} if finished else {"error": f"checkpoints end at {after}, expected step {total} in "
                                             f"{sorted(trained)}"})}


def main(argv: list[str] | None = None) -> int:
    spec_path, result_path = (Path(a) for a in (argv or sys.argv[1:]))
    spec = json.loads(spec_path.read_text())
    try:
        result = train_item(spec)
    except BaseException as error:  # a failed run must say why in its record; KeyboardInterrupt too
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc()[-4000:]}
        atomic_write_text(result_path, json.dumps(result, indent=1))
        traceback.print_exc()
        return 1
    atomic_write_text(result_path, json.dumps(result, indent=1))
    print(f"acai-repro gpu: {spec['item']['notebook']} {result['status']} in {result['train_seconds']:.1f} s "
          f"({result['modes']})", file=sys.stderr)
    return 0 if result["status"] == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
