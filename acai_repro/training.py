"""The training loop shared by every chapter. It knows no paper.

A chapter writes ``step_fn(step)``, which performs the updates for one batch (usually by calling its paper's
``step`` function) and returns the batch's losses as detached scalar tensors. :class:`Trainer` calls it for steps
``1 .. total_steps`` and does the rest:

* logging: losses stay on the device and reach the CPU once per log interval (one GPU sync, not one per step); each
  interval adds ``{"step": s, name: mean over the interval}`` to ``History.losses``. An interval ends every
  ``log_every`` steps, at every checkpoint and at the last step.
* divergence: a NaN or infinite loss raises :class:`~acai_repro.errors.DivergenceError` naming the first bad step;
  no checkpoint is ever written after a non-finite loss.
* checkpoints: every ``checkpoint_every`` steps and at the end, the state of every object in ``state``, the history
  and all global RNG states go to ``run_dir`` (see :mod:`acai_repro.checkpoints`). ``fit`` on a run directory that
  holds checkpoints resumes from the newest good one, so a killed run continues where it stopped and, on a CPU,
  ends bit-identical to a run never interrupted. A run that already reached ``total_steps`` trains nothing.
* evaluation: ``eval_fn(step)`` every ``eval_every`` steps and at the last step, into ``History.evals``.

Every experiment trains through :func:`train`, which wires a model that follows the project's contract
(:class:`~acai_repro.common.model.Model`: ``train_step(x, label=None)``, ``optimizers``) to its data stream (an
object with ``next()`` returning the arguments of one ``train_step``, and ``state_dict`` / ``load_state_dict``)::

    import tempfile
    from pathlib import Path

    from acai_repro.acai.models import build_model
    from acai_repro.data.lines import LinesSampler
    from acai_repro.device import seed_everything
    from acai_repro.training import train

    seed_everything(0)
    model = build_model("acai", depth=4, n_classes=10)  # ACAI on the lines, a narrow net
    data = LinesSampler(16, seed=0)  # next() -> (x, label); checkpointed, so a resume continues the stream
    run_dir = Path(tempfile.mkdtemp())
    trained = train(model, data, steps=4, run_dir=run_dir, checkpoint_every=2, log_every=2, desc="acai",
                    progress=False)
    steps, loss_ae = trained.history.series("loss_ae")  # for the loss plot; also in run_dir / "history.json"
    assert steps == [2, 4] and (run_dir / "history.json").is_file()

:class:`Trainer` is the loop underneath, for a step that is not one model's ``train_step``.

For an exact resume, every source of randomness must be either a global generator (restored automatically) or
an object in ``state``; objects in ``state`` need ``state_dict()``/``load_state_dict()``, or be a
``torch.Generator``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import torch
from tqdm import tqdm

from acai_repro.checkpoints import CheckpointStore, atomic_write_text
from acai_repro.device import get_rng_states, set_rng_states
from acai_repro.errors import CheckpointError, DivergenceError


@dataclass
class History:
    """What a run logged, as plain lists of dicts (JSON-ready through :meth:`to_dict`)."""

    losses: list[dict[str, float]] = field(default_factory=list)  # {"step": s, name: mean over the interval}
    evals: list[dict[str, float]] = field(default_factory=list)  # {"step": s, **eval_fn(s)}

    def to_dict(self) -> dict[str, list[dict[str, float]]]:
        return {"losses": [dict(row) for row in self.losses], "evals": [dict(row) for row in self.evals]}

    @classmethod
    def from_dict(cls, data: Mapping[str, list[dict[str, float]]]) -> History:
        return cls([dict(row) for row in data["losses"]], [dict(row) for row in data["evals"]])

    def series(self, name: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of one loss or evaluation metric, ready for ``plt.plot``."""
        rows = [row for row in self.losses if name in row] or [row for row in self.evals if name in row]
        if not rows:
            raise KeyError(f"no loss or evaluation named {name!r} in this history")
        return [row["step"] for row in rows], [row[name] for row in rows]


class Trainer:
    """Runs ``step_fn`` for ``total_steps`` steps with logging, checkpoints, resume and divergence checks.

    ``state`` maps names to everything a resume must restore: modules, optimisers, LR schedulers,
    ``torch.Generator`` objects and any other object with ``state_dict()``/``load_state_dict()``.
    ``run_dir=None`` trains without checkpoints.
    """

    def __init__(
        self,
        state: Mapping[str, object],
        total_steps: int,
        run_dir: str | PathLike | None,
        checkpoint_every: int,
        log_every: int,
        desc: str = "train",
        progress: bool = True,
        keep: int = 2,  # checkpoints kept on disk: more than one, so a damaged newest has a fallback
    ) -> None:
        for name, value in {"total_steps": total_steps, "checkpoint_every": checkpoint_every,
                            "log_every": log_every}.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Trainer {name} must be a positive integer, got {value!r}")
        for name, obj in state.items():
            if not isinstance(obj, torch.Generator) and not (
                callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))
            ):
                raise TypeError(f"Trainer state[{name!r}] ({type(obj).__name__}) has no state_dict/load_state_dict")
        self.state = dict(state)
        self.total_steps = total_steps
        self.store = None if run_dir is None else CheckpointStore(run_dir, keep)
        self.checkpoint_every = checkpoint_every
        self.log_every = log_every
        self.desc = desc
        self.progress = progress
        self.step = 0  # steps completed
        self.history = History()
        self.last_checkpoint: tuple[int, Path] | None = None  # (step, path) of the newest good checkpoint
        self._resumed = False

    def fit(
        self,
        step_fn: Callable[[int], Mapping[str, torch.Tensor]],
        eval_fn: Callable[[int], Mapping[str, float]] | None = None,
        eval_every: int | None = None,
    ) -> History:
        """Train from the newest good checkpoint (or from scratch) up to ``total_steps``; return the history.

        ``eval_fn(step)`` runs every ``eval_every`` steps and at the last step (only there if ``eval_every`` is None).
        """
        if eval_every is not None and (eval_fn is None or not isinstance(eval_every, int) or eval_every < 1):
            raise ValueError(f"eval_every must be a positive integer and needs an eval_fn, got {eval_every!r}")
        if not self._resumed:
            self._resume()
        if self.step >= self.total_steps:
            return self.history
        names: tuple[str, ...] = ()
        pending: list[torch.Tensor] = []  # one (L,) row of losses per step since the last log, still on the device
        with tqdm(total=self.total_steps, initial=self.step, desc=self.desc, disable=not self.progress,
                  file=sys.stderr, dynamic_ncols=True) as bar:
            for step in range(self.step + 1, self.total_steps + 1):
                losses = step_fn(step)
                names = names or tuple(losses)
                pending.append(_loss_row(step, losses, names))
                bar.update()
                last = step == self.total_steps
                checkpoint_due = step % self.checkpoint_every == 0 or last
                if step % self.log_every == 0 or checkpoint_due:
                    self._log(step, names, pending)
                    pending = []
                    bar.set_postfix({name: f"{self.history.losses[-1][name]:.4g}" for name in names}, refresh=False)
                if eval_fn is not None and (last or (eval_every is not None and step % eval_every == 0)):
                    self.history.evals.append(_eval_row(step, eval_fn(step)))
                self.step = step
                if checkpoint_due and self.store is not None:
                    self._save()
        return self.history

    def _log(self, step: int, names: tuple[str, ...], pending: list[torch.Tensor]) -> None:
        """Move the interval's losses to the CPU, stop on a non-finite one, else log their means."""
        block = torch.stack(pending).cpu()  # (steps in the interval, L): the only host sync of the interval
        bad = (~torch.isfinite(block)).nonzero()  # row-major order: the first row is the first bad step
        if len(bad):
            row, column = bad[0].tolist()
            raise DivergenceError(
                f"{self.desc}: loss {names[column]!r} = {block[row, column].item()} at step "
                f"{step - len(pending) + 1 + row} is not finite (training diverged). {self._kept_checkpoint()}"
            )
        means = block.double().mean(dim=0)  # (L,)
        self.history.losses.append({"step": step, **{name: means[i].item() for i, name in enumerate(names)}})

    def _kept_checkpoint(self) -> str:
        if self.store is None:
            return "No checkpoint was written (run_dir=None)."
        if self.last_checkpoint is None:
            return f"No checkpoint had been written yet in {self.store.directory}."
        step, path = self.last_checkpoint
        return f"The last good checkpoint, step {step} at {path}, was kept; none is written after a non-finite loss."

    def _save(self) -> None:
        payload = {
            "step": self.step,
            "state": {name: _state_of(obj) for name, obj in self.state.items()},
            "history": self.history.to_dict(),
            "rng": get_rng_states(),
        }
        self.last_checkpoint = (self.step, self.store.save(self.step, payload))

    def _resume(self) -> None:
        """Restore everything from the newest good checkpoint in ``run_dir``, if there is one."""
        self._resumed = True
        found = None if self.store is None else self.store.load_latest()
        if found is None:
            if self.store is not None and self.store.steps():  # files there, none usable (each warned about)
                tqdm.write(f"{self.desc}: no usable checkpoint in {self.store.directory}: starting afresh from step 0",
                           file=sys.stderr)
            return
        step, payload = found
        path = self.store.path_for(step)
        if step > self.total_steps:
            raise ValueError(f"{path} is from step {step}, beyond total_steps={self.total_steps}: "
                             "use a new run_dir for a shorter run")
        if set(payload["state"]) != set(self.state):
            raise CheckpointError(f"{path} holds state {sorted(payload['state'])}, "
                                  f"but this Trainer has {sorted(self.state)}")
        for name, obj in self.state.items():
            try:
                _load_state(obj, payload["state"][name])
            except (RuntimeError, ValueError, KeyError, TypeError) as error:
                raise CheckpointError(f"{path}: cannot restore state[{name!r}]: {error}") from error
        set_rng_states(payload["rng"])
        self.history = History.from_dict(payload["history"])
        self.step = step
        self.last_checkpoint = (step, path)
        done = "finished already, nothing to train" if step == self.total_steps else "resuming"
        tqdm.write(f"{self.desc}: {done}: loaded step {step}/{self.total_steps} from {path}", file=sys.stderr)


def _loss_row(step: int, losses: Mapping[str, torch.Tensor], names: tuple[str, ...]) -> torch.Tensor:
    """The step's losses as one (L,) float32 tensor on their device, in the order of ``names``."""
    if not names or set(losses) != set(names) or not all(
        isinstance(value, torch.Tensor) and value.numel() == 1 for value in losses.values()
    ):
        got = {name: type(value).__name__ for name, value in losses.items()}
        raise ValueError(f"step_fn({step}) must return the same non-empty dict of scalar tensors every step "
                         f"(first step: {list(names)}), got {got}")
    return torch.stack([losses[name].detach().float().reshape(()) for name in names])


def _eval_row(step: int, metrics: Mapping[str, float]) -> dict[str, float]:
    if "step" in metrics:
        raise ValueError(f"eval_fn({step}) returned a metric named 'step', which History reserves")
    return {"step": step, **{name: float(value) for name, value in metrics.items()}}


def _state_of(obj: object) -> object:
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _load_state(obj: object, state: object) -> None:
    if isinstance(obj, torch.Generator):
        obj.set_state(state)
    else:
        obj.load_state_dict(state)


@dataclass
class Trained:
    """What :func:`train` returns: the trained model and what it logged."""

    model: torch.nn.Module
    history: History


def train(model, data, *, steps: int, run_dir: str | PathLike | None, checkpoint_every: int, log_every: int,
          eval_fn: Callable[[int], Mapping[str, float]] | None = None, eval_every: int | None = None,
          desc: str = "train", progress: bool = True) -> Trained:
    """Train ``model`` for ``steps`` batches of ``data`` (or resume it from ``run_dir``): the one training call.

    Each step is ``model.train_step(*data.next())``. The Trainer's state is the model, its optimisers and the data
    stream, so a killed run resumes exactly; the history also goes to ``run_dir / "history.json"``.
    """
    trainer = Trainer({"model": model, "optimizers": model.optimizers, "data": data}, steps, run_dir,
                      checkpoint_every, log_every, desc=desc, progress=progress)
    history = trainer.fit(lambda step: model.train_step(*data.next()), eval_fn, eval_every)
    if run_dir is not None:
        atomic_write_text(Path(run_dir) / "history.json", json.dumps(history.to_dict()))
    return Trained(model, history)
