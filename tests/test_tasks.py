"""tasks.py: what it says for a wrong or missing command, and that stopping it stops its child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fault_helpers import alive

ROOT = Path(__file__).resolve().parents[1]
TASKS = str(ROOT / "tasks.py")


def tasks(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, TASKS, *args], capture_output=True, text=True, timeout=60, env=env
    )


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def test_help_exits_0_and_an_unknown_command_is_named():
    done = tasks("--help")
    assert done.returncode == 0 and "python3 tasks.py lab" in done.stdout
    done = tasks("frobnicate")
    assert done.returncode != 0
    assert "unknown command 'frobnicate'" in done.stderr and "lab, test, book" in done.stderr


def test_refresh_without_notebooks_prints_usage_before_any_set_up(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # a virtual environment cannot be made under a file
    done = tasks("refresh", env=os.environ | {"SNGAN_VENV": str(blocker / "venv")})
    assert done.returncode != 0
    assert done.stderr.startswith("usage: python3 tasks.py refresh") and "+ " not in done.stdout


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_tasks_py_stops_its_child_and_is_waited_for(tmp_path, sig):
    child = tmp_path / "child.py"
    child.write_text(
        textwrap.dedent(f"""
        import os, signal, sys, time
        def stop(signum, frame):
            time.sleep(0.5)  # a server takes a moment to shut down
            open({str(tmp_path / "stopped")!r}, "w").write(str(signum))
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        open({str(tmp_path / "pid")!r}, "w").write(str(os.getpid()))
        time.sleep(120)
    """)
    )
    wrapper = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tasks; "
        f"tasks.run(sys.executable, {str(child)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", wrapper], stdin=subprocess.DEVNULL)
    pid = None
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int((tmp_path / "pid").read_text())
        proc.send_signal(sig)
        proc.wait(timeout=30)
        # the child got the signal, finished, and tasks.py ended only after it
        assert (tmp_path / "stopped").read_text() == str(int(sig))
        assert not alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
