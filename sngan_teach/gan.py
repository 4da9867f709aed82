"""The GAN training step and loop: ``n_dis`` discriminator updates, then one generator update.

Introduced in lesson 07 (2-D toys on a CPU) and reused unchanged by lesson 08 (8x8 digits)
by lesson 09 and its appendix A4 (CIFAR-10 on a GPU), and by the class-conditional GANs of
lessons 10 and 11 (``n_classes``). Nothing here knows about the data or the networks:

- real batches come from a callable ``sample_real(batch_size) -> Tensor`` already on the device;
  with ``n_classes`` it returns ``(x, y)``, fake labels are drawn uniformly, and the networks
  are called as ``G(z, y)`` and ``D(x, y)``;
- ``z ~ N(0, I)`` is drawn with an explicit ``torch.Generator`` (on the networks' device), so
  saving ``generator.get_state()`` together with the step counter resumes a run exactly;
- the loss is a name in :data:`sngan_teach.losses.LOSSES` or a ``(loss_D, loss_G)`` pair;
- a penalty ``penalty(net_D, real, fake, generator) -> Tensor`` (already weighted: WGAN-GP,
  DRAGAN, orthonormal) is added to ``loss_D``; ``after_D_step(net_D)`` runs after each
  discriminator update (weight clipping).

The step never synchronizes with the host: it returns its losses as detached tensors. The loop
checks them for NaN/inf only every ``log_every`` steps (one sync) and raises
``FloatingPointError`` naming the step and the loss.

As in the authors' code (``pfnet-research/sngan_projection``), each discriminator update uses
``batch_size_D`` real and ``batch_size_D`` fake samples (default 64), and the generator update
uses ``batch_size_G`` fake samples (default 128).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from sngan_teach._util import check_fraction, check_generator, check_int
from sngan_teach.losses import LossD, LossG, get_loss

# Paper Table 1: Adam's learning rate alpha, beta1, beta2 and the number of D updates per G update.
SETTINGS: dict[str, dict[str, float | int]] = {
    "A": {"alpha": 1e-4, "beta1": 0.5, "beta2": 0.9, "n_dis": 5},
    "B": {"alpha": 1e-4, "beta1": 0.5, "beta2": 0.999, "n_dis": 1},
    "C": {"alpha": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_dis": 1},
    "D": {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 5},
    "E": {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.999, "n_dis": 5},
    "F": {"alpha": 1e-3, "beta1": 0.9, "beta2": 0.999, "n_dis": 5},
}

Penalty = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]


def get_setting(setting: str | dict) -> dict[str, float | int]:
    """The hyperparameters ``{"alpha", "beta1", "beta2", "n_dis"}`` of a setting of Table 1.

    ``setting`` is a key of :data:`SETTINGS` (``"A"`` ... ``"F"``) or a dict with those four
    keys (more are kept). Returns a new dict. ``ValueError`` for an unknown name or a missing key,
    ``TypeError`` for anything else. The one place a setting is checked.
    """
    if isinstance(setting, str):
        if setting not in SETTINGS:
            raise ValueError(
                f"setting must be one of {sorted(SETTINGS)} or a dict, got {setting!r}"
            )
        return dict(SETTINGS[setting])
    if isinstance(setting, dict):
        missing = {"alpha", "beta1", "beta2", "n_dis"} - set(setting)
        if missing:
            raise ValueError(f"setting is missing {sorted(missing)}, got {setting!r}")
        return dict(setting)
    raise TypeError(f"setting must be a str or a dict, got {type(setting).__name__}")


def make_optimizers(
    net_G: nn.Module, net_D: nn.Module, setting: str | dict
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for ``net_G`` and ``net_D`` with ``alpha, beta1, beta2`` of a setting of Table 1.

    ``setting`` is a key of :data:`SETTINGS` (``"A"`` ... ``"F"``) or a dict with the same keys.
    Returns ``(opt_G, opt_D)``; read ``n_dis`` from the setting yourself.
    """
    setting = get_setting(setting)
    alpha, betas = setting["alpha"], (setting["beta1"], setting["beta2"])
    opt_G = torch.optim.Adam(net_G.parameters(), lr=alpha, betas=betas)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=alpha, betas=betas)
    return opt_G, opt_D


def sample_z(n: int, z_dim: int, generator: torch.Generator) -> Tensor:
    """``n`` latent codes ``z ~ N(0, I)`` of size ``z_dim``, on the generator's device."""
    check_int("n", n, 0)
    check_int("z_dim", z_dim, 1)
    check_generator(generator)
    return torch.randn(n, z_dim, generator=generator, device=generator.device)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def _call(net: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    """``net(x)``, or ``net(x, y)`` for a class-conditional network given labels ``y``."""
    return net(x) if y is None else net(x, y)


def d_step(
    net_G: nn.Module,
    net_D: nn.Module,
    opt_D: torch.optim.Optimizer,
    real: Tensor,
    z: Tensor,
    loss_fn_D: LossD,
    *,
    generator: torch.Generator,
    penalty: Penalty | None = None,
    after_D_step: Callable[[nn.Module], None] | None = None,
    autocast_dtype: torch.dtype | None = None,
    joint_D_call: bool = True,
    y_real: Tensor | None = None,
    y_fake: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """One discriminator update on ``real`` and ``G(z)``; returns ``(loss_D, penalty)`` detached.

    With ``joint_D_call`` the discriminator sees ``cat(real, fake)`` in one call (one power
    iteration per update for spectral norm); switch it off for a D with batch statistics.
    With labels ``y_real`` and ``y_fake`` (both or neither) the update is class-conditional:
    ``D(real, y_real)`` against ``D(G(z, y_fake), y_fake)``.
    """
    if (y_real is None) != (y_fake is None):
        raise ValueError("y_real and y_fake must be given together (or neither)")
    with torch.no_grad(), _autocast(real.device, autocast_dtype):
        fake = _call(net_G, z, y_fake)
    fake = fake.to(real.dtype)
    with _autocast(real.device, autocast_dtype):
        if joint_D_call:
            y = None if y_real is None else torch.cat([y_real, y_fake])
            d_out = _call(net_D, torch.cat([real, fake]), y).float()
            d_real, d_fake = d_out.split([len(real), len(fake)])
        else:
            d_real = _call(net_D, real, y_real).float()
            d_fake = _call(net_D, fake, y_fake).float()
    loss_D = loss_fn_D(d_real, d_fake)
    if penalty is not None:
        pen = penalty(net_D, real, fake, generator)
    else:
        pen = torch.zeros((), device=real.device)
    opt_D.zero_grad(set_to_none=True)
    (loss_D + pen).backward()
    opt_D.step()
    if after_D_step is not None:
        after_D_step(net_D)
    return loss_D.detach(), pen.detach()


def g_step(
    net_G: nn.Module,
    net_D: nn.Module,
    opt_G: torch.optim.Optimizer,
    z: Tensor,
    loss_fn_G: LossG,
    *,
    autocast_dtype: torch.dtype | None = None,
    y: Tensor | None = None,
) -> Tensor:
    """One generator update on ``loss_G(D(G(z)))``, or ``loss_G(D(G(z, y), y))`` given labels
    ``y``; returns ``loss_G`` detached.

    ``net_D``'s parameters are frozen during the backward pass (no wasted gradients).
    """
    net_D.requires_grad_(False)
    try:
        with _autocast(z.device, autocast_dtype):
            d_fake = _call(net_D, _call(net_G, z, y), y).float()
        loss_G = loss_fn_G(d_fake)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
    finally:
        net_D.requires_grad_(True)
    return loss_G.detach()


@torch.no_grad()
def update_ema(ema_G: nn.Module, net_G: nn.Module, decay: float) -> None:
    """Exponential moving average of G's weights: ``p_ema <- decay p_ema + (1 - decay) p``.

    Buffers (batch-norm statistics) are copied from ``net_G``. Those statistics belong to
    ``net_G``'s weights, not to the averaged ones: before sampling from or scoring ``ema_G``,
    call :func:`recompute_bn_stats` on it. Use ``copy.deepcopy(net_G)`` as the start.
    """
    for p_ema, p in zip(ema_G.parameters(), net_G.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema_G.buffers(), net_G.buffers(), strict=True):
        b_ema.copy_(b)


@torch.no_grad()
def recompute_bn_stats(
    net_G: nn.Module,
    *,
    z_dim: int,
    generator: torch.Generator,
    n_batches: int = 20,
    batch_size: int = 128,
) -> None:
    """Recompute the batch-norm running statistics of ``net_G`` from its own outputs.

    Every BN layer's running mean and variance are reset and replaced by the plain average of
    the batch statistics over ``n_batches`` forward passes of ``batch_size`` codes
    ``z ~ N(0, I)`` drawn from ``generator`` (BN's ``momentum=None`` mode). Needed for an EMA
    generator (lesson 09): its weights are an average, so the statistics that
    :func:`update_ema` copied from ``net_G`` do not describe its activations. The training flag
    and each layer's momentum are restored; a network without BN is left unchanged.
    """
    check_int("z_dim", z_dim, 1)
    check_int("n_batches", n_batches, 1)
    check_int("batch_size", batch_size, 2)
    check_generator(generator)
    bns = [m for m in net_G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta, was_training = [m.momentum for m in bns], net_G.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average of the batch statistics
    net_G.train()
    try:
        for _ in range(n_batches):
            net_G(sample_z(batch_size, z_dim, generator))
    finally:
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
        net_G.train(was_training)


def _check_step_args(
    generator: object,
    n_dis: int,
    batch_size_D: int,
    batch_size_G: int,
    z_dim: int,
    autocast_dtype: object,
    ema_decay: float,
    n_classes: int | None,
    penalty: object,
) -> None:
    check_int("n_dis", n_dis, 1)
    if n_classes is not None:
        check_int("n_classes", n_classes, 1)
        if penalty is not None:
            raise ValueError("penalty is not supported with n_classes (class-conditional runs)")
    check_int("batch_size_D", batch_size_D, 1)
    check_int("batch_size_G", batch_size_G, 1)
    check_int("z_dim", z_dim, 1)
    check_generator(generator)
    if autocast_dtype not in (None, torch.bfloat16, torch.float16):
        raise ValueError(
            f"autocast_dtype must be None, torch.bfloat16 or torch.float16, got {autocast_dtype}"
        )
    check_fraction("ema_decay", ema_decay)


def train_step(
    net_G: nn.Module,
    net_D: nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    sample_real: Callable[[int], Tensor],
    *,
    z_dim: int,
    generator: torch.Generator,
    loss: str | tuple[LossD, LossG] = "hinge",
    n_dis: int = 1,
    batch_size_D: int = 64,
    batch_size_G: int = 128,
    penalty: Penalty | None = None,
    after_D_step: Callable[[nn.Module], None] | None = None,
    autocast_dtype: torch.dtype | None = None,
    joint_D_call: bool = True,
    ema_G: nn.Module | None = None,
    ema_decay: float = 0.9999,
    n_classes: int | None = None,
) -> dict[str, Tensor]:
    """One iteration of the GAN game: ``n_dis`` updates of ``net_D``, then one of ``net_G``.

    Each D update draws ``batch_size_D`` real samples from ``sample_real`` and as many fakes
    ``G(z)``, and minimizes ``loss_D + penalty``; the G update draws ``batch_size_G`` codes and
    minimizes ``loss_G``. With ``ema_G``, the moving average of G's weights is updated after.

    With ``n_classes`` the game is class-conditional: ``sample_real(n)`` returns ``(x, y)``,
    each batch of fakes gets labels drawn uniformly from ``0 .. n_classes - 1`` with
    ``generator`` (before its ``z``), and the networks are called as ``G(z, y)``, ``D(x, y)``.

    Returns ``{"loss_D", "loss_G", "penalty"}`` as detached 0-d tensors (the last D update's);
    nothing here calls ``.item()``, so on a GPU the step never waits for the device.
    """
    _check_step_args(generator, n_dis, batch_size_D, batch_size_G, z_dim, autocast_dtype,
                     ema_decay, n_classes, penalty)  # fmt: skip
    loss_fn_D, loss_fn_G = get_loss(loss)

    def labels(n: int) -> Tensor | None:
        if n_classes is None:
            return None
        return torch.randint(n_classes, (n,), generator=generator, device=generator.device)

    for _ in range(n_dis):
        real, y_real = sample_real(batch_size_D), None
        if n_classes is not None:
            real, y_real = real
        y_fake = labels(batch_size_D)
        z = sample_z(batch_size_D, z_dim, generator)
        loss_D, pen = d_step(net_G, net_D, opt_D, real, z, loss_fn_D, generator=generator,
                             penalty=penalty, after_D_step=after_D_step,
                             autocast_dtype=autocast_dtype, joint_D_call=joint_D_call,
                             y_real=y_real, y_fake=y_fake)  # fmt: skip
    y = labels(batch_size_G)
    z = sample_z(batch_size_G, z_dim, generator)
    loss_G = g_step(net_G, net_D, opt_G, z, loss_fn_G, autocast_dtype=autocast_dtype, y=y)
    if ema_G is not None:
        update_ema(ema_G, net_G, ema_decay)
    return {"loss_D": loss_D, "loss_G": loss_G, "penalty": pen}


def check_finite(losses: dict[str, Tensor], step: int) -> None:
    """Raise ``FloatingPointError`` naming the loss and the step if any loss is NaN or inf.

    One host sync for all losses together; the loop calls it every ``log_every`` steps.
    """
    values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
    if bool(torch.isfinite(values).all()):
        return
    for name, value in zip(losses, values.tolist(), strict=True):
        if not math.isfinite(value):
            raise FloatingPointError(
                f"{name} is {value} at step {step}: training diverged "
                "(lower alpha, check the loss sign, or add a normalization)"
            )


def linear_lr(step: int, n_steps: int, alpha: float) -> float:
    """Learning rate decayed linearly from ``alpha`` at step 0 to 0 at ``n_steps`` (and after);
    ``n_steps >= 1``."""
    check_int("step", step, 0)
    check_int("n_steps", n_steps, 1)
    return alpha * max(0.0, 1.0 - step / n_steps)


def train(
    net_G: nn.Module,
    net_D: nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    sample_real: Callable[[int], Tensor],
    n_steps: int,
    *,
    lr_decay: bool = False,
    start_step: int = 0,
    log_every: int = 100,
    callback: Callable[[int, list[dict[str, float]]], None] | None = None,
    callback_every: int = 0,
    progress: bool = True,
    **step_options: object,
) -> list[dict[str, float]]:
    """Run :func:`train_step` from ``start_step`` until ``n_steps`` generator updates are done.

    ``step_options`` are :func:`train_step`'s keyword arguments (``z_dim`` and ``generator``,
    which it needs, then ``loss``, ``n_dis``, the batch sizes, ``penalty``, ``n_classes``, ...),
    passed on unchanged: a missing or unknown name is a ``TypeError`` before the first step, and
    :func:`train_step` checks the values.

    - Every ``log_every`` steps (and at the end) the losses are read once from the device,
      checked for NaN/inf (``FloatingPointError`` names the step and the loss), appended to the
      returned history as ``{"step", "loss_D", "loss_G", "penalty", "lr", "seconds"}`` and shown
      on the tqdm bar.
    - Every ``callback_every`` steps (and at the end), ``callback(step, history)`` runs: plug in
      sampling, metrics or checkpointing there. ``step`` counts finished generator updates.
    - ``lr_decay`` sets both learning rates to ``alpha * (1 - step / n_steps)`` before each step,
      from each optimizer's starting ``lr`` (kept in ``param_group["initial_lr"]``).
    - To resume, restore the networks, optimizers and ``generator.set_state(...)`` saved at step
      ``k`` and call again with ``start_step=k``: the run continues exactly.
    """
    from tqdm.auto import tqdm

    check_int("n_steps", n_steps, 0)
    check_int("start_step", start_step, 0)
    check_int("log_every", log_every, 1)
    check_int("callback_every", callback_every, 0)
    inspect.signature(train_step).bind(net_G, net_D, opt_G, opt_D, sample_real, **step_options)
    if start_step > n_steps:
        raise ValueError(f"start_step must be <= n_steps ({n_steps}), got {start_step}")
    for opt in (opt_G, opt_D):
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    bar = tqdm(range(start_step, n_steps), disable=not progress, desc="train", unit="step")
    for step in bar:
        if lr_decay:
            for opt in (opt_G, opt_D):
                for group in opt.param_groups:
                    group["lr"] = linear_lr(step, n_steps, group["initial_lr"])
        losses = train_step(net_G, net_D, opt_G, opt_D, sample_real, **step_options)
        done = step + 1
        if done % log_every == 0 or done == n_steps:
            check_finite(losses, done)
            row = {"step": done, **{k: float(v) for k, v in losses.items()}}
            row["lr"] = opt_G.param_groups[0]["lr"]
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            bar.set_postfix(loss_D=f"{row['loss_D']:.3f}", loss_G=f"{row['loss_G']:.3f}")
        if callback is not None and (
            (callback_every and done % callback_every == 0) or done == n_steps
        ):
            callback(done, history)
    bar.close()
    return history
