"""Lessons with interactive figures, run in a real JupyterLab and driven by headless chromium.

First, the start a learner sees: the lab set up as ``python3 tasks.py lab`` sets it up opens
on lesson 00 alone, with no prompt, one kernel and the slider's figure code folded.
For each lesson in ``LESSONS``: a fresh copy (no outputs) opens in JupyterLab, Run All Cells
executes it in quick mode, no cell outside those tagged ``raises-exception`` may show a
traceback, and moving the first control of the first :func:`sngan_teach.explore.explore`
figure must swap both the image and its caption, and moving it back must restore them.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "_build" / "test-artifacts"
LESSONS = ["03_power_iteration", "05_weight_norm", "07_toy_gan_lab"]
EXPLORE = ".sngan-explore-widget"


def lesson_path(name: str) -> Path:
    path = ROOT / "notebooks" / f"{name}.ipynb"
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing")
    return path


def uses_explore(nb) -> bool:
    return any(c.cell_type == "code" and "explore(" in c.source for c in nb.cells)


# What the lessons read by relative path (``../benchmarks/results/...``), copied beside the
# fresh notebook so that the lab run resolves them as in notebooks/ and writes nothing here.
BESIDE = ["benchmarks", "scripts", "site", "book.toml"]


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def open_fresh(browser, lab, path: Path):
    """Copy the lesson without outputs into the lab's lessons folder and open it."""
    url, root_dir = lab
    for name in BESIDE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root_dir.parent / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, root_dir.parent / name)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # a fresh notebook, so that only this run's outputs count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root_dir / path.name)
    context, page = new_page(browser)
    # a workspace of its own: no tab of an earlier lesson is restored beside this one
    page.goto(f"{url}/lab/workspaces/{path.stem}/tree/{path.name}")
    return context, page, nb


PROMPTS = """() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell'))
    .map(c => (c.querySelector('.jp-InputPrompt') || {textContent: ''}).textContent.trim())"""


def run_all(page, nb, timeout_ms: int = 420_000) -> None:
    """Run All Cells, wait until no cell is pending, and fail on any unexpected traceback."""
    # the kernel must be up: a Run All sent while it starts is dropped
    page.locator(".jp-StatusBar-TextItem").filter(
        has_text=re.compile(r"\(sngan-teach\) \| Idle")
    ).wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Run All marks every code cell [*]. It is done when no cell is pending and the kernel
    # has stayed idle for two seconds: after a raises-exception cell JupyterLab clears the
    # [*] marks of the cells still queued, although the kernel goes on running them.
    page.wait_for_function(f"() => ({PROMPTS})().some(p => p.startsWith('[*]'))")
    status = page.locator(".jp-StatusBar-TextItem").filter(has_text="(sngan-teach) |")
    quiet = 0
    for _ in range(timeout_ms // 500):
        pending = sum(p.startswith("[*]") for p in page.evaluate(PROMPTS))
        idle = status.first.inner_text().strip().endswith("Idle")
        quiet = quiet + 1 if pending == 0 and idle else 0
        if quiet == 4:
            break
        page.wait_for_timeout(500)
    else:
        pytest.fail(f"Run All did not finish within {timeout_ms / 1000:.0f} s")
    n_raising = sum("raises-exception" in c.metadata.get("tags", []) for c in nb.cells)
    stderr = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    tracebacks = [text for text in stderr if "Traceback" in text]
    assert len(tracebacks) == n_raising, "a cell failed in JupyterLab:\n" + "\n---\n".join(
        text[-1500:] for text in tracebacks
    )
    # a folded solution shows no prompt; every other code cell must show its execution count
    code = [c for c in nb.cells if c.cell_type == "code"]
    prompts = page.evaluate(PROMPTS)
    unrun = [
        i
        for i, (cell, prompt) in enumerate(zip(code, prompts, strict=True))
        if not re.fullmatch(r"\[\d+\]:", prompt)
        and not cell.metadata.get("jupyter", {}).get("source_hidden")
    ]
    assert not unrun, f"code cells {unrun} did not run: {[prompts[i] for i in unrun]}"


def shown(figure) -> tuple[str, str]:
    """(image source, caption) the explore widget shows now."""
    return (
        figure.locator("img").first.get_attribute("src") or "",
        figure.locator(".widget-label").last.inner_text().strip(),
    )


def wait_for_change(page, figure, old: tuple[str, str]) -> tuple[str, str]:
    for _ in range(100):
        now = shown(figure)
        if now[0] != old[0] and now[1] != old[1]:
            return now
        page.wait_for_timeout(100)
    return shown(figure)


def move_first_control(page, figure, key: str) -> None:
    """One step of the first control: the slider's handle, or the drop-down's next option."""
    first = figure.locator(".widget-slider, .widget-dropdown").first
    if "widget-slider" in (first.get_attribute("class") or ""):
        first.locator(".noUi-handle").focus()
        page.keyboard.press(key)
    else:
        select = first.locator("select")
        options = select.locator("option").all_inner_texts()
        pos = options.index(select.evaluate("s => s.options[s.selectedIndex].text"))
        select.select_option(index=(pos + (1 if key == "ArrowRight" else -1)) % len(options))


def test_first_start_shows_lesson_00_alone_with_one_kernel(browser, jupyter_lab):
    """What ``python3 tasks.py lab`` shows first, with what it installs (the fixture installs
    the same): lesson 00 the only tab (no Launcher), no news or other prompt, the project's
    kernel the only one offered, and the code of the lesson's slider figure folded."""
    url, root_dir = jupyter_lab
    first = tomllib.loads((ROOT / "book.toml").read_text())["lessons"][0]["file"]
    path = lesson_path(first)
    shutil.copy2(path, root_dir / path.name)
    with urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=10) as r:
        assert list(json.load(r)["kernelspecs"]) == ["sngan-teach"]
    context, page = new_page(browser)
    try:
        page.goto(f"{url}/lab")  # the address the server prints: the default workspace
        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab")
        tab.first.wait_for()
        page.wait_for_timeout(1000)  # the layout is restored: every tab of the start is there
        tabs = [t.strip() for t in tab.all_inner_texts()]
        assert tabs == [path.name], f"tabs on start: {tabs}"
        page.locator(".jp-StatusBar-TextItem").filter(
            has_text=re.compile(r"\(sngan-teach\) \| Idle")
        ).wait_for()
        page.wait_for_timeout(3000)  # the news prompt would show by now
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_lab_first_start.png"))  # what a learner sees
        toasts = page.locator(".Toastify__toast").all_inner_texts()
        assert not toasts, f"a prompt on start: {toasts}"

        nb = nbformat.read(path, as_version=4)
        slider = next(i for i, c in enumerate(nb.cells) if "explore(" in c.source)
        cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(slider)
        cell.scroll_into_view_if_needed()
        assert cell.locator(".jp-InputPlaceholder").is_visible(), "the figure code is not folded"
        assert cell.locator(".jp-InputArea").count() == 0, "the figure code is shown"

        page.locator("#jp-main-dock-panel .lm-TabBar-addButton").click()  # a Launcher
        notebook = page.locator(".jp-Launcher-section").filter(
            has=page.locator(".jp-Launcher-sectionTitle", has_text="Notebook")
        )
        cards = notebook.locator(".jp-LauncherCard-label").all_inner_texts()
        assert [c.strip() for c in cards] == ["Python (sngan-teach)"], f"kernels: {cards}"
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_lab_first_start_end.png"))
        context.close()


@pytest.mark.parametrize("name", LESSONS)
def test_explore_figure_follows_its_control(browser, jupyter_lab, name):
    path = lesson_path(name)
    if not uses_explore(nbformat.read(path, as_version=4)):
        pytest.fail(f"{path.name} has no explore() figure")
    context, page, nb = open_fresh(browser, jupyter_lab, path)
    try:
        run_all(page, nb)
        figure = page.locator(EXPLORE).first
        figure.locator("img").first.wait_for(state="visible")
        before = shown(figure)
        assert before[0] and before[1], f"{path.name}: the explore figure shows no image/caption"

        move_first_control(page, figure, "ArrowRight")
        after = wait_for_change(page, figure, before)
        assert after[0] != before[0], f"{path.name}: the image did not change with the control"
        assert after[1] != before[1], f"{path.name}: the caption did not change ({after[1]!r})"

        move_first_control(page, figure, "ArrowLeft")
        back = wait_for_change(page, figure, after)
        assert back[1] == before[1], f"{path.name}: moving back did not restore the caption"
        page.wait_for_timeout(300)
        tracebacks = [
            t
            for t in page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            ).all_inner_texts()
            if "Traceback" in t
        ]
        n_raising = sum("raises-exception" in c.metadata.get("tags", []) for c in nb.cells)
        assert len(tracebacks) == n_raising, f"{path.name}: a traceback after moving the control"
    finally:
        # the last state of the page, for whoever reads a failure
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"test_lab_{name}.png"), full_page=False)
        context.close()
