r"""The semi-supervised adversarial autoencoder (Makhzani et al. 2015, arXiv:1511.05644, Section 5).

The encoder has two heads: a categorical code q(y|x) (a softmax over the 10 digits) and a style code q(z|x). The
decoder p(x|y, z) rebuilds the image from both. Two adversarial networks shape the two codes: d_y makes the
aggregated q(y|x) look like one-hot samples of Cat(10), so that the softmax becomes confident and uses every class
equally; d_z makes q(z|x) look like N(0, I), so that the style carries no class information. The few labels then
only have to name the clusters that the categorical head already separates.

Each mini-batch runs the paper's three phases, each a visible update (its own zero_grad / backward / step):

1. reconstruction: encoder and decoder minimise L_rec = BCE(p(softmax q(y|x), q(z|x)), x) (pixels in [0, 1]) on
   every image of the batch;
2. regularisation: first the two discriminators learn prior samples (real) from codes (fake),
   L_d = -E log d_y(y) - E log(1 - d_y(q(y|x))) - E log d_z(z) - E log(1 - d_z(q(z|x))),
   y ~ Cat(10) one-hot, z ~ N(0, I), encoder held fixed; then the encoder alone fools both (discriminators frozen):
   L_g = -E log d_y(q(y|x)) - E log d_z(q(z|x));
3. semi-supervised classification: the encoder minimises the cross-entropy of q(y|x) on the labelled images of the
   batch, L_ce = -E_labelled log q(y = label | x).

A batch (the project's ``train_step(x, label)`` contract) holds images with their label or -1 (unlabelled): phases 1
and 2 use every image (labels hidden), phase 3 only the labelled rows (:class:`LabelledMixSampler` puts a labelled
mini-batch beside each unlabelled one). The paper does not list its optimiser settings in the text this project
holds; the defaults follow the public reimplementation that reports results close to the paper's
(musyoku/adversarial-autoencoder: Adam 1e-4 for every player, style code of 10, 1000-1000 ReLU networks, Gaussian
noise of std 0.3 on the discriminators' inputs); each is a parameter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acai_repro.aae.priors import UNLABELLED
from acai_repro.common.batches import BatchSampler
from acai_repro.common.mlp import mlp
from acai_repro.common.model import Model
from acai_repro.common.players import Optimizers, frozen, update

N_DIGITS = 10
IMAGE = 28 * 28


class SemiSupervisedAAE(Model):
    """Encoder x -> (q(y|x) logits (B, 10), style z (B, z_dim)); decoder (y, z) -> pixels; discriminators d_y, d_z."""

    def __init__(self, z_dim: int = 10, hidden: int = 1000, layers: int = 2, lr: float = 1e-4,
                 lr_adv: float = 1e-4, lr_semi: float = 1e-4, disc_noise: float = 0.3) -> None:
        super().__init__()
        self.z_dim, self.disc_noise = z_dim, disc_noise
        self.trunk = nn.Sequential(mlp([IMAGE, *[hidden] * layers]), nn.ReLU())  # shared body of both heads
        self.head_y = nn.Linear(hidden, N_DIGITS)  # logits of q(y|x)
        self.head_z = nn.Linear(hidden, z_dim)  # style q(z|x), deterministic
        self.decoder = mlp([N_DIGITS + z_dim, *[hidden] * layers, IMAGE])
        self.disc_y = mlp([N_DIGITS, *[hidden] * layers, 1])
        self.disc_z = mlp([z_dim, *[hidden] * layers, 1])
        encoder = [*self.trunk.parameters(), *self.head_y.parameters(), *self.head_z.parameters()]
        adam = torch.optim.Adam
        self.optimizers = Optimizers(
            ae=adam([*encoder, *self.decoder.parameters()], lr=lr),
            disc=adam([*self.disc_y.parameters(), *self.disc_z.parameters()], lr=lr_adv, betas=(0.5, 0.999)),
            gen=adam(encoder, lr=lr_adv, betas=(0.5, 0.999)),
            semi=adam([*self.trunk.parameters(), *self.head_y.parameters()], lr=lr_semi))  # q(y|x) only

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(q(y|x) logits (B, 10), z (B, z_dim)) of images (B, 1, 28, 28)."""
        h = self.trunk(x.flatten(1))
        return self.head_y(h), self.head_z(h)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """q(y|x) logits (B, 10): the classifier whose test error the paper reports."""
        return self.heads(x)[0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The whole code (B, 10 + z_dim): softmax q(y|x) beside the style z."""
        logits, z = self.heads(x)
        return torch.cat([logits.softmax(1), z], 1)

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code).view(-1, 1, 28, 28)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] from a code (B, 10 + z_dim): a one-hot (or softmax) y beside a style z."""
        return torch.sigmoid(self.decode_logits(code))

    def discriminate(self, net: nn.Module, code: torch.Tensor) -> torch.Tensor:
        """A discriminator's logit (B,) that ``code`` is a prior sample; its input is blurred by Gaussian noise of
        std ``disc_noise`` in training (so that one-hot samples and a softmax never separate trivially)."""
        if self.training and self.disc_noise > 0:
            code = code + self.disc_noise * torch.randn_like(code)
        return net(code).squeeze(1)

    def train_step(self, x, label=None):
        """The three phases on one batch; ``label`` (B,): 0..9 for a labelled image, -1 for an unlabelled one."""
        if label is None:
            label = torch.full((len(x),), UNLABELLED, device=x.device)
        # 1. Reconstruction, every image.
        logits, z = self.heads(x)
        loss_rec = update(self.optimizers["ae"], F.binary_cross_entropy_with_logits(
            self.decode_logits(torch.cat([logits.softmax(1), z], 1)), x))

        # 2a. Discriminators: one-hot y ~ Cat(10) and z ~ N(0, I) are real, the codes fake; encoder held fixed.
        with torch.no_grad():
            logits, z = self.heads(x)
        y_fake, z_fake = logits.softmax(1), z
        y_real = F.one_hot(torch.randint(N_DIGITS, (len(x),), device=x.device), N_DIGITS).float()
        z_real = torch.randn_like(z_fake)
        bce = F.binary_cross_entropy_with_logits
        terms = []
        for net, real, fake in ((self.disc_y, y_real, y_fake), (self.disc_z, z_real, z_fake)):
            logit_real, logit_fake = self.discriminate(net, real), self.discriminate(net, fake)
            terms.append(bce(logit_real, torch.ones_like(logit_real)) + bce(logit_fake, torch.zeros_like(logit_fake)))
        loss_d = update(self.optimizers["disc"], terms[0] + terms[1])

        # 2b. Generator: the encoder makes both discriminators call its codes real; they are frozen.
        logits, z = self.heads(x)
        with frozen(self.disc_y), frozen(self.disc_z):
            logit_y, logit_z = self.discriminate(self.disc_y, logits.softmax(1)), self.discriminate(self.disc_z, z)
        loss_g = update(self.optimizers["gen"], bce(logit_y, torch.ones_like(logit_y))
                        + bce(logit_z, torch.ones_like(logit_z)))

        # 3. Semi-supervised classification: cross-entropy of q(y|x) on the labelled rows only.
        labelled = label != UNLABELLED
        losses = {"loss_rec": loss_rec, "loss_d": loss_d, "loss_g": loss_g}
        if labelled.any():
            losses["loss_ce"] = update(self.optimizers["semi"], F.cross_entropy(self.classify(x[labelled]),
                                                                               label[labelled]))
        return losses


class LabelledMixSampler:
    """Each ``next()``: ``batch_size`` images of the whole training set with their labels hidden (-1), beside
    ``labelled_batch`` of the labelled images with their labels: ``(x (B + L, 1, 28, 28), label (B + L,))``.

    Both halves come from their own seeded :class:`BatchSampler` (epochs of the unlabelled pool, draws with
    replacement from the few labelled images), so a resumed run draws the same batches.
    """

    def __init__(self, x: torch.Tensor, y_seen: torch.Tensor, batch_size: int, labelled_batch: int,
                 seed: int = 0) -> None:
        labelled = y_seen != UNLABELLED
        if not labelled.any():
            raise ValueError("LabelledMixSampler needs at least one labelled image (label >= 0)")
        self.pool = BatchSampler(x, batch_size=batch_size, seed=seed, replacement=False)
        self.labelled = BatchSampler(x[labelled], y_seen[labelled], batch_size=labelled_batch, seed=seed + 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        (x_u,), (x_l, y_l) = self.pool.next(), self.labelled.next()
        hidden = torch.full((len(x_u),), UNLABELLED, dtype=y_l.dtype, device=y_l.device)
        return torch.cat([x_u, x_l]), torch.cat([hidden, y_l])

    def state_dict(self) -> dict:
        return {"pool": self.pool.state_dict(), "labelled": self.labelled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.pool.load_state_dict(state["pool"])
        self.labelled.load_state_dict(state["labelled"])
