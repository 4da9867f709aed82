"""The built Jupyter Book site, checked in a real browser (headless Debian chromium).

The site is built once per session at full size, so that every lesson runs once as a reader
runs it (fixture ``built_site`` in conftest.py, which reuses an up-to-date full-size build),
and served on localhost. Each page is opened with every request
that would leave the machine blocked and recorded; then the checks below run in the page.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = tomllib.loads((ROOT / "book.toml").read_text())
LESSONS = [lesson["file"] for lesson in BOOK["lessons"]]
EXTRA_PAGES = ["intro", "notation", "results", "references"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}

sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
import offline  # noqa: E402

sys.path.pop(0)


def is_local(url: str) -> bool:
    parts = urlparse(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


class PageVisit:
    """Open one page, blocking and recording every request that would leave the machine."""

    def __init__(self, browser, url: str):
        self.external: list[str] = []
        self.failed: list[str] = []
        self.js_errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)
        self.response = self.page.goto(url, wait_until="load")

    def _route(self, route):
        if is_local(route.request.url):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _request_failed(self, request):
        if is_local(request.url):
            self.failed.append(f"{request.url} ({request.failure})")

    def _response(self, response):
        if is_local(response.url) and response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site_url):
    opened = []

    def open_page(name: str) -> PageVisit:
        v = PageVisit(browser, f"{site_url}/{name}.html")
        opened.append(v)
        return v

    yield open_page
    for v in opened:
        v.close()


WAIT_FOR_MATHJAX = """async () => {
    if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return false;
    await MathJax.startup.promise;
    return true;
}"""

WAIT_FOR_IMAGES = """async () => {
    const imgs = Array.from(document.images);
    await Promise.all(imgs.filter(i => !i.complete).map(i => new Promise(r => {
        i.addEventListener('load', r); i.addEventListener('error', r);
    })));
    return imgs.map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth}));
}"""

# Text a reader sees outside code: raw TeX delimiters there mean MathJax did not run.
PROSE_TEXT = """() => {
    const main = document.querySelector('main') || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll('pre, code, script, style, .cell_input, .output')
         .forEach(e => e.remove());
    return clone.innerText;
}"""


def check_page(v: PageVisit, *, needs_math: bool) -> None:
    page = v.page
    assert v.response is not None and v.response.status == 200, f"{page.url}: not served"
    has_mathjax = page.evaluate(WAIT_FOR_MATHJAX)
    math = page.locator(".math")
    n_math = math.count()
    if needs_math:
        assert n_math > 0, f"{page.url}: no math on the page"
    if n_math:
        assert has_mathjax, f"{page.url}: has math but MathJax did not load"
        untypeset = page.evaluate(
            "() => Array.from(document.querySelectorAll('.math'))"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))"
        )
        assert not untypeset, f"{page.url}: math left untypeset: {untypeset[:5]}"
        assert page.locator("mjx-container").count() >= n_math
    prose = page.evaluate(PROSE_TEXT)
    raw = re.findall(r"\\\(|\\\[|\$\$", prose)
    assert not raw, f"{page.url}: raw TeX delimiters in the text: {raw[:5]}"

    images = page.evaluate(WAIT_FOR_IMAGES)
    broken = [img["src"] for img in images if img["w"] == 0]
    assert not broken, f"{page.url}: images that did not load: {broken}"

    tracebacks = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell'))"
        ".filter(c => !c.classList.contains('tag_raises-exception'))"
        ".filter(c => c.querySelector('.output.traceback') ||"
        "             /Traceback \\(most recent call last\\)/.test(c.innerText))"
        ".map(c => c.innerText.slice(0, 300))"
    )
    assert not tracebacks, f"{page.url}: Python traceback outside raises-exception cells: " + str(
        tracebacks[:2]
    )
    body = page.inner_text("body")
    for marker in ("Error displaying widget", "Error rendering output"):
        assert marker not in body, f"{page.url}: '{marker}'"

    n_views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if n_views:
        # the widget manager replaces each view script with the rendered widget
        page.wait_for_function(
            "n => document.querySelectorAll('.jupyter-widgets').length >= n",
            arg=1,
            timeout=15000,
        )
    page.wait_for_load_state("networkidle")
    assert not v.external, f"{page.url}: requests leaving the machine: {v.external}"
    assert not v.failed, f"{page.url}: local requests that failed: {v.failed}"
    assert not v.js_errors, f"{page.url}: JavaScript errors: {v.js_errors}"


def has_math(name: str) -> bool:
    """Whether the lesson's markdown writes any math (then the page must show it typeset)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return bool(re.search(r"\$[^$\n]+\$|\\\(|\\\[|\\begin\{", text))


def heading(page) -> str:
    """The page's h1 as written in the source (Sphinx curls the quotes)."""
    text = page.locator("h1").first.inner_text().strip().rstrip("#").strip()
    return text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_page(visit, name):
    v = visit(f"notebooks/{name}")
    check_page(v, needs_math=has_math(name))
    title = next(x["title"] for x in BOOK["lessons"] if x["file"] == name)
    assert heading(v.page) == title
    # the page shows the outputs of the run, not just the code
    assert v.page.locator(".cell_output").count() > 0, f"{name}: no outputs on the page"


SHOWN = """async root => {
    const img = root.querySelector('img.sngan-explore-frame');
    try { await img.decode(); } catch (e) { /* a broken image: naturalWidth stays 0 */ }
    return {src: img.getAttribute('src'), complete: img.complete && img.naturalWidth > 0,
            caption: root.querySelector('.sngan-explore-caption').innerText.trim()};
}"""


def uses_explore(name: str) -> bool:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return any(c.cell_type == "code" and "explore(" in c.source for c in nb.cells)


@pytest.mark.parametrize("name", LESSONS)
def test_explore_sliders_work_without_a_kernel(visit, name):
    """Every precomputed slider of the page: move it, and the image and its caption change;
    move it back, and the first frame returns. Nothing is fetched from outside meanwhile."""
    v = visit(f"notebooks/{name}")
    page = v.page
    figures = page.locator(".sngan-explore")
    n_figures = figures.count()
    if uses_explore(name):
        assert n_figures > 0, f"{name} calls explore() but its page shows no slider"
    for f in range(n_figures):
        figure = figures.nth(f)
        figure.scroll_into_view_if_needed()
        ranges = figure.locator("input[type=range]")
        assert ranges.count() > 0, f"{name}: explore figure {f} has no slider"
        for r in range(ranges.count()):
            slider = ranges.nth(r)
            label = slider.get_attribute("name")
            before = figure.evaluate(SHOWN)
            assert before["complete"], f"{name}: figure {f} shows no image before moving {label}"
            first, last = slider.get_attribute("value"), slider.get_attribute("max")
            if last == "0":
                continue  # a control with one value has nowhere to go
            slider.focus()
            page.keyboard.press("End")  # a real key press: the browser fires 'input'
            after = figure.evaluate(SHOWN)
            where = f"{name}: figure {f}, slider {label} moved from position {first} to {last}"
            assert slider.input_value() == last, where + ": it did not move"
            assert after["src"] != before["src"], where + ": the image stayed the same"
            assert after["caption"] != before["caption"], where + ": the caption stayed the same"
            assert after["complete"], where + ": the new image did not load"
            page.keyboard.press("Home")
            assert figure.evaluate(SHOWN) == before, where + ", and back: not the first frame"
    page.wait_for_load_state("networkidle")
    assert not v.external, f"{name}: requests leaving the machine: {v.external}"
    assert not v.js_errors, f"{name}: JavaScript errors: {v.js_errors}"


PAGE_LIMIT = 5_000_000  # bytes of HTML per page, frames of the sliders included


def test_pages_stay_light(built_site):
    sizes = {p.relative_to(built_site): p.stat().st_size for p in built_site.rglob("*.html")}
    heavy = {str(p): size for p, size in sizes.items() if size > PAGE_LIMIT}
    assert not heavy, f"pages over {PAGE_LIMIT / 1e6:.0f} MB: {heavy}"


@pytest.mark.parametrize("name", EXTRA_PAGES)
def test_extra_page(visit, name):
    check_page(visit(name), needs_math=name in ("intro", "notation"))


def test_landing_page_lists_the_lessons_in_order_and_cites_the_paper(visit):
    v = visit("index")  # redirects to the root page
    v.page.wait_for_url(re.compile(r"/intro\.html$"))
    page = v.page
    assert heading(page) == BOOK["book"]["title"]
    links = page.locator("main table a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [f"notebooks/{name}.html" for name in LESSONS]
    text = page.inner_text("main")
    from pybtex.database import parse_string  # the paper's entry in site/references.bib

    entry = book.paper_entry(ROOT, BOOK["book"]["paper"])
    (paper,) = parse_string(entry, "bibtex").entries.values()
    assert paper.fields["title"] in text and paper.fields["url"] in text
    for person in paper.persons["author"]:
        assert " ".join(person.first_names + person.last_names) in text
    # the sidebar lists the lessons in the order of book.toml, then the reference pages
    nav = page.locator("nav.bd-links a.reference.internal")
    nav_hrefs = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    lesson_hrefs = [h for h in nav_hrefs if h.startswith("notebooks/")]
    assert lesson_hrefs == [f"notebooks/{name}.html" for name in LESSONS]
    for name in ("notation", "results", "references"):
        assert f"{name}.html" in nav_hrefs


def test_no_page_loads_anything_from_outside(built_site):
    """Static counterpart of the request check: every page and stylesheet of the site."""
    assert offline.external_references(built_site) == {}
    for page in built_site.rglob("*.html"):
        text = page.read_text(errors="replace")
        for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com"):
            assert cdn not in text, f"{page.relative_to(built_site)} mentions {cdn}"


def test_build_stamp_names_every_lesson(built_site):
    import json

    stamp = json.loads((built_site / book.STAMP_NAME).read_text())
    assert stamp["lessons"] == LESSONS
    assert stamp["budget"] in ("quick", "full")
