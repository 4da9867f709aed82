"""tasks.py: what it says for a wrong or missing command, that stopping it stops its child,
that it sets the environment up again when the environment lost what its install stamp
promises, and the JupyterLab set-up that ``lab`` installs into the environment."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
from fault_helpers import alive
from jupyterlab.commands import get_app_dir
from jupyterlab_server.workspaces_handler import WORKSPACE_EXTENSION, slugify

import tasks as tasks_py
from sngan_teach import runtime

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


@pytest.fixture
def tasks_module(monkeypatch):
    """tasks.py imported as a module, its commands recorded instead of run."""
    monkeypatch.syspath_prepend(str(ROOT))
    import tasks as module

    calls = []
    monkeypatch.setattr(module, "run", lambda *cmd, **kwargs: calls.append([str(c) for c in cmd]))
    return module, calls


def stamped_venv(venv: Path, module) -> None:
    """Mark ``venv`` as set up for this pyproject.toml, kernel included, as tasks.py does."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".sngan-teach-installed").write_text(wanted)
    kernel = venv / "share" / "jupyter" / "kernels" / module.KERNEL_NAME / "kernel.json"
    kernel.parent.mkdir(parents=True)
    kernel.write_text("{}")


@pytest.mark.skipif(os.name == "nt", reason="POSIX venv layout and scripts")
def test_a_stamped_env_without_its_packages_is_installed_again(
    tmp_path, monkeypatch, capsys, tasks_module
):
    module, calls = tasks_module
    # a venv made again by another Python: the stamp is there, the packages are not
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    stamped_venv(venv, module)
    monkeypatch.setattr(module, "VENV", venv)
    assert module.ensure_env() == venv / "bin" / "python"
    assert ["-m", "pip", "install", "-e"] in [call[1:5] for call in calls], calls
    assert f"note: {venv} does not import sngan_teach, torch" in capsys.readouterr().out
    # an environment that imports everything is left as it is (this test's own Python)
    working = tmp_path / "working"
    (working / "bin").mkdir(parents=True)
    (working / "bin" / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (working / "bin" / "python").chmod(0o755)
    stamped_venv(working, module)
    monkeypatch.setattr(module, "VENV", working)
    calls.clear()
    assert module.ensure_env() == working / "bin" / "python"
    assert calls == [] and "note:" not in capsys.readouterr().out


def installed(prefix: Path) -> tuple[Path, Path, Path]:
    """(settings overrides, server config, default workspace) that ``lab`` puts in ``prefix``."""
    lab = prefix / "share" / "jupyter" / "lab"
    return (
        lab / "settings" / "overrides.json",
        prefix / "etc" / "jupyter" / "jupyter_server_config.json",
        lab / "workspaces" / f"{slugify('default')}{WORKSPACE_EXTENSION}",
    )


def test_lab_installs_settings_one_kernel_and_a_workspace_on_lesson_00(tmp_path):
    tasks_py.install_lab_config(tmp_path)
    settings, server, workspace = installed(tmp_path)
    overrides = json.loads(settings.read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    # every setting is one the installed JupyterLab knows (a misspelt one would be ignored)
    for plugin, values in overrides.items():
        package, _, name = plugin.partition(":")
        schema = Path(get_app_dir(), "schemas", package, f"{name}.json")
        assert schema.is_file(), f"JupyterLab has no settings {plugin!r}"
        unknown = set(values) - set(json.loads(schema.read_text())["properties"])
        assert not unknown, f"{plugin} has no setting {unknown}"

    config = json.loads(server.read_text())
    assert config["KernelSpecManager"] == {
        "ensure_native_kernel": False,
        "allowed_kernelspecs": [runtime.KERNEL_NAME],
    }
    assert Path(config["LabApp"]["workspaces_dir"]) == workspace.parent

    first = tomllib.loads((ROOT / "book.toml").read_text())["lessons"][0]["file"] + ".ipynb"
    data = json.loads(workspace.read_text())
    assert data["metadata"]["id"] == "default"
    layout = data["data"]["layout-restorer:data"]
    assert layout["main"]["dock"]["widgets"] == [f"notebook:{first}"]
    assert data["data"][f"notebook:{first}"]["data"]["path"] == first
    assert layout["left"]["current"] == "filebrowser" and not layout["left"]["collapsed"]


def test_lab_replaces_old_settings_and_keeps_the_learners_workspace(tmp_path):
    tasks_py.install_lab_config(tmp_path)
    settings, server, workspace = installed(tmp_path)
    settings.write_text("{}")
    server.write_text("{}")
    workspace.write_text('{"data": {}, "metadata": {"id": "default"}}')
    tasks_py.install_lab_config(tmp_path)
    assert settings.read_bytes() == tasks_py.LAB_SETTINGS.read_bytes()
    assert "allowed_kernelspecs" in json.loads(server.read_text())["KernelSpecManager"]
    assert json.loads(workspace.read_text())["data"] == {}


def test_tasks_and_the_package_name_the_same_kernel():
    assert (tasks_py.KERNEL_NAME, tasks_py.KERNEL_DISPLAY) == (
        runtime.KERNEL_NAME,
        runtime.KERNEL_DISPLAY,
    )
