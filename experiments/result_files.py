"""The CSV files of the benchmarks: whole-row appends, whole-file replaces, one writer at a time.

Every benchmark that writes under ``benchmarks/results`` goes through these, so that a power
cut, a full disk, ``kill -9`` or a second run on the same file cannot leave a file that reads
wrong:

- :func:`lock`: an exclusive lock on a hidden ``.NAME.lock`` beside the file for as long as the
  run writes it; a second run on the same file stops at once with a message naming the first
  one's PID (the kernel drops the lock when a process ends, so a crashed run leaves none).
- :func:`append_rows`: the rows of one finished cell in one write of whole lines, flushed and
  synced to disk before the call returns; a missing or empty file gets its header first.
- :func:`replace_file` / :func:`write_rows`: a whole file written beside the target, synced,
  then renamed over it (``os.replace`` is atomic), so the old file stays whole until the new
  one is.
- :func:`read_rows`: the rows of such a file. A last line without its line end (a write cut
  short) is reported and left out, and cut from the file with ``repair=True`` (before a resume
  appends to it); a foreign header, a row with the wrong number of fields or two rows with the
  same key stop the run with a message naming the file and the line.

Messages go to stderr (``warning: ...``) or end the run (``SystemExit``): these are helpers for
command-line scripts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s hidden ``.NAME.lock`` (in ``path``'s folder, which
    is created) for the duration of the ``with`` block. ``SystemExit`` naming the holder's PID
    when another run holds it. The lock file is opened without following a symlink. Where the
    system has no advisory locks (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path.with_name(f".{path.name}.lock"), flags, 0o644), "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = handle.read().strip() or "unknown"
            raise SystemExit(
                f"another run (PID {holder}) is writing {path}; wait for it to end, "
                "or pass another --out"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _csv_text(fields: list[str], rows: Iterable[dict], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def append_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    """Append ``rows`` (dicts with the keys ``fields``) to the CSV ``path`` in one write, then
    flush and sync it; a missing or empty file gets the header first."""
    header = not path.exists() or path.stat().st_size == 0
    text = _csv_text(fields, rows, header)
    with path.open("a", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replace_file(path: Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing (``mode`` ``"w"`` or ``"wb"``); when
    the ``with`` block ends without an error, sync it and rename it over ``path`` (with the old
    file's permissions, ``rw-r--r--`` for a new one). On an error the temporary file is removed
    and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # not mkstemp's 0600
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_rows(path: Path, fields: list[str], rows: Iterable[dict], cell: Callable = str) -> None:
    """Write the CSV ``path`` whole (header, then ``rows``) through :func:`replace_file`;
    ``cell`` formats each value (``str`` by default)."""
    with replace_file(path) as f:
        f.write(_csv_text(fields, ({k: cell(r[k]) for k in fields} for r in rows), True))


def read_rows(
    path: Path, fields: list[str], key: tuple[str, ...], *, repair: bool = False
) -> list[dict]:
    """The rows of the CSV ``path`` as dicts of strings (``[]`` for a missing or empty file).

    A last line without its line end, left by a write cut short, is left out with a warning
    on stderr, and with ``repair=True`` also cut from the file (do that under :func:`lock`,
    before appending). ``SystemExit`` naming the file when its header is not ``fields``, when
    a row has another number of fields, or when two rows share the values of ``key`` (two
    runs wrote to the file).
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        torn = data[end:]
        shown = torn[:60].decode("utf-8", "replace") + ("..." if len(torn) > 60 else "")
        action = "cut it from the file; that cell runs again" if repair else "left it out"
        print(f"warning: the last line of {path} is incomplete ({shown!r}), a write cut "
              f"short; {action}", file=sys.stderr, flush=True)  # fmt: skip
        if repair:
            os.truncate(path, end)
        data = data[:end]
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader, None)
    if header is None:
        return []
    if header != fields:
        raise SystemExit(
            f"{path} does not start with this benchmark's header ({','.join(fields)}); "
            "move it away or pass another --out"
        )
    rows, seen = [], {}
    for line, values in enumerate(reader, 2):
        if len(values) != len(fields):
            raise SystemExit(
                f"line {line} of {path} has {len(values)} fields, not {len(fields)}; "
                "delete that line (a resume runs its cell again)"
            )
        row = dict(zip(fields, values, strict=True))
        k = tuple(row[name] for name in key)
        if k in seen:
            where = ", ".join(f"{name} {value}" for name, value in zip(key, k, strict=True))
            raise SystemExit(
                f"{path} holds the row for {where} twice (lines {seen[k]} and {line}): two "
                "runs wrote to it; delete one of the two lines"
            )
        seen[k] = line
        rows.append(row)
    return rows
