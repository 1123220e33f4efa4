"""The offline book: chapter choice, the toc check, the vendored JS, and a real build from smoke runs.

The build (the session fixture ``book`` in conftest.py, shared with test_browser.py) runs every chapter with the
smoke profile into a temporary results folder, builds the book into a temporary output folder and then reads the
HTML: chapter pages, glued numbers, the saved widget state with the vendored embedder, the local MathJax, and no
script/stylesheet/font fetched from the network.
"""
import ast
import html
import json
import re
from pathlib import Path

import nbformat
import pytest

from acai_repro.book import (EXECUTED, check_toc, current_prose, differences_from_paper, fold_boilerplate, newest_run,
                             rerun_commands)
from acai_repro.runner import CHAPTERS, resolve
from acai_repro.runner.registry import repo_root

# One xdist worker runs every test of the session-scoped book (test_browser.py too), so it is built once.
pytestmark = pytest.mark.xdist_group("book")

TOP = repo_root()
VENDOR = TOP / "book" / "_vendor"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# {glue}`key`, {glue:text}`key:.4f`, {glue:}`nb.ipynb::key` ... in Markdown.
GLUE_REF = re.compile(r"\{glue(?::(any|text|md|))?\}`([^`]+)`")


def write_run(root: Path, profile: str, name: str, run: str, finished_at: str, notebook: bool = True) -> Path:
    run_dir = root / profile / name / run
    run_dir.mkdir(parents=True)
    record = {"notebook": name, "profile": profile, "parameters": {}, "metrics": {}, "paper": {},
              "command": f"acai-repro run {name} --profile {profile}", "device": "cpu", "git_commit": "0" * 40,
              "finished_at": finished_at}
    (run_dir / "metrics.json").write_text(json.dumps(record))
    if notebook:
        nbformat.write(nbformat.v4.new_notebook(), run_dir / f"{name}.ipynb")
    return run_dir


def test_newest_run_is_the_last_finished_complete_run(tmp_path):
    write_run(tmp_path, "paper", "nb", "a-111", "2025-03-01T00:00:00+00:00")
    newest = write_run(tmp_path, "paper", "nb", "z-000", "2025-04-01T00:00:00+00:00")  # later, not last by name
    write_run(tmp_path, "paper", "nb", "b-222", "2025-02-01T00:00:00+00:00")
    write_run(tmp_path, "paper", "nb", "c-333", "2025-05-01T00:00:00+00:00", notebook=False)  # no notebook
    assert newest_run("nb", "paper", tmp_path) == newest
    assert newest_run("nb", "quick", tmp_path) is None
    assert newest_run("other", "paper", tmp_path) is None


def test_toc_must_list_the_chapters_in_order(tmp_path):
    check_toc(TOP)  # the committed _toc.yml agrees with CHAPTERS
    chapters = [{"file": f"{EXECUTED.as_posix()}/{name}"} for name in CHAPTERS]
    (tmp_path / "_toc.yml").write_text(json.dumps({"format": "jb-book", "root": "book/intro",
                                                   "chapters": chapters + [{"file": "book/executed/extra"}]}))
    with pytest.raises(ValueError, match=r"_toc.yml lists the chapters .*book/executed/extra"):
        check_toc(tmp_path)


def test_vendored_js_and_licences_are_there():
    embed = VENDOR / "widgets" / "embed.js"
    fonts = set(re.findall(r'"([0-9a-f]{20}\.woff2?)"', embed.read_text()))
    assert len(fonts) == 6 and all((VENDOR / "widgets" / f).is_file() for f in fonts)
    assert (VENDOR / "mathjax" / "tex-chtml.js").is_file()
    assert (VENDOR / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").is_file()
    for package in ("widgets", "mathjax"):
        assert "data_scripts/vendor_js.sh" in (VENDOR / package / "NOTICE.md").read_text()
        assert (VENDOR / package / "LICENSE").stat().st_size > 500
    assert sum(f.stat().st_size for f in VENDOR.rglob("*") if f.is_file()) < 6e6


def glue_values(notebook: Path) -> dict[str, dict]:
    """key -> the glued output's data (mime prefix stripped) of an executed notebook."""
    values = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                prefix = scrap.get("mime_prefix", "")
                values[scrap["name"]] = {k[len(prefix):]: v for k, v in output["data"].items()}
    return values


def expected_text(plain: str, spec: str) -> str:
    """What {glue:text}`key:spec` prints: the literal's value through format()."""
    try:
        value = ast.literal_eval(plain)
    except (SyntaxError, ValueError):
        value = plain
    if spec and spec[-1] in "eEfFgG%":
        value = float(value)
    return format(value, spec) if spec else str(value)


def glue_refs(text: str) -> list[tuple[str, str, str, str]]:
    """(role, notebook path or '', key, format spec) for each glue role in Markdown text."""
    refs = []
    for role, content in GLUE_REF.findall(text):
        path, _, rest = content.partition("::") if "::" in content else ("", "", content)
        key, _, spec = rest.partition(":") if role == "text" else (rest, "", "")
        refs.append((role, path, key, spec))
    return refs


@pytest.mark.slow
def test_book_builds_offline_from_smoke_runs(book):
    html_dir, seconds = book
    print(f"book built from smoke runs in {seconds:.1f} s")
    pages = {name: html_dir / EXECUTED / f"{name}.html" for name in CHAPTERS}
    assert (html_dir / "index.html").is_file() and (html_dir / "book" / "intro.html").is_file()
    for name, page in pages.items():
        assert page.is_file(), f"no page for chapter {name}"
        assert "smoke</span></code> run" in page.read_text(), "provenance note missing"


def test_boilerplate_is_folded_and_progress_bars_left_out():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('seed = 1\nrun_dir = "/home/someone/checkout/results/quick/x/run"\n'
                                  "results_root = '/tmp/book0/results'",
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("# set-up\nimport numpy as np\nrun = start()"),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nfig = draw()\nrun.save_figure(fig, 'x')", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="gaia:  42%|####    | 630/1500 [00:01<00:02]"),
            nbformat.v4.new_output("stream", name="stderr", text="UserWarning: a real warning"),
            nbformat.v4.new_output("stream", name="stdout", text="loaded from /work/x/results/quick/g/ckpt.pt\n"),
            nbformat.v4.new_output("stream", name="stdout", text="relative: runs/results/x\n")])])
    fold_boilerplate(nb)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags[1] == ["parameters", "remove-cell"] and tags[2] == ["injected-parameters", "hide-cell"]
    assert tags[3] == ["hide-input"] and tags[4] == ["hide-input"]
    assert nb.cells[2].source == 'seed = 1\nrun_dir = "results/quick/x/run"\nresults_root = \'results\''
    assert [o.get("text") for o in nb.cells[4].outputs] == ["UserWarning: a real warning",
                                                            "loaded from results/quick/g/ckpt.pt\n",
                                                            "relative: runs/results/x\n"]
    assert nb.cells[4].source == "fig = draw()\nrun.save_figure(fig, 'x')"


def test_a_run_gets_the_notebooks_current_prose_only_when_its_code_is_the_same(tmp_path):
    def notebook(title, code):
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(title), nbformat.v4.new_code_cell(code)])
    source = tmp_path / "n.ipynb"
    fresh = notebook("# New prose", "x = 1")
    fresh.cells[1].metadata["mystnb"] = {"figure": {"caption": "What the figure shows."}}
    nbformat.write(fresh, source)
    ran = notebook("# Old prose", "x = 1")
    ran.cells.insert(1, nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["injected-parameters"]}))
    assert current_prose(ran, source) and ran.cells[0].source == "# New prose"
    assert ran.cells[2].metadata["mystnb"]["figure"]["caption"] == "What the figure shows."
    other = notebook("# Old prose", "x = 2")
    assert not current_prose(other, source) and other.cells[0].source == "# Old prose"


def test_the_run_box_lists_departures_from_the_paper_and_the_rerun_commands():
    params = resolve("acai_lines", "quick", {"seed": 2})
    differ = dict((k, (v, p)) for k, v, p in differences_from_paper("acai_lines", params))
    assert differ["images"] == (2**17, 2**24) and "seed" not in differ and "device" not in differ
    run, papermill = rerun_commands("acai_lines", "quick", params)
    assert run == "acai-repro run acai_lines --profile quick -p seed 2"
    assert papermill == "papermill notebooks/acai_lines.ipynb acai_lines.ipynb -p seed 2"
    smoke = rerun_commands("acai_lines", "smoke", resolve("acai_lines", "smoke", {"model": "vae"}))[1]
    assert smoke == ("papermill notebooks/acai_lines.ipynb acai_lines.ipynb -f notebooks/acai_lines.smoke.yaml "
                     "-p model vae")


@pytest.mark.slow
def test_the_scoreboard_opens_the_book_and_chapters_open_with_prose(book):
    html_dir, _ = book
    intro = (html_dir / "book" / "intro.html").read_text()
    article = intro[intro.index('<article'):]
    first_link = re.search(r'<a class="reference (?:internal|external)" href="([^"]+)"', article).group(1)
    assert first_link.startswith("generated/scoreboard.html"), first_link
    board = (html_dir / "book" / "generated" / "scoreboard.html").read_text()
    from acai_repro.scoreboard import VERDICTS, claims
    text = html.unescape(re.sub("<[^>]+>", "", board)).replace("\u2019", "'")  # Sphinx's smart quotes undone
    for paper, found in claims().items():
        assert f">{paper}<" in board
        for claim in found:
            assert claim.statement in text and claim.rule in text, f"{paper}: {claim.statement} not on the page"
    assert board.count("<table") == len(claims()) and any(f"<strong>{v}</strong>" in board for v in VERDICTS)
    for name in CHAPTERS:
        page = (html_dir / EXECUTED / f"{name}.html").read_text()
        body = page[page.index('<article'):]
        shown = [m for m in re.finditer(r'<div class="cell( [^"]*)?"', body)
                 if not re.search(r"tag_(hide-input|hide-cell|remove)", m.group(0))]
        assert shown and body.index("<p>") < shown[0].start(), f"{name}: a code cell comes before any prose"
        assert 'class="cell tag_injected-parameters tag_hide-cell' in body, f"{name}: injected parameters not folded"
        assert "tag_parameters" not in body, f"{name}: the notebook's default parameters are still shown"
        assert "_sources/book/executed/" + name + ".ipynb" in page, f"{name}: no download of the notebook"
        assert "acai-repro run " + name in html.unescape(re.sub("<[^>]+>", "", body)), f"{name}: no rerun command"


@pytest.mark.slow
def test_glued_numbers_are_rendered(book):
    html_dir, _ = book
    checked = 0
    docs = [(TOP / "book" / "intro.md", html_dir / "book" / "intro.html", None)]
    docs += [(TOP / EXECUTED / f"{n}.ipynb", html_dir / EXECUTED / f"{n}.html", n) for n in CHAPTERS]
    for source, page, chapter in docs:
        if chapter is not None:
            nb = nbformat.read(source, as_version=4)
            assert glue_values(source), f"chapter {chapter} glues no value"
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            text = source.read_text()
        rendered = page.read_text()
        for role, path, key, spec in glue_refs(text):
            # a path is relative to the referring document, or to the book's top with a leading "/"
            target = TOP / path.lstrip("/") if path.startswith("/") else source.parent / path if path else source
            glued = glue_values(target)
            assert key in glued, f"{source.name} refers to glue key {key!r} that {path or source.name} lacks"
            data = glued[key]
            if role == "md" or set(data) != {"text/plain"}:
                continue  # figures, HTML, Markdown: rendered as such, not as one text node
            value = expected_text(data["text/plain"], spec) if role == "text" else data["text/plain"]
            assert f">{html.escape(value, quote=False)}<" in rendered, f"{key} = {value!r} not shown in {page}"
            checked += 1
    assert checked > 0, "no glued number is referenced anywhere in the book"


@pytest.mark.slow
def test_widgets_are_embedded_with_the_vendored_embedder(book):
    html_dir, _ = book
    with_widgets = [n for n in CHAPTERS
                    if nbformat.read(TOP / EXECUTED / f"{n}.ipynb", as_version=4).metadata.get("widgets")]
    assert with_widgets, "no chapter saved widget state"
    for name in with_widgets:
        page = (html_dir / EXECUTED / f"{name}.html").read_text()
        assert f'<script type="{WIDGET_STATE}">' in page
        assert "application/vnd.jupyter.widget-view+json" in page
        shim = re.search(r'<script src="(\.\./)*_static/mathjax2_hub_shim\.js[?"]', page)
        embed = re.search(r'<script src="(\.\./)*_static/widgets/embed\.js[?"]', page)
        assert shim and embed and shim.start() < embed.start(), "the MathJax 2 shim must load before embed.js"
        assert page.count("embed.js") == 1 and "require.min.js" not in page
    assert (html_dir / "_static" / "widgets" / "embed.js").is_file()
    assert (html_dir / "_static" / "mathjax2_hub_shim.js").is_file()


@pytest.mark.slow
def test_mathjax_is_the_local_copy(book):
    html_dir, _ = book
    for page in [html_dir / "book" / "intro.html"] + [html_dir / EXECUTED / f"{n}.html" for n in CHAPTERS]:
        text = page.read_text()
        assert re.search(r'<script defer="defer" src="(\.\./)*_static/mathjax/tex-chtml\.js[?"]', text), page
    assert 'class="math' in (html_dir / "book" / "intro.html").read_text()
    assert (html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    intro = (html_dir / "book" / "intro.html").read_text()
    for arxiv in ("1511.05644", "1807.07543", "1807.06650", "1912.04564"):
        assert f"arXiv:{arxiv}" in intro, f"bibliography lacks arXiv {arxiv}"


# Anything the browser would fetch from the network by itself: <script src>, <link href> (stylesheet, preload,
# icon, font), <img>/<iframe>/<source> src, CSS url(...) and @import.
FETCHES = [
    re.compile(r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?(?:https?:)?//", re.I),
    re.compile(r"@import\s+(?:url\()?\s*[\"']?(?:https?:)?//", re.I),
]


@pytest.mark.slow
def test_nothing_is_fetched_from_the_network(book):
    html_dir, _ = book
    files = sorted(html_dir.rglob("*.html")) + sorted(html_dir.rglob("*.css"))
    assert len(files) > 10
    offenders = [f"{f.relative_to(html_dir)}: {m.group(0)[:120]}"
                 for f in files for pattern in FETCHES for m in pattern.finditer(f.read_text(errors="replace"))]
    assert offenders == []
