"""Inception score (IS) and Frechet Inception distance (FID): the math.

Introduced in lesson 08 (on a digit classifier's outputs) and used by lesson 09 on Inception's
(through :mod:`sngan_teach.inception`, which finds, checks and runs the Inception network).
The math is small, so it is written here and tested on known distributions:

* IS of class probabilities ``p(y|x_i)``:  ``exp( mean_i KL(p(y|x_i) || p(y)) )`` with
  ``p(y) = mean_i p(y|x_i)``, computed per split and reported as mean and standard deviation
  over splits (Salimans et al. 2016).
* FID between features ``f_1`` and ``f_2`` with means ``mu_k`` and covariances ``Sigma_k``:
  ``|mu_1 - mu_2|^2 + tr(Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^{1/2})`` (Heusel et al. 2017),
  with the matrix square root from ``scipy.linalg.sqrtm``, in float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

# Paper Table 2, CIFAR-10 (v1 / ICLR numbers): IS mean, IS sd, FID.
PAPER_TABLE2 = {
    "real data": (11.24, 0.12, 7.8),
    "standard CNN, weight norm": (6.84, 0.07, 34.7),
    "standard CNN, SN, standard loss": (7.42, 0.08, 29.3),
    "standard CNN, SN, hinge": (7.58, 0.12, 25.5),
    "ResNet, SN, hinge": (8.22, 0.05, 21.7),
}

# --------------------------------------------------------------------------------------------
# The math
# --------------------------------------------------------------------------------------------


def inception_score_from_probs(
    probs: torch.Tensor | np.ndarray, splits: int = 1
) -> tuple[float, float]:
    """IS of class probabilities ``probs`` (N x K, rows sum to 1), over ``splits`` equal
    consecutive chunks: ``(mean, std)`` of ``exp(mean_i KL(p(y|x_i) || p(y)))``.

    1 <= IS <= K: IS = 1 when every row is the same, IS = K for confident, evenly spread rows.
    """
    p = torch.as_tensor(probs, dtype=torch.float64)
    if p.dim() != 2 or p.shape[0] < 1:
        raise ValueError(f"probs must have shape (N, K), got {tuple(p.shape)}")
    if not isinstance(splits, int) or not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits must be an int in [1, N={p.shape[0]}], got {splits!r}")
    if (p < 0).any() or not torch.allclose(
        p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-6
    ):
        raise ValueError("probs must be non-negative with rows summing to 1")
    n = p.shape[0]
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits : (i + 1) * n // splits]
        marginal = chunk.mean(0, keepdim=True)
        kl = torch.xlogy(chunk, chunk) - torch.xlogy(chunk, marginal)  # 0 log 0 = 0
        scores.append(float(kl.sum(1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_from_logits(logits: torch.Tensor, splits: int = 1) -> tuple[float, float]:
    """IS from classifier logits (softmax in float64 first); see ``inception_score_from_probs``."""
    return inception_score_from_probs(torch.as_tensor(logits).double().softmax(1), splits)


def feature_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N - 1) covariance of N x D features, in float64. ``ValueError`` for
    another shape or for NaN/inf features (a diverged generator's)."""
    f = np.asarray(torch.as_tensor(features).double().cpu().numpy())
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must have shape (N >= 2, D), got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(
            f"features must be finite, got {int((~np.isfinite(f)).sum())} NaN or inf values "
            f"in {f.shape[0]} rows"
        )
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2))``.

    When the product is singular, ``eps * I`` is added to both covariances (as in the TF
    reference code); an imaginary part larger than 1e-3 in the root's diagonal is an error.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = (
        np.atleast_2d(sigma1).astype(np.float64),
        np.atleast_2d(sigma2).astype(np.float64),
    )
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"shapes must match: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, "
            f"sigma2 {sigma2.shape}"
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product (N <= D) is common and handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has a large imaginary part: {np.abs(covmean.imag).max()}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(f1: torch.Tensor | np.ndarray, f2: torch.Tensor | np.ndarray) -> float:
    """FID between two sets of features (N1 x D and N2 x D), each finite
    (:func:`feature_statistics`)."""
    return frechet_distance(*feature_statistics(f1), *feature_statistics(f2))
