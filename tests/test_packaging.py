"""Packaging: environment.yml mirrors pyproject.toml; torch and torchvision stay where they belong."""
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
    assert pip_side == conda_side


def test_torch_is_constrained_to_the_cpu_build_here_and_open_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch>=2.4" in project["dependencies"]
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_package_imports_without_torchvision():
    code = ("import sys, importlib, pkgutil, acai_repro;"
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(acai_repro.__path__, 'acai_repro.')];"
            "assert 'torchvision' not in sys.modules, 'torchvision imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
