"""The AAE, its label-conditioned variant and the two baselines (acai_repro.aae.model), the run helpers
(acai_repro.aae.experiment) and the cross-parameter rules (acai_repro.aae.params).

The model test template (build, shapes, one step trains every player, save / load round trip) is in test_models.py;
here the AAE's own checks: hand-computed losses (the discriminator's and the generator's BCE at a known logit, the
VAE's negative ELBO), the 11-way one-hot and the conditioned discriminator's real samples, and the run helpers.
"""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from acai_repro.aae.experiment import code_grid, component_grid, evaluate, hide_labels, train_priors
from acai_repro.aae.model import AAE, N_CLASSES, build_model, one_hot_11
from acai_repro.aae.params import AAE_PRIORS, check_combination
from acai_repro.aae.priors import UNLABELLED, GaussianPrior, MixturePrior, SwissRollPrior, build_prior
from acai_repro.common.batches import BatchSampler
from acai_repro.common.players import frozen, update
from acai_repro.runner.runs import Run
from acai_repro.runner.schema import ParameterError

B, HIDDEN = 6, 16
CASES = {  # case -> (model name, prior, n_labels)
    "aae_gaussian": ("aae", "gaussian", 0),
    "aae_conditioned": ("aae", "mixture", 100),
    "aae_swiss_conditioned": ("aae", "swiss_roll", 100),
    "vae": ("vae", "gaussian", 0),
    "ae": ("ae", "gaussian", 0),
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(B, 1, 28, 28, generator=g), torch.tensor([0, 3, UNLABELLED, 9, UNLABELLED, 5])


def fresh(case: str, seed: int = 0, **kwargs):
    name, prior, n_labels = CASES[case]
    torch.manual_seed(seed)
    return build_model(name, build_prior(prior), n_labels=n_labels, hidden=HIDDEN, **kwargs)


def params_of(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_discriminator_input_width():
    assert fresh("aae_gaussian").discriminator[0].in_features == 2
    assert fresh("aae_conditioned").discriminator[0].in_features == 2 + N_CLASSES  # z and the 11-way one-hot
    assert fresh("aae_swiss_conditioned").discriminator[0].in_features == 2 + N_CLASSES
    assert build_model("aae", GaussianPrior(8), hidden=HIDDEN).encode(torch.rand(3, 1, 28, 28)).shape == (3, 8)


def test_generator_step_moves_the_encoder_only(batch):
    """Phase 2b alone: after its step the decoder and the (frozen) discriminator are unchanged."""
    model, (x, _) = fresh("aae_gaussian"), batch
    dec, disc, enc = params_of(model.decoder), params_of(model.discriminator), params_of(model.encoder)
    with frozen(model.discriminator):
        logit = model.discriminate(model.encode(x), None)
    loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
    update(model.optimizers["gen"], loss)
    assert changed(enc, model.encoder) and not changed(dec, model.decoder) and not changed(disc, model.discriminator)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.discriminator.parameters())


def test_adversarial_players_use_the_dcgan_betas():
    """The reconstruction phase: Adam (0.9, 0.999) on encoder and decoder; d and the encoder as generator: Adam
    (0.5, 0.999) at lr_adv, the generator owning the encoder's weights only."""
    model = fresh("aae_gaussian", lr_adv=3e-4)
    ae, disc, gen = (model.optimizers[k] for k in ("ae", "disc", "gen"))
    assert ae.defaults["betas"] == (0.9, 0.999) and ae.defaults["lr"] == pytest.approx(1e-3)
    assert disc.defaults["betas"] == gen.defaults["betas"] == (0.5, 0.999)
    assert disc.defaults["lr"] == gen.defaults["lr"] == pytest.approx(3e-4)
    owned = lambda opt: {id(p) for g in opt.param_groups for p in g["params"]}  # noqa: E731
    assert owned(gen) == {id(p) for p in model.encoder.parameters()}
    assert owned(disc) == {id(p) for p in model.discriminator.parameters()}
    assert owned(ae) == {id(p) for p in [*model.encoder.parameters(), *model.decoder.parameters()]}


@pytest.mark.parametrize("case", ["aae_gaussian", "vae", "ae"])
def test_models_without_labels_ignore_them(case, batch):
    """Every model takes the batch's labels (train_step(x, label)); only the conditioned AAE reads them."""
    x, label = batch
    runs = []
    for given in (label, None):
        model = fresh(case)
        torch.manual_seed(4)
        runs.append((model.train_step(x, given), model.train_step(x, given)))
    for a, b in zip(*runs):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_one_hot_11_unlabelled_is_the_eleventh_class():
    hot = one_hot_11(torch.tensor([0, 9, UNLABELLED, 4]))
    assert hot.shape == (4, 11)
    assert hot.argmax(1).tolist() == [0, 9, 10, 4] and torch.equal(hot.sum(1), torch.ones(4))


def test_conditioned_real_samples_follow_the_labels(batch):
    """The discriminator's real samples: a labelled image's own component, the full mixture for an unlabelled one."""
    model, (x, label) = fresh("aae_conditioned"), batch
    seen = []
    sample = model.prior.sample

    def recording(n, labels=None, generator=None):
        seen.append(labels.clone())
        return sample(n, labels, generator)

    model.prior.sample = recording
    model.train_step(x, label)
    assert len(seen) == 1 and torch.equal(seen[0], label)
    model.train_step(x)  # no labels at all: every image counts as unlabelled
    assert torch.equal(seen[1], torch.full((B,), UNLABELLED))


def test_discriminator_and_generator_losses_by_hand(batch):
    """With d's output layer zeroed, d(z) = sigmoid(0) = 1/2 for every input: L_d = 2 log 2 and L_g = log 2 (the
    generator's loss is taken after d's step, which a learning rate of 1e-9 leaves at logit ~ 0)."""
    model, (x, _) = fresh("aae_gaussian", lr_adv=1e-9), batch
    with torch.no_grad():
        model.discriminator[-1].weight.zero_()
        model.discriminator[-1].bias.zero_()
    losses = model.train_step(x)
    assert losses["loss_d"].item() == pytest.approx(2 * math.log(2), abs=1e-6)
    assert losses["loss_g"].item() == pytest.approx(math.log(2), abs=1e-5)
    assert losses["loss_rec"].item() == pytest.approx(F.binary_cross_entropy(torch.full_like(x, 0.5), x).item(),
                                                      abs=0.05)


def test_vae_negative_elbo_by_hand(batch):
    x, _ = batch
    model = fresh("vae")
    mu, logvar = (t.detach() for t in model.posterior(x))
    torch.manual_seed(3)
    eps = torch.randn_like(mu)
    with torch.no_grad():
        logits = model.decode_logits(mu + (0.5 * logvar).exp() * eps)
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
    kl = sum(0.5 * (m ** 2 + v.exp() - 1 - v) for m, v in zip(mu.flatten(), logvar.flatten())) / B
    torch.manual_seed(3)
    losses = model.train_step(x)
    assert losses["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert losses["loss_vae"].item() == pytest.approx((nll + kl).item(), rel=1e-5)


def test_build_model_refusals():
    with pytest.raises(ValueError, match="unknown model 'wae'"):
        build_model("wae", GaussianPrior())
    with pytest.raises(ValueError, match="gaussian prior"):
        build_model("vae", MixturePrior())
    with pytest.raises(ValueError, match="only the aae uses labels"):
        build_model("ae", GaussianPrior(), n_labels=10)
    with pytest.raises(ValueError, match="10 components"):
        build_model("aae", GaussianPrior(), n_labels=10)


def test_check_combination():
    ok = AAE_PRIORS.defaults
    check_combination(ok)
    for bad, match in [({"model": "vae", "prior": "mixture", "n_labels": 0}, "'prior' must be 'gaussian'"),
                       ({"model": "ae", "prior": "gaussian", "n_labels": 100}, "'n_labels'"),
                       ({"prior": "swiss_roll", "n_labels": 0, "z_dim": 8}, "'z_dim' must be 2")]:
        with pytest.raises(ParameterError, match=match):
            check_combination({**ok, **bad})


def test_hide_labels_is_balanced_and_seeded():
    labels = torch.arange(10).repeat_interleave(40)  # 400 images, 40 per digit
    kept = hide_labels(labels, 100, seed=0)
    assert (kept != UNLABELLED).sum() == 100
    assert torch.bincount(kept[kept != UNLABELLED], minlength=10).tolist() == [10] * 10
    assert torch.equal(kept[kept != UNLABELLED], labels[kept != UNLABELLED])  # kept labels are the true ones
    assert torch.equal(kept, hide_labels(labels, 100, seed=0)) and not torch.equal(kept, hide_labels(labels, 100, 1))
    assert (hide_labels(labels, 0) == UNLABELLED).all()
    with pytest.raises(ValueError, match="multiple of 10"):
        hide_labels(labels, 15)
    with pytest.raises(ValueError, match="rarest digit has 40"):
        hide_labels(labels, 500)


def test_shuffled_epochs_cover_the_data_and_resume():
    """The AAE's data stream (train_priors): BatchSampler without replacement draws shuffled epochs of the images
    and their labels together; the last partial batch of an epoch is dropped; a loaded state continues the stream."""
    images = torch.arange(10.0).view(10, 1, 1, 1)
    labels = torch.arange(10)
    stream = BatchSampler(images, labels, batch_size=5, seed=0, replacement=False)
    epoch = [stream.next() for _ in range(2)]
    assert all(torch.equal(x.flatten().long(), y) for x, y in epoch)  # each image keeps its own label
    assert sorted(torch.cat([y for _, y in epoch]).tolist()) == list(range(10))
    state = copy.deepcopy(stream.state_dict())
    after = [stream.next()[1] for _ in range(3)]
    twin = BatchSampler(images, labels, batch_size=5, seed=9, replacement=False)
    twin.load_state_dict(state)
    assert all(torch.equal(a, twin.next()[1]) for a in after)
    partial = BatchSampler(labels, batch_size=4, seed=1, replacement=False)
    for _ in range(3):  # three epochs of two batches: 8 distinct labels each, the 2 left over are dropped
        seen = torch.cat([partial.next()[0], partial.next()[0]])
        assert len(set(seen.tolist())) == 8


def test_train_priors_trains_on_shuffled_epochs_with_their_labels(tmp_path, monkeypatch):
    """One epoch of 20 images in 4 batches: the conditioned AAE sees every image once, each with its own label (or
    -1), and the run's history goes to run.dir / history.json."""
    x_train = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    y_seen = torch.where(torch.arange(20) % 2 == 1, torch.arange(20) % 10, UNLABELLED)  # half unlabelled
    params = {**AAE_PRIORS.defaults, "prior": "mixture", "model": "aae", "n_labels": 10, "hidden": 8, "steps": 4,
              "batch_size": 5, "seed": 3}
    seen = []
    original = AAE.train_step

    def recording(self, x, label=None):
        seen.append((x.clone(), label.clone()))
        return original(self, x, label)

    monkeypatch.setattr(AAE, "train_step", recording)
    trained = train_priors(Run("aae_priors", params, tmp_path, torch.device("cpu")), MixturePrior(), x_train, y_seen,
                           progress=False)
    assert isinstance(trained.model, AAE) and trained.model.conditioned and len(seen) == 4
    x_seen, y_got = torch.cat([x for x, _ in seen]), torch.cat([y for _, y in seen])
    order = [int(torch.nonzero((x_train == image).flatten(1).all(1))) for image in x_seen]
    assert sorted(order) == list(range(20)) and order != list(range(20))  # a shuffled epoch
    assert torch.equal(y_got, y_seen[order])
    assert (tmp_path / "history.json").is_file() and trained.history.losses[-1]["step"] == 4


def test_evaluate_on_prior_samples():
    """Codes that *are* prior samples: SW_1 near the prior-vs-prior floor, and (mixture, labelled by the component
    each was drawn from) a low classification error and ~95% inside their own ellipse."""
    prior, g = MixturePrior(), torch.Generator().manual_seed(2)
    labels = torch.randint(10, (2000,), generator=g)
    out = evaluate(prior, prior.sample(2000, labels, generator=g), labels)
    assert out["sw_codes_prior"] < 2 * out["sw_prior_prior"] + 0.02
    assert out["classification_error"] < 0.1 and abs(out["own_component_share"] - 0.95) < 0.03
    shifted = evaluate(prior, prior.sample(2000, labels, generator=g) + 1.0, labels)
    assert shifted["sw_codes_prior"] > 0.5
    assert set(evaluate(GaussianPrior(), torch.randn(100, 2), labels[:100])) == {"sw_codes_prior", "sw_prior_prior",
                                                                                  "coverage"}


def test_code_grids():
    z, (lo, hi) = code_grid(GaussianPrior(), n=5)
    assert z.shape == (25, 2) and lo == pytest.approx(-2.0537, abs=1e-3) and hi == pytest.approx(2.0537, abs=1e-3)
    assert z[0, 1] == pytest.approx(hi) and z[-1, 1] == pytest.approx(lo)  # top row first
    assert code_grid(SwissRollPrior(), n=4)[0].shape == (16, 2)
    prior = MixturePrior()
    cells = component_grid(prior, [2, 7], n=3).reshape(2, 9, 2)
    assert torch.allclose(cells[:, 4], prior.means[[2, 7]], atol=1e-6)  # the centre cell is the component mean
    assert (prior.component_of(cells.reshape(-1, 2)).reshape(2, 9)[:, 4] == torch.tensor([2, 7])).all()


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_run_the_summary_expects_is_a_valid_combination(profile):
    from acai_repro.aae.params import AAE_SWEEPS, sweep_command
    from acai_repro.runner.execute import expand_grid
    from acai_repro.runner.registry import resolve

    combos = expand_grid(AAE_SWEEPS[profile])
    assert len(combos) <= 4 if profile == "smoke" else len(combos) >= 8
    for combo in combos:
        check_combination(resolve("aae_priors", profile, combo))
    assert sweep_command(profile).count("acai-repro sweep aae_priors") == len(AAE_SWEEPS[profile])
