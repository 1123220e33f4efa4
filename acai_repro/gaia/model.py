r"""GAIA: a GAN whose generator and discriminator are both autoencoders (Sainburg et al. 2018, arXiv:1807.06650).

One :meth:`GAIA.train_step` on a batch x (B even):

1. the generator's forward pass: z = G_enc(x), the reconstruction G(x) = G_dec(z), interpolated codes z_i between
   the batch halves (:func:`~acai_repro.gaia.losses.interpolate`) and their decodings G(z_i);
2. the discriminator's view of the detached images: L_r, L_fr, L_fs (see :mod:`acai_repro.gaia.losses`), which set
   the balanced learning rates lr_D, lr_G;
3. **generator step** (D :func:`frozen`): L_G on D's reconstructions of G(x) and G(z_i), plus the distance loss
   L_dist(x, z); its own zero_grad / backward / step at lr_G;
4. **discriminator step**: L_D on the detached images of step 2; its own zero_grad / backward / step at lr_D.

Both gradients are taken at the weights from before the batch (the generator step changes G's weights, never the
detached images D trains on), like the official code's simultaneous update. Adam for both players as the official
code sets it: TF's defaults (beta1 0.9, beta2 0.999) and epsilon 1e-8 (the official example's ``adam_eps``).
"""
from __future__ import annotations

import torch

from acai_repro.common.model import Model
from acai_repro.common.players import Optimizers, frozen, update
from acai_repro.gaia.losses import (balanced_learning_rates, discriminator_loss, distance_loss, draw_alpha,
                                    generator_loss, interpolate, l1)
from acai_repro.gaia.nets import ConvAutoencoder, SpatialAutoencoder

ADAM_BETAS = (0.9, 0.999)  # TF's AdamOptimizer defaults, which the official code keeps


class GAIA(Model):
    """Generator G (:class:`ConvAutoencoder`, flat code) and discriminator D (:class:`SpatialAutoencoder`, no
    bottleneck), two Adam optimisers "G" and "D". Images in [0, 1]."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32,
                 lr_max: float = 1e-4,  # official 1e-4; each player's lr is a sigmoid share of it
                 dist_weight: float = 5e-5,  # weight of L_dist in L_G (official 5e-5 = lr_max / 2)
                 betas: tuple[float, float] = ADAM_BETAS) -> None:
        super().__init__()
        self.generator = ConvAutoencoder(size, width, z_dim)
        self.discriminator = SpatialAutoencoder(size, width)
        self.lr_max, self.dist_weight = lr_max, dist_weight
        self.optimizers = Optimizers({
            "G": torch.optim.Adam(self.generator.parameters(), lr=lr_max / 2, betas=betas),
            "D": torch.optim.Adam(self.discriminator.parameters(), lr=lr_max / 2, betas=betas),
        })

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator.encode(x)  # (B, z_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.decode(z)  # (B, 3, S, S)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(x), the generator's reconstruction (what the chapter compares with a plain autoencoder)."""
        return self.generator(x)

    @staticmethod
    def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None, *,
                   alpha: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """All the updates for one batch x (B, 3, S, S); returns the detached losses and learning rates.

        ``label`` is not used (GAIA is unsupervised); ``alpha`` (B, 1) fixes the interpolation coefficients
        (default: drawn by :func:`~acai_repro.gaia.losses.draw_alpha`)."""
        G, D = self.generator, self.discriminator
        if alpha is None:
            alpha = draw_alpha(len(x), device=x.device)  # (B, 1): one per interpolated pair
        # 1. Generator forward pass.
        z = G.encode(x)  # (B, z_dim)
        x_g = G.decode(z)  # G(x), (B, 3, S, S)
        x_i = G.decode(interpolate(z, alpha))  # G(z_i), decoded interpolations

        # 2. The discriminator's losses on detached images, and the balanced learning rates.
        x_g_d, x_i_d = x_g.detach(), x_i.detach()
        loss_r = l1(x, D(x))  # L_r: D autoencodes real faces
        loss_fr_d = l1(x, D(x_g_d))  # L_fr: D's reconstruction of G(x), compared with x
        loss_fs_d = l1(x_i_d, D(x_i_d))  # L_fs: D autoencodes interpolations
        lr_d, lr_g = balanced_learning_rates(loss_r.detach(), ((loss_fr_d + loss_fs_d) / 2).detach(), self.lr_max)

        # 3. Generator step: make D autoencode G(x) back to x and G(z_i) to itself; keep the batch's geometry in z.
        with frozen(D):
            loss_fr = l1(x, D(x_g))
            loss_fs = l1(x_i, D(x_i))
        loss_dist = distance_loss(x, z)
        loss_g = generator_loss(loss_fr, loss_fs, loss_dist, self.dist_weight)
        self._set_lr(self.optimizers["G"], lr_g)
        update(self.optimizers["G"], loss_g)

        # 4. Discriminator step: autoencode real faces, fail on generated ones (G fixed: detached images).
        loss_d = discriminator_loss(loss_r, loss_fr_d, loss_fs_d)
        self._set_lr(self.optimizers["D"], lr_d)
        update(self.optimizers["D"], loss_d)

        return {"loss_G": loss_g.detach(), "loss_D": loss_d.detach(), "L_r": loss_r.detach(),
                "L_fr": loss_fr_d.detach(), "L_fs": loss_fs_d.detach(), "L_dist": loss_dist.detach(),
                "recon_l1": l1(x, x_g_d), "lr_G": torch.tensor(lr_g, device=x.device),
                "lr_D": torch.tensor(lr_d, device=x.device)}


class L1Autoencoder(Model):
    """The baseline of the sharpness claim: the generator's architecture trained on |x - G(x)| alone (Adam)."""

    def __init__(self, size: int = 32, width: int = 16, z_dim: int = 32, lr: float = 1e-4,
                 betas: tuple[float, float] = ADAM_BETAS) -> None:
        super().__init__()
        self.net = ConvAutoencoder(size, width, z_dim)
        self.optimizers = Optimizers({"ae": torch.optim.Adam(self.net.parameters(), lr=lr, betas=betas)})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One Adam step on mean |x - G(x)|, the same pixel loss GAIA passes across D (``label`` not used)."""
        return {"recon_l1": update(self.optimizers["ae"], l1(x, self.net(x)))}
