"""The training loop on a tiny linear regression, plus device selection and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from acai_repro import device as device_module
from acai_repro.checkpoints import CheckpointStore
from acai_repro.device import (
    describe_environment,
    get_rng_states,
    pick_device,
    seed_everything,
    set_rng_states,
)
from acai_repro.errors import CheckpointError, DivergenceError
from acai_repro.training import History, Trainer

W_TRUE = torch.tensor([[1.0, -2.0, 0.5]])  # (1, 3) the weights the regression should find


def make_run(seed: int = 0):
    """Model, optimiser, scheduler and data generator, and a step_fn drawing from all four global RNGs too."""
    seed_everything(seed)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.8)
    data_rng = torch.Generator().manual_seed(seed)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        batch = random.randint(8, 16)  # Python's RNG
        x = torch.randn(batch, 3, generator=data_rng)  # (B, 3) the data generator in `state`
        noise = 0.01 * (1 + np.random.rand()) * torch.randn(batch, 1)  # NumPy's and torch's global RNGs
        loss = F.mse_loss(model(x), x @ W_TRUE.T + 0.3 + noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return {"mse": loss.detach(), "weight_norm": model.weight.detach().norm()}

    def eval_fn(step: int) -> dict[str, float]:
        return {"weight_error": (model.weight - W_TRUE).abs().max().item()}

    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "data": data_rng}
    return state, step_fn, eval_fn


def train(run_dir, total_steps: int, wrap_step_fn=lambda step_fn: step_fn):
    state, step_fn, eval_fn = make_run()
    trainer = Trainer(state, total_steps, run_dir, checkpoint_every=10, log_every=5, progress=False)
    history = trainer.fit(wrap_step_fn(step_fn), eval_fn, eval_every=10)
    return state["model"], history


def test_training_reduces_the_loss_and_logs_on_schedule():
    model, history = train(None, 30)
    assert [row["step"] for row in history.losses] == [5, 10, 15, 20, 25, 30]
    assert [row["step"] for row in history.evals] == [10, 20, 30]
    assert history.losses[-1]["mse"] < 1e-3 * history.losses[0]["mse"]  # down to about the noise variance
    assert history.evals[-1]["weight_error"] < 0.01


def test_interval_means_and_eval_steps_by_hand():
    def step_fn(step):
        return {"a": torch.tensor(float(step)), "b": torch.tensor(2.0 * step)}

    trainer = Trainer({}, 10, None, checkpoint_every=6, log_every=4, progress=False)
    history = trainer.fit(step_fn, eval_fn=lambda step: {"e": step / 2}, eval_every=3)
    # intervals end every 4 steps, at the checkpoint step 6 and at the last step 10
    assert history.losses == [
        {"step": 4, "a": 2.5, "b": 5.0},  # mean of 1..4
        {"step": 6, "a": 5.5, "b": 11.0},  # mean of 5, 6
        {"step": 8, "a": 7.5, "b": 15.0},
        {"step": 10, "a": 9.5, "b": 19.0},
    ]
    assert history.evals == [{"step": s, "e": s / 2} for s in (3, 6, 9, 10)]
    assert history.series("a") == ([4, 6, 8, 10], [2.5, 5.5, 7.5, 9.5])
    assert history.series("e") == ([3, 6, 9, 10], [1.5, 3.0, 4.5, 5.0])
    assert History.from_dict(history.to_dict()) == history


def assert_same_run(model_a, history_a, model_b, history_b):
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert list(state_a) == list(state_b)
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    assert history_a.to_dict() == history_b.to_dict()


def test_resume_after_a_shorter_run_is_bit_identical(tmp_path):
    reference = train(tmp_path / "uninterrupted", 30)
    train(tmp_path / "interrupted", 20)
    assert_same_run(*reference, *train(tmp_path / "interrupted", 30))


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    reference = train(tmp_path / "uninterrupted", 30)

    def crash_at_25(step_fn):
        def crashing_step_fn(step):
            if step == 25:
                raise KeyboardInterrupt  # killed between the checkpoints at steps 20 and 30
            return step_fn(step)

        return crashing_step_fn

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "crashed", 30, crash_at_25)
    assert CheckpointStore(tmp_path / "crashed").steps() == [10, 20]
    assert_same_run(*reference, *train(tmp_path / "crashed", 30))


def test_resume_falls_back_past_a_truncated_checkpoint(tmp_path):
    reference = train(tmp_path / "run", 30)
    newest = CheckpointStore(tmp_path / "run").path_for(30)
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ckpt-000000030.pt"):
        resumed = train(tmp_path / "run", 30)  # restarts from step 20 and retrains 21..30
    assert_same_run(*reference, *resumed)


def test_finished_run_returns_the_stored_history_without_training(tmp_path):
    model, history = train(tmp_path, 30)

    def must_not_run(step):
        raise AssertionError(f"step_fn called at step {step}")

    assert_same_run(model, history, *train(tmp_path, 30, lambda step_fn: must_not_run))


def test_progress_bar_and_resume_notice_go_to_stderr(tmp_path, capsys):
    for _ in range(2):
        state, step_fn, _ = make_run()
        Trainer(state, 10, tmp_path, checkpoint_every=5, log_every=5, desc="toy").fit(step_fn)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "toy: 100%" in captured.err and "10/10" in captured.err and "mse=" in captured.err
    assert f"toy: finished already, nothing to train: loaded step 10/10 from {tmp_path}" in captured.err


def test_shorter_run_on_a_longer_run_dir_is_refused(tmp_path):
    train(tmp_path, 30)
    with pytest.raises(ValueError, match="beyond total_steps=20"):
        train(tmp_path, 20)


def test_checkpoint_with_other_state_names_is_refused(tmp_path):
    train(tmp_path, 10)
    state, step_fn, _ = make_run()
    del state["scheduler"]
    with pytest.raises(CheckpointError, match="scheduler"):
        Trainer(state, 20, tmp_path, checkpoint_every=10, log_every=5, progress=False).fit(step_fn)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_before_any_later_checkpoint(tmp_path, bad_value):
    state, step_fn, _ = make_run()

    def step_fn_diverging_at_17(step):
        losses = step_fn(step)
        if step >= 17:
            losses["weight_norm"] = torch.tensor(bad_value)
        return losses

    # log_every=4: the bad step 17 is found when the interval ends at the checkpoint step 20
    trainer = Trainer(state, 30, tmp_path, checkpoint_every=10, log_every=4, progress=False)
    with pytest.raises(DivergenceError) as caught:
        trainer.fit(step_fn_diverging_at_17)
    message = str(caught.value)
    assert "step 17 " in message and "'weight_norm'" in message and str(bad_value) in message
    assert f"step 10 at {tmp_path / 'ckpt-000000010.pt'}" in message
    assert CheckpointStore(tmp_path).steps() == [10]


def test_step_fn_must_return_scalar_tensors():
    trainer = Trainer({}, 3, None, checkpoint_every=1, log_every=1, progress=False)
    with pytest.raises(ValueError, match=r"step_fn\(1\)"):
        trainer.fit(lambda step: {"loss": 1.0})


def test_state_objects_need_a_state_dict():
    with pytest.raises(TypeError, match="state\\['data'\\]"):
        Trainer({"data": [1, 2]}, 3, None, checkpoint_every=1, log_every=1)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("ACAI_REPRO_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device() == torch.device(expected)
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda, cuda:N, mps"):
        pick_device("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("cpu:0")

    monkeypatch.setenv("ACAI_REPRO_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("ACAI_REPRO_DEVICE", "gpu")
    with pytest.raises(ValueError, match="ACAI_REPRO_DEVICE='gpu'"):
        pick_device()
    assert pick_device("cpu") == torch.device("cpu")  # an explicit choice ignores the variable

    monkeypatch.setattr(device_module.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module.torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("ACAI_REPRO_DEVICE", "auto")
    assert pick_device() == torch.device("cpu")
    for unavailable in ("cuda", "mps"):
        with pytest.raises(ValueError, match=f"{unavailable} is not available"):
            pick_device(unavailable)


def test_seed_everything_and_rng_states_repeat_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first
    states = get_rng_states()
    following = draw()
    set_rng_states(states)
    assert draw() == following != first
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_describe_environment_keys():
    environment = describe_environment(torch.device("cpu"))
    assert list(environment) == [
        "device", "device_name", "torch", "cuda", "python", "platform", "cpu_count", "cpu_threads",
    ]
    assert environment["device"] == "cpu"
    assert environment["torch"] == torch.__version__
    assert environment["cpu_threads"] == torch.get_num_threads() >= 1


def test_the_module_docstring_example_runs():
    """The usage example at the top of acai_repro/training.py is real code: run it."""
    import textwrap

    import acai_repro.training

    doc = acai_repro.training.__doc__
    example = textwrap.dedent(doc.split("::\n", 1)[1].split("\n\n:class:")[0])
    assert "trained = train(" in example
    exec(compile(example, "training.py docstring", "exec"), {})
