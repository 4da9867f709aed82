#!/usr/bin/env python3
"""Set up, open, test and build sngan-teach: one command each. Standard library only.

    python3 tasks.py lab           # set up .venv, register the kernel, open JupyterLab
    python3 tasks.py test          # set up .venv if needed, then the whole suite, as CI runs it
    python3 tasks.py book          # build the Jupyter Book site into _build/html
    python3 tasks.py sync          # format lesson sources, re-pair them, refresh README and toc
    python3 tasks.py refresh NB    # store the outputs of NB's nbval-check-output cells

Set-up happens on first use and again whenever pyproject.toml changes: a virtual environment in
``.venv`` (or ``$SNGAN_VENV``) with the package and its ``test`` and ``book`` extras, and the
Jupyter kernel "sngan-teach" registered inside it. Arguments after ``test`` go to pytest, after
``lab`` to JupyterLab, after ``book`` to tools/book.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

if sys.version_info < (3, 11):  # noqa: UP036  (tasks.py may be started by an older python3)
    sys.exit(f"sngan-teach needs Python 3.11 or newer; this is {sys.version.split()[0]}.")

import tomllib  # noqa: E402  (after the version check, which gives a clearer message)

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("SNGAN_VENV", ROOT / ".venv"))
KERNEL_NAME = "sngan-teach"
KERNEL_DISPLAY = "Python (sngan-teach)"
EXTRAS = "test,book"
# What an install provides, one module for the package, its main dependency and each extra.
PROMISED = ("sngan_teach", "torch", "jupyterlab", "nbval", "jupyter_book")
LAB_SETTINGS = ROOT / "tools" / "jupyterlab" / "overrides.json"


def venv_bin(name: str) -> Path:
    """Path of an executable inside the virtual environment."""
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def run(*cmd: object, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
    """Echo and run a command; exit with its status when it fails.

    SIGTERM and SIGINT sent to this process are passed on to the command, and this process
    waits for it to end, so stopping ``tasks.py`` stops what it started (JupyterLab included).
    A Ctrl-C typed in the terminal already reaches the command, so it is not sent twice."""
    args = [str(c) for c in cmd]
    print("+", " ".join(args), flush=True)
    child = subprocess.Popen(args, env=env, cwd=cwd)
    in_terminal = (
        hasattr(os, "tcgetpgrp")
        and sys.stdin is not None
        and sys.stdin.isatty()
        and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    )

    def forward(signum: int, frame: object) -> None:
        if not (signum == signal.SIGINT and in_terminal):
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        returncode = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if returncode != 0:
        sys.exit(128 - returncode if returncode < 0 else returncode)  # -N: killed by signal N


def env_imports(python: Path) -> bool:
    """Whether ``python`` imports what an install promises (``PROMISED``): a venv recreated by
    another Python keeps the install stamp but has none of the packages. Run outside the
    repository, so that the package is found installed, not next to the working directory."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run([python, "-c", f"import {', '.join(PROMISED)}"], cwd=VENV, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    except OSError:  # the interpreter itself is gone
        return False
    return done.returncode == 0


def ensure_env() -> Path:
    """Create .venv and install the package with its extras, when missing or out of date, or
    when the environment does not import what its install stamp promises."""
    python = venv_bin("python")
    if not python.exists():
        run(sys.executable, "-m", "venv", VENV)
    stamp = VENV / ".sngan-teach-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamped = stamp.exists() and stamp.read_text() == wanted
    if stamped and not env_imports(python):
        print(f"note: {VENV} does not import {', '.join(PROMISED)} although it was set up; "
              "installing again", flush=True)  # fmt: skip
        stamped = False
    if not stamped:
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(python, "-m", "pip", "install", "-e", f"{ROOT}[{EXTRAS}]")
        stamp.write_text(wanted)
    kernel = VENV / "share" / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    if not kernel.exists():
        run(python, "-m", "ipykernel", "install", "--sys-prefix",
            "--name", KERNEL_NAME, "--display-name", KERNEL_DISPLAY)  # fmt: skip
    return python


def ensure_chromium() -> None:
    """The browser tests need Debian's chromium; install it where we may (root with apt-get)."""
    if shutil.which("chromium"):
        return
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-q", env=env)
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", env=env)
    else:
        print("note: chromium is not installed, so the browser tests will be skipped.\n"
              "      On Debian/Ubuntu: sudo apt-get install chromium")  # fmt: skip


def book_lessons() -> list[dict]:
    """The lessons of book.toml, in reading order."""
    return tomllib.loads((ROOT / "book.toml").read_text())["lessons"]


def lesson_notebooks() -> list[Path]:
    return [ROOT / "notebooks" / f"{lesson['file']}.ipynb" for lesson in book_lessons()]


def install_lab_config(prefix: Path) -> None:
    """JupyterLab's start-up in the environment ``prefix``, as a learner first meets it.

    Written on every ``lab``, so that an older copy is replaced:
    ``share/jupyter/lab/settings/overrides.json`` (tools/jupyterlab/overrides.json: no news or
    update checks, the file browser without its Modified column, so lesson names fit) and
    ``etc/jupyter/jupyter_server_config.json`` (only the kernel "sngan-teach" is
    offered; workspaces are kept in ``share/jupyter/lab/workspaces``). Written only when
    missing, so that the learner's own layout is kept from one start to the next: the default
    workspace there, the first lesson open alone (no Launcher beside it) next to a file browser
    wide enough for the lesson names.
    """
    lab = prefix / "share" / "jupyter" / "lab"
    settings = lab / "settings" / "overrides.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LAB_SETTINGS, settings)
    workspaces = lab / "workspaces"
    server = {
        "KernelSpecManager": {"ensure_native_kernel": False, "allowed_kernelspecs": [KERNEL_NAME]},
        "LabApp": {"workspaces_dir": str(workspaces)},
    }
    server_file = prefix / "etc" / "jupyter" / "jupyter_server_config.json"
    server_file.parent.mkdir(parents=True, exist_ok=True)
    server_file.write_text(json.dumps(server, indent=2) + "\n")
    # the file name JupyterLab gives the workspace "default" (jupyterlab_server's slugify)
    default = workspaces / "default-37a8.jupyterlab-workspace"
    if default.exists():
        return
    lesson = lesson_notebooks()[0].name
    tab = f"notebook:{lesson}"
    layout = {
        "main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [tab]}, "current": tab},
        "left": {"collapsed": False, "visible": True, "current": "filebrowser"},
        "relativeSizes": [0.22, 0.78, 0],  # file browser, lessons, right sidebar (closed)
    }
    workspace = {
        "data": {
            "layout-restorer:data": layout,
            tab: {"data": {"path": lesson, "factory": "Notebook"}},
        },
        "metadata": {"id": "default"},
    }
    workspaces.mkdir(parents=True, exist_ok=True)
    default.write_text(json.dumps(workspace, indent=2) + "\n")


def cmd_lab(extra: list[str]) -> None:
    python = ensure_env()
    install_lab_config(VENV)
    args = [python, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT / 'notebooks'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    # JupyterLab resolves the file to open against the working directory, not root_dir.
    run(*args, *extra, lesson_notebooks()[0].name, cwd=ROOT / "notebooks")


def cmd_test(extra: list[str]) -> None:
    """The whole suite on two pytest-xdist workers with one thread each. The package tests and
    the nbval run of every lesson go in quick mode; beside them, tests/test_site.py builds the
    site at full size, which executes every lesson once as a reader runs it (the terminal
    summary lists each lesson's full-size time). Then every lesson runs once more in quick mode
    with SNGAN_SEED=1 and PyTorch's portable kernels (ATEN_CPU_CAPABILITY=default)."""
    python = ensure_env()
    ensure_chromium()
    env = os.environ | {"SNGAN_BUDGET": "quick", "OMP_NUM_THREADS": "1"}
    notebooks = [path.relative_to(ROOT) for path in lesson_notebooks()]
    nbval = ["-n", "2", "--dist", "loadfile", "--nbval-lax", "--nbval-current-env",
             "--nbval-cell-timeout=900"]  # fmt: skip
    run(python, "-m", "pytest", "tests/test_site.py", "tests", *notebooks, *nbval,
        "--durations=10", *extra, env=env)  # fmt: skip
    # Every lesson once more, on other random draws and PyTorch's portable kernels (close to
    # what an ARM laptop runs): a claim about a trained network must not hold for one
    # trajectory only.
    other = env | {"SNGAN_SEED": "1", "ATEN_CPU_CAPABILITY": "default"}
    print(f"\nagain with SNGAN_SEED={other['SNGAN_SEED']} "
          f"ATEN_CPU_CAPABILITY={other['ATEN_CPU_CAPABILITY']}:", flush=True)  # fmt: skip
    run(python, "-m", "pytest", *notebooks, *nbval, *extra, env=other)


def cmd_book(extra: list[str]) -> None:
    python = ensure_env()
    run(python, ROOT / "tools" / "book.py", "build", *extra)


def cmd_sync(extra: list[str]) -> None:
    ensure_env()
    sources = [path.parent / "py" / f"{path.stem}.py" for path in lesson_notebooks()]
    run(venv_bin("ruff"), "format", *sources)
    run(venv_bin("jupytext"), "--sync", *sources)
    run(venv_bin("python"), ROOT / "tools" / "book.py", "sync")  # toc, README's table, citation


def cmd_refresh(extra: list[str]) -> None:
    if not extra:
        sys.exit("usage: python3 tasks.py refresh notebooks/NN_topic.ipynb [...]")
    python = ensure_env()
    env = os.environ | {"SNGAN_BUDGET": "quick"}
    run(python, ROOT / "tools" / "refresh_outputs.py", *extra, env=env)


COMMANDS = {
    "lab": cmd_lab,
    "test": cmd_test,
    "book": cmd_book,
    "sync": cmd_sync,
    "refresh": cmd_refresh,
}


def main(argv: list[str]) -> None:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return
    if not argv:
        sys.exit(__doc__)
    if argv[0] not in COMMANDS:
        sys.exit(f"unknown command {argv[0]!r}; use one of: {', '.join(COMMANDS)}\n{__doc__}")
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
