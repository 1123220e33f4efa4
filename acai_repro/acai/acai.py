r"""ACAI: the adversarially constrained autoencoder interpolation (Berthelot et al. 2019, arXiv:1807.07543).

A critic d learns to recover the mixing coefficient alpha from a decoded interpolant, and the autoencoder learns
to make interpolants the critic cannot tell from reconstructions. With z = f(x), x_hat = g(z) and
alpha ~ U[0, 1/2] per example, paired by reversing the batch (x_2 = x.flip(0)):

.. math::

    \hat{x}_\alpha = g(\alpha z_1 + (1 - \alpha) z_2)

    L_{f,g} = \|x - g(f(x))\|^2 + \lambda \|d(\hat{x}_\alpha)\|^2

    L_d = \|d(\hat{x}_\alpha) - \alpha\|^2 + \|d(\gamma x + (1 - \gamma) g(f(x)))\|^2

Squared norms are means over the batch (and pixels for the reconstruction). The second critic term teaches d to
answer 0 on non-interpolated images; mixing in a share gamma of the real x shows it realistic images even while the
reconstructions are still poor (it never sees a pure x). Exactly as the official ``acai.py``: alpha = 0.5 - |u - 0.5| with u ~ U(0, 1), the critic's target is the
per-example scalar alpha, and the critic trains on stop-gradient images (its ``var_list`` excludes f and g).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.acai.base import Autoencoder
from acai_repro.acai.nets import Critic
from acai_repro.common.players import frozen, update


class ACAI(Autoencoder):
    """Official conv autoencoder + conv critic trained by the ACAI game; two Adam optimisers, "ae" and "critic"."""

    def __init__(
        self,
        *,
        lambda_: float = 0.5,  # lambda, weight of the critic term in L_{f,g} (official advweight 0.5)
        gamma: float = 0.2,  # gamma, share of x in the critic's regularising mix (official reg 0.2)
        critic_depth: int | None = None,  # official advdepth; 0 / None means the autoencoder's depth
        **kwargs,  # shared arguments of Autoencoder (depth, latent_width, latent, lr, n_classes, ...)
    ) -> None:
        super().__init__(**kwargs)
        self.lambda_ = lambda_
        self.gamma = gamma
        self.critic = self.make_critic(critic_depth or self.depth)
        self.optimizers = self.make_optimizers(ae=self.autoencoder_parameters(), critic=self.critic.parameters())

    def make_critic(self, depth: int) -> nn.Module:
        """d: (B, colors, H, W) -> (B,), the official conv critic; a family with other networks overrides this."""
        return Critic(self.scales, depth, self.latent_shape[0], self.colors)

    def draw_alpha(self, batch: int, device: torch.device) -> torch.Tensor:
        """alpha = 1/2 - |u - 1/2|, u ~ U(0, 1): one coefficient per example in [0, 1/2], shaped (B, 1, 1, 1)."""
        u = torch.rand(batch, 1, 1, 1, device=device)
        return 0.5 - (u - 0.5).abs()

    @staticmethod
    def mix(z: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """z_mix = alpha z + (1 - alpha) z.flip(0): each code mixed with its partner in the reversed batch."""
        return alpha * z + (1 - alpha) * z.flip(0)

    def critic_losses(self, x: torch.Tensor, x_hat: torch.Tensor, x_mix: torch.Tensor,
                      alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two terms of L_d: (mean (d(x_mix) - alpha)^2, mean d(gamma x + (1 - gamma) x_hat)^2).

        Pass detached x_hat and x_mix: the critic's loss must not train the autoencoder.
        """
        loss_alpha = (self.critic(x_mix) - alpha.flatten()).pow(2).mean()  # target: the per-example scalar alpha
        x_reg = self.gamma * x + (1 - self.gamma) * x_hat  # official: ae + reg * (x - ae)
        loss_reg = self.critic(x_reg).pow(2).mean()
        return loss_alpha, loss_reg

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One batch: (1) autoencoder step on L_{f,g}, (2) critic step on L_d, (3) probe step if labelled."""
        alpha = self.draw_alpha(x.shape[0], x.device)  # (B, 1, 1, 1)
        z = self.encoder(x)  # (B, 16, 2, 2)
        x_hat = self.decoder(z)  # (B, 1, 32, 32)
        x_mix = self.decoder(self.mix(z, alpha))  # (B, 1, 32, 32), decoded interpolants

        # 1. Autoencoder: reconstruct, and make the critic answer 0 (i.e. "not an interpolant") on x_mix.
        mse = F.mse_loss(x_hat, x)
        with frozen(self.critic):
            loss_ae_critic = self.critic(x_mix).pow(2).mean()
        loss_ae = mse + self.lambda_ * loss_ae_critic
        update(self.optimizers["ae"], loss_ae)

        # 2. Critic: regress alpha on interpolants, 0 on the gamma mix; f and g frozen through .detach().
        loss_alpha, loss_reg = self.critic_losses(x, x_hat.detach(), x_mix.detach(), alpha)
        loss_critic = loss_alpha + loss_reg
        update(self.optimizers["critic"], loss_critic)

        return {"loss_ae": loss_ae.detach(), "mse": mse.detach(), "loss_ae_critic": loss_ae_critic.detach(),
                "loss_critic": loss_critic.detach(), "loss_critic_alpha": loss_alpha.detach(),
                "loss_critic_reg": loss_reg.detach(), **self.probe_step(z, label)}
