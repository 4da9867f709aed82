"""A check-up for any PyTorch network: the spectral facts of every Linear and conv layer.

Introduced in lesson 11, which runs it on a conditional digits discriminator, on the CIFAR-10
networks of lesson 09 and on a torchvision classifier, and explains each column. It gathers in
one call what lessons 02-05 compute one at a time::

    from sngan_teach.checkup import checkup, format_checkup

    report = checkup(net_D, x)          # x: an example batch the model accepts
    print(format_checkup(report))

For every ``nn.Linear`` and convolution (``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``), in the
order of ``model.named_modules()``:

- ``sigma``: the largest singular value of the weight *as the forward uses it* (``W / sigma``
  for a spectrally normalized layer), reshaped to the ``d_out x rest`` matrix that spectral
  normalization divides by (paper Sec. 4; :func:`sngan_teach.spectra.layer_singular_values`);
- ``op_norm``: the layer's true operator norm ``max ||A x|| / ||x||`` on the input shape it saw
  in the forward on ``example_input``: ``sigma`` itself for a Linear, power iteration for a
  ``Conv2d`` (:func:`sngan_teach.sn.conv_operator_norm`, lesson 04), NaN for the other
  convolution types and for layers the forward did not call;
- ``sn``: whether the weight is spectrally normalized (this package's ``spectral_norm``,
  ``torch.nn.utils.parametrizations.spectral_norm`` or the older
  ``torch.nn.utils.spectral_norm``);
- ``eff_rank``: the effective rank of the singular values
  (:func:`sngan_teach.spectra.effective_rank`, lesson 05).

And for the network as a whole:

- ``product_bound = prod_l op_norm_l``: an upper bound on the Lipschitz constant (lesson 02)
  *when the network is a chain of these layers with 1-Lipschitz activations in between* (ReLU,
  leaky ReLU with slope <= 1, tanh) and nothing else that scales: no batch norm, no skip
  connection, no layer used twice. The function cannot see the forward's wiring, so it cannot
  check that; for a network outside that family the number is only the product. NaN when a
  layer's ``op_norm`` is NaN.
- ``lower_bound = max_i ||J_f(x_i)||_2``: the largest spectral norm of the network's Jacobian at
  the example inputs (the gradient norm when the output is one number per example; power
  iteration on ``J^T J`` otherwise). Wherever ``f`` is differentiable this is at most its
  Lipschitz constant, so it is a lower bound for *any* network.

The model is run in eval mode (no power-iteration step, batch norm with its running
statistics) and its training flags are restored afterwards.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm as TorchSpectralNorm
from torch.nn.utils.spectral_norm import SpectralNorm as OldTorchSpectralNorm

from sngan_teach._util import eval_mode, weight_layers
from sngan_teach.sn import SpectralNorm, conv_operator_norm
from sngan_teach.spectra import effective_rank, layer_singular_values

__all__ = ["checkup", "format_checkup", "is_spectrally_normalized", "jacobian_norms"]

COLUMNS = ("name", "kind", "sigma", "op_norm", "sn", "eff_rank")


def is_spectrally_normalized(module: nn.Module) -> bool:
    """True when ``module.weight`` is spectrally normalized by :mod:`sngan_teach.sn`, by
    ``torch.nn.utils.parametrizations.spectral_norm`` or by ``torch.nn.utils.spectral_norm``."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if parametrize.is_parametrized(module, "weight"):
        weight_sns = SpectralNorm | TorchSpectralNorm
        return any(isinstance(p, weight_sns) for p in module.parametrizations.weight)
    hooks = module._forward_pre_hooks.values()
    return any(isinstance(hook, OldTorchSpectralNorm) for hook in hooks)


def _split_input(example_input: object) -> tuple[Tensor, tuple]:
    args = example_input if isinstance(example_input, tuple | list) else (example_input,)
    if not args or not isinstance(args[0], Tensor):
        raise TypeError(
            "example_input must be a Tensor or a tuple whose first item is a Tensor, got "
            f"{type(example_input).__name__}"
        )
    x = args[0]
    if not x.is_floating_point():
        raise TypeError(f"example_input must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(
            f"example_input must be a batch of shape (N, ...) with N >= 1, got {tuple(x.shape)}"
        )
    return x, tuple(args[1:])


def _per_sample_unit(t: Tensor) -> Tensor:
    return F.normalize(t.reshape(len(t), -1), dim=1).reshape(t.shape)


def jacobian_norms(
    model: nn.Module,
    example_input: Tensor | tuple,
    n_iterations: int = 30,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per example ``x_i``, the spectral norm of the Jacobian of ``model`` at ``x_i`` with
    respect to ``x_i``, shape (N,), each a lower bound on the model's Lipschitz constant.

    ``example_input`` is a batch ``x`` or a tuple ``(x, *rest)`` (e.g. ``(x, y)`` for a
    conditional discriminator); only ``x`` varies. The output must have one row per example.
    With one output number per example this is ``||grad_x f(x_i)||``; otherwise
    ``n_iterations`` steps of power iteration on ``J^T J``, where ``J v`` comes from the
    backward of a backward (so no ``torch.func`` is needed) and returns ``||J v||`` for the last
    unit ``v``, which rises towards ``||J||_2``. Assumes the examples do not interact (call it in
    eval mode when the model has batch norm). ``generator`` seeds the starting ``v``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    x, rest = _split_input(example_input)
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, int) or n_iterations < 1:
        raise ValueError(f"n_iterations must be an int >= 1, got {n_iterations!r}")
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x, *rest)
        if not isinstance(out, Tensor) or out.ndim < 1 or out.shape[0] != len(x):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"model(example_input) must return a Tensor with one row per example "
                f"({len(x)}), got {shape}"
            )
        out = out.reshape(len(x), -1)
        if out.shape[1] == 1:
            (grad,) = torch.autograd.grad(out.sum(), x)
            return grad.reshape(len(x), -1).norm(dim=1).detach()
        w = torch.zeros_like(out, requires_grad=True)
        (jt_w,) = torch.autograd.grad(out, x, w, create_graph=True)  # J^T w, linear in w
        v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        v = _per_sample_unit(v)
        for _ in range(n_iterations):
            (jv,) = torch.autograd.grad(jt_w, w, v, retain_graph=True)  # J v
            (jt_jv,) = torch.autograd.grad(out, x, jv, retain_graph=True)  # J^T J v
            v = _per_sample_unit(jt_jv)
        (jv,) = torch.autograd.grad(jt_w, w, v, retain_graph=True)
    return jv.norm(dim=1).detach()


def checkup(
    model: nn.Module,
    example_input: Tensor | tuple,
    n_iterations: int = 50,
    seed: int = 0,
) -> dict:
    """Report the spectral facts of every Linear and conv layer of ``model`` and two bounds
    on its Lipschitz constant (see the module docstring for each column). Lesson 11.

    Args:
        model: any ``nn.Module`` with at least one Linear or convolution layer.
        example_input: a batch ``x`` the model accepts, or a tuple ``(x, *rest)`` of positional
            arguments (only ``x`` is differentiated); it also fixes each conv's input shape.
        n_iterations: power-iteration steps for each conv's operator norm and for the
            Jacobian norms, ``>= 1``.
        seed: seeds the starting vectors of those iterations.

    Returns:
        ``{"layers": [row, ...], "product_bound": float, "lower_bound": float}``, each row a
        dict with the keys of :data:`COLUMNS` plus ``"weight_shape"`` and ``"input_shape"``.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, or ``example_input`` is not a
            floating-point Tensor (or a tuple starting with one).
        ValueError: ``example_input`` has no batch axis, the model has no Linear or
            convolution layer, a layer's weight has no entries or holds NaN or inf (the
            message names the layer), ``n_iterations < 1``, or the output has not one row per
            example.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    x, rest = _split_input(example_input)
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, int) or n_iterations < 1:
        raise ValueError(f"n_iterations must be an int >= 1, got {n_iterations!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    layers = weight_layers(model)
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no Linear or convolution layer")
    input_shapes: dict[nn.Module, tuple[int, ...]] = {}

    def remember_shape(module: nn.Module, args: tuple) -> None:
        input_shapes.setdefault(module, tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(remember_shape) for _, m in layers]
    with eval_mode(model):
        try:
            with torch.no_grad():
                model(x, *rest)
        finally:
            for hook in hooks:
                hook.remove()
        spectra = layer_singular_values(model)
        gen = torch.Generator().manual_seed(seed)
        rows = []
        for name, m in layers:
            s = spectra[name]
            sigma = float(s[0])
            shape = input_shapes.get(m)
            if isinstance(m, nn.Linear):
                op_norm = sigma if shape is not None else math.nan
            elif isinstance(m, nn.Conv2d) and shape is not None:
                op_norm = conv_operator_norm(m, shape, n_iterations, generator=gen)
            else:
                op_norm = math.nan
            rows.append(
                {
                    "name": name,
                    "kind": type(m).__name__.removeprefix("Parametrized"),
                    "sigma": sigma,
                    "op_norm": op_norm,
                    "sn": is_spectrally_normalized(m),
                    "eff_rank": effective_rank(s) if float(s[0]) > 0 else 0.0,
                    "weight_shape": tuple(m.weight.shape),
                    "input_shape": shape,
                }
            )
        norms = jacobian_norms(model, (x, *rest), n_iterations, generator=gen)
    return {
        "layers": rows,
        "product_bound": math.prod(row["op_norm"] for row in rows),
        "lower_bound": float(norms.max()),
    }


def format_checkup(report: dict) -> str:
    """The report of :func:`checkup` as a fixed-width table, then the two bounds. ``ValueError``
    for anything else, including a report with no layers (``checkup`` always reports one)."""
    if not isinstance(report, dict) or not {"layers", "product_bound", "lower_bound"} <= set(
        report
    ):
        raise ValueError("report must be the dict that checkup() returns")
    if not report["layers"]:
        raise ValueError("report has no layers: it must be the dict that checkup() returns")
    width = max(len("layer"), *(len(row["name"]) for row in report["layers"]))
    lines = [
        f"{'layer':<{width}}  {'kind':<15} {'sigma':>9} {'op_norm':>9} {'SN':>3} {'eff_rank':>8}"
    ]
    for row in report["layers"]:
        lines.append(
            f"{row['name']:<{width}}  {row['kind']:<15} {row['sigma']:>9.4g} "
            f"{row['op_norm']:>9.4g} {'yes' if row['sn'] else 'no':>3} {row['eff_rank']:>8.3g}"
        )
    lines.append(f"product of the layers' operator norms: {report['product_bound']:.4g}")
    lines.append(
        f"largest Jacobian norm at the examples (lower bound): {report['lower_bound']:.4g}"
    )
    return "\n".join(lines)
