"""The README's first command, ``python3 tasks.py lab``, started for real.

It must serve the lessons folder, open lesson 00 and offer the ``sngan-teach`` kernel. The
test passes JupyterLab options after the command (no browser, a free localhost port, no token)
and keeps JupyterLab's config and runtime files in a temporary folder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


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
    with server_runner(cmd, env, tmp_path / "lab.log", url, ROOT) as url:
        first = tomllib.loads((ROOT / "book.toml").read_text())["lessons"][0]["file"]
        contents = get_json(f"{url}/api/contents/{first}.ipynb?content=0")
        assert contents["type"] == "notebook"
        assert "sngan-teach" in get_json(f"{url}/api/kernelspecs")["kernelspecs"]
        time.sleep(1)  # the server has opened (or failed to open) the lesson by now
        assert "No such file" not in (tmp_path / "lab.log").read_text()
