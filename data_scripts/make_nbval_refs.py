"""Re-create the nbval regression references: each chapter notebook executed with its smoke profile.

    python data_scripts/make_nbval_refs.py [NAME ...]

The reference writes its run under tests/nbval/.runs/<name> (relative to the notebook, cleaned by `make test`),
so `pytest --nbval tests/nbval` re-executes it in the same place on any checkout.
"""
import sys
from pathlib import Path

import papermill as pm

from acai_repro.runner import CHAPTERS, resolve
from acai_repro.runner.registry import notebook_path

HERE = Path(__file__).resolve().parents[1] / "tests" / "nbval"


def main(names: list[str]) -> None:
    for name in names or CHAPTERS:
        params = {**resolve(name, "smoke"), "run_dir": f".runs/{name}"}
        out = HERE / f"{name}.ipynb"
        pm.execute_notebook(str(notebook_path(name)), str(out), parameters=params, cwd=str(HERE),
                            kernel_name="python3")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
