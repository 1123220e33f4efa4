r"""The five non-quantised baselines of ACAI's Table 1, as the official code trains them.

All use the official conv encoder f and decoder g (:class:`~acai_repro.acai.base.Autoencoder`), Adam 1e-4,
and the probe on the stop-gradient clean code f(x). Files: ``baseline.py``, ``dropout.py``, ``denoising.py``,
``vae.py``, ``aae.py`` of brain-research/acai.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.nets import LEAKY_SLOPE
from acai_repro.common.mlp import dense, glorot_uniform, mlp
from acai_repro.common.players import adam, frozen, update


class Baseline(Autoencoder):
    """Plain autoencoder: minimise MSE(x, g(f(x))). One optimiser, "ae". Arguments: see :class:`Autoencoder`."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.optimizers = self.make_optimizers(ae=self.autoencoder_parameters())

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.encoder(x)  # (B, 16, 2, 2)
        loss_ae = F.mse_loss(self.decoder(z), x)
        update(self.optimizers["ae"], loss_ae)
        return {"loss_ae": loss_ae.detach(), **self.probe_step(z, label)}


class DropoutAE(Baseline):
    """Dropout autoencoder: MSE(x, g(dropout(f(x)))), each latent unit kept with probability ``keep`` (scaled by
    1 / keep) during training only; :meth:`encode` returns the clean code."""

    def __init__(self, *, keep: float = 0.5, **kwargs) -> None:  # keep: official dropout 0.5 (keep probability)
        if not 0 < keep <= 1:
            raise ValueError(f"DropoutAE keep must be in (0, 1], got {keep!r}")
        super().__init__(**kwargs)
        self.keep = keep

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.encoder(x)  # (B, 16, 2, 2)
        z_drop = F.dropout(z, p=1 - self.keep, training=True)  # elementwise, so flattening first changes nothing
        loss_ae = F.mse_loss(self.decoder(z_drop), x)
        update(self.optimizers["ae"], loss_ae)
        return {"loss_ae": loss_ae.detach(), **self.probe_step(z, label)}


class DenoisingAE(Baseline):
    """Denoising autoencoder: MSE(x, g(f(x + noise * eps))), eps ~ N(0, I); the target is the clean x."""

    def __init__(self, *, noise: float = 1.0, **kwargs) -> None:  # noise: official std 1.0 (images in [-1, 1])
        super().__init__(**kwargs)
        self.noise = noise

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x_noisy = x + self.noise * torch.randn_like(x)
        loss_ae = F.mse_loss(self.decoder(self.encoder(x_noisy)), x)
        with torch.no_grad():  # the probe reads the clean code f(x), before this batch's update (official)
            z_clean = self.encoder(x) if label is not None else None  # computed only when the probe trains
        update(self.optimizers["ae"], loss_ae)
        return {"loss_ae": loss_ae.detach(), **self.probe_step(z_clean, label)}


class VAEBaseline(Autoencoder):
    r"""Variational autoencoder with a Bernoulli likelihood on (x + 1) / 2 and the decoder output as logits.

    Dense heads on the flattened conv code h = f(x) give q(z|x) = N(mu, diag sigma^2); z = mu + sigma eps.
    Loss (the official negative ELBO, summed over dimensions, averaged over the batch):

    .. math:: L = -\sum_i \log \mathrm{Bern}((x_i + 1)/2;\ \sigma(g(z)_i))
              + \beta \cdot \tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1)

    :meth:`encode` returns a *sample* of q(z|x), as the official evaluation interpolates sampled codes;
    :meth:`decode` returns 2 sigmoid(g(z)) - 1 in [-1, 1].
    """

    def __init__(self, *, beta: float = 1.0, **kwargs) -> None:  # beta: weight of the KL term (official 1.0)
        super().__init__(**kwargs)
        self.beta = beta
        n = self.latent_shape[0] * self.latent_shape[1] * self.latent_shape[2]  # C w w = 64 on the lines
        self.mu = dense(n, n)  # head for mu (official dense on the flattened code)
        self.log_var = dense(n, n)  # head for log sigma^2
        self.optimizers = self.make_optimizers(ae=self.autoencoder_parameters())

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [*super().autoencoder_parameters(), *self.mu.parameters(), *self.log_var.parameters()]

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h, mu, log sigma^2): the conv code (B, C, w, w) and the (B, C w w) parameters of q(z|x)."""
        h = self.encoder(x)
        return h, self.mu(h.flatten(1)), self.log_var(h.flatten(1))

    def sample(self, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma eps, reshaped to (B, C, w, w) for the decoder."""
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        return z.view(-1, *self.latent_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _, mu, log_var = self.posterior(x)
        return self.sample(mu, log_var)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sigmoid(self.decoder(z)) - 1

    @staticmethod
    def loss_terms(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor,
                   log_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(nll, kl), each summed over dimensions and averaged over the batch."""
        batch = x.shape[0]
        nll = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum") / batch  # -log p(x|z)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1).sum() / batch  # KL(q(z|x) || N(0, I))
        return nll, kl

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h, mu, log_var = self.posterior(x)
        nll, kl = self.loss_terms(x, self.decoder(self.sample(mu, log_var)), mu, log_var)
        loss_ae = nll + self.beta * kl  # negative ELBO
        update(self.optimizers["ae"], loss_ae)
        return {"loss_ae": loss_ae.detach(), "nll": nll.detach(), "kl": kl.detach(), **self.probe_step(h, label)}


class AAEBaseline(Autoencoder):
    r"""Adversarial autoencoder (Makhzani et al. 2015) as a Table 1 baseline: a discriminator D on the flattened
    code tells z = f(x) from prior samples z ~ N(0, I); the autoencoder minimises MSE plus the non-saturating GAN
    loss -log sigmoid(D(f(x))) (weight 1). Optimisers "ae" and "disc".
    """

    def __init__(
        self,
        *,
        disc_sizes: tuple[int, ...] = (100, 100),  # official disc_layer_sizes "100,100", LeakyReLU(0.2) after each
        disc_lr: float | None = None,  # None: the model's lr, as the official runs (lr = adversary_lr = 1e-4)
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        disc_lr = self.lr if disc_lr is None else disc_lr
        latent, w = self.latent_shape[0], self.latent_shape[1]
        self.discriminator = nn.Sequential(nn.Flatten(), *mlp(  # (B, C, w, w) -> (B, 1), TF dense layers
            [latent * w * w, *disc_sizes, 1], lambda: nn.LeakyReLU(LEAKY_SLOPE), glorot_uniform, glorot_uniform))
        self.optimizers = self.make_optimizers(ae=self.autoencoder_parameters())
        self.optimizers["disc"] = adam(self.discriminator.parameters(), disc_lr)

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One batch: (1) autoencoder step, (2) discriminator step, (3) probe step if labelled."""
        z = self.encoder(x)  # (B, 16, 2, 2)
        mse = F.mse_loss(self.decoder(z), x)

        # 1. Autoencoder: reconstruct, and have D take the codes for prior samples (label 1).
        with frozen(self.discriminator):
            logit_z = self.discriminator(z)
        loss_ae_adv = F.binary_cross_entropy_with_logits(logit_z, torch.ones_like(logit_z))
        loss_ae = mse + loss_ae_adv
        update(self.optimizers["ae"], loss_ae)

        # 2. Discriminator: prior samples -> 1, codes -> 0; the encoder is frozen through .detach().
        logit_prior = self.discriminator(torch.randn_like(z))
        logit_z = self.discriminator(z.detach())
        loss_disc = (F.binary_cross_entropy_with_logits(logit_prior, torch.ones_like(logit_prior))
                     + F.binary_cross_entropy_with_logits(logit_z, torch.zeros_like(logit_z)))
        update(self.optimizers["disc"], loss_disc)

        return {"loss_ae": loss_ae.detach(), "mse": mse.detach(), "loss_ae_adv": loss_ae_adv.detach(),
                "loss_disc": loss_disc.detach(), **self.probe_step(z, label)}
