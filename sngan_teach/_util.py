"""Internal helpers shared by the modules of the package: argument checks, the walk over a
network's Linear and convolution layers, and a context manager for eval mode.

Not part of the lessons. Every check raises ``TypeError`` for a value of the wrong type and
``ValueError`` for a value of the right type out of range, and names the argument and the value:
``n_dis must be >= 1, got 0``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator

import torch
from torch import Tensor, nn

CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)  # the layers every normalization acts on


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as a Python int: ``TypeError`` unless it is an integer (Python's or NumPy's, not
    a bool); ``ValueError`` below ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive(name: str, value: object) -> int:
    """:func:`check_int` with ``minimum = 1``."""
    return check_int(name, value, 1)


def check_number(name: str, value: object, positive: bool = True) -> float:
    """``value`` as a float: ``TypeError`` unless it is a real number (not a bool);
    ``ValueError`` unless it is finite (and > 0, unless ``positive=False``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float: ``TypeError`` unless it is a real number (not a bool);
    ``ValueError`` unless ``0 <= value < 1`` (Adam's betas, an EMA decay)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def check_generator(generator: object, allow_none: bool = False) -> None:
    """``TypeError`` unless ``generator`` is a ``torch.Generator`` (or None, if allowed)."""
    if generator is None and allow_none:
        return
    if not isinstance(generator, torch.Generator):
        also = " or None" if allow_none else ""
        raise TypeError(
            f"generator must be a torch.Generator{also}, got {type(generator).__name__}"
        )


def check_module(name: str, value: object) -> None:
    """``TypeError`` unless ``value`` is an ``nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be an nn.Module, got {type(value).__name__}")


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` pairs of every ``Linear`` and convolution in ``model``, in order.

    These are the layers that every normalization and regularizer acts on.
    """
    check_module("model", model)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]


def as_matrix(W: Tensor, module: nn.Module | None = None) -> Tensor:
    """Reshape a weight to the paper's ``d_out x rest`` matrix (lesson 05).

    ``Linear``: unchanged. Convolution ``d_out x d_in x h x w``: ``d_out x (d_in h w)``.
    Transposed convolution (pass ``module``): its output axis is 1, so that axis goes first.
    """
    if not isinstance(W, Tensor):
        raise TypeError(f"W must be a Tensor, got {type(W).__name__}")
    if W.dim() < 1:
        raise ValueError(f"W must have at least 1 dimension, got shape {tuple(W.shape)}")
    if isinstance(module, CONV_TRANSPOSE):
        W = W.transpose(0, 1)
    return W.reshape(W.shape[0], -1)


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put every module of ``models`` (and each of their submodules) in eval mode for the
    ``with`` block, and give each back the training flag it had, also when the block raises."""
    flags = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag
