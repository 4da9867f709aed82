"""What a built page would fetch from outside the site, read from its files.

The site promises to work offline: no page may load a script, style sheet, font, image or
frame from another host. ``external_references(html_dir)`` reads every page, SVG image,
style sheet and script of a built site and lists the outside addresses each would fetch;
plain hyperlinks (``<a href>``, ``<link rel="canonical">``) are not fetches and are left out.
tools/book.py fails a build that has any; tests/test_site.py checks the same in a browser.
"""

from __future__ import annotations

import html.parser
import re
from pathlib import Path

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

    FETCHING = {  # tag -> the attributes that fetch (image, feimage, use: SVG)
        **dict.fromkeys(("script", "iframe", "frame", "audio", "track", "embed"), ("src",)),
        "img": ("src", "srcset"), "source": ("src", "srcset"), "video": ("src", "poster"),
        "object": ("data",), **dict.fromkeys(("image", "feimage", "use"), ("href", "xlink:href")),
    }  # fmt: skip

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
                f"<{tag} {name}={u.strip()}>" for u in urls if re.match(_OUTSIDE, u.strip(), re.I)
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
