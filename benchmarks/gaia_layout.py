"""Milliseconds per training step of GAIA and its plain autoencoder at the ``quick`` profile's size, with the weights
and images in PyTorch's default (NCHW) layout and in channels_last (NHWC), which the chapter trains in.

    python benchmarks/gaia_layout.py [--steps 150] [--warmup 20] [--repeats 3] [--out FILE.json]

``--out`` defaults to ``benchmarks/gaia-layout-cpu-DATE.json``.

Both layouts run through :func:`acai_repro.gaia.experiment.train_models`' own pieces (``build_models``, the
BatchSampler, :func:`acai_repro.training.train`) on random 32 x 32 images of the CelebA sample's size,
interleaved ``--repeats`` times so that a shared machine slows them alike (medians reported). The record also holds
the largest relative difference of the last logged losses between the layouts: channels_last changes the order of
float sums, not the maths.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from acai_repro.common.batches import BatchSampler
from acai_repro.gaia.experiment import build_models
from acai_repro.gaia.params import GAIA_ATTRIBUTES
from acai_repro.training import train

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def time_layout(layout: str, steps: int, warmup: int, p: dict) -> tuple[float, dict[str, float]]:
    """(ms per step of GAIA + the autoencoder, the last logged losses) for ``steps`` timed steps after ``warmup``."""
    fmt = LAYOUTS[layout]
    torch.manual_seed(0)
    images = torch.rand(p["n_train"], 3, p["image_size"], p["image_size"]).contiguous(memory_format=fmt)
    elapsed, last = 0.0, {}
    for name, model in build_models(p).items():  # the chapter's two models, as train_models builds them
        model = model.to(memory_format=fmt)
        data = BatchSampler(images, batch_size=p["batch_size"], seed=0)
        train(model, data, steps=warmup, run_dir=None, checkpoint_every=10**9, log_every=warmup, progress=False)
        start = time.perf_counter()
        trained = train(model, data, steps=steps, run_dir=None, checkpoint_every=10**9, log_every=steps,
                        progress=False)
        elapsed += time.perf_counter() - start
        row = trained.history.to_dict()["losses"][-1]
        last.update({f"{name}/{k}": float(v) for k, v in row.items() if k != "step"})
    return 1000 * elapsed / steps, last


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=f"benchmarks/gaia-layout-cpu-{dt.date.today().isoformat()}.json")
    args = parser.parse_args(argv)
    p = GAIA_ATTRIBUTES.defaults  # the quick profile
    times: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
    losses: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        for layout in LAYOUTS:
            ms, losses[layout] = time_layout(layout, args.steps, args.warmup, p)
            times[layout].append(ms)
    ms = {layout: statistics.median(t) for layout, t in times.items()}
    difference = max(abs(losses["channels_last"][k] - v) / max(abs(v), 1e-12) for k, v in losses["nchw"].items())
    record = {"what": "ms per training step of GAIA + its plain autoencoder (quick profile sizes), median",
              "ms_per_step": ms, "all_ms_per_step": times, "speedup": ms["nchw"] / ms["channels_last"],
              "max_relative_loss_difference": difference, "options": vars(args),
              "sizes": {k: p[k] for k in ("image_size", "width", "z_dim", "batch_size")},
              "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor(),
              "machine": platform.machine(), "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"NCHW {ms['nchw']:.1f} ms/step, channels_last {ms['channels_last']:.1f} ms/step: "
          f"{record['speedup']:.2f}x; largest relative loss difference {difference:.1e} -> {args.out}")


if __name__ == "__main__":
    main()
