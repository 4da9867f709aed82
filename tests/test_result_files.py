"""Tests for experiments/result_files.py: whole-row appends, torn lines, duplicates, whole-file
replaces and the lock that every benchmark writing a results file takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.result_files import append_rows, lock, read_rows, replace_file, write_rows

ROOT = Path(__file__).resolve().parents[1]

FIELDS = ["method", "seed", "score"]
KEY = ("method", "seed")


def rows(*specs: tuple[str, int, float]) -> list[dict]:
    return [dict(zip(FIELDS, spec, strict=True)) for spec in specs]


def test_append_writes_the_header_to_a_missing_or_empty_file_once(tmp_path):
    for path in (tmp_path / "missing.csv", tmp_path / "empty.csv"):
        if path.name == "empty.csv":
            path.touch()
        append_rows(path, FIELDS, rows(("sn", 0, 1.5)))
        append_rows(path, FIELDS, rows(("wn", 0, 2.5), ("wn", 1, 3.5)))
        assert path.read_bytes() == b"method,seed,score\r\nsn,0,1.5\r\nwn,0,2.5\r\nwn,1,3.5\r\n"
        assert read_rows(path, FIELDS, KEY) == [
            {"method": "sn", "seed": "0", "score": "1.5"},
            {"method": "wn", "seed": "0", "score": "2.5"},
            {"method": "wn", "seed": "1", "score": "3.5"},
        ]


@pytest.mark.parametrize("cut", ["wn,1,3.", "wn,", "wn", "\0\0\0"])
def test_a_torn_last_line_is_left_out_with_a_warning_and_cut_by_repair(tmp_path, capsys, cut):
    path = tmp_path / "r.csv"
    append_rows(path, FIELDS, rows(("sn", 0, 1.5), ("wn", 0, 2.5)))
    whole = path.read_bytes()
    path.write_bytes(whole + cut.encode())  # a write cut short: no line end
    assert [r["method"] for r in read_rows(path, FIELDS, KEY)] == ["sn", "wn"]
    assert "last line of" in capsys.readouterr().err
    assert path.read_bytes() == whole + cut.encode(), "without repair the file is not changed"
    read_rows(path, FIELDS, KEY, repair=True)
    assert "cut it from the file" in capsys.readouterr().err
    assert path.read_bytes() == whole
    append_rows(path, FIELDS, rows(("wn", 1, 3.5)))  # the resume appends a whole line
    assert [r["seed"] for r in read_rows(path, FIELDS, KEY)] == ["0", "0", "1"]


def test_a_torn_header_leaves_an_empty_file_that_gets_the_header_again(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("metho")
    assert read_rows(path, FIELDS, KEY, repair=True) == []
    assert path.read_bytes() == b""
    append_rows(path, FIELDS, rows(("sn", 0, 1.5)))
    assert read_rows(path, FIELDS, KEY)[0]["method"] == "sn"


def test_duplicate_keys_a_foreign_header_and_a_short_row_are_refused_by_line(tmp_path):
    path = tmp_path / "r.csv"
    append_rows(path, FIELDS, rows(("sn", 0, 1.5), ("wn", 0, 2.5), ("sn", 0, 1.5)))
    with pytest.raises(SystemExit, match=r"method sn, seed 0 twice \(lines 2 and 4\)"):
        read_rows(path, FIELDS, KEY)
    path.write_text("method,seed\r\nsn,0\r\n")
    with pytest.raises(SystemExit, match="does not start with this benchmark's header"):
        read_rows(path, FIELDS, KEY)
    path.write_text("method,seed,score\r\nsn,0,1.5\r\nwn,0\r\n")
    with pytest.raises(SystemExit, match="line 3 of .* has 2 fields, not 3"):
        read_rows(path, FIELDS, KEY)
    assert read_rows(tmp_path / "missing.csv", FIELDS, KEY) == []


def test_replace_file_keeps_the_old_file_whole_when_the_write_fails(tmp_path):
    path = tmp_path / "r.csv"
    write_rows(path, FIELDS, rows(("sn", 0, 1.5)))
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="disk"), replace_file(path) as f:
        f.write("method,seed,score\r\nwn,")
        raise RuntimeError("disk full")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"], "no temporary file is left"
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o664)
    write_rows(path, FIELDS, rows(("wn", 1, 2.0)), cell=lambda v: f"<{v}>")
    assert read_rows(path, FIELDS, KEY) == [{"method": "<wn>", "seed": "<1>", "score": "<2.0>"}]
    assert path.stat().st_mode & 0o777 == 0o664, "a replaced file keeps its permissions"


def test_the_lock_refuses_a_second_writer_naming_the_first_and_is_released(tmp_path):
    path = tmp_path / "sub" / "r.csv"
    with lock(path):
        assert (tmp_path / "sub" / ".r.csv.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(SystemExit, match=rf"another run \(PID {os.getpid()}\) is writing"):
            with lock(path):
                pass
    with lock(path):  # released at the end of the block
        pass


def test_the_lock_does_not_write_through_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / ".r.csv.lock").symlink_to(victim)
    with pytest.raises(OSError), lock(tmp_path / "r.csv"):
        pass
    assert victim.read_text() == "keep me"


SCRIPTS = {
    "robustness.py": ["--quick", "--out", "{tmp}/r.csv"],
    "toy_table.py": ["--out", "{tmp}/r.csv", "--n-steps", "1", "--seeds", "0"],
    "toy_long.py": ["--out", "{tmp}/r.csv", "--lengths", "2", "--eval-every", "2"],
    "toy_levers.py": ["--out", "{tmp}/r.csv", "--n-steps", "2", "--eval-every", "2"],
    "beyond.py": ["--quick", "--out-dir", "{tmp}", "--jobs", "1"],
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_benchmark_refuses_a_file_another_run_is_writing(tmp_path, script):
    # beyond.py writes a folder of files; it locks the folder's beyond.csv
    target = tmp_path / ("beyond.csv" if script == "beyond.py" else "r.csv")
    args = [a.format(tmp=tmp_path) for a in SCRIPTS[script]]
    with lock(target):
        done = subprocess.run(
            [sys.executable, str(ROOT / "experiments" / script), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"another run (PID {os.getpid()}) is writing {target}" in done.stderr
    assert not target.exists(), "nothing is written while another run holds the file"
