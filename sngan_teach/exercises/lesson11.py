"""Exercises of lesson 11 (singular values during training): one cheap step of the sigma_0
tracker."""

from __future__ import annotations

import torch

from ._core import Case, Exercise, Mistake, compare_on, dtype_name, randn


def sigma0_step(W, v):
    u = W @ v
    u = u / u.norm()
    return (W.T @ u).norm()


BEFORE_THE_STEP = Mistake(
    "the estimate before the step",
    "||W v|| is the estimate from the stored v; the tracker first takes the step, "
    "u = W v / ||W v||, and reports sigma = ||W^T u||, which is never smaller.",
)
U_NOT_NORMALISED = Mistake(
    "u not normalised",
    "u = W v / ||W v|| must be a unit vector, or ||W^T u|| is scaled by ||W v||.",
)
SQUARED = Mistake(
    "sigma squared",
    "sigma = ||W^T u|| itself, not its square: ||W^T u||^2 estimates sigma^2.",
)


def _judge_sigma0_step(answer) -> str:
    cases = []
    for i, (m, n, dtype) in enumerate(
        [(5, 9, torch.float64), (12, 4, torch.float64), (32, 64, torch.float32)]
    ):
        W = 2 * randn(m, n, seed=400 + i, dtype=dtype)
        v = randn(n, seed=410 + i, dtype=dtype)
        where = f"a {m} x {n} W, {dtype_name(dtype)}"
        cases.append(Case(where, (W, v / v.norm()), dtype))
    compare_on(
        answer,
        sigma0_step,
        cases,
        "sigma",
        [
            (BEFORE_THE_STEP, lambda W, v: (W @ v).norm()),
            (U_NOT_NORMALISED, lambda W, v: (W.T @ (W @ v)).norm()),
            (SQUARED, lambda W, v: sigma0_step(W, v) ** 2),
        ],
    )
    return "Right on 3 matrices you had not seen, wide and tall, float64 and float32."


EXERCISES = [
    Exercise(
        name="sigma0_step",
        lesson=11,
        task="Write sigma0_step(W, v) returning the tracker's estimate of sigma_0 after one "
        "power-iteration step from the stored unit vector v: u = W v / ||W v||, then "
        "sigma = ||W^T u||, as a 0-d tensor.",
        hint_text="Two matrix-vector products: u = W @ v, normalised; then (W.T @ u).norm().",
        reference=sigma0_step,
        judge=_judge_sigma0_step,
    ),
]
