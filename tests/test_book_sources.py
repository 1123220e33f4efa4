"""Which run a book chapter shows: the profile's own parameters first, then the newest."""
import json
from pathlib import Path

import nbformat

from acai_repro.book import newest_run
from acai_repro.runner import resolve


def write(root: Path, run: str, overrides: dict, finished_at: str) -> Path:
    run_dir = root / "quick" / "acai_lines" / run
    run_dir.mkdir(parents=True)
    record = {"notebook": "acai_lines", "profile": "quick", "parameters": resolve("acai_lines", "quick", overrides),
              "metrics": {}, "paper": {}, "command": "c", "device": "cpu", "git_commit": "0" * 40,
              "finished_at": finished_at}
    (run_dir / "metrics.json").write_text(json.dumps(record))
    nbformat.write(nbformat.v4.new_notebook(), run_dir / "acai_lines.ipynb")
    return run_dir


def test_the_run_of_the_profiles_own_parameters_is_preferred_to_a_newer_one(tmp_path):
    own = write(tmp_path, "defaults", {}, "2026-01-01T00:00:00+00:00")
    write(tmp_path, "model=vae", {"model": "vae"}, "2026-02-01T00:00:00+00:00")
    assert newest_run("acai_lines", "quick", tmp_path) == own
    (own / "acai_lines.ipynb").unlink()  # not complete: the newest complete run instead
    assert newest_run("acai_lines", "quick", tmp_path).name == "model=vae"
