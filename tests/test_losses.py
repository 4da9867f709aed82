"""Tests for sngan_teach.losses (lesson 07)."""

import pytest
import torch
import torch.nn.functional as F

from sngan_teach.losses import (
    LOSSES,
    get_loss,
    hinge_loss_D,
    hinge_loss_G,
    ns_loss_D,
    ns_loss_G,
    wgan_loss_D,
    wgan_loss_G,
)


@pytest.fixture
def outputs():
    gen = torch.Generator().manual_seed(0)
    d_real = torch.randn(64, 1, generator=gen, dtype=torch.float64) * 3
    d_fake = torch.randn(64, 1, generator=gen, dtype=torch.float64) * 3
    return d_real, d_fake


def test_ns_loss_D_equals_binary_cross_entropy(outputs):
    d_real, d_fake = outputs
    expected = F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    torch.testing.assert_close(ns_loss_D(d_real, d_fake), expected)


def test_ns_loss_G_is_minus_log_sigmoid(outputs):
    _, d_fake = outputs
    expected = -torch.log(torch.sigmoid(d_fake)).mean()
    torch.testing.assert_close(ns_loss_G(d_fake), expected)
    torch.testing.assert_close(
        ns_loss_G(d_fake), F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    )


def test_ns_loss_is_stable_for_large_logits():
    big = torch.tensor([1e4, -1e4], dtype=torch.float32)
    assert torch.isfinite(ns_loss_D(big, -big))
    assert torch.isfinite(ns_loss_G(big))


def test_hinge_loss_D_matches_paper_eq16_negated(outputs):
    d_real, d_fake = outputs
    # eq. (16) is maximized: E[min(0, -1 + D(x))] + E[min(0, -1 - D(G(z)))]
    objective = torch.clamp(-1 + d_real, max=0).mean() + torch.clamp(-1 - d_fake, max=0).mean()
    torch.testing.assert_close(hinge_loss_D(d_real, d_fake), -objective)
    assert hinge_loss_D(d_real, d_fake) >= 0


def test_hinge_loss_D_is_zero_beyond_the_margins_and_pushes_the_right_way():
    assert hinge_loss_D(torch.tensor([1.5, 1.0]), torch.tensor([-1.0, -3.0])) == 0
    d_real = torch.zeros(4, requires_grad=True)
    d_fake = torch.zeros(4, requires_grad=True)
    hinge_loss_D(d_real, d_fake).backward()
    assert (d_real.grad < 0).all()  # gradient descent raises D(x)
    assert (d_fake.grad > 0).all()  # and lowers D(G(z))


def test_hinge_and_wgan_generator_losses(outputs):
    d_real, d_fake = outputs
    torch.testing.assert_close(hinge_loss_G(d_fake), -d_fake.mean())
    torch.testing.assert_close(wgan_loss_G(d_fake), -d_fake.mean())
    torch.testing.assert_close(wgan_loss_D(d_real, d_fake), d_fake.mean() - d_real.mean())


def test_get_loss_names_and_pairs():
    assert set(LOSSES) == {"ns", "hinge", "wgan"}
    assert get_loss("ns") == (ns_loss_D, ns_loss_G)
    pair = (hinge_loss_D, ns_loss_G)
    assert get_loss(pair) is pair
    with pytest.raises(ValueError, match="loss must be one of .* got 'lsgan'"):
        get_loss("lsgan")
    with pytest.raises(TypeError, match="loss must be a name"):
        get_loss((hinge_loss_D,))
    with pytest.raises(TypeError, match="loss must be a name"):
        get_loss(3)
