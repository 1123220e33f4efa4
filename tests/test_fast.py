"""The fast path trains exactly what the eager ACAI.train_step trains: same losses, same weights, batched or not."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from acai_repro.acai.acai import ACAI
from acai_repro.data.lines import LinesSampler
from acai_repro.device import seed_everything
from acai_repro.fast import ACAIEnsemble, EnsembleLines, FastFeatures, build_seeded_models, train_ensemble
from acai_repro.fast import compiled
from acai_repro.fast.paths import OfficialLines
from acai_repro.fast.precision import bf16_check

DEPTH, BATCH, STEPS = 8, 8, 4  # tiny nets (the official depth is 16) keep the file fast on one core


def close(a: torch.Tensor | float, b: torch.Tensor | float, rtol: float = 1e-5) -> bool:
    a, b = float(a), float(b)
    return math.isfinite(a) and abs(a - b) <= rtol * max(abs(a), abs(b), 1e-6)


def same_weights(m1: torch.nn.Module, m2: torch.nn.Module, atol: float = 1e-6) -> float:
    worst = max((p - q).abs().max().item() for p, q in zip(m1.parameters(), m2.parameters()))
    assert worst < atol, f"weights differ by {worst}"
    return worst


def fixed_alpha(model: ACAI, alpha: torch.Tensor) -> None:
    """Make the eager model use the same mixing coefficients as the batched one for the next step."""
    model.draw_alpha = lambda batch, device: alpha


def test_fast_path_reproduces_the_plain_loop_on_official_lines():
    # Reference: the plain loop of the benchmark (official scalar renderer through a DataLoader, eager train_step).
    (eager,) = build_seeded_models("acai", [5], "cpu", DEPTH)
    (fast,) = models = build_seeded_models("acai", [5], "cpu", DEPTH)
    ensemble = ACAIEnsemble(models)
    loader = iter(DataLoader(OfficialLines(seed=5), batch_size=BATCH))
    for _ in range(STEPS):
        x, label = next(loader)  # the same batch for both
        alpha = ensemble.draw_alpha(BATCH)  # (1, B, 1, 1, 1)
        fixed_alpha(eager, alpha[0])
        want = eager.train_step(x, label)
        got = ensemble.train_step(x[None], alpha, label[None])
        assert set(got) == set(want)
        for name in want:
            assert close(got[name][0], want[name]), (name, got[name][0], want[name])
    ensemble.sync_models()
    same_weights(fast, eager)


def test_one_seed_follows_the_project_path_step_for_step():
    # No patching: same seed, same sampler stream, alphas from the same global generator.
    seed_everything(3)
    (eager,) = build_seeded_models("acai", [3], "cpu", DEPTH)
    sampler = LinesSampler(BATCH, "cpu", seed=3)
    want = [eager.train_step(*sampler.next()) for _ in range(STEPS)]
    (fast,) = models = build_seeded_models("acai", [3], "cpu", DEPTH)
    ensemble, data = ACAIEnsemble(models), EnsembleLines(BATCH, [3])
    for step in range(STEPS):
        x, label = data.next()
        got = ensemble.train_step(x, ensemble.draw_alpha(BATCH), label)
        assert all(close(got[name][0], want[step][name]) for name in want[step])
    ensemble.sync_models()
    same_weights(fast, eager)


@pytest.mark.parametrize("use_vmap", [True, False])
def test_k_batched_models_equal_k_separate_trainings(use_vmap):
    seeds = [0, 1, 2]
    separate = build_seeded_models("acai", seeds, "cpu", DEPTH)
    batched = build_seeded_models("acai", seeds, "cpu", DEPTH)
    ensemble, data = ACAIEnsemble(batched, FastFeatures(vmap=use_vmap)), EnsembleLines(BATCH, seeds)
    samplers = [LinesSampler(BATCH, "cpu", seed=s) for s in seeds]
    for _ in range(STEPS):
        x, label = data.next()
        alpha = ensemble.draw_alpha(BATCH)
        got = ensemble.train_step(x, alpha, label)
        for k, (model, sampler) in enumerate(zip(separate, samplers)):
            xk, lk = sampler.next()
            assert torch.equal(xk, x[k]) and torch.equal(lk, label[k])  # stream k is seed k's own stream
            fixed_alpha(model, alpha[k])
            want = model.train_step(xk, lk)
            assert all(close(got[name][k], want[name], 1e-4) for name in want), k
    for model, trained in zip(separate, ensemble.sync_models()):
        same_weights(model, trained, 1e-5)
    assert not torch.equal(batched[0].encoder[0].weight, batched[1].encoder[0].weight)  # distinct seeds


def test_synced_models_continue_eagerly_like_the_batched_program():
    # sync_models hands back the Adam state too: one more eager step == one more batched step.
    models = build_seeded_models("acai", [0, 1], "cpu", DEPTH)
    ensemble, data = ACAIEnsemble(models), EnsembleLines(BATCH, [0, 1])
    for _ in range(2):
        x, label = data.next()
        ensemble.train_step(x, ensemble.draw_alpha(BATCH), label)
    eager = ensemble.sync_models()[1]
    x, label = data.next()
    alpha = ensemble.draw_alpha(BATCH)
    fixed_alpha(eager, alpha[1])
    eager.train_step(x[1], label[1])
    ensemble.train_step(x, alpha, label)
    reference = build_seeded_models("acai", [1], "cpu", DEPTH)[0]
    reference.load_state_dict({name: p[1] for name, p in ensemble.params.items()})
    same_weights(reference, eager, 1e-5)


def test_train_ensemble_histories_evals_and_exact_resume(tmp_path):
    kwargs = dict(batch_size=4, depth=DEPTH, log_every=1, progress=False,
                  eval_fn=lambda m: {"w0": m.encoder[0].weight.sum().item()}, eval_every=2)
    full = train_ensemble("acai", [0, 1], 4, **kwargs)
    assert len(full.models) == 2 and all(isinstance(m, ACAI) for m in full.models)
    assert [row["step"] for row in full.histories[1].losses] == [1, 2, 3, 4]
    assert {"loss_ae", "loss_critic", "mse", "loss_probe"} <= set(full.histories[0].losses[0])
    assert [row["step"] for row in full.histories[0].evals] == [2, 4]
    assert full.histories[0].evals[-1]["w0"] == pytest.approx(full.models[0].encoder[0].weight.sum().item())
    run_dir = tmp_path / "run"
    train_ensemble("acai", [0, 1], 2, run_dir=run_dir, checkpoint_every=2, **kwargs)  # "killed" after step 2
    resumed = train_ensemble("acai", [0, 1], 4, run_dir=run_dir, checkpoint_every=2, **kwargs)
    for a, b in zip(full.models, resumed.models):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_train_ensemble_other_models_train_seed_by_seed():
    result = train_ensemble("baseline", [0, 1], 2, batch_size=4, depth=DEPTH, log_every=1, progress=False)
    assert len(result.histories) == 2 and "loss_ae" in result.histories[1].losses[-1]
    with pytest.raises(ValueError, match="distinct"):
        train_ensemble("acai", [1, 1], 1)


def test_ensemble_rejects_mismatched_models_and_shapes():
    with pytest.raises(TypeError):
        ACAIEnsemble(build_seeded_models("baseline", [0], "cpu", DEPTH))
    with pytest.raises(ValueError, match="same architecture"):
        ACAIEnsemble(build_seeded_models("acai", [0], "cpu", DEPTH) + build_seeded_models("acai", [1], "cpu", 4))
    ensemble = ACAIEnsemble(build_seeded_models("acai", [0, 1], "cpu", DEPTH))
    with pytest.raises(ValueError, match="K=2"):
        ensemble.train_step(torch.zeros(3, 4, 1, 32, 32), torch.zeros(3, 4, 1, 1, 1))


def test_features_fall_back_on_cpu_with_a_reason():
    resolved, notes = FastFeatures(cuda_graphs=True, bf16=True).resolve("cpu")
    assert resolved == FastFeatures(bf16=True) and any("CUDA" in n for n in notes)
    assert FastFeatures().resolve("cpu") == (FastFeatures(), [])


def test_a_failing_compile_falls_back_to_eager(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(compiled.torch, "compile", lambda fn, **kw: broken)
    wrapped = compiled.CompiledWithFallback(lambda x: x + 1)
    assert wrapped(1) == 2 and wrapped(2) == 3
    assert "no compiler here" in wrapped.failure and "running eagerly" in capsys.readouterr().err


def test_bf16_check_reports_the_loss_differences():
    report = bf16_check(steps=4, batch=4, depth=4)
    assert report["ok"] in (True, False) and set(report["rel_diff"]) == set(report["fp32"])
    assert report["max_rel_diff"] >= 0 and all(math.isfinite(v) for v in report["bf16"].values())
