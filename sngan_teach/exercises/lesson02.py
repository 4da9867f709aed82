"""Exercises of lesson 02 (Lipschitz bounds): the spectral norm of any matrix, and the product
bound of a network."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._core import (
    Case,
    Exercise,
    LearnerError,
    Mistake,
    compare_on,
    randn,
)


def sigma_of(W):
    return torch.linalg.matrix_norm(W, ord=2)


SQUARE_ONLY = Mistake(
    "the spectral norm taken as defined for square matrices only",
    "sigma(W) = max ||W h|| / ||h|| needs only the two norms, so every matrix has one, square "
    "or not, and the weights of a network are rarely square. It is the largest singular value.",
)
EIGENVALUE = Mistake(
    "the largest |eigenvalue|",
    "That is the spectral radius, equal to sigma only for symmetric matrices; for a shear it is "
    "far smaller (step 2), and a bound built from it is not a bound.",
)
SQUARED = Mistake(
    "sigma^2",
    "The largest eigenvalue of W^T W (or W W^T) is sigma(W)^2: take its square root.",
)
FROBENIUS = Mistake(
    "the Frobenius norm",
    "||W||_F = sqrt(sum of all sigma_t^2), the default of W.norm() and matrix_norm(W), is "
    "larger than sigma(W) unless W has rank one; pass ord=2 for the spectral norm.",
)


def _judge_sigma_of(answer) -> str:
    shear = torch.tensor([[1.0, 10.0, 0.0], [0.0, 1.0, 10.0], [0.0, 0.0, 1.0]])
    shear = shear.double() + 0.1 * randn(3, 3, seed=70)
    square = [Case("a 3 x 3 shear (not symmetric), float64", (shear,))]
    square.append(Case("a 6 x 6 W, float64", (randn(6, 6, seed=71),)))
    rectangular = [
        Case("a 3 x 7 W (wide), float64", (randn(3, 7, seed=72),)),
        Case("a 7 x 3 W (tall), float64", (randn(7, 3, seed=73),)),
        Case("a 1 x 5 W (one row), float64", (randn(1, 5, seed=74),)),
        Case("a 20 x 12 W, float32", (randn(20, 12, seed=75, dtype=torch.float32),), torch.float32),
    ]
    mistakes = [
        (EIGENVALUE, lambda W: torch.linalg.eigvals(W).abs().max()),
        (SQUARED, lambda W: torch.linalg.matrix_norm(W, ord=2) ** 2),
        (FROBENIUS, lambda W: W.norm()),
        (SQUARE_ONLY, lambda W: _top_square(W)),
    ]
    compare_on(answer, sigma_of, square, "sigma(W)", mistakes)
    try:
        compare_on(answer, sigma_of, rectangular, "sigma(W)", mistakes)
    except LearnerError as failure:  # it worked on square matrices and fails on these
        raise LearnerError(failure.error, failure.where, SQUARE_ONLY) from None
    return (
        "Right on 6 matrices you had not seen: square (one far from symmetric), wide, tall, a "
        "single row, float64 and float32."
    )


def _top_square(W):
    k = min(W.shape)
    return torch.linalg.matrix_norm(W[:k, :k], ord=2)


def lipschitz_bound(net):
    bound = 1.0
    for layer in net:
        if isinstance(layer, nn.Linear):
            bound *= torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
        elif isinstance(layer, nn.Sigmoid):
            bound *= 0.25  # ReLU, leaky ReLU and tanh are 1-Lipschitz
    return bound


SUMMED = Mistake(
    "the layers' norms summed",
    "Composition multiplies Lipschitz constants: ||g_2 o g_1||_Lip <= ||g_2||_Lip ||g_1||_Lip, "
    "so the bound is the product of the sigma(W^l) (paper eq. 7).",
)
NO_ACTIVATION = Mistake(
    "the activations' constant left out",
    "Each activation contributes its own Lipschitz constant: 1 for ReLU, leaky ReLU and tanh, "
    "but 1/4 for the sigmoid (its largest slope, at 0).",
)
ACTIVATION_ONCE = Mistake(
    "the activation's constant counted once",
    "Every hidden layer has its own activation, so its constant enters once per activation in "
    "the chain, not once for the network.",
)
LEAKY_SLOPE = Mistake(
    "the leaky ReLU's negative slope as its constant",
    "A leaky ReLU with slope 0.2 has derivative 0.2 or 1: its Lipschitz constant is the "
    "largest, 1.",
)
FROBENIUS_LAYERS = Mistake(
    "Frobenius norms of the layers",
    "A linear layer's Lipschitz constant is its spectral norm (ord=2), not its Frobenius norm.",
)


def _make_net(widths: list[int], activation: type[nn.Module] | nn.Module, seed: int):
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(widths, widths[1:], strict=False)):
        linear = nn.Linear(d_in, d_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(d_out, d_in, generator=gen, dtype=torch.float64))
            linear.weight.mul_(1.5 / math.sqrt(d_in))
            linear.bias.copy_(torch.randn(d_out, generator=gen, dtype=torch.float64))
        layers.append(linear)
        if i < len(widths) - 2:
            layers.append(activation() if isinstance(activation, type) else activation)
    return nn.Sequential(*layers)


def _constant(activation: nn.Module) -> float:
    return 0.25 if isinstance(activation, nn.Sigmoid) else 1.0


def _variant(net, *, norm=None, combine=math.prod, constant=_constant, once=False) -> float:
    """The bound as a mistaken formula computes it: another norm per layer, another way to
    combine the layers, other constants for the activations, or one activation only."""
    norm = norm or (lambda W: torch.linalg.matrix_norm(W, ord=2).item())
    norms = [norm(m.weight.detach()) for m in net if isinstance(m, nn.Linear)]
    constants = [constant(m) for m in net if not isinstance(m, nn.Linear)]
    return combine(norms) * math.prod(constants[:1] if once else constants)


def _judge_lipschitz_bound(answer) -> str:
    nets = [
        ("an MLP 5 -> 8 -> 8 -> 1 with ReLU", [5, 8, 8, 1], nn.ReLU),
        ("an MLP 4 -> 16 -> 16 -> 16 -> 2 with sigmoids", [4, 16, 16, 16, 2], nn.Sigmoid),
        ("an MLP 3 -> 6 -> 1 with tanh", [3, 6, 1], nn.Tanh),
        (
            "an MLP 6 -> 10 -> 10 -> 1 with leaky ReLU (slope 0.2)",
            [6, 10, 10, 1],
            nn.LeakyReLU(0.2),
        ),
        ("a single Linear layer 7 -> 3", [7, 3], nn.ReLU),
    ]
    cases = [
        Case(label, (_make_net(widths, act, seed=80 + i),))
        for i, (label, widths, act) in enumerate(nets)
    ]
    compare_on(
        answer,
        lipschitz_bound,
        cases,
        "the bound",
        [
            (SUMMED, lambda net: _variant(net, combine=sum)),
            (SUMMED, lambda net: _variant(net, combine=sum, constant=lambda m: 1.0)),
            (NO_ACTIVATION, lambda net: _variant(net, constant=lambda m: 1.0)),
            (ACTIVATION_ONCE, lambda net: _variant(net, once=True)),
            (
                LEAKY_SLOPE,
                lambda net: _variant(
                    net, constant=lambda m: getattr(m, "negative_slope", _constant(m))
                ),
            ),
            (FROBENIUS_LAYERS, lambda net: _variant(net, norm=lambda W: W.norm().item())),
        ],
    )
    return (
        "Right on 5 networks you had not seen: ReLU, sigmoid, tanh and leaky-ReLU MLPs of "
        "several depths, and a single layer."
    )


EXERCISES = [
    Exercise(
        name="sigma_of",
        lesson=2,
        task="Write sigma_of(W) returning the spectral norm sigma(W) of any 2-D tensor W, "
        "square or not.",
        hint_text="sigma(W) is the largest singular value, the largest stretch ||W h|| / ||h||.\n"
        "torch.linalg.svdvals(W) returns the singular values, largest first; "
        "torch.linalg.matrix_norm(W, ord=2) returns the largest directly.",
        reference=sigma_of,
        judge=_judge_sigma_of,
    ),
    Exercise(
        name="lipschitz_bound",
        lesson=2,
        task="Write lipschitz_bound(net) returning the product bound of paper eq. 7 for an "
        "nn.Sequential of Linear layers and ReLU, leaky ReLU, tanh or sigmoid activations.",
        hint_text="Walk the layers in order (for layer in net): each Linear multiplies the "
        "bound by sigma(layer.weight), each activation by its own Lipschitz constant "
        "(step 1's table).\nBiases do not change a Lipschitz constant.",
        reference=lipschitz_bound,
        judge=_judge_lipschitz_bound,
    ),
]
