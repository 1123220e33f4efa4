r"""The VQ-VAE baseline of ACAI's Table 1 (van den Oord et al. 2017, arXiv:1711.00937), as the official code builds it.

The official ``vqvae.py`` uses tensor2tensor's discretisation bottleneck (``lib/discretization.py``) between the
conv encoder and decoder. With n = C w w (the code size):

1. a dense layer maps the flattened code f(x) to ``num_latents`` vectors z_e of size n (official hidden_size);
2. each z_e is replaced by its nearest codebook vector e_k (K = 2^14 codes), with the straight-through gradient
   z_e + sg(e_k - z_e);
3. two dense layers, ReLU(z_q) -> 512 -> ReLU -> n, give the (B, C, w, w) input of the conv decoder.

Loss: MSE(x, x_hat) + beta * mean (z_e - sg(e_k))^2 (commitment, beta = 10). The codebook is not trained by
gradient but by exponential moving averages of the vectors assigned to each code (:class:`EMACodebook`).

``encode`` returns the continuous conv code f(x), and ``decode`` runs steps 1-3 and the decoder: the official
evaluation interpolates f(x) *before* quantisation. On the lines the official run uses ``latent_width=4``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.acai.base import Autoencoder
from acai_repro.common.mlp import dense
from acai_repro.common.players import update


class EMACodebook(nn.Module):
    r"""K codes e_k of size D, learned by exponential moving averages (van den Oord et al. 2017, appendix A.1).

    For a batch of vectors x_i assigned to codes k_i, with decay d:

    .. math::

        N_k \leftarrow d N_k + (1 - d) |\{i: k_i = k\}|, \qquad
        m_k \leftarrow d m_k + (1 - d) \sum_{i: k_i = k} x_i

        \tilde N_k = \frac{N_k + \epsilon}{n + K \epsilon} n \quad (n = \textstyle\sum_k N_k), \qquad
        e_k = m_k / \tilde N_k

    The Laplace smoothing of the counts only avoids a division by zero: as in the official code, a code never
    chosen gets a tiny smoothed count and so a huge e_k, and stays unused. Buffers (in the ``state_dict``):
    ``codebook`` (K, D) = e, ``ema_count`` (K,) = N, ``ema_sum`` (K, D) = m. The initial e is TF1's
    uniform_unit_scaling U(-sqrt(3 / K), sqrt(3 / K)), m starts equal to it and N at zero (official).
    """

    def __init__(self, n_codes: int, dim: int, decay: float = 0.999, eps: float = 1e-5) -> None:
        super().__init__()
        self.decay = decay
        self.eps = eps
        bound = math.sqrt(3.0 / n_codes)  # TF1 uniform_unit_scaling: fan-in = product of all but the last dim = K
        codebook = torch.empty(n_codes, dim).uniform_(-bound, bound)
        self.register_buffer("codebook", codebook)  # (K, D)
        self.register_buffer("ema_count", torch.zeros(n_codes))  # (K,)
        self.register_buffer("ema_sum", codebook.clone())  # (K, D)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index (N,) of the nearest code under Euclidean distance for each row of x (N, D)."""
        dist = (x.pow(2).sum(1, keepdim=True) + self.codebook.pow(2).sum(1)  # ||x||^2 + ||e||^2 - 2 x.e: (N, K)
                - 2 * x @ self.codebook.T)
        return dist.argmin(1)

    @torch.no_grad()
    def update(self, x: torch.Tensor, index: torch.Tensor) -> None:
        """One EMA step from vectors x (N, D) assigned to codes ``index`` (N,); rewrites ``codebook``."""
        n_codes = self.codebook.shape[0]
        counts = torch.bincount(index, minlength=n_codes).to(x.dtype)  # (K,) vectors per code in this batch
        sums = torch.zeros_like(self.ema_sum).index_add_(0, index, x)  # (K, D) their sums
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + n_codes * self.eps) * n  # Laplace-smoothed N_k
        self.codebook.copy_(self.ema_sum / smoothed[:, None])


class VQVAE(Autoencoder):
    """Conv autoencoder with the official discrete bottleneck; optimiser "ae" (the codebook learns by EMA)."""

    def __init__(
        self,
        *,
        n_codes: int = 2**14,  # K, official z_log_size 14
        num_latents: int = 10,  # discrete codes per image (official num_latents 10)
        filter_size: int = 512,  # hidden width of the dense layers after the bottleneck (official 512)
        beta: float = 10.0,  # weight of the commitment loss (official beta 10)
        decay: float = 0.999,  # EMA decay of the codebook (official 0.999)
        eps: float = 1e-5,  # Laplace smoothing of the EMA counts (official epsilon 1e-5)
        **kwargs,  # shared arguments of Autoencoder; the official lines run uses latent_width=4
    ) -> None:
        super().__init__(**kwargs)
        self.num_latents = num_latents
        self.beta = beta
        n = self.latent_shape[0] * self.latent_shape[1] * self.latent_shape[2]  # code size C w w
        self.pre = dense(n, n * num_latents)  # f(x) flattened -> num_latents vectors z_e
        self.codebook = EMACodebook(n_codes, n, decay, eps)
        self.post = nn.Sequential(nn.ReLU(), dense(n * num_latents, filter_size), nn.ReLU(),
                                  dense(filter_size, n))  # z_q -> the decoder's code
        self.optimizers = self.make_optimizers(ae=self.autoencoder_parameters())

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [*super().autoencoder_parameters(), *self.pre.parameters(), *self.post.parameters()]

    def bottleneck(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_e, e, index, h) for a code z (B, C, w, w): the (B * num_latents, n) continuous vectors, their nearest
        codes and code indices, and h (B, n), the input of the conv decoder."""
        batch = z.shape[0]
        z_e = self.pre(z.flatten(1)).view(batch * self.num_latents, -1)  # (B * 10, n)
        index = self.codebook.nearest(z_e.detach())  # (B * 10,)
        e = self.codebook.codebook[index]  # (B * 10, n), a buffer: no gradient reaches the codebook
        z_q = z_e + (e - z_e).detach()  # straight-through: the value of e, the gradient of z_e
        h = self.post(z_q.view(batch, -1))  # (B, n)
        return z_e, e, index, h

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.bottleneck(z)[3]
        return self.decoder(h.view(-1, *self.latent_shape))

    def probe_features(self, x: torch.Tensor) -> torch.Tensor:
        """The official VQ-VAE probe reads the bottleneck's output h, not f(x)."""
        return self.bottleneck(self.encoder(x))[3]

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One batch: (1) autoencoder step, (2) codebook EMA step, (3) probe step if labelled."""
        z_e, e, index, h = self.bottleneck(self.encoder(x))
        x_hat = self.decoder(h.view(-1, *self.latent_shape))  # (B, 1, 32, 32)

        # 1. Encoder, dense layers and decoder: reconstruction + beta * commitment.
        mse = F.mse_loss(x_hat, x)
        loss_commit = F.mse_loss(z_e, e)  # mean (z_e - sg(e))^2
        loss_ae = mse + self.beta * loss_commit
        update(self.optimizers["ae"], loss_ae)

        # 2. Codebook: moving averages of the vectors assigned to each code (before this batch's update).
        self.codebook.update(z_e.detach(), index)

        return {"loss_ae": loss_ae.detach(), "mse": mse.detach(), "loss_commit": loss_commit.detach(),
                **self.probe_step(h, label)}
