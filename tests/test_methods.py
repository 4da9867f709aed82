"""Tests for sngan_teach.methods: weight normalization (lesson 05) and the registry of
discriminator methods (lessons 07 and 08)."""

from __future__ import annotations

import pytest
import torch
from test_regularizers import _float64_and_seed, small_cnn  # noqa: F401  (float64, seed 0)
from torch import nn
from torch.nn.utils import parametrize

from sngan_teach._util import as_matrix, weight_layers
from sngan_teach.methods import (
    METHOD_LOSS,
    METHOD_NAMES,
    METHODS,
    WeightNorm,
    add_wn,
    apply_method,
    check_method,
    method_hooks,
    weight_norm,
)
from sngan_teach.toy import make_D

# --- weight normalization -------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Linear(7, 5),
        lambda: nn.Conv2d(3, 4, 3),
        lambda: nn.Conv1d(2, 5, 3),
        lambda: nn.Linear(3, 9),
    ],
)
def test_weight_norm_rows_have_unit_norm(make):
    layer = make()
    raw = layer.weight.detach().clone()
    weight_norm(layer)
    assert parametrize.is_parametrized(layer, "weight")
    W = as_matrix(layer.weight)
    torch.testing.assert_close(W.norm(dim=1), torch.ones(W.shape[0]))
    # the direction of each row is unchanged
    raw_mat = as_matrix(raw)
    torch.testing.assert_close(W, raw_mat / raw_mat.norm(dim=1, keepdim=True))
    # sum of squared singular values = ||W||_F^2 = d_out
    s = torch.linalg.svdvals(W)
    torch.testing.assert_close(s.pow(2).sum(), torch.tensor(float(W.shape[0])))


def test_weight_norm_matches_pytorch_weight_norm_with_unit_gain():
    layer = nn.Conv2d(3, 4, 3)
    ref = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3), dim=0)
    with torch.no_grad():
        ref.parametrizations.weight.original0.fill_(1.0)  # g = 1: PyTorch's WN without gamma
        ref.parametrizations.weight.original1.copy_(layer.weight)
    weight_norm(layer)
    torch.testing.assert_close(layer.weight, ref.weight)


def test_weight_norm_conv_transpose_normalizes_output_axis():
    layer = nn.ConvTranspose2d(3, 5, 4)  # weight (in=3, out=5, 4, 4)
    weight_norm(layer)
    norms = layer.weight.transpose(0, 1).reshape(5, -1).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(5))


def test_weight_norm_gradient_flows_to_original():
    layer = weight_norm(nn.Linear(4, 3))
    layer(torch.randn(2, 4)).sum().backward()
    g = layer.parametrizations.weight.original.grad
    assert g is not None and g.abs().sum() > 0
    # the normalized weight is scale invariant, so its gradient is orthogonal to each row
    W = layer.parametrizations.weight.original
    torch.testing.assert_close((g * W).sum(dim=1), torch.zeros(3), atol=1e-12, rtol=0)


def test_add_wn_covers_every_layer_and_refuses_double():
    net = small_cnn()
    add_wn(net)
    layers = weight_layers(net)
    assert len(layers) == 3
    for _, m in layers:
        assert parametrize.is_parametrized(m, "weight")
        torch.testing.assert_close(as_matrix(m.weight).norm(dim=1), torch.ones(m.weight.shape[0]))
    with pytest.raises(ValueError, match="already has a parametrization"):
        add_wn(net)


def test_weight_norm_bad_arguments():
    with pytest.raises(TypeError, match="module must be an nn.Module"):
        weight_norm("not a module")
    with pytest.raises(ValueError, match="no tensor named 'kernel'"):
        weight_norm(nn.Linear(2, 2), name="kernel")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        weight_norm(nn.Linear(2, 2), name="bias")
    with pytest.raises(ValueError, match="eps must be"):
        WeightNorm(eps=0.0)
    with pytest.raises(ValueError, match="out_dim must be 0 or 1"):
        WeightNorm(out_dim=2)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        add_wn(3)


# --- the registry ---------------------------------------------------------------------------


def test_every_method_has_a_loss_and_a_bad_name_is_named():
    assert set(METHOD_LOSS) == set(METHODS) == set(METHOD_NAMES)
    assert {m for m, loss in METHOD_LOSS.items() if loss == "wgan"} == {"clip", "gp"}
    assert check_method("sn") == "sn"
    for bad in ("spectral", None, 3):
        with pytest.raises(ValueError, match=f"method must be one of .* got {bad!r}"):
            check_method(bad)
    with pytest.raises(ValueError, match="method must be one of"):
        apply_method(nn.Linear(2, 2), "bn")
    with pytest.raises(TypeError, match="net_D must be an nn.Module, got str"):
        apply_method("net", "sn")


def test_apply_method_bakes_in_sn_and_wn_only():
    sn = apply_method(small_cnn(), "sn")
    wn = apply_method(small_cnn(), "wn")
    assert all(parametrize.is_parametrized(sn[i], "weight") for i in (0, 2, 5))
    assert type(wn[0].parametrizations.weight[0]) is WeightNorm
    for method in ("none", "gp", "clip", "ortho"):
        assert not any(parametrize.is_parametrized(m) for m in apply_method(small_cnn(), method))


def test_method_hooks():
    net_D = make_D("none", width=8)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    gen = torch.Generator().manual_seed(0)
    penalty, after = method_hooks("gp")
    assert after is None and penalty(net_D, real, fake, gen) > 0
    penalty, after = method_hooks("ortho")
    assert after is None and penalty(net_D, real, fake, gen) > 0
    penalty, after = method_hooks("clip")
    assert penalty is None
    after(net_D)
    assert max(p.abs().max().item() for p in net_D.parameters()) <= 0.01
    assert method_hooks("sn") == (None, None)
    with pytest.raises(ValueError, match="method must be one of"):
        method_hooks("spectral")
