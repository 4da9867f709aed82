"""Helpers shared by the fault tests: a pickle payload that leaves a trace, and a process check."""

from __future__ import annotations

import os
from pathlib import Path


class Marker:
    """Unpickling this creates the file ``path``: it stands for any code a pickle can run."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, finished but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
