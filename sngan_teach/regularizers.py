"""The regularizers the paper compares spectral normalization against.

Introduced in lesson 06 (orthonormal regularization, weight clipping, gradient penalties);
weight normalization, a normalization like SN, is in :mod:`sngan_teach.methods`, which also
switches between all of them for lessons 07 and 08.

Every matrix below is a layer's weight seen as the paper sees it (§4): a ``Linear`` weight is
``d_out x d_in`` and a convolution weight ``d_out x d_in x h x w`` is reshaped to
``d_out x (d_in h w)`` (``out x rest``). For transposed convolutions the output axis is 1, as in
PyTorch's ``spectral_norm``.

- :func:`clip_weights_`: WGAN's weight clipping to ``[-c, c]`` (c = 0.01 in §4.1).
- :func:`orthonormal_penalty`, :func:`orthogonal_init_`: orthonormal regularization (eq. 14).
- :func:`gradient_penalty`: WGAN-GP's penalty at random interpolates (lambda = 10 in §4.1).
- :func:`dragan_penalty`: DRAGAN's penalty at noisy copies of the data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from sngan_teach._util import CONV_TRANSPOSE, as_matrix, weight_layers

__all__ = [
    "clip_weights_",
    "orthonormal_penalty",
    "orthogonal_init_",
    "gradient_penalty",
    "dragan_penalty",
    "weight_layers",
    "as_matrix",
]


def clip_weights_(model: nn.Module, c: float = 0.01) -> None:
    """Clamp every parameter of ``model`` (weights and biases) in place to ``[-c, c]``.

    WGAN's weight clipping, with ``c = 0.01`` as in the paper (§4.1); call it after each
    ``opt_D.step()``. It bounds every entry, so a ``d_out x d_in`` layer has
    ``sigma(W) <= ||W||_F <= c sqrt(d_out d_in)``: a Lipschitz bound bought by shrinking every
    weight, which also shrinks what the layer can express (lesson 06).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(c, bool) or not isinstance(c, int | float):
        raise TypeError(f"c must be a number, got {type(c).__name__}")
    if not (c > 0 and math.isfinite(c)):
        raise ValueError(f"c must be a finite number > 0, got {c}")
    with torch.no_grad():
        for p in model.parameters():
            p.clamp_(-c, c)


def orthonormal_penalty(model: nn.Module) -> Tensor:
    r"""Orthonormal regularization, summed over every ``Linear`` and convolution of ``model``.

    The paper's eq. (14) is :math:`\lVert \bar W^T \bar W - I \rVert_F^2` per layer. For a
    ``d_o x d_i`` matrix this function uses the *smaller* Gram matrix, consistently:
    ``W W^T - I_{d_o}`` when ``d_o <= d_i`` and ``W^T W - I_{d_i}`` otherwise. Both Gram
    matrices have the same non-zero eigenvalues ``sigma_t^2``, so

    .. math:: \lVert W^T W - I_{d_i} \rVert_F^2 = \sum_t (\sigma_t^2 - 1)^2 + (d_i - d_o)
              \quad (d_o \le d_i),

    and the smaller side drops only the constant ``d_i - d_o``: same gradient, cheaper, and
    zero exactly when the rows (or the columns) are orthonormal, i.e. every singular value is 1.
    Returns a scalar with a graph; the caller multiplies it by its coefficient. The weight is the
    one the layer uses (after any parametrization). Introduced in lesson 06.
    """
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no Linear or convolution layer")
    total = None
    for _, m in layers:
        W = as_matrix(m.weight, m)
        G = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
        eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
        term = (G - eye).pow(2).sum()
        total = term if total is None else total + term
    return total


def orthogonal_init_(
    model: nn.Module, gain: float = 1.0, generator: torch.Generator | None = None
) -> None:
    """Initialize every ``Linear``/convolution weight of ``model`` to an orthonormal matrix.

    The paper starts orthonormal regularization from orthonormal weights (§4.1). Uses
    ``torch.nn.init.orthogonal_`` on the ``d_out x rest`` view, so the rows (or the columns,
    whichever are fewer) are orthonormal and every singular value equals ``gain``. When the
    weight is parametrized, the trainable ``original`` is initialized. Introduced in lesson 06.
    """
    layers = weight_layers(model)
    if not (gain > 0 and math.isfinite(gain)):
        raise ValueError(f"gain must be a finite number > 0, got {gain}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    with torch.no_grad():
        for _, m in layers:
            if parametrize.is_parametrized(m, "weight"):
                W = m.parametrizations.weight.original
            else:
                W = m.weight
            if isinstance(m, CONV_TRANSPOSE):
                tmp = W.transpose(0, 1).contiguous()
                nn.init.orthogonal_(tmp, gain=gain, generator=generator)
                W.copy_(tmp.transpose(0, 1))
            else:
                nn.init.orthogonal_(W, gain=gain, generator=generator)


def _check_batch(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a Tensor, got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(
            f"{name} must be a batch of shape (B, ...) with B >= 1, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def _check_net(net_D: object) -> None:
    if not callable(net_D):
        raise TypeError(f"net_D must be an nn.Module or callable, got {type(net_D).__name__}")


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def _rand(
    shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None, normal: bool = False
) -> Tensor:
    device = generator.device if generator is not None else like.device
    draw = torch.randn if normal else torch.rand
    return draw(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _input_grad_penalty(net_D: nn.Module, x_hat: Tensor) -> Tensor:
    x_hat = x_hat.detach().requires_grad_(True)
    out = net_D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True, allow_unused=True)
    if grad is None:  # D does not depend on x: its gradient is 0 everywhere
        grad = torch.zeros_like(x_hat)
    norms = grad.flatten(1).norm(dim=1)
    return (norms - 1.0).pow(2).mean()


def gradient_penalty(
    net_D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    r"""WGAN-GP's gradient penalty (Gulrajani et al., 2017).

    .. math:: E_{\hat x}[(\lVert\nabla_x D(\hat x)\rVert_2 - 1)^2]

    ``x_hat = t * real + (1 - t) * fake`` with one interpolation weight ``t ~ U[0, 1]`` per
    sample, drawn from ``generator``. ``real`` and ``fake`` are detached (the penalty trains D
    only); the input gradient is taken with ``create_graph=True``, so ``penalty.backward()``
    reaches D's weights (a double backward, which is why WGAN-GP is slower, lesson 06). The
    caller multiplies by ``lambda`` (10 in the paper, §4.1). The penalty acts only where the
    ``x_hat`` fall: lesson 06 maps ``||grad_x D||`` over the plane to show it. Introduced in
    lesson 06.
    """
    _check_net(net_D)
    real = _check_batch("real", real)
    fake = _check_batch("fake", fake)
    _check_generator(generator)
    if real.shape != fake.shape:
        raise ValueError(
            "real and fake must have the same shape, "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if real.dtype != fake.dtype or real.device != fake.device:
        raise ValueError(
            "real and fake must share dtype and device, "
            f"got {real.dtype}/{real.device} and {fake.dtype}/{fake.device}"
        )
    t = _rand((real.shape[0],) + (1,) * (real.dim() - 1), real, generator)
    x_hat = t * real.detach() + (1 - t) * fake.detach()
    return _input_grad_penalty(net_D, x_hat)


def dragan_penalty(
    net_D: nn.Module,
    real: Tensor,
    generator: torch.Generator | None = None,
    noise_scale: float = 0.5,
) -> Tensor:
    r"""DRAGAN's gradient penalty (Kodali et al., 2017).

    The same :math:`E[(\lVert\nabla_x D(\hat x)\rVert_2 - 1)^2]` as WGAN-GP, but at noisy
    copies of the real data instead of real-fake interpolates.

    ``x_hat = real + noise_scale * std(real) * eps`` with ``eps ~ N(0, I)`` drawn from
    ``generator`` and ``std(real)`` the standard deviation of the whole batch; so ``noise_scale``
    sets the radius of the neighbourhood of the data that gets penalized, in units of the data's
    spread. (The DRAGAN paper writes ``delta ~ N(0, cI)``; its code draws
    ``c * std(x) * U[0, 1)`` and interpolates toward it. We keep the symmetric Gaussian, and call
    the scale ``noise_scale`` because ``c`` is the weight-clipping bound in these lessons.)
    ``create_graph=True`` as in :func:`gradient_penalty`; the caller multiplies by ``lambda``
    (10). Introduced in lesson 06.
    """
    _check_net(net_D)
    real = _check_batch("real", real)
    _check_generator(generator)
    if isinstance(noise_scale, bool) or not isinstance(noise_scale, int | float):
        raise TypeError(f"noise_scale must be a number, got {type(noise_scale).__name__}")
    if not (noise_scale > 0 and math.isfinite(noise_scale)):
        raise ValueError(f"noise_scale must be a finite number > 0, got {noise_scale}")
    real = real.detach()
    std = real.std() if real.numel() > 1 else real.new_tensor(1.0)
    x_hat = real + noise_scale * std * _rand(tuple(real.shape), real, generator, normal=True)
    return _input_grad_penalty(net_D, x_hat)
