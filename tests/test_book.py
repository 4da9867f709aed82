"""tools/book.py's pieces that need no build: the toc, README's lesson table and citation and
the pages' substitutions follow book.toml and references.bib, the results page pastes only
what the lessons glue; and tools/offline.py, the detector of references to outside the site."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book  # noqa: E402
import offline  # noqa: E402

sys.path.pop(0)

BOOK = book.load_book(ROOT)
LESSONS = [x["file"] for x in BOOK["lessons"]]


def test_toc_and_readme_citation_are_current():
    assert (ROOT / "site" / "_toc.yml").read_text() == book.toc_text(BOOK), (
        "site/_toc.yml is stale: `python3 tasks.py sync`"
    )
    assert (ROOT / "README.md").read_text() == book.readme_text(ROOT, BOOK), (
        "README's lesson table or citation is stale (book.toml, site/references.bib): "
        "`python3 tasks.py sync`"
    )


def test_toc_lists_book_toml_in_order_with_appendix_files_apart():
    import yaml

    toc = yaml.safe_load(book.toc_text(BOOK))
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert files == [f"notebooks/{x}" for x in LESSONS] + ["notation", "results", "references"]
    lessons = [{"file": f, "title": f"T {f}"} for f in ("00_a", "01_b", "A1_c", "A2_d")]
    toc = yaml.safe_load(book.toc_text({"lessons": lessons}))
    parts = {p["caption"]: [c["file"] for c in p["chapters"]] for p in toc["parts"]}
    assert parts["Lessons"] == ["notebooks/00_a", "notebooks/01_b"]
    assert parts["Appendix"] == ["notebooks/A1_c", "notebooks/A2_d"]
    assert toc["parts"][1]["chapters"][0]["title"] == "A1. T A1_c"


def test_pages_use_only_known_substitutions():
    known = book.substitutions(ROOT, BOOK)
    for page in sorted((ROOT / "site").glob("*.md")):
        used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", page.read_text()))
        assert used <= set(known), f"{page.name}: unknown substitutions {used - set(known)}"
        assert "<!-- book:" not in page.read_text()
    table = known["lessons"]
    assert table.count("\n") == len(LESSONS) + 1  # header, rule, one row per lesson
    for name in LESSONS:
        assert f"](notebooks/{name}.ipynb)" in table


def test_citation_comes_from_references_bib():
    entry = book.paper_entry(ROOT, BOOK["book"]["paper"])
    assert entry.startswith(f"@inproceedings{{{BOOK['book']['paper']},")
    text = book.citation(entry)
    assert "Takeru Miyato, Toshiki Kataoka, Masanori Koyama, and Yuichi Yoshida." in text
    assert "*Spectral Normalization for Generative Adversarial Networks*" in text
    assert text.endswith(f"```bibtex\n{entry}```")
    with pytest.raises(book.BuildError, match="nokey2000"):
        book.paper_entry(ROOT, "nokey2000")


def test_repository_buttons_only_when_book_toml_names_a_repository(tmp_path):
    meta = {"title": "T", "authors": ["A", "B"]}
    config = book.config(ROOT, {"book": meta}, tmp_path)
    assert config["title"] == "T" and config["author"] == "A, B"
    assert config["execute"]["cache"] == str(tmp_path)
    assert "repository" not in config and not config["html"].get("use_repository_button")
    named = {**meta, "repository": "https://example.org/owner/name"}
    config = book.config(ROOT, {"book": named}, tmp_path)
    assert config["repository"]["url"] == named["repository"]
    assert config["html"]["use_repository_button"] is True


def test_results_page_pastes_what_the_lessons_glue():
    """Each {glue} of the results page names a lesson of book.toml that glues that key (so a
    key renamed in a lesson fails here, not only in the site build)."""
    import jupytext

    text = (ROOT / "site" / "results.md").read_text()
    pasted = re.findall(r"```\{glue:\w+\} (\w+)\n:doc: notebooks/(\w+)\.ipynb", text)
    assert len(pasted) >= 3
    for key, lesson in pasted:
        assert lesson in LESSONS, f"results.md pastes from {lesson}, not in book.toml"
        nb = jupytext.read(ROOT / "notebooks" / f"{lesson}.ipynb")
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert re.search(rf"\bglue\(\s*[\"']{key}[\"']", code), f"{lesson} glues no {key!r}"
    for path in re.findall(r":file: (\S+)|\{include\} (\S+)", text):
        assert (ROOT / "".join(path)).is_file(), path


def test_external_references_flags_fetches_not_links(tmp_path):
    (tmp_path / "ok.html").write_text(
        '<a href="https://arxiv.org/abs/1802.05957">paper</a><script src="_static/x.js"></script>'
    )
    (tmp_path / "bad.html").write_text(
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/a.css"><img src="http://x/y.png">'
    )
    (tmp_path / "s.css").write_text("@font-face { src: url(https://x/f.woff2) }")
    found = offline.external_references(tmp_path)
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
    found = offline.external_references(tmp_path)["page.html"]
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
    found = offline.external_references(tmp_path)
    assert set(found) == {"page.html", "_static/app.js", "_static/theme.css"}
    assert found["_static/app.js"] == ["fetch(https://api.example.com/k.json)"]
    assert found["_static/theme.css"] == ["url(https://fonts.example.com/l.css)"]
