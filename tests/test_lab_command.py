"""The README's first command, ``python3 tasks.py lab``, started for real.

It must serve the lessons folder, open lesson 00 and offer the ``sngan-teach`` kernel, and when
``tasks.py`` is stopped (SIGTERM) the server it started must stop too: no process of the run is
left serving. The test passes JupyterLab options after the command (no browser, a free
localhost port, no token) and keeps JupyterLab's config and runtime files in a temporary
folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from fault_helpers import alive

ROOT = Path(__file__).resolve().parents[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_lab_command_serves_the_lessons_with_the_kernel(tmp_path, server_runner):
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("runs through `python3 tasks.py test` (the project's .venv), which it reuses")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = os.environ | {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    cmd = [
        sys.executable, str(ROOT / "tasks.py"), "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
        "--ServerApp.password=", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    servers = []
    try:
        with server_runner(cmd, env, tmp_path / "lab.log", url, ROOT) as url:
            # the server's own PID (tasks.py's child), from the file it keeps while it runs
            found = (tmp_path / "runtime").glob("jpserver-*.json")
            servers = [int(p.stem.split("-")[1]) for p in found]
            assert servers, "the server wrote no jpserver-PID.json"
            first = tomllib.loads((ROOT / "book.toml").read_text())["lessons"][0]["file"]
            contents = get_json(f"{url}/api/contents/{first}.ipynb?content=0")
            assert contents["type"] == "notebook"
            assert "sngan-teach" in get_json(f"{url}/api/kernelspecs")["kernelspecs"]
            time.sleep(1)  # the server has opened (or failed to open) the lesson by now
            assert "No such file" not in (tmp_path / "lab.log").read_text()
        # server_runner has sent tasks.py SIGTERM and waited for it to exit
        left = [pid for pid in servers if alive(pid)]
        assert not left, f"JupyterLab (PID {left}) still runs after tasks.py was stopped"
        assert not answers(port), f"port {port} still answers after tasks.py was stopped"
    finally:
        for pid in servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
