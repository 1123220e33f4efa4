"""The rendered book in a real browser: headless Chromium driven over the DevTools protocol, with no network.

Every HTML page of the book built by the session fixture ``book`` (conftest.py) is opened from ``file://`` with
Chromium's name resolution switched off (``--host-resolver-rules``), and checked the way a reader would see it:

- no request leaves the machine (every request's scheme is recorded) and no local request fails;
- every ``<img>`` loaded (``complete`` and a non-zero natural width), and a chapter whose notebook draws figures
  shows at least one (a kernel started with MPLBACKEND=Agg displays none);
- a page with maths shows MathJax's rendered ``mjx-container`` elements;
- a page whose notebook saved widget state shows the widgets (visible ``.jupyter-widgets`` boxes);
- every JS-scrubbable animation (``acai_repro.plots.scrubbable``, matplotlib's ``to_jshtml``) changes its frame
  when its slider moves, and its player buttons show their icons (the theme's local Font Awesome);
- no cell output shows a ``PosixPath(...)`` (a cell ending in a call that returns a path);
- nothing scrolls sideways at 1280 px: neither the page nor any box in it (code, output, table, equation);
- no uncaught JavaScript exception.

Screenshots of each chapter page, its top and its first figure, land in tests/artifacts/<page>.png and
<page>-figure.png (git-ignored), with the scoreboard's (scoreboard.png) and the introduction's. Without Chromium
the tests skip; ``make browser`` installs the Debian package
where it can.
"""
import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from acai_repro.book import EXECUTED
from acai_repro.runner.registry import repo_root

# The same xdist worker as test_book.py: the session-scoped book is built once.
pytestmark = pytest.mark.xdist_group("book")

websocket = pytest.importorskip("websocket", reason="websocket-client is missing: pip install -e '.[test]'")

ARTIFACTS = repo_root() / "tests" / "artifacts"
SKIPPED_PAGES = {"genindex.html", "search.html"}  # Sphinx's generated index and search pages: no content of ours
EXTERNAL_SCHEMES = {"http", "https", "ws", "wss", "ftp"}
WINDOW = (1280, 1000)


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """A headless Chromium with one page, spoken to over the DevTools protocol (one websocket, flat sessions)."""

    def __init__(self, executable: str, profile_dir: Path, timeout: float = 30.0):
        self.timeout = timeout
        self.process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={profile_dir}", '--host-resolver-rules=MAP * ~NOTFOUND', "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--metrics-recording-only", "--mute-audio",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start: {self.process.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"Chromium wrote no {port_file} within {timeout} s")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=timeout,
                                              suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        self.session = None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1,
                  mobile=False)

    def send(self, method: str, **params) -> dict:
        """Call a DevTools method on the page (the browser before the page is attached); keep events meanwhile."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = self.receive(self.timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def receive(self, timeout: float) -> dict:
        self.ws.settimeout(timeout)
        message = json.loads(self.ws.recv())
        if "method" in message:
            self.events.append(message)
        return message

    def navigate(self, url: str, loads: int = 1, timeout: float = 30.0) -> None:
        """Open ``url`` and wait for ``loads`` load events (2 for a page that redirects with a meta refresh)."""
        self.events = []
        reply = self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise RuntimeError(f"{url}: {reply['errorText']}")
        deadline = time.monotonic() + timeout
        while sum(e["method"] == "Page.loadEventFired" for e in self.events) < loads:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{url}: fewer than {loads} load events within {timeout} s")
            try:
                self.receive(left)
            except websocket.WebSocketTimeoutException:
                pass

    def evaluate(self, expression: str, timeout: float = 20.0):
        """The value of a JS expression (awaited if it is a promise); a thrown exception fails the test."""
        reply = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                          timeout=int(timeout * 1000))
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            raise RuntimeError(f"JS error: {details.get('exception', {}).get('description') or details['text']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# Waits until the page has settled: MathJax typeset, widgets rendered (if the page embeds any), lazy images loaded.
SETTLE = """(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  for (let i = 0; views && i < 100 && !document.querySelector('.jupyter-widgets'); i++) await sleep(100);
  for (const img of document.images) img.loading = 'eager';
  await Promise.all([...document.images].filter(i => i.getAttribute('src')).map(i => i.decode().catch(() => null)));
  await sleep(300);
  return true;
})()"""

# What a reader sees, as data: images, maths, widgets, animations.
INSPECT = r"""(() => {
  const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {
    images: [...document.images].map(i => ({src: (i.getAttribute('src') || '').slice(0, 120), id: i.id,
                                           complete: i.complete, width: i.naturalWidth})),
    mathSource: document.querySelectorAll('.math, span.math, div.math').length,
    mathRendered: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    widgetState: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
    widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets: document.querySelectorAll('.jupyter-widgets').length,
    widgetsVisible: [...document.querySelectorAll('.jupyter-widgets')].filter(visible).length,
    widgetErrors: [...document.querySelectorAll('.jupyter-widgets')].filter(
        e => /Error displaying widget|Error rendering/.test(e.textContent)).length,
    sliders: [...document.querySelectorAll('input.anim-slider')].map(s => s.id),
    blankButtons: [...document.querySelectorAll('.anim-buttons button')].filter(b => {
        const icon = b.querySelector('svg, i'); return !(icon && visible(icon)); }).map(b => b.title),
    sideways: [document.documentElement, ...document.querySelectorAll('main *, body > pre, body > table')].filter(e => {
        if (!visible(e)) return false;
        const overflow = getComputedStyle(e).overflowX;
        return e.scrollWidth > e.clientWidth + 1 &&
               (e === document.documentElement || overflow === 'auto' || overflow === 'scroll');
      }).map(e => `${e.tagName.toLowerCase()}.${e.className.toString().split(' ')[0]} ` +
                  `(${e.scrollWidth} px in ${e.clientWidth}): ${e.textContent.trim().slice(0, 60)}`),
    pathReprs: [...document.querySelectorAll('.cell_output')].filter(
        e => /\b(Posix|Windows)Path\(/.test(e.textContent)).length,
    title: document.title,
    url: location.href,
  };
})()"""

# Moves one animation's slider to its last frame the way a reader does (an input event); returns the image before
# and after.
SCRUB = """((sliderId) => {
  const slider = document.getElementById(sliderId);
  const img = document.getElementById(sliderId.replace('_anim_slider', '_anim_img'));
  const before = img.src;
  slider.value = slider.max;
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  return {max: Number(slider.max), value: Number(slider.value), before: before.slice(-64), after: img.src.slice(-64),
          changed: img.src !== before && img.src.startsWith('data:image')};
})"""


# Scrolls the first figure (a static image, else an animation) to the top of the window; false if there is none.
SCROLL_TO_FIGURE = """(async () => {
  const figure = document.querySelector('.cell_output img:not([id^="_anim_img"])') ||
                 document.querySelector('.cell_output .animation');
  if (!figure) return false;
  figure.scrollIntoView({block: 'start'});
  window.scrollBy(0, -80);
  await new Promise(r => setTimeout(r, 200));
  return true;
})()"""


def book_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of the book a reader can reach (not the static assets, sources or Sphinx's index/search)."""
    return sorted(p for p in html_dir.rglob("*.html")
                  if p.relative_to(html_dir).parts[0] not in {"_static", "_sources", "_images"}
                  and p.name not in SKIPPED_PAGES)


def draws_figures(notebook: Path) -> bool:
    """Whether a notebook's code draws a static matplotlib figure that its executed page should show."""
    cells = nbformat.read(notebook, as_version=4).cells
    return any(c.cell_type == "code" and re.search(r"\bsave_figure\(|\bplt\.show\(", c.source) for c in cells)


def check_page(browser: Chromium, html_dir: Path, page: Path) -> tuple[list[str], dict]:
    """Open one page; return the problems found (empty: the page is fine) and what was seen."""
    name = page.relative_to(html_dir).as_posix()
    redirect = re.search(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', page.read_text(), re.I)
    browser.navigate(page.as_uri(), loads=2 if redirect else 1)
    browser.evaluate(SETTLE)
    seen = browser.evaluate(INSPECT)
    problems = []
    if redirect:
        target = (page.parent / redirect.group(1)).resolve()
        if seen["url"] != target.as_uri():
            problems.append(f"{name}: redirects to {seen['url']}, not to {target.as_uri()}")
    requests = {e["params"]["requestId"]: e["params"]["request"]["url"]
                for e in browser.events if e["method"] == "Network.requestWillBeSent"}
    seen["requests"] = len(requests)
    for url in requests.values():
        if urlparse(url).scheme in EXTERNAL_SCHEMES:
            problems.append(f"{name}: external request {url}")
    for e in browser.events:
        if e["method"] == "Network.loadingFailed":
            url = requests.get(e["params"]["requestId"], "?")
            problems.append(f"{name}: request failed ({e['params'].get('errorText')}): {url[:200]}")
        elif e["method"] == "Runtime.exceptionThrown":
            details = e["params"]["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"{name}: uncaught JS exception: {text[:300]}")
    for img in seen["images"]:
        if not (img["complete"] and img["width"] > 0):
            problems.append(f"{name}: image not shown: id={img['id']!r} src={img['src']!r}")
    if seen["mathSource"] and not seen["mathRendered"]:
        problems.append(f"{name}: {seen['mathSource']} maths elements but no MathJax output (mjx-container)")
    if seen["mathErrors"]:
        problems.append(f"{name}: {seen['mathErrors']} MathJax errors (mjx-merror)")
    if seen["widgetState"]:
        if not seen["widgetsVisible"]:
            problems.append(f"{name}: saved widget state ({seen['widgetViews']} views) but no visible widget "
                            f"({seen['widgets']} .jupyter-widgets elements)")
        if seen["widgetErrors"]:
            problems.append(f"{name}: {seen['widgetErrors']} widgets show an error")
    if seen["pathReprs"]:
        problems.append(f"{name}: {seen['pathReprs']} cell outputs show a Path repr (a cell that ends in a call "
                        f"returning a path shows it: assign the value, e.g. path = run.finish(...))")
    for element in seen["sideways"]:
        problems.append(f"{name}: scrolls sideways: {element}")
    if seen["blankButtons"]:
        problems.append(f"{name}: animation buttons without a visible icon: {sorted(set(seen['blankButtons']))}")
    source = html_dir / "_sources" / page.relative_to(html_dir).with_suffix(".ipynb")
    if source.is_file() and draws_figures(source) and not any(
            img["width"] > 0 and not img["id"].startswith("_anim_img") for img in seen["images"]):
        problems.append(f"{name}: the notebook draws figures (save_figure/plt.show) but the page shows none: was it "
                        f"executed with MPLBACKEND=Agg? (the kernel then displays no figure)")
    for slider in seen["sliders"]:
        scrub = browser.evaluate(f"{SCRUB}({json.dumps(slider)})")
        if not (scrub["max"] > 0 and scrub["changed"]):
            problems.append(f"{name}: animation {slider} did not change its frame when scrubbed: {scrub}")
    return problems, seen


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: install the Debian package chromium (make browser)")
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.close()


@pytest.mark.slow
def test_every_page_renders_offline_in_chromium(book, chromium):
    html_dir, _ = book
    pages = book_pages(html_dir)
    chapters = {p for p in pages if p.parent == html_dir / EXECUTED}  # test_book.py checks they are CHAPTERS'
    assert chapters, f"no chapter page under {html_dir / EXECUTED}"
    assert {html_dir / "index.html", html_dir / "book" / "intro.html"} <= set(pages)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "scoreboard.png").unlink(missing_ok=True)
    start = time.perf_counter()
    problems, totals = [], {"images": 0, "mathRendered": 0, "widgetsVisible": 0, "sliders": 0, "requests": 0}
    for page in pages:
        found, seen = check_page(chromium, html_dir, page)
        problems += found
        for key in totals:
            totals[key] += len(seen[key]) if isinstance(seen[key], list) else seen[key]
        if page in chapters or page.name in ("scoreboard.html", "intro.html"):
            chromium.screenshot(ARTIFACTS / f"{page.stem}.png")
            if chromium.evaluate(SCROLL_TO_FIGURE):
                chromium.screenshot(ARTIFACTS / f"{page.stem}-figure.png")
    assert (ARTIFACTS / "scoreboard.png").is_file(), "no scoreboard page in the book"
    print(f"\nChromium checked {len(pages)} pages in {time.perf_counter() - start:.1f} s: {totals}; "
          f"screenshots of the {len(chapters)} chapters in {ARTIFACTS}/")
    assert not problems, "\n".join(problems)


# The scoreboard page's tables as a reader sees them: per table its rows' verdicts (the bold word of the last
# column), its links and whether its box is wider than the text column.
SCOREBOARD = r"""(() => [...document.querySelectorAll('.bd-article table')].map(t => {
  const box = t.closest('.pst-scrollable-table-container') || t;
  const verdict = r => (r.lastElementChild.querySelector('strong') || {}).textContent;
  return {verdicts: [...t.querySelectorAll('tbody tr')].map(verdict),
          links: [...t.querySelectorAll('a.reference.internal')].map(a => a.href),
          wide: box.scrollWidth > box.clientWidth + 1};
}))()"""


def test_the_scoreboard_shows_a_table_per_paper_with_a_verdict_per_claim(book, chromium):
    from acai_repro.scoreboard import VERDICTS, claims

    html_dir, _ = book
    page = html_dir / "book" / "generated" / "scoreboard.html"
    chromium.navigate(page.as_uri())
    chromium.evaluate(SETTLE)
    tables = chromium.evaluate(SCOREBOARD)
    assert [len(t["verdicts"]) for t in tables] == [len(found) for found in claims().values()]
    assert all(v in VERDICTS for t in tables for v in t["verdicts"]), [t["verdicts"] for t in tables]
    evidence = [Path(urlparse(link).path) for t in tables for link in t["links"]]
    assert len(evidence) == sum(len(found) for found in claims().values())
    assert all(path.is_file() and path.parent.name == "executed" for path in evidence), evidence
    assert not any(t["wide"] for t in tables), "a scoreboard table is wider than the page"


def test_a_page_that_reaches_out_is_caught(chromium, tmp_path):
    """The checks can fail: a page fetching from the web, with a missing picture, a broken formula and a JS error."""
    frames = ",".join(f'"data:image/png;base64,{PIXEL}"' for _ in range(2))
    page = tmp_path / "bad.html"
    page.write_text(f"""<!doctype html><html><head><title>bad</title></head><body>
<img src="https://example.com/remote.png"><img src="missing.png">
<span class="math">\\(x^2\\)</span>
<main><pre style="overflow-x: auto; width: 200px">{"a very long line of printed output " * 20}</pre></main>
<img id="_anim_img1" src="data:image/png;base64,{PIXEL}">
<input id="_anim_slider1" class="anim-slider" type="range" min="0" max="1" value="0"
       oninput="document.getElementById('_anim_img1').src = [{frames}][this.value]">
<script>throw new Error("boom")</script></body></html>""")
    problems, seen = check_page(chromium, tmp_path, page)
    text = "\n".join(problems)
    assert "external request https://example.com/remote.png" in text
    assert "missing.png" in text and "image not shown" in text
    assert "no MathJax output" in text
    assert "_anim_slider1 did not change its frame" in text
    assert "uncaught JS exception: Error: boom" in text
    assert "scrolls sideways: pre." in text and "a very long line" in text


# A 1x1 grey PNG.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
