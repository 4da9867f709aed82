"""Exercises of lesson 06 (the alternatives to SN): the orthonormal penalty, the gradient
penalty at given interpolates, and the spectral norm weight clipping allows."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from ._core import (
    Case,
    Exercise,
    Mistake,
    Wrong,
    as_float64,
    call,
    compare_loss,
    compare_number,
    dtype_name,
    expect_close,
    randn,
    shape_text,
)


def ortho_penalty(W):
    G = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W  # the smaller Gram matrix
    return (G - torch.eye(G.shape[0], dtype=W.dtype)).pow(2).sum()


LARGER_GRAM = Mistake(
    "the larger Gram matrix",
    "For a wide W (d_o < d_i) the literal W^T W - I of eq. (14) is d_i x d_i but W^T W has "
    "rank at most d_o, so the penalty can never go below d_i - d_o (and the other way round "
    "for a tall W). Use the smaller of W W^T and W^T W: its minimum is 0.",
)
NOT_SQUARED = Mistake(
    "the norm, not its square",
    "The penalty is the squared Frobenius norm, the sum of the squared entries of G - I.",
)
NO_IDENTITY = Mistake(
    "I not subtracted",
    "||W^T W||_F^2 is smallest at W = 0; the penalty pulls the Gram matrix towards I.",
)


def _gram_penalty(W, larger=False, squared=True, identity=True):
    wide = W.shape[0] <= W.shape[1]
    G = W @ W.T if wide != larger else W.T @ W
    D = G - torch.eye(G.shape[0], dtype=W.dtype) * identity
    return D.pow(2).sum() if squared else D.norm()


def _judge_ortho_penalty(answer) -> str:
    shapes = [(3, 8, torch.float64), (8, 3, torch.float64), (5, 5, torch.float64)]
    shapes += [(16, 48, torch.float32)]
    cases = [
        Case(
            f"a {m} x {n} W, {dtype_name(dtype)}",
            (randn(m, n, seed=160 + i, dtype=dtype) / math.sqrt(max(m, n)),),
            dtype,
        )
        for i, (m, n, dtype) in enumerate(shapes)
    ]
    compare_loss(
        answer,
        ortho_penalty,
        cases,
        "the penalty",
        [
            (LARGER_GRAM, lambda W: _gram_penalty(W, larger=True)),
            (NOT_SQUARED, lambda W: _gram_penalty(W, squared=False)),
            (NO_IDENTITY, lambda W: _gram_penalty(W, identity=False)),
        ],
    )
    return (
        "Right on 4 matrices you had not seen (wide, tall, square, float64 and float32), "
        "value and gradient."
    )


def gp_at(net_D, real, fake, t):
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(net_D(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


NO_CREATE_GRAPH = Mistake(
    "the input gradient taken without create_graph=True",
    "Then torch.autograd.grad returns it as a constant: the penalty has the right value but "
    "backward() cannot reach net_D's weights, so it trains nothing. The penalty needs a double "
    "backward: torch.autograd.grad(..., create_graph=True).",
)
SQUARED_NORM = Mistake(
    "||grad||^2 in place of ||grad||",
    "The target is a gradient of norm 1: (||grad|| - 1)^2, with the norm itself.",
)
BATCH_NORM = Mistake(
    "one norm over the whole batch",
    "Each sample's gradient must have norm 1: grad.flatten(1).norm(dim=1) gives one norm per "
    "sample, and the penalty is the mean of (norm - 1)^2 over the batch.",
)
DIM1_ONLY = Mistake(
    "the norm over dim 1 only",
    "For images a sample's gradient is all of its C x H x W entries: flatten each sample "
    "first, grad.flatten(1).norm(dim=1).",
)
T_SWAPPED = Mistake(
    "t and 1 - t swapped",
    "The interpolates are x_hat = t * real + (1 - t) * fake.",
)
ONE_SIDED = Mistake(
    "a one-sided penalty",
    "WGAN-GP penalises (||grad|| - 1)^2 on both sides of 1, not only norms above 1.",
)
AT_REAL = Mistake(
    "the penalty at the real samples",
    "WGAN-GP evaluates it at the interpolates x_hat between real and fake samples.",
)
GRAD_OF_MEAN = Mistake(
    "the gradient of the mean",
    "The input gradient of D(x_hat).mean() is each sample's gradient divided by the batch "
    "size; differentiate the sum, D(x_hat).sum(), to get each sample's own gradient.",
)


def _gp_variant(
    net_D, real, fake, t, *, where="between", norm="sample", power=1, side="both", reduce="sum"
):
    """The penalty as a mistaken formula computes it."""
    x_hat = (
        {"between": t * real + (1 - t) * fake, "swapped": t * fake + (1 - t) * real, "real": real}[
            where
        ]
        .detach()
        .requires_grad_(True)
    )
    out = net_D(x_hat)
    (grad,) = torch.autograd.grad(out.sum() if reduce == "sum" else out.mean(), x_hat)
    norms = {"sample": grad.flatten(1).norm(dim=1), "batch": grad.norm(), "dim1": grad.norm(dim=1)}[
        norm
    ] ** power
    excess = norms - 1 if side == "both" else torch.relu(norms - 1)
    return excess.pow(2).mean()


def _critic(layers: list[nn.Module], seed: int) -> nn.Module:
    net = nn.Sequential(*layers).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(2 * torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(p.shape[-1]))
    return net


def _judge_gp_at(answer) -> str:
    cases = [
        (
            "a 2-D critic (MLP with leaky ReLU) and 12 real and fake points",
            _critic(
                [
                    nn.Linear(2, 16),
                    nn.LeakyReLU(0.1),
                    nn.Linear(16, 16),
                    nn.LeakyReLU(0.1),
                    nn.Linear(16, 1),
                ],
                seed=170,
            ),
            (12, 2),
        ),
        (
            "a critic of 1 x 4 x 4 images (flatten, tanh MLP) and 6 real and fake images",
            _critic([nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1)], seed=171),
            (6, 1, 4, 4),
        ),
    ]
    mistakes = [
        (SQUARED_NORM, dict(power=2)),
        (BATCH_NORM, dict(norm="batch")),
        (DIM1_ONLY, dict(norm="dim1")),
        (T_SWAPPED, dict(where="swapped")),
        (ONE_SIDED, dict(side="above")),
        (AT_REAL, dict(where="real")),
        (GRAD_OF_MEAN, dict(reduce="mean")),
    ]
    for i, (where, net, shape) in enumerate(cases):
        real, fake = randn(*shape, seed=180 + i), 0.5 * randn(*shape, seed=190 + i)
        t_shape = (shape[0],) + (1,) * (len(shape) - 1)
        t = torch.rand(t_shape, generator=torch.Generator().manual_seed(200 + i)).double()
        where += f", t of shape {shape_text(t_shape)}, float64"
        params = list(net.parameters())
        expected = gp_at(net, real, fake, t)
        expected_grads = torch.autograd.grad(expected, params, allow_unused=True)
        got = call(answer, net, real.clone(), fake.clone(), t.clone(), where=where, copy=False)
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise Wrong(
                where,
                "the penalty should be a 0-d tensor (one number), got "
                f"{type(got).__name__} {show_shape(got)}",
            )
        expect_close(
            as_float64(got, "the penalty", where),
            expected,
            "the penalty",
            where,
            mistakes=[(m, partial(_gp_variant, net, real, fake, t, **kw)) for m, kw in mistakes],
        )
        if not got.requires_grad:
            raise Wrong(where, "the penalty does not depend on net_D's weights", NO_CREATE_GRAPH)
        grads = torch.autograd.grad(got, params, allow_unused=True)
        for p, g, e in zip(params, grads, expected_grads, strict=True):
            g = torch.zeros_like(p) if g is None else g
            e = torch.zeros_like(p) if e is None else e
            expect_close(
                g.double(), e, "the penalty's gradient with respect to net_D's weights", where
            )
    return (
        "Right on a 2-D critic and an image critic you had not seen: the penalty and its "
        "gradient with respect to the critic's weights."
    )


def show_shape(x: object) -> str:
    return f"of shape {shape_text(x)}" if isinstance(x, torch.Tensor) else ""


c_clip, d_o_clip, d_i_clip = 0.05, 16, 48
CLIP_SIGMA_MAX = c_clip * math.sqrt(d_o_clip * d_i_clip)

NO_ROOT = Mistake(
    "the square root left out",
    "sigma_1(W) <= ||W||_F = sqrt(sum of the squared entries) <= sqrt(d_o d_i c^2).",
)
ONE_ENTRY = Mistake(
    "the bound of one entry",
    "Every entry is at most c, but a matrix stretches a vector by more than its entries: the "
    "sign matrix c s t^T reaches c sqrt(d_o d_i).",
)
ONE_ROW = Mistake(
    "the norm of one row or one column",
    "A row of d_i entries of size c has norm c sqrt(d_i); the whole matrix reaches "
    "c sqrt(d_o d_i), with every row aligned.",
)


def _judge_clip(answer) -> str:
    compare_number(
        answer,
        CLIP_SIGMA_MAX,
        "the largest sigma_1",
        [
            (NO_ROOT, c_clip * d_o_clip * d_i_clip),
            (ONE_ENTRY, c_clip),
            (ONE_ROW, c_clip * math.sqrt(d_i_clip)),
            (ONE_ROW, c_clip * math.sqrt(d_o_clip)),
        ],
    )
    return "Right: c sqrt(d_o d_i) = 0.05 sqrt(16 * 48), reached by a sign matrix."


EXERCISES = [
    Exercise(
        name="ortho_penalty",
        lesson=6,
        task="Write ortho_penalty(W) returning the orthonormal penalty ||G - I||_F^2 of a 2-D "
        "W, with G the smaller of W W^T and W^T W, as a 0-d tensor.",
        hint_text="Compare W.shape[0] and W.shape[1] to pick the Gram matrix; torch.eye(n, "
        "dtype=W.dtype) is I.\nThe squared Frobenius norm is the sum of the squared entries: "
        "(G - I).pow(2).sum().",
        reference=ortho_penalty,
        judge=_judge_ortho_penalty,
    ),
    Exercise(
        name="gp_at",
        lesson=6,
        task="Write gp_at(net_D, real, fake, t) returning the WGAN-GP penalty "
        "mean((||grad_x D(x_hat)|| - 1)^2) at x_hat = t * real + (1 - t) * fake, so that it "
        "trains net_D's weights.",
        hint_text="Make x_hat require grad, take (grad,) = torch.autograd.grad(net_D(x_hat)."
        "sum(), x_hat, create_graph=True), then one norm per sample: grad.flatten(1).norm("
        "dim=1).\ncreate_graph=True is what lets the penalty's backward reach the weights.",
        reference=gp_at,
        judge=_judge_gp_at,
    ),
    Exercise(
        name="clip_sigma_max",
        lesson=6,
        task="A number: the largest spectral norm sigma_1 that a 16 x 48 layer can have when "
        "every weight is clipped to [-c, c] with c = 0.05.",
        hint_text="Step 3: sigma_1(W) <= ||W||_F. How large can the Frobenius norm of a "
        "16 x 48 matrix be when no entry exceeds c in size? A sign matrix c s t^T reaches it.",
        reference=CLIP_SIGMA_MAX,
        judge=_judge_clip,
        kind="number",
        solution_text="c, d_o, d_i = 0.05, 16, 48\n"
        "answer = c * math.sqrt(d_o * d_i)  # sigma_1 <= ||W||_F <= c sqrt(d_o d_i) = 1.3856",
    ),
]
