"""Re-create the nbval regression references: each chapter notebook executed with its smoke profile.

    python data_scripts/make_nbval_refs.py [NAME ...]

A run notebook's reference writes its run under tests/nbval/.runs/<name> (relative to the notebook, cleaned by
`make test`), so `pytest --nbval tests/nbval` re-executes it in the same place on any checkout.

A summary notebook reads runs instead of training: its smoke sweep (``acai_repro.runner.registry.SUMMARIES``) is run
into tests/nbval/fixtures/results, stripped to what a summary reads (metrics.json and the small arrays and figures;
no checkpoints, no executed notebooks) and committed, so the summary's reference re-executes in seconds on fixed inputs.
"""
import shutil
import sys
from pathlib import Path

import papermill as pm

from acai_repro.acai.params import ACAI_BUDGET_SWEEPS
from acai_repro.runner import CHAPTERS, resolve, sweep
from acai_repro.runner.registry import notebook_path, summary_of

HERE = Path(__file__).resolve().parents[1] / "tests" / "nbval"
FIXTURES = Path("fixtures") / "results"  # relative to HERE, where nbval runs the notebooks
STRIPPED = ("ckpt-*", "*.ipynb", ".lock", ".*.tmp")
# Runs a summary reads besides its own sweep: summary -> {profile: grid} of its run notebook (Table 1's budget study).
EXTRA_SWEEPS = {"acai_table": ACAI_BUDGET_SWEEPS}


def make_fixtures(name: str) -> None:
    """Run the smoke sweep a summary reads into tests/nbval/fixtures/results and strip it."""
    run_name, sweeps = summary_of(name)
    root = HERE / FIXTURES
    shutil.rmtree(root / "smoke" / run_name, ignore_errors=True)
    grids = [sweeps["smoke"]] + ([EXTRA_SWEEPS[name]["smoke"]] if name in EXTRA_SWEEPS else [])
    for combo, outcome in sweep(run_name, "smoke", grids, results_root=root):
        if isinstance(outcome, Exception):
            raise RuntimeError(f"fixture run {run_name} {combo} failed: {outcome}")
    for pattern in STRIPPED:
        for path in (root / "smoke" / run_name).rglob(pattern):
            path.unlink()


def main(names: list[str]) -> None:
    for name in names or CHAPTERS:
        if summary_of(name):
            make_fixtures(name)
            params = {**resolve(name, "smoke"), "run_dir": f".runs/{name}", "results_root": FIXTURES.as_posix()}
        else:
            params = {**resolve(name, "smoke"), "run_dir": f".runs/{name}"}
        out = HERE / f"{name}.ipynb"
        shutil.rmtree(HERE / ".runs" / name, ignore_errors=True)  # fresh: never resume an older run's checkpoints
        pm.execute_notebook(str(notebook_path(name)), str(out), parameters=params, cwd=str(HERE),
                            kernel_name="python3")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
