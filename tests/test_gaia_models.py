"""GAIA: the gradients each player receives, the balanced learning rates the step sets, and the losses, the sigmoid
balancing and the interpolation scheme on hand-computed cases. The model test template (build, shapes, one step
trains each player and only it, save / load round trip, seeded repeatability) is in test_models.py."""

import copy
import math

import pytest
import torch

from acai_repro.common.players import frozen
from acai_repro.gaia.losses import (balanced_learning_rates, discriminator_loss, distance_loss, draw_alpha,
                                    generator_loss, interpolate, l1)
from acai_repro.gaia.attributes import sharpness
from acai_repro.gaia.experiment import train_models
from acai_repro.gaia.model import GAIA, L1Autoencoder
from acai_repro.gaia.params import GAIA_ATTRIBUTES
from acai_repro.runner.runs import Run
from acai_repro.gaia.nets import ConvAutoencoder, n_halvings

B = 4


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def x():
    return torch.rand(B, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # pixels in [0, 1]


def fresh(seed: int = 0, **kwargs) -> GAIA:
    torch.manual_seed(seed)
    return GAIA(size=32, width=4, z_dim=8, lr_max=1e-3, **kwargs)


def test_both_players_are_autoencoders_with_disjoint_optimisers(x):
    model = fresh()
    assert model.discriminator(x).shape == (B, 3, 32, 32)  # D reconstructs images: its "score" is an L1 error
    out = model.reconstruct(x)
    assert 0 <= out.min() and out.max() <= 1  # sigmoid output, like the official code's pixels in [0, 1]
    assert 0 <= model.discriminator(x).min() and model.discriminator(x).max() <= 1
    big = ConvAutoencoder(size=64, width=4, z_dim=8)
    assert big.encode(torch.zeros(2, 3, 64, 64)).shape == (2, 8) and big(torch.zeros(2, 3, 64, 64)).shape[-1] == 64
    assert n_halvings(32) == 3 and n_halvings(64) == 4
    with pytest.raises(ValueError, match="power of two"):
        n_halvings(48)
    assert set(model.optimizers) == {"G", "D"}
    owned = [p for opt in model.optimizers.values() for g in opt.param_groups for p in g["params"]]
    assert len(owned) == len(set(map(id, owned)))  # no weight trained by both players
    generator = {id(p) for g in model.optimizers["G"].param_groups for p in g["params"]}
    assert generator == {id(p) for p in model.generator.parameters()}


def test_step_sets_the_balanced_learning_rates_and_needs_an_even_batch(x):
    model = fresh()
    losses = model.train_step(x)
    lr_g, lr_d = losses["lr_G"].item(), losses["lr_D"].item()
    assert lr_g + lr_d == pytest.approx(1e-3)
    assert (lr_d, lr_g) == pytest.approx(balanced_learning_rates(losses["L_r"], (losses["L_fr"] + losses["L_fs"]) / 2,
                                                                 1e-3))
    assert model.optimizers["G"].param_groups[0]["lr"] == pytest.approx(lr_g)
    assert model.optimizers["D"].param_groups[0]["lr"] == pytest.approx(lr_d)
    with pytest.raises(ValueError, match="even"):
        model.train_step(x[:3])


def test_each_player_gets_the_gradient_of_its_own_loss(x):
    """After train_step, .grad of each player equals the gradient of its loss at the weights before the step."""
    model = fresh()
    ref = copy.deepcopy(model)
    alpha = torch.tensor([[0.3], [0.9], [0.5], [-0.1]])
    losses = model.train_step(x, alpha=alpha)
    G, D = ref.generator, ref.discriminator
    z = G.encode(x)
    x_g, x_i = G.decode(z), G.decode(interpolate(z, alpha))
    with frozen(D):
        loss_g = generator_loss(l1(x, D(x_g)), l1(x_i, D(x_i)), distance_loss(x, z), 5e-5)
    loss_d = discriminator_loss(l1(x, D(x)), l1(x, D(x_g.detach())), l1(x_i.detach(), D(x_i.detach())))
    assert losses["loss_G"].item() == pytest.approx(loss_g.item(), rel=1e-5)
    assert losses["loss_D"].item() == pytest.approx(loss_d.item(), rel=1e-5)
    trained = dict(model.named_parameters())
    for player, loss in ((G, loss_g), (D, loss_d)):
        named = list(player.named_parameters())
        grads = torch.autograd.grad(loss, [p for _, p in named])
        prefix = "generator." if player is G else "discriminator."
        for (name, _), grad in zip(named, grads):
            torch.testing.assert_close(trained[prefix + name].grad, grad, rtol=1e-4, atol=1e-7)


def test_alpha_is_keyword_only_and_labels_are_ignored(x):
    """train_step(x, label) follows the Model contract: a second positional argument is the (unused) label."""
    alpha = torch.full((B, 1), 0.25)
    runs = []
    for args in ((x,), (x, torch.arange(B))):
        model = fresh()
        runs.append(model.train_step(*args, alpha=alpha))
    assert all(torch.equal(v, runs[1][k]) for k, v in runs[0].items())
    other = fresh().train_step(x, alpha=torch.full((B, 1), 0.75))  # alpha does reach the step
    assert not torch.equal(other["L_fs"], runs[0]["L_fs"])


def test_l1_autoencoder_loss_is_the_mean_absolute_error(x):
    torch.manual_seed(0)
    ae = L1Autoencoder(size=32, width=4, z_dim=8)
    expected = l1(x, ae.reconstruct(x)).item()
    assert ae.train_step(x)["recon_l1"].item() == pytest.approx(expected)  # mean |x - G(x)| before the step
    assert l1(x, ae.reconstruct(x)).item() < expected  # and the step lowered it


def test_train_models_trains_gaia_and_its_baseline_each_in_its_own_folder(x, tmp_path):
    params = {**GAIA_ATTRIBUTES.defaults, "image_size": 32, "width": 4, "z_dim": 8, "batch_size": 4, "steps": 2,
              "lr_max": 2e-3}
    trained = train_models(Run("gaia_attributes", params, tmp_path, torch.device("cpu")), x, progress=False)
    assert isinstance(trained["gaia"].model, GAIA) and isinstance(trained["ae"].model, L1Autoencoder)
    assert trained["ae"].model.optimizers["ae"].defaults["lr"] == pytest.approx(1e-3)  # GAIA's midpoint lr_max / 2
    for name in ("gaia", "ae"):
        assert (tmp_path / name / "history.json").is_file() and trained[name].history.losses[-1]["step"] == 2
    assert {"loss_G", "loss_D"} <= set(trained["gaia"].history.losses[-1])
    assert not trained["gaia"].history.evals  # no held-out faces given: nothing evaluated


def test_train_models_records_sharpness_along_training_without_changing_it(x, tmp_path):
    params = {**GAIA_ATTRIBUTES.defaults, "image_size": 32, "width": 4, "z_dim": 8, "batch_size": 4, "steps": 40,
              "lr_max": 2e-3}
    plain = train_models(Run("gaia_attributes", params, tmp_path / "plain", torch.device("cpu")), x, progress=False)
    watched = train_models(Run("gaia_attributes", params, tmp_path / "watched", torch.device("cpu")), x, x,
                           progress=False)
    for name in ("gaia", "ae"):
        steps, values = watched[name].history.series("sharpness")
        assert steps == list(range(2, 41, 2))  # 20 evaluations, the last at the final step
        assert values[-1] == pytest.approx(sharpness(watched[name].model.reconstruct(x).detach()))
        assert watched[name].history.losses == plain[name].history.losses  # evaluating draws no randomness
        conv = next(p for p in watched[name].model.parameters() if p.dim() == 4)
        assert conv.is_contiguous(memory_format=torch.channels_last)  # trained in the channels_last layout


# --- hand-computed cases -------------------------------------------------------------------------------------------

def sig(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_sigmoid_balancing_of_learning_rates():
    assert balanced_learning_rates(0.3, 0.3, 1e-4) == pytest.approx((5e-5, 5e-5))
    lr_d, lr_g = balanced_learning_rates(0.35, 0.30, 1e-4)  # D worse on real than on fakes: D gets more
    assert lr_d == pytest.approx(1e-4 * sig(1.0)) and lr_g == pytest.approx(1e-4 * (1 - sig(1.0)))
    lr_d, lr_g = balanced_learning_rates(torch.tensor(0.1), torch.tensor(0.4), 1.0)
    assert lr_d == pytest.approx(sig(-6.0)) and lr_g == pytest.approx(1 - sig(-6.0))


def test_discriminator_and_generator_losses_hand_computed():
    t = torch.tensor
    # p_f = sigmoid(20 (0.3 / 2 - 0.1)) = sigmoid(1); L_f = (0.2 + 0.3) / 2
    assert discriminator_loss(t(0.1), t(0.2), t(0.3)).item() == pytest.approx(0.1 - sig(1.0) * 0.25)
    assert discriminator_loss(t(0.0), t(0.2), t(1.0)).item() == pytest.approx(-0.9 * 0.6)  # p_f capped at 0.9
    assert discriminator_loss(t(3.0), t(0.0), t(0.0)).item() == pytest.approx(1.0)  # L_D clipped to [-1, 1]
    # p_s = sigmoid(20 (0.25 - 0.2)) = sigmoid(1)
    expected = sig(1.0) * 0.25 + (1 - sig(1.0)) * 0.2 + 5e-5 * 2.0
    assert generator_loss(t(0.2), t(0.25), t(2.0)).item() == pytest.approx(expected)
    assert generator_loss(t(0.2), t(0.25), t(2.0), dist_weight=0.0).item() == pytest.approx(expected - 1e-4)
    assert generator_loss(t(-5.0), t(-5.0), t(0.0)).item() == -1.0


def test_balancing_weights_carry_no_gradient():
    loss_r, loss_fr, loss_fs = (torch.tensor(v, requires_grad=True) for v in (0.1, 0.2, 0.3))
    discriminator_loss(loss_r, loss_fr, loss_fs).backward()
    p_f = sig(1.0)
    assert loss_r.grad.item() == pytest.approx(1.0)  # only the explicit L_r term
    assert loss_fr.grad.item() == pytest.approx(-p_f / 2) and loss_fs.grad.item() == pytest.approx(-p_f / 2)


def test_distance_loss_hand_computed():
    x = torch.tensor([[0.0], [1.0], [3.0]])  # squared distances 1, 9, 4: mean over the 9 ordered pairs 28 / 9
    z = torch.tensor([[0.0], [1.0], [2.0]])  # squared distances 1, 4, 1: mean 12 / 9
    d_x, d_z = [1 * 9 / 28, 9 * 9 / 28, 4 * 9 / 28], [1 * 9 / 12, 4 * 9 / 12, 1 * 9 / 12]
    expected = 2 * sum((math.log1p(a) - math.log1p(b)) ** 2 for a, b in zip(d_x, d_z)) / 9
    assert distance_loss(x, z).item() == pytest.approx(expected, rel=1e-5)
    assert distance_loss(5 * x, z / 3).item() == pytest.approx(expected, rel=1e-5)  # each space's own scale
    assert distance_loss(x, 7 * x).item() == pytest.approx(0.0, abs=1e-7)  # same geometry: no loss
    images = torch.randn(2, 3, 4, 4)
    assert distance_loss(images, torch.randn(2, 5)).item() == pytest.approx(0.0, abs=1e-7)  # two points always agree


def test_interpolation_scheme():
    z = torch.arange(4.0).view(4, 1)  # halves A = (0, 1), B = (2, 3)
    alpha = torch.tensor([[0.5], [0.25], [1.0], [0.0]])
    # rows: 0.5*0 + 0.5*2; 0.25*1 + 0.75*3; reversed A: 1*1 + 0*2; 0*0 + 1*3
    assert interpolate(z, alpha).flatten().tolist() == pytest.approx([1.0, 2.5, 1.0, 3.0])
    with pytest.raises(ValueError, match="even"):
        interpolate(torch.zeros(3, 2), torch.zeros(3, 1))
    alpha = draw_alpha(40000, torch.Generator().manual_seed(0))
    assert alpha.shape == (40000, 1)
    assert alpha.mean().item() == pytest.approx(0.5, abs=0.01) and alpha.std().item() == pytest.approx(0.25, abs=0.01)
    assert ((alpha < 0) | (alpha > 1)).float().mean().item() == pytest.approx(0.0455, abs=0.005)  # not clipped


# --- what follows the official code --------------------------------------------------------------------------------

def test_discriminator_has_no_bottleneck_and_decodes_from_a_spatial_map(x):
    """The official D skips the content encoder's linear layer: no flat code, a map at a quarter of the side."""
    model = fresh()
    assert not any(isinstance(m, torch.nn.Linear) for m in model.discriminator.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in model.generator.modules())  # G keeps its flat code z
    maps = []
    hook = model.discriminator.net[3].register_forward_hook(lambda m, i, o: maps.append(o))  # after two halvings
    model.discriminator(x)
    hook.remove()
    assert maps[0].shape == (B, 4, 8, 8)  # width 4: D's channels 2, then 4, at 32 / 4 = 8 px
    assert maps[0].numel() // B > model.generator.z_dim  # D's widest squeeze holds more numbers than G's code


def test_he_initialisation_and_the_official_adam_settings():
    torch.manual_seed(0)
    model = GAIA(size=32, width=16, z_dim=32)
    conv = model.generator.encoder[2]  # 16 -> 32 channels, 4x4: fan-in 256
    assert isinstance(conv, torch.nn.Conv2d) and conv.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    assert conv.bias.abs().max().item() == 0.0
    for opt in model.optimizers.values():
        assert opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["eps"] == 1e-8
    assert L1Autoencoder().optimizers["ae"].defaults["betas"] == (0.9, 0.999)


def test_load_data_gives_unit_range_pixels_and_a_clear_error_without_celeba(tmp_path):
    from acai_repro.errors import DataError
    from acai_repro.gaia.experiment import load_data

    train, test = load_data("faces", "", 32, 64, 32, seed=0)
    assert train.images.min() >= 0 and train.images.max() <= 1 and train.images.max() > 0.9
    assert len(train.images) == 64 and len(test.images) == 32
    with pytest.raises(DataError, match="prepare_celeba.py"):
        load_data("celeba", str(tmp_path / "missing.npz"), 32, 64, 32, seed=0)
    with pytest.raises(DataError, match="needs data_root"):
        load_data("celeba", "", 32, 64, 32, seed=0)
