"""Tests for sngan_teach.spectra (lesson 05)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from sngan_teach.methods import add_wn  # noqa: E402
from sngan_teach.spectra import (  # noqa: E402
    effective_rank,
    layer_singular_values,
    normalized_squared_spectrum,
    plot_layer_spectra,
)


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(4, 6, 4, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 1),
    )


def test_layer_singular_values_match_numpy_svd_of_reshaped_weights():
    net = small_cnn()
    spectra = layer_singular_values(net)
    assert list(spectra) == ["0", "2", "4"]
    for name, m in [("0", net[0]), ("2", net[2]), ("4", net[4])]:
        W = m.weight.detach().double().reshape(m.weight.shape[0], -1).numpy()
        expected = torch.from_numpy(np.linalg.svd(W, compute_uv=False))
        torch.testing.assert_close(spectra[name], expected)
        assert spectra[name].dtype == torch.float64
    assert spectra["0"].shape == (4,)  # 4 x 9
    assert spectra["2"].shape == (6,)  # 6 x 64


def test_layer_singular_values_read_the_normalized_weight():
    net = add_wn(small_cnn())
    for s in layer_singular_values(net).values():
        rows = s.numel()  # every layer here has d_out <= rest
        torch.testing.assert_close(s.pow(2).sum(), torch.tensor(float(rows), dtype=torch.float64))


def test_layer_singular_values_with_spectral_norm_do_not_update_u_and_keep_mode():
    net = small_cnn()
    sn = nn.utils.parametrizations.spectral_norm(net[2])
    net.train()
    u_before = sn.parametrizations.weight[0]._u.clone()
    s = layer_singular_values(net)["2"]
    torch.testing.assert_close(sn.parametrizations.weight[0]._u, u_before, rtol=0, atol=0)
    assert net.training and net[2].training
    # after registration (15 warm-up iterations) sigma_1 of W / sigma is close to 1
    assert abs(s[0].item() - 1) < 0.05


def test_conv_transpose_uses_output_axis():
    layer = nn.ConvTranspose2d(8, 3, 2)
    s = layer_singular_values(nn.Sequential(layer))["0"]
    assert s.shape == (3,)


def test_effective_rank_values():
    assert effective_rank(torch.tensor([3.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_rank(torch.tensor([2.0, 2.0, 2.0, 2.0])) == pytest.approx(4.0)
    assert effective_rank(torch.tensor([1.0, 1.0, 0.0])) == pytest.approx(2.0)
    # scale invariant and between 1 and len(s)
    s = torch.rand(10, generator=torch.Generator().manual_seed(0)) + 0.01
    r = effective_rank(s)
    assert 1 < r < 10
    assert effective_rank(7 * s) == pytest.approx(r)
    # squared, not plain: p = (0.8, 0.2) for s = (2, 1)
    p = torch.tensor([0.8, 0.2])
    assert effective_rank(torch.tensor([2.0, 1.0])) == pytest.approx(
        math.exp(-(p * p.log()).sum().item())
    )


def test_normalized_squared_spectrum_sorts_and_scales():
    out = normalized_squared_spectrum(torch.tensor([1.0, 3.0, 0.0]))
    torch.testing.assert_close(out, torch.tensor([1.0, 1 / 9, 0.0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("s", "err", "match"),
    [
        ([1.0, 2.0], TypeError, "s must be a Tensor"),
        (torch.ones(2, 2), ValueError, "1-D"),
        (torch.tensor([]), ValueError, "non-empty"),
        (torch.tensor([1.0, -1.0]), ValueError, ">= 0"),
        (torch.zeros(3), ValueError, "positive"),
        (torch.tensor([1.0, float("nan")]), ValueError, "finite"),
    ],
)
def test_bad_spectra(s, err, match):
    with pytest.raises(err, match=match):
        effective_rank(s)
    with pytest.raises(err, match=match):
        normalized_squared_spectrum(s)


def test_layer_singular_values_bad_model():
    with pytest.raises(ValueError, match="no Linear or convolution"):
        layer_singular_values(nn.ReLU())
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        layer_singular_values("net")


def test_plot_layer_spectra():
    spectra = {
        "A": layer_singular_values(small_cnn()),
        "WN": layer_singular_values(add_wn(small_cnn())),
    }
    fig = plot_layer_spectra(spectra, ncols=2)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    assert all(len(ax.lines) == 2 for ax in axes)
    assert axes[0].get_xlabel() and axes[0].get_ylabel() and axes[0].get_title()
    assert max(axes[0].lines[0].get_ydata()) == pytest.approx(1.0)
    plt.close(fig)
    with pytest.raises(ValueError, match="no spectrum for layers"):
        plot_layer_spectra({"A": {"0": torch.ones(2)}}, layers=["0", "9"])
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_layer_spectra({})
    with pytest.raises(ValueError, match="ncols"):
        plot_layer_spectra(spectra, ncols=0)


def test_layer_singular_values_with_the_package_spectral_norm():
    from sngan_teach.sn import add_sn

    net = add_sn(small_cnn())
    net.train()
    u_before = [p.detach().clone() for n, p in net.named_buffers() if n.endswith("_u")]
    spectra = layer_singular_values(net)
    u_after = [p for n, p in net.named_buffers() if n.endswith("_u")]
    assert len(u_before) == 3
    for a, b in zip(u_before, u_after, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for s in spectra.values():
        assert abs(s[0].item() - 1) < 0.05
