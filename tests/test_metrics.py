"""Tests for sngan_teach.metrics: IS and FID math on known distributions, against torch-fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric

from sngan_teach import metrics as M

# ---- Inception score ----------------------------------------------------------------------


def test_is_of_confident_evenly_spread_predictions_is_k():
    k = 7
    probs = torch.eye(k).repeat(30, 1)  # 210 one-hot rows, each class 30 times
    mean, sd = M.inception_score_from_probs(probs, splits=3)
    assert mean == pytest.approx(k, rel=1e-12) and sd == pytest.approx(0, abs=1e-12)


def test_is_of_identical_predictions_is_one():
    probs = torch.softmax(torch.randn(1, 10), 1).repeat(50, 1)
    assert M.inception_score_from_probs(probs)[0] == pytest.approx(1.0, abs=1e-12)


def test_is_closed_form_for_a_two_class_mixture():
    # half the rows (q, 1-q), half (1-q, q): marginal (1/2, 1/2), KL = log 2 - H(q)
    q = 0.9
    probs = torch.tensor([[q, 1 - q], [1 - q, q]], dtype=torch.float64).repeat(10, 1)
    h = -(q * np.log(q) + (1 - q) * np.log(1 - q))
    assert M.inception_score_from_probs(probs)[0] == pytest.approx(np.exp(np.log(2) - h), rel=1e-12)


def test_is_matches_torch_fidelity():
    logits = torch.randn(1000, 12, generator=torch.Generator().manual_seed(0)) * 3
    ours = M.inception_score_from_logits(logits, splits=10)
    theirs = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert ours[0] == pytest.approx(theirs["inception_score_mean"], rel=1e-10)
    assert ours[1] == pytest.approx(theirs["inception_score_std"], rel=1e-8)


def test_is_bad_input():
    with pytest.raises(ValueError, match="splits must be"):
        M.inception_score_from_probs(torch.eye(3), splits=4)
    with pytest.raises(ValueError, match="rows summing to 1"):
        M.inception_score_from_probs(torch.ones(3, 3))
    with pytest.raises(ValueError, match="probs must have shape"):
        M.inception_score_from_probs(torch.ones(3))


# ---- FID ----------------------------------------------------------------------------------


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.5, 2, size=5), rng.uniform(0.5, 2, size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_a_gaussian_with_itself_is_zero():
    a = np.random.default_rng(1).normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu = np.arange(6.0)
    assert M.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)


def test_fid_of_identical_sets_is_zero_and_of_shifted_sets_is_the_shift():
    f = torch.randn(500, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert M.fid_from_features(f, f) == pytest.approx(0, abs=1e-8)
    shift = torch.arange(8, dtype=torch.float64) / 4
    assert M.fid_from_features(f, f + shift) == pytest.approx(float(shift @ shift), rel=1e-8)


def test_fid_of_samples_approaches_the_closed_form():
    gen = torch.Generator().manual_seed(2)
    n, d = 20000, 4
    f1 = torch.randn(n, d, generator=gen, dtype=torch.float64)
    f2 = 1.0 + 2.0 * torch.randn(n, d, generator=gen, dtype=torch.float64)  # N(1, 4 I)
    expected = d * 1.0 + d * (1 + 4 - 2 * 2)  # |mu|^2 + tr(I + 4I - 2 * 2I)
    assert M.fid_from_features(f1, f2) == pytest.approx(expected, rel=0.05)


def test_fid_matches_torch_fidelity():
    gen = torch.Generator().manual_seed(3)
    f1 = torch.randn(400, 16, generator=gen) @ torch.randn(16, 16, generator=gen)
    f2 = torch.randn(300, 16, generator=gen) + 0.5
    theirs = fid_statistics_to_metric(
        fid_features_to_statistics(f1), fid_features_to_statistics(f2), verbose=False
    )["frechet_inception_distance"]
    assert M.fid_from_features(f1, f2) == pytest.approx(theirs, rel=1e-8)


def test_fid_bad_input():
    with pytest.raises(ValueError, match="shapes must match"):
        M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="features must have shape"):
        M.feature_statistics(torch.zeros(1, 3))
    f = np.random.default_rng(0).normal(size=(50, 4))
    broken = f.copy()
    broken[3, 1], broken[7, 0] = np.nan, np.inf
    for f1, f2 in ((broken, f), (f, torch.from_numpy(broken))):
        with pytest.raises(ValueError, match="features must be finite, got 2 NaN or inf values"):
            M.fid_from_features(f1, f2)
