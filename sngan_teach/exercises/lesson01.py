"""Exercises of lesson 01 (the optimal discriminator): D* from the two densities, and the
non-saturating generator loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Case, Exercise, Mistake, compare_loss, compare_on, dtype_name, randn


def optimal_D(q, p_G):
    return q / (q + p_G)


Q_P_G_SWAPPED = Mistake(
    "q and p_G swapped",
    "p_G / (q + p_G) is the probability that x was generated, 1 - D*. The discriminator says "
    "how likely x is to be data: D* = q / (q + p_G).",
)
RETURNED_LOGIT = Mistake(
    "the logit f* in place of D*",
    "log q - log p_G is the optimal logit f* (paper eq. 3); the discriminator is its sigmoid, "
    "D* = sigmoid(f*) = q / (q + p_G).",
)
DENSITY_RATIO = Mistake(
    "the density ratio q / p_G",
    "D* divides by q + p_G, which keeps it a probability in (0, 1).",
)


def _judge_optimal_D(answer) -> str:
    cases = []
    for i, (shape, dtype) in enumerate(
        [((7,), torch.float64), ((3, 5), torch.float64), ((50,), torch.float32)]
    ):
        q = randn(*shape, seed=40 + i, dtype=dtype).mul(2).exp()  # positive densities,
        p_G = randn(*shape, seed=50 + i, dtype=dtype).mul(2).exp()  # far from equal
        label = " x ".join(map(str, shape))
        cases.append(Case(f"q and p_G of shape {label}, {dtype_name(dtype)}", (q, p_G), dtype))
    compare_on(
        answer,
        optimal_D,
        cases,
        "D*",
        [
            (Q_P_G_SWAPPED, lambda q, p_G: p_G / (q + p_G)),
            (RETURNED_LOGIT, lambda q, p_G: q.log() - p_G.log()),
            (DENSITY_RATIO, lambda q, p_G: q / p_G),
        ],
    )
    return "Right on 3 pairs of densities you had not seen, of several shapes, float64 and float32."


def ns_generator_loss(d_fake):
    return F.softplus(-d_fake).mean()


MINIMAX = Mistake(
    "the minimax loss",
    "E[log(1 - D(G(z)))] is the original game's generator loss: its gradient is multiplied by "
    "D(G(z)), which vanishes once D is confident (step 4). The non-saturating loss is "
    "-E[log D(G(z))] = E[softplus(-logit)].",
)
SIGN_FLIPPED = Mistake(
    "the sign flipped",
    "E[log D(G(z))] is what the generator wants large; the loss it minimises is its negative.",
)
ON_THE_LOGIT = Mistake(
    "-E[logit]",
    "-E[D(G(z))] on the raw logit is the hinge (and Wasserstein) generator loss of lesson 07; "
    "this one goes through the sigmoid: -log sigmoid(logit) = softplus(-logit).",
)
SUMMED = Mistake(
    "a sum over the batch",
    "The loss is an expectation: average over the batch (.mean()), so that it does not grow "
    "with the batch size.",
)


def _judge_ns_generator_loss(answer) -> str:
    cases = [
        Case("64 logits between -8 and 8, float64", (8 * randn(64, seed=60).tanh(),)),
        Case("logits of shape 16 x 1, float64", (3 * randn(16, 1, seed=61),)),
        Case("100 logits, float32", (2 * randn(100, seed=62, dtype=torch.float32),), torch.float32),
    ]
    compare_loss(
        answer,
        ns_generator_loss,
        cases,
        "loss_G",
        [
            (MINIMAX, lambda d: -F.softplus(d).mean()),
            (SIGN_FLIPPED, lambda d: -F.softplus(-d).mean()),
            (ON_THE_LOGIT, lambda d: -d.mean()),
            (SUMMED, lambda d: F.softplus(-d).sum()),
        ],
    )
    return (
        "Right on 3 batches of logits you had not seen (values and gradients), float64 and float32."
    )


EXERCISES = [
    Exercise(
        name="optimal_D",
        lesson=1,
        task="Write optimal_D(q, p_G) returning the optimal discriminator D*(x) from the two "
        "densities at the same points x (tensors of the same shape).",
        hint_text="Step 1 maximised q log D + p_G log(1 - D) at each x: set the derivative "
        "q / D - p_G / (1 - D) to zero and solve for D. It works entry by entry.",
        reference=optimal_D,
        judge=_judge_optimal_D,
    ),
    Exercise(
        name="ns_generator_loss",
        lesson=1,
        task="Write ns_generator_loss(d_fake) returning the non-saturating generator loss "
        "-E[log D(G(z))] from the discriminator's logits d_fake, as a 0-d tensor.",
        hint_text="D = sigmoid(logit), and -log sigmoid(t) = softplus(-t) "
        "(torch.nn.functional.softplus), which stays finite for any t.\n"
        "Average over the batch with .mean().",
        reference=ns_generator_loss,
        judge=_judge_ns_generator_loss,
    ),
]
