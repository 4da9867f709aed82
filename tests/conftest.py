"""Fixtures shared by the tests.

``train_script``: scripts/train_cifar10.py imported as a module (tests/test_train_script.py,
tests/test_recipes.py).

Browser fixtures (tests/test_site.py, tests/test_lab.py): ``chromium_path``, ``browser``,
``built_site``, ``site_url``, ``jupyter_lab`` (and ``server_runner``, which starts any Jupyter
server for a test). They drive Debian's chromium through Playwright's Python API (never
``playwright install``); every test that uses them is skipped, with the reason, where no
chromium is installed, except under ``CI=true``, where a missing chromium fails them
(``python3 tasks.py test`` installs it there, so CI never skips them).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))
import book  # noqa: E402  (tools/book.py: the kernel spec the site build uses)

import tasks  # noqa: E402  (tasks.py: the JupyterLab set-up that `tasks.py lab` installs)

TRAIN_SCRIPT = ROOT / "scripts" / "train_cifar10.py"


@pytest.fixture(scope="session")
def train_script():
    """scripts/train_cifar10.py imported as a module: it is a script, not part of the package."""
    spec = importlib.util.spec_from_file_location("train_cifar10", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# browser fixtures

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The suite builds the site at full size here, unless an up-to-date build is already there;
# SITE_RECORD tells the terminal summary (root conftest.py) how long each lesson took in it.
TEST_SITE_DIR = ROOT / "_build" / "test-site"
SITE_RECORD = ROOT / "_build" / "test-artifacts" / "site-build.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, or a skip (a failure under ``CI=true``) that says how to get it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = (
            "chromium is not installed (Debian/Ubuntu: `apt-get install chromium`; "
            "`python3 tasks.py test` installs it when run as root)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser checks: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless chromium for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _site_is_current(html_dir: Path) -> bool:
    """A build of every lesson at full size whose sources are those of the working tree now."""
    stamp = html_dir / book.STAMP_NAME
    if not stamp.is_file() or not (html_dir / "index.html").is_file():
        return False
    info = json.loads(stamp.read_text())
    lessons = [x["file"] for x in book.load_book(ROOT)["lessons"]]
    return (
        info.get("lessons") == lessons
        and info.get("budget") == "full"
        and info.get("source_hash") == book.source_hash(ROOT)
    )


def _record_site(path: Path, built_now: bool) -> None:
    stamp = path / book.STAMP_NAME
    info = json.loads(stamp.read_text()) if stamp.is_file() else {}
    SITE_RECORD.parent.mkdir(parents=True, exist_ok=True)
    SITE_RECORD.write_text(json.dumps({"site": str(path), "built_now": built_now, **info}))


@pytest.fixture(scope="session")
def built_site() -> Path:
    """The HTML site, every lesson executed at full size, built once per session.

    This build is the suite's full-size run of every lesson (the rest of the suite runs them
    in quick mode): the site an instructor publishes, with the sizes a reader gets. Reused
    without building when ``$SNGAN_SITE_DIR`` names a built site, or when ``_build/html`` or
    ``_build/test-site`` holds a full-size build of every lesson from the current sources
    (book.py stamps each build with its budget and a hash of what it read). Otherwise
    ``tools/book.py build --budget full`` runs here into ``_build/test-site``; the terminal
    summary then lists each lesson's full-size time.
    """
    given = os.environ.get("SNGAN_SITE_DIR")
    if given:
        path = Path(given).resolve()
        assert (path / "index.html").is_file(), f"$SNGAN_SITE_DIR={given} has no index.html"
        _record_site(path, built_now=False)
        return path
    for candidate in (ROOT / "_build" / "html", TEST_SITE_DIR):
        if _site_is_current(candidate):
            _record_site(candidate, built_now=False)
            return candidate
    cmd = [sys.executable, str(ROOT / "tools" / "book.py"), "build", "--budget", "full",
           "--out", str(TEST_SITE_DIR)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        pytest.fail(
            f"`{' '.join(cmd)}` failed after {seconds:.0f} s (exit {proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr)[-6000:]}",
            pytrace=False,
        )
    _record_site(TEST_SITE_DIR, built_now=True)
    return TEST_SITE_DIR


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def site_url(built_site):
    """The built site served on localhost, as a reader's static host would serve it."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _write_lab_settings(settings_dir: Path) -> None:
    """The test's own user settings: no autosave, every cell rendered (no windowing)."""
    settings = {
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for rel, value in settings.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory):
    """A JupyterLab server on a free localhost port, set up as ``python3 tasks.py lab`` sets
    up the project's environment (its settings, server config and default workspace, installed
    by ``tasks.install_lab_config`` into a folder of its own), serving a folder as the lab
    serves ``notebooks/``, with its own config, runtime and user settings and a kernel named
    like the lessons' that runs this Python (so it needs no registered kernel). Yields
    ``(base_url, root_dir)``; put lessons into ``root_dir``, what they read beside it."""
    base = tmp_path_factory.mktemp("lab")
    root_dir = base / "root" / "notebooks"  # served as the lab serves notebooks/
    settings_dir, jupyter_path = base / "settings", base / "jupyter"
    root_dir.mkdir(parents=True)
    _write_lab_settings(settings_dir)
    book.write_kernelspec(jupyter_path)
    prefix = base / "env"  # stands for the environment's prefix (sys.prefix of .venv)
    tasks.install_lab_config(prefix)
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_PATH=str(prefix / "etc" / "jupyter"),
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTER_PATH=os.pathsep.join([str(jupyter_path), env.get("JUPYTER_PATH", "")]).rstrip(
            os.pathsep
        ),
        SNGAN_BUDGET=os.environ.get("SNGAN_BUDGET", "quick"),
    )
    port = free_port()
    cmd = [
        sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.app_settings_dir={prefix / 'share' / 'jupyter' / 'lab' / 'settings'}",
    ]  # fmt: skip
    with running_server(cmd, env, base / "lab.log", f"http://127.0.0.1:{port}", root_dir) as url:
        yield url, root_dir


@pytest.fixture
def server_runner():
    """:func:`running_server`, for test modules (they cannot import this conftest by name)."""
    return running_server


@contextlib.contextmanager
def running_server(
    cmd: list[str], env: dict, log_path: Path, url: str, cwd: Path, timeout: float = 90
):
    """Start ``cmd`` (a Jupyter server) logging to ``log_path``; yield ``url`` once its
    ``/api/status`` answers; fail with the log if it exits or stays silent; stop it after."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{' '.join(cmd[1:3])} exited ({proc.returncode}):\n"
                                f"{log_path.read_text()[-3000:]}")  # fmt: skip
                try:
                    with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{url}/api/status did not answer within {timeout} s")
                time.sleep(0.3)
            yield url
            assert proc.poll() is None, f"the server exited:\n{log_path.read_text()[-3000:]}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
