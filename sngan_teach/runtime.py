"""Where a lesson runs: its budget (quick or full), its kernel, its device and its seed.

Introduced in lesson 00. Two environment variables are read here and nowhere else:

- ``SNGAN_BUDGET`` is ``full`` (the default, for a reader) or ``quick`` (CI and the test
  suite). Quick mode shrinks sizes and step counts; it never skips a check.
- ``SNGAN_SEED`` is a whole number (default 0) that shifts every random seed a lesson uses:
  a lesson sets ``seed = base_seed()`` and derives every other seed from it. A claim a lesson
  checks holds for every value; stored results in ``benchmarks/results/`` do not change with it.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

BUDGET_ENV = "SNGAN_BUDGET"
BUDGETS = ("quick", "full")
SEED_ENV = "SNGAN_SEED"
MAX_SEED = 2**63 - 1  # torch.manual_seed takes seeds in [-2**63, 2**64); lessons add offsets
ROOT = Path(__file__).resolve().parent.parent  # the repository, where benchmarks/ lives
RESULTS_DIR = ROOT / "benchmarks" / "results"  # stored results the lessons read
KERNEL_NAME = "sngan-teach"  # the kernel `python3 tasks.py lab` registers
KERNEL_DISPLAY = "Python (sngan-teach)"

T = TypeVar("T")


def budget() -> str:
    """Return the budget named by ``$SNGAN_BUDGET``: ``"quick"`` or ``"full"`` (default)."""
    value = os.environ.get(BUDGET_ENV, "full").strip().lower() or "full"
    if value not in BUDGETS:
        raise ValueError(f"{BUDGET_ENV} must be one of {BUDGETS}, got {value!r}")
    return value


def is_quick() -> bool:
    """True when the lessons run in quick mode (``SNGAN_BUDGET=quick``)."""
    return budget() == "quick"


def pick(quick: T, full: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Example: ``n_steps = pick(quick=50, full=2000)``.
    """
    return quick if is_quick() else full


def base_seed() -> int:
    """Return the seed named by ``$SNGAN_SEED``: a whole number from 0 to 2**62 (default 0).

    Every random seed of a lesson is derived from it (``seed``, ``seed + 1``, ...), so a
    learner can rerun a lesson on other random draws and see that its checks still hold.
    Example: ``SNGAN_SEED=3 jupyter lab``.
    """
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be a whole number, got {raw!r}") from None
    if not 0 <= value <= 2**62:
        raise ValueError(f"{SEED_ENV} must be between 0 and 2**62, got {value}")
    return value


def kernel_check() -> None:
    """Warn, in one line, when the lesson does not run on the kernel "Python (sngan-teach)".

    That kernel, which ``python3 tasks.py lab`` registers, runs the Python of the environment
    that holds the lessons' packages. Another kernel may lack them or have other versions, so
    when the Python running this notebook is not the one the ``sngan-teach`` kernel starts (or
    no such kernel is registered), this prints a warning that says what to choose. Called in
    the imports cell of each lesson; outside a Jupyter kernel (a plain script) it does nothing.
    """
    if "ipykernel" not in sys.modules:
        return
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        registered = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]
    except NoSuchKernel:
        print(
            f"warning: no kernel named {KERNEL_NAME!r} is registered, and this notebook runs on "
            f"{sys.executable}; `python3 tasks.py lab` sets up the kernel {KERNEL_DISPLAY!r}.",
            file=sys.stderr,
        )
        return
    if os.path.abspath(registered) != os.path.abspath(sys.executable):
        print(
            f"warning: this notebook runs on {sys.executable}, not on the kernel "
            f"{KERNEL_DISPLAY!r} ({registered}); choose it in Kernel > Change Kernel.",
            file=sys.stderr,
        )


def stored_result(name: str, made_by: str) -> Path:
    """The path of ``benchmarks/results/NAME``, wherever the lesson runs from.

    ``made_by`` is the command that writes the file; a missing file raises
    ``FileNotFoundError`` naming the file and that command, instead of a bare "No such file".
    Introduced in lesson 07.
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"name must be a file name inside benchmarks/results, got {name!r}")
    path = RESULTS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the lesson reads results stored in the repository. Restore it "
            f"with `git checkout -- benchmarks/results/{name}`, or make it again with `{made_by}`."
        )
    return path


def default_device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_all(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's global generators, and return a fresh
    ``torch.Generator`` seeded with ``seed`` for code that takes one explicitly.
    ``seed`` is an int in ``[0, 2**63 - 1]``."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds the global generator on purpose)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
