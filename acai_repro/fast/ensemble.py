r"""K copies of ACAI (one per seed) trained as one batched program with ``torch.func``.

The official lines nets are small enough that one model leaves a GPU mostly idle, and Table 1 needs several seeds
of each model. So the K copies are stacked: every parameter of shape S becomes one tensor of shape (K, S)
(``torch.func.stack_module_state``), one model's step is written as a pure function of its parameters, and
``vmap`` runs it over the K copies at once (convolutions become grouped convolutions: one kernel for all models).
On a CPU grouped convolutions can be slower than K plain ones: ``FastFeatures(vmap=False)`` loops over the copies
instead (same numbers, one shared Adam).

The maths is exactly that of :meth:`acai_repro.acai.acai.ACAI.train_step`, with its own functions
(``draw_alpha``, ``mix``, ``critic_losses``). For one model with z = f(x), x_hat = g(z), x_alpha = g(mix(z, alpha)):

.. math::

    L_{f,g} = \|x - \hat{x}\|^2 + \lambda \|d(\hat{x}_\alpha)\|^2, \qquad
    L_d = \|d(\hat{x}_\alpha) - \alpha\|^2 + \|d(\gamma x + (1 - \gamma) \hat{x})\|^2

The eager step takes three separate gradients (autoencoder with d frozen, critic on detached images, probe on the
detached code). Here the three losses are summed into one scalar whose *single* gradient gives each player exactly
its own: the autoencoder's term sees a detached copy of d's parameters (``frozen``), the critic's terms see detached
images, the probe a detached code, so no loss reaches another player's parameters. Adam is elementwise, so one
Adam over the stacked tensors is K independent Adams (same lr, betas and step count for every copy).

Randomness: model k starts from the weights ``seed_everything(seeds[k])`` gives, and reads its own stream of lines
(a :class:`~acai_repro.data.lines.LinesSampler` seeded with seeds[k], rendered for all K at once on the device).
The K x B mixing coefficients come from one ``draw_alpha`` call on the global generator: with a single seed this
is exactly the eager run's stream, so K = 1 reproduces :meth:`ACAI.train_step` step for step.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from acai_repro.acai.acai import ACAI
from acai_repro.data.lines import LinesSampler, angle_labels, render_lines
from acai_repro.fast.compiled import CompiledWithFallback, FastFeatures, GraphedStep, note

CRITIC = "critic."  # prefix of the critic's parameter names in an ACAI state_dict


class _Objective(nn.Module):
    """forward(x, alpha, label, frozen_critic) -> (sum of every player's loss, losses by name) for ONE model.

    It shares the encoder, decoder, critic and probe modules of ``model`` (a parameter-free template on the meta
    device): ``functional_call`` puts one copy's parameters into them for the duration of a call.
    """

    def __init__(self, model: ACAI, bf16: bool) -> None:
        super().__init__()
        self.encoder, self.decoder, self.critic = model.encoder, model.decoder, model.critic
        self.probe = model.probe
        self.__dict__["acai"] = model  # not a submodule: its parameters are the ones registered above
        self.bf16 = bf16

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, label: torch.Tensor | None,
                frozen_critic: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        acai = self.acai
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            z = self.encoder(x)  # (B, 16, 2, 2)
            x_hat = self.decoder(z).float()  # (B, 1, 32, 32)
            x_mix = self.decoder(acai.mix(z, alpha)).float()  # decoded interpolants
            # 1. autoencoder: reconstruct, and make the frozen critic answer 0 on x_mix
            mse = F.mse_loss(x_hat, x)
            loss_ae_critic = functional_call(self.critic, frozen_critic, (x_mix,)).float().pow(2).mean()
            loss_ae = mse + acai.lambda_ * loss_ae_critic
            # 2. critic: regress alpha on the interpolants, 0 on the gamma mix; images detached (f, g frozen)
            loss_alpha, loss_reg = acai.critic_losses(x, x_hat.detach(), x_mix.detach(), alpha)
        loss_critic = loss_alpha + loss_reg
        losses = {"loss_ae": loss_ae, "mse": mse, "loss_ae_critic": loss_ae_critic, "loss_critic": loss_critic,
                  "loss_critic_alpha": loss_alpha.float(), "loss_critic_reg": loss_reg.float()}
        total = loss_ae + loss_critic
        if label is not None:  # 3. probe on the stop-gradient code, in fp32 like the eager probe_step
            loss_probe = F.cross_entropy(self.probe(z.detach().float().flatten(1)), label)
            losses["loss_probe"] = loss_probe
            total = total + loss_probe
        return total, {name: value.detach() for name, value in losses.items()}


class ACAIEnsemble:
    """K ACAI models with identical settings, stacked; :meth:`train_step` updates all K with one batched program.

    ``train_step(x, alpha, label)`` takes x (K, B, C, H, W), alpha (K, B, 1, 1, 1) and label (K, B) or None, and
    returns each loss as a (K,) tensor. ``models`` are the K original modules: :meth:`sync_models` copies the
    trained weights (and Adam state) back into them, so each can be evaluated, saved or trained on eagerly.
    ``state_dict`` / ``load_state_dict`` make it a :class:`~acai_repro.training.Trainer` state object.
    """

    def __init__(self, models: Sequence[ACAI], features: FastFeatures = FastFeatures()) -> None:
        models = list(models)
        if not models or not all(type(m) is ACAI for m in models):
            raise TypeError(f"ACAIEnsemble: expected a non-empty list of ACAI models, got "
                            f"{[type(m).__name__ for m in models]}")
        first = models[0]
        for m in models[1:]:
            settings = [(p.shape, p.device) for p in m.parameters()] + [m.lambda_, m.gamma, m.lr]
            if settings != [(p.shape, p.device) for p in first.parameters()] + [first.lambda_, first.gamma, first.lr]:
                raise ValueError("ACAIEnsemble: every model must have the same architecture, device, lambda_, "
                                 "gamma and lr")
        if any(True for _ in first.buffers()):
            raise ValueError("ACAIEnsemble: models with buffers are not supported")
        self.models = models
        self.device = next(first.parameters()).device
        self.features, notes = features.resolve(self.device)
        for message in notes:
            note(message)
        self.template = copy.deepcopy(first).to("meta")  # holds the structure, never the weights
        self.template.optimizers = None
        stacked, _ = stack_module_state(models)  # name -> (K, ...) tensor
        self.params: dict[str, torch.Tensor] = {name: p.detach().clone() for name, p in stacked.items()}
        # Parameter names of each player in its eager optimiser's order (to hand the Adam state back per model).
        name_of = {id(p): name for name, p in first.named_parameters()}
        self.players = {player: [name_of[id(p)] for group in opt.param_groups for p in group["params"]]
                        for player, opt in first.optimizers.items()}
        self.optimizer = torch.optim.Adam(
            [{"params": [self.params[n] for n in names], "lr": first.optimizers[player].param_groups[0]["lr"]}
             for player, names in self.players.items()],
            lr=first.lr, betas=(0.9, 0.999), eps=1e-8, capturable=self.features.cuda_graphs,
            **({"foreach": True} if self.features.cuda_graphs else {}))
        objective = _Objective(self.template, self.features.bf16)
        one_model = grad(lambda params, x, alpha, label: _one_model(objective, params, x, alpha, label),
                         has_aux=True)
        if self.features.vmap:
            self._grads_eager = vmap(one_model, in_dims=(0, 0, 0, 0))
            self._grads_eager_unlabelled = vmap(one_model, in_dims=(0, 0, 0, None))
        else:  # one program per model (K small graphs), stacked: same numbers, no grouped convolutions
            self._grads_eager = self._grads_eager_unlabelled = _looped(one_model)
        self._grads = self._grads_eager
        if self.features.compile:
            self._grads = CompiledWithFallback(self._grads_eager, dynamic=False)
        self._graphed = GraphedStep(self._step, self._state_tensors) if self.features.cuda_graphs else None

    @property
    def k(self) -> int:
        return len(self.models)

    def draw_alpha(self, batch: int) -> torch.Tensor:
        """(K, B, 1, 1, 1) mixing coefficients from ACAI's own ``draw_alpha`` (global generator)."""
        return self.models[0].draw_alpha(self.k * batch, self.device).view(self.k, batch, 1, 1, 1)

    def train_step(self, x: torch.Tensor, alpha: torch.Tensor,
                   label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One batch for every model: the autoencoder, critic (and probe) updates of ACAI.train_step, batched."""
        if x.shape[0] != self.k or alpha.shape[:2] != x.shape[:2]:
            raise ValueError(f"ACAIEnsemble.train_step: expected x (K={self.k}, B, C, H, W) and alpha (K, B, 1, 1, 1),"
                             f" got {tuple(x.shape)} and {tuple(alpha.shape)}")
        if self._graphed is not None:
            return self._graphed(x, alpha, label)
        return self._step(x, alpha, label)

    def _step(self, x: torch.Tensor, alpha: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        grads_fn = self._grads if label is not None else self._grads_eager_unlabelled
        grads, losses = grads_fn(self.params, x, alpha, label)
        for name, p in self.params.items():
            p.grad = grads[name]
        self.optimizer.step()
        return losses

    def _state_tensors(self) -> list[torch.Tensor]:
        """Every tensor a step updates in place: parameters first, then Adam's state (for GraphedStep)."""
        state = [self.optimizer.state[p] for group in self.optimizer.param_groups for p in group["params"]]
        return [*self.params.values(), *(s[key] for s in state for key in sorted(s))]

    @torch.no_grad()
    def sync_models(self) -> list[ACAI]:
        """Copy model k's slice of the stacked weights and Adam state into ``models[k]``; returns ``models``."""
        for k, model in enumerate(self.models):
            for name, p in model.named_parameters():
                p.copy_(self.params[name][k])
            named = dict(model.named_parameters())
            for player, names in self.players.items():
                opt = model.optimizers[player]
                for name in names:
                    stacked = self.optimizer.state.get(self.params[name])
                    if stacked:
                        opt.state[named[name]] = {
                            "step": torch.tensor(float(stacked["step"])),
                            "exp_avg": stacked["exp_avg"][k].clone(),
                            "exp_avg_sq": stacked["exp_avg_sq"][k].clone(),
                        }
        return self.models

    def state_dict(self) -> dict:
        return {"params": {name: p.detach().clone() for name, p in self.params.items()},
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        if set(state.get("params", {})) != set(self.params):
            raise ValueError("ACAIEnsemble.load_state_dict: the checkpoint holds other parameters")
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(state["params"][name])
        self.optimizer.load_state_dict(state["optimizer"])  # new state tensors: a captured graph is stale
        if self._graphed is not None:
            self._graphed.reset()


def _one_model(objective: _Objective, params: dict[str, torch.Tensor], x: torch.Tensor, alpha: torch.Tensor,
               label: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and losses of one model; the critic seen by the autoencoder's loss is a detached copy."""
    frozen_critic = {name[len(CRITIC):]: p.detach() for name, p in params.items() if name.startswith(CRITIC)}
    return functional_call(objective, params, (x, alpha, label, frozen_critic))


def _looped(one_model: Callable) -> Callable:
    """The vmapped call's result computed model by model: (grads, losses) with every leaf stacked over K."""

    def grads(params: dict[str, torch.Tensor], x: torch.Tensor, alpha: torch.Tensor,
              label: torch.Tensor | None) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        parts = [one_model({name: p[k] for name, p in params.items()}, x[k], alpha[k],
                           None if label is None else label[k]) for k in range(x.shape[0])]
        return tuple({name: torch.stack([part[i][name] for part in parts]) for name in parts[0][i]}
                     for i in range(2))

    return grads


class EnsembleLines:
    """K streams of fresh lines, one :class:`LinesSampler` per seed, rendered together on the device.

    ``next()`` gives (x (K, B, 1, 32, 32), label (K, B)); stream k is exactly what ``LinesSampler(B, device,
    seed=seeds[k])`` yields, batch for batch (each draws its angles from its own generator; one render for all).
    """

    def __init__(self, batch_size: int, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.samplers = [LinesSampler(batch_size, device, seed=seed) for seed in seeds]
        self.batch_size, self.device = batch_size, torch.device(device)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        theta = torch.cat([2 * math.pi * torch.rand(self.batch_size, generator=s.generator,
                                                     device=s.generator.device, dtype=torch.float64)
                           for s in self.samplers])  # (K B,) as each sampler draws them
        k = len(self.samplers)
        x = render_lines(theta).to(self.device).unflatten(0, (k, self.batch_size))  # (K, B, 1, 32, 32)
        return x, angle_labels(theta).to(self.device).view(k, self.batch_size)

    __next__ = next

    def state_dict(self) -> dict:
        return {str(i): s.state_dict() for i, s in enumerate(self.samplers)}

    def load_state_dict(self, state: Mapping) -> None:
        for i, s in enumerate(self.samplers):
            s.load_state_dict(state[str(i)])


def ensemble_step_fn(ensemble: ACAIEnsemble, data: EnsembleLines) -> Callable[[int], dict[str, torch.Tensor]]:
    """A Trainer ``step_fn``: next K batches, K x B alphas, one batched step; losses keyed ``"name@k"``."""

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        x, label = data.next()
        losses = ensemble.train_step(x, ensemble.draw_alpha(data.batch_size), label)
        return {f"{name}@{k}": value[k] for name, value in losses.items() for k in range(ensemble.k)}

    return step_fn
