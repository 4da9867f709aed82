"""Tests for sngan_teach.checkup on hand-built modules whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sngan_teach.checkup import checkup, format_checkup, is_spectrally_normalized, jacobian_norms
from sngan_teach.sn import spectral_norm


def diagonal_linear(values: list[float]) -> nn.Linear:
    layer = nn.Linear(len(values), len(values), dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.diag(torch.tensor(values, dtype=torch.float64)))
        layer.bias.fill_(0.7)  # a bias changes no norm
    return layer


def test_linear_with_a_diagonal_weight():
    layer = diagonal_linear([3.0, -2.0, 0.5])
    report = checkup(layer, torch.randn(4, 3, dtype=torch.float64))
    (row,) = report["layers"]
    assert row["kind"] == "Linear" and row["sn"] is False
    assert row["sigma"] == pytest.approx(3.0, rel=1e-12)
    assert row["op_norm"] == pytest.approx(3.0, rel=1e-12)
    p = torch.tensor([9.0, 4.0, 0.25], dtype=torch.float64) / 13.25
    assert row["eff_rank"] == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-9)
    assert report["product_bound"] == pytest.approx(3.0, rel=1e-12)
    # the Jacobian of a linear map is W everywhere: power iteration finds sigma = 3
    assert report["lower_bound"] == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize(
    ("kernel", "padding_mode", "sigma", "op_norm"),
    [
        # all-ones 3x3 kernel, circular padding: a constant image is multiplied by 9, while the
        # reshaped 1 x 9 kernel has sigma = 3 (the paper's footnote 3, by a factor of 3)
        (torch.ones(3, 3), "circular", 3.0, 9.0),
        # a kernel with only a centre tap c is c times the identity, whatever the padding
        (torch.tensor([[0.0, 0.0, 0.0], [0.0, -2.5, 0.0], [0.0, 0.0, 0.0]]), "zeros", 2.5, 2.5),
    ],
)
def test_conv_with_a_known_operator_norm(kernel, padding_mode, sigma, op_norm):
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode=padding_mode, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(kernel.view(1, 1, 3, 3))
    report = checkup(conv, torch.randn(2, 1, 6, 6, dtype=torch.float64), n_iterations=100)
    (row,) = report["layers"]
    assert row["input_shape"] == (1, 6, 6)
    assert row["sigma"] == pytest.approx(sigma, rel=1e-9)
    assert row["op_norm"] == pytest.approx(op_norm, rel=1e-6)
    assert report["product_bound"] == pytest.approx(op_norm, rel=1e-6)


def test_spectrally_normalized_layers_are_detected_and_left_unchanged():
    torch.manual_seed(0)
    ours = spectral_norm(nn.Linear(6, 6))
    theirs = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(6, 6))
    old = torch.nn.utils.spectral_norm(nn.Linear(6, 6))
    plain = nn.Linear(6, 5)
    model = nn.Sequential(ours, nn.ReLU(), theirs, nn.ReLU(), old, nn.ReLU(), plain)
    model.train()
    u_before = ours.parametrizations.weight[0]._u.clone()
    report = checkup(model, torch.randn(3, 6))
    assert [row["sn"] for row in report["layers"]] == [True, True, True, False]
    assert is_spectrally_normalized(ours) and not is_spectrally_normalized(plain)
    # sigma is read from the weight as the forward uses it: about 1 after normalization
    assert report["layers"][0]["sigma"] == pytest.approx(1.0, abs=1e-3)
    assert report["layers"][3]["sigma"] > 0 and report["layers"][3]["sigma"] != pytest.approx(1.0)
    # no power-iteration step ran and the training flags are back
    torch.testing.assert_close(ours.parametrizations.weight[0]._u, u_before, rtol=0, atol=0)
    assert all(m.training for m in model.modules())


def test_two_layer_net_gradient_bound_below_product_bound():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1)).double()
    x = torch.randn(32, 4, dtype=torch.float64)
    report = checkup(net, x)
    by_svd = [torch.linalg.matrix_norm(net[i].weight, ord=2).item() for i in (0, 2)]
    assert report["product_bound"] == pytest.approx(math.prod(by_svd), rel=1e-12)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x_req).sum(), x_req)
    assert report["lower_bound"] == pytest.approx(grad.norm(dim=1).max().item(), rel=1e-12)
    assert 0 < report["lower_bound"] <= report["product_bound"]


def test_jacobian_norms_of_a_vector_valued_map_and_of_extra_arguments():
    torch.manual_seed(2)

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 3, dtype=torch.float64)

        def forward(self, x, scale):
            return self.lin(x) * scale[:, None]

    model = Scaled()
    x = torch.randn(4, 5, dtype=torch.float64)
    scale = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    sigma = torch.linalg.matrix_norm(model.lin.weight, ord=2).item()
    norms = jacobian_norms(model, (x, scale), n_iterations=200)
    torch.testing.assert_close(norms, sigma * scale, rtol=1e-6, atol=0)
    assert checkup(model, (x, scale))["lower_bound"] == pytest.approx(3 * sigma, rel=1e-6)


def test_layers_the_forward_skips_and_transposed_convs_get_nan():
    class Partial(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.ConvTranspose2d(1, 1, 2, 2)
            self.unused = nn.Linear(3, 3)

        def forward(self, x):
            return self.used(x).flatten(1).sum(1)

    report = checkup(Partial(), torch.randn(2, 1, 4, 4))
    used, unused = report["layers"]
    assert used["input_shape"] == (1, 4, 4) and math.isnan(used["op_norm"])
    assert unused["input_shape"] is None and math.isnan(unused["op_norm"])
    assert math.isnan(report["product_bound"])
    table = format_checkup(report)
    assert "used" in table and "unused" in table and "lower bound" in table


@pytest.mark.parametrize(
    ("model", "example_input", "error", "names"),
    [
        ("not a model", torch.randn(2, 3), TypeError, "model"),
        (nn.Linear(3, 1), [1.0, 2.0], TypeError, "example_input"),
        (nn.Linear(3, 1), torch.ones(2, 3, dtype=torch.long), TypeError, "example_input"),
        (nn.Linear(3, 1), torch.randn(3), ValueError, "example_input"),
        (nn.Sequential(nn.ReLU()), torch.randn(2, 3), ValueError, "no Linear"),
    ],
)
def test_bad_inputs_name_the_argument(model, example_input, error, names):
    with pytest.raises(error, match=names):
        checkup(model, example_input)


def test_bad_iterations_and_outputs_raise():
    with pytest.raises(ValueError, match="n_iterations"):
        checkup(nn.Linear(3, 1), torch.randn(2, 3), n_iterations=0)

    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            return self.lin(x).sum()  # one number for the whole batch

    with pytest.raises(ValueError, match="one row per example"):
        checkup(Pooled(), torch.randn(2, 3))
    with pytest.raises(ValueError, match="report"):
        format_checkup({"layers": []})


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_weight_is_refused_naming_the_layer(bad):
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1))
    with torch.no_grad():
        net[3].weight[0, 1] = bad
    with pytest.raises(ValueError, match=r"layer '3' \(Linear\) has 1 of 8 weight entries NaN"):
        checkup(net, torch.randn(2, 1, 4, 4))
    spectral_norm(net[0])
    with torch.no_grad():
        net[3].weight[0, 1] = 0.0
        net[0].parametrizations.weight.original.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"layer '0' \(Conv2d\) has 18 of 18"):
        checkup(net, torch.randn(2, 1, 4, 4))


def test_a_zero_size_layer_is_refused_naming_it():
    with pytest.warns(UserWarning, match="zero-element"):  # PyTorch's own note at init
        net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 0))
    with pytest.raises(ValueError, match=r"layer '1' \(Linear\) has a weight of shape \(0, 3\)"):
        checkup(net, torch.randn(2, 4))


def test_format_checkup_refuses_a_report_without_layers():
    with pytest.raises(ValueError, match="no layers"):
        format_checkup({"layers": [], "product_bound": 1.0, "lower_bound": 0.0})
