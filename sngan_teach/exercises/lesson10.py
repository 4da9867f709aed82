"""Exercises of lesson 10 (beyond the paper): the projection discriminator's logit, and
conditional batch norm in eval mode."""

from __future__ import annotations

import torch

from ._core import Case, Exercise, Mistake, compare_on, dtype_name, randn


def projection_logit(phi, w_psi, b_psi, E, y):
    return phi @ w_psi + b_psi + (E[y] * phi).sum(dim=1)


NO_PSI = Mistake(
    "psi(phi(x)) left out",
    "D(x, y) = psi(phi(x)) + <e_y, phi(x)>: the label's term is added to the unconditional "
    "logit phi @ w_psi + b_psi, not in place of it.",
)
NO_PROJECTION = Mistake(
    "the label's term left out",
    "Without <e_y, phi(x)> the discriminator ignores y: add (E[y] * phi).sum(dim=1).",
)
EMBEDDING_ALONE = Mistake(
    "e_y added without phi(x)",
    "The label enters through an inner product with the features, <e_y, phi(x)>, not as the "
    "sum of e_y's entries.",
)
ALL_CLASSES = Mistake(
    "every class's embedding summed",
    "phi @ E.T holds <e_c, phi(x)> for every class c; the label picks one of them per sample: "
    "E[y], one row per sample.",
)


def _judge_projection_logit(answer) -> str:
    cases = []
    for i, (n, f, c, dtype) in enumerate(
        [(8, 5, 10, torch.float64), (3, 12, 4, torch.float64), (16, 32, 10, torch.float32)]
    ):
        y = torch.randint(c, (n,), generator=torch.Generator().manual_seed(290 + i))
        args = (
            randn(n, f, seed=300 + i, dtype=dtype),
            randn(f, seed=310 + i, dtype=dtype),
            randn(1, seed=320 + i, dtype=dtype).squeeze(),
            randn(c, f, seed=330 + i, dtype=dtype),
            y,
        )
        where = f"{n} samples of {f} features, {c} classes, {dtype_name(dtype)}"
        cases.append(Case(where, args, dtype))
    compare_on(
        answer,
        projection_logit,
        cases,
        "D(x, y)",
        [
            (NO_PSI, lambda phi, w, b, E, y: (E[y] * phi).sum(dim=1)),
            (NO_PROJECTION, lambda phi, w, b, E, y: phi @ w + b),
            (EMBEDDING_ALONE, lambda phi, w, b, E, y: phi @ w + b + E[y].sum(dim=1)),
            (ALL_CLASSES, lambda phi, w, b, E, y: phi @ w + b + (phi @ E.T).sum(dim=1)),
        ],
    )
    return (
        "Right on 3 batches you had not seen, with 4 and 10 classes and several feature sizes, "
        "float64 and float32."
    )


def cbn_eval(h, y, gamma, beta, running_mean, running_var):
    h_hat = (h - running_mean[None, :, None, None]) / torch.sqrt(
        running_var[None, :, None, None] + 1e-5
    )
    return gamma[y][:, :, None, None] * h_hat + beta[y][:, :, None, None]


BATCH_STATISTICS = Mistake(
    "the batch's statistics in eval mode",
    "In eval mode batch norm normalises with its running mean and variance, so that a sample's "
    "output does not depend on the others in its batch (and a batch of one works).",
)
NO_EPS = Mistake(
    "eps left out",
    "Batch norm divides by sqrt(var + eps), eps = 1e-5, which keeps a channel of tiny "
    "variance finite.",
)
VARIANCE_NOT_SD = Mistake(
    "divided by the variance",
    "Normalise by the standard deviation, sqrt(running_var + eps).",
)
GAMMA_BETA_SWAPPED = Mistake(
    "gamma and beta swapped",
    "gamma_y scales the normalised h and beta_y shifts it: gamma[y] * h_hat + beta[y].",
)


def _cbn_variant(h, y, gamma, beta, mean, var, *, batch=False, eps=1e-5, root=True, swap=False):
    """Conditional batch norm as a mistaken formula computes it."""
    if batch:
        mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
    spread = var[None, :, None, None] + eps
    h_hat = (h - mean[None, :, None, None]) / (spread.sqrt() if root else spread)
    scale, shift = (beta, gamma) if swap else (gamma, beta)
    return scale[y][:, :, None, None] * h_hat + shift[y][:, :, None, None]


def _judge_cbn_eval(answer) -> str:
    cases = []
    for i, (n, ch, c, dtype) in enumerate(
        [(6, 3, 10, torch.float64), (1, 4, 10, torch.float64), (8, 5, 3, torch.float32)]
    ):
        y = torch.randint(c, (n,), generator=torch.Generator().manual_seed(340 + i))
        var = 0.01 + randn(ch, seed=350 + i, dtype=dtype).abs()  # small, so eps shows
        args = (
            2 * randn(n, ch, 4, 4, seed=360 + i, dtype=dtype) + 1,
            y,
            1 + 0.3 * randn(c, ch, seed=370 + i, dtype=dtype),
            0.3 * randn(c, ch, seed=380 + i, dtype=dtype),
            randn(ch, seed=390 + i, dtype=dtype),
            var,
        )
        where = f"a batch of {n} with {ch} channels of 4 x 4, {c} classes, {dtype_name(dtype)}"
        cases.append(Case(where, args, dtype))
    compare_on(
        answer,
        cbn_eval,
        cases,
        "CBN(h, y)",
        [
            (BATCH_STATISTICS, lambda *a: _cbn_variant(*a, batch=True)),
            (NO_EPS, lambda *a: _cbn_variant(*a, eps=0.0)),
            (VARIANCE_NOT_SD, lambda *a: _cbn_variant(*a, root=False)),
            (GAMMA_BETA_SWAPPED, lambda *a: _cbn_variant(*a, swap=True)),
        ],
    )
    return "Right on 3 batches you had not seen, a batch of one included, float64 and float32."


EXERCISES = [
    Exercise(
        name="projection_logit",
        lesson=10,
        task="Write projection_logit(phi, w_psi, b_psi, E, y) returning D(x, y) = "
        "psi(phi(x)) + <e_y, phi(x)> for features phi (N x F), a dense layer psi(h) = "
        "h @ w_psi + b_psi, an embedding E (classes x F) and labels y (N).",
        hint_text="E[y] picks one row e_y per sample (N x F); the inner product with phi is "
        "(E[y] * phi).sum(dim=1). Add psi(phi) = phi @ w_psi + b_psi.",
        reference=projection_logit,
        judge=_judge_projection_logit,
    ),
    Exercise(
        name="cbn_eval",
        lesson=10,
        task="Write cbn_eval(h, y, gamma, beta, running_mean, running_var) returning "
        "conditional batch norm in eval mode for h of shape (N, C, H, W): normalised with the "
        "running statistics (eps = 1e-5), then scaled by gamma[y] and shifted by beta[y].",
        hint_text="Shape the per-channel vectors to (1, C, 1, 1) with [None, :, None, None] "
        "and the per-sample rows gamma[y], beta[y] to (N, C, 1, 1) with [:, :, None, None].\n"
        "h_hat = (h - mean) / sqrt(var + eps), with the running mean and variance.",
        reference=cbn_eval,
        judge=_judge_cbn_eval,
    ),
]
