"""The discriminator methods the paper compares, in one place: weight normalization beside
spectral normalization, and the registry that lessons 07 and 08 switch between.

**Weight normalization** (introduced in lesson 05): the paper's weight normalization without
the gamma multiplier (§3.2, §4.1), every row (output unit) of ``W`` divided by its Euclidean
norm (:class:`WeightNorm`, :func:`weight_norm`, :func:`add_wn`). Like spectral normalization
(:mod:`sngan_teach.sn`) it is a reparametrization of the weight, not a term of the loss.

**The methods** (``METHODS``, lessons 07 and 08): ``"none"``; ``"sn"`` spectral normalization
(ours); ``"wn"`` weight normalization without gamma; ``"clip"`` weight clipping to
``[-CLIP_C, CLIP_C]``; ``"ortho"`` orthonormal initialization plus ``ORTHO_WEIGHT`` times the
penalty of eq. (14); ``"gp"`` a gradient penalty with ``lambda = GP_LAMBDA`` (with the
Wasserstein loss this is the WGAN-GP critic). :func:`apply_method` bakes a method into a
discriminator, :func:`method_hooks` gives the penalty and the after-update hook the training
loop takes, and ``METHOD_LOSS`` the loss each method trains with in the digits grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor, nn
from torch.nn.utils import parametrize

from sngan_teach._util import CONV_TRANSPOSE, check_module, weight_layers
from sngan_teach.regularizers import (
    clip_weights_,
    gradient_penalty,
    orthogonal_init_,
    orthonormal_penalty,
)
from sngan_teach.sn import add_sn

__all__ = [
    "WeightNorm",
    "weight_norm",
    "add_wn",
    "METHODS",
    "METHOD_LOSS",
    "METHOD_NAMES",
    "CLIP_C",
    "GP_LAMBDA",
    "ORTHO_WEIGHT",
    "check_method",
    "apply_method",
    "method_hooks",
]

METHODS = ("none", "sn", "wn", "clip", "ortho", "gp")
CLIP_C = 0.01  # weight clipping bound c (paper §4.1)
GP_LAMBDA = 10.0  # gradient-penalty weight lambda (paper §4.1)
ORTHO_WEIGHT = 1.0  # orthonormal-penalty coefficient (not stated in the paper)
# The loss each method trains with in the digits grid, as in the paper: the standard
# (non-saturating) loss, except the Wasserstein loss for weight clipping (WGAN) and the gradient
# penalty (WGAN-GP).
METHOD_LOSS = {"none": "ns", "sn": "ns", "wn": "ns", "ortho": "ns", "clip": "wgan", "gp": "wgan"}
# How the lessons name each method in text, tables and legends.
METHOD_NAMES = {"none": "no normalization", "sn": "SN", "wn": "WN", "clip": "weight clipping",
                "ortho": "orthonormal", "gp": "WGAN-GP"}  # fmt: skip


class WeightNorm(nn.Module):
    r"""Parametrization ``W -> W_bar_WN``: every output unit's weight vector divided by its norm.

    With ``w_i`` the ``i``-th row of ``W`` (reshaped to ``d_out x rest``),

    .. math:: \bar W_{WN} = [\bar w_1, \dots, \bar w_{d_o}]^T, \qquad
              \bar w_i = w_i / \max(\lVert w_i \rVert_2, \epsilon).

    This is the paper's weight normalization with the gamma multiplier removed (§3.2, §4.1), so
    ``sum_t sigma_t(W_bar)^2 = ||W_bar||_F^2 = d_o`` whatever ``W`` is (lesson 05). ``out_dim``
    is 0 for ``Linear`` and convolutions and 1 for transposed convolutions.
    """

    def __init__(self, out_dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        if out_dim not in (0, 1):
            raise ValueError(f"out_dim must be 0 or 1, got {out_dim}")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite number > 0, got {eps}")
        self.out_dim = out_dim
        self.eps = eps

    def forward(self, W: Tensor) -> Tensor:
        if W.dim() < 2:
            raise ValueError(f"weight must have at least 2 dimensions, got shape {tuple(W.shape)}")
        Wt = W.transpose(0, self.out_dim) if self.out_dim else W
        W_mat = Wt.reshape(Wt.shape[0], -1)
        W_bar = W_mat / W_mat.norm(dim=1, keepdim=True).clamp_min(self.eps)
        W_bar = W_bar.reshape(Wt.shape)
        return W_bar.transpose(0, self.out_dim) if self.out_dim else W_bar


def weight_norm(module: nn.Module, name: str = "weight", eps: float = 1e-12) -> nn.Module:
    """Register :class:`WeightNorm` on ``module.<name>`` with ``torch.nn.utils.parametrize``.

    After this, ``module.weight`` is the normalized matrix (rows of unit norm) and the trainable
    tensor is ``module.parametrizations.weight.original``. Remove it with
    ``torch.nn.utils.parametrize.remove_parametrizations(module, name)``. Introduced in lesson 05.

    Example::

        layer = weight_norm(nn.Linear(4, 3))
        layer.weight.norm(dim=1)  # tensor([1., 1., 1.])
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    W = getattr(module, name, None)
    if not isinstance(W, Tensor):
        raise ValueError(f"module {type(module).__name__} has no tensor named {name!r}")
    if W.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions, got shape {tuple(W.shape)}")
    out_dim = 1 if isinstance(module, CONV_TRANSPOSE) else 0
    parametrize.register_parametrization(module, name, WeightNorm(out_dim=out_dim, eps=eps))
    return module


def add_wn(model: nn.Module, eps: float = 1e-12) -> nn.Module:
    """Apply :func:`weight_norm` to the weight of every ``Linear`` and convolution in ``model``.

    Raises ``ValueError`` if a layer's weight already carries a parametrization (for example
    spectral normalization), since stacking two normalizations is almost always a mistake.
    Returns ``model`` (changed in place). Introduced in lesson 05.
    """
    layers = weight_layers(model)
    for name, m in layers:
        if parametrize.is_parametrized(m, "weight"):
            raise ValueError(
                f"layer {name or type(m).__name__!r} already has a parametrization on weight"
            )
    for _, m in layers:
        weight_norm(m, "weight", eps=eps)
    return model


def check_method(method: object) -> str:
    """Return ``method`` if it is one of ``METHODS``, else raise ``ValueError`` naming it.

    The one place a method name is checked: :func:`apply_method` and :func:`method_hooks` call it.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def apply_method(net_D: nn.Module, method: str) -> nn.Module:
    """Bake ``method``'s normalization into ``net_D`` in place and return it.

    ``"sn"``: spectral norm on every ``Linear``/convolution; ``"wn"``: weight norm on every one;
    ``"ortho"``: orthonormal initialization; ``"clip"``: weights clipped to ``[-c, c]`` once at
    the start. ``"none"`` and ``"gp"`` change nothing (they act through :func:`method_hooks`).
    Shared by the 2-D toys (:mod:`sngan_teach.toy`) and the digits networks
    (:mod:`sngan_teach.digits`).
    """
    check_method(method)
    check_module("net_D", net_D)
    if method == "sn":
        add_sn(net_D)
    elif method == "wn":
        add_wn(net_D)
    elif method == "ortho":
        orthogonal_init_(net_D)
    elif method == "clip":
        clip_weights_(net_D, CLIP_C)
    return net_D


def method_hooks(method: str) -> tuple[Callable | None, Callable | None]:
    """``(penalty, after_D_step)`` for :func:`sngan_teach.gan.train` under ``method``.

    ``"gp"``: ``GP_LAMBDA * gradient_penalty``; ``"ortho"``: ``ORTHO_WEIGHT *
    orthonormal_penalty`` (the module's value when the penalty runs, so a lesson may change it);
    ``"clip"``: clip the weights to ``[-CLIP_C, CLIP_C]`` after each D update; otherwise
    ``(None, None)``.
    """
    check_method(method)
    if method == "gp":

        def penalty(net_D, real, fake, generator):
            return GP_LAMBDA * gradient_penalty(net_D, real, fake, generator)

        return penalty, None
    if method == "ortho":
        return (
            lambda net_D, real, fake, generator: ORTHO_WEIGHT * orthonormal_penalty(net_D)
        ), None
    if method == "clip":
        return None, lambda net_D: clip_weights_(net_D, CLIP_C)
    return None, None
