"""Notebook parameters: declared once per notebook, validated before a kernel starts and again inside it.

A notebook's ``parameters`` cell is a flat list of scalars. Its :class:`Schema` says, for each name, the type,
the allowed values and the ``quick`` default (the value the cell holds). The runner checks a parameter set
with :meth:`Schema.validate` before papermill starts a kernel; the notebook's first cell calls the same code,
so a bad value fails with the same message whichever way the notebook is run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

PROFILES = ("smoke", "quick", "paper")


class ParameterError(ValueError):
    """A parameter is unknown, of the wrong type or out of range; the message names it and the valid choices."""


@dataclass(frozen=True)
class Param:
    """One scalar parameter: ``kind`` is int, float, bool or str; ``choices`` or ``low``/``high`` bound it.

    ``added_later`` marks a parameter added after runs were made without it: at its default it is left out of the
    run-id (those runs keep their folders and resume), and a run record that lacks it ran at its default.
    """

    kind: type
    default: Any
    help: str = ""
    choices: Sequence[Any] | None = None
    low: float | None = None
    high: float | None = None
    added_later: bool = False

    def describe(self) -> str:
        if self.choices is not None:
            return "one of: " + ", ".join(map(str, self.choices))
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        bounds = "" if self.low is None and self.high is None else f" in [{lo}, {hi}]"
        return f"{self.kind.__name__}{bounds}"

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` (ints widened to float for float parameters) or raise :class:`ParameterError`."""
        kind = self.kind
        ok = (
            isinstance(value, bool) if kind is bool
            else isinstance(value, int) and not isinstance(value, bool) if kind is int
            else isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
            else isinstance(value, str)
        )
        if not ok:
            raise ParameterError(
                f"parameter {name!r} must be {self.describe()}; got {value!r} ({type(value).__name__})")
        if kind is float:
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(f"parameter {name!r} must be a finite float; got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter {name!r} must be {self.describe()}; got {value!r}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ParameterError(f"parameter {name!r} must be {self.describe()}; got {value!r}")
        return value

    def parse(self, name: str, text: str) -> Any:
        """Turn a command-line string into this parameter's type, then check it."""
        try:
            if self.kind is bool:
                lowered = text.strip().lower()
                if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(text)
                value: Any = lowered in {"true", "1", "yes"}
            elif self.kind is int:
                value = int(text)
            elif self.kind is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            raise ParameterError(
                f"parameter {name!r} must be {self.describe()}; got {text!r}") from None
        return self.check(name, value)


# Every notebook has these; the runner fills ``profile`` and ``run_dir``.
COMMON = {
    "profile": Param(str, "quick", "smoke (CI), quick (laptop CPU) or paper (GPU, paper scale)", choices=PROFILES),
    "run_dir": Param(str, "", "where the run writes; empty = results/<profile>/<notebook>/<run-id>"),
    "seed": Param(int, 0, "seeds python, numpy and torch", low=0, high=2**31 - 1),
    "device": Param(str, "auto", "auto picks cuda, then mps, then cpu", choices=("auto", "cpu", "cuda", "mps")),
}


@dataclass(frozen=True)
class Schema:
    """The parameters of one notebook (its own plus :data:`COMMON`)."""

    notebook: str
    own: Mapping[str, Param]
    params: Mapping[str, Param] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", {**COMMON, **self.own})

    @property
    def defaults(self) -> dict[str, Any]:
        """The ``quick`` values: what the notebook's parameters cell holds."""
        return {name: p.default for name, p in self.params.items()}

    @property
    def added_later(self) -> dict[str, Any]:
        """The defaults of the parameters marked ``added_later`` (what a run made before them ran with)."""
        return {name: p.default for name, p in self.params.items() if p.added_later}

    def _known(self, name: str) -> Param:
        if name not in self.params:
            raise ParameterError(
                f"unknown parameter {name!r} for notebook {self.notebook!r}; "
                f"valid parameters: {', '.join(sorted(self.params))}")
        return self.params[name]

    def validate(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``values``, each checked; unknown names are errors."""
        out = self.defaults
        for name, value in values.items():
            out[name] = self._known(name).check(name, value)
        return out

    def parse(self, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Command-line ``-p NAME VALUE`` pairs to typed values."""
        return {name: self._known(name).parse(name, text) for name, text in pairs}

    def from_namespace(self, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """The notebook side: pick this schema's names out of the kernel's globals and validate them."""
        missing = [n for n in self.params if n not in namespace]
        if missing:
            raise ParameterError(f"the parameters cell of {self.notebook!r} lacks: {', '.join(missing)}")
        return self.validate({n: namespace[n] for n in self.params})
