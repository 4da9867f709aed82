"""The digits GAN driver of the robustness grid: its sizes and :func:`train_digits`.

``experiments/robustness.py`` trains every cell of the grid with :func:`train_digits` and
lesson 08 reruns a few of them; the data, the classifier, the proxy scores and the networks are
in :mod:`sngan_teach.digits`, the discriminator methods in :mod:`sngan_teach.methods`.
"""

from __future__ import annotations

import math
import time

import torch

from sngan_teach._util import check_int, check_positive, eval_mode
from sngan_teach.digits import (
    evaluate_digits,
    load_digits_split,
    make_D,
    make_G,
    real_sampler,
    sn_layer_sigmas,
)
from sngan_teach.gan import get_setting, make_optimizers, sample_z, train
from sngan_teach.methods import METHOD_LOSS, method_hooks

# The robustness grid's sizes (experiments/robustness.py; lesson 08 reruns some of its cells).
GRID_STEPS = 650  # generator updates per cell: the whole grid fits 60 idle minutes on 2 cores
GRID_KW = {"z_dim": 32, "ch_G": 32, "ch_D": 16, "batch_size_D": 64, "batch_size_G": 64}


def train_digits(
    method: str = "sn",
    setting: str | dict = "C",
    n_steps: int = 2000,
    *,
    seed: int = 0,
    n_dis: int | None = None,
    z_dim: int = 32,
    ch_G: int = 64,
    ch_D: int = 32,
    batch_size_D: int = 64,
    batch_size_G: int = 128,
    n_eval: int = 1000,
    sigma_every: int = 0,
    curve_every: int = 0,
    progress: bool = False,
) -> dict:
    """Train one digits GAN with :func:`sngan_teach.gan.train` and score it with the proxies.

    ``method`` picks D's normalization and hooks (:func:`sngan_teach.methods.method_hooks`) and
    the loss (``sngan_teach.methods.METHOD_LOSS``: standard loss, Wasserstein for ``"clip"`` and
    ``"gp"``). ``setting`` is a key of :data:`sngan_teach.gan.SETTINGS` or a dict with
    ``alpha, beta1, beta2, n_dis``;
    ``n_dis`` overrides the setting's. Everything random flows from ``seed``; the ``n_eval``
    samples scored at the end use a fixed ``z`` drawn from ``seed + 1``, with G in eval mode.
    With ``sigma_every`` (SN only) :func:`sn_layer_sigmas` is recorded every that many steps;
    a run whose weights turn NaN/inf is scored as diverged whichever check sees it first, the
    losses' (every 100 steps) or the sigma record's. With ``curve_every`` the same ``n_eval``
    samples are scored every that many steps and at the end (G in eval mode for the scoring,
    back in train mode after; no random number of the run is drawn), the learning curve: rows
    ``{"step", "digits_is", "digits_fid", "classes"}``.

    Returns ``net_G``, ``net_D``, ``history``, ``samples``, ``metrics`` (:func:`evaluate_digits`),
    ``sigmas`` (rows ``{"step", "layer", "sigma"}``), ``curve``, ``diverged`` (a loss turned
    NaN/inf),
    ``n_dis``, ``seconds`` (wall) and ``cpu_seconds`` (this process's CPU time).
    """
    penalty, after_D_step = method_hooks(method)
    hyper = get_setting(setting)
    if n_dis is not None:
        check_positive("n_dis", n_dis)
        hyper["n_dis"] = n_dis
    check_positive("n_eval", n_eval)
    check_int("sigma_every", sigma_every, 0)
    check_int("curve_every", curve_every, 0)
    x_train = load_digits_split()[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net_G, net_D = make_G(z_dim, ch_G), make_D(method, ch_D)
    opt_G, opt_D = make_optimizers(net_G, net_D, hyper)
    gen = torch.Generator().manual_seed(seed)
    z_eval = sample_z(n_eval, z_dim, torch.Generator().manual_seed(seed + 1))
    sigmas: list[dict] = []
    curve: list[dict] = []
    sigma_every = sigma_every if method == "sn" else 0
    every = math.gcd(sigma_every, curve_every)

    def sample() -> torch.Tensor:
        with eval_mode(net_G), torch.no_grad():
            return net_G(z_eval)

    def record(step: int, history: list) -> None:
        if sigma_every and (step % sigma_every == 0 or step == n_steps):
            for layer, value in sn_layer_sigmas(net_D).items():
                sigmas.append({"step": step, "layer": layer, "sigma": value})
        if curve_every and (step % curve_every == 0 or step == n_steps):
            curve.append({"step": step, **evaluate_digits(sample())})

    t0, c0 = time.perf_counter(), time.process_time()
    diverged = False
    try:
        history = train(
            net_G,
            net_D,
            opt_G,
            opt_D,
            real_sampler(x_train, gen),
            n_steps,
            z_dim=z_dim,
            generator=gen,
            loss=METHOD_LOSS[method],
            n_dis=int(hyper["n_dis"]),
            batch_size_D=batch_size_D,
            batch_size_G=batch_size_G,
            penalty=penalty,
            after_D_step=after_D_step,
            log_every=max(1, min(100, n_steps)),
            callback=record if every else None,
            callback_every=every,
            progress=progress,
        )
    except FloatingPointError:
        history, diverged = [], True
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    samples = sample()
    net_G.eval()  # returned in eval mode
    if diverged:
        metrics = {"digits_is": 1.0, "digits_fid": math.nan, "classes": 0}
    else:
        metrics = evaluate_digits(samples)
    return {
        "net_G": net_G,
        "net_D": net_D,
        "history": history,
        "samples": samples,
        "metrics": metrics,
        "sigmas": sigmas,
        "curve": curve,
        "diverged": diverged,
        "method": method,
        "loss": METHOD_LOSS[method],
        "setting": setting,
        "n_dis": int(hyper["n_dis"]),
        "n_steps": n_steps,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }
