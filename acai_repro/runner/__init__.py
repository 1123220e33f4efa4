"""Runs, sweeps and results: the papermill runner every notebook goes through."""
from .execute import RunFailed, run_notebook, sweep
from .registry import CHAPTERS, get_schema, resolve
from .runs import Run, RunLockedError, find_runs, read_metrics, run_id, start_run
from .schema import ParameterError, Param, Schema

__all__ = ["CHAPTERS", "ParameterError", "Param", "Run", "RunFailed", "RunLockedError", "Schema", "find_runs",
           "get_schema", "read_metrics", "resolve", "run_id", "run_notebook", "start_run", "sweep"]
