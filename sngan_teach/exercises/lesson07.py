"""Exercises of lesson 07 (toy GANs): the discriminator's hinge loss, and the mode divergence."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._core import Case, Exercise, Mistake, compare_loss, compare_on, randn


def d_hinge_loss(real_logits, fake_logits):
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


WRITEUP_SIGN = Mistake(
    "the real term's sign flipped",
    "This is the popular write-up's objective, E[max(0, 1 - D(x))] - E[max(0, 1 + D(G(z)))]: "
    "in eq. (16) both terms carry a minus sign, min(0, -1 + t) = -max(0, 1 - t). Minimised, "
    "it pushes D(x) down.",
)
MAX_MIN_FLIPPED = Mistake(
    "max and min flipped",
    "E[min(0, -1 + D(x))] + E[min(0, -1 - D(G(z)))] is the paper's eq. (16), an objective "
    "that D *maximises*; minimised as it stands, D learns backwards. The loss to minimise is "
    "its negative, E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].",
)
REAL_FAKE_SWAPPED = Mistake(
    "real and fake swapped",
    "The margin pushes D(x) above +1 on real data and D(G(z)) below -1 on fakes: "
    "max(0, 1 - real) and max(0, 1 + fake).",
)
NO_HINGE = Mistake(
    "no max(0, .)",
    "Without the hinge the loss is the Wasserstein one plus 2: it keeps pushing logits that "
    "are already past the margin. Clamp each term with relu (max(0, .)).",
)
SUMMED = Mistake(
    "sums in place of means",
    "Each term is an expectation over its batch: .mean(), so that the loss does not grow with "
    "the batch size.",
)
POOLED = Mistake(
    "one mean over real and fake together",
    "Each term is its own expectation: average the real terms over the real batch and the fake "
    "terms over the fake batch, then add the two means.",
)


def _judge_d_hinge_loss(answer) -> str:
    cases = [
        Case(
            "16 real and 16 fake logits of shape N x 1, float64",
            (2 * randn(16, 1, seed=210), 2 * randn(16, 1, seed=211)),
        ),
        Case(
            "12 real and 20 fake logits of shape N, float64",
            (2 * randn(12, seed=212) + 0.5, 2 * randn(20, seed=213) - 0.5),
        ),
        Case(
            "64 real and 64 fake logits, float32",
            (
                2 * randn(64, seed=214, dtype=torch.float32),
                2 * randn(64, seed=215, dtype=torch.float32),
            ),
            torch.float32,
        ),
    ]
    compare_loss(
        answer,
        d_hinge_loss,
        cases,
        "loss_D",
        [
            (WRITEUP_SIGN, lambda r, f: -(F.relu(1 - r).mean() - F.relu(1 + f).mean())),
            (MAX_MIN_FLIPPED, lambda r, f: -d_hinge_loss(r, f)),
            (REAL_FAKE_SWAPPED, lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean()),
            (NO_HINGE, lambda r, f: (1 - r).mean() + (1 + f).mean()),
            (SUMMED, lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum()),
            (
                POOLED,
                lambda r, f: torch.cat([F.relu(1 - r).flatten(), F.relu(1 + f).flatten()]).mean(),
            ),
        ],
    )
    return (
        "Right on 3 batches you had not seen (shapes N x 1 and N, batches of unequal sizes, "
        "float64 and float32), value and gradient."
    )


def kl_to_uniform(counts):
    p = counts[counts > 0].double() / counts.sum()  # 0 log 0 counts as 0
    return (p * torch.log(p * len(counts))).sum()


REVERSED = Mistake(
    "the other direction, KL(U || p)",
    "sum_j (1/M) log(1 / (M p_j)) is infinite as soon as one mode is empty. The metric is "
    "KL(p || U) = sum_j p_j log(M p_j), which is log M when one mode takes everything.",
)
NO_M = Mistake(
    "M left out",
    "sum_j p_j log p_j is minus the entropy of p; KL(p || U) = sum_j p_j log(p_j / (1/M)) = "
    "log M - H(p), 0 when every mode gets the same share.",
)
RAW_COUNTS = Mistake(
    "the counts in place of the shares",
    "p_j = counts_j / (sum of the counts): the shares of the high-quality samples, which sum to 1.",
)
EMPTY_MODES_NAN = Mistake(
    "NaN from the empty modes",
    "An empty mode has p_j = 0, and 0 * log 0 is NaN in floating point; its term is 0, so keep "
    "only the modes with p_j > 0 (or use torch.xlogy).",
)


def _judge_kl_to_uniform(answer) -> str:
    gen = torch.Generator().manual_seed(220)
    some_empty = torch.randint(0, 40, (25,), generator=gen)
    some_empty[[3, 7, 8, 20]] = 0
    loose = {"rtol": 1e-5, "atol": 1e-6}  # counts / counts.sum() is float32, and right
    cases = [
        Case("counts of 8 modes, none empty", (torch.randint(5, 60, (8,), generator=gen),)),
        Case("counts of 25 modes, 4 of them empty", (some_empty,)),
        Case("counts of 10 modes, all in one", (torch.tensor([0] * 6 + [37] + [0] * 3),)),
        Case("counts of 5 equal modes", (torch.full((5,), 9),)),
    ]
    cases = [Case(c.where, c.args, tol=loose) for c in cases]

    def shares(c):
        return c.double() / c.sum()

    compare_on(
        answer,
        kl_to_uniform,
        cases,
        "KL(p || U)",
        [
            (REVERSED, lambda c: (1 / len(c) * torch.log(1 / (len(c) * shares(c)))).sum()),
            (NO_M, lambda c: (shares(c)[c > 0] * shares(c)[c > 0].log()).sum()),
            (RAW_COUNTS, lambda c: (c[c > 0] * torch.log(c[c > 0] * len(c))).double().sum()),
            (EMPTY_MODES_NAN, lambda c: (shares(c) * torch.log(shares(c) * len(c))).sum()),
        ],
    )
    return (
        "Right on 4 histograms you had not seen: no empty mode, some empty, one mode only, "
        f"all equal (0 and log M = {math.log(10):.3f} where it should be)."
    )


EXERCISES = [
    Exercise(
        name="d_hinge_loss",
        lesson=7,
        task="Write d_hinge_loss(real_logits, fake_logits) returning the discriminator's hinge "
        "loss to minimise, mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), as a 0-d tensor.",
        hint_text="Two means, one per batch: F.relu(1 - real_logits).mean() for the real "
        "logits and F.relu(1 + fake_logits).mean() for the fakes; add them.\nThe paper's "
        "eq. (16) is the objective D maximises: its negative is the loss.",
        reference=d_hinge_loss,
        judge=_judge_d_hinge_loss,
    ),
    Exercise(
        name="kl_to_uniform",
        lesson=7,
        task="Write kl_to_uniform(counts) returning KL(p || U) = sum_j p_j log(M p_j) for a "
        "1-D tensor of M mode counts (p = counts / their sum; empty modes allowed).",
        hint_text="p = counts / counts.sum(); the modes with p_j = 0 contribute 0, so keep "
        "p[p > 0] before taking logs; M is len(counts), empty modes included.",
        reference=kl_to_uniform,
        judge=_judge_kl_to_uniform,
    ),
]
