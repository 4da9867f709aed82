"""Exercises of lesson 09 (CIFAR-10 and its scores): images back to bytes, the Inception score
from class probabilities, and the Frechet distance of two Gaussians."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg

from ._core import (
    Case,
    Exercise,
    Mistake,
    Wrong,
    as_float64,
    call,
    compare_on,
    expect_close,
)


def as_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


TRUNCATED = Mistake(
    "the cast truncates",
    ".to(torch.uint8) drops the fraction, so 254.9 becomes 254: round to the nearest integer "
    "first (.round()).",
)
NO_CLAMP = Mistake(
    "no clamp",
    "A value outside [-1, 1] (G's output can overshoot before tanh saturates, and real "
    "batches may be dequantized) falls outside 0..255 and wraps around in a byte: clamp to "
    "[-1, 1] first.",
)
TIMES_255 = Mistake(
    "x * 255",
    "That maps [-1, 1] to [-255, 255]; shift first: (x + 1) * 127.5 maps it to [0, 255].",
)
TIMES_128 = Mistake(
    "(x + 1) * 128",
    "That sends 1 to 256, which does not fit in a byte; the scale is 255 / 2 = 127.5.",
)


def _judge_as_uint8(answer) -> str:
    gen = torch.Generator().manual_seed(260)
    cases = [
        Case(
            "a 2 x 3 x 4 x 4 batch in [-1, 1], float32",
            (2 * torch.rand(2, 3, 4, 4, generator=gen) - 1,),
            torch.float32,
        ),
        Case(
            "the values -1, 0, 1 and a few between, float32",
            (torch.tensor([-1.0, -0.5, 0.0, 0.3, 0.99, 1.0]),),
            torch.float32,
        ),
        Case(
            "a batch that overshoots [-1, 1] a little, float32",
            (2.4 * torch.rand(1, 3, 4, 4, generator=gen) - 1.2,),
            torch.float32,
        ),
    ]
    exact = {"rtol": 0.0, "atol": 0.0}
    for case in cases:
        (x,) = case.args
        expected = as_uint8(x)
        got = call(answer, x, where=case.where)
        value = as_float64(got, "the bytes", case.where)
        expect_close(
            value,
            expected.double(),
            "the bytes",
            case.where,
            **exact,
            mistakes=[
                (TRUNCATED, lambda x=x: ((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8)),
                (NO_CLAMP, lambda x=x: ((x + 1) * 127.5).round().to(torch.uint8)),
                (TIMES_255, lambda x=x: (x.clamp(-1, 1) * 255).round().to(torch.uint8)),
                (TIMES_128, lambda x=x: ((x.clamp(-1, 1) + 1) * 128).round().to(torch.uint8)),
            ],
        )
        if not isinstance(got, torch.Tensor) or got.dtype != torch.uint8:
            kind = got.dtype if isinstance(got, torch.Tensor) else type(got).__name__
            raise Wrong(
                case.where,
                f"the values are right but of type {kind}: return a "
                "torch.uint8 tensor (.to(torch.uint8))",
            )
    return (
        "Right on 3 batches you had not seen, the ends -1 and 1 and overshooting values included."
    )


def inception_score_of(p):
    p_y = p.mean(axis=0, keepdims=True)  # the marginal p(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - np.log(p_y)), 0.0).sum(axis=1)  # 0 log 0 = 0
    return float(np.exp(kl.mean()))


KL_REVERSED = Mistake(
    "the KL divergence the other way round",
    "IS = exp(E_x KL(p(y|x) || p(y))): the per-image prediction comes first, "
    "sum_y p(y|x) log(p(y|x) / p(y)).",
)
NO_EXP = Mistake(
    "the exponential left out",
    "E_x KL(p(y|x) || p(y)) is the log of the Inception score; IS = exp of it, between 1 and "
    "the number of classes.",
)
EXP_INSIDE = Mistake(
    "exp inside the mean",
    "IS = exp(E_x KL), the exponential of the mean, not the mean of exp(KL) per image.",
)
ZERO_LOG_ZERO = Mistake(
    "NaN from 0 log 0",
    "A confident prediction has probabilities that are exactly 0, and 0 * log 0 is NaN in "
    "floating point; those terms are 0 (np.where(p > 0, ..., 0), or scipy.special.xlogy).",
)
WRONG_MARGINAL = Mistake(
    "p(y) averaged over the classes",
    "The marginal p(y) is the average of the rows p(y|x) over the images (axis 0), a "
    "distribution over the classes.",
)


def _is_variant(p, *, reverse=False, exp="outside", axis=0, safe=True):
    """The Inception score as a mistaken formula computes it."""
    p_y = p.mean(axis=axis, keepdims=True)
    a, b = (p_y, p) if reverse else (p, p_y)
    log_ratio = np.log(a) - np.log(b)
    terms = np.where(a > 0, a * log_ratio, 0.0) if safe else a * log_ratio
    kl = np.broadcast_to(terms, p.shape).sum(axis=1)
    if exp == "none":
        return float(kl.mean())
    return float(np.exp(kl).mean() if exp == "inside" else np.exp(kl.mean()))


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _judge_inception_score_of(answer) -> str:
    rng = np.random.default_rng(270)
    confident = np.tile(np.eye(10), (4, 1))
    confident[:8] = np.eye(10)[[1, 1, 1, 2, 2, 3, 3, 3]]  # unevenly spread classes
    cases = [
        Case(
            "50 images, 10 classes, softmax of random logits (numpy float64)",
            (_softmax(3 * rng.normal(size=(50, 10))),),
        ),
        Case("40 confident predictions (one-hot rows), 10 classes (numpy float64)", (confident,)),
        Case(
            "30 images with the same prediction, 5 classes (numpy float64)",
            (np.tile(_softmax(rng.normal(size=(1, 5))), (30, 1)),),
        ),
        Case(
            "200 images, 20 classes (numpy float32)",
            (_softmax(2 * rng.normal(size=(200, 20))).astype(np.float32),),
            torch.float32,
        ),
    ]
    compare_on(
        answer,
        inception_score_of,
        cases,
        "the Inception score",
        [
            (KL_REVERSED, lambda p: _is_variant(p, reverse=True)),
            (NO_EXP, lambda p: _is_variant(p, exp="none")),
            (EXP_INSIDE, lambda p: _is_variant(p, exp="inside")),
            (ZERO_LOG_ZERO, lambda p: _is_variant(p, safe=False)),
            (WRONG_MARGINAL, lambda p: _is_variant(p, axis=1)),
        ],
    )
    return (
        "Right on 4 sets of predictions you had not seen: random, confident (with zeros), all "
        "alike, and float32."
    )


def fid_of_gaussians(mu1, sigma1, mu2, sigma2):
    covmean = linalg.sqrtm(sigma1 @ sigma2).real  # the matrix square root
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * np.trace(covmean))


ELEMENTWISE_SQRT = Mistake(
    "an element-wise square root",
    "np.sqrt(sigma1 @ sigma2) takes the root of every entry; (Sigma_1 Sigma_2)^(1/2) is the "
    "matrix square root, scipy.linalg.sqrtm. They agree on diagonal covariances only, which "
    "is how this version survives.",
)
ROOTS_SEPARATELY = Mistake(
    "the roots taken separately",
    "sqrtm(sigma1) @ sqrtm(sigma2) is not (Sigma_1 Sigma_2)^(1/2) unless the two covariances "
    "commute; take sqrtm of the product.",
)
NO_TWO = Mistake(
    "the factor 2 left out",
    "The covariance term is tr(Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^(1/2)).",
)
MEAN_NOT_SQUARED = Mistake(
    "||mu_1 - mu_2|| not squared",
    "The mean term is the squared distance ||mu_1 - mu_2||^2.",
)


def _fid_variant(mu1, s1, mu2, s2, *, root="matrix", two=2.0, squared=True):
    """The Frechet distance as a mistaken formula computes it."""
    if root == "matrix":
        covmean = linalg.sqrtm(s1 @ s2).real
    elif root == "entries":
        covmean = np.sqrt(np.abs(s1 @ s2))
    else:
        covmean = linalg.sqrtm(s1).real @ linalg.sqrtm(s2).real
    d = np.sum((mu1 - mu2) ** 2)
    return float((d if squared else np.sqrt(d)) + np.trace(s1 + s2) - two * np.trace(covmean))


def _judge_fid_of_gaussians(answer) -> str:
    rng = np.random.default_rng(280)

    def gaussian(d):
        A = rng.normal(size=(d, d))
        return rng.normal(size=d), A @ A.T + np.eye(d)

    (m1, s1), (m2, s2) = gaussian(4), gaussian(4)
    (m3, s3), (m4, s4) = gaussian(6), gaussian(6)
    d1, d2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    loose = {"rtol": 1e-6, "atol": 1e-8}  # sqrtm algorithms agree to about 1e-10
    cases = [
        Case("two correlated Gaussians in 4 dimensions", (m1, s1, m2, s2), tol=loose),
        Case("two correlated Gaussians in 6 dimensions", (m3, s3, m4, s4), tol=loose),
        Case(
            "two Gaussians with diagonal covariances, 5 dimensions",
            (rng.normal(size=5), np.diag(d1), rng.normal(size=5), np.diag(d2)),
            tol=loose,
        ),
        Case(
            "a Gaussian and itself, 4 dimensions (FID 0)",
            (m1, s1, m1, s1),
            tol={"rtol": 0.0, "atol": 1e-6},
        ),
    ]
    compare_on(
        answer,
        fid_of_gaussians,
        cases,
        "the FID",
        [
            (ELEMENTWISE_SQRT, lambda *a: _fid_variant(*a, root="entries")),
            (ROOTS_SEPARATELY, lambda *a: _fid_variant(*a, root="separate")),
            (NO_TWO, lambda *a: _fid_variant(*a, two=1.0)),
            (MEAN_NOT_SQUARED, lambda *a: _fid_variant(*a, squared=False)),
        ],
    )
    return (
        "Right on 4 pairs of Gaussians you had not seen: correlated, diagonal, and identical "
        "(numpy float64)."
    )


EXERCISES = [
    Exercise(
        name="as_uint8",
        lesson=9,
        task="Write as_uint8(x) mapping images in [-1, 1] to bytes 0..255 as the scores need "
        "them: clamp to [-1, 1], scale to [0, 255], round to the nearest integer, as "
        "torch.uint8.",
        hint_text="(x.clamp(-1, 1) + 1) * 127.5 is in [0, 255]; .round() before .to(torch.uint8), "
        "because the cast alone truncates.",
        reference=as_uint8,
        judge=_judge_as_uint8,
    ),
    Exercise(
        name="inception_score_of",
        lesson=9,
        task="Write inception_score_of(p) returning exp(E_x KL(p(y|x) || p(y))) for a numpy "
        "array p of class probabilities (one row per image, rows summing to 1).",
        hint_text="p(y) = p.mean(axis=0): the average prediction. Per image, KL = sum_y "
        "p log(p / p(y)), with 0 log 0 = 0 (np.where(p > 0, ..., 0)). Then exp of the mean "
        "over images.",
        reference=inception_score_of,
        judge=_judge_inception_score_of,
    ),
    Exercise(
        name="fid_of_gaussians",
        lesson=9,
        task="Write fid_of_gaussians(mu1, sigma1, mu2, sigma2) returning ||mu1 - mu2||^2 + "
        "tr(Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^(1/2)) for numpy means and covariances.",
        hint_text="The square root is a matrix square root: scipy.linalg.sqrtm(sigma1 @ sigma2), "
        "whose result may carry a tiny imaginary part (take .real).",
        reference=fid_of_gaussians,
        judge=_judge_fid_of_gaussians,
    ),
]
