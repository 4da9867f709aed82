"""Tests for sngan_teach.regularizers (lesson 06)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sngan_teach.methods import add_wn
from sngan_teach.regularizers import (
    as_matrix,
    clip_weights_,
    dragan_penalty,
    gradient_penalty,
    orthogonal_init_,
    orthonormal_penalty,
    weight_layers,
)


@pytest.fixture(autouse=True)
def _float64_and_seed():
    """Exact checks in float64; restore the default dtype for the other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(4, 6, 4, stride=2, padding=1),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 1),
    )


# --- weight clipping ------------------------------------------------------------------------


def test_clip_weights_clamps_every_parameter():
    net = small_cnn()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    before = [p.detach().clone() for p in net.parameters()]
    clip_weights_(net, c=0.01)
    for p, b in zip(net.parameters(), before, strict=True):
        assert p.abs().max() <= 0.01
        torch.testing.assert_close(p, b.clamp(-0.01, 0.01))


def test_clip_weights_leaves_small_weights_alone():
    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.mul_(1e-4)
        net.bias.mul_(1e-4)
    before = [p.detach().clone() for p in net.parameters()]
    clip_weights_(net, c=0.01)
    for p, b in zip(net.parameters(), before, strict=True):
        torch.testing.assert_close(p, b, rtol=0, atol=0)


@pytest.mark.parametrize("c", [0, -0.1, float("inf"), float("nan")])
def test_clip_weights_bad_c(c):
    with pytest.raises(ValueError, match="c must be a finite number > 0"):
        clip_weights_(nn.Linear(2, 2), c=c)


def test_clip_weights_bad_types():
    with pytest.raises(TypeError, match="c must be a number"):
        clip_weights_(nn.Linear(2, 2), c="0.01")
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        clip_weights_([1, 2], c=0.01)


# --- orthonormal regularization -------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (5, 5)])
def test_orthonormal_penalty_equals_sum_of_squared_sigma_deviations(shape):
    layer = nn.Linear(shape[1], shape[0])
    s = torch.linalg.svdvals(layer.weight.detach())
    expected = (s.pow(2) - 1).pow(2).sum()
    torch.testing.assert_close(orthonormal_penalty(layer), expected)
    # eq. (14) literally (W^T W - I) differs from ours by the constant d_in - d_out only
    W = layer.weight.detach()
    literal = (W.T @ W - torch.eye(W.shape[1])).pow(2).sum()
    torch.testing.assert_close(
        literal - orthonormal_penalty(layer).detach(),
        torch.tensor(float(max(0, shape[1] - shape[0]))),
    )


def test_orthonormal_penalty_sums_layers_and_is_zero_after_orthogonal_init():
    net = small_cnn()
    per_layer = sum(orthonormal_penalty(m) for _, m in weight_layers(net))
    torch.testing.assert_close(orthonormal_penalty(net), per_layer)
    assert orthonormal_penalty(net) > 1e-3
    orthogonal_init_(net, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(orthonormal_penalty(net), torch.tensor(0.0), atol=1e-20, rtol=0)
    for _, m in weight_layers(net):
        s = torch.linalg.svdvals(as_matrix(m.weight))
        torch.testing.assert_close(s, torch.ones_like(s))


def test_orthonormal_penalty_gradient_descent_flattens_spectrum():
    layer = nn.Linear(6, 4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.02)
    for _ in range(500):
        opt.zero_grad()
        orthonormal_penalty(layer).backward()
        opt.step()
    s = torch.linalg.svdvals(layer.weight.detach())
    torch.testing.assert_close(s, torch.ones(4), atol=1e-4, rtol=0)


def test_orthogonal_init_is_seeded_and_handles_parametrized_and_transposed():
    a, b = small_cnn(), small_cnn()
    orthogonal_init_(a, generator=torch.Generator().manual_seed(3))
    orthogonal_init_(b, generator=torch.Generator().manual_seed(3))
    for (_, ma), (_, mb) in zip(weight_layers(a), weight_layers(b), strict=True):
        torch.testing.assert_close(ma.weight, mb.weight)
    wn = add_wn(small_cnn())
    orthogonal_init_(wn)  # initializes the original; the rows of an orthonormal W have norm 1
    assert orthonormal_penalty(wn).item() < 1e-20
    tr = nn.ConvTranspose2d(8, 3, 2)  # out x rest = 3 x 32
    orthogonal_init_(tr)
    torch.testing.assert_close(torch.linalg.svdvals(as_matrix(tr.weight, tr)), torch.ones(3))


def test_orthonormal_bad_arguments():
    with pytest.raises(ValueError, match="has no Linear or convolution layer"):
        orthonormal_penalty(nn.ReLU())
    with pytest.raises(ValueError, match="gain must be"):
        orthogonal_init_(nn.Linear(2, 2), gain=0)
    with pytest.raises(TypeError, match="generator must be"):
        orthogonal_init_(nn.Linear(2, 2), generator=1)


# --- gradient penalties ---------------------------------------------------------------------


def test_gradient_penalty_of_linear_critic_is_exact():
    # D(x) = a.x has gradient a everywhere, so the penalty is (||a|| - 1)^2 for any interpolate
    D = nn.Linear(5, 1)
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gp, (D.weight.norm() - 1).pow(2))
    dp = dragan_penalty(D, real, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(dp, (D.weight.norm() - 1).pow(2))


def test_gradient_penalty_matches_naive_interpolates():
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(7))
    t = torch.rand(6, 1, generator=torch.Generator().manual_seed(7))
    x = (t * real + (1 - t) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    torch.testing.assert_close(gp, (g.norm(dim=1) - 1).pow(2).mean())


def test_dragan_matches_naive_noisy_copies():
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    real = torch.randn(6, 2)
    dp = dragan_penalty(D, real, generator=torch.Generator().manual_seed(7), noise_scale=0.3)
    eps = torch.randn(6, 2, generator=torch.Generator().manual_seed(7))
    x = (real + 0.3 * real.std() * eps).requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    torch.testing.assert_close(dp, (g.norm(dim=1) - 1).pow(2).mean())


@pytest.mark.parametrize("which", ["gp", "dragan"])
def test_penalties_keep_the_graph_and_train_D(which):
    D = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 1))
    with torch.no_grad():
        D[2].weight.mul_(20)
    real, fake = torch.randn(64, 2), torch.randn(64, 2) + 3
    g = torch.Generator().manual_seed(0)

    def penalty():
        if which == "gp":
            return gradient_penalty(D, real, fake, generator=g)
        return dragan_penalty(D, real, generator=g)

    p0 = penalty()
    assert p0.requires_grad
    p0.backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters() if p.dim() == 2
    )
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        penalty().backward()
        opt.step()
    assert penalty().item() < 0.1 * p0.item()


def test_penalties_work_on_images_and_constant_critic():
    D = small_cnn()
    real, fake = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    assert gradient_penalty(D, real, fake).shape == ()
    assert dragan_penalty(D, real).shape == ()

    class Const(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return self.b.expand(x.shape[0])

    torch.testing.assert_close(gradient_penalty(Const(), real, fake), torch.tensor(1.0))


def test_penalty_bad_arguments():
    D = nn.Linear(2, 1)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(D, x, torch.randn(5, 2))
    with pytest.raises(TypeError, match="real must be a Tensor"):
        gradient_penalty(D, [[0.0, 1.0]], x)
    with pytest.raises(ValueError, match="B >= 1"):
        gradient_penalty(D, torch.randn(0, 2), torch.randn(0, 2))
    with pytest.raises(ValueError, match=r"shape \(B, \.\.\.\)"):
        gradient_penalty(D, torch.randn(4), torch.randn(4))
    with pytest.raises(TypeError, match="floating-point"):
        gradient_penalty(D, torch.ones(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="generator must be"):
        gradient_penalty(D, x, x, generator=0)
    with pytest.raises(TypeError, match="net_D must be"):
        gradient_penalty(3, x, x)
    with pytest.raises(ValueError, match="dtype and device"):
        gradient_penalty(D, x, x.float())
    with pytest.raises(ValueError, match="noise_scale must be a finite number > 0, got 0"):
        dragan_penalty(D, x, noise_scale=0)
    with pytest.raises(TypeError, match="noise_scale must be a number"):
        dragan_penalty(D, x, noise_scale=None)


def test_weight_layers_and_as_matrix():
    net = small_cnn()
    assert [name for name, _ in weight_layers(net)] == ["0", "2", "5"]
    assert as_matrix(net[2].weight).shape == (6, 4 * 4 * 4)
    tr = nn.ConvTranspose2d(3, 5, 2)
    assert as_matrix(tr.weight, tr).shape == (5, 3 * 2 * 2)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        weight_layers("net")
    with pytest.raises(TypeError, match="W must be a Tensor"):
        as_matrix([[1.0]])
    with pytest.raises(ValueError, match="at least 1 dimension"):
        as_matrix(torch.tensor(1.0))
