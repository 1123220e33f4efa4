"""Result tables built from runs' ``metrics.json``: the book's results page, the README's tables, staleness checks.

Nothing here is typed by hand. A table is the sweep a summary notebook declares (``registry.SUMMARIES``), or that a
notebook without a summary declares for its seeds (:data:`SEEDED`), for one profile: one row per parameter
combination of the grid (seeds pooled as mean +- population std, as in the summaries and the papers' np.std), one
column per metric, the paper's value beside it where the run recorded one (``metrics.json``'s ``paper``), and the
command that made it.

* ``acai-repro results`` prints the tables of every profile that has runs;
* ``acai-repro results --readme`` rewrites the README's blocks between ``<!-- results: NOTEBOOK PROFILE -->`` and
  ``<!-- /results -->``, and the scoreboard between ``<!-- claims -->`` and ``<!-- /claims -->``
  (:mod:`acai_repro.scoreboard`), from the committed ``results/`` folder (a test fails when they are stale);
* ``acai-repro results --check`` also lists committed runs whose notebook or library code changed since the commit
  they were produced with (``metrics.json``'s ``git_commit``); a notebook whose code cells are unchanged (its prose
  edited) leaves its runs current, and the book shows them with the notebook's current prose.
"""
from __future__ import annotations

import importlib
import json
import math
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runner import find_runs, resolve
from .runner.execute import expand_grid
from .runner.registry import SUMMARIES, code_paths, repo_root, summary_of
from .runner.runs import RUNNER_ONLY, sweep_commands
from .verdict import seed_spread

# Paper values the reference notes could not re-read from the papers: labelled "unverified" wherever shown.
# notebook -> metric names, or "*" for all (acai.md: Table 1 and the downstream numbers are from memory of the paper;
# the AAE chapter records no paper value per run: its summary shows the paper's errors, labelled there).
# A dict marks a metric unverified only for the rows its predicate (of the row's swept parameters) accepts: the
# semi-supervised AAE's 1.90 % with 100 labels is confirmed by a quotation of Table 2, its other errors are not.
UNVERIFIED: dict[str, str | frozenset[str] | dict[str, Callable[[dict[str, Any]], bool]]] = {
    "acai_lines": "*",
    "acai_table": "*",
    "acai_mnist": "*",
    "acai_mnist_summary": "*",
    "aae_semisupervised": {"test_error": lambda row: row.get("n_labels") != 100},
}

# Notebooks without a summary page whose runs are still tabled over seeds: notebook -> "module:SWEEPS".
SEEDED = {"gaia_attributes": "acai_repro.gaia.params:GAIA_SWEEPS"}

# The columns worth a table (all numeric metrics when a notebook is not listed).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "acai_lines": ("mean_distance_e3", "smoothness", "nan_pairs"),
    "maskaae_dimensionality": ("frechet_distance", "active_dims", "nac"),
    "aae_priors": ("coverage", "train_coverage", "sw_codes_prior", "own_component_share", "classification_error",
                   "train_classification_error"),
    "aae_semisupervised": ("test_error", "unlabelled_error"),
    "acai_mnist": ("test_mse", "probe_acc", "linear_probe_acc", "clustering_acc"),
    "gaia_attributes": ("sharpness_gaia", "sharpness_ae", "sharpness_real", "recon_l1_gaia", "recon_l1_ae",
                        "mean_on_rate", "mean_off_rate", "mean_others_changed"),
}

# Library code every notebook depends on; a notebook also depends on its paper's subpackage.
BLOCK = re.compile(r"(<!-- results: (\w+) (\w+) -->\n)(.*?)(<!-- /results -->)", re.S)
CLAIMS_BLOCK = re.compile(r"(<!-- claims -->\n)(.*?)(<!-- /claims -->)", re.S)


def tabled() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every table, the summaries' first: its page (a summary, or the notebook itself) -> (run notebook, {profile:
    grid})."""
    found = {summary: summary_of(summary) for summary in SUMMARIES}
    for notebook, target in SEEDED.items():
        module, attr = target.split(":")
        found[notebook] = (notebook, getattr(importlib.import_module(module), attr))
    return found


def is_unverified(notebook: str, metric: str, row: dict[str, Any] | None = None) -> bool:
    """Whether ``notebook``'s paper value of ``metric`` (in the table row ``row``, if given) is unverified."""
    marked = UNVERIFIED.get(notebook, frozenset())
    if isinstance(marked, dict):
        return metric in marked and marked[metric](row or {})
    return marked == "*" or metric in marked


def fmt(value: Any) -> str:
    """3 significant figures; NaN as NaN; integers as integers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{value:.3g}"


@dataclass
class Table:
    """One sweep's runs in one profile, grouped by the swept parameters (seeds pooled)."""

    notebook: str
    profile: str
    keys: list[str]  # swept parameters shown as columns (seed excluded)
    metrics: list[str]
    rows: list[dict[str, Any]]  # key values, "runs", "seeds", metric -> (mean, std | None), "paper" -> {metric: v}
    commands: list[str]  # the sweep command(s) that reproduce every row
    missing: list[dict[str, Any]]  # combinations of the grid with no finished run
    devices: list[str]
    commits: list[str]

    def markdown(self, per_row_commands: bool = False) -> str:
        head = self.keys + [c for m in self.metrics for c in ([m, "paper"] if self._has_paper(m) else [m])] + ["runs"]
        lines = ["| " + " | ".join(head + (["command"] if per_row_commands else [])) + " |",
                 "|" + " --- |" * (len(head) + per_row_commands)]
        for row in self.rows:
            cells = [fmt(row[k]) for k in self.keys]
            for m in self.metrics:
                value, spread = row[m]
                cells.append(fmt(value) + (f" ± {fmt(spread)}" if spread is not None else ""))
                if self._has_paper(m):
                    paper = row["paper"].get(m)
                    cells.append("" if paper is None else fmt(paper) + (" (unverified)"
                                                                        if is_unverified(self.notebook, m, row) else ""))
            cells.append(f"{row['runs']} (seeds {', '.join(map(str, row['seeds']))})")
            if per_row_commands:
                cells.append(" ".join(f"`{c}`" for c in row["commands"]))
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"Profile `{self.profile}`, device {', '.join(self.devices)}; commit "
                 f"{', '.join(f'`{_short(c)}`' for c in self.commits)}. Reproduce: "
                 + "; ".join(f"`{c}`" for c in self.commands) + "."]
        if self.missing:
            notes.append(f"No finished run yet for: {'; '.join(_combo_text(c) for c in self.missing)}.")
        return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"

    def _has_paper(self, metric: str) -> bool:
        return any(metric in row["paper"] for row in self.rows)


def _short(commit: str) -> str:
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _combo_text(combo: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in combo.items()) or "the defaults"


def _comparable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in RUNNER_ONLY and k != "device"}


def grid_runs(records: list[dict[str, Any]], notebook: str, profile: str, grid: Any) -> list[dict[str, Any]]:
    """The runs among ``records`` that belong to ``grid`` in ``profile``: every parameter equal to the profile's value
    or to one of the grid's, up to the runner's own (run folder, device)."""
    wanted = [_comparable(resolve(notebook, profile, combo)) for combo in expand_grid(grid)]
    return [r for r in records if _comparable(r["parameters"]) in wanted]


def build_table(notebook: str, profile: str, grid: Any, results_root: Path | None = None) -> Table | None:
    """The table of ``grid``'s runs of ``notebook`` in ``profile`` (None when none of them has finished)."""
    combos = expand_grid(grid)
    wanted = [_comparable(resolve(notebook, profile, combo)) for combo in combos]
    records = grid_runs(find_runs(notebook, profile, results_root), notebook, profile, grid)
    if not records:
        return None
    keys = [k for k in dict.fromkeys(k for c in combos for k in c) if k != "seed"]
    numeric = list(dict.fromkeys(m for r in records for m, v in r["metrics"].items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)))
    metrics = [m for m in TABLE_METRICS.get(notebook, numeric) if m in numeric]
    rows, missing = [], []
    for combo, params in zip(combos, wanted):
        if any(_comparable(r["parameters"]) == params for r in records):
            continue
        missing.append(combo)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record["parameters"][k] for k in keys), []).append(record)
    order = {tuple(resolve(notebook, profile, c)[k] for k in keys): i for i, c in enumerate(combos)}
    for key_values in sorted(groups, key=lambda kv: order.get(kv, len(order))):
        group = groups[key_values]
        row: dict[str, Any] = dict(zip(keys, key_values))
        row["runs"], row["seeds"] = len(group), sorted(r["parameters"].get("seed", 0) for r in group)
        row["paper"] = dict(group[0]["paper"])
        row["commands"] = [r["command"] for r in group]
        for m in metrics:
            values = [r["metrics"][m] for r in group if m in r["metrics"]]
            avg, std, count = seed_spread(values)  # NaN: undefined for that run (e.g. NAC of one code)
            row[m] = (avg, std if count > 1 else None) if count else (math.nan if values else "—", None)
        rows.append(row)
    return Table(notebook, profile, keys, metrics, rows, sweep_commands(notebook, profile, grid), missing,
                 sorted({r["device"] for r in records}), sorted({r["git_commit"] for r in records}))


def results_page(profiles: dict[str, str], results_root: Path | None = None) -> str:
    """The book's results page (MyST): for each table of :func:`tabled`, its runs in the profile the book shows."""
    parts = ["# Results against the papers", "",
             "Every number on this page is read from the runs' `metrics.json` files when the book is built; none is "
             "typed by hand. Each row gives the value obtained (mean ± population std over the seeds listed), the "
             "paper's value where the paper reports one (labelled *unverified* where it could not be checked against "
             "the paper text), and the command that reproduces it. `smoke` numbers only show that the code runs; "
             "`quick` numbers come from a small CPU budget; `paper` numbers from GPU runs at the papers' scale.", ""]
    for page, (run_notebook, sweeps) in tabled().items():
        profile = profiles.get(page)
        if profile is None:
            continue
        grid = sweeps.get(profile, {})
        table = build_table(run_notebook, profile, grid, results_root)
        parts += [f"## `{run_notebook}` ({profile} profile)", ""]
        parts.append(table.markdown(per_row_commands=True) if table else f"No finished `{profile}` run.\n")
        if table and profile == "paper":
            from .runner import read_metrics
            root = Path(results_root) if results_root is not None else repo_root() / "results"
            stale = [(p.parent.name, code_changed_since(read_metrics(p)))
                     for p in sorted((root / profile / run_notebook).glob("*/metrics.json"))]
            parts += [f"- run `{name}`: {reason}" for name, reason in stale if reason] + [""]
    return "\n".join(parts)


def tables(profile: str, results_root: Path | None = None) -> list[Table]:
    """Every table of :func:`tabled` in ``profile`` that has at least one finished run."""
    found = []
    for run_notebook, sweeps in tabled().values():
        table = build_table(run_notebook, profile, sweeps.get(profile, {}), results_root) if profile in sweeps else None
        if table is not None:
            found.append(table)
    return found


def render_readme(text: str, results_root: Path | None = None) -> str:
    """``text`` with every ``<!-- results: NOTEBOOK PROFILE -->`` block and the ``<!-- claims -->`` block (the
    scoreboard) regenerated from ``results_root``."""
    sweeps = dict(tabled().values())  # run notebook -> {profile: grid}

    def block(match: re.Match) -> str:
        opening, notebook, profile = match.group(1), match.group(2), match.group(3)
        if notebook not in sweeps:
            raise ValueError(f"README asks for results of {notebook!r}, which no summary notebook sweeps; "
                             f"valid: {', '.join(sweeps)}")
        table = build_table(notebook, profile, sweeps[notebook][profile], results_root)
        body = table.markdown() if table else f"No finished `{profile}` run of `{notebook}` is committed yet.\n"
        return opening + "\n" + body + "\n" + match.group(5)

    text = BLOCK.sub(block, text)
    if CLAIMS_BLOCK.search(text):
        from .scoreboard import markdown, scoreboard
        board = markdown(scoreboard(results_root))
        text = CLAIMS_BLOCK.sub(lambda m: m.group(1) + "\n" + board + "\n" + m.group(3), text)
    return text


def code_changed_since(record: dict[str, Any], top: Path | None = None) -> str | None:
    """Why a committed run may be stale (its code changed since its commit), or None when it is current."""
    top = top or repo_root()
    commit = record.get("git_commit", "unknown")
    base, dirty = commit.removesuffix("-dirty"), commit.endswith("-dirty")
    try:
        known = subprocess.run(["git", "-C", str(top), "cat-file", "-e", f"{base}^{{commit}}"], capture_output=True)
    except OSError:
        return "git is not available: cannot tell whether its code changed"
    if known.returncode != 0:
        return f"produced at commit {commit!r}, which this checkout does not have"
    changed = subprocess.run(["git", "-C", str(top), "diff", "--name-only", base, "HEAD", "--",
                              *code_paths(record["notebook"], top)], capture_output=True, text=True).stdout.split()
    changed = [path for path in changed if not (path.endswith(".ipynb") and prose_only(top, base, path))]
    if changed:
        return f"code changed since {base[:12]}: {', '.join(changed[:5])}" + (" ..." if len(changed) > 5 else "")
    return f"produced from uncommitted changes on top of {base[:12]}" if dirty else None


def code_cells(notebook_json: str) -> list[str]:
    """The sources of a notebook's code cells: what its results depend on (its Markdown is prose)."""
    return ["".join(c["source"]) for c in json.loads(notebook_json)["cells"] if c["cell_type"] == "code"]


def prose_only(top: Path, base: str, path: str) -> bool:
    """Whether the notebook ``path`` differs between commit ``base`` and HEAD in its Markdown cells only."""
    def at(rev: str) -> str | None:
        shown = subprocess.run(["git", "-C", str(top), "show", f"{rev}:{path}"], capture_output=True, text=True)
        return shown.stdout if shown.returncode == 0 else None

    before, after = at(base), at("HEAD")
    return before is not None and after is not None and code_cells(before) == code_cells(after)


def stale_runs(results_root: Path | None = None, profiles: tuple[str, ...] = ("paper", "quick"),
               top: Path | None = None) -> list[tuple[Path, str]]:
    """(metrics.json, reason) for every run under ``results_root`` whose code changed since it was produced."""
    from .runner import read_metrics

    root = Path(results_root) if results_root is not None else repo_root() / "results"
    found = []
    for profile in profiles:
        for path in sorted((root / profile).glob("*/*/metrics.json")):
            reason = code_changed_since(read_metrics(path), top)
            if reason:
                found.append((path, reason))
    return found
