"""Tests for sngan_teach.lipschitz (lesson 02, reused by lesson 04)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sngan_teach import lipschitz as lp


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: on a shared CPU one thread is many times faster than two.
    Restored after each test, so other test modules keep their setting."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mlp(widths, act=nn.ReLU, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers).to(dtype)


def test_spectral_norm_exact_matches_pytorch_and_reshapes_convs():
    torch.manual_seed(0)
    W = torch.randn(7, 5, dtype=torch.float64)
    assert lp.spectral_norm_exact(W) == pytest.approx(torch.linalg.matrix_norm(W, ord=2).item())
    assert lp.spectral_norm_exact(W) == pytest.approx(torch.linalg.svdvals(W)[0].item())
    K = torch.randn(4, 3, 3, 3)
    expected = torch.linalg.svdvals(K.reshape(4, -1).double())[0].item()
    assert lp.spectral_norm_exact(K) == pytest.approx(expected)


def test_layer_lipschitz_of_activations_matches_numerical_slopes():
    x = torch.linspace(-6, 6, 200_001, dtype=torch.float64, requires_grad=True)
    for act in [nn.ReLU(), nn.LeakyReLU(0.1), nn.LeakyReLU(2.0), nn.Sigmoid(), nn.Tanh(), nn.ELU()]:
        (slope,) = torch.autograd.grad(act(x).sum(), x)
        assert lp.layer_lipschitz(act) == pytest.approx(slope.abs().max().item(), rel=1e-6)


def test_product_bound_is_the_product_of_layer_constants():
    model = nn.Sequential(
        nn.Linear(3, 8),
        nn.LeakyReLU(0.1),
        nn.Sequential(nn.Linear(8, 8), nn.Sigmoid()),
        nn.Linear(8, 1),
    ).double()
    sigmas = [
        torch.linalg.svdvals(m.weight)[0].item()
        for m in model.modules()
        if isinstance(m, nn.Linear)
    ]
    assert lp.product_bound(model) == pytest.approx(math.prod(sigmas) * 1.0 * 0.25)


def test_single_linear_layer_bound_is_tight():
    torch.manual_seed(1)
    layer = nn.Linear(6, 1).double()
    x = torch.randn(16, 6, dtype=torch.float64)
    norm_w = layer.weight.norm().item()
    assert lp.product_bound(layer) == pytest.approx(norm_w)
    torch.testing.assert_close(
        lp.input_gradient_norms(layer, x), torch.full((16,), norm_w, dtype=torch.float64)
    )
    est = lp.lipschitz_lower_estimate(
        layer, x, n_steps=20, generator=torch.Generator().manual_seed(0)
    )
    assert est == pytest.approx(norm_w, rel=1e-9)


# A pair ratio |f(a) - f(b)| / ||a - b|| counts only for ||a - b|| >= sqrt(eps) (1 + ...), so its
# round-off is at most about sqrt(eps) = 1.5e-8 relative in float64, whatever the kernels: a
# bound checked to 1e-9 passed on one CPU and failed on another.
ROUND_OFF = 1e-6


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU])
def test_lower_estimate_never_exceeds_product_bound(act):
    for seed in range(3):
        model = mlp([4, 32, 32, 32, 1], act=act, seed=seed)
        x = torch.randn(64, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        est = lp.lipschitz_lower_estimate(
            model, x, n_steps=50, generator=torch.Generator().manual_seed(seed)
        )
        assert 0 < est <= lp.product_bound(model) * (1 + ROUND_OFF)


def test_pair_ascent_finds_more_than_the_data_gradients():
    # f(x) = tanh(10 (x - 1)): almost flat on the data near 0, slope 10 at x = 1.
    layer = nn.Linear(1, 1).double()
    with torch.no_grad():
        layer.weight.fill_(10.0)
        layer.bias.fill_(-10.0)
    f = nn.Sequential(layer, nn.Tanh())
    x = 0.1 * torch.randn(32, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert lp.input_gradient_norms(f, x).max().item() < 1e-3
    est = lp.lipschitz_lower_estimate(
        f, x, n_steps=300, lr=0.05, generator=torch.Generator().manual_seed(0)
    )
    assert 5.0 < est <= lp.product_bound(f) * (1 + ROUND_OFF)
    assert lp.product_bound(f) == pytest.approx(10.0)


def test_lower_estimate_is_reproducible_and_grows_with_steps():
    model = mlp([3, 16, 16, 1], seed=2)
    x = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def est(n):
        return lp.lipschitz_lower_estimate(
            model, x, n_steps=n, generator=torch.Generator().manual_seed(5)
        )

    assert est(40) == est(40)
    assert est(0) <= est(10) <= est(40)
    assert est(0) == lp.input_gradient_norms(model, x).max().item()


def test_input_gradient_norms_match_per_sample_autograd():
    model = mlp([3, 8, 1], act=nn.Tanh, seed=3)
    x = torch.randn(5, 3, dtype=torch.float64)
    got = lp.input_gradient_norms(model, x)
    for i in range(5):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xi).sum(), xi)
        assert got[i].item() == pytest.approx(g.norm().item())
    assert not got.requires_grad


def test_normalizing_every_weight_makes_the_bound_one():
    model = mlp([5, 20, 20, 1], seed=4)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight /= torch.linalg.matrix_norm(m.weight, ord=2)
    assert lp.product_bound(model) == pytest.approx(1.0)


def test_conv_matrix_sigma_is_not_an_operator_bound_but_unfold_is():
    conv = nn.Conv1d(1, 1, kernel_size=3, padding=1, bias=False).double()
    with torch.no_grad():
        conv.weight.fill_(1.0)
    assert lp.product_bound(conv) == pytest.approx(math.sqrt(3))
    assert lp.product_bound(conv, conv="unfold") == pytest.approx(3.0)

    def f(x):  # a scalar output: the conv's output along its own direction for constant inputs
        return conv(x).sum(dim=(1, 2)) / math.sqrt(x.shape[-1])

    x = torch.ones(4, 1, 64, dtype=torch.float64)
    # ||conv(1)|| / ||1|| = sqrt((62 * 9 + 2 * 4) / 64) ~ 2.98 > sqrt(3): matrix sigma fails.
    ratio = conv(x[:1]).norm().item() / x[:1].norm().item()
    assert ratio > 2.9 > lp.product_bound(conv)
    assert ratio <= lp.product_bound(conv, conv="unfold")
    assert lp.lipschitz_lower_estimate(f, x, n_steps=0) > lp.product_bound(conv)


def test_conv_unfold_factor_counts_overlapping_patches():
    assert lp.conv_unfold_factor(nn.Conv2d(3, 4, 3)) == pytest.approx(3.0)  # 3 x 3 patches
    assert lp.conv_unfold_factor(nn.Conv2d(3, 4, 4, stride=2)) == pytest.approx(2.0)  # 2 x 2
    assert lp.conv_unfold_factor(nn.Conv2d(3, 4, 1)) == 1.0
    assert lp.conv_unfold_factor(nn.Conv1d(1, 1, 3, stride=2, dilation=2)) == pytest.approx(
        math.sqrt(3)
    )
    with pytest.raises(ValueError, match="padding_mode"):
        lp.conv_unfold_factor(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"))


def test_conv_unfold_bound_holds_against_the_true_operator_norm():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False).double()
    # The operator norm by power iteration on conv^T conv (conv_transpose2d is the adjoint).
    x = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    for _ in range(300):
        y = torch.nn.functional.conv_transpose2d(conv(x), conv.weight, padding=1)
        x = y / y.norm()
    op_norm = conv(x).norm().item()
    assert op_norm <= lp.product_bound(conv, conv="unfold") * (1 + 1e-9)


def test_product_bound_leaves_spectral_norm_parametrization_alone():
    layer = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(8, 4))
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(4, 1))
    model.train()
    u_before = layer.parametrizations.weight[0]._u.clone()
    bound = lp.product_bound(model)
    torch.testing.assert_close(layer.parametrizations.weight[0]._u, u_before)
    assert model.training and layer.training
    sigma_last = torch.linalg.matrix_norm(model[2].weight.detach().double(), ord=2).item()
    layer.eval()  # read the weight the way product_bound does: without a power-iteration step
    assert bound == pytest.approx(lp.spectral_norm_exact(layer.weight) * sigma_last)
    assert lp.spectral_norm_exact(layer.weight) == pytest.approx(1.0, abs=0.05)


def test_unknown_layers_raise_instead_of_guessing():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return x + self.lin(x)

    with pytest.raises(TypeError, match="nn.Sequential chain"):
        lp.product_bound(nn.Sequential(Residual(), nn.Linear(3, 1)))
    with pytest.raises(TypeError, match="BatchNorm1d"):
        lp.product_bound(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)))
    with pytest.raises(TypeError, match="ConvTranspose2d"):
        lp.product_bound(nn.ConvTranspose2d(3, 3, 4))
    with pytest.raises(TypeError, match="cannot bound layer GELU"):
        lp.product_bound(nn.Sequential(nn.Linear(3, 3), nn.GELU()))
    drop = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with pytest.raises(ValueError, match="Dropout in training mode"):
        lp.product_bound(drop.train())
    assert lp.product_bound(drop.eval()) == pytest.approx(lp.spectral_norm_exact(drop[0].weight))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: lp.spectral_norm_exact([[1.0]]), TypeError, "W must be a torch.Tensor"),
        (lambda: lp.spectral_norm_exact(torch.zeros(0)), ValueError, "W must be a non-empty"),
        (lambda: lp.product_bound("net"), TypeError, "model must be an nn.Module"),
        (
            lambda: lp.product_bound(nn.Linear(2, 1), conv="exact"),
            ValueError,
            "conv must be one of",
        ),
        (
            lambda: lp.input_gradient_norms(nn.Linear(2, 1), [[1.0, 2.0]]),
            TypeError,
            "x must be a torch.Tensor",
        ),
        (
            lambda: lp.input_gradient_norms(nn.Linear(2, 1), torch.zeros(1, 2, dtype=torch.long)),
            TypeError,
            "x must",
        ),
        (
            lambda: lp.input_gradient_norms(nn.Linear(2, 3), torch.zeros(4, 2)),
            ValueError,
            "one scalar per sample",
        ),
        (lambda: lp.input_gradient_norms(nn.Linear(2, 1), torch.zeros(0, 2)), ValueError, "N >= 1"),
        (lambda: lp.input_gradient_norms("f", torch.zeros(1, 2)), TypeError, "f must be callable"),
        (
            lambda: lp.lipschitz_lower_estimate(nn.Linear(2, 1), torch.zeros(3, 2), n_steps=-1),
            ValueError,
            "n_steps",
        ),
        (
            lambda: lp.lipschitz_lower_estimate(nn.Linear(2, 1), torch.zeros(3, 2), n_steps=2.0),
            TypeError,
            "n_steps",
        ),
        (
            lambda: lp.lipschitz_lower_estimate(nn.Linear(2, 1), torch.zeros(3, 2), lr=0.0),
            ValueError,
            "lr must",
        ),
        (
            lambda: lp.lipschitz_lower_estimate(nn.Linear(2, 1), torch.zeros(3, 2), generator=0),
            TypeError,
            "generator",
        ),
    ],
)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_make_mlp_builds_the_chain_and_matches_mlp():
    net = lp.make_mlp(3, 8, 2, nn.Tanh)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [8, 8, 1]
    assert net(torch.zeros(5, 3)).shape == (5, 1)
    torch.manual_seed(0)
    ours = lp.make_mlp(3, 8, 2).double()
    for a, b in zip(ours.parameters(), mlp([3, 8, 8, 1]).parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same layers, same init draws
    assert len(lp.make_mlp(4, 8, 0)) == 1


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0, 8, 2), ValueError, "d_in must be >= 1, got 0"),
        ((2, 8, -1), ValueError, "depth must be >= 0, got -1"),
        ((2, 8.0, 1), TypeError, "width must be an int, got float"),
        ((2, 8, 1, "relu"), TypeError, "act must be callable"),
    ],
)
def test_make_mlp_refuses_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        lp.make_mlp(*args)


def test_normalize_exactly_makes_every_sigma_one_and_the_bound_one():
    net = mlp([4, 32, 32, 1], seed=3)
    with torch.no_grad():
        net[0].weight.mul_(7.0)
    before = [m.weight.detach().clone() for m in net if isinstance(m, nn.Linear)]
    assert lp.normalize_exactly(net) is net
    for W0, m in zip(before, [m for m in net if isinstance(m, nn.Linear)], strict=True):
        torch.testing.assert_close(m.weight, W0 / torch.linalg.matrix_norm(W0, ord=2))
    assert lp.product_bound(net) == pytest.approx(1.0, rel=1e-12)
    x = torch.randn(200, 4, dtype=torch.float64)
    assert lp.input_gradient_norms(net, x).max() <= 1 + 1e-12
    zero = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        zero[2].weight.zero_()
    with pytest.raises(ValueError, match="layer '2' has an all-zero weight"):
        lp.normalize_exactly(zero)
    with pytest.raises(TypeError, match="net must be an nn.Module"):
        lp.normalize_exactly(lambda x: x)
