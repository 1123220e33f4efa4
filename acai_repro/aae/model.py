r"""The adversarial autoencoder and its two baselines, with MLPs on MNIST (Makhzani et al. 2015, arXiv:1511.05644).

The AAE matches the *aggregated posterior* q(z) = \int q(z|x) p_d(x) dx to a prior p(z) by a GAN on the codes. Each
mini-batch runs two phases, written here as three visible updates (each its own zero_grad / backward / step):

1. reconstruction: encoder q and decoder p minimise the reconstruction error
   L_rec = BCE(p(q(x)), x) (pixels in [0, 1], mean over pixels and batch);
2. regularisation, discriminator: d learns prior samples (real) from codes (fake), the encoder held fixed:
   L_d = -E_{z ~ p(z)} log d(z) - E_x log(1 - d(q(x)));
3. regularisation, generator: the encoder alone is updated to fool d, d held fixed (:func:`frozen`):
   L_g = -E_x log d(q(x)).

Label-conditioned variant (section 2.3): d also reads an 11-way one-hot, the image's label or the 11th class
"unlabelled". For the real samples the one-hot names the component each was drawn from: a labelled image's own class
component, or the full mixture for an unlabelled one; for the codes it is the image's label. So d learns one decision
boundary per label, and the encoder must put each labelled digit into its own component.

Baselines with the same networks: :class:`VAE` (the encoder also outputs log sigma^2; Gaussian prior, analytic KL) and
:class:`PlainAutoencoder` (phase 1 only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.aae.priors import N_COMPONENTS, UNLABELLED, GaussianPrior, Prior
from acai_repro.common.mlp import mlp
from acai_repro.common.model import Model
from acai_repro.common.players import Optimizers, frozen, update

N_CLASSES = N_COMPONENTS + 1  # 10 labels + "unlabelled"
IMAGE = 28 * 28


def mlp_net(n_in: int, hidden: int, n_out: int, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ReLU layers of ``hidden`` units, then a linear output (the paper: 1000-1000)."""
    return mlp([n_in, *[hidden] * layers, n_out])


def one_hot_11(label: torch.Tensor) -> torch.Tensor:
    """(B,) labels in 0..9 or -1 (unlabelled) -> (B, 11) one-hot; -1 switches on the 11th class."""
    index = torch.where(label == UNLABELLED, torch.full_like(label, N_COMPONENTS), label)
    return F.one_hot(index, N_CLASSES).float()


class MLPAutoencoder(Model):
    """Encoder q: x (B, 1, 28, 28) -> z (B, z_dim); decoder p: z -> pixel logits -> x_hat in [0, 1]."""

    def __init__(self, z_dim: int = 2, hidden: int = 1000, layers: int = 2, lr: float = 1e-3,
                 code_outputs: int = 1) -> None:
        super().__init__()
        self.z_dim, self.lr = z_dim, lr
        self.encoder = mlp_net(IMAGE, hidden, code_outputs * z_dim, layers)
        self.decoder = mlp_net(z_dim, hidden, IMAGE, layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = q(x): (B, 1, 28, 28) -> (B, z_dim), deterministic."""
        return self.encoder(x.flatten(1))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x_hat = p(z): (B, z_dim) -> (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def reconstruction_step(self, x: torch.Tensor) -> torch.Tensor:
        """Phase 1: encoder and decoder minimise L_rec = BCE(p(q(x)), x)."""
        loss_rec = F.binary_cross_entropy_with_logits(self.decode_logits(self.encode(x)), x)
        return update(self.optimizers["ae"], loss_rec)


class PlainAutoencoder(MLPAutoencoder):
    """The same encoder and decoder with no regularisation of the codes: phase 1 only."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.optimizers = Optimizers(ae=torch.optim.Adam(self.parameters(), lr=self.lr))

    def train_step(self, x, label=None):
        """Phase 1 only; labels are not used."""
        return {"loss_rec": self.reconstruction_step(x)}


class AAE(MLPAutoencoder):
    """Adversarial autoencoder; ``conditioned=True`` gives the discriminator the 11-way label one-hot."""

    def __init__(self, prior: Prior, conditioned: bool = False, lr_adv: float = 1e-3, **kwargs) -> None:
        super().__init__(z_dim=prior.dim, **kwargs)
        if conditioned and prior.n_components != N_COMPONENTS:
            raise ValueError(f"the label-conditioned AAE needs a prior with {N_COMPONENTS} components; "
                             f"the {prior.name} prior has {prior.n_components}")
        self.prior, self.conditioned = prior, conditioned
        hidden, layers = self.encoder[0].out_features, (len(self.encoder) - 1) // 2
        self.discriminator = mlp_net(prior.dim + (N_CLASSES if conditioned else 0), hidden, 1, layers)
        adam = torch.optim.Adam  # betas (0.5, 0.999) for the two adversarial players, as in DCGAN / PyTorch-GAN
        self.optimizers = Optimizers(
            ae=adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=self.lr),
            disc=adam(self.discriminator.parameters(), lr=lr_adv, betas=(0.5, 0.999)),
            gen=adam(self.encoder.parameters(), lr=lr_adv, betas=(0.5, 0.999)))

    def discriminate(self, z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        """d's logit (B,) that z came from the prior; the conditioned d also reads one_hot_11(label)."""
        if self.conditioned:
            z = torch.cat([z, one_hot_11(label)], 1)  # (B, z_dim + 11)
        return self.discriminator(z).squeeze(1)

    def train_step(self, x, label=None):
        """Phase 1, then d's step, then the encoder's step as generator. ``label`` (B,): 0..9, or -1 unlabelled;
        only the conditioned model reads it (None: every image unlabelled)."""
        if not self.conditioned:
            label = None
        elif label is None:
            label = torch.full((len(x),), UNLABELLED, device=x.device)
        loss_rec = self.reconstruction_step(x)

        # 2. Discriminator: real = prior samples (from the image's label component, or the full prior if
        #    unlabelled), fake = codes; the encoder is held fixed through .detach().
        z_real = self.prior.sample(len(x), label.cpu() if self.conditioned else None).to(x.device)  # (B, z_dim)
        z_fake = self.encode(x).detach()  # (B, z_dim)
        logit_real, logit_fake = self.discriminate(z_real, label), self.discriminate(z_fake, label)
        loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                  + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        update(self.optimizers["disc"], loss_d)

        # 3. Generator: the encoder makes d call its codes real; d is frozen (its gradient flows to z only).
        with frozen(self.discriminator):
            logit_gen = self.discriminate(self.encode(x), label)
        loss_g = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
        update(self.optimizers["gen"], loss_g)
        return {"loss_rec": loss_rec, "loss_d": loss_d.detach(), "loss_g": loss_g.detach()}


class VAE(MLPAutoencoder):
    r"""Variational autoencoder with the same networks: q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I).

    The negative ELBO per image: L = sum_pixels BCE(p(z), x) + KL(q(z|x) || N(0, I)), with z = mu + sigma eps
    (reparameterisation) and KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2). ``encode`` returns mu, the
    code shown in the figures.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(code_outputs=2, **kwargs)
        self.prior = GaussianPrior(self.z_dim)
        self.optimizers = Optimizers(ae=torch.optim.Adam(self.parameters(), lr=self.lr))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log sigma^2), each (B, z_dim)."""
        return self.encoder(x.flatten(1)).chunk(2, dim=1)

    def encode(self, x):
        return self.posterior(x)[0]

    def train_step(self, x, label=None):
        mu, logvar = self.posterior(x)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)  # reparameterised sample of q(z|x)
        # sum over pixels and code dimensions, mean over the batch: the negative ELBO per image
        nll = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        loss = nll + kl
        update(self.optimizers["ae"], loss)
        return {"loss_rec": nll.detach() / IMAGE, "kl": kl.detach(), "loss_vae": loss.detach()}


MODELS = ("aae", "vae", "ae")


def build_model(name: str, prior: Prior, n_labels: int = 0, hidden: int = 1000, layers: int = 2,
                lr: float = 1e-3, lr_adv: float = 1e-3) -> MLPAutoencoder:
    """``aae`` (label-conditioned when ``n_labels`` > 0), ``vae`` (Gaussian prior only) or ``ae``."""
    if name == "aae":
        return AAE(prior, conditioned=n_labels > 0, lr_adv=lr_adv, hidden=hidden, layers=layers, lr=lr)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    if n_labels > 0:
        raise ValueError(f"n_labels={n_labels}: only the aae uses labels (its conditioned discriminator)")
    if name == "vae":
        if not isinstance(prior, GaussianPrior):
            raise ValueError(f"the vae needs the prior's density in closed form: use the gaussian prior, "
                             f"not {prior.name!r} (an AAE only needs samples)")
        return VAE(z_dim=prior.dim, hidden=hidden, layers=layers, lr=lr)
    return PlainAutoencoder(z_dim=prior.dim, hidden=hidden, layers=layers, lr=lr)
