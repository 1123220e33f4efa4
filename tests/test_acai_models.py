"""The seven autoencoders of ACAI's Table 1 and the official conv nets (acai_repro.acai.nets, acai_repro.acai.models).

tests/test_models.py runs the template every model passes; here: the lines settings, the optimisers, the probe,
and checks against hand-computed values: initialisation, the VQ-VAE's EMA codebook, the VAE loss, ACAI's critic loss
and the gradients each player receives.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.acai.acai import ACAI
from acai_repro.acai.base import Autoencoder
from acai_repro.acai.models import MODEL_NAMES, build_model
from acai_repro.acai.vqvae import EMACodebook
from acai_repro.data.lines import LinesSampler
from acai_repro.acai.nets import Critic, Decoder, Encoder, n_scales

B = 4
PLAYERS = {"baseline": {"ae"}, "dropout": {"ae"}, "denoising": {"ae"}, "vae": {"ae"}, "aae": {"ae", "disc"},
           "vqvae": {"ae"}, "acai": {"ae", "critic"}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return LinesSampler(B, seed=0).next()  # x (B, 1, 32, 32) in [-1, 1], label (B,) in 0..9


def fresh(name: str, seed: int = 0) -> Autoencoder:
    torch.manual_seed(seed)
    return build_model(name, n_classes=10)


def test_unknown_model_or_family():
    with pytest.raises(ValueError, match="unknown conv model 'wae'.*baseline.*acai"):
        build_model("wae")
    with pytest.raises(ValueError, match="unknown family"):
        build_model("acai", family="rnn")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_lines_shapes(name, batch):
    model, (x, _) = fresh(name), batch
    z = model.encode(x)
    assert z.shape == ((B, 16, 4, 4) if name == "vqvae" else (B, 16, 2, 2))  # lines: 16 x 2 x 2, VQ-VAE 4 x 4
    assert model.decode(z).shape == model.reconstruct(x).shape == (B, 1, 32, 32)
    assert model.classify(x).shape == (B, 10)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_optimizers_partition_parameters(name):
    model = fresh(name)
    assert set(model.optimizers) == PLAYERS[name] | {"probe"}
    owned = [p for opt in model.optimizers.values() for group in opt.param_groups for p in group["params"]]
    assert len(owned) == len({id(p) for p in owned})  # no parameter trained by two players
    assert {id(p) for p in owned} == {id(p) for p in model.parameters()}  # and none left untrained
    for opt in model.optimizers.values():
        assert isinstance(opt, torch.optim.Adam)
        assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["eps"] == 1e-8
    assert "probe" not in build_model(name).optimizers  # no n_classes, no probe


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_player_follows_the_learning_rate(name):
    """A profile's lr reaches every player (the AAE's discriminator, ACAI's critic, the probe), as in the official
    runs, where all of them share one rate."""
    model = build_model(name, depth=4, n_classes=10, lr=1e-3)
    assert {opt.defaults["lr"] for opt in model.optimizers.values()} == {1e-3}
    if name == "aae":  # a deliberate departure stays possible
        assert build_model(name, depth=4, lr=1e-3, disc_lr=1e-4).optimizers["disc"].defaults["lr"] == 1e-4


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_probe_trains_only_on_labelled_batches(name, batch):
    x, label = batch
    model = fresh(name)
    assert "loss_probe" in model.train_step(x, label)
    if name == "vqvae":  # the codebook learns by moving averages, in train_step
        before = copy.deepcopy(model.codebook.state_dict())
        model.train_step(x, label)
        assert all(not torch.equal(before[k], v) for k, v in model.codebook.state_dict().items())
    # Without labels the probe is left alone (and reports nothing), everything else still trains.
    probe = copy.deepcopy(model.probe.state_dict())
    encoder = copy.deepcopy(model.encoder.state_dict())
    assert "loss_probe" not in model.train_step(x)
    assert all(torch.equal(probe[k], v) for k, v in model.probe.state_dict().items())
    assert not all(torch.equal(encoder[k], v) for k, v in model.encoder.state_dict().items())


# --- the official conv nets ----------------------------------------------------------------------------------------

def conv_shapes(net: nn.Module) -> list[tuple[int, int, int]]:
    return [(m.in_channels, m.out_channels, m.kernel_size[0]) for m in net.modules() if isinstance(m, nn.Conv2d)]


def test_lines_architecture():
    assert n_scales(2) == 4 and n_scales(4) == 3 and n_scales(32) == 0
    for bad in (0, 3, 64):
        with pytest.raises(ValueError, match="latent_width"):
            n_scales(bad)
    assert conv_shapes(Encoder(4, 16, 16)) == [
        (1, 16, 1), (16, 16, 3), (16, 16, 3), (16, 32, 3), (32, 32, 3), (32, 64, 3), (64, 64, 3),
        (64, 128, 3), (128, 128, 3), (128, 256, 3), (256, 16, 3)]
    assert conv_shapes(Decoder(4, 16, 16)) == [
        (16, 128, 3), (128, 128, 3), (128, 64, 3), (64, 64, 3), (64, 32, 3), (32, 32, 3), (32, 16, 3),
        (16, 16, 3), (16, 16, 3), (16, 1, 3)]
    encoder = Encoder(4, 16, 16)
    assert [type(m) for m in encoder].count(nn.AvgPool2d) == 4
    upsample = [m for m in Decoder(4, 16, 16) if isinstance(m, nn.Upsample)]
    assert len(upsample) == 4 and all(m.mode == "nearest" and m.scale_factor == 2 for m in upsample)
    assert Critic(4, 16, 16)(torch.zeros(3, 1, 32, 32)).shape == (3,)


def test_initialisation_statistics():
    torch.manual_seed(0)
    nets = {"encoder": Encoder(4, 16, 16), "decoder": Decoder(4, 16, 16), "critic": Critic(4, 16, 16)}
    standardised = []
    for net in nets.values():
        slopes = [m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)]
        assert slopes == [0.2] * 9  # 2 per scale + 1, all with TensorFlow's slope (PyTorch's default is 0.01)
        for conv in (m for m in net.modules() if isinstance(m, nn.Conv2d)):
            c_out, c_in, kh, kw = conv.weight.shape
            expected = 1 / math.sqrt(1.04 * kh * kw * c_in)  # N(0, 1 / ((1 + 0.2^2) fan_in))
            assert torch.count_nonzero(conv.bias) == 0
            if conv.weight.numel() >= 2000:
                assert conv.weight.std().item() == pytest.approx(expected, rel=0.06), conv
            assert abs(conv.weight.mean().item()) < 4 * expected / math.sqrt(conv.weight.numel())
            standardised.append((conv.weight / expected).flatten())
    assert torch.cat(standardised).std().item() == pytest.approx(1.0, rel=0.01)


# --- hand-computed cases -------------------------------------------------------------------------------------------

def test_vqvae_ema_codebook_hand_computed():
    book = EMACodebook(n_codes=3, dim=2, decay=0.5, eps=0.1)
    book.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    book.ema_sum.copy_(book.codebook)  # the official start: m = e, N = 0
    x = torch.tensor([[0.1, 0.0], [0.9, 0.2], [1.1, -0.2], [0.0, 0.2]])
    index = book.nearest(x)
    assert index.tolist() == [0, 1, 1, 0]  # code 2 unused
    book.update(x, index)
    # N = 0.5 * 0 + 0.5 * (2, 2, 0) = (1, 1, 0);  m = 0.5 * e + 0.5 * (sums (0.1, 0.2), (2, 0), (0, 0))
    assert book.ema_count.tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert book.ema_sum.flatten().tolist() == pytest.approx([0.05, 0.1, 1.5, 0.0, 0.0, 0.5])
    # n = 2; smoothed N = (N + 0.1) / (2 + 3 * 0.1) * 2 = (2.2, 2.2, 0.2) / 2.3; e = m / smoothed N
    expected = [0.05 * 2.3 / 2.2, 0.1 * 2.3 / 2.2, 1.5 * 2.3 / 2.2, 0.0, 0.0, 0.5 * 2.3 / 0.2]
    assert book.codebook.flatten().tolist() == pytest.approx(expected)


def test_vqvae_commitment_and_straight_through(batch):
    x, _ = batch
    model = build_model("vqvae", latent_width=2, n_codes=8, num_latents=2)  # z_e of 16 x 2 x 2 = 64
    z = model.encoder(x).detach().requires_grad_()
    z_e, e, index, h = model.bottleneck(z)
    assert z_e.shape == (2 * B, 64) and index.shape == (2 * B,) and h.shape == (B, 64)
    assert torch.equal(e, model.codebook.codebook[index])
    distances = torch.cdist(z_e.detach(), model.codebook.codebook)
    assert torch.equal(index, distances.argmin(1))
    h.sum().backward()  # straight-through: the gradient reaches the encoder's code through the quantisation
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_vae_loss_hand_computed():
    x = torch.tensor([[-1.0, 1.0], [1.0, 0.0]])  # Bernoulli targets (x + 1) / 2 = (0, 1), (1, 0.5)
    logits = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])
    mu = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    log_var = torch.tensor([[0.0, 0.0], [0.0, math.log(2)]])
    nll, kl = build_model("vae").loss_terms(x, logits, mu, log_var)
    # -log Bern(t; sigmoid(l)) = softplus(l) - t l: log 2 three times, and log 4 - log 3 for (t, l) = (1, log 3)
    assert nll.item() == pytest.approx((3 * math.log(2) + math.log(4 / 3)) / 2)
    # 1/2 sum (mu^2 + sigma^2 - log sigma^2 - 1) = 1/2 (0 + 1 + 4 + (1 - log 2)), over a batch of 2
    assert kl.item() == pytest.approx((6 - math.log(2)) / 4)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * log_var).exp()),
                                                  torch.distributions.Normal(0.0, 1.0))
    assert kl.item() == pytest.approx(reference.sum().item() / 2)


class PixelMean(nn.Module):
    """A critic whose answer is easy to predict: the mean pixel of each image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))


def test_acai_alpha_mix_and_critic_loss_hand_computed():
    torch.manual_seed(0)
    model = build_model("acai")
    alpha = model.draw_alpha(20000, torch.device("cpu"))
    assert alpha.shape == (20000, 1, 1, 1) and alpha.min() >= 0 and alpha.max() <= 0.5
    assert alpha.mean().item() == pytest.approx(0.25, abs=0.005)  # U[0, 1/2]
    assert (alpha < 0.125).float().mean().item() == pytest.approx(0.25, abs=0.01)

    alpha = torch.tensor([0.1, 0.2, 0.3, 0.4]).view(4, 1, 1, 1)
    z = torch.arange(4.0).view(4, 1, 1, 1)
    assert ACAI.mix(z, alpha).flatten().tolist() == pytest.approx([2.7, 1.8, 1.3, 1.2])  # alpha z + (1-alpha) z[::-1]

    model.critic = PixelMean()
    constant = lambda values: torch.tensor(values).view(4, 1, 1, 1).expand(4, 1, 32, 32)  # noqa: E731
    x, x_hat, x_mix = constant([1.0, 1.0, -1.0, -1.0]), constant([0.0, 0.5, 0.0, -0.5]), constant([0.1, 0, 0.5, 0.4])
    loss_alpha, loss_reg = model.critic_losses(x, x_hat, x_mix, alpha)
    assert loss_alpha.item() == pytest.approx((0 + 0.04 + 0.04 + 0) / 4)  # d(x_mix) - alpha = 0, -0.2, 0.2, 0
    assert loss_reg.item() == pytest.approx((0.04 + 0.36 + 0.04 + 0.36) / 4)  # 0.2 x + 0.8 x_hat = +-0.2, +-0.6


@pytest.mark.parametrize("name", ["acai", "aae"])
def test_each_player_gets_only_its_own_gradient(name, batch):
    """After train_step each player's .grad equals the gradient of its own loss at the weights before the step."""
    x, _ = batch
    model = fresh(name)
    alpha = torch.tensor([0.1, 0.5, 0.3, 0.0]).view(B, 1, 1, 1)
    model.draw_alpha = lambda batch_size, device: alpha
    ref = copy.deepcopy(model)
    torch.manual_seed(5)
    losses = model.train_step(x)

    torch.manual_seed(5)
    z = ref.encoder(x)
    x_hat = ref.decoder(z)
    if name == "acai":
        other_key = "critic"
        x_mix = ref.decoder(alpha * z + (1 - alpha) * z.flip(0))
        loss_ae = F.mse_loss(x_hat, x) + 0.5 * ref.critic(x_mix).pow(2).mean()
        loss_other = ((ref.critic(x_mix.detach()) - alpha.flatten()).pow(2).mean()
                      + ref.critic(0.2 * x + 0.8 * x_hat.detach()).pow(2).mean())
    else:
        other_key = "disc"
        loss_ae = F.mse_loss(x_hat, x) + F.softplus(-ref.discriminator(z)).mean()  # -log sigmoid(D(z))
        z_prior = torch.randn_like(z)
        loss_other = F.softplus(-ref.discriminator(z_prior)).mean() + F.softplus(ref.discriminator(z.detach())).mean()
    assert losses["loss_ae"].item() == pytest.approx(loss_ae.item(), rel=1e-5)
    assert losses[f"loss_{other_key}"].item() == pytest.approx(loss_other.item(), rel=1e-5)
    trained = dict(model.named_parameters())
    ae_names = [n for n, _ in ref.named_parameters() if n.startswith(("encoder.", "decoder."))]
    for names, loss in ((ae_names, loss_ae), ([n for n, _ in ref.named_parameters() if n not in ae_names
                                                and not n.startswith("probe.")], loss_other)):
        grads = torch.autograd.grad(loss, [dict(ref.named_parameters())[n] for n in names], allow_unused=True)
        for n, g in zip(names, grads):
            assert g is not None, n
            torch.testing.assert_close(trained[n].grad, g, rtol=1e-4, atol=1e-7, msg=n)


def test_training_corruptions(batch):
    """Dropout and input noise are the only differences from the baseline, and only in train_step."""
    x, _ = batch
    baseline = fresh("baseline")
    reference = baseline.train_step(x)["loss_ae"]
    for name, off, on in (("dropout", {"keep": 1.0}, {"keep": 0.5}), ("denoising", {"noise": 0.0}, {"noise": 1.0})):
        for kwargs, same in ((off, True), (on, False)):
            torch.manual_seed(0)
            model = build_model(name, n_classes=10, **kwargs)
            assert torch.equal(model.encode(x), model.encode(x))  # no corruption outside training
            assert torch.equal(model.train_step(x)["loss_ae"], reference) == same, (name, kwargs)
    with pytest.raises(ValueError, match="keep"):
        build_model("dropout", keep=0.0)


def test_vae_encode_samples_and_decode_range(batch):
    x, _ = batch
    model = fresh("vae")
    _, mu, log_var = model.posterior(x)
    z1, z2 = model.encode(x), model.encode(x)
    assert not torch.equal(z1, z2)  # sampled codes, as the official evaluation interpolates
    spread = (z1 - mu.view_as(z1)) / (0.5 * log_var).exp().view_as(z1)  # the standard normal eps
    assert spread.std().item() == pytest.approx(1.0, abs=0.3)
    x_hat = model.decode(z1)
    assert x_hat.min() >= -1 and x_hat.max() <= 1  # 2 sigmoid(logits) - 1


def test_probe_errors(batch):
    x, label = batch
    model = build_model("baseline")
    with pytest.raises(ValueError, match="no probe"):
        model.train_step(x, label)
    with pytest.raises(ValueError, match="without a probe"):
        model.classify(x)
    with pytest.raises(ValueError, match="n_classes"):
        build_model("acai", n_classes=1)


def test_vae_and_vqvae_train_step_losses_combine_their_terms(batch):
    """The VAE minimises nll + beta kl (beta 1); the VQ-VAE mse + beta commitment (beta 10), then updates its
    codebook by one EMA step from the codes of the batch *before* the autoencoder step."""
    x, _ = batch
    vae = fresh("vae")
    losses = vae.train_step(x)
    assert losses["loss_ae"].item() == pytest.approx((losses["nll"] + losses["kl"]).item(), rel=1e-6)

    vq = fresh("vqvae")
    reference = copy.deepcopy(vq.codebook)
    with torch.no_grad():
        z_e, _, index, _ = vq.bottleneck(vq.encoder(x))
    reference.update(z_e, index)
    losses = vq.train_step(x)
    assert losses["loss_ae"].item() == pytest.approx((losses["mse"] + 10 * losses["loss_commit"]).item(), rel=1e-6)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(vq.codebook.state_dict()[name], value, msg=name)
