"""Tests for sngan_teach.power (lesson 03): Algorithm 1, its bounds, edge cases and sliders."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from sngan_teach.power import (  # noqa: E402
    SHAPES,
    angle,
    convergence_curves,
    matrix_with_spectrum,
    power_iteration,
    random_orthonormal,
    show_convergence,
    spectrum_with_gap,
)

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- power_iteration


@pytest.mark.parametrize("shape", [(20, 20), (40, 10), (10, 40), (1, 7), (7, 1)])
def test_converges_to_svdvals(shape):
    W = torch.randn(*shape, generator=gen(1), dtype=F64)
    sigma, u, v = power_iteration(W, n_iterations=2000, generator=gen(2))
    torch.testing.assert_close(sigma, torch.linalg.svdvals(W)[0], rtol=1e-10, atol=0)
    assert u.shape == (shape[0],) and v.shape == (shape[1],)
    torch.testing.assert_close(u.norm(), torch.tensor(1.0, dtype=F64))
    torch.testing.assert_close(v.norm(), torch.tensor(1.0, dtype=F64))
    # sigma = u^T W v, and the pair is a singular pair: W v = sigma u, W^T u = sigma v
    torch.testing.assert_close(W @ v, sigma * u, rtol=0, atol=1e-8)
    torch.testing.assert_close(W.T @ u, sigma * v, rtol=0, atol=1e-8)


def test_one_step_is_the_papers_formula():
    W = torch.randn(6, 4, generator=gen(3), dtype=F64)
    u0 = torch.randn(6, generator=gen(4), dtype=F64)
    v = W.T @ u0 / (W.T @ u0).norm()
    u = W @ v / (W @ v).norm()
    sigma, u_pkg, v_pkg = power_iteration(W, u0, n_iterations=1)
    torch.testing.assert_close(v_pkg, v)
    torch.testing.assert_close(u_pkg, u)
    torch.testing.assert_close(sigma, u @ W @ v)
    torch.testing.assert_close(sigma, (W @ v).norm())


def test_warm_start_equals_more_iterations_and_does_not_modify_u():
    W = torch.randn(9, 5, generator=gen(5), dtype=F64)
    u0 = torch.randn(9, generator=gen(6), dtype=F64)
    u0_copy = u0.clone()
    s3, u3, v3 = power_iteration(W, u0, n_iterations=3)
    s1, u1, _ = power_iteration(W, u0, n_iterations=1)
    s2, u2, v2 = power_iteration(W, u1, n_iterations=2)
    torch.testing.assert_close(s2, s3)
    torch.testing.assert_close(u2, u3)
    torch.testing.assert_close(v2, v3)
    assert torch.equal(u0, u0_copy)
    # the scale of u does not matter
    s3b, _, _ = power_iteration(W, 7.5 * u0, n_iterations=3)
    torch.testing.assert_close(s3b, s3)


def test_generator_makes_the_start_reproducible():
    W = torch.randn(30, 30, generator=gen(7), dtype=F64)
    a = power_iteration(W, generator=gen(8))
    b = power_iteration(W, generator=gen(8))
    c = power_iteration(W, generator=gen(9))
    assert torch.equal(a[1], b[1])
    assert not torch.allclose(a[1], c[1])


def test_estimate_never_exceeds_sigma_1():
    for seed in range(20):
        W = torch.randn(15, 8, generator=gen(seed), dtype=F64)
        true = torch.linalg.svdvals(W)[0]
        for k in (1, 2, 5):
            sigma, _, _ = power_iteration(W, n_iterations=k, generator=gen(100 + seed))
            assert sigma <= true * (1 + 1e-12)


def test_float32_matches_float64():
    W = torch.randn(40, 24, generator=gen(14), dtype=F64)
    s64, u64, _ = power_iteration(W, n_iterations=200, generator=gen(15))
    s32, u32, v32 = power_iteration(W.float(), n_iterations=200, generator=gen(15))
    assert s32.dtype == u32.dtype == v32.dtype == torch.float32
    torch.testing.assert_close(s32.double(), s64, rtol=1e-5, atol=0)
    assert angle(u32.double(), u64) < 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matrix_with_a_cpu_generator_matches_cpu():
    W = torch.randn(30, 20, generator=gen(16), dtype=F64)
    s_cpu, u_cpu, _ = power_iteration(W, n_iterations=5, generator=gen(17))
    s_gpu, u_gpu, _ = power_iteration(W.cuda(), n_iterations=5, generator=gen(17))
    assert s_gpu.device.type == "cuda" and u_gpu.device.type == "cuda"
    torch.testing.assert_close(s_gpu.cpu(), s_cpu)
    torch.testing.assert_close(u_gpu.cpu(), u_cpu)


def test_sigma_gradient_is_u_v_transpose():
    W = torch.randn(5, 3, generator=gen(10), dtype=F64, requires_grad=True)
    sigma, u, v = power_iteration(W, n_iterations=3, generator=gen(11))
    assert not u.requires_grad and not v.requires_grad
    sigma.backward()
    torch.testing.assert_close(W.grad, torch.outer(u, v))


def test_matches_pytorch_spectral_norm_parametrization():
    """PyTorch's loop runs the two half-steps in the other order (u <- Wv, then v <- W^T u)
    and reports sigma = u^T W v with the newest v. Started from v = W^T u0 / ||W^T u0|| it has
    the same u as ours after each step, its v is our next step's v, and its sigma is
    ||W^T u||."""
    m, n, k = 6, 4, 3
    lin = torch.nn.Linear(n, m, bias=False).to(F64)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(m, n, generator=gen(12), dtype=F64))
    W = lin.weight.detach().clone()
    torch.nn.utils.parametrizations.spectral_norm(lin, n_power_iterations=k)
    sn = lin.parametrizations.weight[0]
    u0 = torch.randn(m, generator=gen(13), dtype=F64)
    with torch.no_grad():
        sn._u.copy_(u0 / u0.norm())
        sn._v.copy_(W.T @ u0 / (W.T @ u0).norm())
    lin.train()
    W_sn = lin.weight.detach()
    sigma_pt = W.norm() / W_sn.norm()
    _, u_ours, _ = power_iteration(W, u0, n_iterations=k)
    _, _, v_next = power_iteration(W, u0, n_iterations=k + 1)
    torch.testing.assert_close(sn._u, u_ours)
    torch.testing.assert_close(sn._v, v_next)
    torch.testing.assert_close(sigma_pt, (W.T @ u_ours).norm())


# ---------------------------------------------------------------- edge cases


def test_zero_matrix_gives_sigma_zero_and_zero_vectors():
    sigma, u, v = power_iteration(torch.zeros(4, 3, dtype=F64), generator=gen(0))
    assert sigma.item() == 0.0
    assert torch.count_nonzero(u) == 0 and torch.count_nonzero(v) == 0
    assert torch.isfinite(sigma)
    # a zero u stays zero even on a non-zero W: never warm start from it
    W = torch.randn(4, 3, generator=gen(1), dtype=F64)
    sigma2, u2, _ = power_iteration(W, u, n_iterations=5)
    assert sigma2.item() == 0.0 and torch.count_nonzero(u2) == 0


def test_rank_one_row_and_column_are_exact_after_one_step():
    a = torch.randn(7, generator=gen(2), dtype=F64)
    b = torch.randn(5, generator=gen(3), dtype=F64)
    for W in (torch.outer(a, b), b[None, :], a[:, None]):
        sigma, u, v = power_iteration(W, n_iterations=1, generator=gen(4))
        torch.testing.assert_close(sigma, torch.linalg.svdvals(W)[0], rtol=1e-13, atol=0)
    sigma, _, _ = power_iteration(b[None, :], n_iterations=1, generator=gen(4))
    torch.testing.assert_close(sigma, b.norm())


def test_repeated_top_singular_value_sigma_converges_vectors_do_not():
    W, U, V = matrix_with_spectrum([2.0, 2.0, 1.0, 0.5], 10, 8, generator=gen(5))
    top2 = U[:, :2]
    us = []
    for seed in (6, 7):
        sigma, u, _ = power_iteration(W, n_iterations=60, generator=gen(seed))
        torch.testing.assert_close(sigma, torch.tensor(2.0, dtype=F64), rtol=1e-12, atol=0)
        # u lies in the top singular subspace ...
        torch.testing.assert_close((top2 @ (top2.T @ u)).norm(), torch.tensor(1.0, dtype=F64))
        # ... but is not u_1: its direction there depends on the start
        assert angle(u, U[:, 0]) > 0.05
        us.append(u)
    assert angle(us[0], us[1]) > 0.05


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"W": [[1.0]]}, TypeError, "W must be a torch.Tensor"),
        ({"W": torch.ones(3)}, ValueError, "W must be 2-D"),
        ({"W": torch.ones(2, 2, 2)}, ValueError, "W must be 2-D"),
        ({"W": torch.ones(2, 2, dtype=torch.int64)}, TypeError, "floating-point"),
        ({"W": torch.ones(0, 3)}, ValueError, "must not be empty"),
        (
            {"W": torch.ones(3, 2), "n_iterations": 0},
            ValueError,
            "n_iterations must be >= 1, got 0",
        ),
        ({"W": torch.ones(3, 2), "n_iterations": 1.5}, TypeError, "n_iterations must be an int"),
        ({"W": torch.ones(3, 2), "eps": 0.0}, ValueError, "eps must be > 0, got 0.0"),
        ({"W": torch.ones(3, 2), "eps": -1e-3}, ValueError, "eps must be > 0"),
        ({"W": torch.ones(3, 2), "u": torch.ones(2)}, ValueError, r"u must have shape \(3,\)"),
        ({"W": torch.ones(3, 2), "u": [1.0, 1.0, 1.0]}, TypeError, "u must be a torch.Tensor"),
        (
            {"W": torch.ones(3, 2), "u": torch.ones(3, dtype=torch.int64)},
            TypeError,
            "u must be a floating-point",
        ),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, text):
    with pytest.raises(error, match=text):
        power_iteration(**kwargs)


def test_huge_and_tiny_float32_entries_give_the_right_sigma():
    # ||W^T u||^2 overflows float32 near 1e20 (and underflows near 1e-25): rescaling first
    base = torch.randn(20, 10, generator=gen(50), dtype=F64)
    true = torch.linalg.svdvals(base)[0]
    for scale in (1e20, 1e-25):
        sigma, u, v = power_iteration((base * scale).float(), n_iterations=100, generator=gen(51))
        assert torch.isfinite(sigma) and u.norm() == pytest.approx(1, rel=1e-5)
        assert sigma.double() / scale == pytest.approx(true.item(), rel=1e-4), scale


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_entries_are_refused(bad):
    W = torch.ones(3, 2)
    W[1, 0] = bad
    with pytest.raises(ValueError, match="W must hold finite numbers"):
        power_iteration(W)
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got inf"):
        power_iteration(torch.ones(3, 2), eps=float("inf"))


def test_numpy_integers_are_accepted_and_bools_rejected():
    W = torch.randn(4, 3, generator=gen(40), dtype=F64)
    a = power_iteration(W, n_iterations=np.int64(3), generator=gen(41))
    b = power_iteration(W, n_iterations=3, generator=gen(41))
    torch.testing.assert_close(a[0], b[0])
    with pytest.raises(TypeError, match="n_iterations must be an int, got bool"):
        power_iteration(W, n_iterations=True)


def test_helpers_validate():
    with pytest.raises(ValueError, match="non-increasing"):
        matrix_with_spectrum([1.0, 2.0], 3, 3)
    with pytest.raises(ValueError, match=">= 0"):
        matrix_with_spectrum([1.0, -0.5], 3, 3)
    with pytest.raises(ValueError, match="at most min"):
        matrix_with_spectrum([3.0, 2.0, 1.0], 2, 5)
    with pytest.raises(ValueError, match="k must be <= n"):
        random_orthonormal(2, 3)
    with pytest.raises(ValueError, match="gap must be a number in"):
        spectrum_with_gap(5, 1.5)
    with pytest.raises(ValueError, match="shape must be one of"):
        show_convergence(3, 0.5, "3 x 3", 0, plot=False)
    with pytest.raises(ValueError, match="n_iterations must be >= 1, got 0"):
        show_convergence(0, 0.5, "64 x 64", 0, plot=False)


# ---------------------------------------------------------------- test matrices


def test_matrix_with_spectrum_has_that_spectrum():
    s = torch.tensor([3.0, 2.0, 0.5], dtype=F64)
    W, U, V = matrix_with_spectrum(s, 7, 5, generator=gen(20))
    torch.testing.assert_close(torch.linalg.svdvals(W)[:3], s)
    torch.testing.assert_close(torch.linalg.svdvals(W)[3:], torch.zeros(2, dtype=F64))
    torch.testing.assert_close(U.T @ U, torch.eye(3, dtype=F64))
    torch.testing.assert_close(V.T @ V, torch.eye(3, dtype=F64))
    torch.testing.assert_close(W @ V[:, 0], 3.0 * U[:, 0])


def test_spectrum_with_gap():
    s = spectrum_with_gap(6, 0.7)
    assert s[0] == 1.0 and math.isclose(float(s[1]), 0.7)
    assert bool((s[1:] <= s[:-1]).all()) and math.isclose(float(s[-1]), 0.07)
    assert spectrum_with_gap(1, 0.3).tolist() == [1.0]


def test_angle_ignores_sign_and_scale():
    a = torch.tensor([1.0, 0.0], dtype=F64)
    b = torch.tensor([-3.0, 3.0], dtype=F64)
    assert math.isclose(angle(a, b), math.pi / 4)
    assert math.isclose(angle(a, -2 * a), 0.0, abs_tol=1e-15)


# ---------------------------------------------------------------- the bounds and the sliders


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("gap", [0.0, 0.8, 0.95])
def test_curves_obey_the_theoretical_bounds(shape, gap):
    c = show_convergence(25, gap, shape, seed=3, plot=False)
    tol = 1e-12
    assert (c["sigma_rel_error"] >= -tol).all()
    assert (c["angle_u"] <= c["bound_angle_u"] * (1 + 1e-9) + tol).all()
    assert (c["sigma_rel_error"] <= c["bound_sigma"] * (1 + 1e-9) + tol).all()
    # k steps of the slider curve equal power_iteration with n_iterations=k
    n_rows, n_cols = SHAPES[shape]
    g = gen(3)
    W, _, _ = matrix_with_spectrum(spectrum_with_gap(min(n_rows, n_cols), gap), n_rows, n_cols, g)
    u0 = torch.randn(n_rows, generator=g, dtype=F64)
    sigma, _, _ = power_iteration(W, u0, n_iterations=7)
    assert math.isclose(float(c["sigma"][6]), float(sigma), rel_tol=1e-12)


def test_error_falls_with_k_and_faster_with_a_bigger_gap():
    slow = show_convergence(10, 0.9, "64 x 64", seed=0, plot=False)
    fast = show_convergence(10, 0.5, "64 x 64", seed=0, plot=False)
    assert slow["sigma_rel_error"][-1] < slow["sigma_rel_error"][0]
    assert fast["sigma_rel_error"][4] < slow["sigma_rel_error"][4]


def test_plot_prints_one_line_that_changes_with_k(capsys):
    lines = []
    for k in (5, 6):
        show_convergence(k, 0.8, "64 x 64", seed=0, plot=True)
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1
        lines.append(out[0])
    assert lines[0].startswith("after k = 5 iterations: relative sigma error = ")
    assert lines[1].startswith("after k = 6 iterations: relative sigma error = ")
    err5 = float(lines[0].rsplit("= ", 1)[1])
    err6 = float(lines[1].rsplit("= ", 1)[1])
    assert 0 < err6 < err5
    # the printed value is the last point of the returned curve, same format
    c = show_convergence(5, 0.8, "64 x 64", seed=0, plot=False)
    assert f"{float(c['sigma_rel_error'][-1]):.3e}" == lines[0].rsplit("= ", 1)[1]
    assert capsys.readouterr().out == ""  # without the figure, no line either


def test_convergence_curves_match_direct_calls():
    W, U, V = matrix_with_spectrum(spectrum_with_gap(12, 0.6), 12, 20, generator=gen(30))
    u0 = torch.randn(12, generator=gen(31), dtype=F64)
    c = convergence_curves(W, U[:, 0], V[:, 0], 1.0, 4, u0)
    for k in range(1, 5):
        sigma, u, v = power_iteration(W, u0, n_iterations=k)
        assert math.isclose(float(c["sigma"][k - 1]), float(sigma), rel_tol=1e-14)
        assert math.isclose(float(c["angle_u"][k - 1]), angle(u, U[:, 0]), abs_tol=1e-14)
        assert math.isclose(float(c["angle_v"][k - 1]), angle(v, V[:, 0]), abs_tol=1e-14)
