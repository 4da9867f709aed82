"""pytest set-up shared by the package tests and the nbval run of the lessons.

- Quick mode is the default under pytest (``SNGAN_BUDGET=quick``), as in CI; export
  ``SNGAN_BUDGET=full`` to run the lessons at full size. Kernels started by nbval inherit it.
- At the end of a run, a "per-notebook time" section lists how long each lesson took.
"""

from __future__ import annotations

import os
from collections import defaultdict

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_configure(config):
    os.environ.setdefault("SNGAN_BUDGET", "quick")


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    budget = os.environ.get("SNGAN_BUDGET", "")
    terminalreporter.section(f"per-notebook time (SNGAN_BUDGET={budget})")
    for path, seconds in _notebook_seconds.items():
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
    total = sum(_notebook_seconds.values())
    terminalreporter.write_line(f"{total:8.1f} s  all lessons")
