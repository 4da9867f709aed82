"""pytest set-up shared by the package tests and the nbval run of the lessons.

- Quick mode is the default under pytest (``SNGAN_BUDGET=quick``), as in CI; export
  ``SNGAN_BUDGET=full`` to run the lessons at full size. Kernels started by nbval inherit it.
- At the end of a run, a "per-notebook time" section lists how long each lesson took in the
  nbval run, and, when the site was built at full size for tests/test_site.py (fixture
  ``built_site``), a "full-size lesson times" section lists how long each lesson took there.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

from sngan_teach import runtime

SITE_RECORD = Path(__file__).resolve().parent / "_build" / "test-artifacts" / "site-build.json"

_notebook_seconds: dict[str, float] = defaultdict(float)
_started = time.time()


def pytest_configure(config):
    os.environ.setdefault(runtime.BUDGET_ENV, "quick")


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def _site_build_summary(terminalreporter) -> None:
    """Per-lesson execution times of the site build this run used (written by built_site)."""
    if not SITE_RECORD.is_file() or SITE_RECORD.stat().st_mtime < _started:
        return
    record = json.loads(SITE_RECORD.read_text())
    seconds = record.get("lesson_seconds") or {}
    how = "built in this run" if record.get("built_now") else "reused, built earlier"
    terminalreporter.section(
        f"full-size lesson times (site build, SNGAN_BUDGET={record.get('budget', '?')}, {how})"
    )
    for lesson, value in seconds.items():
        terminalreporter.write_line(f"{value:8.1f} s  notebooks/{lesson}.ipynb")
    if seconds:
        terminalreporter.write_line(f"{sum(seconds.values()):8.1f} s  all lessons")
    if "seconds" in record:
        terminalreporter.write_line(f"{record['seconds']:8.1f} s  whole site build")


def pytest_terminal_summary(terminalreporter):
    _site_build_summary(terminalreporter)
    if not _notebook_seconds:
        return
    terminalreporter.section(f"per-notebook time ({runtime.BUDGET_ENV}={runtime.budget()})")
    for path, seconds in _notebook_seconds.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
    total = sum(_notebook_seconds.values())
    terminalreporter.write_line(f"{total:8.1f} s  all lessons")
