"""Book sources: which run a chapter shows (the profile's own parameters first, then the newest); the pages in
_toc.yml, the README's links and the tests the reliability page names."""
import json
import re
from pathlib import Path

import nbformat
import yaml

from acai_repro.book import newest_run
from acai_repro.runner import resolve

TOP = Path(__file__).resolve().parents[1]


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


def toc_files() -> list[str]:
    def files(entry) -> list[str]:
        if isinstance(entry, dict):
            return ([entry["file"]] if "file" in entry else []) + [f for v in entry.values() for f in files(v)]
        return [f for v in entry for f in files(v)] if isinstance(entry, list) else []
    toc = yaml.safe_load((TOP / "_toc.yml").read_text())
    return [toc["root"]] + files(toc)


def test_every_book_page_is_in_the_toc_and_every_listed_page_exists():
    listed = {f for f in toc_files() if not f.startswith(("book/executed/", "book/generated/"))}
    pages = {p.relative_to(TOP).with_suffix("").as_posix() for p in (TOP / "book").glob("*.md")}
    assert listed == pages, f"only in _toc.yml: {sorted(listed - pages)}; not in _toc.yml: {sorted(pages - listed)}"


def test_readme_links_point_at_files_that_exist():
    readme = (TOP / "README.md").read_text()
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)", readme) if "://" not in t]
    assert "book/reliability.md" in targets and "book/speed.md" in targets and "book/layout.md" in targets
    missing = [t for t in targets if not (TOP / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_tests_the_reliability_page_names_exist():
    """Every ``file.py::test_name`` (and ``::test_name`` after it, ``…`` marking a prefix) is a test in tests/."""
    text = (TOP / "book" / "reliability.md").read_text()
    assert "{include}" not in text and "README" not in text, "book/reliability.md holds the text itself"
    sources = {p.name: p.read_text() for p in (TOP / "tests").glob("test_*.py")}
    named, current = [], None
    for file, name in re.findall(r"(test_\w+\.py)?::(test_\w+…?)", text):
        current = file or current
        named.append((current, name))
    assert len(named) > 20
    for file, name in named:
        pattern = "def " + re.escape(name.rstrip("…")) + ("" if name.endswith("…") else r"\(")
        assert file in sources and re.search(pattern, sources[file]), f"book/reliability.md names {file}::{name}"
