"""Spectral normalization (Miyato et al., ICLR 2018): the layer, ``add_sn``, ``remove_sn`` and the
operator norm of a convolution.

Introduced in lesson 04 ("Build the spectral normalization layer and read its gradient"), which
writes ``W / sigma(W)`` inline first and then proves this module equal to it and to PyTorch's
``torch.nn.utils.parametrizations.spectral_norm``. Lessons 05-10 import it from here.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm as TorchSpectralNorm
from torch.nn.utils.spectral_norm import SpectralNorm as OldTorchSpectralNorm

from sngan_teach._util import check_generator, check_int

__all__ = [
    "SpectralNorm",
    "spectral_norm",
    "add_sn",
    "remove_sn",
    "estimated_sigma",
    "conv_operator_norm",
]

N_WARMUP = 15  # power-iteration steps run once at registration, so sigma starts close
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_SN_TYPES = (nn.Linear, nn.modules.conv._ConvNd)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float32, bfloat16 and float16 are computed in float32."""
    return torch.promote_types(dtype, torch.float32)


class SpectralNorm(nn.Module):
    """The parametrization ``W -> W / sigma(W)`` that ``spectral_norm`` registers (lesson 04).

    It holds the two power-iteration vectors as buffers, ``_u`` (length ``d_out``) and ``_v``
    (length ``d_in``), so they are saved in ``state_dict``, moved by ``.to(device)`` and copied by
    ``deepcopy``. Build it through :func:`spectral_norm`; the constructor takes the weight only to
    size and warm up the vectors.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        n_power_iterations: int = 1,
        eps: float = 1e-12,
        dim: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_int("n_power_iterations", n_power_iterations, 1)
        _check_eps(eps)
        if weight.ndim < 2:
            raise ValueError(
                "spectral_norm needs a weight with at least 2 dimensions, "
                f"got shape {tuple(weight.shape)}"
            )
        if (
            not isinstance(dim, int)
            or isinstance(dim, bool)
            or not -weight.ndim <= dim < weight.ndim
        ):
            raise ValueError(
                f"dim must be an int in [{-weight.ndim}, {weight.ndim - 1}], got {dim!r}"
            )
        self.dim = dim % weight.ndim
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        with torch.no_grad():
            W = self.weight_matrix(weight).to(_compute_dtype(weight.dtype))
            d_out, d_in = W.shape
            u = torch.randn(d_out, generator=generator, dtype=W.dtype)
            v = torch.randn(d_in, generator=generator, dtype=W.dtype)
            u, v = u.to(W.device), v.to(W.device)
            u = F.normalize(u, dim=0, eps=eps)
            v = F.normalize(v, dim=0, eps=eps)
            u, v = _power_iteration(W, v, N_WARMUP, eps)
        self.register_buffer("_u", u.to(weight.dtype))
        self.register_buffer("_v", v.to(weight.dtype))

    def weight_matrix(self, weight: torch.Tensor) -> torch.Tensor:
        """The 2-D view of the weight whose largest singular value is ``sigma``: the output axis
        ``dim`` moved to the front, every other axis flattened (``d_out x d_in*kh*kw``)."""
        if self.dim != 0:
            weight = weight.movedim(self.dim, 0)
        return weight.flatten(1)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # sigma is computed in float32 (float64 for float64 weights) even inside a bf16/fp16
        # autocast region: autocast would otherwise run the matrix-vector products in bf16.
        with torch.autocast(device_type=weight.device.type, enabled=False):
            Wc = weight.to(_compute_dtype(weight.dtype))
            with torch.no_grad():
                W = self.weight_matrix(Wc)
                if self.training:
                    v = self._v.to(W.dtype)
                    for _ in range(self.n_power_iterations - 1):
                        u = F.normalize(W @ v, dim=0, eps=self.eps)
                        v = F.normalize(W.mT @ u, dim=0, eps=self.eps)
                    u = F.normalize(W @ v, dim=0, eps=self.eps)
                    Wt_u = W.mT @ u
                    v = F.normalize(Wt_u, dim=0, eps=self.eps)
                    sigma = torch.dot(Wt_u, v)  # = u^T W v, one matrix-vector product fewer
                    self._u.copy_(u)
                    self._v.copy_(v)
                else:
                    # Eval: no iteration, the stored vectors, cloned because autograd saves
                    # them and a later training forward updates the buffers in place.
                    u = self._u.to(W.dtype, copy=True)
                    v = self._v.to(W.dtype, copy=True)
                    sigma = torch.dot(u, W @ v)
            W_bar = _DivideBySigma.apply(Wc, u, v, sigma, self.dim)
        return W_bar.to(weight.dtype)

    def extra_repr(self) -> str:
        return f"n_power_iterations={self.n_power_iterations}, eps={self.eps}, dim={self.dim}"


class _DivideBySigma(torch.autograd.Function):
    """``W_bar = W / sigma`` with ``sigma = u^T W_mat v`` and ``u``, ``v`` held constant.

    The backward is the paper's eq. 10 written out, ``dL/dW = (G - <G, W_bar> u v^T) / sigma``
    with ``G = dL/dW_bar``: one dot product and one rank-one update, about three passes over
    the weight, where autograd's quotient rule makes about ten. (Second derivatives through the
    weight, which gradient penalties do not need, treat ``sigma`` as a constant.)
    """

    @staticmethod
    def forward(W, u, v, sigma, dim):  # noqa: D102
        return W / sigma

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: D102
        _, u, v, sigma, dim = inputs
        ctx.save_for_backward(output, u, v, sigma)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, G):  # noqa: D102
        W_bar, u, v, sigma = ctx.saved_tensors
        if G.is_contiguous() and W_bar.is_contiguous():
            lam = torch.dot(G.reshape(-1), W_bar.reshape(-1))  # <G, W_bar>, one pass
        else:
            lam = (G * W_bar).sum()
        grad = G / sigma
        grad_mat = grad.movedim(ctx.dim, 0) if ctx.dim else grad
        if grad_mat.is_contiguous():
            grad_mat.view(u.shape[0], -1).addr_(u * (-lam / sigma), v)  # in place, one pass
        else:
            rank_one = torch.outer(u * (lam / sigma), v).view(grad_mat.shape)
            grad = grad - (rank_one.movedim(0, ctx.dim) if ctx.dim else rank_one)
        return grad, None, None, None, None


def _power_iteration(
    W: torch.Tensor, v: torch.Tensor, n: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n >= 1`` steps of ``u <- W v / ||W v||, v <- W^T u / ||W^T u||`` (no autograd)."""
    for _ in range(n):
        u = F.normalize((W @ v), dim=0, eps=eps)
        v = F.normalize((W.mT @ u), dim=0, eps=eps)
    return u, v


def _check_eps(eps: object) -> None:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool):
        raise TypeError(f"eps must be a float, got {type(eps).__name__} {eps!r}")
    if not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")


def spectral_norms(module: nn.Module, name: str = "weight") -> list[SpectralNorm]:
    """The :class:`SpectralNorm` parametrizations on ``module.<name>`` (empty when none)."""
    if not parametrize.is_parametrized(module, name):
        return []
    return [p for p in module.parametrizations[name] if isinstance(p, SpectralNorm)]


def _torch_sn(module: nn.Module, name: str) -> str | None:
    """How to remove PyTorch's own spectral normalization of ``module.<name>``, or None when
    it has none: the older hook (``torch.nn.utils.spectral_norm``) or the parametrization."""
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, OldTorchSpectralNorm) and hook.name == name:
            return f"torch.nn.utils.remove_spectral_norm(module, {name!r})"
    if parametrize.is_parametrized(module, name) and any(
        isinstance(p, TorchSpectralNorm) for p in module.parametrizations[name]
    ):
        return f"torch.nn.utils.parametrize.remove_parametrizations(module, {name!r})"
    return None


def spectral_norm(
    module: nn.Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    r"""Apply spectral normalization to ``module.<name>`` and return ``module`` (lesson 04).

    .. math::

        \bar W_{SN} = \frac{W}{\sigma(W)}, \qquad
        \sigma(W) = \max_{h \ne 0} \frac{\lVert W h \rVert_2}{\lVert h \rVert_2}
                  = \text{largest singular value of } W.

    **Why.** A linear layer ``h -> W h`` is ``sigma(W)``-Lipschitz, so ``W / sigma(W)`` is exactly
    1-Lipschitz; with 1-Lipschitz activations (ReLU, leaky ReLU) the whole discriminator is then
    at most 1-Lipschitz (the product bound of lesson 02). Unlike weight clipping or weight
    normalization this divides by *one* number per layer and leaves the other singular values
    free (lesson 05), and unlike a gradient penalty it costs no extra backward pass.

    **How.** ``sigma`` is estimated by power iteration (paper, Algorithm 1) on the weight seen as
    a matrix ``W`` of shape ``d_out x d_in``: the output axis ``dim`` first, every other axis
    flattened (a ``Conv2d`` kernel ``(out, in, kh, kw)`` becomes ``out x (in*kh*kw)``). The two
    unit vectors ``u`` (length ``d_out``) and ``v`` (length ``d_in``) are stored as buffers
    ``_u``, ``_v`` and recycled from one training step to the next; each step runs
    ``n_power_iterations`` times

        u <- W v / max(||W v||, eps),    v <- W^T u / max(||W^T u||, eps),

    then ``sigma = u^T W v``. Because ``W`` moves little per optimizer step, one iteration per step
    keeps ``u, v`` close to the first singular vectors (the paper uses 1). The iteration runs
    without autograd; ``u`` and ``v`` enter ``sigma`` as constants, so ``d sigma / dW = u v^T``
    and the gradient is the paper's eq. (10), ``dL/dW = (G - <G, W_bar> u v^T) / sigma`` for
    ``G = dL/dW_bar``, which penalizes the first singular direction (eq. 12). The backward
    computes exactly that, one dot product and one rank-one update, instead of letting autograd
    run the quotient rule (same result, fewer passes over the weight; lesson 04 and the tests
    check it against autograd and against PyTorch). Within a step this is Algorithm 1 with the
    two half-steps in the order PyTorch uses (``u`` first, then ``v``), so the layer matches
    PyTorch's output, ``sigma``, ``u`` and ``v`` step for step. At registration the vectors start
    from N(0, I), normalized, and run 15 warm-up iterations.

    **A weight of zeros** has ``sigma = 0``, so ``W / sigma`` is undefined: ``spectral_norm``
    refuses one (initialise the weight first). A weight that becomes all zeros *during*
    training gives NaN, as in PyTorch: the forward has no data-dependent branch to guard it.

    **Train vs eval.** In training mode every forward (every read of ``module.<name>``) runs the
    iteration and updates ``_u``, ``_v`` in place. In eval mode (``module.eval()``) nothing is
    updated and ``sigma = u^T W v`` uses the stored vectors, so evaluation is deterministic and
    repeatable. ``sigma`` is computed in float32 (float64 for float64 weights) even inside a
    bfloat16/float16 ``torch.autocast`` region; the forward has no host synchronisation and no
    data-dependent Python branch, so ``torch.compile(fullgraph=True)`` traces it whole.

    Args:
        module: a module holding the weight, e.g. ``nn.Linear``, ``nn.Conv2d``,
            ``nn.ConvTranspose2d``.
        name: the name of the parameter to normalize. Default ``"weight"``.
        n_power_iterations: power-iteration steps per training forward, ``>= 1``. Default 1.
        eps: guards the normalisation of ``u`` and ``v`` against division by zero; finite, ``> 0``.
            Default ``1e-12``. It does not enter ``sigma`` itself.
        dim: the output axis of the weight. Default ``None``: 1 for ``ConvTranspose1d/2d/3d``
            (whose weight is ``(in, out, kh, kw)``), 0 otherwise.
        generator: optional ``torch.Generator`` (CPU) for the initial ``u`` and ``v``; the global
            generator by default.

    Returns:
        ``module``, with ``module.<name>`` now computed as ``W / sigma(W)`` from the original
        weight ``module.parametrizations.<name>.original``.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``, the named attribute is not a tensor, or an
            argument has the wrong type.
        ValueError: no parameter called ``name``, a weight with fewer than 2 dimensions, a lazy
            (uninitialised) weight, a weight of zeros, a weight already spectrally normalized
            (by this module or by PyTorch: the message says how to remove PyTorch's),
            ``n_power_iterations < 1``, ``eps`` not a finite number ``> 0`` or ``dim`` out of range.

    Example::

        >>> import torch
        >>> from torch import nn
        >>> from sngan_teach.sn import spectral_norm
        >>> _ = torch.manual_seed(0)
        >>> layer = spectral_norm(nn.Linear(20, 40))
        >>> layer
        ParametrizedLinear(
          in_features=20, out_features=40, bias=True
          (parametrizations): ModuleDict(
            (weight): ParametrizationList(
              (0): SpectralNorm(n_power_iterations=1, eps=1e-12, dim=0)
            )
          )
        )
        >>> sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        >>> bool(abs(sigma - 1) < 1e-2)  # the normalized weight has spectral norm ~1
        True
        >>> _ = layer.eval()  # from now on u, v stay fixed and the weight is deterministic
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not hasattr(module, name):
        raise ValueError(f"module {type(module).__name__} has no parameter named {name!r}")
    if spectral_norms(module, name):
        raise ValueError(
            f"{type(module).__name__}.{name} already has spectral normalization; "
            "use remove_sn first to replace it"
        )
    remove = _torch_sn(module, name)
    if remove:
        raise ValueError(
            f"{type(module).__name__}.{name} already has PyTorch's spectral normalization; "
            f"remove it first with {remove}"
        )
    weight = getattr(module, name)
    if not isinstance(weight, torch.Tensor):
        raise TypeError(
            f"{type(module).__name__}.{name} must be a torch.Tensor, got {type(weight).__name__}"
        )
    if isinstance(weight, nn.parameter.UninitializedParameter):
        raise ValueError(
            f"{type(module).__name__}.{name} is uninitialised (a lazy module): "
            "run one forward before spectral_norm"
        )
    if not weight.is_floating_point():
        raise TypeError(
            f"{type(module).__name__}.{name} must be floating point, got {weight.dtype}"
        )
    check_int("n_power_iterations", n_power_iterations, 1)
    _check_eps(eps)
    check_generator(generator, allow_none=True)
    if not weight.is_meta and weight.numel() and not bool(weight.detach().any()):
        raise ValueError(
            f"{type(module).__name__}.{name} is all zeros: sigma(W) = 0 and W / sigma is "
            "undefined; initialise the weight before spectral_norm"
        )
    if dim is None:
        dim = 1 if isinstance(module, _TRANSPOSED) else 0
    sn = SpectralNorm(weight.detach(), n_power_iterations, eps, dim, generator)
    parametrize.register_parametrization(module, name, sn)
    return module


def estimated_sigma(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``sigma = u^T W v`` from the stored vectors and the current original weight, without
    autograd and without updating anything: the value the next eval-mode forward divides by
    (and, until the weight changes, the one the last training forward used). Lesson 04."""
    sns = spectral_norms(module, name)
    if not sns:
        raise ValueError(f"{type(module).__name__}.{name} has no spectral normalization")
    sn = sns[0]
    with torch.no_grad():
        W = sn.weight_matrix(module.parametrizations[name].original)
        W = W.to(_compute_dtype(W.dtype))
        return torch.dot(sn._u.to(W.dtype), W @ sn._v.to(W.dtype))


def add_sn(model: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """Apply :func:`spectral_norm` to the ``weight`` of every ``Linear`` and convolution
    (``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``) in ``model``, in place, and return ``model``.

    Layers whose weight already carries a parametrization (SN or any other) are left alone, so
    calling it twice is harmless; so are layers with PyTorch's older hook-based
    ``torch.nn.utils.spectral_norm``, with a warning that names them and says how to remove it.
    Lesson 04; lessons 05-10 build ``net_D`` with it.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int("n_power_iterations", n_power_iterations, 1)
    _check_eps(eps)
    for layer, module in list(model.named_modules()):
        if not isinstance(module, _SN_TYPES) or parametrize.is_parametrized(module, "weight"):
            continue
        remove = _torch_sn(module, "weight")
        if remove:
            warnings.warn(
                f"add_sn left layer {layer!r} ({type(module).__name__}) as it is: it has "
                f"PyTorch's older spectral normalization; to use this one there, call {remove} "
                "first",
                stacklevel=2,
            )
            continue
        spectral_norm(module, n_power_iterations=n_power_iterations, eps=eps)
    return model


def remove_sn(model: nn.Module) -> nn.Module:
    """Undo :func:`add_sn` / :func:`spectral_norm` everywhere in ``model``, in place, and return it.

    Each spectrally normalized weight becomes a plain parameter again, holding the *normalized*
    weight ``W / sigma`` computed from the stored ``u, v`` (as in eval mode, so no extra power
    iteration runs). The parameter object is kept, so an optimizer built before still points at
    it. Lesson 04.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for module in list(model.modules()):
        if not parametrize.is_parametrized(module):
            continue
        for name in list(module.parametrizations.keys()):
            plist = module.parametrizations[name]
            if not any(isinstance(p, SpectralNorm) for p in plist):
                continue
            if not all(isinstance(p, SpectralNorm) for p in plist):
                raise ValueError(
                    f"{type(module).__name__}.{name} mixes spectral normalization with other "
                    "parametrizations; remove them with torch.nn.utils.parametrize first"
                )
            plist.eval()
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return model


def conv_operator_norm(
    conv: nn.Module,
    input_shape: tuple[int, int, int],
    n_iterations: int = 50,
    generator: torch.Generator | None = None,
) -> float:
    """The largest singular value of a convolution as a linear map on images of shape
    ``input_shape = (C, H, W)`` (the bias left out): ``max ||conv(x)|| / ||x||`` (lesson 04).

    Power iteration on ``A^T A``, where ``A x = conv(x)`` is computed with the layer's own
    padding, stride, dilation and groups (``conv._conv_forward``) and ``A^T y`` is its adjoint,
    obtained by autograd (for zero padding it is ``conv_transpose2d``). This is the Lipschitz
    constant of the layer, which the reshaped-kernel ``sigma`` of SN only approximates (the
    paper's footnote 3). Returns ``||A x_n||`` for the final unit vector ``x_n``: a lower bound
    that rises to the true norm as ``n_iterations`` grows. Works for a spectrally normalized
    conv too (it reads ``W / sigma`` from the stored vectors, without updating them).
    ``ValueError`` when ``input_shape`` is smaller than the (dilated) kernel after padding.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be a torch.nn.Conv2d, got {type(conv).__name__}")
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or not all(isinstance(s, int) and s > 0 for s in input_shape)
    ):
        raise ValueError(f"input_shape must be (C, H, W) of positive ints, got {input_shape!r}")
    if input_shape[0] != conv.in_channels:
        raise ValueError(
            f"input_shape[0] must equal conv.in_channels={conv.in_channels}, got {input_shape[0]}"
        )
    if not isinstance(conv.padding, str):  # "same" fits any size, "valid" is padding 0
        for axis, size, k, pad, dil in zip(
            "HW", input_shape[1:], conv.kernel_size, conv.padding, conv.dilation, strict=True
        ):
            if size + 2 * pad < dil * (k - 1) + 1:
                raise ValueError(
                    f"input_shape {tuple(input_shape)} is smaller than the conv's kernel: "
                    f"{axis} + 2 * padding = {size + 2 * pad} < dilated kernel size "
                    f"{dil * (k - 1) + 1}"
                )
    check_int("n_iterations", n_iterations, 1)
    sns = spectral_norms(conv, "weight")
    modes = [p.training for p in sns]
    try:
        for p in sns:
            p.eval()
        with torch.no_grad():
            weight = conv.weight.detach()
    finally:
        for p, mode in zip(sns, modes, strict=True):
            p.train(mode)
    weight = weight.to(_compute_dtype(weight.dtype))
    x = torch.randn((1, *input_shape), generator=generator, dtype=weight.dtype)
    x = x.to(weight.device)

    def A(t: torch.Tensor) -> torch.Tensor:
        return conv._conv_forward(t, weight, None)

    def AtA(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().requires_grad_(True)
        y = A(t)
        (g,) = torch.autograd.grad(y, t, grad_outputs=y)
        return g

    with torch.enable_grad():
        x = x / x.norm()
        for _ in range(n_iterations):
            x = AtA(x)
            x = x / x.norm().clamp_min(1e-30)
    with torch.no_grad():
        return float(A(x).norm())
