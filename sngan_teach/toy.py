"""2-D toy GANs: ring and grid mixtures, small MLPs with every discriminator method, mode metrics.

Introduced in lesson 07 ("Train 2-D GANs and count the modes each method captures"); the
results table ``experiments/toy_table.py`` reuses it. It also holds lesson 06's 2-D critic
(:func:`sample_ring`, :func:`sample_blob`, :func:`train_critic`), which lesson 06 writes inline
and appendix A2 imports from here.

**Data.** Mixtures of isotropic Gaussians with equal weights, as in PacGAN's code
(Lin et al., 2018; ``fjxmlzn/PacGAN``):

- ``"ring"``: 8 centres ``(r cos 2 pi k/8, r sin 2 pi k/8)`` with radius ``r = 2`` and standard
  deviation ``std = 0.02``: PacGAN's ring (radius 1, std 0.01) scaled by 2, so its centres sit on
  the same scale as the grid's;
- ``"grid"``: 25 centres on ``{-4, -2, 0, 2, 4}^2`` with ``std = 0.05`` (PacGAN's grid).

**Metrics** (VEEGAN/PacGAN definitions): a sample is *high quality* if it lies within
``3 std`` of its nearest centre; a mode is *captured* if at least one high-quality sample is
nearest to it. The divergence is the KL divergence ``KL(p || U) = sum_j p_j log(M p_j)`` from the
mode histogram ``p`` of the high-quality samples to the uniform distribution ``U`` over the ``M``
modes, with the generated distribution first (PacGAN's tables report a "reverse KL" without its
formula, and its code logs a Jensen-Shannon divergence, so this is not PacGAN's number). It is
0 when every mode gets the same share and ``log M`` when one mode takes everything.

**Discriminator methods**: every name of :data:`sngan_teach.methods.METHODS` (``"none"``,
``"sn"``, ``"wn"``, ``"clip"``, ``"ortho"``, ``"gp"``; with ``loss="wgan"`` the gradient penalty
is the WGAN-GP critic, with ``"ns"`` GAN-GP).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor, nn

from sngan_teach._util import check_fraction, check_generator, check_int, check_number, eval_mode
from sngan_teach.gan import get_setting, make_optimizers, sample_z, train
from sngan_teach.methods import apply_method, method_hooks
from sngan_teach.regularizers import clip_weights_, dragan_penalty, gradient_penalty
from sngan_teach.sn import add_sn

DATASETS: dict[str, dict[str, float]] = {
    "ring": {"n_modes": 8, "radius": 2.0, "std": 0.02},
    "grid": {"n_modes": 25, "spacing": 2.0, "std": 0.05},
}


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> Tensor:
    """``n_modes`` points ``(r cos 2 pi k/n, r sin 2 pi k/n)``, k = 0..n-1 (all distinct)."""
    if not isinstance(n_modes, int) or n_modes < 1:
        raise ValueError(f"n_modes must be an int >= 1, got {n_modes!r}")
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centres(side: int = 5, spacing: float = 2.0) -> Tensor:
    """The ``side x side`` grid centred at 0 with the given spacing ({-4,...,4}^2 by default)."""
    if not isinstance(side, int) or side < 1:
        raise ValueError(f"side must be an int >= 1, got {side!r}")
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


def dataset(name: str) -> tuple[Tensor, float]:
    """``(centres, std)`` of ``"ring"`` or ``"grid"`` (see the module docstring)."""
    if name == "ring":
        spec = DATASETS["ring"]
        return ring_centres(int(spec["n_modes"]), spec["radius"]), spec["std"]
    if name == "grid":
        spec = DATASETS["grid"]
        return grid_centres(5, spec["spacing"]), spec["std"]
    raise ValueError(f"data must be one of {sorted(DATASETS)}, got {name!r}")


def sample_mixture(centres: Tensor, std: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` samples of the equal-weight mixture of ``N(centre, std^2 I)``.

    Component choices and noise are drawn with ``generator``; the samples land on its device.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    device = generator.device
    centres = centres.to(device)
    k = torch.randint(len(centres), (n,), generator=generator, device=device)
    noise = torch.randn(n, centres.shape[1], generator=generator, device=device)
    return centres[k] + std * noise


def mode_metrics(samples: Tensor, centres: Tensor, std: float) -> dict[str, float | list[int]]:
    """Modes captured, fraction of high-quality samples and ``KL(p || U)`` (module docstring).

    Returns ``{"modes", "hq", "kl", "counts"}``: ``counts[j]`` is the number of high-quality
    samples nearest to centre ``j``. With no high-quality sample ``kl = log M`` (``M`` modes).
    ``ValueError`` for an empty batch.
    """
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"samples must have shape (n, {centres.shape[1]}), got {tuple(samples.shape)}"
        )
    if len(samples) == 0:
        raise ValueError("samples must hold at least 1 sample, got 0")
    samples = samples.detach().to("cpu", torch.float64)
    centres = centres.to(torch.float64)
    dist, nearest = torch.cdist(samples, centres).min(dim=1)
    good = dist < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    n_good = int(good.sum())
    n_modes = len(centres)
    if n_good == 0:
        kl = math.log(n_modes)
    else:
        p = counts[counts > 0].double() / n_good
        kl = float((p * torch.log(p * n_modes)).sum())
    return {
        "modes": int((counts > 0).sum()),
        "hq": n_good / len(samples),
        "kl": kl,
        "counts": counts.tolist(),
    }


def make_G(
    z_dim: int = 2, width: int = 128, depth: int = 3, batch_norm: bool = True
) -> nn.Sequential:
    """Generator MLP ``z -> [Linear, BatchNorm, ReLU] x depth -> Linear -> x in R^2``.

    ``batch_norm=False`` drops the batch-norm layers: ``[Linear, ReLU] x depth``.
    """
    layers: list[nn.Module] = []
    d_in = z_dim
    for _ in range(depth):
        norm = [nn.BatchNorm1d(width)] if batch_norm else []
        layers += [nn.Linear(d_in, width), *norm, nn.ReLU()]
        d_in = width
    layers.append(nn.Linear(d_in, 2))
    return nn.Sequential(*layers)


def make_D(method: str = "sn", width: int = 128, depth: int = 2) -> nn.Sequential:
    """Discriminator MLP ``x -> [Linear, LeakyReLU(0.1)] x depth -> Linear -> logit``.

    ``method`` in :data:`sngan_teach.methods.METHODS` sets the normalization baked into the
    network (:func:`sngan_teach.methods.apply_method`): spectral norm (``"sn"``) or weight norm
    (``"wn"``) on every layer, orthonormal initialization (``"ortho"``); the other methods act
    through :func:`sngan_teach.methods.method_hooks`.
    """
    layers: list[nn.Module] = []
    d_in = 2
    for _ in range(depth):
        layers += [nn.Linear(d_in, width), nn.LeakyReLU(0.1)]
        d_in = width
    layers.append(nn.Linear(d_in, 1))
    return apply_method(nn.Sequential(*layers), method)


CRITIC_METHODS = ("WGAN-GP", "DRAGAN", "WC", "SN")  # the constraints of lesson 06's critic


def sample_ring(
    n: int, generator: torch.Generator, *, n_modes: int = 8, radius: float = 2.0, std: float = 0.05
) -> Tensor:
    r"""``n`` samples of lesson 06's real data: ``n_modes`` Gaussians on a ring.

    .. math:: k \sim U\{0, \dots, M-1\},\quad
              x = r\,(\cos 2\pi k/M, \sin 2\pi k/M) + s\,\varepsilon,\quad
              \varepsilon \sim \mathcal N(0, I_2)

    with ``M = n_modes``, ``r = radius``, ``s = std``; ``k``, then ``eps``, drawn from
    ``generator``. The same mixture as :func:`sample_mixture` on :func:`ring_centres`, but with
    the angles in float32, as lesson 06 computes them (so its numbers stay bit for bit).
    """
    check_int("n", n, 1)
    check_generator(generator)
    check_int("n_modes", n_modes, 1)
    check_number("radius", radius)
    check_number("std", std)
    k = torch.randint(n_modes, (n,), generator=generator, device=generator.device)
    angle = 2 * math.pi * k / n_modes
    centres = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator, device=generator.device)


def sample_blob(n: int, generator: torch.Generator, *, std: float = 0.3) -> Tensor:
    r"""``n`` samples of lesson 06's fake data: :math:`\tilde x = s\,\varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I_2)`, a blob at the origin with ``s = std``
    standing in for an early generator; drawn from ``generator``."""
    check_int("n", n, 1)
    check_generator(generator)
    check_number("std", std)
    return std * torch.randn(n, 2, generator=generator, device=generator.device)


def train_critic(
    method: str,
    generator: torch.Generator,
    *,
    seed: int = 0,
    n_steps: int = 800,
    lam: float = 10.0,
    c: float = 0.01,
    init_scale: float = 4.0,
    lr: float = 5e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    batch_size: int = 256,
) -> nn.Sequential:
    r"""Lesson 06's 2-D critic, trained with the Wasserstein loss under one constraint.

    Each of ``n_steps`` Adam steps (``lr``, ``betas``) minimizes, on ``batch_size`` samples of
    :func:`sample_ring` (``x``) and :func:`sample_blob` (``x_tilde``),

    .. math:: \mathrm{loss}_D = \mathbb E[D(\tilde x)] - \mathbb E[D(x)]
              \; (+\, \lambda\, \mathrm{penalty})

    with ``method`` one of :data:`CRITIC_METHODS`: ``"WGAN-GP"`` adds ``lam`` times
    :func:`~sngan_teach.regularizers.gradient_penalty`, ``"DRAGAN"`` ``lam`` times
    :func:`~sngan_teach.regularizers.dragan_penalty`, ``"WC"`` clips every weight to
    ``[-c, c]`` after each step, ``"SN"`` puts spectral normalization on every layer. The critic
    is ``make_D("none", 64, 2)`` (``2 -> 64 -> 64 -> 1``, leaky ReLUs) built after
    ``torch.manual_seed(seed)`` (the global RNG is seeded, as in lesson 06), with every weight
    then multiplied by ``init_scale`` (a steep start). Data and penalty samples are drawn from
    ``generator``. Returns the critic in eval mode. Bad arguments raise ``ValueError`` or
    ``TypeError`` naming them before any training.
    """
    if method not in CRITIC_METHODS:
        raise ValueError(f"method must be one of {list(CRITIC_METHODS)}, got {method!r}")
    check_int("seed", seed, 0)
    check_int("n_steps", n_steps, 0)
    check_int("batch_size", batch_size, 1)
    if not (isinstance(betas, tuple) and len(betas) == 2):
        raise TypeError(f"betas must be a tuple of 2 numbers, got {betas!r}")
    check_fraction("betas[0]", betas[0])
    check_fraction("betas[1]", betas[1])
    check_generator(generator)
    for name, value in (("lam", lam), ("c", c), ("init_scale", init_scale), ("lr", lr)):
        check_number(name, value)
    torch.manual_seed(seed)
    net_D = make_D("none", 64, 2)
    with torch.no_grad():
        for p in net_D.parameters():
            p.mul_(init_scale)
    if method == "SN":
        add_sn(net_D)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=lr, betas=betas)
    for _ in range(n_steps):
        x, x_fake = sample_ring(batch_size, generator), sample_blob(batch_size, generator)
        loss_D = net_D(x_fake).mean() - net_D(x).mean()
        if method == "WGAN-GP":
            loss_D = loss_D + lam * gradient_penalty(net_D, x, x_fake, generator=generator)
        elif method == "DRAGAN":
            loss_D = loss_D + lam * dragan_penalty(net_D, x, generator=generator)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        if method == "WC":
            clip_weights_(net_D, c)
    return net_D.eval()


def train_toy(
    data: str = "grid",
    method: str = "sn",
    loss: str = "hinge",
    setting: str | dict = "C",
    n_steps: int = 2000,
    *,
    seed: int = 0,
    z_dim: int = 2,
    width: int = 128,
    width_D: int | None = None,
    depth_G: int = 3,
    depth_D: int = 2,
    batch_norm: bool = True,
    lr_decay: bool = False,
    batch_size_D: int = 64,
    batch_size_G: int = 128,
    n_eval: int = 2500,
    eval_every: int = 0,
    loss_fns: tuple[Callable, Callable] | None = None,
    progress: bool = False,
) -> dict:
    """Train one 2-D GAN and measure it; the function behind lesson 07's form and the table.

    ``setting`` is a key of :data:`sngan_teach.gan.SETTINGS` (alpha, beta1, beta2, n_dis) or a
    dict with those four keys. ``width`` is G's hidden width and D's too unless ``width_D`` is
    given; ``depth_G``, ``depth_D`` and ``batch_norm`` go to :func:`make_G` / :func:`make_D`;
    ``lr_decay`` decays both learning rates linearly to 0 (:func:`sngan_teach.gan.train`).
    ``loss_fns`` overrides ``loss`` with a ``(loss_D, loss_G)`` pair (the lesson's wrong hinge).
    Everything random flows from ``seed``: the weights and one ``torch.Generator`` for data and
    ``z``. Metrics use ``n_eval`` samples of ``G`` (2500 as in VEEGAN/PacGAN), drawn with a
    separate generator seeded ``seed + 1`` so the evaluation does not disturb training.

    Returns a dict with ``net_G``, ``net_D``, ``history`` (losses), ``curve`` (metrics every
    ``eval_every`` steps, and at the end), ``samples``, ``metrics`` (the final
    :func:`mode_metrics`), ``seconds`` and the arguments. Bad arguments raise ``ValueError`` or
    ``TypeError`` naming them before any training.
    """
    penalty, after_D_step = method_hooks(method)
    hyper = get_setting(setting)
    n_dis = hyper["n_dis"]
    if isinstance(n_dis, bool) or not float(n_dis).is_integer() or n_dis < 1:
        raise ValueError(f"setting's n_dis must be a whole number >= 1, got {n_dis!r}")
    sizes = {"n_steps": (n_steps, 0), "z_dim": (z_dim, 1), "width": (width, 1),
             "depth_G": (depth_G, 1), "depth_D": (depth_D, 1), "batch_size_D": (batch_size_D, 1),
             "batch_size_G": (batch_size_G, 1), "n_eval": (n_eval, 1),
             "eval_every": (eval_every, 0)}  # fmt: skip
    if width_D is not None:
        sizes["width_D"] = (width_D, 1)
    for name, (value, low) in sizes.items():
        check_int(name, value, low)
    centres, std = dataset(data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net_G = make_G(z_dim, width, depth_G, batch_norm)
        net_D = make_D(method, width if width_D is None else width_D, depth_D)
    opt_G, opt_D = make_optimizers(net_G, net_D, hyper)
    gen = torch.Generator().manual_seed(seed)
    z_eval = sample_z(n_eval, z_dim, torch.Generator().manual_seed(seed + 1))
    curve: list[dict] = []

    def evaluate(step: int, history: list) -> None:
        net_G.eval()
        with torch.no_grad():
            samples = net_G(z_eval)
        net_G.train()
        m = mode_metrics(samples, centres, std)
        curve.append({"step": step, **{k: m[k] for k in ("modes", "hq", "kl")}})

    t0 = time.perf_counter()
    history = train(
        net_G,
        net_D,
        opt_G,
        opt_D,
        lambda n: sample_mixture(centres, std, n, gen),
        n_steps,
        z_dim=z_dim,
        generator=gen,
        loss=loss_fns if loss_fns is not None else loss,
        n_dis=int(n_dis),
        batch_size_D=batch_size_D,
        batch_size_G=batch_size_G,
        penalty=penalty,
        after_D_step=after_D_step,
        lr_decay=lr_decay,
        log_every=max(1, min(100, n_steps)),
        callback=evaluate,
        callback_every=eval_every,
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    net_G.eval()
    with torch.no_grad():
        samples = net_G(z_eval)
    return {
        "net_G": net_G,
        "net_D": net_D,
        "history": history,
        "curve": curve,
        "samples": samples,
        "metrics": mode_metrics(samples, centres, std),
        "seconds": seconds,
        "data": data,
        "method": method,
        "loss": loss if loss_fns is None else "custom",
        "setting": setting,
        "n_steps": n_steps,
    }


def plot_samples(ax: plt.Axes, samples: Tensor, centres: Tensor, title: str = "") -> None:
    """Scatter ``samples`` over the mixture's ``centres`` (red crosses)."""
    s = samples.detach().cpu().numpy()
    c = centres.cpu().numpy()
    ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.3, label="G(z)")
    ax.scatter(c[:, 0], c[:, 1], marker="x", color="red", s=25, label="centres")
    lim = float(np.abs(c).max()) * 1.4
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.set_aspect("equal")


def plot_landscape(ax: plt.Axes, net_D: nn.Module, centres: Tensor, title: str = "") -> None:
    """``D(x)`` over the plane (colour) with its input gradient ``grad_x D`` (arrows)."""
    lim = float(centres.abs().max()) * 1.4
    xs = torch.linspace(-lim, lim, 60)
    grid = torch.cartesian_prod(xs, xs).requires_grad_(True)
    with eval_mode(net_D):
        out = net_D(grid)
        (grad,) = torch.autograd.grad(out.sum(), grid)
    values = out.detach().reshape(60, 60).T.numpy()
    mesh = ax.contourf(xs.numpy(), xs.numpy(), values, levels=30, cmap="viridis")
    plt.colorbar(mesh, ax=ax, label="$D(x)$")
    step = 5
    g = grad.reshape(60, 60, 2)[::step, ::step].numpy()
    pos = grid.detach().reshape(60, 60, 2)[::step, ::step].numpy()
    ax.quiver(pos[..., 0], pos[..., 1], g[..., 0], g[..., 1], color="white", width=0.004)
    c = centres.cpu().numpy()
    ax.scatter(c[:, 0], c[:, 1], marker="x", color="red", s=25)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    ax.set_aspect("equal")


def plot_curves(axes: list[plt.Axes], runs: dict[str, dict], n_modes: int) -> None:
    """Modes captured, high-quality fraction and KL against generator steps, one line per run."""
    for label, run in runs.items():
        steps = [row["step"] for row in run["curve"]]
        for ax, key in zip(axes, ("modes", "hq", "kl"), strict=True):
            ax.plot(steps, [row[key] for row in run["curve"]], label=label)
    axes[0].axhline(n_modes, color="grey", ls="--", lw=1)
    for ax, name in zip(
        axes, ("modes captured", "high-quality fraction", "KL(p || U)"), strict=True
    ):
        ax.set(xlabel="generator step", ylabel=name, title=name)
    axes[0].legend(fontsize=7)


def lab(
    method: str = "sn",
    loss: str = "hinge",
    setting: str = "C",
    data: str = "grid",
    n_steps: int = 500,
    seed: int = 0,
) -> dict:
    """Train one configuration, draw its samples and landscape, and return the run.

    For runs of your own in lesson 07, whose interactive figure only flips between runs made
    in advance: this one trains a new configuration (a few seconds to a minute on a CPU).
    """
    run = train_toy(data, method, loss, setting, n_steps, seed=seed)
    centres, _ = dataset(data)
    m = run["metrics"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    plot_samples(
        axes[0],
        run["samples"],
        centres,
        f"{method}/{loss}/{setting}: {m['modes']} modes, {100 * m['hq']:.0f}% HQ",
    )
    plot_landscape(axes[1], run["net_D"], centres, "D(x) and its gradient")
    fig.tight_layout()
    plt.show()
    return run
