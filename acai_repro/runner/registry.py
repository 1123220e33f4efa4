"""Where notebooks, their schemas and their profile files live.

A notebook ``NAME`` is ``notebooks/NAME.ipynb``; its profiles are ``notebooks/NAME.smoke.yaml`` and
``notebooks/NAME.paper.yaml`` (flat ``name: value`` files, usable as ``papermill -f``); ``quick`` is the
notebook's own parameters cell, i.e. the schema defaults. Each schema lives in its paper's subpackage.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

from .schema import PROFILES, ParameterError, Schema

# notebook name -> "module:attribute" of its Schema, in book order (AAE -> ACAI -> GAIA -> MaskAAE).
SCHEMAS = {
    "aae_priors": "acai_repro.aae.params:AAE_PRIORS",
    "aae_summary": "acai_repro.aae.params:AAE_SUMMARY",
    "aae_semisupervised": "acai_repro.aae.semisupervised_params:AAE_SEMISUPERVISED",
    "aae_semisupervised_summary": "acai_repro.aae.semisupervised_params:AAE_SEMISUPERVISED_SUMMARY",
    "lines_benchmark": "acai_repro.acai.params:LINES_BENCHMARK",
    "acai_lines": "acai_repro.acai.params:ACAI_LINES",
    "acai_table": "acai_repro.acai.params:ACAI_TABLE",
    "acai_mnist": "acai_repro.acai.mnist_params:ACAI_MNIST",
    "acai_mnist_summary": "acai_repro.acai.mnist_params:ACAI_MNIST_SUMMARY",
    "gaia_attributes": "acai_repro.gaia.params:GAIA_ATTRIBUTES",
    "maskaae_dimensionality": "acai_repro.maskaae.params:MASKAAE_DIMENSIONALITY",
    "maskaae_summary": "acai_repro.maskaae.params:MASKAAE_SUMMARY",
}
CHAPTERS = tuple(SCHEMAS)

# Code every notebook's results depend on, beside its own notebook, profile file and the modules it imports.
SHARED_CODE = ("acai_repro/data", "acai_repro/common", "acai_repro/training.py", "acai_repro/plots.py",
               "acai_repro/checkpoints.py", "acai_repro/runner")


def code_paths(notebook: str, top: Path | None = None) -> list[str]:
    """What a notebook's results depend on: the notebook, its profile file, the shared code, and every project module
    that its code cells (or its schema's module) import, followed through their own imports.

    Read from the checkout ``top`` (default: this one). Module-level, so an edit of another notebook's module in the same paper (say the lines experiment) does not
    mark the MNIST runs stale. Files are relative to the checkout, as ``git diff --name-only`` prints them.
    """
    top = top or repo_root()
    cells = json.loads((top / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    sources = ["\n".join(line for line in "".join(c["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
               for c in cells if c["cell_type"] == "code"]
    todo = [SCHEMAS[notebook].split(":")[0]]
    for source in sources:
        todo += _imported(ast.parse(source), None)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        path = _module_file(top, module)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # parent packages' __init__ run first
        package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        todo += _imported(ast.parse((top / path).read_text()), package)
    return [f"notebooks/{notebook}.ipynb", f"notebooks/{notebook}.paper.yaml", *SHARED_CODE, *sorted(seen)]


def _imported(tree: ast.AST, package: str | None) -> list[str]:
    """Project modules an AST imports (absolute ``acai_repro...`` or relative to ``package``), with the names a
    ``from X import name`` brings (they may be submodules)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("acai_repro")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("acai_repro"):
                found += [base] + [f"{base}.{a.name}" for a in node.names]
    return found


def _module_file(top: Path, module: str) -> str | None:
    """``acai_repro/x/y.py`` or ``acai_repro/x/y/__init__.py`` for module ``acai_repro.x.y``, None if neither."""
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (top / candidate).is_file():
            return candidate
    return None


# Summary notebooks read the runs of another notebook and never train: summary name -> (run notebook,
# "module:attribute" of its sweeps). The sweeps attribute is {profile: {parameter: [values, ...]}}, the grid of runs
# the summary expects in that profile; the book and the nbval fixtures run that grid (finished runs are reused).
SUMMARIES = {
    "aae_summary": ("aae_priors", "acai_repro.aae.params:AAE_SWEEPS"),
    "aae_semisupervised_summary": ("aae_semisupervised",
                                   "acai_repro.aae.semisupervised_params:AAE_SEMISUPERVISED_SWEEPS"),
    "acai_table": ("acai_lines", "acai_repro.acai.params:ACAI_LINES_SWEEPS"),
    "acai_mnist_summary": ("acai_mnist", "acai_repro.acai.mnist_params:ACAI_MNIST_SWEEPS"),
    "maskaae_summary": ("maskaae_dimensionality", "acai_repro.maskaae.params:MASKAAE_SWEEPS"),
}


def repo_root() -> Path:
    """The checkout holding ``notebooks/``: $ACAI_REPRO_ROOT, else the parent of the package, else the cwd."""
    env = os.environ.get("ACAI_REPRO_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2], Path.cwd()]
    for root in candidates:
        if (root / "notebooks").is_dir():
            return root
    raise FileNotFoundError(
        "cannot find the project's notebooks/ folder; run from the checkout or set ACAI_REPRO_ROOT")


def summary_of(name: str) -> tuple[str, dict[str, dict[str, list[Any]]]] | None:
    """For a summary notebook: (the notebook whose runs it reads, its sweeps {profile: grid}); else None."""
    if name not in SUMMARIES:
        return None
    run_notebook_name, target = SUMMARIES[name]
    module, attr = target.split(":")
    return run_notebook_name, getattr(importlib.import_module(module), attr)


def get_schema(name: str) -> Schema:
    if name not in SCHEMAS:
        raise ParameterError(f"unknown notebook {name!r}; valid notebooks: {', '.join(SCHEMAS)}")
    module, attr = SCHEMAS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def notebook_path(name: str) -> Path:
    get_schema(name)
    return repo_root() / "notebooks" / f"{name}.ipynb"


def profile_path(name: str, profile: str) -> Path | None:
    """The YAML file of a profile (None for ``quick``, whose values are the notebook's own)."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return None if profile == "quick" else repo_root() / "notebooks" / f"{name}.{profile}.yaml"


def profile_values(name: str, profile: str) -> dict[str, Any]:
    path = profile_path(name, profile)
    if path is None:
        return {"profile": "quick"}
    if not path.is_file():
        raise ParameterError(f"notebook {name!r} has no {profile!r} profile: {path} is missing")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict) or values.get("profile") != profile:
        raise ParameterError(f"{path} must be a flat mapping that includes 'profile: {profile}'")
    return values


def resolve(name: str, profile: str = "quick", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full, validated parameter set of one run: defaults < profile file < overrides."""
    schema = get_schema(name)
    values = {**profile_values(name, profile), **(overrides or {})}
    if values.get("profile", profile) != profile:
        raise ParameterError(f"parameter 'profile' is set by --profile ({profile!r}); do not override it")
    return schema.validate(values)
