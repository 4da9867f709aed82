"""The project's own promises: book.toml is the one list of lessons, every lesson is an .ipynb
paired with a .py that agrees with it, lessons follow the series' shape, environment.yml matches
pyproject.toml, the README and CI run the same test command, and ruff is clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BOOK = tomllib.loads((ROOT / "book.toml").read_text())
LESSONS = [lesson["file"] for lesson in BOOK["lessons"]]

sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402


def cells(path: Path) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]


def test_book_has_title_authors_and_well_formed_lessons():
    assert BOOK["book"]["title"] and BOOK["book"]["authors"]
    assert LESSONS, "book.toml lists no lessons"
    assert len(set(LESSONS)) == len(LESSONS), "a lesson is listed twice"
    for lesson in BOOK["lessons"]:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", lesson["file"]), lesson["file"]
        assert lesson["title"] and lesson["summary"], lesson["file"]
    numbers = [int(name[:2]) for name in LESSONS]
    assert numbers == sorted(numbers), "book.toml must list the lessons in order"


def test_book_and_notebooks_folder_agree():
    on_disk = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    listed = set(LESSONS)
    assert not listed - on_disk, f"book.toml names missing notebooks: {sorted(listed - on_disk)}"
    assert not on_disk - listed, f"notebooks missing from book.toml: {sorted(on_disk - listed)}"


@pytest.mark.parametrize("name", LESSONS)
def test_pair_in_sync(name):
    ipynb, py = NOTEBOOKS / f"{name}.ipynb", NOTEBOOKS / f"{name}.py"
    assert py.exists(), f"{py.name} (the jupytext twin of {ipynb.name}) is missing"
    assert cells(ipynb) == cells(py), (
        f"{ipynb.name} and {py.name} differ: run `python3 tasks.py sync`"
    )


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_follows_the_series_shape(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    title = next(lesson["title"] for lesson in BOOK["lessons"] if lesson["file"] == name)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {title}"), (
        f"{name} must open with '# {title}' (its title in book.toml)"
    )
    for heading in ("What you will learn", "Summary", "Exercises"):
        as_heading_or_bold = rf"^#+ .*{heading}|\*\*{heading}"
        assert re.search(as_heading_or_bold, markdown, re.M), f"{name} has no '{heading}'"
    assert nb.metadata.get("kernelspec", {}).get("name") == tasks.KERNEL_NAME
    assert code.count("assert ") >= 3, f"{name}: claims must be checked by asserts"


@pytest.mark.parametrize("name", LESSONS)
def test_only_check_cells_store_outputs(name):
    """Check-output cells must hold the output nbval compares with (else the check is vacuous);
    every other cell is committed clean."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if "nbval-check-output" in cell.metadata.get("tags", []):
            assert cell.outputs and cell.execution_count, (
                f"{name} cell {index} is tagged nbval-check-output but stores no output: "
                "run `python3 tasks.py refresh`"
            )
        else:
            assert not cell.outputs, f"{name} cell {index} has committed outputs"


def test_readme_lesson_table_follows_book():
    readme = (ROOT / "README.md").read_text()
    assert tasks.lesson_table() in readme, "README's lesson table is stale: `tasks.py sync`"


def test_readme_states_the_two_commands_first_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["python3 tasks.py lab", "python3 tasks.py test"]
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines == ["python3 tasks.py test"]


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {canonicalize_name(r.name): str(r.specifier) for r in map(Requirement, lines)}


CONDA_TO_PYPI = {"pytorch": "torch"}


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for entry in env["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        for spec in specs:
            if spec.startswith("-e"):
                continue
            # conda's single '=' pins a version prefix; read it as '==' for this comparison
            spec = re.sub(r"(?<![=<>!~])=(?!=)", "==", spec)
            req = Requirement(spec)
            name = CONDA_TO_PYPI.get(req.name, req.name)
            if name in ("python", "pip"):
                continue
            found[canonicalize_name(name)] = str(req.specifier)
    return found


def test_environment_yml_matches_pyproject():
    assert _environment_requirements() == _pyproject_requirements()


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed (it is in the test extra)"
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"
