"""Tests for sngan_teach.densities (lesson 01)."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from sngan_teach import densities as dn  # noqa: E402


def test_gaussian_log_prob_matches_torch_distributions():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    expected = torch.distributions.Normal(0.7, 1.3).log_prob(x)
    torch.testing.assert_close(dn.gaussian_log_prob(x, 0.7, 1.3), expected)


def test_mixture_log_prob_matches_torch_mixture_and_integrates_to_one():
    means, stds, weights = [-1.0, 2.0], [0.5, 0.8], [0.3, 0.7]
    x = torch.linspace(-8, 10, 4001, dtype=torch.float64)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor(weights, dtype=torch.float64)),
        torch.distributions.Normal(
            torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)
        ),
    )
    got = dn.mixture_log_prob(x, means, stds, weights)
    torch.testing.assert_close(got, mix.log_prob(x))
    assert torch.trapezoid(got.exp(), x).item() == pytest.approx(1.0, abs=1e-6)


def test_mixture_log_prob_finite_far_in_the_tails():
    x = torch.tensor([-200.0, 200.0], dtype=torch.float64)
    assert torch.isfinite(dn.mixture_log_prob(x, [0.0, 1.0], [0.1, 0.1])).all()


def test_mixture_sample_moments_and_reproducibility():
    means, stds, weights = [-2.0, 3.0], [0.5, 1.0], [0.25, 0.75]
    g = torch.Generator().manual_seed(0)
    x = dn.mixture_sample(200_000, means, stds, weights, generator=g, dtype=torch.float64)
    assert x.shape == (200_000, 1)
    mean = sum(w * m for w, m in zip(weights, means, strict=True))
    second = sum(w * (s**2 + m**2) for w, m, s in zip(weights, means, stds, strict=True))
    assert x.mean().item() == pytest.approx(mean, abs=0.02)
    assert x.var().item() == pytest.approx(second - mean**2, rel=0.02)
    a = dn.mixture_sample(10, means, stds, weights, generator=torch.Generator().manual_seed(3))
    b = dn.mixture_sample(10, means, stds, weights, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_optimal_discriminator_is_q_over_q_plus_p():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    lq = dn.mixture_log_prob(x, [-1.0, 1.0], [0.4, 0.6])
    lp = dn.gaussian_log_prob(x, 0.5, 1.0)
    q, p = lq.exp(), lp.exp()
    torch.testing.assert_close(dn.optimal_discriminator(lq, lp), q / (q + p))
    torch.testing.assert_close(dn.optimal_logit(lq, lp), torch.log(q) - torch.log(p))


def test_optimal_discriminator_maximises_the_value_pointwise():
    # For each x, D -> q log D + p log(1 - D) peaks at D* = q / (q + p).
    lq, lp = torch.tensor([math.log(0.3)]), torch.tensor([math.log(0.1)])
    d_star = dn.optimal_discriminator(lq, lp).item()
    grid = torch.linspace(1e-4, 1 - 1e-4, 10001, dtype=torch.float64)
    value = 0.3 * torch.log(grid) + 0.1 * torch.log1p(-grid)
    assert grid[value.argmax()].item() == pytest.approx(d_star, abs=1e-3)
    assert d_star == pytest.approx(0.75)


def test_optimal_discriminator_exact_where_densities_underflow():
    x = torch.tensor([-60.0], dtype=torch.float64)
    lq, lp = dn.gaussian_log_prob(x, 0.0, 1.0), dn.gaussian_log_prob(x, 5.0, 1.0)
    assert lq.exp().item() == 0.0  # the naive ratio would be 0 / 0
    assert dn.optimal_discriminator(lq, lp).item() == pytest.approx(1.0)


def test_logit_gradient_autograd_equals_closed_form():
    x = torch.linspace(-2, 5, 50, dtype=torch.float64)
    for gap, std in [(0.0, 1.0), (1.0, 0.5), (3.0, 0.2), (-2.0, 0.7)]:
        g = dn.logit_gradient(gap, std, x)
        torch.testing.assert_close(g, torch.full_like(x, -gap / std**2))


def test_separation_curves_contents():
    c = dn.separation_curves(2.0, 0.5, n_points=201)
    assert set(c) == {"x", "q", "p_G", "D", "f", "grad_f"}
    assert all(v.shape == (201,) and v.dtype == torch.float64 for v in c.values())
    assert c["x"][0].item() == pytest.approx(-2.0) and c["x"][-1].item() == pytest.approx(4.0)
    torch.testing.assert_close(c["D"], c["q"] / (c["q"] + c["p_G"]))
    torch.testing.assert_close(c["f"], (2.0**2 - 2 * 2.0 * c["x"]) / (2 * 0.5**2))
    # D* = 1/2 exactly half-way between the means, and it is monotone decreasing in x.
    mid = dn.separation_curves(2.0, 0.5, n_points=3)
    assert mid["D"][1].item() == pytest.approx(0.5)
    assert (c["D"].diff() < 0).all()


def test_max_logit_gradient_grows_without_bound():
    gaps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    grads = [dn.max_logit_gradient(g, 0.5) for g in gaps]
    assert all(b > a for a, b in zip(grads, grads[1:], strict=False))
    for gap, grad in zip(gaps, grads, strict=True):
        assert grad == pytest.approx(gap / 0.5**2, rel=1e-9)
    # At a fixed gap, sharper (more disjoint) densities give a steeper logit: ~ 1 / std^2.
    assert dn.max_logit_gradient(1.0, 0.05) == pytest.approx(100 * dn.max_logit_gradient(1.0, 0.5))
    assert dn.max_logit_gradient(0.0, 0.5) == 0.0


def test_plot_separation_draws_labelled_panels():
    import matplotlib.pyplot as plt

    fig = dn.plot_separation(gap=3.0, std=0.5, n_points=101)
    try:
        assert len(fig.axes) == 3
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        c = dn.separation_curves(3.0, 0.5, n_points=101)
        d_line = fig.axes[0].get_lines()[2]
        torch.testing.assert_close(torch.from_numpy(d_line.get_ydata()), c["D"])
        grad_line = fig.axes[2].get_lines()[0]
        assert grad_line.get_ydata().max() == pytest.approx(3.0 / 0.25)
        assert fig.axes[0].get_legend() is not None
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: dn.gaussian_log_prob(torch.zeros(2), 0.0, 0.0), ValueError, "std must be"),
        (lambda: dn.gaussian_log_prob(torch.zeros(2), 0.0, -1.0), ValueError, "std must be"),
        (lambda: dn.gaussian_log_prob(torch.zeros(2, dtype=torch.int64), 0, 1), TypeError, "x "),
        (lambda: dn.gaussian_log_prob(torch.zeros(2), float("nan"), 1.0), ValueError, "mean"),
        (lambda: dn.mixture_log_prob(torch.zeros(2), [], []), ValueError, "means"),
        (lambda: dn.mixture_log_prob(torch.zeros(2), [0.0], [1.0, 2.0]), ValueError, "stds"),
        (
            lambda: dn.mixture_log_prob(torch.zeros(2), [0, 1], [1, 1], [0.5, 0.6]),
            ValueError,
            "weig",
        ),
        (lambda: dn.mixture_sample(0, [0.0], [1.0]), ValueError, "n must be >= 1, got 0"),
        (lambda: dn.mixture_sample(2.5, [0.0], [1.0]), TypeError, "n must be an int"),
        (lambda: dn.optimal_logit(torch.zeros(2), torch.zeros(3)), ValueError, "same shape"),
        (lambda: dn.separation_curves(1.0, 0.0), ValueError, "std must be"),
        (lambda: dn.separation_curves(float("inf"), 1.0), ValueError, "gap must be finite"),
        (lambda: dn.separation_curves(1.0, 1.0, n_points=1), ValueError, "n_points must be >= 2"),
        (lambda: dn.separation_curves("1", 1.0), TypeError, "gap must be a number"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
