"""Packaging and layout: environment.yml mirrors pyproject.toml; torchvision is never needed; the papers subpackages
are independent of each other and of the speed code."""
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge's name for the same package


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r) for r in project["dependencies"]}
    pip_side |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda_side = {CONDA_NAMES.get(_name(d), _name(d)) for d in conda if isinstance(d, str)} - {"python", "pip"}
    pip_section = next(d["pip"] for d in conda if isinstance(d, dict))  # what conda-forge lacks, then the project
    conda_side |= {_name(r) for r in pip_section if not r.startswith("-")}
    assert pip_side == conda_side


def test_package_imports_without_torchvision():
    code = ("import sys, importlib, pkgutil, acai_repro;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(acai_repro.__path__, 'acai_repro.')];"
            "assert 'torchvision' not in sys.modules, 'torchvision imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


PAPERS = ("aae", "acai", "gaia", "maskaae")
SPEED_CODE = ("acai_repro.bench",)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the acai_repro modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("acai_repro")}


def test_papers_import_no_other_paper_and_no_speed_code():
    for paper in PAPERS:
        others = tuple(f"acai_repro.{other}" for other in PAPERS if other != paper)
        for path in (ROOT / "acai_repro" / paper).rglob("*.py"):
            bad = {m for m in imported_modules(path) if m.startswith(others + SPEED_CODE)}
            assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
    for path in (ROOT / "acai_repro" / "common").rglob("*.py"):  # shared code owes nothing to a paper
        bad = {m for m in imported_modules(path) if m.startswith(tuple(f"acai_repro.{p}" for p in PAPERS))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
