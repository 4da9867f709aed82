"""Exercises of lesson 05 (weight normalization): W_bar_WN, and the effective rank."""

from __future__ import annotations

import torch

from ._core import Case, Exercise, Mistake, compare_on, dtype_name, randn


def wn_weight(W):
    return W / W.norm(dim=1, keepdim=True)


COLUMNS = Mistake(
    "the columns normalised",
    "W.norm(dim=0) is the norm of each column (an input unit). Weight normalization makes each "
    "row w_i (the weights of one output unit) a unit vector: W.norm(dim=1, keepdim=True). With "
    "columns the budget sum_t sigma_t^2 becomes d_i instead of d_o.",
)
WHOLE_MATRIX = Mistake(
    "the whole matrix divided by one norm",
    "W / ||W||_F has Frobenius norm 1, but its rows are not unit vectors: each row is divided "
    "by its own norm.",
)
SQUARED_NORM = Mistake(
    "each row divided by its squared norm",
    "w_i / ||w_i||^2 has norm 1 / ||w_i||; divide by the norm itself.",
)
SPECTRAL = Mistake(
    "spectral normalization",
    "W / sigma(W) is the paper's SN; weight normalization divides every row by its own norm.",
)


def _judge_wn_weight(answer) -> str:
    shapes = [(4, 9, torch.float64), (9, 4, torch.float64), (5, 5, torch.float64)]
    shapes += [(16, 48, torch.float32)]
    cases = [
        Case(
            f"a {m} x {n} W ({dtype_name(dtype)}) with rows of different norms",
            (randn(m, n, seed=140 + i, dtype=dtype) * torch.arange(1.0, m + 1)[:, None].to(dtype),),
            dtype,
        )
        for i, (m, n, dtype) in enumerate(shapes)
    ]
    compare_on(
        answer,
        wn_weight,
        cases,
        "W_bar_WN",
        [
            (COLUMNS, lambda W: W / W.norm(dim=0, keepdim=True)),
            (WHOLE_MATRIX, lambda W: W / W.norm()),
            (SQUARED_NORM, lambda W: W / W.pow(2).sum(dim=1, keepdim=True)),
            (SPECTRAL, lambda W: W / torch.linalg.matrix_norm(W, ord=2)),
        ],
    )
    return "Right on 4 matrices you had not seen: wide, tall, square, float64 and float32."


def effective_rank_of(s):
    p = s.pow(2) / s.pow(2).sum()
    p = p[p > 0]  # 0 log 0 counts as 0
    return torch.exp(-(p * p.log()).sum())


UNSQUARED = Mistake(
    "sigma_t in place of sigma_t^2",
    "That is Roy and Vetterli's original effective rank. Here p_t = sigma_t^2 / sum_k "
    "sigma_k^2: the share of the budget ||W||_F^2 spent on direction t.",
)
ENTROPY = Mistake(
    "the entropy, not its exponential",
    "H = -sum_t p_t log p_t is 0 for a rank-one matrix; the effective rank is exp(H), which is "
    "1 there and r for r equal singular values.",
)
ZERO_LOG_ZERO = Mistake(
    "NaN from 0 log 0",
    "A singular value of 0 gives p_t = 0 and 0 * log 0 = NaN in floating point; the term is 0 "
    "by continuity, so drop the zeros first (p = p[p > 0]) or use torch.xlogy(p, p).",
)
NOT_NORMALISED = Mistake(
    "p_t not normalised",
    "Divide the squared singular values by their sum, so that the p_t sum to 1.",
)


def _judge_effective_rank_of(answer) -> str:
    cases = [
        Case("6 singular values, not sorted, float64", (randn(6, seed=150).abs() + 0.1,)),
        Case(
            "singular values with zeros, [2, 1, 0, 0.5, 0], float64",
            (torch.tensor([2.0, 1.0, 0.0, 0.5, 0.0], dtype=torch.float64),),
        ),
        Case(
            "a rank-one spectrum [3, 0, 0], float64",
            (torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64),),
        ),
        Case("five equal singular values, float64", (torch.full((5,), 0.7, dtype=torch.float64),)),
        Case(
            "20 singular values, float32",
            (randn(20, seed=151, dtype=torch.float32).abs() + 0.01,),
            torch.float32,
        ),
    ]

    compare_on(
        answer,
        effective_rank_of,
        cases,
        "the effective rank",
        [
            (UNSQUARED, lambda s: effective_rank_of(s.sqrt())),
            (ENTROPY, lambda s: effective_rank_of(s).log()),
            (ZERO_LOG_ZERO, lambda s: _exp_entropy(s.pow(2) / s.pow(2).sum(), drop_zeros=False)),
            (NOT_NORMALISED, lambda s: _exp_entropy(s.pow(2))),
        ],
    )
    return (
        "Right on 5 spectra you had not seen: unsorted, with zeros, rank one, flat, float64 and "
        "float32."
    )


def _exp_entropy(p, drop_zeros=True):
    """exp(-sum p log p) of weights p as a mistaken formula has them."""
    p = p[p > 0] if drop_zeros else p
    return torch.exp(-(p * p.log()).sum())


EXERCISES = [
    Exercise(
        name="wn_weight",
        lesson=5,
        task="Write wn_weight(W) returning the weight-normalized matrix W_bar_WN (without "
        "gamma): each row of W divided by its own norm.",
        hint_text="A row w_i holds the weights of output unit i. W.norm(dim=1, keepdim=True) is "
        "the column of row norms, shaped to divide W row by row.",
        reference=wn_weight,
        judge=_judge_wn_weight,
    ),
    Exercise(
        name="effective_rank_of",
        lesson=5,
        task="Write effective_rank_of(s) returning exp(-sum_t p_t log p_t) with "
        "p_t = s_t^2 / sum_k s_k^2, for a 1-D tensor s of singular values (zeros allowed).",
        hint_text="Square, divide by the sum, keep the p_t > 0 (0 log 0 counts as 0), then "
        "torch.exp of minus the sum of p * p.log().",
        reference=effective_rank_of,
        judge=_judge_effective_rank_of,
    ),
]
