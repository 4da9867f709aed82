"""Exercises of lesson 04 (the SN layer): one training forward of W / sigma(W) with u, v kept
out of autograd, and sigma of a convolution kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def sn_weight(W, u, v):
    with torch.no_grad():  # the power iteration is not differentiated
        u = F.normalize(W @ v, dim=0)
        v = F.normalize(W.T @ u, dim=0)
    sigma = u @ W @ v
    return W / sigma, u, v


NOT_DETACHED = Mistake(
    "u and v carry gradients",
    "The power-iteration step must run without autograd (under torch.no_grad(), or on "
    "W.detach()). Otherwise backward() differentiates through the iteration, which is not the "
    "gradient of eq. 10, and the stored u, v keep the whole graph of every step alive.",
)
ALGORITHM1_ORDER = Mistake(
    "v updated first",
    "That is Algorithm 1's order, which stores u alone. This layer stores u and v as PyTorch "
    "does and updates u first: u = W v / ||W v||, then v = W^T u / ||W^T u||.",
)
NO_STEP = Mistake(
    "no power-iteration step",
    "u and v came back unchanged: in training mode each forward runs one step, so that sigma "
    "follows W as it trains.",
)
OLD_VECTORS = Mistake(
    "sigma from the old u, v",
    "Divide by sigma = u^T W v with the vectors this step just computed.",
)
SIGMA_SQUARED = Mistake(
    "dividing by sigma^2",
    "W / sigma^2 has spectral norm 1 / sigma: divide by sigma once (paper eq. 8).",
)
EXACT_SIGMA = Mistake(
    "the exact sigma(W) in place of the estimate",
    "The layer divides by its power-iteration estimate sigma = u^T W v; an SVD at every step "
    "is what power iteration avoids.",
)
SIGMA_CONSTANT = Mistake(
    "sigma treated as a constant",
    "With sigma detached (or taken with .item()) the gradient is G / sigma and loses the term "
    "-<G, W_bar> u v^T / sigma of eq. 10: the layer no longer knows its output is divided by "
    "sigma. Keep sigma = u @ W @ v in the graph; only u and v are constants.",
)


def _judge_sn_weight(answer) -> str:
    cases = [
        ("a 6 x 4 W", 6, 4, torch.float64),
        ("a 3 x 8 W", 3, 8, torch.float64),
        ("a 5 x 5 W", 5, 5, torch.float64),
        ("a 10 x 7 W in float32", 10, 7, torch.float32),
    ]
    for i, (label, m, n, dtype) in enumerate(cases):
        W0 = 2 * randn(m, n, seed=90 + i, dtype=dtype)
        u0 = F.normalize(randn(m, seed=100 + i, dtype=dtype), dim=0)
        v0 = F.normalize(randn(n, seed=110 + i, dtype=dtype), dim=0)
        G = randn(m, n, seed=120 + i, dtype=dtype)
        where = f"{label} ({dtype_name(dtype)}) that requires grad, and random unit u, v"
        tol = tolerance(dtype)
        W_ref = W0.clone().requires_grad_(True)
        W_bar_ref, u_ref, v_ref = sn_weight(W_ref, u0, v0)
        W_bar_ref.backward(G)
        W = W0.clone().requires_grad_(True)
        got = call(answer, W, u0.clone(), v0.clone(), where=where, copy=False)
        if not isinstance(got, tuple | list) or len(got) != 3:
            raise Wrong(where, f"expected a triple (W_bar, u, v), got {type(got).__name__}")
        W_bar, u, v = got
        for x, name in ((W_bar, "W_bar"), (u, "u"), (v, "v")):
            if not isinstance(x, torch.Tensor):
                raise Wrong(where, f"{name} is a {type(x).__name__}; expected a tensor")
        if u.requires_grad or v.requires_grad:
            raise Wrong(where, "the returned u or v requires grad", NOT_DETACHED)
        u_alg1 = F.normalize(W0 @ F.normalize(W0.T @ u0, dim=0), dim=0)
        expect_close(
            as_float64(u, "u", where),
            u_ref,
            "u",
            where,
            **tol,
            mistakes=[
                (ALGORITHM1_ORDER, lambda u_alg1=u_alg1: u_alg1),
                (NO_STEP, lambda u0=u0: u0),
            ],
        )
        expect_close(
            as_float64(v, "v", where),
            v_ref,
            "v",
            where,
            **tol,
            mistakes=[(NO_STEP, lambda v0=v0: v0)],
        )
        sigma = (u_ref @ W0 @ v_ref).detach()
        expect_close(
            as_float64(W_bar, "W_bar", where),
            W_bar_ref,
            "W_bar",
            where,
            **tol,
            mistakes=[
                (SIGMA_SQUARED, lambda W0=W0, s=sigma: W0 / s**2),
                (OLD_VECTORS, lambda W0=W0, u0=u0, v0=v0: W0 / (u0 @ W0 @ v0)),
                (EXACT_SIGMA, lambda W0=W0: W0 / torch.linalg.matrix_norm(W0, ord=2)),
            ],
        )
        if not W_bar.requires_grad:
            raise Wrong(
                where,
                "W_bar does not require grad: the layer's weight must stay "
                "differentiable with respect to W",
            )
        W_bar.backward(G)
        if W.grad is None:
            raise Wrong(where, "backward() through W_bar gave W no gradient")
        expect_close(
            as_float64(W.grad, "dL/dW", where),
            W_ref.grad,
            "dL/dW for L = <G, W_bar>",
            where,
            **tol,
            mistakes=[(SIGMA_CONSTANT, lambda G=G, s=sigma: G / s)],
        )
    return (
        "Right on 4 weights you had not seen (tall, wide, square, float64 and float32): W_bar, "
        "u, v, and the gradient of eq. 10 with u, v held constant."
    )


def conv_sigma(weight):
    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2)


def _sigma(matrix: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(matrix, ord=2)


INPUT_ROWS = Mistake(
    "the input channels as rows",
    "weight.transpose(0, 1) (or weight.reshape(d_in, -1)) puts the input channels on the rows. "
    "SN normalizes the d_out x (d_in k_h k_w) matrix: one row per output channel, "
    "weight.reshape(weight.shape[0], -1).",
)
KERNEL_COLUMNS = Mistake(
    "one row per (output, input) pair of channels",
    "weight.reshape(-1, k_h * k_w) makes a (d_out d_in) x (k_h k_w) matrix. The rows must be "
    "the d_out output channels, each holding all of its d_in k_h k_w weights.",
)
POSITION_ROWS = Mistake(
    "the kernel positions with the output channels",
    "A (d_out k_h k_w) x d_in matrix mixes the kernel's positions into the rows; they belong "
    "with the input channels in the columns: weight.reshape(weight.shape[0], -1).",
)
SLICES = Mistake(
    "the largest sigma of the k_h x k_w slices",
    "sigma of each weight[:, :, i, j] is the norm of one kernel position alone; SN takes sigma "
    "of the whole kernel reshaped to d_out x (d_in k_h k_w).",
)
FROBENIUS = Mistake(
    "the Frobenius norm of the kernel",
    "weight.norm() is the norm of all entries together, an upper bound on sigma; SN divides by "
    "the largest singular value of the reshaped matrix.",
)


def _judge_conv_sigma(answer) -> str:
    shapes = [(6, 3, 3, 3), (4, 8, 3, 3), (5, 2, 4, 4), (3, 5, 2, 3)]
    cases = [
        Case(
            f"a kernel of shape {' x '.join(map(str, s))} (d_out x d_in x k_h x k_w), float64",
            (randn(*s, seed=130 + i),),
        )
        for i, s in enumerate(shapes)
    ]
    cases.append(
        Case(
            "a 16 x 8 x 3 x 3 kernel, float32",
            (randn(16, 8, 3, 3, seed=135, dtype=torch.float32),),
            torch.float32,
        )
    )
    compare_on(
        answer,
        conv_sigma,
        cases,
        "sigma of the reshaped kernel",
        [
            (INPUT_ROWS, lambda w: _sigma(w.transpose(0, 1).reshape(w.shape[1], -1))),
            (INPUT_ROWS, lambda w: _sigma(w.reshape(w.shape[1], -1))),
            (KERNEL_COLUMNS, lambda w: _sigma(w.reshape(-1, w.shape[2] * w.shape[3]))),
            (POSITION_ROWS, lambda w: _sigma(w.permute(0, 2, 3, 1).reshape(-1, w.shape[1]))),
            (SLICES, lambda w: _sigma(w.permute(2, 3, 0, 1)).max()),
            (FROBENIUS, lambda w: w.norm()),
        ],
    )
    return (
        "Right on 5 kernels you had not seen, with d_out above and below d_in and non-square "
        "kernels, float64 and float32."
    )


EXERCISES = [
    Exercise(
        name="sn_weight",
        lesson=4,
        task="Write sn_weight(W, u, v) returning (W_bar, u, v) for one training forward of the "
        "SN layer: u = W v / ||W v||, v = W^T u / ||W^T u|| without autograd, then "
        "W_bar = W / (u^T W v).",
        hint_text="Run the two normalisations inside `with torch.no_grad():` (F.normalize(x, "
        "dim=0) divides by the norm).\nThen, outside it, sigma = u @ W @ v and return "
        "W / sigma, u, v: sigma stays in the graph through W, u and v do not.",
        reference=sn_weight,
        judge=_judge_sn_weight,
    ),
    Exercise(
        name="conv_sigma",
        lesson=4,
        task="Write conv_sigma(weight) returning the sigma that SN normalizes for a Conv2d "
        "kernel of shape (d_out, d_in, k_h, k_w).",
        hint_text="Reshape the kernel to a matrix with one row per output channel (d_out rows, "
        "d_in k_h k_w columns), then take its largest singular value.",
        reference=conv_sigma,
        judge=_judge_conv_sigma,
    ),
]
