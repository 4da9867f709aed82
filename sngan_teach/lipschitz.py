"""Lipschitz constants of networks: the layer-wise product bound and empirical lower estimates.

Introduced in lesson 02 ("Bound a network's Lipschitz constant by its layers' spectral norms");
lesson 04 reuses it on spectrally normalized layers.

The Lipschitz constant of f is the smallest M with ||f(x) - f(y)|| <= M ||x - y|| for all x, y
(Euclidean norms). For a chain f = a_L o g_L o ... o a_1 o g_1 of linear maps g_l(h) = W_l h + b_l
and activations a_l, the paper's eq. 7 bounds it by

    ||f||_Lip <= prod_l ||g_l||_Lip * prod_l ||a_l||_Lip = prod_l sigma(W_l) * prod_l ||a_l||_Lip,

where sigma(W) is the spectral norm (largest singular value) of W. :func:`product_bound`
computes that product exactly (SVD, float64). Any pair of points gives a *lower* bound,
|f(x) - f(y)| / ||x - y|| <= ||f||_Lip, and so does the norm of the gradient wherever f is
differentiable; :func:`input_gradient_norms` and :func:`lipschitz_lower_estimate` compute those.
So for every network: lower estimate <= ||f||_Lip <= product bound.

:func:`make_mlp` builds lesson 02's test networks and :func:`normalize_exactly` divides every
weight by its spectral norm (lesson 02's Step 4); lesson 02 writes both inline, appendix A5
imports them from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from sngan_teach._util import check_generator, check_int, check_module, check_number, eval_mode

__all__ = [
    "make_mlp",
    "normalize_exactly",
    "spectral_norm_exact",
    "conv_unfold_factor",
    "layer_lipschitz",
    "chain_layers",
    "product_bound",
    "input_gradient_norms",
    "lipschitz_lower_estimate",
]

CONV_MODES = ("matrix", "unfold")

# Lipschitz constants of the element-wise activations product_bound recognises, as a function of
# the module (sup_x |a'(x)|, which is the Lipschitz constant of a 1-D function and, applied
# entry by entry, of the vector map).
_ACTIVATIONS: dict[type[nn.Module], Callable[[nn.Module], float]] = {
    nn.ReLU: lambda m: 1.0,
    nn.LeakyReLU: lambda m: max(1.0, abs(m.negative_slope)),
    nn.ELU: lambda m: max(1.0, abs(m.alpha)),
    nn.Tanh: lambda m: 1.0,
    nn.Hardtanh: lambda m: 1.0,
    nn.Sigmoid: lambda m: 0.25,
    nn.Softplus: lambda m: 1.0,
    nn.Identity: lambda m: 1.0,
    nn.Flatten: lambda m: 1.0,
    nn.Unflatten: lambda m: 1.0,
}


def spectral_norm_exact(W: torch.Tensor) -> float:
    """sigma(W), the spectral norm of ``W`` reshaped to ``(W.shape[0], -1)``, by SVD in float64.

    sigma(W) = max_{h != 0} ||W h||_2 / ||h||_2 = the largest singular value of W (paper eq. 6).
    A conv weight of shape (d_out, d_in, k_1, ...) becomes the d_out x (d_in k_1 ...) matrix
    the paper normalizes (Sec. 4); see :func:`product_bound` for what that means for a conv.
    """
    if not isinstance(W, torch.Tensor):
        raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}")
    if W.ndim < 1 or W.numel() == 0:
        raise ValueError(f"W must be a non-empty tensor with ndim >= 1, got shape {tuple(W.shape)}")
    if not (W.is_floating_point() or W.is_complex()):
        raise TypeError(f"W must be a floating-point tensor, got dtype {W.dtype}")
    matrix = W.detach().reshape(W.shape[0], -1).to(torch.float64)
    return torch.linalg.matrix_norm(matrix, ord=2).item()


def conv_unfold_factor(module: nn.Module) -> float:
    """sqrt(prod_d c_d), with c_d = ceil(k_d / (s_d / gcd(s_d, dil_d))) the most patches of a
    zero-padded convolution that any input entry falls into along dimension d.

    A convolution is y = W_mat U(x), where U (unfold, im2col) copies every input entry into
    each patch that covers it, so ||U x||^2 <= (prod_d c_d) ||x||^2 and
    ||conv||_op <= sigma(W_mat) * conv_unfold_factor. With kernel 1 or stride >= kernel the
    factor is 1 and sigma(W_mat) is itself an upper bound.
    """
    if not isinstance(module, nn.modules.conv._ConvNd) or isinstance(
        module, nn.modules.conv._ConvTransposeNd
    ):
        raise TypeError(f"module must be nn.Conv1d/2d/3d, got {type(module).__name__}")
    if module.padding_mode != "zeros":
        raise ValueError(
            f"conv_unfold_factor assumes zero padding, got padding_mode={module.padding_mode!r} "
            "(reflect/replicate/circular padding repeats input entries)"
        )
    count = 1
    for k, s, d in zip(module.kernel_size, module.stride, module.dilation, strict=True):
        period = s // math.gcd(s, d)
        count *= math.ceil(k / period)
    return math.sqrt(count)


def layer_lipschitz(module: nn.Module, conv: str = "matrix") -> float:
    """The Lipschitz constant :func:`product_bound` uses for one layer.

    - ``nn.Linear``: sigma(W), exact (the bias does not change it).
    - ``nn.Conv1d/2d/3d``: ``conv="matrix"`` gives sigma(W reshaped to (d_out, -1)), the
      paper's quantity; ``conv="unfold"`` multiplies it by :func:`conv_unfold_factor`, which
      makes it a true upper bound on the convolution's operator norm.
    - activations: ReLU, Identity, Flatten, Unflatten, Tanh, Hardtanh, Softplus -> 1;
      LeakyReLU(slope) -> max(1, |slope|); ELU(alpha) -> max(1, |alpha|); Sigmoid -> 1/4;
      Dropout in eval mode -> 1.

    Anything else (BatchNorm, pooling, ConvTranspose, attention, custom modules, Dropout in
    training mode) raises ``TypeError``/``ValueError`` instead of guessing.
    """
    if conv not in CONV_MODES:
        raise ValueError(f"conv must be one of {CONV_MODES}, got {conv!r}")
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if isinstance(module, nn.Linear):
        return spectral_norm_exact(module.weight)
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        raise TypeError(
            f"cannot bound {type(module).__name__}: its weight is (d_in, d_out, ...), and "
            "product_bound only handles Linear and Conv1d/2d/3d"
        )
    if isinstance(module, nn.modules.conv._ConvNd):
        sigma = spectral_norm_exact(module.weight)
        return sigma * conv_unfold_factor(module) if conv == "unfold" else sigma
    if isinstance(module, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d):
        if module.training:
            raise ValueError(
                "cannot bound Dropout in training mode (it rescales by 1/(1-p) at random); "
                "call model.eval() first"
            )
        return 1.0
    for kind, constant in _ACTIVATIONS.items():
        if type(module) is kind:
            return float(constant(module))
    raise TypeError(
        f"cannot bound layer {type(module).__name__}: product_bound knows Linear, Conv1d/2d/3d, "
        f"Dropout (eval) and {sorted(k.__name__ for k in _ACTIVATIONS)}"
    )


def chain_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The layers of ``model`` read as a chain: nested ``nn.Sequential``s are flattened in order;
    any other module is one layer. A custom module with sub-modules raises ``TypeError``: its
    ``forward`` could add skips or reuse layers, so it cannot be read as a chain."""
    if isinstance(model, nn.Sequential):
        for child in model:
            yield from chain_layers(child)
        return
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    # A parametrized layer (torch.nn.utils.parametrize) holds its parametrizations as a child.
    has_children = any(name != "parametrizations" for name, _ in model.named_children())
    if has_children:
        raise TypeError(
            f"product_bound needs the network as an nn.Sequential chain of layers; "
            f"{type(model).__name__} has sub-modules and its own forward, which may add skip "
            "connections or reuse layers, so its chain structure cannot be checked"
        )
    yield model


def product_bound(model: nn.Module, *, conv: str = "matrix") -> float:
    """Upper bound on ||model||_Lip (Euclidean norms): prod_l sigma(W_l) * prod_l ||a_l||_Lip
    (paper eq. 7).

    Assumptions, checked where they can be:

    - ``model`` is an ``nn.Sequential`` (nested ones are flattened) or a single layer, and its
      forward applies the layers one after the other (true for ``nn.Sequential``); any other
      module with sub-modules raises ``TypeError``.
    - every layer is one :func:`layer_lipschitz` knows; others raise rather than being
      skipped. Biases are ignored (they do not change a Lipschitz constant).
    - ``Linear`` layers contribute their exact spectral norm, by SVD in float64; the weight is
      read through ``module.weight``, so parametrized (e.g. spectrally normalized) weights are
      bounded as the forward uses them. The model is put in eval mode while the weights are
      read, so power-iteration parametrizations do not advance, then its modes are restored.
    - ``Conv`` layers: with ``conv="matrix"`` (default) the factor is sigma of the weight
      reshaped to (d_out, -1), the quantity the paper normalizes (Sec. 4). That is **not** in
      general an upper bound on the convolution's operator norm (the paper's footnote 3: they
      differ by a factor); e.g. a 1-channel kernel [1, 1, 1] has sigma(W_mat) = sqrt(3) while
      it maps a constant signal to about 3 times itself. With ``conv="unfold"`` each conv
      factor is multiplied by :func:`conv_unfold_factor` and the product is a true bound.

    For a model with only Linear layers and the listed activations the result is a guaranteed
    upper bound, with either ``conv`` mode.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if conv not in CONV_MODES:
        raise ValueError(f"conv must be one of {CONV_MODES}, got {conv!r}")
    layers = list(chain_layers(model))
    # Dropout's mode matters to the bound, so judge it in the mode the caller left it in.
    for layer in layers:
        if isinstance(layer, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d):
            layer_lipschitz(layer, conv)
    if not layers:
        return 1.0
    with eval_mode(model), torch.no_grad():
        factors = [layer_lipschitz(layer, conv) for layer in layers]
    return math.prod(factors)


def make_mlp(
    d_in: int, width: int, depth: int, act: Callable[[], nn.Module] = nn.ReLU
) -> nn.Sequential:
    """``depth`` hidden layers ``Linear(., width)`` each followed by ``act()``, then a linear
    output to one value: ``d_in -> width -> ... -> width -> 1`` (``depth = 0``:
    ``Linear(d_in, 1)``). The networks of lesson 02 and appendix A5; the weights come from
    PyTorch's default initialization, so from the global RNG."""
    check_int("d_in", d_in, 1)
    check_int("width", width, 1)
    check_int("depth", depth, 0)
    if not callable(act):
        raise TypeError(f"act must be callable (a module class), got {type(act).__name__}")
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()]
        d = width
    layers.append(nn.Linear(d, 1))
    return nn.Sequential(*layers)


def normalize_exactly(net: nn.Module) -> nn.Module:
    r"""In place: :math:`W \leftarrow W / \sigma(W)` for every ``Linear`` layer of ``net``, with
    :math:`\sigma(W)` the largest singular value by SVD; returns ``net``.

    The paper's eq. 8 computed exactly (lesson 02, Step 4): afterwards every
    :math:`\sigma(\bar W) = 1`, so with 1-Lipschitz activations :func:`product_bound` is 1.
    Biases are left alone. ``ValueError`` for a layer whose weight is all zeros (no
    :math:`\sigma` to divide by).
    """
    check_module("net", net)
    with torch.no_grad():
        for name, layer in net.named_modules():
            if isinstance(layer, nn.Linear):
                sigma = torch.linalg.svdvals(layer.weight)[0]
                if sigma == 0:
                    raise ValueError(f"layer {name!r} has an all-zero weight, sigma(W) = 0")
                layer.weight /= sigma
    return net


def _check_points(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be a batch of shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    return x


def _scalar_per_sample(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    out = f(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"f must return a torch.Tensor, got {type(out).__name__}")
    if out.numel() != x.shape[0]:
        raise ValueError(
            f"f must return one scalar per sample (N={x.shape[0]} values), got shape "
            f"{tuple(out.shape)}"
        )
    return out.reshape(x.shape[0])


def input_gradient_norms(
    f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Per-sample ||grad_x f(x_i)||_2 for a scalar-output ``f`` applied to a batch ``x``.

    ``x`` has shape (N, ...); ``f(x)`` must hold N values (shape (N,) or (N, 1)). One backward
    pass of sum_i f(x_i) gives every per-sample gradient, which assumes the samples do not
    interact inside ``f`` (true in eval mode; not for BatchNorm in training mode). Wherever f is
    differentiable ||grad f(x)|| <= ||f||_Lip, so the maximum is a lower estimate of it.
    Returns a detached tensor of shape (N,).
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    x = _check_points(x).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = _scalar_per_sample(f, x)
        (grad,) = torch.autograd.grad(out.sum(), x)
    return grad.reshape(x.shape[0], -1).norm(dim=1).detach()


def lipschitz_lower_estimate(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_steps: int = 100,
    lr: float = 0.01,
    generator: torch.Generator | None = None,
) -> float:
    """A lower estimate of ||f||_Lip: the largest of the data gradient norms and of the ratios
    |f(a) - f(b)| / ||a - b|| met during gradient ascent on pairs (a, b).

    Every candidate is a true lower bound (a ratio by definition; a gradient norm wherever f is
    differentiable), so the result never exceeds the Lipschitz constant, up to round-off.
    The pairs start at (x_i, x_pi(i) + 0.1 s eps_i), with pi a random permutation, s the
    standard deviation of ``x`` and eps ~ N(0, I), and Adam (learning rate ``lr``) moves both
    points for ``n_steps`` steps to increase the ratio. Pairs closer than sqrt(machine eps) *
    (1 + ||a|| + ||b||) are not counted, so round-off in f(a) - f(b) cannot inflate a ratio.
    Where f is flat (all-dead ReLUs, saturated units) the ascent gets no gradient and stays
    put, so the estimate can be far below the true constant there. ``generator`` seeds the
    permutation and the noise; with the same seed a larger ``n_steps``
    never gives a smaller estimate. ``n_steps=0`` returns the data gradient norms alone.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    x = _check_points(x)
    check_int("n_steps", n_steps, 0)
    check_number("lr", lr)
    check_generator(generator, allow_none=True)

    best = input_gradient_norms(f, x).max().item()
    if n_steps == 0:
        return best

    n = x.shape[0]
    x = x.detach()
    perm = torch.randperm(n, generator=generator).to(x.device)
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    scale = x.std().item() if x.numel() > 1 else 1.0
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0
    a = x.clone().requires_grad_(True)
    b = (x[perm] + 0.1 * scale * eps).requires_grad_(True)
    opt = torch.optim.Adam([a, b], lr=lr)
    rel = math.sqrt(torch.finfo(x.dtype).eps)
    with torch.enable_grad():
        for step in range(n_steps + 1):
            dist = (a - b).reshape(n, -1).norm(dim=1)
            floor = rel * (
                1 + a.detach().reshape(n, -1).norm(dim=1) + b.detach().reshape(n, -1).norm(dim=1)
            )
            ratio = (_scalar_per_sample(f, a) - _scalar_per_sample(f, b)).abs() / dist.clamp_min(
                floor
            )
            valid = dist.detach() > floor
            if valid.any():
                best = max(best, ratio.detach()[valid].max().item())
            if step == n_steps:
                break
            opt.zero_grad()
            (-ratio.sum()).backward()
            opt.step()
    return best
