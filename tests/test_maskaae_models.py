"""WAE and MaskAAE (acai_repro.maskaae.model): the optimisers, the step on a stack of batches and its counter, the
mask, the schedule and each update. The model test template (build, shapes, one step trains each player and only
it, save / load round trip, seeded repeatability) is in test_models.py."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from acai_repro.maskaae.experiment import mask_history, train_maskaae
from acai_repro.maskaae.model import (MaskAAE, WAE, build_model, gradient_penalty, loss_decay,
                                      official_reg_interval, poly_weight)
from acai_repro.maskaae.optim import TF1RMSProp
from acai_repro.maskaae.params import MASKAAE_DIMENSIONALITY
from acai_repro.runner.runs import Run
from acai_repro.training import History

B, D, M = 8, 16, 4
PLAYERS = {"wae": {"ae", "gen", "critic"}, "maskaae": {"ae", "gen", "critic", "mask"}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def fresh(name: str, seed: int = 0, **kwargs) -> WAE:
    torch.manual_seed(seed)
    return build_model(name, M, d=D, width=8, depth=2, **kwargs)


def batches(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return lambda: torch.randn(B, D, generator=g)


def stack(model: WAE, seed: int = 0) -> torch.Tensor:
    """One step's data: a fresh batch per update, (updates_per_step, B, d)."""
    return torch.randn(model.updates_per_step, B, D, generator=torch.Generator().manual_seed(seed))


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy(module.state_dict())


def changed(before: dict, module: nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_optimizers_are_the_official_rmsprop(name):
    model = fresh(name)
    assert set(model.optimizers) == PLAYERS[name]
    rates = {k: opt.defaults["lr"] for k, opt in model.optimizers.items()}
    assert rates["ae"] == pytest.approx(5e-4) and rates["gen"] == rates["critic"] == pytest.approx(1e-4)
    if name == "maskaae":
        assert rates["mask"] == pytest.approx(5e-4)
    for opt in model.optimizers.values():
        assert isinstance(opt, TF1RMSProp) and opt.defaults["decay"] == 0.9 and opt.defaults["eps"] == 1e-10
        assert opt.defaults["initial_ms"] == 1.0  # TF1's rms slot starts at ones
    other = build_model(name, 4, d=12, width=16, optimizer="torch")
    assert all(isinstance(opt, torch.optim.RMSprop) for opt in other.optimizers.values())
    with pytest.raises(ValueError, match="optimizer must be tf1 or torch"):
        build_model(name, 4, d=12, optimizer="adam")


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_updates_per_step(name):
    """Autoencoder, n_critic critic updates, generator, and (MaskAAE) the mask: one fresh batch each."""
    assert fresh(name).updates_per_step == 5 + 2 + (name == "maskaae")
    assert fresh(name, n_critic=2).updates_per_step == 2 + 2 + (name == "maskaae")


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_train_step_gives_each_update_its_own_batch_in_order(name, monkeypatch):
    model = fresh(name, n_critic=3)
    x = stack(model)
    calls = []

    def recorder(update):
        original = getattr(model, update)

        def record(batch, *args):
            calls.append((update, int(torch.nonzero((x == batch).flatten(1).all(1)))))  # which slice of x
            return original(batch, *args)

        return record

    for update in ("autoencoder_step", "critic_step", "generator_step", "mask_step"):
        if hasattr(model, update):
            monkeypatch.setattr(model, update, recorder(update))
    model.train_step(x)
    expected = ["autoencoder_step"] + ["critic_step"] * 3 + ["generator_step"] + ["mask_step"] * (name == "maskaae")
    assert calls == list(zip(expected, range(len(expected))))


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_train_step_is_the_updates_of_the_step_it_counts(name):
    """train_step on a stack performs exactly updates(iter(stack), steps_done) and then counts the step."""
    model = fresh(name, reg_interval=1)
    twin = copy.deepcopy(model)
    assert int(model.steps_done) == 0
    for step in range(7):  # across poly_weight's doubling at 4 R = 4 and loss_decay's switch after 5 R = 5
        x = stack(model, seed=step)
        torch.manual_seed(10 + step)  # prior samples and the gradient penalty's mixing draw from the global generator
        got = model.train_step(x)
        torch.manual_seed(10 + step)
        expected = twin.updates(iter(x), step)
        assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got), step
        assert int(model.steps_done) == step + 1
    for key, value in model.state_dict().items():
        if key != "steps_done":  # the twin never counted its steps
            assert torch.equal(value, twin.state_dict()[key]), key
    if name == "maskaae":
        assert got["c"].item() == poly_weight(6, M, 1) == 2 * poly_weight(0, M, 1)


def test_train_step_reads_its_schedule_from_the_checkpointed_counter():
    """steps_done is in state_dict: a loaded model continues the schedule where the saved one stopped."""
    model = fresh("maskaae", reg_interval=1)
    with torch.no_grad():
        model.steps_done.fill_(8)
    state = model.state_dict()
    assert int(state["steps_done"]) == 8
    other = fresh("maskaae", seed=1, reg_interval=1)
    other.load_state_dict(state)
    assert other.train_step(stack(other))["c"].item() == poly_weight(8, M, 1) == 4 * poly_weight(0, M, 1)
    assert int(other.steps_done) == 9


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_train_step_refuses_a_wrong_shaped_stack(name):
    model = fresh(name)
    n = model.updates_per_step
    for bad in (torch.randn(B, D), torch.randn(n - 1, B, D), torch.randn(n + 1, B, D), torch.randn(n, B, D, 1)):
        with pytest.raises(ValueError, match=rf"\({n}, B, d\)"):
            model.train_step(bad)
    assert int(model.steps_done) == 0  # a refused step is not counted


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_only_maskaae_moves_its_mask(name):
    model = fresh(name)
    a_before = model.alpha.detach().clone()
    losses = model.train_step(stack(model))
    assert torch.equal(model.alpha, a_before) == (name == "wae")
    if name == "maskaae":
        assert losses["active_dims"].item() == model.active_dims()


def test_decode_and_generate_apply_the_mask():
    model = fresh("maskaae")
    z = torch.randn(5, M)
    torch.testing.assert_close(model.decode(z), model.decoder(model.alpha * z))
    torch.manual_seed(1)
    generated = model.generate(5)
    torch.manual_seed(1)
    torch.testing.assert_close(generated, model.decoder(model.alpha * torch.randn(5, M)))
    wae = fresh("wae")
    torch.testing.assert_close(wae.decode(z), wae.decoder(z))  # the WAE's mask is all ones
    assert model.critic(z).shape == (5, 1)


def test_mask_parameterisation_and_active_dims():
    model = fresh("maskaae")
    assert ((model.a >= 0) & (model.a <= 5)).all()  # a ~ U(0, 5)
    with torch.no_grad():
        model.a.copy_(torch.tensor([0.0, 0.05, 1.0, 4.0]))
    assert torch.allclose(model.alpha, 1 - torch.exp(-torch.tensor([0.0, 0.05, 1.0, 4.0])))
    assert model.active_dims() == 2  # alpha = 0, 0.049, 0.63, 0.98: two reach 0.1
    assert fresh("wae").active_dims() == M and torch.equal(fresh("wae").alpha, torch.ones(M))


def test_mask_step_updates_only_the_mask_and_keeps_a_nonnegative():
    model = fresh("maskaae")
    with torch.no_grad():
        model.a.copy_(torch.tensor([1e-6, 0.5, 1.0, 3.0]))
    before = {part: weights(getattr(model, part)) for part in ("encoder", "decoder", "critic")}
    out = model.mask_step(batches()(), step=0)
    assert not any(changed(state, getattr(model, part)) for part, state in before.items())
    assert (model.a >= 0).all() and out["c"].item() == pytest.approx(2 / M)


def test_critic_and_generator_steps_touch_only_their_player():
    model = fresh("maskaae")
    enc, crit, a = weights(model.encoder), weights(model.critic), model.a.detach().clone()
    model.critic_step(batches()())
    assert changed(crit, model.critic) and not changed(enc, model.encoder) and torch.equal(model.a, a)
    crit = weights(model.critic)
    model.generator_step(batches()())
    assert changed(enc, model.encoder) and not changed(crit, model.critic) and torch.equal(model.a, a)


def test_variance_penalty_by_hand():
    """mean((mean_batch z - z)^2 exp(-10 alpha^2)), on the unmasked codes."""
    model = fresh("maskaae")
    x = batches()()
    with torch.no_grad():
        z, alpha = model.encode(x), model.alpha
        expected = ((z - z.mean(0)) ** 2 * torch.exp(-10 * alpha**2)).mean()
        rec = ((model.decoder(alpha * z) - x) ** 2).mean()
    out = model.autoencoder_step(x, step=0)
    assert out["variance"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["loss_ae"].item() == pytest.approx(rec.item() + 100 * expected.item(), rel=1e-5)


def test_gradient_penalty_of_a_linear_critic():
    """D(z) = w . z has gradient w everywhere, so the penalty is (|w| - 1)^2."""
    critic = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[2.0, 0.0, 0.0]]))
    assert gradient_penalty(critic, torch.randn(5, 3), torch.randn(5, 3)).item() == pytest.approx(1.0)


def test_official_schedule():
    assert official_reg_interval(20) == 75 and official_reg_interval(32) == 3600
    assert official_reg_interval(21) == 2362 and official_reg_interval(100) == 10000
    assert poly_weight(0, 8, 75) == poly_weight(299, 8, 75) == 0.25  # c = 2 / m ...
    assert poly_weight(300, 8, 75) == 0.5 and poly_weight(600, 8, 75) == 1.0  # ... doubled every 4 R ...
    assert poly_weight(10**6, 8, 75) == 2048  # ... capped at 2048
    assert loss_decay(375, 75) == 1.0 and loss_decay(376, 75) == 0.2  # losses / 5 after step 5 R
    assert MaskAAE(8).reg_interval == 75 and MaskAAE(32).reg_interval == 3600
    assert WAE(8, reg_interval=10).reg_interval == 10
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vae", 4)
    assert not math.isnan(poly_weight(1, 1, 1))


def test_mask_history_reads_the_recorded_mask():
    history = History(evals=[{"step": 25, "alpha_0": 0.9, "alpha_1": 0.1},
                             {"step": 50, "alpha_0": 1.0, "alpha_1": 0.0}])
    steps, alpha = mask_history(history, 2)
    np.testing.assert_array_equal(steps, [25, 50])
    np.testing.assert_array_equal(alpha, [[0.9, 0.1], [1.0, 0.0]])


def test_train_maskaae_draws_a_batch_per_update_and_traces_the_mask(tmp_path):
    params = {**MASKAAE_DIMENSIONALITY.defaults, "m": 3, "steps": 4, "batch_size": 4, "width": 8, "depth": 1,
              "n_critic": 1, "trace_every": 2}
    x_train = torch.randn(32, 6, generator=torch.Generator().manual_seed(0))
    trained = train_maskaae(Run("maskaae_dimensionality", params, tmp_path, torch.device("cpu")), x_train,
                            progress=False)
    model = trained.model
    assert isinstance(model, MaskAAE) and model.updates_per_step == 4 and int(model.steps_done) == 4
    assert [row["step"] for row in trained.history.evals] == [2, 4]
    final = [trained.history.evals[-1][f"alpha_{i}"] for i in range(3)]
    assert final == pytest.approx(model.alpha.tolist())
    trace = torch.load(tmp_path / "mask_trace.pt", weights_only=False)
    np.testing.assert_array_equal(trace["steps"], [2, 4])
    assert trace["alpha"].shape == (2, 3) and (tmp_path / "history.json").is_file()


def test_tf1_rmsprop_against_the_tf1_update_rule_by_hand():
    """ms starts at 1: ms_1 = 0.9 + 0.1 g^2, w_1 = w_0 - lr g / sqrt(ms_1 + eps), then again with ms_1."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = TF1RMSProp([w], lr=0.1)
    w.grad = torch.tensor([2.0, 0.01])
    opt.step()
    ms1 = [0.9 + 0.1 * 4.0, 0.9 + 0.1 * 1e-4]  # 1.3, 0.90001
    expected = [1.0 - 0.1 * 2.0 / math.sqrt(ms1[0] + 1e-10), -2.0 - 0.1 * 0.01 / math.sqrt(ms1[1] + 1e-10)]
    assert w.tolist() == pytest.approx(expected, rel=1e-6)
    assert opt.state[w]["ms"].tolist() == pytest.approx(ms1, rel=1e-6)
    w.grad = torch.tensor([-1.0, 0.0])
    opt.step()
    ms2 = [0.9 * ms1[0] + 0.1, 0.9 * ms1[1]]
    expected = [expected[0] + 0.1 / math.sqrt(ms2[0] + 1e-10), expected[1]]
    assert w.tolist() == pytest.approx(expected, rel=1e-6)
    # A small gradient moves a weight little under TF1's rule; PyTorch's RMSprop (ms from 0) moves it ~3.2 lr.
    v = torch.nn.Parameter(torch.zeros(1))
    torch_opt = torch.optim.RMSprop([v], lr=0.1, alpha=0.9, eps=1e-10)
    v.grad = torch.tensor([0.01])
    torch_opt.step()
    assert v.item() == pytest.approx(-0.1 / math.sqrt(0.1), rel=1e-5)
    with pytest.raises(ValueError, match="decay"):
        TF1RMSProp([w], lr=0.1, decay=1.0)


def test_mask_start_holds_the_mask_and_the_variance_penalty():
    """Before mask_start the model trains as a WAE with alpha held (the mask loss is still measured); from then on
    the mask moves and the variance penalty counts."""
    model = fresh("maskaae", mask_start=2)
    a0 = model.a.detach().clone()
    x = batches()()
    with torch.no_grad():
        rec = ((model.decoder(model.alpha * model.encode(x)) - x) ** 2).mean()
    out = model.autoencoder_step(x, step=1)
    assert out["loss_ae"].item() == pytest.approx(rec.item(), rel=1e-5)  # no penalty before mask_start
    for seed in range(2):
        losses = model.train_step(stack(model, seed))
        assert torch.equal(model.a, a0) and losses["loss_mask"].item() > 0
    model.train_step(stack(model, 2))  # step 2: the mask's first update
    assert not torch.equal(model.a, a0)
    assert fresh("wae", mask_start=2).mask_start == 0  # the WAE has no mask: build_model drops the setting
