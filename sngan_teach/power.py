"""Power iteration for the spectral norm (the paper's Algorithm 1) and its convergence curves.

Introduced in lesson 03 ("Estimate the spectral norm with power iteration"). The
spectral-normalization layer of lesson 04 (``sngan_teach.sn``) does not call
:func:`power_iteration`: it runs its own step, in PyTorch's order (``u <- W v`` first, then
``v <- W^T u``, with both vectors stored), half a step apart from Algorithm 1's chain.

For a matrix ``W`` (``m x n``) with singular values ``sigma_1 >= sigma_2 >= ...`` and singular
vectors ``u_i`` (length ``m``), ``v_i`` (length ``n``), one step of Algorithm 1 (Miyato et al.,
ICLR 2018, App. A, eqs. 20-21) is

    v <- W^T u / ||W^T u||_2,     u <- W v / ||W v||_2,

and the estimate is ``sigma(W) ~= u^T W v`` (= ``||W v||_2``, so it never exceeds
``sigma_1``). Written in the basis of singular vectors, ``u_0 = sum_i a_i u_i``, after ``k``
steps ``u_k`` is proportional to ``sum_i a_i sigma_i^(2k) u_i`` and ``v_k`` to
``sum_i a_i sigma_i^(2k-1) v_i``. With ``r = sigma_2 / sigma_1`` and ``theta_0`` the angle
between ``u_0`` and ``u_1``, this gives the bounds that the lesson and the tests check:

    tan angle(u_k, u_1) <= r^(2k)     tan theta_0,
    tan angle(v_k, v_1) <= r^(2k-1)   tan theta_0,
    1 - sigma_est / sigma_1 <= r^(4k-2) tan^2 theta_0.

The functions below: :func:`power_iteration` (the algorithm), :func:`random_orthonormal` and
:func:`matrix_with_spectrum` (test matrices ``U diag(s) V^T``), :func:`spectrum_with_gap`,
:func:`convergence_curves` (the numbers behind the sliders) and :func:`show_convergence` (the
slider function: prints one line and draws the curves).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sngan_teach._util import check_int

__all__ = [
    "power_iteration",
    "random_orthonormal",
    "matrix_with_spectrum",
    "spectrum_with_gap",
    "angle",
    "convergence_curves",
    "show_convergence",
    "SHAPES",
]

#: Matrix shapes offered by the lesson's shape slider (rows x columns).
SHAPES: dict[str, tuple[int, int]] = {
    "64 x 64": (64, 64),
    "128 x 32": (128, 32),
    "32 x 128": (32, 128),
    "256 x 256": (256, 256),
    "8 x 512": (8, 512),
}


def _check_matrix(W: object) -> Tensor:
    if not isinstance(W, Tensor):
        raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}")
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (a matrix), got a tensor with shape {tuple(W.shape)}")
    if not W.is_floating_point():
        raise TypeError(f"W must be a floating-point tensor, got dtype {W.dtype}")
    if W.shape[0] == 0 or W.shape[1] == 0:
        raise ValueError(f"W must not be empty, got shape {tuple(W.shape)}")
    return W


def _normalize(x: Tensor, eps: float) -> Tensor:
    """x / max(||x||, eps): the same guard as ``torch.nn.functional.normalize``."""
    return x / x.norm().clamp_min(eps)


def power_iteration(
    W: Tensor,
    u: Tensor | None = None,
    n_iterations: int = 1,
    eps: float = 1e-12,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Estimate the spectral norm ``sigma(W)`` of a matrix by power iteration (Algorithm 1).

    Each of the ``n_iterations`` steps does

        v <- W^T u / max(||W^T u||, eps),   u <- W v / max(||W v||, eps),

    and the result is ``sigma = u^T W v``. The estimate approaches ``sigma_1(W)`` from below;
    the error shrinks like ``(sigma_2 / sigma_1)^(4k)`` and the angles of ``u`` and ``v`` to
    the top singular vectors like ``(sigma_2 / sigma_1)^(2k)`` (see the module docstring).
    Introduced in lesson 03.

    Args:
        W: a 2-D floating-point tensor of shape ``(m, n)``.
        u: the starting left vector, length ``m`` (any non-zero scale). Pass the ``u``
            returned by the previous call to *warm start*, as the paper does across SGD steps.
            ``None`` draws ``u ~ N(0, I)`` with ``generator`` and normalises it.
        n_iterations: number of steps, ``>= 1`` (the paper uses 1 per SGD step).
        eps: ``> 0``; guards the two normalisations against division by zero.
        generator: random generator for the starting ``u`` when ``u`` is ``None``.

    Returns:
        ``(sigma, u, v)``: ``sigma`` a 0-d tensor, ``u`` of length ``m`` and ``v`` of length
        ``n``, both unit vectors. ``u`` and ``v`` are computed without autograd (they are
        constants, as in PyTorch's ``spectral_norm``); ``sigma = u^T W v`` is differentiable in
        ``W`` with gradient ``u v^T`` (the paper's eq. 10). The input ``u`` is not modified.

    Edge cases (documented choices, tested in ``tests/test_power.py``):
        * the zero matrix gives ``sigma = 0`` and zero ``u``, ``v`` (the ``eps`` guard, as in
          PyTorch); a zero ``u`` stays zero, so do not warm start from it;
        * a rank-1 matrix, a ``1 x n`` row and an ``n x 1`` column are exact after one step;
        * the iteration runs on ``W / max|W_ij|`` (``u`` and ``v`` do not depend on the scale),
          so float32 entries near 1e20 or 1e-25 do not overflow or underflow the norms;
        * with a repeated top singular value (``sigma_1 = sigma_2``) ``sigma`` still
          converges, but ``u`` and ``v`` settle on a start-dependent vector of the top
          singular subspace.

    Raises:
        TypeError: ``W`` or ``u`` is not a floating tensor, ``n_iterations`` is not an int.
        ValueError: ``W`` is not 2-D, empty or holds inf or NaN, ``u`` has the wrong shape,
            ``n_iterations < 1``, or ``eps`` is not a finite number ``> 0``.
    """
    W = _check_matrix(W)
    n_iterations = check_int("n_iterations", n_iterations, 1)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps must be a float, got {type(eps).__name__}")
    if not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number > 0, got {eps}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not bool(torch.isfinite(W).all()):
        raise ValueError("W must hold finite numbers, got inf or NaN entries")
    m = W.shape[0]
    if u is None:
        gen_device = generator.device if generator is not None else W.device
        u = torch.randn(m, generator=generator, dtype=W.dtype, device=gen_device).to(W.device)
    else:
        if not isinstance(u, Tensor):
            raise TypeError(f"u must be a torch.Tensor or None, got {type(u).__name__}")
        if not u.is_floating_point():
            raise TypeError(f"u must be a floating-point tensor, got dtype {u.dtype}")
        if tuple(u.shape) != (m,):
            raise ValueError(
                f"u must have shape ({m},) (W has {m} rows), got shape {tuple(u.shape)}"
            )
        u = u.to(dtype=W.dtype, device=W.device)
    with torch.no_grad():
        # max |W_ij| = 1 (a zero W stays zero): the norms below cannot overflow or underflow
        Wd = W.detach() / W.detach().abs().amax().clamp_min(torch.finfo(W.dtype).tiny)
        u = _normalize(u.detach(), eps)
        for _ in range(n_iterations):
            v = _normalize(Wd.T @ u, eps)  # v <- W^T u / ||W^T u||
            u = _normalize(Wd @ v, eps)  # u <- W v / ||W v||
    sigma = torch.dot(u, W @ v)  # sigma ~= u^T W v, differentiable in W
    return sigma, u, v


def random_orthonormal(
    n: int,
    k: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """An ``n x k`` matrix with orthonormal columns, uniformly (Haar) distributed.

    QR of a Gaussian matrix, with the signs of ``R``'s diagonal moved into ``Q`` so that the
    result is Haar-distributed. Introduced in lesson 03.

    Raises:
        ValueError: ``k > n`` or a size below 1.
    """
    n = check_int("n", n, 1)
    k = check_int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be <= n (orthonormal columns), got k={k}, n={n}")
    G = torch.randn(n, k, generator=generator, dtype=dtype)
    Q, R = torch.linalg.qr(G)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1
    return Q * signs


def matrix_with_spectrum(
    singular_values: Tensor | list[float],
    n_rows: int,
    n_cols: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor, Tensor]:
    """A random ``n_rows x n_cols`` matrix ``W = U diag(s) V^T`` with prescribed singular values.

    ``U`` (``n_rows x r``) and ``V`` (``n_cols x r``) have random orthonormal columns
    (:func:`random_orthonormal`), ``r = len(s)``; the singular values of ``W`` are ``s`` padded
    with zeros. Introduced in lesson 03.

    Args:
        singular_values: ``s``, 1-D, non-negative, non-increasing, at most
            ``min(n_rows, n_cols)`` values.
        n_rows, n_cols: the shape of ``W``.
        generator: random generator for ``U`` and ``V``.
        dtype: floating dtype of the result (float64 by default, for exact checks).

    Returns:
        ``(W, U, V)``; ``U[:, 0]`` and ``V[:, 0]`` are the top singular vectors.

    Raises:
        ValueError: ``s`` is empty, not 1-D, negative, increasing or too long.
    """
    n_rows = check_int("n_rows", n_rows, 1)
    n_cols = check_int("n_cols", n_cols, 1)
    s = torch.as_tensor(singular_values, dtype=dtype)
    if s.ndim != 1 or s.numel() == 0:
        raise ValueError(
            f"singular_values must be a non-empty 1-D list, got shape {tuple(s.shape)}"
        )
    if s.numel() > min(n_rows, n_cols):
        raise ValueError(
            f"at most min(n_rows, n_cols) = {min(n_rows, n_cols)} singular values, got {s.numel()}"
        )
    if bool((s < 0).any()):
        raise ValueError(f"singular_values must be >= 0, got {s.tolist()}")
    if bool((s[1:] > s[:-1]).any()):
        raise ValueError(f"singular_values must be non-increasing, got {s.tolist()}")
    r = s.numel()
    U = random_orthonormal(n_rows, r, generator, dtype)
    V = random_orthonormal(n_cols, r, generator, dtype)
    W = (U * s) @ V.T
    return W, U, V


def spectrum_with_gap(n: int, gap: float, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` singular values with ``sigma_1 = 1``, ``sigma_2 = gap`` and the rest falling
    linearly from ``gap`` to ``gap / 10``: the spectral gap ``sigma_2 / sigma_1`` is ``gap``.

    Introduced in lesson 03 (the gap slider). ``n = 1`` gives ``[1]``.

    Raises:
        ValueError: ``n < 1`` or ``gap`` outside ``[0, 1]``.
    """
    n = check_int("n", n, 1)
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0.0 <= gap <= 1.0:
        raise ValueError(f"gap must be a number in [0, 1], got {gap!r}")
    if n == 1:
        return torch.ones(1, dtype=dtype)
    tail = torch.linspace(gap, gap / 10, n - 1, dtype=dtype)
    return torch.cat([torch.ones(1, dtype=dtype), tail])


def angle(a: Tensor, b: Tensor) -> float:
    """The angle in radians, in ``[0, pi/2]``, between the lines spanned by ``a`` and ``b``.

    Signs do not matter (``u`` and ``-u`` are the same singular vector). Computed as
    ``atan2(||a - (a.b) b||, |a.b|)`` on unit vectors, which stays accurate for tiny angles.
    Introduced in lesson 03.
    """
    a = a / a.norm()
    b = b / b.norm()
    c = torch.dot(a, b)
    s = (a - c * b).norm()
    return math.atan2(float(s), abs(float(c)))


def convergence_curves(
    W: Tensor,
    U1: Tensor,
    V1: Tensor,
    sigma_1: float,
    max_iterations: int,
    u0: Tensor,
) -> dict[str, Tensor]:
    """Run power iteration from ``u0`` for ``k = 1..max_iterations`` and record its errors.

    Args:
        W: the matrix; ``U1``, ``V1``: its top singular vectors; ``sigma_1``: its top
            singular value (from an SVD or from :func:`matrix_with_spectrum`).
        max_iterations: the largest ``k``.
        u0: the starting vector.

    Returns:
        A dict of 1-D float64 tensors indexed by ``k - 1``: ``"k"``, ``"sigma"`` (the
        estimate), ``"sigma_rel_error"`` (``(sigma_1 - sigma) / sigma_1``, the signed error;
        power iteration makes it ``>= 0``), ``"angle_u"``, ``"angle_v"`` (radians to
        ``U1``, ``V1``) and ``"angle_u0"`` (a 1-element tensor: the angle of ``u0`` to
        ``U1``). Each step continues from the previous one (warm start), so step ``k`` equals
        ``power_iteration(W, u0, n_iterations=k)``. Introduced in lesson 03.
    """
    W = _check_matrix(W)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    if not sigma_1 > 0:
        raise ValueError(f"sigma_1 must be > 0, got {sigma_1}")
    sigmas, err, ang_u, ang_v = [], [], [], []
    u = u0
    for _ in range(max_iterations):
        sigma, u, v = power_iteration(W, u, n_iterations=1)
        sigmas.append(float(sigma))
        err.append((sigma_1 - float(sigma)) / sigma_1)
        ang_u.append(angle(u, U1))
        ang_v.append(angle(v, V1))
    f64 = torch.float64
    return {
        "k": torch.arange(1, max_iterations + 1, dtype=f64),
        "sigma": torch.tensor(sigmas, dtype=f64),
        "sigma_rel_error": torch.tensor(err, dtype=f64),
        "angle_u": torch.tensor(ang_u, dtype=f64),
        "angle_v": torch.tensor(ang_v, dtype=f64),
        "angle_u0": torch.tensor([angle(u0, U1)], dtype=f64),
    }


def show_convergence(
    n_iterations: int = 5,
    gap: float = 0.8,
    shape: str = "64 x 64",
    seed: int = 0,
    plot: bool = True,
) -> dict[str, Tensor]:
    """The function behind lesson 03's sliders: power iteration on a matrix with a known gap.

    Builds ``W = U diag(s) V^T`` of the chosen ``shape`` (a key of :data:`SHAPES`) with
    ``s = spectrum_with_gap(min(shape), gap)`` from ``seed`` and runs ``n_iterations`` steps of
    power iteration from a random ``u0`` (same seed). When ``plot`` is true it prints one line

        ``after k = 5 iterations: relative sigma error = 1.234e-03``

    and draws the relative sigma error and the angles of ``u``, ``v``
    to the true singular vectors against ``k`` on a log scale, with the theoretical bounds
    ``r^(2k) tan theta_0`` (angle of ``u``) and ``r^(4k-2) tan^2 theta_0`` (sigma error),
    ``r = gap``. Values below 1e-16 are drawn at 1e-16 (float64 round-off).

    Returns the :func:`convergence_curves` dict plus ``"bound_angle_u"`` and
    ``"bound_sigma"``. Introduced in lesson 03.

    Raises:
        ValueError: unknown ``shape``, ``n_iterations < 1``, ``gap`` outside ``[0, 1]``.
    """
    n_iterations = check_int("n_iterations", n_iterations, 1)
    seed = check_int("seed", seed, 0)
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {list(SHAPES)}, got {shape!r}")
    n_rows, n_cols = SHAPES[shape]
    gen = torch.Generator().manual_seed(seed)
    s = spectrum_with_gap(min(n_rows, n_cols), gap)
    W, U, V = matrix_with_spectrum(s, n_rows, n_cols, generator=gen)
    u0 = torch.randn(n_rows, generator=gen, dtype=W.dtype)
    curves = convergence_curves(W, U[:, 0], V[:, 0], 1.0, n_iterations, u0)
    k = curves["k"]
    tan0 = math.tan(float(curves["angle_u0"][0]))
    curves["bound_angle_u"] = gap ** (2 * k) * tan0
    curves["bound_sigma"] = gap ** (4 * k - 2) * tan0**2
    if plot:
        last = float(curves["sigma_rel_error"][-1])
        print(f"after k = {n_iterations} iterations: relative sigma error = {last:.3e}")
        import matplotlib.pyplot as plt

        floor = 1e-16
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.semilogy(k, curves["sigma_rel_error"].clamp_min(floor), "o-", label="sigma error")
        ax.semilogy(k, curves["angle_u"].clamp_min(floor), "s-", label="angle(u, u1)")
        ax.semilogy(k, curves["angle_v"].clamp_min(floor), "^-", label="angle(v, v1)", ms=4)
        ax.semilogy(k, curves["bound_angle_u"].clamp_min(floor), "k--", label="r^(2k) tan(theta_0)")
        ax.semilogy(
            k, curves["bound_sigma"].clamp_min(floor), "k:", label="r^(4k-2) tan^2(theta_0)"
        )
        ax.set_xlabel("power iterations k")
        ax.set_ylabel("relative error / angle (rad)")
        ax.set_title(f"Power iteration on {shape}, gap r = sigma2/sigma1 = {gap:.2f}")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        plt.show()
    return curves
