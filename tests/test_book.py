"""tools/book.py's pieces that need no build: lesson selection, generated pages, the results
page policy, and the detector of references to outside the site."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402

sys.path.pop(0)

BOOK = book.load_book(ROOT)
LESSONS = book.lessons_of(BOOK)


def test_select_lessons_keeps_book_order_and_rejects_unknown_numbers():
    chosen = book.select_lessons(LESSONS, f"{LESSONS[3].number},{LESSONS[0].number}")
    assert [x.file for x in chosen] == [LESSONS[0].file, LESSONS[3].file]
    assert book.select_lessons(LESSONS, None) == LESSONS
    with pytest.raises(book.BuildError, match="99"):
        book.select_lessons(LESSONS, "99")


def test_lesson_table_links_only_built_lessons():
    table = book.lesson_table(LESSONS, {LESSONS[0].file})
    assert f"](notebooks/{LESSONS[0].file}.ipynb)" in table
    assert f"notebooks/{LESSONS[1].file}.ipynb" not in table
    assert table.count("\n") == len(LESSONS) + 1  # header, rule, one row per lesson


def test_bibtex_comes_from_book_toml():
    paper = BOOK["paper"]
    bib = book.paper_bibtex(paper)
    first = paper["authors"][0].split()
    assert bib.startswith(f"@inproceedings{{{first[-1].lower()}{paper['year']}")
    assert f"{first[-1]}, {first[0]} and" in bib
    assert paper["title"] in bib and paper["url"] in bib
    assert str(paper["year"]) in book.paper_citation(paper)


def test_repository_buttons_only_when_book_toml_names_a_repository():
    meta = {"title": "T", "authors": ["A"]}
    config = book.config_yaml({"book": meta}, ["references.bib"])
    assert "repository" not in config and not config["html"].get("use_repository_button")
    named = {**meta, "repository": "https://example.org/owner/name"}
    config = book.config_yaml({"book": named}, ["references.bib"])
    assert config["repository"]["url"] == named["repository"]
    assert config["html"]["use_repository_button"] is True


def test_fill_rejects_unknown_markers():
    assert book.fill("a <!-- book:x --> b", {"x": "X"}, "t.md") == "a X b"
    with pytest.raises(book.BuildError, match="book:y"):
        book.fill("<!-- book:y -->", {"x": "X"}, "t.md")


def test_demote_headings_skips_code_fences():
    text = "## A\n```\n# comment\n```\n### B"
    assert book.demote_headings(text, top=3) == "### A\n```\n# comment\n```\n#### B"
    assert book.demote_headings("no heading", top=3) == "no heading"


def test_external_references_flags_fetches_not_links(tmp_path):
    (tmp_path / "ok.html").write_text(
        '<a href="https://arxiv.org/abs/1802.05957">paper</a><script src="_static/x.js"></script>'
    )
    (tmp_path / "bad.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/a.css"><img src="http://x/y.png">'
    )
    (tmp_path / "s.css").write_text("@font-face { src: url(https://x/f.woff2) }")
    found = book.external_references(tmp_path)
    assert set(found) == {"bad.html", "s.css"}
    assert len(found["bad.html"]) == 3


def test_external_references_finds_every_way_a_page_fetches(tmp_path):
    # one of each, each on its own line of the page; none of them is a plain hyperlink
    fetching = [
        '<script src="HTTPS://cdn.example.com/a.js"></script>',
        '<img src="local.png" srcset="local.png 1x, https://cdn.example.com/b.png 2x">',
        "<style>.x { background: url('https://cdn.example.com/c.png') }</style>",
        '<style>@import "https://fonts.example.com/d.css";</style>',
        '<svg><image href="https://cdn.example.com/e.svg" /></svg>',
        '<svg><use xlink:href="//cdn.example.com/f.svg#icon" /></svg>',
        '<input type="image" src="https://cdn.example.com/g.png">',
        '<script>fetch("https://api.example.com/h.json").then(r => r.json())</script>',
        '<link rel="preload" as="image" imagesrcset="ok.png 1x, https://cdn.example.com/i.png 2x">',
        '<div style="background: URL(\\\\cdn.example.com/j.png)"></div>',
    ]
    (tmp_path / "page.html").write_text("\n".join(fetching))
    found = book.external_references(tmp_path)["page.html"]
    for letter in "abcdefghij":
        assert sum(f"example.com/{letter}." in ref for ref in found) == 1, (letter, found)
    # shipped scripts and style sheets, and what does not fetch
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "app.js").write_text(
        "const a = 'https://example.com/docs';  // a string, not a fetch\n"
        "fetch('_static/local.json');\nawait fetch(`https://api.example.com/k.json`);\n"
    )
    (tmp_path / "_static" / "theme.css").write_text(
        "@import 'https://fonts.example.com/l.css';\n@import 'local.css';\n"
    )
    (tmp_path / "ok.html").write_text(
        '<a href="HTTPS://arxiv.org/abs/1802.05957">paper</a><img srcset="a.png 1x, b.png 2x">'
        '<input type="text" src="https://x/y.png"><style>.y { background: url(z.png) }</style>'
        "<script>const u = 'https://example.com';</script>"
    )
    found = book.external_references(tmp_path)
    assert set(found) == {"page.html", "_static/app.js", "_static/theme.css"}
    assert found["_static/app.js"] == ["fetch(https://api.example.com/k.json)"]
    assert found["_static/theme.css"] == ["url(https://fonts.example.com/l.css)"]


def _lesson_nb(tagged_outputs: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('ratio 1.1')")
    cell.metadata["tags"] = [book.RESULTS_TAG]
    cell.outputs = tagged_outputs
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    return nb


def test_results_page_policy(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# Benchmark results\n\n## Layer\n\nok\n")
    by_file = {x.file: x for x in LESSONS}
    # appendix A3 reads toy_table.csv: missing while A3 is built -> a problem that fails the build
    _, problems = book.results_notebook(tmp_path, "# Results", [by_file["A3_toy_gan_studies"]], {})
    assert any("toy_table.csv" in p for p in problems)
    # not built -> a note on the page instead; RESULTS.md included without its own title
    lesson = by_file["06_regularizers"]
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="ratio 1.1\n"),
        nbformat.v4.new_output("stream", name="stderr", text="progress\n"),
        nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"}, "text/plain": "w"},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": {"model_id": "e"},
                "text/html": '<div class="sngan-explore"></div>',
                "text/plain": "interactive figure",
            },
        ),
    ]
    nb, problems = book.results_notebook(
        tmp_path, "# Results", [lesson], {lesson.file: _lesson_nb(outputs)}
    )
    assert problems == []
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Not produced yet" in text and "Benchmark results" not in text and "### Layer" in text
    copied = [c for c in nb.cells if c.cell_type == "code"]
    assert len(copied) == 1 and copied[0].metadata["tags"] == ["remove-input"]
    assert [o.get("name") for o in copied[0].outputs] == ["stdout", None]
    # an explore() figure keeps its HTML slider, without the widget view that needs a kernel
    assert set(copied[0].outputs[1]["data"]) == {"text/html", "text/plain"}


def test_toy_pivot_puts_settings_in_columns(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text(
        "data,method,loss,setting,modes,hq,diverged\n"
        "grid,sn,hinge,A,25,0.5,0\ngrid,sn,hinge,B,24,0.25,1\n"
    )
    pivot = book.toy_pivot(csv)
    assert "| method | loss | A | B |" in pivot
    assert "| sn | hinge | 25 (50%) | 24 (25%) diverged |" in pivot
    seeds = tmp_path / "s.csv"  # several seeds per cell: mean +- sd, every seed counted
    seeds.write_text(
        "data,method,loss,setting,seed,modes,hq,diverged\n"
        "grid,sn,ns,A,0,20,0.1,0\ngrid,sn,ns,A,1,24,0.3,0\ngrid,sn,ns,A,2,25,0.2,1\n"
    )
    pivot = book.toy_pivot(seeds)
    assert "mean ± sd over 3 seeds" in pivot
    assert "| sn | ns | 23.0 ± 2.6 (20%) (1 diverged) |" in pivot
    other = tmp_path / "o.csv"
    other.write_text("a,b\n1,2\n")
    assert book.toy_pivot(other) is None
    assert book.csv_to_markdown(other) == "| a | b |\n|---|---|\n| 1 | 2 |"
