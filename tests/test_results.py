"""Result tables from metrics.json: grouping over seeds, paper values and their labels, the README blocks, staleness."""
import json
import math
import subprocess
from pathlib import Path

import nbformat
import pytest

from acai_repro.book import LIVE_ONLY, mark_live_widgets
from acai_repro.cli import main
from acai_repro.results import build_table, code_changed_since, fmt, render_readme
from acai_repro.runner import resolve
from acai_repro.runner.registry import repo_root

GRID = {"model": ["baseline", "acai"], "seed": [0, 1]}


def write_record(root: Path, model: str, seed: int, smoothness: float, commit: str = "a" * 40) -> None:
    params = resolve("acai_lines", "quick", {"model": model, "seed": seed})
    run = root / "quick" / "acai_lines" / f"model={model}_seed={seed}"
    run.mkdir(parents=True)
    record = {"notebook": "acai_lines", "profile": "quick", "parameters": params, "command": f"cmd {model} {seed}",
              "metrics": {"mean_distance_e3": 10.0 + seed, "smoothness": smoothness, "nan_pairs": 0.0},
              "paper": {"mean_distance_e3": 6.88, "smoothness": 0.44}, "device": "cpu (x86_64)", "git_commit": commit}
    (run / "metrics.json").write_text(json.dumps(record))


def test_table_pools_seeds_labels_unverified_values_and_lists_missing_runs(tmp_path):
    write_record(tmp_path, "baseline", 0, 0.5)
    write_record(tmp_path, "baseline", 1, 0.7)
    write_record(tmp_path, "acai", 0, 0.1)
    # a run of other parameters (an old profile, say) is not part of the sweep and must not be counted
    other = tmp_path / "quick" / "acai_lines" / "old"
    other.mkdir()
    record = json.loads((tmp_path / "quick/acai_lines/model=acai_seed=0/metrics.json").read_text())
    record["parameters"]["lr"] = 0.5
    (other / "metrics.json").write_text(json.dumps(record))
    table = build_table("acai_lines", "quick", GRID, tmp_path)
    assert [r["model"] for r in table.rows] == ["baseline", "acai"]
    baseline, acai = table.rows
    assert baseline["runs"] == 2 and baseline["seeds"] == [0, 1] and acai["runs"] == 1
    assert baseline["smoothness"][0] == pytest.approx(0.6) and baseline["smoothness"][1] == pytest.approx(0.1)  # population std of 0.5, 0.7
    assert acai["smoothness"] == (0.1, None)
    assert table.missing == [{"model": "acai", "seed": 1}]
    text = table.markdown()
    assert "| baseline | 10.5 ± 0.5 | 6.88 (unverified) | 0.6 ± 0.1 | 0.44 (unverified) | 0 ± 0 | 2 (seeds 0, 1) |" in text
    assert "acai-repro sweep acai_lines --profile quick -g model baseline,acai -g seed 0,1" in text
    assert "No finished run yet for: model acai, seed 1." in text
    assert build_table("acai_lines", "quick", GRID, tmp_path / "nothing") is None


def test_nan_metrics_are_left_out_of_the_mean_and_all_nan_reads_nan(tmp_path):
    """A metric a run cannot define (NaN, e.g. NAC with one active code) is left out of its row's mean and std."""
    write_record(tmp_path, "baseline", 0, float("nan"))
    write_record(tmp_path, "baseline", 1, 0.7)
    write_record(tmp_path, "acai", 0, float("nan"))
    baseline, acai = build_table("acai_lines", "quick", GRID, tmp_path).rows
    assert baseline["smoothness"] == (0.7, None)
    assert math.isnan(acai["smoothness"][0]) and acai["smoothness"][1] is None


def test_fmt():
    assert [fmt(3), fmt(4.0), fmt(float("nan")), fmt(0.123456), fmt("x")] == ["3", "4", "NaN", "0.123", "x"]


def test_readme_blocks_are_regenerated_and_the_committed_readme_is_current(tmp_path):
    write_record(tmp_path, "acai", 0, 0.1)
    text = "intro\n<!-- results: acai_lines quick -->\nstale text\n<!-- /results -->\nend\n"
    fresh = render_readme(text, tmp_path)
    assert "stale text" not in fresh and "| acai | 10 | 6.88 (unverified) |" in fresh and fresh.endswith("end\n")
    assert render_readme(fresh, tmp_path) == fresh
    with pytest.raises(ValueError, match="no summary notebook sweeps"):
        render_readme("<!-- results: nope quick -->\n<!-- /results -->", tmp_path)
    readme = (repo_root() / "README.md").read_text()
    assert "<!-- results: acai_lines quick -->" in readme and "<!-- results: maskaae_dimensionality quick -->" in readme
    assert render_readme(readme) == readme, "README result tables are stale: run `acai-repro results --readme`"


def test_a_notebook_without_a_summary_is_tabled_over_its_declared_seeds(tmp_path):
    """GAIA has no summary page: its seeds (results.SEEDED) still make one README row, mean +- population std."""
    for seed, sharpness in ((0, 0.004), (1, 0.006)):
        run = tmp_path / "quick" / "gaia_attributes" / f"seed={seed}"
        run.mkdir(parents=True)
        record = {"notebook": "gaia_attributes", "profile": "quick", "command": f"cmd {seed}", "paper": {},
                  "parameters": resolve("gaia_attributes", "quick", {"seed": seed}), "device": "cpu (x86_64)",
                  "git_commit": "a" * 40, "metrics": {"sharpness_gaia": sharpness, "sharpness_ae": 0.005}}
        (run / "metrics.json").write_text(json.dumps(record))
    text = render_readme("<!-- results: gaia_attributes quick -->\n<!-- /results -->", tmp_path)
    assert "| 0.005 ± 0.001 | 0.005 ± 0 | 2 (seeds 0, 1) |" in text
    assert "No finished run yet for: seed 2." in text


def git(top: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(top), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_a_committed_run_is_flagged_when_its_code_changes(tmp_path):
    for path in ("acai_repro/acai/acai.py", "acai_repro/acai/lines_eval.py", "acai_repro/gaia/model.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    (tmp_path / "acai_repro/acai/params.py").write_text("from acai_repro.acai import acai\n")  # the schema's module
    notebook = {"cells": [{"cell_type": "code", "source": ["%matplotlib inline\n", "import acai_repro.acai.params\n"]}]}
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks/acai_lines.ipynb").write_text(json.dumps(notebook))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    record = {"notebook": "acai_lines", "git_commit": git(tmp_path, "rev-parse", "HEAD")}
    assert code_changed_since(record, tmp_path) is None
    assert "uncommitted changes" in code_changed_since({**record, "git_commit": record["git_commit"] + "-dirty"},
                                                       tmp_path)
    assert "does not have" in code_changed_since({**record, "git_commit": "f" * 40}, tmp_path)
    (tmp_path / "acai_repro/gaia/model.py").write_text("v2\n")  # another paper's code: not this run's
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "gaia")
    assert code_changed_since(record, tmp_path) is None
    (tmp_path / "acai_repro/acai/acai.py").write_text("v2\n")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "acai")
    assert code_changed_since(record, tmp_path) == f"code changed since {record['git_commit'][:12]}: acai_repro/acai/acai.py"
    (tmp_path / "acai_repro/acai/lines_eval.py").write_text("v2\n")  # same paper, a module the notebook does not import
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "lines_eval")
    assert "lines_eval" not in code_changed_since(record, tmp_path)


def test_a_notebook_edited_in_its_prose_only_leaves_its_runs_current(tmp_path):
    (tmp_path / "acai_repro/acai").mkdir(parents=True)
    (tmp_path / "acai_repro/acai/params.py").write_text("")
    cells = [{"cell_type": "markdown", "source": ["# Title\n"]}, {"cell_type": "code", "source": ["x = 1\n"]}]
    path = tmp_path / "notebooks/acai_lines.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps({"cells": cells}))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    record = {"notebook": "acai_lines", "git_commit": git(tmp_path, "rev-parse", "HEAD")}
    cells[0]["source"] = ["# A better title\n"]
    path.write_text(json.dumps({"cells": cells}))
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "prose")
    assert code_changed_since(record, tmp_path) is None
    cells[1]["source"] = ["x = 2\n"]
    path.write_text(json.dumps({"cells": cells}))
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "code")
    assert "notebooks/acai_lines.ipynb" in code_changed_since(record, tmp_path)


def test_results_cli_prints_tables(tmp_path, capsys):
    write_record(tmp_path, "acai", 0, 0.1)
    assert main(["results", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## acai_lines (quick)" in out and "`cmd acai 0`" in out


def test_live_widgets_are_marked_live_only():
    nb = nbformat.v4.new_notebook()
    widget = nbformat.v4.new_code_cell("interact(f)")
    widget.outputs = [nbformat.v4.new_output("display_data", {"application/vnd.jupyter.widget-view+json": {}})]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), widget]
    assert mark_live_widgets(nb) == 1
    assert [c.source for c in nb.cells] == ["x = 1", LIVE_ONLY, "interact(f)"]


def test_a_run_is_dirty_only_when_its_own_code_is_uncommitted(tmp_path, monkeypatch):
    from acai_repro.runner import runs

    for path in ("acai_repro/acai/acai.py", "acai_repro/gaia/model.py", "book/x.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    for notebook, module in (("acai_lines", "acai_repro.acai.acai"), ("gaia_attributes", "acai_repro.gaia.model")):
        (tmp_path / "notebooks").mkdir(exist_ok=True)
        (tmp_path / f"notebooks/{notebook}.ipynb").write_text(
            json.dumps({"cells": [{"cell_type": "code", "source": [f"import {module}\n"]}]}))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    monkeypatch.setattr(runs, "repo_root", lambda: tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD")
    (tmp_path / "book/x.md").write_text("v2\n")  # a book page and another paper's code: not this run's
    (tmp_path / "acai_repro/gaia/model.py").write_text("v2\n")
    assert runs.git_commit("acai_lines") == head
    assert runs.git_commit() == head + "-dirty"  # no notebook named: any tracked change counts
    assert runs.git_commit("gaia_attributes") == head + "-dirty"
    (tmp_path / "acai_repro/acai/acai.py").write_text("v2\n")
    assert runs.git_commit("acai_lines") == head + "-dirty"


def test_a_paper_value_can_be_unverified_for_some_rows_only():
    from acai_repro.results import is_unverified

    assert is_unverified("acai_lines", "smoothness")  # the whole notebook
    assert not is_unverified("aae_semisupervised", "test_error", {"n_labels": 100})  # quoted from the paper
    assert is_unverified("aae_semisupervised", "test_error", {"n_labels": 1000})
    assert not is_unverified("aae_semisupervised", "unlabelled_error", {"n_labels": 1000})
    assert not is_unverified("maskaae_dimensionality", "nac")
