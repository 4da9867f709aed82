"""One-dimensional densities and the optimal discriminator between them.

Introduced in lesson 01 ("Derive the optimal discriminator and watch its gradient explode").

The paper (Miyato et al., ICLR 2018, Sec. 2) writes the GAN value as

    V(G, D) = E_{x ~ q}[log D(x)] + E_{x' ~ p_G}[log(1 - D(x'))],   D(x) = sigmoid(f(x)),

with ``q`` the data density and ``p_G`` the generator's. For a fixed ``G`` the maximiser is

    D*(x) = q(x) / (q(x) + p_G(x)) = sigmoid(f*(x)),   f*(x) = log q(x) - log p_G(x),   (eq. 3)

and its input gradient ``grad f*(x) = grad q / q - grad p_G / p_G`` (eq. 4) is unbounded when the
two densities separate. This module holds the pieces lesson 01 reuses: Gaussian-mixture log
densities and samplers, the closed-form ``D*`` and ``f*``, and the plain function behind the
lesson's interactive figure (:func:`separation_curves`, drawn by :func:`plot_separation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sngan_teach._util import check_number

__all__ = [
    "gaussian_log_prob",
    "mixture_log_prob",
    "mixture_sample",
    "optimal_discriminator",
    "optimal_logit",
    "logit_gradient",
    "separation_curves",
    "max_logit_gradient",
    "plot_separation",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _as_float_tensor(x: torch.Tensor | Sequence[float] | float, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
        return x
    if isinstance(x, bool):
        raise TypeError(f"{name} must be a number or a tensor, got bool")
    try:
        return torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(
            f"{name} must be a number, a sequence of numbers or a tensor, got {x!r}"
        ) from err


def gaussian_log_prob(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Log density of N(mean, std^2) at every entry of ``x``.

    log N(x; mu, s^2) = -(x - mu)^2 / (2 s^2) - log s - log sqrt(2 pi).
    """
    x = _as_float_tensor(x, "x")
    mean = check_number("mean", mean, positive=False)
    std = check_number("std", std)
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - _LOG_SQRT_2PI


def _mixture_params(
    means: Sequence[float], stds: Sequence[float], weights: Sequence[float] | None
) -> tuple[list[float], list[float], list[float]]:
    means = [check_number("means[i]", m, positive=False) for m in means]
    stds = [check_number("stds[i]", s) for s in stds]
    if len(means) == 0:
        raise ValueError("means must hold at least one component, got an empty sequence")
    if len(stds) != len(means):
        raise ValueError(f"stds must have len(means)={len(means)} entries, got {len(stds)}")
    if weights is None:
        weights = [1.0 / len(means)] * len(means)
    else:
        weights = [float(w) for w in weights]
        if len(weights) != len(means):
            raise ValueError(
                f"weights must have len(means)={len(means)} entries, got {len(weights)}"
            )
        if any(not math.isfinite(w) or w < 0 for w in weights) or not math.isclose(
            sum(weights), 1.0, rel_tol=1e-9, abs_tol=1e-9
        ):
            raise ValueError(f"weights must be >= 0 and sum to 1, got {weights}")
    return means, stds, weights


def mixture_log_prob(
    x: torch.Tensor,
    means: Sequence[float],
    stds: Sequence[float],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Log density of a 1-D Gaussian mixture, sum_k w_k N(x; mu_k, s_k^2), entry by entry.

    Computed with log-sum-exp, so it stays finite far in the tails. ``weights`` defaults to
    equal weights; they must be >= 0 and sum to 1.
    """
    x = _as_float_tensor(x, "x")
    means, stds, weights = _mixture_params(means, stds, weights)
    terms = [
        gaussian_log_prob(x, m, s) + math.log(w)
        for m, s, w in zip(means, stds, weights, strict=True)
        if w > 0
    ]
    return torch.logsumexp(torch.stack(terms), dim=0)


def mixture_sample(
    n: int,
    means: Sequence[float],
    stds: Sequence[float],
    weights: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw ``n`` samples (shape ``(n, 1)``) from the Gaussian mixture of :func:`mixture_log_prob`.

    A component k is picked with probability w_k, then x = mu_k + s_k * eps with eps ~ N(0, 1).
    Pass a seeded ``generator`` for reproducible draws.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    means, stds, weights = _mixture_params(means, stds, weights)
    k = torch.multinomial(torch.tensor(weights), n, replacement=True, generator=generator)
    eps = torch.randn(n, generator=generator, dtype=dtype)
    mu = torch.tensor(means, dtype=dtype)[k]
    s = torch.tensor(stds, dtype=dtype)[k]
    return (mu + s * eps).unsqueeze(1)


def optimal_logit(log_q: torch.Tensor, log_p_G: torch.Tensor) -> torch.Tensor:
    """The optimal discriminator's logit, f*(x) = log q(x) - log p_G(x) (paper eq. 3).

    Takes the two log densities evaluated at the same points (same shape).
    """
    log_q = _as_float_tensor(log_q, "log_q")
    log_p_G = _as_float_tensor(log_p_G, "log_p_G")
    if log_q.shape != log_p_G.shape:
        raise ValueError(
            f"log_q and log_p_G must have the same shape, got {tuple(log_q.shape)} "
            f"and {tuple(log_p_G.shape)}"
        )
    return log_q - log_p_G


def optimal_discriminator(log_q: torch.Tensor, log_p_G: torch.Tensor) -> torch.Tensor:
    """The optimal discriminator D*(x) = q / (q + p_G) = sigmoid(log q - log p_G) (paper eq. 3).

    Working from log densities keeps it exact where both densities underflow to 0.
    """
    return torch.sigmoid(optimal_logit(log_q, log_p_G))


def logit_gradient(gap: float, std: float, x: torch.Tensor) -> torch.Tensor:
    """d f*/dx at ``x`` for q = N(0, std^2) and p_G = N(gap, std^2), computed by autograd.

    In closed form f*(x) = (gap^2 - 2 gap x) / (2 std^2), so the gradient is -gap / std^2 at
    every x; the tests and lesson 01 check autograd against that.
    """
    gap = check_number("gap", gap, positive=False)
    std = check_number("std", std)
    x = _as_float_tensor(x, "x").detach().clone().requires_grad_(True)
    f = optimal_logit(gaussian_log_prob(x, 0.0, std), gaussian_log_prob(x, gap, std))
    (grad,) = torch.autograd.grad(f.sum(), x)
    return grad


def separation_curves(gap: float, std: float = 0.5, n_points: int = 401) -> dict[str, torch.Tensor]:
    """Everything the lesson-01 slider draws, for data q = N(0, std^2) and p_G = N(gap, std^2).

    Returns float64 tensors on a grid ``x`` that spans both means +- 4 std:
    ``x``, the densities ``q`` and ``p_G``, ``D`` = D*(x), ``f`` = f*(x) and ``grad_f`` =
    d f*/dx (by autograd). As ``gap / std`` grows the supports separate: D* becomes a step,
    f* a steeper line and |grad f*| = gap / std^2 grows without bound.
    """
    gap = check_number("gap", gap, positive=False)
    std = check_number("std", std)
    if isinstance(n_points, bool) or not isinstance(n_points, int):
        raise TypeError(f"n_points must be an int, got {type(n_points).__name__}")
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    lo, hi = min(0.0, gap) - 4.0 * std, max(0.0, gap) + 4.0 * std
    x = torch.linspace(lo, hi, n_points, dtype=torch.float64)
    log_q = gaussian_log_prob(x, 0.0, std)
    log_p_G = gaussian_log_prob(x, gap, std)
    return {
        "x": x,
        "q": log_q.exp(),
        "p_G": log_p_G.exp(),
        "D": optimal_discriminator(log_q, log_p_G),
        "f": optimal_logit(log_q, log_p_G),
        "grad_f": logit_gradient(gap, std, x),
    }


def max_logit_gradient(gap: float, std: float = 0.5, n_points: int = 401) -> float:
    """max_x |d f*/dx| over the grid of :func:`separation_curves` (equals gap / std^2)."""
    return separation_curves(gap, std, n_points)["grad_f"].abs().max().item()


def plot_separation(gap: float = 2.0, std: float = 0.5, n_points: int = 401):
    """Draw the optimal discriminator for q = N(0, std^2), p_G = N(gap, std^2): the frames of
    lesson 01's interactive figure.

    Three panels: the densities with D*(x); the logit f*(x); |d f*/dx| on a log axis. Returns
    the matplotlib ``Figure`` without showing it (the caller shows it, or hands it to
    :func:`sngan_teach.explore.explore`). The numbers come from :func:`separation_curves`.
    """
    import matplotlib.pyplot as plt

    c = separation_curves(gap, std, n_points)
    x = c["x"].numpy()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), layout="constrained")
    ax = axes[0]
    ax.plot(x, c["q"].numpy(), label="q (data)")
    ax.plot(x, c["p_G"].numpy(), label="p_G (generator)")
    ax.plot(x, c["D"].numpy(), "k--", label="D*(x)")
    ax.set(xlabel="x", ylabel="density / probability", title="Densities and D*")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(x, c["f"].numpy(), color="C2")
    ax.set(xlabel="x", ylabel="f*(x) = log q - log p_G", title="Optimal logit f*")
    ax = axes[2]
    g = c["grad_f"].abs().numpy()
    ax.plot(x, g, color="C3")
    ax.set_yscale("log")
    top = max(float(g.max()), 1e-3)
    ax.set_ylim(top / 100, top * 100)
    ax.set(xlabel="x", ylabel="|df*/dx|", title=f"|grad f*| = {top:.3g}")
    fig.suptitle(f"gap = {gap:.2f}, std = {std:.2f}  (gap / std = {gap / std:.1f})")
    return fig
