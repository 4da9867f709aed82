"""Run lessons and store the outputs of their ``nbval-check-output`` cells, and only those.

Usage (through tasks.py, which sets quick mode): ``python3 tasks.py refresh notebooks/NN.ipynb``.

nbval compares a cell's output with the stored one only when the stored cell has an execution
count. Lessons are committed without outputs, except the cells tagged ``nbval-check-output``,
whose printed numbers must match exactly; this script (re)writes exactly those.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECK_TAG = "nbval-check-output"


def refresh(path: Path) -> int:
    """Execute ``path`` and keep outputs only in check cells. Returns the number of check cells."""
    original = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(
        executed, timeout=900, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    checked = 0
    for kept, ran in zip(original.cells, executed.cells, strict=True):
        if kept.cell_type != "code":
            continue
        if CHECK_TAG in kept.metadata.get("tags", []):
            kept.outputs = [o for o in ran.outputs if o.output_type in ("stream", "execute_result")]
            kept.execution_count = ran.execution_count
            checked += 1
        else:
            kept.outputs = []
            kept.execution_count = None
    nbformat.write(original, path)
    return checked


def main(paths: list[str]) -> None:
    for name in paths:
        count = refresh(Path(name))
        print(f"{name}: stored the outputs of {count} check cell(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
