"""Singular values of a network's layers, their effective rank, and the paper's Fig. 3 plot.

Introduced in lesson 05; lesson 06 uses it for orthonormal regularization and clipping, and
lesson 09 for the trained CIFAR-10 discriminators.

A layer's weight is read *as the layer uses it*: when a parametrization is registered (spectral
or weight normalization) that is the normalized matrix ``W_bar``, which is what Fig. 3 plots for
WN and SN. Convolution weights ``d_out x d_in x h x w`` are reshaped to ``d_out x (d_in h w)``
(§4 of the paper); transposed convolutions put their output axis (1) first.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

from sngan_teach._util import as_matrix, eval_mode, weight_layers

__all__ = [
    "layer_singular_values",
    "normalized_squared_spectrum",
    "effective_rank",
    "plot_layer_spectra",
]


def layer_singular_values(model: nn.Module) -> dict[str, Tensor]:
    """Singular values (float64, descending) of every ``Linear``/convolution weight of ``model``.

    Keys are the module names from ``model.named_modules()`` (``"0"``, ``"net.3"``, ...). The
    weight is computed in eval mode and under ``no_grad``, so a spectral-norm parametrization
    uses its stored ``u`` and ``v`` without running a power-iteration step (reading the spectrum
    does not change the model); the training flags are restored afterwards.
    Introduced in lesson 05.

    Raises ``ValueError`` naming the layer when a weight (as the layer uses it) has no entries
    or holds NaN or inf (a diverged run, or a spectrally normalized weight of zeros): such a
    matrix has no singular values to report.
    """
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no Linear or convolution layer")
    out = {}
    with eval_mode(model), torch.no_grad():
        for name, m in layers:
            W = m.weight.detach()
            where = f"layer {name!r} ({type(m).__name__.removeprefix('Parametrized')})"
            if W.numel() == 0:
                raise ValueError(f"{where} has a weight of shape {tuple(W.shape)}, no entries")
            if not bool(torch.isfinite(W).all()):
                bad = int((~torch.isfinite(W)).sum())
                raise ValueError(
                    f"{where} has {bad} of {W.numel()} weight entries NaN or inf "
                    "(a diverged run?): its singular values are undefined"
                )
            out[name] = torch.linalg.svdvals(as_matrix(W, m).double()).cpu()
    return out


def _check_spectrum(s: object) -> Tensor:
    if not isinstance(s, Tensor):
        raise TypeError(f"s must be a Tensor, got {type(s).__name__}")
    if s.dim() != 1 or s.numel() == 0:
        raise ValueError(
            f"s must be a non-empty 1-D tensor of singular values, got shape {tuple(s.shape)}"
        )
    s = s.detach().double()
    if not torch.isfinite(s).all():
        raise ValueError("s must be finite")
    if (s < 0).any():
        raise ValueError(f"singular values must be >= 0, got min {s.min().item():.3g}")
    if s.max() <= 0:
        raise ValueError("s must have at least one positive singular value")
    return s


def normalized_squared_spectrum(s: Tensor) -> Tensor:
    r"""The curve of the paper's Fig. 3: :math:`\sigma_t^2 / \sigma_1^2`, sorted descending.

    So the largest value is 1 and a rank-one matrix is ``[1, 0, 0, ...]``. Introduced in lesson 05.
    """
    s = _check_spectrum(s)
    s2 = torch.sort(s.pow(2), descending=True).values
    return s2 / s2[0]


def effective_rank(s: Tensor) -> float:
    r"""Effective rank: the exponential of the entropy of the normalized *squared* spectrum.

    .. math:: p_t = \sigma_t^2 / \textstyle\sum_k \sigma_k^2, \qquad
              r_{\mathrm{eff}} = \exp\bigl(-\textstyle\sum_t p_t \log p_t\bigr).

    It is 1 for a rank-one matrix and ``r`` when ``r`` singular values are equal and the rest
    are 0, and it moves continuously in between (Roy and Vetterli, 2007, who use ``sigma_t``
    rather than ``sigma_t^2``). We square because Fig. 3 plots ``sigma_t^2``, and because
    ``sigma_t^2`` is the share of ``||W||_F^2`` (the energy) carried by direction ``t``: for a
    weight-normalized layer ``sum_t sigma_t^2 = d_o`` is fixed, so ``p_t`` is exactly the
    fraction of that fixed budget spent on direction ``t``. Introduced in lesson 05.
    """
    s = _check_spectrum(s)
    p = s.pow(2) / s.pow(2).sum()
    p = p[p > 0]
    return math.exp(-(p * p.log()).sum().item())


def plot_layer_spectra(
    spectra: dict[str, dict[str, Tensor]],
    layers: list[str] | None = None,
    title: str = "Squared singular values per layer (largest scaled to 1)",
    ncols: int = 3,
    panel_size: tuple[float, float] = (2.4, 2.0),
) -> plt.Figure:
    """Plot the paper's Fig. 3: one panel per layer, one line per method.

    ``spectra`` maps a method name (``"WC"``, ``"WN"``, ``"SN"``, ...) to the output of
    :func:`layer_singular_values`. Each line is :func:`normalized_squared_spectrum` against the
    index ``t`` (0-based). ``layers`` picks and orders the layers (default: those of the first
    method). Returns the figure; the caller calls ``plt.show()``. Introduced in lesson 05.
    """
    if not isinstance(spectra, dict) or not spectra:
        raise ValueError("spectra must be a non-empty dict {method: {layer: singular values}}")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1, got {ncols}")
    first = next(iter(spectra.values()))
    if layers is None:
        layers = list(first)
    if not layers:
        raise ValueError("layers must name at least one layer")
    for method, per_layer in spectra.items():
        missing = [name for name in layers if name not in per_layer]
        if missing:
            raise ValueError(f"method {method!r} has no spectrum for layers {missing}")
    ncols = min(ncols, len(layers))
    nrows = math.ceil(len(layers) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.6),
        squeeze=False,
        sharey=True,
    )
    for k, name in enumerate(layers):
        ax = axes[k // ncols][k % ncols]
        for method, per_layer in spectra.items():
            curve = normalized_squared_spectrum(per_layer[name]).numpy()
            ax.plot(range(len(curve)), curve, label=method)
        ax.set_title(f"layer {name}", fontsize=9)
        ax.set_xlabel("index t", fontsize=8)
        if k % ncols == 0:
            ax.set_ylabel(r"$\sigma_t^2 / \sigma_1^2$", fontsize=8)
        ax.tick_params(labelsize=7)
    for k in range(len(layers), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
