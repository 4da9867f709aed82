"""GAN losses as plain functions of the discriminator's raw outputs (logits).

Introduced in lesson 07 and reused unchanged by lessons 08 and 09. Every function takes the
discriminator's outputs ``d_real = D(x)`` and/or ``d_fake = D(G(z))`` (any shape; they are
averaged) and returns a scalar that the optimizer *minimizes*.

- Standard loss, paper eq. (15), with the non-saturating generator loss the paper uses
  (``ns_loss_D``, ``ns_loss_G``). ``D`` outputs a logit, so ``log sigmoid`` is written with
  ``softplus`` for stability: ``-log sigmoid(t) = softplus(-t)``.
- Hinge loss, paper eqs. (16)-(17) (``hinge_loss_D``, ``hinge_loss_G``). The paper writes
  D's objective as a maximization of ``E[min(0, -1 + D(x))] + E[min(0, -1 - D(G(z)))]``;
  minimized, it is ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``.
- Wasserstein loss for the WGAN-GP critic (``wgan_loss_D``, ``wgan_loss_G``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

LossD = Callable[[Tensor, Tensor], Tensor]
LossG = Callable[[Tensor], Tensor]


def ns_loss_D(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Standard discriminator loss, paper eq. (15), minimized:

    ``loss_D = -E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(logit)``,
    i.e. ``E[softplus(-d_real)] + E[softplus(d_fake)]``.
    """
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def ns_loss_G(d_fake: Tensor) -> Tensor:
    """Non-saturating generator loss: ``loss_G = -E[log D(G(z))] = E[softplus(-d_fake)]``."""
    return F.softplus(-d_fake).mean()


def hinge_loss_D(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Hinge discriminator loss, paper eq. (16) written as a loss to minimize:

    ``loss_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``.
    """
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_loss_G(d_fake: Tensor) -> Tensor:
    """Hinge generator loss, paper eq. (17): ``loss_G = -E[D(G(z))]``."""
    return -d_fake.mean()


def wgan_loss_D(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Wasserstein critic loss: ``loss_D = E[D(G(z))] - E[D(x)]`` (add the gradient penalty)."""
    return d_fake.mean() - d_real.mean()


def wgan_loss_G(d_fake: Tensor) -> Tensor:
    """Wasserstein generator loss: ``loss_G = -E[D(G(z))]``."""
    return -d_fake.mean()


LOSSES: dict[str, tuple[LossD, LossG]] = {
    "ns": (ns_loss_D, ns_loss_G),
    "hinge": (hinge_loss_D, hinge_loss_G),
    "wgan": (wgan_loss_D, wgan_loss_G),
}


def get_loss(loss: str | tuple[LossD, LossG]) -> tuple[LossD, LossG]:
    """Return ``(loss_D, loss_G)`` for a name in ``LOSSES``; pass a pair of callables through.

    >>> get_loss("hinge") == (hinge_loss_D, hinge_loss_G)
    True
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        return LOSSES[loss]
    if isinstance(loss, tuple) and len(loss) == 2 and callable(loss[0]) and callable(loss[1]):
        return loss
    raise TypeError(f"loss must be a name or a (loss_D, loss_G) pair of callables, got {loss!r}")
