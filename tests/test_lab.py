"""Lesson 03's iterations slider, driven in a real JupyterLab by headless Debian chromium.

A JupyterLab server runs on a free localhost port (fixture ``jupyter_lab`` in conftest.py) on
a copy of the lesson, so the repository's notebook is never saved over. The test runs all
cells, moves the first slider (the number of power iterations k) with the keyboard and checks
that the line printed by the interact function follows: it names the slider's k, and its
error is exactly what ``sngan_teach.power.show_convergence`` computes for the sliders' values.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "03_power_iteration.ipynb"
ARTIFACTS = ROOT / "_build" / "test-artifacts"
LINE = re.compile(r"after k = (\d+) iterations: relative sigma error = (\S+)")


def expected_line(k: int, gap: float, shape: str, seed: int) -> str:
    from sngan_teach.power import show_convergence

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        show_convergence(k, gap, shape, seed, plot=False)
    return buffer.getvalue().strip()


@pytest.fixture
def lab_page(browser, jupyter_lab):
    if not LESSON.exists():
        pytest.fail(f"{LESSON.relative_to(ROOT)} is missing")
    url, root_dir = jupyter_lab
    nb = nbformat.read(LESSON, as_version=4)
    for cell in nb.cells:  # a fresh notebook, so that only this run's outputs count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root_dir / LESSON.name)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/lab/tree/{LESSON.name}")
    yield page
    # the last state of the page, for whoever reads a failure
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_lab.png"), full_page=False)
    context.close()


def slider_state(cell) -> tuple[int, float, str, int]:
    """(k, gap, shape, seed) as the interact widgets of the cell show them."""
    readouts = cell.locator(".widget-readout")
    k = int(readouts.nth(0).inner_text())
    gap = float(readouts.nth(1).inner_text())
    seed = int(readouts.nth(2).inner_text())
    shape = cell.locator(".widget-dropdown select").first.input_value()
    return k, gap, shape, seed


def printed_line(cell, k: int) -> str:
    """Wait for the interact output to report ``k`` and return that line."""
    output = cell.locator(".jp-OutputArea-output").get_by_text(
        re.compile(rf"after k = {k} iterations:")
    )
    output.first.wait_for(state="visible")
    match = LINE.search(output.first.inner_text())
    assert match, output.first.inner_text()
    return match.group(0)


def test_iterations_slider_drives_the_printed_error(lab_page):
    page = lab_page
    # the kernel must be up: a Run All sent while it starts is dropped
    page.locator(".jp-StatusBar-TextItem").filter(
        has_text=re.compile(r"\(sngan-teach\) \| Idle")
    ).wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    # Run All: the execution indicator turns busy, and idle again once no cell is scheduled.
    indicator = ".jp-Notebook-ExecutionIndicator"
    page.locator(f'{indicator}[data-status="busy"]').wait_for(state="attached", timeout=30_000)
    page.locator(f'{indicator}[data-status="idle"]').wait_for(state="attached", timeout=240_000)
    # Only the cells tagged raises-exception may show a traceback.
    nb = nbformat.read(LESSON, as_version=4)
    n_raising = sum("raises-exception" in c.metadata.get("tags", []) for c in nb.cells)
    stderr = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    tracebacks = [text for text in stderr if "Traceback" in text]
    assert len(tracebacks) == n_raising, "a cell failed in JupyterLab:\n" + "\n---\n".join(
        text[-1500:] for text in tracebacks
    )

    # the first slider of the notebook is the iterations slider of the first interact cell
    cell = page.locator(".jp-Cell").filter(has=page.locator(".widget-slider")).first
    cell.locator(".widget-slider").first.wait_for(state="visible")
    k0, gap, shape, seed = slider_state(cell)
    assert "iterations" in cell.locator(".widget-slider .widget-label").first.inner_text()
    first = printed_line(cell, k0)
    assert first == expected_line(k0, gap, shape, seed)

    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.focus()
    seen = {k0: first}
    for key, k in (("ArrowRight", k0 + 1), ("ArrowRight", k0 + 2), ("ArrowLeft", k0 + 1)):
        page.keyboard.press(key)
        assert slider_state(cell)[0] == k, f"after {key} the readout should show k = {k}"
        line = printed_line(cell, k)
        assert line == expected_line(k, gap, shape, seed), "the output does not follow k"
        if k in seen:
            assert line == seen[k], "the same k printed a different error"
        seen[k] = line

    error = {k: float(LINE.search(line).group(2)) for k, line in seen.items()}
    assert error[k0 + 1] < error[k0], "one more iteration should lower the error"
    assert error[k0 + 2] < error[k0 + 1]
