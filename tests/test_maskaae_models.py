"""WAE and MaskAAE (acai_repro.maskaae.model): the model template, the mask, the schedule and each update."""
import copy
import math

import pytest
import torch
from torch import nn

from acai_repro.maskaae.model import (MaskAAE, WAE, build_model, gradient_penalty, loss_decay,
                                      official_reg_interval, poly_weight)
from model_template import load_saved_state

B, D, M = 8, 16, 4
PLAYERS = {"wae": {"ae", "gen", "critic"}, "maskaae": {"ae", "gen", "critic", "mask"}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def fresh(name: str, seed: int = 0) -> WAE:
    torch.manual_seed(seed)
    return build_model(name, M, d=D, width=8, depth=2)


def batches(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return lambda: torch.randn(B, D, generator=g)


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return copy.deepcopy(module.state_dict())


def changed(before: dict, module: nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_shapes(name):
    model, x = fresh(name), batches()()
    assert model.encode(x).shape == (B, M)
    assert model.generate(5).shape == (5, D)
    assert model.alpha.shape == (M,)
    assert model.critic(model.encode(x)).shape == (B, 1)


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_optimizers_are_the_official_rmsprop(name):
    model = fresh(name)
    assert set(model.optimizers) == PLAYERS[name]
    rates = {k: opt.defaults["lr"] for k, opt in model.optimizers.items()}
    assert rates["ae"] == pytest.approx(5e-4) and rates["gen"] == rates["critic"] == pytest.approx(1e-4)
    if name == "maskaae":
        assert rates["mask"] == pytest.approx(5e-4)
    for opt in model.optimizers.values():
        assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["alpha"] == 0.9
    owned = {id(p) for opt in model.optimizers.values() for g in opt.param_groups for p in g["params"]}
    assert owned == {id(p) for p in model.parameters()}  # every parameter is trained by some player


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_one_step_trains_every_player(name):
    model = fresh(name)
    before = {part: weights(getattr(model, part)) for part in ("encoder", "decoder", "critic")}
    a_before = model.alpha.detach().clone()
    losses = model.train_step(batches(), step=0)
    expected = {"loss_ae", "rec", "variance", "loss_critic", "wasserstein", "loss_gen"}
    if name == "maskaae":
        expected |= {"loss_mask", "poly", "c", "active_dims"}
    assert set(losses) == expected
    for key, value in losses.items():
        assert value.dim() == 0 and not value.requires_grad and torch.isfinite(value), key
    for part, state in before.items():
        assert changed(state, getattr(model, part)), part
    assert torch.equal(model.alpha, a_before) == (name == "wae")


@pytest.mark.parametrize("name", ["wae", "maskaae"])
def test_save_load_round_trip(name):
    model = fresh(name)
    model.train_step(batches(), step=0)
    other = load_saved_state(model, fresh(name, seed=1))
    results = []
    for run in (model, other):
        torch.manual_seed(2)
        results.append(run.train_step(batches(1), step=1))
    assert all(torch.equal(v, results[1][k]) for k, v in results[0].items())
    for key, value in model.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key


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
    assert MaskAAE(8).reg_interval == 75 and MaskAAE(32).reg_interval == 3600 and WAE(8, reg_interval=10).reg_interval == 10
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vae", 4)
    assert not math.isnan(poly_weight(1, 1, 1))
