r"""WAE and MaskAAE on vectors (Mondal et al. 2020, arXiv:1912.04564; official code arnabkmondal/MaskAAE).

Both models have an encoder E: x (d) -> z (m), a decoder G: z -> x_hat and a latent critic D: z -> R trained as a
WGAN-GP (Gulrajani et al. 2017) between prior samples p ~ N(0, I_m) ("real") and codes E(x) ("fake"). The WAE is the
baseline; MaskAAE (:class:`MaskAAE`) adds a learnable mask alpha in (0, 1)^m applied to the codes *and* to the prior
samples before the decoder and the critic, so that spurious latent dimensions can be switched off:

.. math::

    \alpha = 1 - e^{-a},\; a \ge 0,\; a \sim U(0, 5) \text{ at start}, \qquad \tilde z = \alpha \odot E(x),\;
    \tilde p = \alpha \odot p

    L_{AE} = \mathrm{rec}(x, G(\tilde z)) + \lambda_v\, \mathrm{mean}\big((\bar z - z)^2 e^{-10 \alpha^2}\big)

    L_D = \mathrm{mean}\, D(\tilde z) - \mathrm{mean}\, D(\tilde p) + \lambda_{gp}\, \mathrm{mean}(\lVert\nabla
    D(\hat z)\rVert - 1)^2, \qquad L_{gen} = -\mathrm{mean}\, D(\tilde z)

    L_{mask} = \lambda_r\, \mathrm{rec}(x, G(\tilde z)) + \big(1 - (\mathrm{mean}\, D(\tilde z) -
    \mathrm{mean}\, D(\tilde p))\big)^2 + c \sum_i |(1 - \alpha_i)\alpha_i|

(the WAE is the same with alpha = 1 and no mask step). The variance penalty stops the encoder from putting
information into dimensions about to be masked (its weight e^{-10 alpha^2} is ~1 where alpha ~ 0); the polynomial
term pushes every alpha_i to 0 or 1, with a weight c that starts at 2 / m and doubles every 4 R steps up to 2048.

As the official code: one step = autoencoder update, ``n_critic`` = 5 critic updates, one generator (encoder)
update, one mask update, each on a fresh batch and fresh prior samples, each its own zero_grad / backward / step.
So one step's batch x holds one fresh batch per update, (updates_per_step, B, d), and the model counts its steps
in a buffer (checkpointed with its weights) for the schedule below;
RMSProp as TensorFlow 1 has it (:mod:`~acai_repro.maskaae.optim`: mean square starting at 1) with rates 5 lr
(autoencoder, mask) and lr (generator, critic), lr = 1e-4; after step 5 R the autoencoder and mask losses are
multiplied by 1/5 (the official "lr decay" scales the loss, which RMSProp mostly normalises away). Dense layers as
the official ``tf.layers.dense`` calls make them: Glorot-normal kernels, Glorot-uniform biases.
``mask_start`` (official 0) holds the mask and the variance penalty for the first steps, training a plain WAE with
alpha at its initial values: while the codes do not yet match the prior, the critic term of L_mask pushes every
alpha_i down and the penalty shrinks the codes of every dimension with alpha below ~0.8, needed or not.
Deviations, all for the synthetic vectors: the reconstruction is a mean squared error instead of BCE on [0, 1]
pixels (the vectors are unbounded and standardised), so the decoder's output is linear and the mask loss's
reconstruction weight lambda_r is a parameter to retune (official 1000 with BCE); the nets are small ReLU MLPs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.common.mlp import glorot_normal, mlp
from acai_repro.common.model import Model
from acai_repro.common.players import Optimizers, frozen, update
from acai_repro.maskaae.optim import TF1RMSProp

POLY_WEIGHT_CAP = 2048.0  # c never exceeds this (official)
ACTIVE_THRESHOLD = 0.1  # a dimension is active when alpha >= 0.1 (official)


def tf1_dense_init(layer: nn.Linear) -> None:
    """The official dense layers: Glorot-normal kernels, and ``bias_initializer=None``, which in TensorFlow 1 falls
    back to ``get_variable``'s default, Glorot-uniform: for a bias of n units U(-sqrt(3 / n), sqrt(3 / n))."""
    glorot_normal(layer)
    limit = math.sqrt(3.0 / layer.out_features)
    nn.init.uniform_(layer.bias, -limit, limit)


def mlp_net(sizes: list[int], bias: str = "tf1") -> nn.Sequential:
    """Dense layers with ReLU between them and a linear last layer, initialised as the official code does
    (``bias="tf1"``) or with zero biases (``bias="zeros"``)."""
    init = tf1_dense_init if bias == "tf1" else glorot_normal
    return mlp(sizes, nn.ReLU, init, init)


def rmsprop(params, lr: float, kind: str = "tf1") -> torch.optim.Optimizer:
    """The official TensorFlow 1 RMSProp (``kind="tf1"``: :class:`~acai_repro.maskaae.optim.TF1RMSProp`), or
    PyTorch's with TF1's decay and epsilon (``kind="torch"``: mean square starting at 0, epsilon outside the root)."""
    if kind == "torch":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10)
    return TF1RMSProp(params, lr=lr)


def official_reg_interval(m: int) -> int:
    """R of the official schedule: 75 for m <= 20, else min(10000, floor(1125 m / 10)) (3,600 at m = 32)."""
    return 75 if m <= 20 else min(10000, math.floor(1125 * m / 10))


def poly_weight(step: int, m: int, reg_interval: int) -> float:
    """c at 0-based step: 2 / m doubled at every multiple of 4 R (step > 0), capped at 2048."""
    doublings = min(step // (4 * reg_interval), 64)  # 2^64 (2 / m) is far past the cap
    return min(POLY_WEIGHT_CAP, (2.0 / m) * 2.0**doublings)


def loss_decay(step: int, reg_interval: int) -> float:
    """The official "lr decay" of the autoencoder and mask losses: 1 up to step 5 R, then 1/5."""
    return 1.0 if step <= 5 * reg_interval else 0.2


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: mean (||grad D(z_hat)|| - 1)^2 at z_hat = real + u (fake - real), u ~ U(0, 1) per example."""
    u = torch.rand(real.shape[0], 1, device=real.device)  # (B, 1)
    z_hat = (real + u * (fake - real)).requires_grad_(True)  # (B, m)
    (grad,) = torch.autograd.grad(critic(z_hat).sum(), z_hat, create_graph=True)  # (B, m)
    return (grad.norm(dim=1) - 1).pow(2).mean()


class WAE(Model):
    """The baseline: the same encoder, decoder and WGAN-GP latent critic as MaskAAE, without the mask."""

    def __init__(
        self,
        m: int,  # assumed latent dimension (model capacity)
        d: int = 128,  # data dimension (synthetic: 128)
        width: int = 256,  # hidden units per layer (official MNIST: 1024)
        depth: int = 2,  # hidden layers of each net (official MNIST: 4)
        lr: float = 1e-4,  # base learning rate: generator and critic lr, autoencoder and mask 5 lr (official)
        gp_weight: float = 10.0,  # lambda_gp (official 10)
        n_critic: int = 5,  # critic updates per step (official 5)
        reg_interval: int = 0,  # R of the schedule; 0 = the official rule official_reg_interval(m)
        optimizer: str = "tf1",  # "tf1": TensorFlow 1's RMSProp (official); "torch": PyTorch's
        bias_init: str = "tf1",  # "tf1": Glorot-uniform biases (official); "zeros"
    ) -> None:
        super().__init__()
        self.m, self.d, self.gp_weight, self.n_critic = m, d, gp_weight, n_critic
        self.variance_weight = 0.0  # the WAE has no variance penalty (nothing is masked)
        self.mask_start = 0  # MaskAAE: the step from which the mask and the variance penalty act
        self.reg_interval = reg_interval or official_reg_interval(m)
        if optimizer not in ("tf1", "torch") or bias_init not in ("tf1", "zeros"):
            raise ValueError(f"optimizer must be tf1 or torch and bias_init tf1 or zeros; got {optimizer!r}, "
                             f"{bias_init!r}")
        self.optimizer_kind = optimizer
        self.encoder = mlp_net([d] + [width] * depth + [m], bias_init)  # E: (B, d) -> (B, m)
        self.decoder = mlp_net([m] + [width] * depth + [d], bias_init)  # G: (B, m) -> (B, d), linear output
        self.critic = mlp_net([m] + [width] * depth + [1], bias_init)  # D: (B, m) -> (B, 1)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.int64))  # 0-based index of the next step
        self.optimizers = Optimizers({
            "ae": rmsprop([*self.encoder.parameters(), *self.decoder.parameters()], 5 * lr, optimizer),
            "gen": rmsprop(self.encoder.parameters(), lr, optimizer),
            "critic": rmsprop(self.critic.parameters(), lr, optimizer),
        })

    @property
    def alpha(self) -> torch.Tensor:
        """The mask (m,): all ones for the WAE."""
        return torch.ones(self.m, device=self.encoder[0].weight.device)

    @property
    def updates_per_step(self) -> int:
        """Fresh batches one step consumes: autoencoder, n_critic critic updates, generator."""
        return self.n_critic + 2

    def active_dims(self) -> int:
        return int((self.alpha >= ACTIVE_THRESHOLD).sum())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The unmasked code E(x): (B, d) -> (B, m)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """G(alpha * z): (B, m) -> (B, d), the masked code decoded."""
        return self.decoder(self.alpha.detach() * z)

    def generate(self, count: int) -> torch.Tensor:
        """Samples G(alpha * p), p ~ N(0, I_m): (count, d)."""
        alpha = self.alpha.detach()
        return self.decoder(alpha * torch.randn(count, self.m, device=alpha.device))

    def prior(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.m, device=self.encoder[0].weight.device)

    def autoencoder_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Update E and G on L_AE (the mask, if any, held fixed)."""
        alpha = self.alpha.detach()
        z = self.encoder(x)  # (B, m)
        rec = F.mse_loss(self.decoder(alpha * z), x)
        variance = ((z.mean(0) - z).pow(2) * torch.exp(-10 * alpha.pow(2))).mean()  # ~0 weight where alpha ~ 1
        loss = rec + (self.variance_weight if step >= self.mask_start else 0.0) * variance
        update(self.optimizers["ae"], loss * loss_decay(step, self.reg_interval))
        return {"loss_ae": loss.detach(), "rec": rec.detach(), "variance": variance.detach()}

    def critic_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Update D on L_D: masked prior samples are "real", masked codes "fake"; E is frozen by .detach()."""
        alpha = self.alpha.detach()
        z = alpha * self.encoder(x).detach()  # (B, m)
        p = alpha * self.prior(x.shape[0])  # (B, m)
        wasserstein = self.critic(p).mean() - self.critic(z).mean()  # the critic's estimate of W(p, z)
        loss = -wasserstein + self.gp_weight * gradient_penalty(self.critic, p, z)
        update(self.optimizers["critic"], loss)
        return {"loss_critic": loss.detach(), "wasserstein": wasserstein.detach()}

    def generator_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Update E alone on L_gen = -mean D(alpha E(x)), with D frozen."""
        with frozen(self.critic):
            loss = -self.critic(self.alpha.detach() * self.encoder(x)).mean()
        return {"loss_gen": update(self.optimizers["gen"], loss)}

    def train_step(self, x: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One official step: ``x`` (updates_per_step, B, d) holds a fresh batch for each update, in order
        (``label`` is not used)."""
        if x.dim() != 3 or len(x) != self.updates_per_step:
            raise ValueError(f"{type(self).__name__}.train_step needs one batch per update, "
                             f"({self.updates_per_step}, B, d), got {tuple(x.shape)}")
        step = int(self.steps_done)
        losses = self.updates(iter(x), step)
        self.steps_done += 1
        return losses

    def updates(self, batches, step: int) -> dict[str, torch.Tensor]:
        """The updates of the 0-based ``step``, each on the next of ``batches``."""
        losses = self.autoencoder_step(next(batches), step)
        for _ in range(self.n_critic):
            losses.update(self.critic_step(next(batches)))  # the last critic update's losses are reported
        losses.update(self.generator_step(next(batches)))
        return losses


class MaskAAE(WAE):
    """WAE + the learnable mask alpha = 1 - exp(-a), trained by its own RMSProp ("mask") on L_mask."""

    def __init__(
        self,
        m: int,
        variance_weight: float = 100.0,  # lambda_v of the variance penalty (official 100)
        mask_rec_weight: float = 1000.0,  # lambda_r in L_mask (official 1000 with BCE; retuned for MSE)
        mask_lr: float | None = None,  # RMSProp rate of a; None = 5 lr (official)
        mask_init: float = 5.0,  # a starts U(0, mask_init) (official 5: alpha in (0, 0.993))
        mask_start: int = 0,  # steps trained as a plain WAE (alpha held, no variance penalty) first (official 0)
        **kwargs,  # as WAE: d, width, depth, lr, gp_weight, n_critic, reg_interval
    ) -> None:
        super().__init__(m, **kwargs)
        self.variance_weight, self.mask_rec_weight, self.mask_start = variance_weight, mask_rec_weight, mask_start
        self.a = nn.Parameter(torch.empty(m).uniform_(0.0, mask_init))  # official a ~ U(0, 5): alpha in (0, 0.993)
        self.optimizers["mask"] = rmsprop([self.a], mask_lr or 5 * self.optimizers["gen"].defaults["lr"],
                                          self.optimizer_kind)

    @property
    def alpha(self) -> torch.Tensor:
        return 1 - torch.exp(-self.a)

    def mask_step(self, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """Update a alone on L_mask; E, G and D are frozen (E by no_grad, G and D by ``frozen``). Before
        ``mask_start`` the loss is only measured (the same random draws, no update)."""
        alpha = self.alpha  # (m,), carries the gradient to a
        with torch.no_grad():
            z = self.encoder(x)  # (B, m)
        p = self.prior(x.shape[0])  # (B, m)
        c = poly_weight(step, self.m, self.reg_interval)
        with frozen(self.decoder), frozen(self.critic):
            rec = F.mse_loss(self.decoder(alpha * z), x)
            gap = self.critic(alpha * z).mean() - self.critic(alpha * p).mean()  # -W estimate
        poly = ((1 - alpha) * alpha).abs().sum()
        loss = self.mask_rec_weight * rec + (1 - gap).pow(2) + c * poly
        if step < self.mask_start:
            return {"loss_mask": loss.detach(), "poly": poly.detach(), "c": torch.tensor(c, device=x.device)}
        update(self.optimizers["mask"], loss * loss_decay(step, self.reg_interval))
        with torch.no_grad():
            self.a.clamp_(min=0.0)  # Keras NonNeg constraint, applied after the update
        return {"loss_mask": loss.detach(), "poly": poly.detach(), "c": torch.tensor(c, device=x.device)}

    @property
    def updates_per_step(self) -> int:
        return super().updates_per_step + 1  # and the mask

    def updates(self, batches, step: int) -> dict[str, torch.Tensor]:
        losses = super().updates(batches, step)
        losses.update(self.mask_step(next(batches), step))
        losses["active_dims"] = (self.alpha.detach() >= ACTIVE_THRESHOLD).sum().float()
        return losses


def build_model(name: str, m: int, **kwargs) -> WAE:
    """"wae" or "maskaae"; MaskAAE-only keywords are dropped for the WAE."""
    if name == "wae":
        for key in ("variance_weight", "mask_rec_weight", "mask_lr", "mask_init", "mask_start"):
            kwargs.pop(key, None)
        return WAE(m, **kwargs)
    if name == "maskaae":
        return MaskAAE(m, **kwargs)
    raise ValueError(f"unknown model {name!r}; choose wae or maskaae")
