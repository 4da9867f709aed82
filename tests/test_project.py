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
TWINS = NOTEBOOKS / "py"  # the .py twins (jupytext.toml): notebooks/ lists each lesson once
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
        assert re.fullmatch(r"(\d\d|A\d)_[a-z0-9_]+", lesson["file"]), lesson["file"]
        assert lesson["title"] and lesson["summary"], lesson["file"]
    main, appendices = [n for n in LESSONS if n[0].isdigit()], [n for n in LESSONS if n[0] == "A"]
    assert LESSONS == main + appendices, "book.toml lists the appendices after the main lessons"
    numbers = [int(name[:2]) for name in main]
    assert numbers == list(range(len(main))), "book.toml must list the lessons 00, 01, ... in order"
    assert [int(name[1]) for name in appendices] == list(range(1, len(appendices) + 1)), (
        "appendices are A1, A2, ... in order"
    )


MAIN_LESSONS = [n for n in LESSONS if n[0].isdigit()]
APPENDICES = [n for n in LESSONS if n[0] == "A"]
MAIN_LESSON_LINES = 700


@pytest.mark.parametrize("name", MAIN_LESSONS)
def test_main_lesson_fits_one_sitting(name):
    """A main lesson keeps to one idea: its .py twin has at most 700 lines; engineering and
    tuning go to an appendix (A1_..., linked from where they left), which may be longer."""
    lines = len((TWINS / f"{name}.py").read_text().splitlines())
    assert lines <= MAIN_LESSON_LINES, f"{name}.py has {lines} lines (at most {MAIN_LESSON_LINES})"


@pytest.mark.parametrize("name", MAIN_LESSONS)
def test_main_lesson_ends_with_whats_next(name):
    """Every main lesson ends with a short "What's next" pointing to the next lesson (the last
    one, to the appendices); every appendix is linked from a main lesson."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "What's next" in last.source, (
        f'{name} does not end with a "What\'s next" cell'
    )
    following = LESSONS[LESSONS.index(name) + 1] if name != MAIN_LESSONS[-1] else None
    if following is not None:
        assert f"{following}.ipynb" in last.source, f"{name}: What's next names no {following}"


@pytest.mark.parametrize("name", APPENDICES)
def test_appendix_is_linked_from_a_main_lesson(name):
    linking = [
        n for n in MAIN_LESSONS if f"({name}.ipynb" in (NOTEBOOKS / f"{n}.ipynb").read_text()
    ]
    assert linking, f"no main lesson links to {name}.ipynb"


def test_book_and_notebooks_folder_agree():
    on_disk = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    listed = set(LESSONS)
    assert not listed - on_disk, f"book.toml names missing notebooks: {sorted(listed - on_disk)}"
    assert not on_disk - listed, f"notebooks missing from book.toml: {sorted(on_disk - listed)}"


@pytest.mark.parametrize("name", LESSONS)
def test_pair_in_sync(name):
    ipynb, py = NOTEBOOKS / f"{name}.ipynb", TWINS / f"{name}.py"
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


# --------------------------------------------------------------------------------------------
# learner-facing text speaks of the subject only

ORGANISATIONAL = re.compile(
    r"issue [0-9]|paper-facts|(first|second|this|previous) session|seed of this lesson", re.I
)


def _learner_facing_files() -> list[Path]:
    files = sorted(TWINS.glob("*.py"))
    files += sorted((ROOT / "sngan_teach").rglob("*.py"))
    files += sorted(p for p in (ROOT / "site").rglob("*") if p.is_file())
    files += [ROOT / "README.md", ROOT / "benchmarks" / "RESULTS.md"]
    return files


def test_learner_facing_text_has_no_organisational_words():
    found = []
    for path in _learner_facing_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if ORGANISATIONAL.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "words about how the work is organised, not about the subject:\n" + (
        "\n".join(found)
    )


# --------------------------------------------------------------------------------------------
# references: every lesson lists what it cites, and every key resolves

BIB = ROOT / "site" / "references.bib"


def _fold(name: str) -> str:
    """'Bottou' from 'Bottou', 'L{\\'e}on' -> 'leon': braces, TeX accents and diacritics off."""
    import unicodedata

    name = re.sub(r"\\[`'^\"~=.uvHck]\s*", "", name).replace("{", "").replace("}", "")
    name = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in name if not unicodedata.combining(ch)).strip().lower()


def _first_surname(authors: str) -> str:
    first = re.split(r"\s+and\s+", authors.strip())[0]
    surname = first.split(",")[0] if "," in first else first.split()[-1]
    return _fold(surname)


def bib_entries() -> dict[str, tuple[str, int]]:
    """key -> (first author's surname, year), from site/references.bib."""
    entries: dict[str, tuple[str, int]] = {}
    text = BIB.read_text()
    for match in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", text, re.S):
        key, body = match.groups()
        author = re.search(r"\bauthor\s*=\s*\{(.*?)\},?\s*\n", body, re.S)
        year = re.search(r"\byear\s*=\s*\{?(\d{4})", body)
        assert author and year, f"references.bib: {key} needs an author and a year"
        entries[key] = (_first_surname(author.group(1)), int(year.group(1)))
    assert BOOK["book"]["paper"] in entries, "references.bib lacks the paper book.toml names"
    return entries


def test_references_bib_keys_are_unique():
    keys = re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", BIB.read_text())
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


def _lesson_markdown(name: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def split_references(markdown: str) -> tuple[str, str | None]:
    """(the text before '## References', the section itself up to the next heading of level
    1 or 2), or (all the text, None) when there is no such section."""
    match = re.search(r"^## References[ \t]*$", markdown, re.M)
    if match is None:
        return markdown, None
    rest = markdown[match.end() :]
    end = re.search(r"^#{1,2} ", rest, re.M)
    section = rest[: end.start()] if end else rest
    after = rest[end.start() :] if end else ""
    return markdown[: match.start()] + "\n" + after, section


NAME = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*"
VENUE = r"(?:[A-Z][\w&.-]*\s+){0,3}"
# Surname et al. (2018) | Surname et al. (ICLR 2018) | Surname et al., 2018
# Surname and Surname (2007) | Surname & Surname, ICML 2018 | A, B and C (2019)
CITED_BY_NAMES = re.compile(
    rf"\b(?P<s>{NAME})(?:,\s+{NAME})*(?:\s+et\s+al\.?|,?\s+(?:and|&)\s+{NAME})"
    rf",?\s*\(?\s*{VENUE}(?P<y>(?:19|20)\d\d)\b"
)
# (Surname, 2017) | (Surname et al., 2017) | (Sedghi, Gupta and Long, ICLR 2019)
CITED_IN_PARENS = re.compile(
    rf"\(\s*(?P<s>{NAME})(?:,\s+{NAME})*(?:\s+et\s+al\.?|,?\s+(?:and|&)\s+{NAME})?"
    rf",\s*{VENUE}(?P<y>(?:19|20)\d\d)\b"
)


def inline_citations(text: str) -> set[tuple[str, int]]:
    """(first surname, year) of every citation written in the prose (code is skipped)."""
    text = re.sub(r"```.*?```|~~~.*?~~~", " ", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\s+", " ", text)  # a citation may wrap across lines
    found = set()
    for pattern in (CITED_BY_NAMES, CITED_IN_PARENS):
        for m in pattern.finditer(text):
            found.add((_fold(m.group("s")), int(m.group("y"))))
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("as Kodali et al. (2017) observe", {("kodali", 2017)}),
        ("spectral norm (Sedghi, Gupta and Long, ICLR 2019) of", {("sedghi", 2019)}),
        ("Virmaux & Scaman (2018) show", {("virmaux", 2018)}),
        ("Roy and Vetterli (2007) define", {("roy", 2007)}),
        ("GAN Lab (Kahng et al., IEEE VIS 2018; see", {("kahng", 2018)}),
        ("the paper, Miyato et al. (ICLR\n2018), says", {("miyato", 2018)}),
        ("a limit (Yoshida, 2017).", {("yoshida", 2017)}),
        ("SN and WN (2018 numbers), `Roy et al. (2007)`, Table 2 (2018)", set()),
    ],
)
def test_inline_citation_patterns(text, expected):
    assert inline_citations(text) == expected


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_references_resolve_and_cover_its_citations(name):
    markdown = _lesson_markdown(name)
    prose, section = split_references(markdown)
    assert section is not None, f"{name} has no '## References' section (after Exercises)"
    exercises = re.search(r"^#+ .*Exercises|\*\*Exercises", markdown, re.M)
    assert exercises and exercises.start() < markdown.index("## References"), (
        f"{name}: '## References' must come after the Exercises"
    )
    entries = bib_entries()
    keys = re.findall(r"`([A-Za-z][\w:-]*\d{4}[\w:-]*)`", section)
    assert keys, f"{name}: its References list names no bib key in backticks"
    unknown = [k for k in keys if k not in entries]
    assert not unknown, f"{name}: References keys missing from site/references.bib: {unknown}"
    listed = {entries[k] for k in keys}
    missing = sorted(
        f"{surname.title()} ({year})"
        for surname, year in inline_citations(prose)
        if (surname, year) not in listed
    )
    assert not missing, (
        f"{name} cites {', '.join(missing)} in its text but its References list has no entry "
        "with that first author and year (add it, and to site/references.bib if new)"
    )


@pytest.mark.parametrize("name", [n for n in MAIN_LESSONS if not n.startswith("00_")])
def test_lesson_has_an_explore_figure_and_no_interact(name):
    """Every lesson from 01 on lets the reader move a control (sngan_teach.explore, which also
    works on the static site); ipywidgets.interact would leave a dead slider there."""
    code = "\n".join(
        c.source
        for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
        if c.cell_type == "code"
    )
    has_explore = re.search(r"\bexplore\(", code) is not None
    calls_interact = re.search(r"\binteract(_manual)?\(", code) is not None
    assert has_explore, f"{name} has no explore() figure"
    assert not calls_interact, f"{name} still calls interact(): use sngan_teach.explore.explore"


@pytest.mark.parametrize("name", LESSONS)
def test_slider_figure_code_is_folded(name):
    """The code that draws a slider figure (the cell that calls explore()) is folded in
    JupyterLab (``source_hidden``) and on the site (``hide-input``), and a line of prose
    above it says what it draws, so that the idea and its picture stand together."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not re.search(r"\bexplore\(", cell.source):
            continue
        first_line = cell.source.splitlines()[0]
        assert "hide-input" in cell.metadata.get("tags", []), f"{name}: {first_line!r} not hidden"
        assert cell.metadata.get("jupyter", {}).get("source_hidden"), (
            f"{name}: {first_line!r} is not folded in JupyterLab (jupyter.source_hidden)"
        )
        above = nb.cells[i - 1]
        assert above.cell_type == "markdown" and "folded" in above.source, (
            f"{name}: no line of prose above the folded {first_line!r} saying what it draws"
        )
