"""Exercises of lesson 03 (power iteration): one step of Algorithm 1, and W divided by sigma."""

from __future__ import annotations

import torch
from torch import Tensor

from ._core import (
    Case,
    Exercise,
    Mistake,
    Wrong,
    as_float64,
    call,
    compare_on,
    dtype_name,
    expect_close,
    randn,
    tolerance,
)


def power_step(W, u):
    v = W.T @ u
    v = v / v.norm()
    u = W @ v
    u = u / u.norm()
    return u, v


def _unit(x: Tensor) -> Tensor:
    return x / x.norm()


U_FROM_W_T = Mistake(
    "u <- W^T v",
    "The second half step multiplies by W, not W^T: u = W v / ||W v||. On a symmetric W the "
    "two agree, which is how this slip survives; on a rectangular W it has the wrong shape.",
)
V_FROM_NEW_U = Mistake(
    "v computed from the new u",
    "That is PyTorch's order (u first, then v from it), half a step ahead. Algorithm 1 "
    "returns the v that produced u_new: v = W^T u / ||W^T u|| with the u you were given.",
)
U_FIRST = Mistake(
    "the half steps swapped",
    "The step starts from u, so its first half is v = W^T u / ||W^T u|| (a vector of length "
    "d_in); u = W v / ||W v|| comes second.",
)
PAIR_SWAPPED = Mistake("(v, u) returned", "Return the pair in the order (u_new, v_new).")
NOT_NORMALISED = Mistake(
    "not normalised",
    "Each half step divides by the norm of what it just computed, so u_new and v_new are unit "
    "vectors; without it their length grows or shrinks like sigma^k.",
)


def _judge_power_step(answer) -> str:
    cases = [
        ("a 5 x 5 W that is not symmetric", 5, 5, 11, torch.float64),
        ("a 7 x 3 W (tall)", 7, 3, 12, torch.float64),
        ("a 3 x 8 W (wide)", 3, 8, 13, torch.float64),
        ("a 1 x 6 W (one row)", 1, 6, 14, torch.float64),
        ("a 6 x 6 W scaled by 100", 6, 6, 15, torch.float64),
        ("a 40 x 25 W in float32", 40, 25, 16, torch.float32),
    ]
    for label, m, n, seed, dtype in cases:
        W = randn(m, n, seed=seed, dtype=dtype) * (100 if "100" in label else 1)
        u = 3 * randn(m, seed=seed + 100, dtype=dtype)  # not unit: the step normalises
        where = f"{label}, {dtype_name(dtype)}, and a random u"
        u_ref, v_ref = power_step(W, u)
        got = call(answer, W, u, where=where)
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise Wrong(where, f"expected a pair (u_new, v_new), got {type(got).__name__}")
        u_got, v_got = (
            as_float64(x, name, where) for x, name in zip(got, ("u_new", "v_new"), strict=True)
        )
        tol = tolerance(dtype)
        _named_if_parallel(u_got, u_ref, "u_new", where, tol)
        _named_if_parallel(v_got, v_ref, "v_new", where, tol)
        v_1 = _unit(W.T @ u)
        expect_close(
            u_got,
            u_ref,
            "u_new",
            where,
            **tol,
            mistakes=[
                (U_FROM_W_T, lambda W=W, v_1=v_1: _unit(W.T @ v_1)),
                (U_FIRST, lambda W=W, u=u: _unit(W @ u)),
                (PAIR_SWAPPED, lambda v_ref=v_ref: v_ref),
            ],
        )
        expect_close(
            v_got,
            v_ref,
            "v_new",
            where,
            **tol,
            mistakes=[
                (V_FROM_NEW_U, lambda W=W, u_ref=u_ref: _unit(W.T @ u_ref)),
                (U_FIRST, lambda W=W, u=u: _unit(W.T @ _unit(W @ u))),
                (PAIR_SWAPPED, lambda u_ref=u_ref: u_ref),
            ],
        )
    return (
        "Right on 6 matrices you had not seen: square (not symmetric), tall, wide, a single row, "
        "a large scale, in float64 and float32."
    )


def _named_if_parallel(got: Tensor, ref: Tensor, what: str, where: str, tol: dict) -> None:
    """Name "not normalised" when ``got`` points along ``ref`` with a length other than 1."""
    ref = ref.detach().double()
    if got.shape != ref.shape or got.norm() == 0 or abs(got.norm().item() - 1) < 1e-3:
        return
    if torch.allclose(got / got.norm(), ref, **tol):
        raise Wrong(where, f"||{what}|| = {got.norm().item():.6g}, expected 1", NOT_NORMALISED)


def normalize_by_sigma(W):
    return W / torch.linalg.matrix_norm(W, ord=2)


SIGMA_SQUARED = Mistake(
    "dividing by sigma^2",
    "W / sigma(W)^2 has spectral norm 1 / sigma(W), not 1: the layer's Lipschitz bound would "
    "then drift with the scale of W. Divide by sigma(W) once (paper eq. 8).",
)
FROBENIUS = Mistake(
    "dividing by the Frobenius norm",
    "||W||_F = sqrt(sum_t sigma_t^2) is at least sigma(W), so W / ||W||_F has spectral norm "
    "below 1. Divide by the largest singular value, torch.linalg.matrix_norm(W, ord=2).",
)
SPECTRAL_RADIUS = Mistake(
    "the largest |eigenvalue| in place of sigma",
    "The spectral radius of a square W that is not symmetric can be far below sigma(W); the "
    "spectral norm is the largest singular value.",
)
LARGEST_ENTRY = Mistake(
    "dividing by the largest entry",
    "max |W_ij| is at most sigma(W); the matrix can stretch a vector more than any one entry.",
)


def _judge_normalize_by_sigma(answer) -> str:
    shapes = [(6, 6, torch.float64), (9, 4, torch.float64), (4, 9, torch.float64)]
    shapes += [(12, 20, torch.float32)]
    cases = []
    for i, (m, n, dtype) in enumerate(shapes):
        W = 7 * randn(m, n, seed=30 + i, dtype=dtype)  # sigma far from 1, so sigma^2 shows
        cases.append(
            Case(f"a {m} x {n} W with sigma(W) far from 1, {dtype_name(dtype)}", (W,), dtype)
        )
    compare_on(
        answer,
        normalize_by_sigma,
        cases,
        "W / sigma(W)",
        [
            (SIGMA_SQUARED, lambda W: W / torch.linalg.matrix_norm(W, ord=2) ** 2),
            (FROBENIUS, lambda W: W / W.norm()),
            (SPECTRAL_RADIUS, lambda W: W / torch.linalg.eigvals(W).abs().max()),
            (LARGEST_ENTRY, lambda W: W / W.abs().max()),
        ],
    )
    return "Right on 4 matrices you had not seen: square, tall and wide, float64 and float32."


EXERCISES = [
    Exercise(
        name="power_step",
        lesson=3,
        task="Write power_step(W, u) returning (u_new, v_new) after one step of Algorithm 1: "
        "v = W^T u / ||W^T u||, then u = W v / ||W v||.",
        hint_text="Two half steps, each a matrix-vector product followed by a division by the "
        "norm of its result: first with W.T (from u to v), then with W (from v to u).\n"
        "Return them as a tuple: return u, v.",
        reference=power_step,
        judge=_judge_power_step,
    ),
    Exercise(
        name="normalize_by_sigma",
        lesson=3,
        task="Write normalize_by_sigma(W) returning W divided by its spectral norm sigma(W) "
        "(paper eq. 8), for any 2-D W.",
        hint_text="sigma(W) is the largest singular value: torch.linalg.svdvals(W)[0], or "
        "torch.linalg.matrix_norm(W, ord=2). Divide by it once.",
        reference=normalize_by_sigma,
        judge=_judge_normalize_by_sigma,
    ),
]
