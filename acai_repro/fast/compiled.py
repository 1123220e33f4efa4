"""Optional speed-ups of a training step: ``torch.compile``, CUDA graphs, bf16 autocast, each with a fallback.

On a GPU the official lines nets are tiny (about 0.15 GFLOP per image per ACAI step), so a plain eager step is
bound by kernel launches and Python, not by arithmetic. Two standard remedies remove that overhead:

* ``torch.compile`` fuses the elementwise work of the step into fewer kernels (Inductor; needs a C++ compiler on
  the CPU and Triton on the GPU);
* a CUDA graph records every kernel of one whole step (forward, backward, Adam) once and replays them with a single
  launch (CUDA only; the optimiser must be ``capturable`` so that its step counter lives on the GPU).

bf16 autocast halves the memory traffic of the convolutions on recent GPUs; on a CPU it is usually *slower*, and it
changes the arithmetic, so it is off by default and :func:`acai_repro.fast.precision.bf16_check` must show that a
short seeded run gives the same losses before a sweep turns it on.

Every feature degrades to the plain eager step with a printed reason (no CUDA, no compiler, a capture error), so
the same call works on any machine; :meth:`FastFeatures.resolve` says what will actually run.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch


@dataclass(frozen=True)
class FastFeatures:
    """Which speed-ups to try. All off is the plain eager (but batched, on-device) step."""

    compile: bool = False  # torch.compile the forward + backward of the step (Inductor)
    cuda_graphs: bool = False  # capture the whole step (forward, backward, Adam) in one CUDA graph; CUDA only
    bf16: bool = False  # bf16 autocast of the forward; off unless bf16_check passed on this device
    vmap: bool = True  # K models as one vmapped program (grouped convs); False: a loop over K (same maths)

    def resolve(self, device: torch.device | str) -> tuple[FastFeatures, list[str]]:
        """The features that can run on ``device`` and a note for every one switched off (and why)."""
        device = torch.device(device)
        notes: list[str] = []
        resolved = self
        if self.cuda_graphs and device.type != "cuda":
            notes.append(f"cuda_graphs off: CUDA graphs need a CUDA device, this run is on {device.type}")
            resolved = replace(resolved, cuda_graphs=False)
        if self.compile and not hasattr(torch, "compile"):
            notes.append(f"compile off: torch {torch.__version__} has no torch.compile")
            resolved = replace(resolved, compile=False)
        elif self.compile and device.type == "cpu" and shutil.which("c++") is None and shutil.which("g++") is None:
            notes.append("compile off: Inductor needs a C++ compiler on the CPU and none is on PATH")
            resolved = replace(resolved, compile=False)
        if self.bf16 and device.type == "mps":
            notes.append("bf16 off: autocast to bf16 is not supported on MPS")
            resolved = replace(resolved, bf16=False)
        return resolved, notes

    def as_dict(self) -> dict[str, bool]:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def note(message: str) -> None:
    """Say on stderr that a feature fell back (visible in notebooks and in the bench output)."""
    print(f"acai_repro.fast: {message}", file=sys.stderr)


class CompiledWithFallback:
    """``torch.compile(fn)``; if compiling or the first compiled call fails, warn once and call ``fn`` eagerly."""

    def __init__(self, fn: Callable, **compile_kwargs) -> None:
        self.eager = fn
        self.compiled: Callable | None = torch.compile(fn, **compile_kwargs)
        self.failure: str | None = None

    def __call__(self, *args, **kwargs):
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - any compiler failure must leave a working step
                self.compiled = None
                self.failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                note(f"torch.compile failed, running eagerly instead ({self.failure})")
        return self.eager(*args, **kwargs)


class GraphedStep:
    """Replays one whole training step ``step(*inputs) -> outputs`` from a CUDA graph.

    The first call captures: it copies the inputs into static buffers, runs ``warmup`` eager steps on a side stream
    (CUDA graphs need allocations settled and lazy state such as Adam's moments created), records one step, and
    then puts back the parameters and optimiser state from before the warm-up, so that the warm-up leaves no trace
    in training. Every call after that copies the new inputs into the static buffers and replays the graph; the
    returned outputs are the graph's static tensors (overwritten by the next call: copy them to keep them).

    ``state()`` must return every tensor the step updates in place (parameters, optimiser moments and counters);
    ``reset()`` drops the graph, e.g. after a checkpoint is loaded into new tensors. If the capture raises, the
    step runs eagerly from then on and ``failure`` says why.
    """

    def __init__(self, step: Callable, state: Callable[[], list[torch.Tensor]], warmup: int = 3) -> None:
        self.step, self.state, self.warmup = step, state, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failure: str | None = None
        self._inputs: tuple = ()
        self._outputs = None

    def reset(self) -> None:
        self.graph, self._inputs, self._outputs = None, (), None

    def __call__(self, *inputs):
        if self.failure is not None:
            return self.step(*inputs)
        if self.graph is None:
            try:
                self._capture(inputs)
            except Exception as error:  # noqa: BLE001 - fall back to the eager step, with the reason
                self.failure = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                self.reset()
                note(f"CUDA graph capture failed, running eagerly instead ({self.failure})")
                return self.step(*inputs)
        for static, value in zip(self._inputs, inputs):
            if static is not None:
                static.copy_(value, non_blocking=True)
        self.graph.replay()
        return self._outputs

    def _capture(self, inputs: tuple) -> None:
        before = [t.detach().clone() for t in self.state()]  # parameters and any existing optimiser state
        n_before = len(before)
        try:
            self._inputs = tuple(None if t is None else t.clone() for t in inputs)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self.step(*self._inputs)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._outputs = self.step(*self._inputs)
            self.graph = graph
        finally:
            # Undo the warm-up: tensors that existed are restored, state created by the warm-up (Adam's moments
            # and step counters, appended after the parameters) is zeroed, i.e. "never stepped".
            with torch.no_grad():
                after = self.state()
                for t, old in zip(after[:n_before], before):
                    t.copy_(old)
                for t in after[n_before:]:
                    t.zero_()
            torch.cuda.synchronize()
