"""The fast path: a model's whole ``train_step`` captured once as a CUDA graph, then replayed every step.

Every model follows one contract (:mod:`acai_repro.common.model`): ``train_step(x, label=None)`` performs all the
updates of one batch (each player's forward, backward and optimiser step) and returns the detached losses. On a GPU
at batch 64 such a step is a few hundred tiny kernels, and launching them from Python costs more than running them.
:class:`FastStep` removes that cost without a second copy of any objective:

1. The first steps run eagerly (the model's own ``train_step``) on a side stream: they are real training steps, and
   they create the optimisers' state and warm up cuDNN / cuBLAS. The first one is also *checked*: a step that
   synchronises with the host (``.item()``, ``bincount``, a copy to the CPU), draws random numbers on the CPU, or
   changes a Python number (a learning rate set from a loss, a step counter read with ``int``) cannot be replayed
   from a recording, so that model stays eager, with a one-line warning that names the model and the reason.
2. The next step copies its batch into static input buffers and is *captured* (``torch.cuda.graph``): the kernels
   of the whole step are recorded, not run. Optimisers are made ``capturable`` first (their step counters live on
   the GPU), which is a per-``param_group`` flag. With ``verify`` the captured step is then compared once with the
   eager step from the same weights and random state; a difference falls back to eager, again with a warning.
3. Every later step copies the next on-device batch into the static buffers and replays the graph: one launch.

Random numbers drawn inside the step come from torch's CUDA generator, which graph replay advances exactly as eager
kernels would, so the replayed step draws the same numbers as the eager one. Weights and optimiser state are updated
in place, so checkpoints, resumes and ``state_dict`` work unchanged. On a CPU the same object runs the step eagerly
on the static buffers (the graph is the only part it leaves out), which is what the CPU tests compare with the plain
eager loop.

Use it on one model, or for every model the project's one training call builds::

    step = accelerate(model)                        # model.train_step now goes through the fast path
    with fast_training(precision="default"):        # or: every train(model, data, ...) inside accelerates
        trained = train_lines(run, x_test, theta_test)

``precision`` is measured, not assumed (``acai-repro bench``): ``default`` leaves torch's flags as they are (what
a notebook gets), ``fp32`` turns TF32 off for matrix products and convolutions, ``tf32`` turns it on for both, and
``bf16`` runs the step under bfloat16 autocast.
"""
from __future__ import annotations

import contextlib
import random
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

PRECISIONS = ("default", "fp32", "tf32", "bf16")
WARMUP = 3  # eager steps before the capture: optimiser state exists, cuDNN / cuBLAS have chosen their kernels
_SYNC_WARNING = "called a synchronizing"  # torch's sync debug warning: "called a synchronizing CUDA operation"


def warn(message: str) -> None:
    """One line on stderr, prefixed so that a window's log is easy to search."""
    print(f"acai-repro gpu: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def tf32_mode(mode: str) -> Iterator[None]:
    """TF32 flags for the block (``fp32``: off, ``tf32``: on; ``default`` and ``bf16`` leave them as they are)."""
    if mode not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {mode!r}")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    if mode in ("fp32", "tf32"):
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def precision_flags() -> dict[str, bool]:
    """The TF32 flags in effect (recorded beside every timing)."""
    return {"matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn_tf32": torch.backends.cudnn.allow_tf32}


def _python_state(model: torch.nn.Module) -> dict[str, Any]:
    """Every plain number, flag or string the model's modules and optimisers hold (not tensors): a graph would
    freeze them at their values during the capture."""
    state: dict[str, Any] = {}
    for name, module in model.named_modules():
        for key, value in vars(module).items():
            if isinstance(value, (bool, int, float, str)) and not key.startswith("_"):
                state[f"{name or type(model).__name__}.{key}"] = value
    for player, optimizer in getattr(model, "optimizers", {}).items():
        for i, group in enumerate(optimizer.param_groups):
            for key, value in group.items():
                if key != "params" and isinstance(value, (bool, int, float, str)):
                    state[f"optimizer {player!r} group {i} {key}"] = value
    return state


def _changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names whose value one step changed (a name the step added, e.g. an optimiser default, does not count)."""
    return sorted(k for k, v in after.items() if k in before and before[k] != v)


def _host_rng_state() -> tuple:
    return torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()


def _host_rng_changed(before: tuple) -> bool:
    after = _host_rng_state()
    return not (torch.equal(before[0], after[0]) and before[1] == after[1] and np.array_equal(before[2], after[2]))


class FastStep:
    """``model.train_step`` through a captured CUDA graph (CPU: the same static-buffer step, run eagerly).

    ``mode`` says what it does: ``pending`` (before the first step), ``graph``, ``cpu (eager)`` or
    ``eager: <reason>``. ``verify`` compares the first replay with an eager step from the same state.
    """

    def __init__(self, model: torch.nn.Module, *, name: str | None = None, warmup: int = WARMUP,
                 verify: bool = True, bf16: bool = False) -> None:
        if warmup < 1:
            raise ValueError(f"FastStep warmup must be at least 1 (the checked eager step), got {warmup}")
        self.model = model
        self.eager = type(model).train_step.__get__(model)  # the model's own step, whatever the instance holds
        self.name = name or type(model).__name__
        self.warmup, self.verify, self.bf16 = warmup, verify, bf16
        self.mode = "pending"
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, torch.Tensor | None] | None = None  # (x, label) the graph reads
        self.packed: torch.Tensor | None = None  # (L,) float32 losses the graph writes
        self.names: tuple[str, ...] = ()
        self.side: torch.cuda.Stream | None = None

    # --- the step ------------------------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, label: torch.Tensor | None = None, **kwargs) -> dict[str, torch.Tensor]:
        if kwargs or self.mode.startswith("eager"):
            return self.eager(x, label, **kwargs)  # extra arguments (e.g. GAIA's fixed alpha) are not captured
        self.calls += 1
        if x.device.type != "cuda":
            return self._cpu_step(x, label)
        if self.graph is not None:
            if self._fits(x, label):
                return self._replay(x, label)
            return self.eager(x, label)  # another batch shape: this step eagerly, the graph stays for the next
        if self.calls == 1:
            return self._checked_step(x, label)
        if self.calls <= self.warmup:
            return self._side_stream_step(x, label)
        return self._capture_step(x, label)

    def _run(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The model's own step, under bf16 autocast if asked."""
        context = (torch.autocast(x.device.type, dtype=torch.bfloat16, cache_enabled=False)  # no cache: graph-safe
                   if self.bf16 else contextlib.nullcontext())
        with context:
            return self.eager(x, label)

    def _pack(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        self.names = tuple(losses)
        return torch.stack([losses[name].detach().float().reshape(()) for name in self.names])

    def _unpack(self, row: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, row.unbind()))  # views of one tensor: no kernel per loss

    def _cpu_step(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """No CUDA: copy into static buffers and run the step eagerly on them (what a replay computes)."""
        if self.calls == 1:
            self.mode = "cpu (eager)"
            before = _python_state(self.model)
            losses = self._static_eager(x, label)
            changed = _changed(before, _python_state(self.model))
            if changed:
                self.mode = f"cpu (eager); on CUDA it would stay eager: it changes {', '.join(changed[:3])}"
            return losses
        return self._static_eager(x, label)

    def _static_eager(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if self.static is None or not self._fits(x, label):
            self.static = (torch.empty_like(x), None if label is None else torch.empty_like(label))
        self.static[0].copy_(x)
        if label is not None:
            self.static[1].copy_(label)
        return self._unpack(self._pack(self._run(*self.static)).clone())

    def _fits(self, x: torch.Tensor, label: torch.Tensor | None) -> bool:
        sx, sl = self.static
        same = lambda a, b: a.shape == b.shape and a.dtype == b.dtype and a.device == b.device  # noqa: E731
        return same(x, sx) and (label is None) == (sl is None) and (label is None or same(label, sl))

    # --- CUDA: check, warm up, capture, verify, replay -----------------------------------------------------------
    def _fall_back(self, reason: str) -> None:
        self.mode = f"eager: {reason}"
        self.graph = self.packed = None
        warn(f"{self.name}: not graph-captured, training eagerly ({reason})")

    def _checked_step(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The first step, eagerly, watching for what a graph cannot replay; decides eager for good if found."""
        make_capturable(self.model)
        self.side = torch.cuda.Stream(device=x.device)
        python_before, rng_before = _python_state(self.model), _host_rng_state()
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                losses = self._side_stream_step(x, label)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        reasons = []
        syncs = [w for w in caught if _SYNC_WARNING in str(w.message)]
        if syncs:
            where = f"{syncs[0].filename.rsplit('/', 1)[-1]}:{syncs[0].lineno}"
            reasons.append(f"{len(syncs)} host synchronisation(s) per step, the first at {where}")
        if _host_rng_changed(rng_before):
            reasons.append("draws random numbers on the CPU")
        changed = _changed(python_before, _python_state(self.model))
        if changed:
            reasons.append(f"changes Python numbers each step ({', '.join(changed[:3])})")
        for caught_warning in caught:  # show the other warnings as the step would have
            text = str(caught_warning.message)
            if _SYNC_WARNING not in text and "capturable" not in text and "debug mode" not in text:
                warnings.warn_explicit(caught_warning.message, caught_warning.category, caught_warning.filename,
                                       caught_warning.lineno)
        if reasons:
            self._fall_back("; ".join(reasons))
        return losses

    def _side_stream_step(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One eager step on the side stream (where the capture will run), ordered with the caller's stream."""
        current = torch.cuda.current_stream(x.device)
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # eager steps of capturable optimisers
            losses = self._run(x, label)
            row = self._pack(losses)
        current.wait_stream(self.side)
        return self._unpack(row.clone())  # the copy is made on the caller's stream, after the step

    def _capture_step(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Record the whole step once, check it, then replay it for this batch."""
        self.static = (x.clone(), None if label is None else label.clone())
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.side), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*capturable=True.*")
                self.packed = self._pack(self._run(*self.static))
        except Exception as error:  # nothing ran during the failed capture: the step runs eagerly below
            self._fall_back(f"capture failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
            torch.cuda.synchronize()
            return self.eager(x, label)
        self.graph = graph
        if self.verify:
            problem = self._verify()
            if problem:
                self._fall_back(problem)
                return self.eager(x, label)
            self.mode = "graph"
            return self._unpack(self.packed.clone())  # _verify left the replayed step in place
        self.mode = "graph"
        return self._replay(x, label)

    def _replay(self, x: torch.Tensor, label: torch.Tensor | None) -> dict[str, torch.Tensor]:
        self.static[0].copy_(x)
        if label is not None:
            self.static[1].copy_(label)
        self.graph.replay()
        return self._unpack(self.packed.clone())

    def _verify(self) -> str:
        """Run the step eagerly and by replay from the same state; '' if they agree (the replay's result is kept),
        else the reason (the state before the step is restored)."""
        tensors = _state_tensors(self.model)
        saved = [t.detach().clone() for t in tensors]
        cuda_rng, host_rng = torch.cuda.get_rng_state(), torch.get_rng_state()

        def restore() -> None:
            with torch.no_grad():
                for t, s in zip(tensors, saved):
                    t.copy_(s)  # in place: the graph holds these very tensors
            torch.cuda.set_rng_state(cuda_rng)
            torch.set_rng_state(host_rng)

        eager_row = self._side_stream_step(*self.static)
        eager_row = torch.stack([eager_row[n] for n in self.names])
        eager_state = [t.detach().clone() for t in tensors]
        restore()
        self.graph.replay()
        torch.cuda.synchronize()
        loss_gap = _relative_gap(self.packed, eager_row)
        state_gap = max((_relative_gap(t, e) for t, e in zip(tensors, eager_state)), default=0.0)
        if loss_gap > 1e-3 or state_gap > 1e-3 or not torch.isfinite(self.packed).all():
            restore()
            return (f"the replayed step differs from the eager one (losses by {loss_gap:.2g}, weights by "
                    f"{state_gap:.2g}, relative)")
        return ""


def _state_tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """Every tensor one step may change: parameters, buffers, optimiser state."""
    tensors = [*model.parameters(), *model.buffers()]
    for optimizer in getattr(model, "optimizers", {}).values():
        for state in optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return tensors


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    if a.numel() == 0:
        return 0.0
    return ((a - b).abs().max() / (b.abs().max() + 1e-12)).item()


def make_capturable(model: torch.nn.Module) -> None:
    """Set ``capturable`` in every param_group of the model's optimisers that knows the flag, and move the step
    counters of existing optimiser state (e.g. loaded from a checkpoint) to the parameters' device, as a capturable
    optimiser keeps them. Optimisers without the flag (the project's TF1RMSProp) have no host-side state to move."""
    for optimizer in getattr(model, "optimizers", {}).values():
        if not all("capturable" in group for group in optimizer.param_groups):
            continue
        for group in optimizer.param_groups:
            group["capturable"] = True
            for p in group["params"]:
                state = optimizer.state.get(p, {})
                if isinstance(state.get("step"), torch.Tensor):
                    state["step"] = state["step"].to(device=p.device, dtype=torch.float32)


def accelerate(model: torch.nn.Module, *, name: str | None = None, precision: str = "default",
               warmup: int = WARMUP, verify: bool = True) -> FastStep:
    """Route ``model.train_step`` through a :class:`FastStep` (an attribute of the instance; ``state_dict`` and
    checkpoints are unchanged) and return it. Idempotent: a model accelerated already keeps its FastStep."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    existing = vars(model).get("train_step")
    if isinstance(existing, FastStep):
        return existing
    step = FastStep(model, name=name, warmup=warmup, verify=verify, bf16=precision == "bf16")
    model.train_step = step
    return step


@contextlib.contextmanager
def fast_training(precision: str = "default", verify: bool = True) -> Iterator[list[FastStep]]:
    """Within the block every call of the project's one training call, :func:`acai_repro.training.train`, from any
    project module that imported it (the experiments' ``train_lines``, ``train_maskaae``, ...), first accelerates
    its model. Yields the list of FastSteps made, in order. Import the experiment modules before entering."""
    import acai_repro.training as training

    original = training.train
    made: list[FastStep] = []

    def fast_train(model, data, **kwargs):
        made.append(accelerate(model, precision=precision, verify=verify))
        return original(model, data, **kwargs)

    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("acai_repro") and getattr(m, "train", None) is original]
    with contextlib.ExitStack() as stack:
        stack.enter_context(tf32_mode(precision))
        for module in patched:
            module.train = fast_train
        try:
            yield made
        finally:
            for module in patched:
                module.train = original
