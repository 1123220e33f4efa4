"""Build the Jupyter Book (version 1, Sphinx) from notebooks papermill already executed; the book never runs code.

For each chapter in :data:`acai_repro.runner.CHAPTERS` the executed notebook comes from, in this order:

1. ``source_profile`` when given (the tests use ``"smoke"``): the newest finished run of that profile under
   ``results_root``, or a fresh run of it when there is none;
2. else the newest committed GPU run ``results/paper/<name>/<run-id>/<name>.ipynb``;
3. else the newest finished run of ``profile_fallback`` (``quick``) under ``results_root`` (the quick runs the
   README's tables come from are committed, so a fresh clone builds without training);
4. else a fresh run of ``profile_fallback`` (minutes per model on a CPU).

"Newest" prefers the run of the profile's own parameters (e.g. ACAI itself among the seven ``acai_lines`` models),
then the latest ``finished_at`` in the runs' ``metrics.json`` (run-ids are parameter hashes, not dates).
The notebook is copied to ``book/executed/<name>.ipynb`` with a note under its title saying which run it is, then
``jupyter-book build`` renders intro + chapters offline (``_config.yml``: vendored embed.js and MathJax).
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from tqdm import tqdm

from .runner import CHAPTERS, ParameterError, read_metrics, resolve, run_notebook, sweep
from .runner.registry import repo_root, summary_of

EXECUTED = Path("book") / "executed"  # relative to the checkout; git-ignored
GENERATED = Path("book") / "generated"  # pages written from the runs' metrics.json at build time; git-ignored
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LIVE_ONLY = (":::{admonition} Live only\n:class: tip\nThe widget below needs a running Python kernel: in this page it "
             "shows the state it was saved with and moving it changes nothing. Rerun the notebook in Jupyter to use "
             "it; the figures marked *scrubbable* work here.\n:::")


class BookBuildError(RuntimeError):
    """jupyter-book failed; its own messages (e.g. a glue key no cell defines) are printed above."""


@dataclass(frozen=True)
class ChapterSource:
    """Where one chapter's executed notebook came from."""

    name: str
    profile: str
    run_dir: Path
    ran_now: bool  # True: executed by this build; False: an earlier (e.g. committed) run
    metrics: dict[str, Any] | None  # the run's metrics.json, None when it wrote none

    @property
    def notebook(self) -> Path:
        return self.run_dir / f"{self.name}.ipynb"


def newest_run(name: str, profile: str, results_root: Path) -> Path | None:
    """The finished run (executed notebook + metrics.json) of ``name`` in ``profile`` that finished last."""
    try:
        defaults = _identity(resolve(name, profile))
    except (ParameterError, KeyError):  # an unregistered name or a profile without a file: no preferred run
        defaults = None
    finished = []
    for m in (results_root / profile / name).glob("*/metrics.json"):
        if (m.parent / f"{name}.ipynb").is_file():
            record = read_metrics(m)
            finished.append((_identity(record["parameters"]) == defaults, record.get("finished_at", ""), m.parent))
    return max(finished)[2] if finished else None


def _identity(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("run_dir", "results_root", "device")}


def chapter_source(name: str, profile_fallback: str, source_profile: str | None, results_root: Path) -> ChapterSource:
    """Pick (or produce) the executed notebook of one chapter, following the order in the module docstring."""
    if source_profile is not None:
        profile, run_dir = source_profile, newest_run(name, source_profile, results_root)
    else:
        profile, run_dir = "paper", newest_run(name, "paper", results_root)
        if run_dir is None:
            profile, run_dir = profile_fallback, newest_run(name, profile_fallback, results_root)
    ran_now = run_dir is None
    if ran_now:
        run_dir = run_summary(name, profile, results_root) if summary_of(name) else run_notebook(
            name, profile, results_root=results_root)
    metrics_path = run_dir / "metrics.json"
    metrics = read_metrics(metrics_path) if metrics_path.is_file() else None
    return ChapterSource(name, profile, run_dir, ran_now, metrics)


def run_summary(name: str, profile: str, results_root: Path, jobs: int = 1) -> Path:
    """Run the grid of runs a summary notebook expects in ``profile`` (finished runs are reused), then the summary."""
    run_name, sweeps = summary_of(name)
    grid = sweeps.get(profile, {})
    failed = [(combo, outcome) for combo, outcome in sweep(run_name, profile, grid, jobs=jobs, results_root=results_root,
                                                           reuse_finished=True) if isinstance(outcome, Exception)]
    if failed:
        raise RuntimeError(f"{name}: {len(failed)} run(s) of {run_name} failed, first {failed[0][0]}: {failed[0][1]}")
    return run_notebook(name, profile, {"results_root": str(results_root)}, results_root=results_root)


def differences_from_paper(name: str, params: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(parameter, this run's value, the paper profile's value) for every setting where the run departs from the
    ``paper`` profile (the papers' settings). Not settings: the runner's own (folder, device), the seed, and what the
    paper profile's own sweep varies (which model, which prior...)."""
    from .results import tabled

    try:
        paper = resolve(name, "paper")
    except (ParameterError, KeyError):  # a notebook without a paper profile
        return []
    grids = [sweeps.get("paper", {}) for run, sweeps in tabled().values() if run == name]
    swept = {k for grid in grids for g in ([grid] if isinstance(grid, dict) else grid) for k in g}
    skip = {"profile", "seed"} | swept
    return [(k, v, paper[k]) for k, v in _identity(params).items() if k not in skip and k in paper and paper[k] != v]


def rerun_commands(name: str, profile: str, params: dict[str, Any]) -> tuple[str, str]:
    """The ``acai-repro run`` and the plain ``papermill`` commands that rerun a page's notebook with its parameters
    (the notebook's defaults are the ``quick`` profile; another profile is its YAML file, then the overrides)."""
    base = resolve(name, profile)
    flags = [w for k, v in _identity(params).items() if k in base and base[k] != v for w in ("-p", k, str(v))]
    profile_file = [] if profile == "quick" else ["-f", f"notebooks/{name}.{profile}.yaml"]
    return (shlex.join(["acai-repro", "run", name, "--profile", profile, *flags]),
            shlex.join(["papermill", f"notebooks/{name}.ipynb", f"{name}.ipynb", *profile_file, *flags]))


def provenance_note(source: ChapterSource, top: Path) -> str:
    """The box under a chapter's title: the run (profile, folder, device, commit), the settings where it departs
    from the paper's, and the commands that rerun it."""
    run_dir = source.run_dir.resolve()
    shown = run_dir.relative_to(top) if run_dir.is_relative_to(top) else run_dir
    lines = [f"This page is the `{source.profile}` run `{shown}`"
             + (f", on {source.metrics['device']} at commit `{source.metrics['git_commit'][:12]}`"
                + (f", finished {source.metrics['finished_at']}." if "finished_at" in source.metrics else ".")
                if source.metrics is not None else ".")]
    if source.profile == "smoke":
        lines.append("The `smoke` profile only checks that every cell runs: its numbers mean nothing.")
    elif source.profile != "paper":
        lines.append("No committed `paper` run was used: the numbers show the direction of the paper's results "
                     "at a much smaller budget, not the paper's values.")
    if source.metrics is not None:
        params = source.metrics["parameters"]
        read = summary_of(source.name)
        differ = [] if read else differences_from_paper(source.name, params)
        if read:
            lines += ["", f"It trains nothing: it reads the finished `{source.profile}` runs of `{read[0]}`, whose "
                          "page gives their settings beside the paper's."]
        elif differ:
            lines += ["", "Where this run departs from the `paper` profile (the papers' settings):", "",
                      "| parameter | this run | paper |", "| --- | --- | --- |"]
            lines += [f"| `{k}` | `{v!r}` | `{p!r}` |" for k, v, p in differ]
        elif source.profile != "smoke":
            lines += ["", "Every setting is the `paper` profile's."]
        run_command, papermill = rerun_commands(source.name, source.profile, params)
        lines += ["", f"Rerun: `{run_command}`, or by hand `{papermill}`; other parameters with `-p NAME VALUE` "
                      "({doc}`/book/runs`). The executed notebook is this page's download button (.ipynb)."]
    return ":::{note}\n" + "\n".join(lines) + "\n:::"


def current_prose(nb: nbformat.NotebookNode, notebook: Path) -> bool:
    """Give an executed notebook the current Markdown and figure captions (cell metadata ``mystnb``) of ``notebook``
    when their code cells are the same (an edit of the prose needs no rerun: ``acai-repro results --check`` agrees);
    return whether it did."""
    if not notebook.is_file():
        return False
    current = nbformat.read(notebook, as_version=4).cells
    ran = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if [c.cell_type for c in ran] != [c.cell_type for c in current] or any(
            a.source != b.source for a, b in zip(ran, current) if a.cell_type == "code"):
        return False
    for cell, now in zip(ran, current):
        if cell.cell_type == "markdown":
            cell.source = now.source
        if "mystnb" in now.metadata:
            cell.metadata["mystnb"] = now.metadata["mystnb"]
    return True


def copy_chapter(source: ChapterSource, top: Path) -> Path:
    """Copy the executed notebook into the book: a provenance box after the title, the parameter and set-up cells
    folded away (:func:`fold_boilerplate`), live widgets marked, no CDN links."""
    nb = nbformat.read(source.notebook, as_version=4)
    current_prose(nb, top / "notebooks" / f"{source.name}.ipynb")
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("# ") else 0
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(provenance_note(source, top)))
    fold_boilerplate(nb)
    mark_live_widgets(nb)
    drop_cdn_links(nb)
    target = top / EXECUTED / f"{source.name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return target


PROGRESS = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")  # a tqdm progress bar: "42%|####   | 630/1500 ["
# An absolute path (at the start of a word or string) to or into a checkout's results folder.
ABSOLUTE_PATH = re.compile(r"""(?<![^\s"'(=])/\S*?/(results(?:/\S*)?)""")
DRAWS = re.compile(r"\b(save_figure|scrubbable|to_jshtml)\(")  # a cell whose output is a figure or an animation
NBVAL_MARK = "# NBVAL_IGNORE_OUTPUT"  # an instruction to the regression tests, not to the reader


def fold_boilerplate(nb: nbformat.NotebookNode) -> None:
    """Tag cells for the reader (myst-nb's cell tags): the notebook's default parameters removed (the box above gives
    the run's own), papermill's injected parameters folded with the machine's paths made relative, and the set-up
    cells (those that open with imports) and the drawing cells (a figure or an animation, with its caption) shown by
    their output, the code one click away. Training progress bars (tqdm on stderr) and the regression tests'
    ``# NBVAL_IGNORE_OUTPUT`` marks are left out of the page, and printed paths into the results folder are made
    relative; the run's own notebook keeps everything."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.get("outputs", []) if not (
            o.get("output_type") == "stream" and o.get("name") == "stderr" and PROGRESS.search(o.get("text", "")))]
        for output in cell.outputs:
            if output.get("output_type") == "stream":
                output["text"] = ABSOLUTE_PATH.sub(r"\1", output["text"])
        cell.source = "\n".join(line for line in cell.source.splitlines() if line.strip() != NBVAL_MARK)
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags:
            tags.append("remove-cell")
        elif "injected-parameters" in tags:
            tags.append("hide-cell")
            cell.source = ABSOLUTE_PATH.sub(r"\1", cell.source)
        elif _opens_with_imports(cell.source) or DRAWS.search(cell.source):
            tags.append("hide-input")


def _opens_with_imports(source: str) -> bool:
    code = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return bool(code) and code[0].startswith(("import ", "from "))


def drop_cdn_links(nb: nbformat.NotebookNode) -> None:
    """Remove the Font Awesome CDN link of matplotlib's ``to_jshtml()`` from HTML outputs: the book fetches nothing
    (the theme's local Font Awesome draws the player's buttons). ``plots.scrubbable`` does this already."""
    from .plots import _JSHTML_CDN_LINK

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is not None:
                output["data"]["text/html"] = _JSHTML_CDN_LINK.sub("", html if isinstance(html, str) else "".join(html))


def mark_live_widgets(nb: nbformat.NotebookNode) -> int:
    """Put a "live only" note before every cell whose output is a kernel-driven widget; return how many."""
    live = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))]
    for i in reversed(live):
        nb.cells.insert(i, nbformat.v4.new_markdown_cell(LIVE_ONLY))
    return len(live)


def write_results_page(sources: list[ChapterSource], results_root: Path, top: Path) -> Path:
    """book/generated/results.md: every summary's runs, in the profile the book shows, beside the papers' values."""
    from .results import results_page

    target = top / GENERATED / "results.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(results_page({s.name: s.profile for s in sources}, results_root))
    return target


SCOREBOARD_INTRO = """# Reproduction scoreboard

Does each paper's claim hold in this project's runs? One row per claim: the paper's statement and number, what the
committed runs obtained (mean ± population standard deviation over the seeds listed, with the profile and the device
that ran them), and a verdict read by the rule printed beside it. Every rule compares means only beyond the larger
spread over seeds, and a comparison needs at least three seeds a side. The table is computed from the runs'
`metrics.json` when the book is built (`acai-repro results --claims` prints the same table, and the README shows
it); each row links to the page with its evidence, and each paper's commands remake its runs.

`quick` runs are a CPU budget far below the papers' (minutes instead of GPU-days): a claim that does not hold at
`quick` may hold at the papers' scale, which only the `paper` profile on a GPU can show. Each paper's outcome page
says what was measured on the way.

"""


def write_scoreboard_page(results_root: Path, top: Path) -> Path:
    """book/generated/scoreboard.md: :mod:`acai_repro.scoreboard` over ``results_root``, with links and citations."""
    from .scoreboard import markdown, scoreboard

    target = top / GENERATED / "scoreboard.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(SCOREBOARD_INTRO + markdown(scoreboard(results_root), book=True, heading="##"))
    return target


def check_toc(top: Path) -> None:
    """``_toc.yml`` must list ``book/executed/<name>`` for exactly the chapters in CHAPTERS, in that order."""
    def files(entry: Any) -> list[str]:
        if isinstance(entry, dict):
            return ([entry["file"]] if "file" in entry else []) + [f for v in entry.values() for f in files(v)]
        return [f for v in entry for f in files(v)] if isinstance(entry, list) else []

    toc_path = top / "_toc.yml"
    listed = [f for f in files(yaml.safe_load(toc_path.read_text())) if f.startswith(EXECUTED.as_posix())]
    expected = [(EXECUTED / name).as_posix() for name in CHAPTERS]
    if listed != expected:
        raise ValueError(f"{toc_path} lists the chapters {listed}, but acai_repro.runner.CHAPTERS needs {expected}")


def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` of this interpreter's environment (so a venv build never picks up another install)."""
    beside = Path(sys.executable).with_name("jupyter-book")
    found = str(beside) if beside.is_file() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book is not installed; install the book extra: pip install -e '.[book]'")
    return [found]


def build_book(profile_fallback: str = "quick", source_profile: str | None = None,
               results_root: Path | None = None, out_dir: Path | None = None) -> Path:
    """Fill ``book/executed/`` and build the HTML; return the ``html`` folder (``<out_dir>/_build/html``).

    ``results_root`` defaults to ``<checkout>/results``; ``out_dir`` (jupyter-book's ``--path-output``) to the
    checkout, i.e. the HTML lands in ``<checkout>/_build/html``. The build runs with ``-W`` (warnings are errors:
    a broken glue key, citation or cross-reference fails it) and ``-n`` (nitpicky cross-references).
    """
    top = repo_root()
    results_root = Path(results_root) if results_root is not None else top / "results"
    out_dir = Path(out_dir).resolve() if out_dir is not None else top
    check_toc(top)
    sources = []
    for name in CHAPTERS:
        source = chapter_source(name, profile_fallback, source_profile, results_root)
        copy_chapter(source, top)
        sources.append(source)
        tqdm.write(f"book: {name} <- {source.profile} run {source.run_dir}"
                   + (" (executed now)" if source.ran_now else ""))
    write_results_page(sources, results_root, top)
    write_scoreboard_page(results_root, top)
    command = jupyter_book_command() + ["build", str(top), "--path-output", str(out_dir), "-W", "-n", "--keep-going",
                                        "--quiet"]
    if subprocess.run(command, cwd=top).returncode != 0:
        raise BookBuildError(f"the book did not build (warnings count as errors); see the messages above. "
                             f"Command: {' '.join(command)}")
    return out_dir / "_build" / "html"
