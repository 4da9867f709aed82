"""Where a lesson runs: its budget (quick or full), its kernel, its device and its seed.

Introduced in lesson 00. The budget is read here and nowhere else: the environment variable
``SNGAN_BUDGET`` is ``full`` (the default, for a reader) or ``quick`` (CI and the test suite).
Quick mode shrinks sizes and step counts; it never skips a check.
"""

from __future__ import annotations

import os
import random
import sys
from typing import TypeVar

import numpy as np
import torch

BUDGET_ENV = "SNGAN_BUDGET"
BUDGETS = ("quick", "full")
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


def default_device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_all(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's global generators, and return a fresh
    ``torch.Generator`` seeded with ``seed`` for code that takes one explicitly."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds the global generator on purpose)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
