"""sngan_teach.exercises: every checker accepts its reference and other right answers, names the
known mistakes, says "not attempted yet" for a placeholder, shows an error in the learner's code
as the learner's (no frame of ours), never raises, and leaves the global random state alone."""

from __future__ import annotations

import inspect
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from sngan_teach import cifar, exercises, metrics
from sngan_teach.exercises import (
    _core,
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
    lesson10,
    lesson11,
)
from sngan_teach.lipschitz import product_bound, spectral_norm_exact
from sngan_teach.losses import hinge_loss_D, ns_loss_G
from sngan_teach.power import power_iteration
from sngan_teach.spectra import effective_rank

ROOT = Path(__file__).resolve().parents[1]
ALL = sorted(exercises.EXERCISES)
FUNCTIONS = [name for name in ALL if exercises.EXERCISES[name].kind == "function"]


@pytest.fixture(autouse=True)
def fresh_status():
    """Each test starts with every exercise unchecked."""
    for exercise in exercises.EXERCISES.values():
        exercise.status = "not attempted"
    yield


def verdict(capsys, name: str, answer: object) -> tuple[bool, str]:
    accepted = exercises.EXERCISES[name].check(answer)
    return accepted, capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# right answers written another way than the reference (often with the package's own function)


def power_step_by_package(W, u):
    _, u_new, v_new = power_iteration(W, u, n_iterations=1)
    return u_new, v_new


def sn_weight_on_detached(W, u, v):
    W_const = W.detach()
    u = F.normalize(W_const @ v, dim=0)
    v = F.normalize(W_const.T @ u, dim=0)
    return W / torch.einsum("i,ij,j->", u, W, v), u, v


def gp_with_vector_norm(net_D, real, fake, t):
    x_hat = torch.lerp(fake, real, t).detach().requires_grad_(True)
    grad = torch.autograd.grad(net_D(x_hat).sum(), x_hat, create_graph=True)[0]
    norms = torch.linalg.vector_norm(grad.reshape(len(grad), -1), dim=1)
    return ((norms - 1) ** 2).mean()


def cbn_with_torch_batch_norm(h, y, gamma, beta, running_mean, running_var):
    h_hat = F.batch_norm(h, running_mean, running_var, training=False, eps=1e-5)
    return gamma[y, :, None, None] * h_hat + beta[y, :, None, None]


def z_with_numpy(fids_a, fids_b):
    a, b = np.asarray(fids_a), np.asarray(fids_b)
    return (b.mean() - a.mean()) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)


RIGHT = {
    "optimal_D": lambda q, p_G: torch.sigmoid(q.log() - p_G.log()),
    "ns_generator_loss": ns_loss_G,
    "sigma_of": spectral_norm_exact,
    "lipschitz_bound": product_bound,
    "power_step": power_step_by_package,
    "normalize_by_sigma": lambda W: W / torch.linalg.svdvals(W)[0],
    "sn_weight": sn_weight_on_detached,
    "conv_sigma": lambda weight: spectral_norm_exact(weight.flatten(1)),
    "wn_weight": lambda W: F.normalize(W, dim=1),
    "effective_rank_of": effective_rank,
    "ortho_penalty": lambda W: (
        torch.linalg.matrix_norm(
            (W.T @ W if W.shape[0] > W.shape[1] else W @ W.T)
            - torch.eye(min(W.shape), dtype=W.dtype)
        )
        ** 2
    ),
    "gp_at": gp_with_vector_norm,
    "clip_sigma_max": 1.386,
    "d_hinge_loss": hinge_loss_D,
    "kl_to_uniform": lambda counts: torch.xlogy(
        counts / counts.sum(), len(counts) * counts.double() / counts.sum()
    ).sum(),
    "z_better": z_with_numpy,
    "sigma_of_W_bar": lambda W, u, v: torch.linalg.matrix_norm(W / (u @ W @ v), ord=2),
    "as_uint8": cifar.to_uint8,
    "inception_score_of": lambda p: metrics.inception_score_from_probs(p)[0],
    "fid_of_gaussians": metrics.frechet_distance,
    "projection_logit": lambda phi, w, b, E, y: (
        torch.einsum("nf,f->n", phi, w) + b + torch.einsum("nf,nf->n", E[y], phi)
    ),
    "cbn_eval": cbn_with_torch_batch_norm,
    "sigma0_step": lambda W, v: torch.linalg.vector_norm(W.T @ F.normalize(W @ v, dim=0)),
}


@pytest.mark.parametrize("name", ALL)
def test_the_reference_is_accepted(capsys, name):
    accepted, out = verdict(capsys, name, exercises.EXERCISES[name].reference)
    assert accepted is True
    assert out.startswith(f"Correct: {name}\n"), out
    assert exercises.EXERCISES[name].status == "solved"


@pytest.mark.parametrize("name", ALL)
def test_another_right_answer_is_accepted(capsys, name):
    accepted, out = verdict(capsys, name, RIGHT[name])
    assert accepted is True, out
    assert out.startswith(f"Correct: {name}"), out


# --------------------------------------------------------------------------------------------
# wrong answers, as a learner would write them, each with the mistake the checker must name


def u_from_W_T(W, u):
    v = W.T @ u
    v = v / v.norm()
    u = W.T @ v  # the write-up's second half step
    return u / u.norm(), v


def no_normalising(W, u):
    v = W.T @ u
    return W @ v, v


def torch_order(W, u):
    v = F.normalize(W.T @ u, dim=0)
    u = F.normalize(W @ v, dim=0)
    return u, F.normalize(W.T @ u, dim=0)


def u_first(W, u):
    u = F.normalize(W @ u, dim=0)
    return u, F.normalize(W.T @ u, dim=0)


def v_then_u_returned(W, u):
    u_new, v_new = lesson03.power_step(W, u)
    return v_new, u_new


def square_only_sigma(W):
    if W.shape[0] != W.shape[1]:
        raise ValueError("the spectral norm needs a square matrix")
    return torch.linalg.matrix_norm(W, ord=2)


def squared_up_sigma(W):
    k = min(W.shape)
    return torch.linalg.svdvals(W[:k, :k])[0]


def bound_summed(net):
    return sum(spectral_norm_exact(m.weight) for m in net if isinstance(m, nn.Linear))


def bound_without_activations(net):
    return math.prod(spectral_norm_exact(m.weight) for m in net if isinstance(m, nn.Linear))


def bound_activation_once(net):
    factor = 0.25 if any(isinstance(m, nn.Sigmoid) for m in net) else 1.0
    return factor * bound_without_activations(net)


def bound_leaky_slope(net):
    bound = bound_without_activations(net)
    for m in net:
        if isinstance(m, nn.Sigmoid):
            bound *= 0.25
        elif isinstance(m, nn.LeakyReLU):
            bound *= m.negative_slope
    return bound


def sn_weight_with_gradients(W, u, v):
    u = F.normalize(W @ v, dim=0)  # no torch.no_grad(): the iteration is in the graph
    v = F.normalize(W.T @ u, dim=0)
    return W / (u @ W @ v), u, v


def sn_weight_sigma_item(W, u, v):
    with torch.no_grad():
        u = F.normalize(W @ v, dim=0)
        v = F.normalize(W.T @ u, dim=0)
        sigma = (u @ W @ v).item()
    return W / sigma, u, v


def sn_weight_algorithm1_order(W, u, v):
    with torch.no_grad():
        v = F.normalize(W.T @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return W / (u @ W @ v), u, v


def sn_weight_no_step(W, u, v):
    return W / (u @ W @ v), u, v


def sn_weight_sigma_squared(W, u, v):
    W_bar, u, v = lesson04.sn_weight(W, u, v)
    return W_bar / (u @ W @ v), u, v


def kernel_input_rows(weight):
    return torch.linalg.svdvals(weight.reshape(weight.shape[1], -1))[0]


def kernel_transposed(weight):
    return torch.linalg.svdvals(weight.transpose(0, 1).flatten(1))[0]


def kernel_per_position(weight):
    return torch.linalg.svdvals(weight.reshape(-1, weight.shape[-2] * weight.shape[-1]))[0]


def entropy_only(s):
    p = s**2 / (s**2).sum()
    p = p[p > 0]
    return -(p * p.log()).sum()


def zero_log_zero(s):
    p = s**2 / (s**2).sum()
    return torch.exp(-(p * torch.log(p)).sum())


def literal_gram(W):
    return ((W.T @ W - torch.eye(W.shape[1], dtype=W.dtype)) ** 2).sum()


def input_gradient(net_D, real, fake, t, create_graph=True):
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    return torch.autograd.grad(net_D(x_hat).sum(), x_hat, create_graph=create_graph)[0]


def gp_without_create_graph(net_D, real, fake, t):
    grad = input_gradient(net_D, real, fake, t, create_graph=False)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gp_whole_batch(net_D, real, fake, t):
    return (input_gradient(net_D, real, fake, t).norm() - 1) ** 2


def gp_dim1(net_D, real, fake, t):
    return ((input_gradient(net_D, real, fake, t).norm(dim=1) - 1) ** 2).mean()


def gp_squared_norm(net_D, real, fake, t):
    squared = input_gradient(net_D, real, fake, t).flatten(1).pow(2).sum(1)
    return ((squared - 1) ** 2).mean()


def writeup_hinge(real_logits, fake_logits):
    return -(torch.relu(1 - real_logits).mean() - torch.relu(1 + fake_logits).mean())


def eq16_minimised(real_logits, fake_logits):
    real_term = torch.clamp(-1 + real_logits, max=0).mean()
    return real_term + torch.clamp(-1 - fake_logits, max=0).mean()


def pooled_hinge(real_logits, fake_logits):
    return torch.cat([torch.relu(1 - real_logits), torch.relu(1 + fake_logits)]).mean()


def hinge_item(real_logits, fake_logits):
    return torch.tensor(hinge_loss_D(real_logits, fake_logits).item())


def kl_reversed(counts):
    p = counts / counts.sum()
    return (torch.log(1 / (len(counts) * p)) / len(counts)).sum()


def kl_without_M(counts):
    p = counts[counts > 0] / counts.sum()
    return (p * torch.log(p)).sum()


def kl_with_empty_modes(counts):
    p = counts / counts.sum()
    return (p * torch.log(len(counts) * p)).sum()


def z_with_sd(fids_a, fids_b):
    spread = math.sqrt(statistics.variance(fids_a) + statistics.variance(fids_b))
    return (statistics.fmean(fids_b) - statistics.fmean(fids_a)) / spread


def z_population(fids_a, fids_b):
    se = math.sqrt(
        statistics.pvariance(fids_a) / len(fids_a) + statistics.pvariance(fids_b) / len(fids_b)
    )
    return (statistics.fmean(fids_b) - statistics.fmean(fids_a)) / se


def is_reversed(p):
    p_y = p.mean(0, keepdims=True)
    return float(np.exp(np.sum(p_y * (np.log(p_y) - np.log(p)), axis=1).mean()))


def is_log(p):
    p_y = p.mean(0, keepdims=True)
    return float(np.sum(p * (np.log(p) - np.log(p_y)), axis=1).mean())


def fid_elementwise(mu1, sigma1, mu2, sigma2):
    covmean = np.sqrt(np.abs(sigma1 @ sigma2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean))


def fid_roots_apart(mu1, sigma1, mu2, sigma2):
    covmean = linalg.sqrtm(sigma1).real @ linalg.sqrtm(sigma2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - 2 * covmean))


def fid_no_two(mu1, sigma1, mu2, sigma2):
    covmean = linalg.sqrtm(sigma1 @ sigma2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1 + sigma2 - covmean))


def cbn_batch_statistics(h, y, gamma, beta, running_mean, running_var):
    h_hat = F.batch_norm(h, None, None, training=True, eps=1e-5)
    return gamma[y, :, None, None] * h_hat + beta[y, :, None, None]


def cbn_without_eps(h, y, gamma, beta, running_mean, running_var):
    return cbn_with_torch_batch_norm(h, y, gamma, beta, running_mean, running_var - 1e-5)


M1, M2, M3, M4, M5, M6 = lesson01, lesson02, lesson03, lesson04, lesson05, lesson06
M7, M8, M9, M10, M11 = lesson07, lesson08, lesson09, lesson10, lesson11
WRONG = {
    "optimal_D": [
        (lambda q, p_G: p_G / (q + p_G), M1.Q_P_G_SWAPPED),
        (lambda q, p_G: torch.log(q) - torch.log(p_G), M1.RETURNED_LOGIT),
        (lambda q, p_G: q / p_G, M1.DENSITY_RATIO),
    ],
    "ns_generator_loss": [
        (lambda d_fake: torch.log(1 - torch.sigmoid(d_fake)).mean(), M1.MINIMAX),
        (lambda d_fake: torch.log(torch.sigmoid(d_fake)).mean(), M1.SIGN_FLIPPED),
        (lambda d_fake: -d_fake.mean(), M1.ON_THE_LOGIT),
        (lambda d_fake: F.softplus(-d_fake).sum(), M1.SUMMED),
        (lambda d_fake: torch.tensor(ns_loss_G(d_fake).item()), _core.DETACHED),
    ],
    "sigma_of": [
        (lambda W: torch.linalg.eigvals(W).abs().max(), M2.EIGENVALUE),
        (lambda W: torch.linalg.matrix_norm(W), M2.FROBENIUS),
        (lambda W: torch.linalg.eigvalsh(W.T @ W).max(), M2.SQUARED),
        (square_only_sigma, M2.SQUARE_ONLY),
        (squared_up_sigma, M2.SQUARE_ONLY),
    ],
    "lipschitz_bound": [
        (bound_summed, M2.SUMMED),
        (bound_without_activations, M2.NO_ACTIVATION),
        (bound_activation_once, M2.ACTIVATION_ONCE),
        (bound_leaky_slope, M2.LEAKY_SLOPE),
    ],
    "power_step": [
        (u_from_W_T, M3.U_FROM_W_T),
        (no_normalising, M3.NOT_NORMALISED),
        (torch_order, M3.V_FROM_NEW_U),
        (u_first, M3.U_FIRST),
        (v_then_u_returned, M3.PAIR_SWAPPED),
    ],
    "normalize_by_sigma": [
        (lambda W: W / torch.linalg.svdvals(W)[0] ** 2, M3.SIGMA_SQUARED),
        (lambda W: W / torch.linalg.matrix_norm(W), M3.FROBENIUS),
        (lambda W: W / W.abs().max(), M3.LARGEST_ENTRY),
        (lambda W: W / torch.linalg.eigvals(W).abs().max(), M3.SPECTRAL_RADIUS),
    ],
    "sn_weight": [
        (sn_weight_with_gradients, M4.NOT_DETACHED),
        (sn_weight_sigma_item, M4.SIGMA_CONSTANT),
        (sn_weight_algorithm1_order, M4.ALGORITHM1_ORDER),
        (sn_weight_no_step, M4.NO_STEP),
        (sn_weight_sigma_squared, M4.SIGMA_SQUARED),
        (lambda W, u, v: (W / torch.linalg.matrix_norm(W, ord=2), u, v), M4.NO_STEP),
    ],
    "conv_sigma": [
        (kernel_input_rows, M4.INPUT_ROWS),
        (kernel_transposed, M4.INPUT_ROWS),
        (kernel_per_position, M4.KERNEL_COLUMNS),
        (lambda weight: weight.norm(), M4.FROBENIUS),
    ],
    "wn_weight": [
        (lambda W: W / W.norm(dim=0), M5.COLUMNS),
        (lambda W: W / torch.linalg.matrix_norm(W), M5.WHOLE_MATRIX),
        (lambda W: W / (W**2).sum(1, keepdim=True), M5.SQUARED_NORM),
    ],
    "effective_rank_of": [
        (lambda s: effective_rank(s.sqrt()), M5.UNSQUARED),
        (entropy_only, M5.ENTROPY),
        (zero_log_zero, M5.ZERO_LOG_ZERO),
    ],
    "ortho_penalty": [
        (literal_gram, M6.LARGER_GRAM),
        (
            lambda W: torch.linalg.matrix_norm(W @ W.T - torch.eye(len(W), dtype=W.dtype)),
            M6.NOT_SQUARED,
        ),  # fmt: skip
        (lambda W: ((W @ W.T if len(W) <= W.shape[1] else W.T @ W) ** 2).sum(), M6.NO_IDENTITY),
    ],
    "gp_at": [
        (gp_without_create_graph, M6.NO_CREATE_GRAPH),
        (gp_whole_batch, M6.BATCH_NORM),
        (gp_dim1, M6.DIM1_ONLY),
        (gp_squared_norm, M6.SQUARED_NORM),
    ],
    "clip_sigma_max": [
        (0.05 * 16 * 48, M6.NO_ROOT),
        (0.05, M6.ONE_ENTRY),
        (0.05 * math.sqrt(48), M6.ONE_ROW),
    ],
    "d_hinge_loss": [
        (writeup_hinge, M7.WRITEUP_SIGN),
        (eq16_minimised, M7.MAX_MIN_FLIPPED),
        (lambda r, f: torch.relu(1 + r).mean() + torch.relu(1 - f).mean(), M7.REAL_FAKE_SWAPPED),
        (lambda r, f: (1 - r).mean() + (1 + f).mean(), M7.NO_HINGE),
        (lambda r, f: torch.relu(1 - r).sum() + torch.relu(1 + f).sum(), M7.SUMMED),
        (pooled_hinge, M7.POOLED),
        (hinge_item, _core.DETACHED),
    ],
    "kl_to_uniform": [
        (kl_reversed, M7.REVERSED),
        (kl_without_M, M7.NO_M),
        (kl_with_empty_modes, M7.EMPTY_MODES_NAN),
    ],
    "z_better": [
        (z_with_sd, M8.SD_NOT_SE),
        (z_population, M8.POPULATION_SD),
        (lambda a, b: -lesson08.z_better(a, b), M8.SIGN_FLIPPED),
    ],
    "sigma_of_W_bar": [
        (lambda W, u, v: (u @ W @ v) / torch.linalg.matrix_norm(W, ord=2), M8.INVERTED),
        (lambda W, u, v: u @ W @ v, M8.ESTIMATE),
        (lambda W, u, v: 1.0, M8.ONE),
    ],
    "as_uint8": [
        (lambda x: ((x.clamp(-1, 1) + 1) * 127.5).to(torch.uint8), M9.TRUNCATED),
        (lambda x: ((x + 1) * 127.5).round().to(torch.uint8), M9.NO_CLAMP),
        (lambda x: (x.clamp(-1, 1) * 255).round().to(torch.uint8), M9.TIMES_255),
    ],
    "inception_score_of": [
        (is_reversed, M9.KL_REVERSED),
        (is_log, M9.NO_EXP),
    ],
    "fid_of_gaussians": [
        (fid_elementwise, M9.ELEMENTWISE_SQRT),
        (fid_roots_apart, M9.ROOTS_SEPARATELY),
        (fid_no_two, M9.NO_TWO),
    ],
    "projection_logit": [
        (lambda phi, w, b, E, y: (E[y] * phi).sum(1), M10.NO_PSI),
        (lambda phi, w, b, E, y: phi @ w + b, M10.NO_PROJECTION),
        (lambda phi, w, b, E, y: phi @ w + b + (phi @ E.T).sum(1), M10.ALL_CLASSES),
    ],
    "cbn_eval": [
        (cbn_batch_statistics, M10.BATCH_STATISTICS),
        (cbn_without_eps, M10.NO_EPS),
    ],
    "sigma0_step": [
        (lambda W, v: torch.linalg.matrix_norm(W @ v[:, None]), M11.BEFORE_THE_STEP),
        (lambda W, v: (W.T @ W @ v).norm(), M11.U_NOT_NORMALISED),
    ],
}
WRONG_CASES = [
    pytest.param(name, answer, mistake, id=f"{name}-{i}")
    for name, wrongs in WRONG.items()
    for i, (answer, mistake) in enumerate(wrongs)
]


def test_every_checker_has_two_named_wrong_answers_and_a_right_one():
    assert set(WRONG) == set(ALL) == set(RIGHT)
    assert all(len(wrongs) >= 2 for wrongs in WRONG.values())
    assert all(len({m.name for _, m in wrongs}) >= 2 for wrongs in WRONG.values())


@pytest.mark.parametrize(("name", "answer", "mistake"), WRONG_CASES)
def test_a_known_mistake_is_rejected_by_name(capsys, name, answer, mistake):
    accepted, out = verdict(capsys, name, answer)
    assert accepted is False
    assert out.startswith((f"Not right yet: {name}\n", f"Your code raised an error: {name}\n"))
    assert f"This is a known mistake: {mistake.name}. {mistake.why}" in out, out
    assert f"exercises.{name}.hint()" in out
    assert exercises.EXERCISES[name].status == "tried"


def test_a_wrong_function_answer_says_which_input_and_expected_against_got(capsys):
    accepted, out = verdict(capsys, "power_step", u_from_W_T)
    assert accepted is False
    assert "On a 5 x 5 W that is not symmetric, float64, and a random u:" in out
    assert re.search(r"u_new: expected \[.*\] \(shape 5\), got \[.*\] \(shape 5\)", out), out


def test_u_from_W_T_is_caught_although_it_agrees_on_a_symmetric_W():
    A = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    S, u = A + A.T, torch.randn(6, dtype=torch.float64)
    torch.testing.assert_close(u_from_W_T(S, u)[0], lesson03.power_step(S, u)[0])
    assert exercises.power_step.check(u_from_W_T) is False


def test_a_wrong_number_is_rejected_without_giving_the_answer_away(capsys):
    accepted, out = verdict(capsys, "clip_sigma_max", 2.0)
    assert accepted is False
    assert "2 is not the largest sigma_1" in out
    assert "1.38" not in out


@pytest.mark.parametrize(
    ("name", "answer", "message"),
    [
        ("d_hinge_loss", lambda r, f: hinge_loss_D(r, f).item(), "is a float; return the 0-d"),
        ("d_hinge_loss", lambda r, f: F.relu(1 - r) + F.relu(1 + f).mean(), "0-d tensor"),
        ("power_step", lambda W, u: W @ (W.T @ u), "expected a pair (u_new, v_new)"),
        ("power_step", lambda W, u: (u, "v"), "v_new is a str"),
        ("sigma_of", lambda W: torch.linalg.svdvals(W), "has shape"),
        ("as_uint8", lambda x: ((x.clamp(-1, 1) + 1) * 127.5).round(), "return a torch.uint8"),
        ("optimal_D", lambda q, p_G: None, "returned None"),
        ("optimal_D", 0.5, "expected a function"),
        ("clip_sigma_max", "1.3856", "expected a number"),
        ("clip_sigma_max", lambda: 1.3856, "expected a number"),
    ],
)
def test_an_unusable_answer_gets_a_plain_verdict(capsys, name, answer, message):
    accepted, out = verdict(capsys, name, answer)
    assert accepted is False
    assert out.startswith(f"Not right yet: {name}")
    assert message in out, out


# --------------------------------------------------------------------------------------------
# placeholders, and errors in the learner's code


def placeholder(*args):
    """A learner's function before they wrote it."""
    ...


def placeholder_with_pass(W, u):
    pass


@pytest.mark.parametrize("name", ALL)
def test_a_placeholder_is_not_attempted_yet(capsys, name):
    answer = placeholder if name in FUNCTIONS else ...
    accepted, out = verdict(capsys, name, answer)
    assert accepted is False
    assert out.startswith(f"Not attempted yet: {name}\n"), out
    assert "in place of `...`" in out
    assert exercises.EXERCISES[name].status == "not attempted"


def test_other_placeholders_are_not_attempted_and_a_real_function_is_tried(capsys):
    assert _core.is_placeholder(placeholder_with_pass)
    assert _core.is_placeholder(...)
    assert exercises.power_step.check(lambda W, u: ...) is False  # returns the placeholder
    assert "Not attempted yet" in capsys.readouterr().out
    assert not _core.is_placeholder(u_from_W_T)
    assert not _core.is_placeholder(lambda W, u: (u, u))


def broken(*args):
    sizes = [len(args)][1:]  # a learner's slip: the list is empty
    return sizes[0]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_error_in_the_learners_code_is_shown_as_theirs(capsys, name):
    accepted, out = verdict(capsys, name, broken)
    assert accepted is False
    assert out.startswith(f"Your code raised an error: {name}\n"), out
    assert "your code raised IndexError" in out
    assert f'{Path(__file__).name}", line' in out and "in broken" in out
    assert "IndexError: list index out of range" in out
    package = Path(_core.__file__).resolve().parents[1]
    assert str(package) not in out and "_core.py" not in out and "lesson0" not in out, out


def test_the_learners_frames_stay_when_their_code_calls_the_package(capsys):
    def calls_the_package(W, u):
        return power_iteration(W, u, n_iterations=0)[1:]

    accepted, out = verdict(capsys, "power_step", calls_the_package)
    assert accepted is False
    assert "in calls_the_package" in out
    assert "n_iterations must be >= 1, got 0" in out
    assert "power.py" not in out and "_core.py" not in out


def test_check_leaves_the_global_random_state_alone():
    def draws_at_random(W, u):
        torch.randn(100)
        return lesson03.power_step(W, u)

    before = torch.get_rng_state()
    assert exercises.power_step.check(draws_at_random) is True
    assert exercises.lipschitz_bound.check(lesson02.lipschitz_bound) is True  # builds nn.Linear
    assert exercises.gp_at.check(lesson06.gp_at) is True
    assert torch.equal(torch.get_rng_state(), before)


def test_check_does_not_let_the_answer_change_the_inputs():
    def in_place(W, u):
        u_new, v_new = lesson03.power_step(W, u)
        W.zero_()  # a learner's in-place slip must not corrupt what the reference saw
        return u_new, v_new

    assert exercises.power_step.check(in_place) is True


def test_check_runs_under_no_grad_and_another_default_dtype():
    torch.set_default_dtype(torch.float64)  # lesson 02 does this
    try:
        with torch.no_grad():
            assert exercises.d_hinge_loss.check(lesson07.d_hinge_loss) is True
            assert exercises.sn_weight.check(lesson04.sn_weight) is True
            assert exercises.sigma_of.check(lesson02.sigma_of) is True
    finally:
        torch.set_default_dtype(torch.float32)


# --------------------------------------------------------------------------------------------
# how the verdict is shown


def test_under_ipython_the_verdict_is_a_coloured_box_with_a_plain_text_twin(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append((obj, raw)))
    assert exercises.power_step.check(u_from_W_T) is False
    assert exercises.power_step.check(lesson03.power_step) is True
    (wrong, raw), (right, _) = shown
    assert raw is True and set(wrong) == {"text/plain", "text/html"}
    assert wrong["text/plain"].startswith("Not right yet: power_step")
    assert "border-left:5px solid #c62828" in wrong["text/html"]  # red
    assert "u &lt;- W^T v" in wrong["text/html"]  # escaped
    assert "border-left:5px solid #2e7d32" in right["text/html"]  # green
    assert right["text/plain"].startswith("Correct: power_step")


def test_an_error_shows_the_traceback_in_a_pre_block():
    text = _core.Verdict("error", "Your code raised an error: x", ("a line",), "Trace <here>")
    assert "<pre" in text.html() and "Trace &lt;here&gt;" in text.html()
    assert text.text() == "Your code raised an error: x\n  a line\n    Trace <here>"


def test_hint_and_solution_are_shown(capsys):
    exercises.power_step.hint()
    hint = capsys.readouterr().out
    assert hint.startswith("Hint: power_step") and "W.T" in hint
    exercises.power_step.solution()
    solution = capsys.readouterr().out
    assert "def power_step(W, u):" in solution and "u = W @ v" in solution
    exercises.clip_sigma_max.solution()
    assert "c * math.sqrt(d_o * d_i)" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# progress, the fixed interface, and the lessons


def test_progress_lists_the_lessons_checked_in_this_kernel(capsys):
    exercises.progress()
    everything = capsys.readouterr().out
    assert all(f"Lesson {n:02d}: 0 of" in everything for n in range(1, 11))
    exercises.power_step.check(lesson03.power_step)
    exercises.normalize_by_sigma.check(lambda W: W / W.norm())
    capsys.readouterr()
    exercises.progress()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Lesson 03: 1 of 2 solved in this kernel"
    assert re.search(r"power_step +\[x\] solved", out)
    assert re.search(r"normalize_by_sigma +\[~\] checked, not right yet", out)
    assert "Lesson 01" not in out
    exercises.progress(7)
    assert "Lesson 07: 0 of 2 solved" in capsys.readouterr().out
    exercises.progress("07_toy_gan_lab")
    assert re.search(r"d_hinge_loss +\[ \] not checked yet", capsys.readouterr().out)


@pytest.mark.parametrize("lesson", [0, 12, "x", True, 3.0])
def test_progress_refuses_what_is_not_a_lesson(lesson):
    with pytest.raises(ValueError, match="lesson must be"):
        exercises.progress(lesson)


def test_the_fixed_interface():
    assert isinstance(exercises.power_step, exercises.Exercise)
    assert isinstance(exercises.d_hinge_loss, exercises.Exercise)
    signature = inspect.signature
    assert list(signature(exercises.power_step.reference).parameters) == ["W", "u"]
    assert list(signature(exercises.d_hinge_loss.reference).parameters) == [
        "real_logits",
        "fake_logits",
    ]
    for name in ALL:
        exercise = getattr(exercises, name)
        assert exercise is exercises.EXERCISES[name] and exercise.name == name
        assert list(signature(exercise.check).parameters) == ["answer"]


def test_every_lesson_checks_its_exercises_and_shows_a_folded_solution():
    for number in range(1, 11):
        mine = [e for e in exercises.EXERCISES.values() if e.lesson == number]
        assert len(mine) >= 2, number
        (source,) = (ROOT / "notebooks" / "py").glob(f"{number:02d}_*.py")
        text = source.read_text()
        assert text.count("from sngan_teach import exercises") == 1, source.name
        for exercise in mine:
            assert f"exercises.{exercise.name}.check({exercise.name})" in text, exercise.name
            assert re.search(rf"assert exercises\.{exercise.name}\.check\(\w+\) is True", text)


def test_the_exercises_module_rejects_a_bad_kind():
    with pytest.raises(ValueError, match="kind must be"):
        exercises.Exercise("x", 1, "t", "h", reference=1.0, judge=lambda a: "", kind="text")
