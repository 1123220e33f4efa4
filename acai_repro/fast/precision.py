"""Is bf16 autocast safe here? A short seeded comparison of the fast step in fp32 and in bf16.

bf16 keeps fp32's range but only 8 bits of mantissa, so it can change a GAN-like game. The check trains the same
seeded ACAI twice for ``steps`` batches (same lines, same alphas), once in fp32 and once with bf16 autocast, and
compares every loss averaged over the second half of the run. ``ok`` only says that the *short-run* losses agree
within ``rtol``; the paper's metrics after 2^24 images still need one full bf16 run checked against an fp32 run
before a sweep relies on bf16. On a CPU bf16 is typically slower as well: keep it for GPUs.
"""

from __future__ import annotations

import torch

from acai_repro.device import seed_everything
from acai_repro.fast.compiled import FastFeatures
from acai_repro.fast.ensemble import ACAIEnsemble, EnsembleLines
from acai_repro.fast.train import build_seeded_models


def _losses(bf16: bool, steps: int, batch: int, device: torch.device, seed: int, depth: int) -> dict[str, float]:
    ensemble = ACAIEnsemble(build_seeded_models("acai", [seed], device, depth), FastFeatures(bf16=bf16))
    data = EnsembleLines(batch, [seed], device)
    seed_everything(seed)  # same alphas in both runs
    rows = []
    for _ in range(steps):
        x, label = data.next()
        rows.append(ensemble.train_step(x, ensemble.draw_alpha(batch), label))
    half = rows[steps // 2:]
    return {name: torch.stack([r[name][0] for r in half]).double().mean().item() for name in rows[0]}


def bf16_check(steps: int = 200, batch: int = 64, device: torch.device | str = "cpu", seed: int = 0,
               rtol: float = 0.05, depth: int = 16) -> dict:
    """Train fp32 and bf16 from the same seed; returns {"fp32", "bf16" (mean losses), "max_rel_diff", "ok"}."""
    device = torch.device(device)
    fp32 = _losses(False, steps, batch, device, seed, depth)
    bf16 = _losses(True, steps, batch, device, seed, depth)
    rel = {name: abs(bf16[name] - fp32[name]) / max(abs(fp32[name]), 1e-12) for name in fp32}
    worst = max(rel.values())
    return {"fp32": fp32, "bf16": bf16, "rel_diff": rel, "max_rel_diff": worst, "ok": worst <= rtol,
            "steps": steps, "batch": batch, "device": device.type}
