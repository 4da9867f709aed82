"""Exercises of lesson 08 (robustness with error bars): how many standard errors separate two
cells, and the true spectral norm of the weight an SN layer uses."""

from __future__ import annotations

import math
import statistics

import torch
import torch.nn.functional as F

from ._core import Case, Exercise, Mistake, compare_on, dtype_name, randn


def z_better(fids_a, fids_b):
    se = math.sqrt(
        statistics.variance(fids_a) / len(fids_a) + statistics.variance(fids_b) / len(fids_b)
    )
    return (statistics.fmean(fids_b) - statistics.fmean(fids_a)) / se


SD_NOT_SE = Mistake(
    "standard deviations in place of standard errors",
    "The mean of n runs varies by s / sqrt(n), so the difference of two means has standard "
    "error sqrt(s_a^2 / n_a + s_b^2 / n_b): divide each variance by its number of runs.",
)
POPULATION_SD = Mistake(
    "the population variance",
    "statistics.pvariance divides by n; the seeds are a sample, so use the sample variance "
    "(statistics.variance, or stdev squared), which divides by n - 1.",
)
SIGN_FLIPPED = Mistake(
    "the sign flipped",
    "FID is lower-is-better: a beats b (a positive z) when a's mean FID is below b's, so the "
    "numerator is mean(b) - mean(a).",
)
POOLED = Mistake(
    "the pooled standard deviation",
    "sqrt((s_a^2 + s_b^2) / 2) is a spread of single runs, not of their means: divide each "
    "variance by its number of runs and add them.",
)


def _variant(a, b, *, variance=statistics.variance, per_run=True, sign=1.0, pooled=False):
    if pooled:
        spread = math.sqrt((variance(a) + variance(b)) / 2)
    else:
        spread = math.sqrt(
            variance(a) / (len(a) if per_run else 1) + variance(b) / (len(b) if per_run else 1)
        )
    return sign * (statistics.fmean(b) - statistics.fmean(a)) / spread


def _judge_z_better(answer) -> str:
    gen = torch.Generator().manual_seed(230)

    def fids(n, mean, sd):
        return (mean + sd * torch.randn(n, generator=gen, dtype=torch.float64)).tolist()

    cases = [
        Case("3 FIDs of a (about 40) and 3 of b (about 55)", (fids(3, 40, 5), fids(3, 55, 8))),
        Case("3 FIDs of a and 5 of b, close means", (fids(3, 30, 4), fids(5, 31, 2))),
        Case("4 FIDs of a (about 90) and 2 of b (about 60)", (fids(4, 90, 10), fids(2, 60, 3))),
    ]
    compare_on(
        answer,
        z_better,
        cases,
        "z",
        [
            (SD_NOT_SE, lambda a, b: _variant(a, b, per_run=False)),
            (POPULATION_SD, lambda a, b: _variant(a, b, variance=statistics.pvariance)),
            (SIGN_FLIPPED, lambda a, b: _variant(a, b, sign=-1.0)),
            (POOLED, lambda a, b: _variant(a, b, pooled=True)),
        ],
    )
    return (
        "Right on 3 pairs of cells you had not seen, with equal and unequal numbers of seeds, "
        "either one ahead."
    )


def sigma_of_W_bar(W, u, v):
    return torch.linalg.matrix_norm(W, ord=2) / (u @ W @ v)


INVERTED = Mistake(
    "the ratio inverted",
    "W_bar = W / sigma_hat with sigma_hat = u^T W v, so sigma(W_bar) = sigma(W) / sigma_hat, "
    "at least 1 because sigma_hat <= sigma(W).",
)
ESTIMATE = Mistake(
    "the estimate itself",
    "u^T W v is sigma_hat, what the layer divides by; the question is the spectral norm of "
    "the result, sigma(W / sigma_hat).",
)
ONE = Mistake(
    "exactly 1",
    "W / sigma(W) has spectral norm 1, but the layer divides by its estimate sigma_hat, which "
    "lags below sigma(W): sigma(W_bar) = sigma(W) / sigma_hat >= 1.",
)
SIGMA_W = Mistake(
    "the spectral norm of W",
    "sigma(W) is the norm of the raw weight; the layer uses W_bar = W / (u^T W v).",
)


def _judge_sigma_of_W_bar(answer) -> str:
    cases = []
    for i, (m, n, dtype) in enumerate(
        [
            (6, 4, torch.float64),
            (3, 9, torch.float64),
            (8, 8, torch.float64),
            (20, 12, torch.float32),
        ]
    ):
        W = 3 * randn(m, n, seed=240 + i, dtype=dtype)
        v = F.normalize(randn(n, seed=250 + i, dtype=dtype), dim=0)
        u = F.normalize(W @ v, dim=0)  # one step from a random v: a lagging estimate
        v = F.normalize(W.T @ u, dim=0)
        label = f"a {m} x {n} W with u, v one power-iteration step from random, {dtype_name(dtype)}"
        cases.append(Case(label, (W, u, v), dtype))

    def sigma(W):
        return torch.linalg.matrix_norm(W, ord=2)

    compare_on(
        answer,
        sigma_of_W_bar,
        cases,
        "sigma(W_bar)",
        [
            (INVERTED, lambda W, u, v: (u @ W @ v) / sigma(W)),
            (ESTIMATE, lambda W, u, v: u @ W @ v),
            (ONE, lambda W, u, v: torch.tensor(1.0)),
            (SIGMA_W, lambda W, u, v: sigma(W)),
        ],
    )
    return "Right on 4 layers you had not seen, of several shapes, float64 and float32."


EXERCISES = [
    Exercise(
        name="z_better",
        lesson=8,
        task="Write z_better(fids_a, fids_b) returning how many standard errors of the "
        "difference a's mean FID is below b's: (mean_b - mean_a) / sqrt(s_a^2/n_a + "
        "s_b^2/n_b), with sample standard deviations, for two lists of FIDs.",
        hint_text="statistics.fmean and statistics.variance (which divides by n - 1) do the "
        "work; the standard error of a mean of n runs is s / sqrt(n).",
        reference=z_better,
        judge=_judge_z_better,
    ),
    Exercise(
        name="sigma_of_W_bar",
        lesson=8,
        task="Write sigma_of_W_bar(W, u, v) returning the true spectral norm of the weight an "
        "SN layer uses, W_bar = W / (u^T W v), for its stored unit vectors u, v.",
        hint_text="sigma(W / c) = sigma(W) / c for a number c > 0; "
        "torch.linalg.matrix_norm(W, ord=2) is sigma(W).",
        reference=sigma_of_W_bar,
        judge=_judge_sigma_of_W_bar,
    ),
]
