"""Tests for sngan_teach.sn (lesson 04): equality with PyTorch's spectral_norm, train/eval,
state_dict, deepcopy, ConvTranspose2d, bad arguments, torch.compile, bf16 autocast, add_sn,
remove_sn and the operator norm of a convolution."""

from __future__ import annotations

import copy
import doctest
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm
from torch.utils._python_dispatch import TorchDispatchMode

import sngan_teach.sn
from sngan_teach.sn import (
    SpectralNorm,
    add_sn,
    conv_operator_norm,
    estimated_sigma,
    remove_sn,
    spectral_norm,
)


def _sn(module: nn.Module, name: str = "weight") -> SpectralNorm:
    return module.parametrizations[name][0]


def _twins(make, seed: int = 0, **kwargs):
    """The same module twice, one with our SN and one with PyTorch's, sharing u and v."""
    torch.manual_seed(seed)
    base = make()
    ours = spectral_norm(copy.deepcopy(base), **kwargs)
    theirs = torch_spectral_norm(copy.deepcopy(base), **kwargs)
    with torch.no_grad():
        theirs.parametrizations.weight[0]._u.copy_(_sn(ours)._u)
        theirs.parametrizations.weight[0]._v.copy_(_sn(ours)._v)
    return ours, theirs


MAKERS = {
    "linear": (lambda: nn.Linear(12, 7, dtype=torch.float64), (5, 12)),
    "conv2d": (lambda: nn.Conv2d(3, 6, 3, padding=1, dtype=torch.float64), (2, 3, 8, 8)),
    "conv4x4s2": (lambda: nn.Conv2d(4, 5, 4, 2, 1, dtype=torch.float64), (2, 4, 8, 8)),
    "convT2d": (lambda: nn.ConvTranspose2d(6, 3, 4, 2, 1, dtype=torch.float64), (2, 6, 4, 4)),
}


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_equals_pytorch_over_training_and_in_eval(kind, n_power_iterations):
    make, shape = MAKERS[kind]
    ours, theirs = _twins(make, n_power_iterations=n_power_iterations)
    opt_a = torch.optim.Adam(ours.parameters(), lr=0.05)
    opt_b = torch.optim.Adam(theirs.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        y_a, y_b = ours(x), theirs(x)
        torch.testing.assert_close(y_a, y_b, rtol=0, atol=1e-10)
        for a, b in (
            (_sn(ours)._u, theirs.parametrizations.weight[0]._u),
            (_sn(ours)._v, theirs.parametrizations.weight[0]._v),
        ):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
        (y_a.square().mean() + y_a.mean()).backward()
        (y_b.square().mean() + y_b.mean()).backward()
        opt_a.step()
        opt_b.step()
        opt_a.zero_grad()
        opt_b.zero_grad()
    ours.eval()
    theirs.eval()
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-10)


def test_sigma_of_normalized_weight_is_one_and_sigma_matches_svd():
    torch.manual_seed(0)
    layer = nn.Linear(30, 50, dtype=torch.float64)
    with torch.no_grad():  # singular values 3, then 1 ... 0.1: a gap, so the iteration converges
        U, _, Vh = torch.linalg.svd(layer.weight, full_matrices=False)
        s = torch.cat([torch.tensor([3.0]), torch.linspace(1.0, 0.1, 29)]).double()
        layer.weight.copy_(U @ torch.diag(s) @ Vh)
    spectral_norm(layer, n_power_iterations=20)
    W = layer.parametrizations.weight.original.detach()
    sigma_true = torch.linalg.matrix_norm(W, 2)
    layer(torch.zeros(1, 30, dtype=torch.float64))
    torch.testing.assert_close(estimated_sigma(layer), sigma_true, rtol=1e-8, atol=0)
    torch.testing.assert_close(
        torch.linalg.matrix_norm(layer.weight.detach(), 2),
        torch.tensor(1.0, dtype=torch.float64),
        rtol=1e-8,
        atol=0,
    )


def test_matches_naive_formula_and_gradient_eq10():
    """W_bar = W / (u^T W v) with u, v the updated vectors; dsigma/dW = u v^T (paper eq. 10)."""
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(6, 4, dtype=torch.float64))
    W = layer.parametrizations.weight.original
    v0 = _sn(layer)._v.clone()
    u = F.normalize(W.detach() @ v0, dim=0)
    v = F.normalize(W.detach().T @ u, dim=0)
    W_bar = layer.weight
    torch.testing.assert_close(W_bar, W / (u @ W @ v), rtol=0, atol=1e-12)
    G = torch.randn(4, 6, dtype=torch.float64)
    (grad,) = torch.autograd.grad((W_bar * G).sum(), W)
    sigma = u @ W.detach() @ v
    expected = (G - (G * W_bar.detach()).sum() * torch.outer(u, v)) / sigma
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-12)


def test_eval_leaves_u_v_unchanged_and_train_updates_them():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(8, 8))
    layer.eval()
    u, v = _sn(layer)._u.clone(), _sn(layer)._v.clone()
    w1 = layer.weight.detach().clone()
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(torch.linspace(0.5, 2.0, 8))
    layer.weight  # noqa: B018
    assert torch.equal(_sn(layer)._u, u) and torch.equal(_sn(layer)._v, v)
    assert not torch.equal(layer.weight.detach(), w1)
    layer.train()
    layer.weight  # noqa: B018
    assert not torch.equal(_sn(layer)._u, u)
    assert not torch.equal(_sn(layer)._v, v)


def test_two_forwards_one_backward():
    """loss = D(real) + D(fake) in one graph, with an in-place u, v update in between."""
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(5, 3))
    loss = layer(torch.randn(2, 5)).sum() + layer(torch.randn(2, 5)).sum()
    loss.backward()
    assert layer.parametrizations.weight.original.grad is not None
    layer.eval()
    loss = layer(torch.randn(2, 5)).sum()
    layer.train()
    layer(torch.randn(2, 5))
    loss.backward()


def test_state_dict_round_trip_and_torch_compatible_keys():
    torch.manual_seed(0)
    a = spectral_norm(nn.Conv2d(3, 4, 3))
    for _ in range(3):
        a(torch.randn(1, 3, 5, 5))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(1)
    b = spectral_norm(nn.Conv2d(3, 4, 3))
    b.load_state_dict(torch.load(buf))
    a.eval()
    b.eval()
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(a(x), b(x))
    assert torch.equal(_sn(a)._u, _sn(b)._u)
    c = torch_spectral_norm(nn.Conv2d(3, 4, 3))
    assert set(c.state_dict()) == set(a.state_dict())
    c.load_state_dict(a.state_dict())
    c.eval()
    torch.testing.assert_close(c(x), a(x))


def test_deepcopy_and_to():
    torch.manual_seed(0)
    a = spectral_norm(nn.Linear(4, 3))
    b = copy.deepcopy(a)
    assert b.parametrizations.weight.original is not a.parametrizations.weight.original
    assert _sn(b)._u.data_ptr() != _sn(a)._u.data_ptr()
    x = torch.randn(2, 4)
    assert torch.equal(a(x), b(x))
    c = copy.deepcopy(a).to(torch.float64)
    assert _sn(c)._u.dtype == torch.float64
    assert c(x.double()).dtype == torch.float64
    d = copy.deepcopy(a).to("meta")
    assert _sn(d)._u.device.type == "meta"
    if torch.cuda.is_available():
        e = copy.deepcopy(a).cuda()
        assert _sn(e)._v.is_cuda and e(x.cuda()).is_cuda


def test_conv_transpose_uses_output_axis_1():
    torch.manual_seed(0)
    m = spectral_norm(nn.ConvTranspose2d(6, 3, 4, 2, 1, dtype=torch.float64), n_power_iterations=30)
    assert _sn(m).dim == 1
    assert _sn(m)._u.shape == (3,) and _sn(m)._v.shape == (6 * 4 * 4,)
    W = m.parametrizations.weight.original.detach()
    sigma = torch.linalg.matrix_norm(W.transpose(0, 1).flatten(1), 2)
    m.weight  # noqa: B018
    torch.testing.assert_close(estimated_sigma(m), sigma, rtol=1e-6, atol=0)


def test_float32_and_float64():
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        m = spectral_norm(nn.Conv2d(3, 8, 3, dtype=dtype), n_power_iterations=50)
        assert _sn(m)._u.dtype == dtype
        W_bar = m.weight.detach()
        assert W_bar.dtype == dtype
        sigma = torch.linalg.matrix_norm(W_bar.flatten(1).double(), 2).item()
        assert abs(sigma - 1) < (1e-5 if dtype == torch.float32 else 1e-10)


class _DtypeLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.log = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        self.log.append((func.__name__, [t.dtype for t in tensors]))
        return func(*args, **kwargs)


def test_bf16_autocast_sigma_in_float32():
    torch.manual_seed(0)
    m = spectral_norm(nn.Linear(64, 96))
    u, v = _sn(m)._u.clone(), _sn(m)._v.clone()
    expected = m.weight.detach()
    with torch.no_grad():
        _sn(m)._u.copy_(u)
        _sn(m)._v.copy_(v)
    with torch.autocast("cpu", dtype=torch.bfloat16), _DtypeLog() as rec:
        got = m.weight
        y = m(torch.randn(3, 64))
    assert y.dtype == torch.bfloat16  # the layer itself runs in bf16 ...
    assert got.dtype == torch.float32  # ... but W_bar and sigma are float32
    torch.testing.assert_close(got.detach(), expected, rtol=0, atol=0)
    products = [d for name, d in rec.log if name.split(".")[0] in ("mv", "mm", "dot", "vdot")]
    assert products and all(dt == torch.float32 for ds in products for dt in ds), products


def test_bf16_weights_compute_sigma_in_float32():
    torch.manual_seed(0)
    m = spectral_norm(nn.Linear(32, 16), n_power_iterations=30).to(torch.bfloat16)
    with _DtypeLog() as rec:
        w = m.weight
    assert w.dtype == torch.bfloat16
    products = [d for name, d in rec.log if name.split(".")[0] in ("mv", "mm", "dot")]
    assert products and all(dt == torch.float32 for ds in products for dt in ds)
    assert abs(torch.linalg.matrix_norm(w.float(), 2).item() - 1) < 2e-2


def test_compile_fullgraph_no_graph_break():
    torch.manual_seed(0)
    net = add_sn(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.1), nn.Flatten(), nn.Linear(8 * 4 * 4, 1)
        )
    )
    x = torch.randn(2, 3, 4, 4)
    explanation = torch._dynamo.explain(copy.deepcopy(net))(x)
    assert explanation.graph_count == 1
    assert explanation.graph_break_count == 0, explanation.break_reasons
    torch._dynamo.reset()
    ref = copy.deepcopy(net)
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    for _ in range(3):  # the compiled graph must update the buffers u, v like eager does
        y, y_ref = compiled(x), ref(x)
        torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(_sn(net[0])._u, _sn(ref[0])._u, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(_sn(net[3])._v, _sn(ref[3])._v, rtol=1e-6, atol=1e-6)
        y.sum().backward()
        y_ref.sum().backward()
        for p, q in zip(net.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compiled(x).dtype == torch.bfloat16


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_power_iterations must be >= 1, got 0"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(TypeError, match="n_power_iterations must be an int"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=1.5)
    with pytest.raises(ValueError, match=r"eps must be > 0, got -1e-12"):
        spectral_norm(nn.Linear(2, 2), eps=-1e-12)
    with pytest.raises(ValueError, match=r"eps must be > 0, got 0"):
        spectral_norm(nn.Linear(2, 2), eps=0)
    for eps in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match=r"eps must be a finite number > 0, got (inf|nan)"):
            spectral_norm(nn.Linear(2, 2), eps=eps)
        with pytest.raises(ValueError, match=r"eps must be a finite number > 0"):
            add_sn(nn.Sequential(nn.Linear(2, 2)), eps=eps)
    with pytest.raises(ValueError, match="has no parameter named 'kernel'"):
        spectral_norm(nn.Linear(2, 2), name="kernel")
    with pytest.raises(TypeError, match="Linear.bias must be a torch.Tensor, got NoneType"):
        spectral_norm(nn.Linear(2, 2, bias=False), name="bias")
    with pytest.raises(TypeError, match="must be a torch.Tensor, got str"):
        m = nn.Module()
        m.weight = "not a tensor"
        spectral_norm(m)
    with pytest.raises(ValueError, match="at least 2 dimensions, got shape"):
        spectral_norm(nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="lazy"):
        spectral_norm(nn.LazyLinear(3))
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        spectral_norm(torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"dim must be an int in \[-2, 1\], got 2"):
        spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="already has spectral normalization"):
        spectral_norm(spectral_norm(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="n_power_iterations must be >= 1, got 0"):
        add_sn(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="input_shape"):
        conv_operator_norm(nn.Conv2d(3, 4, 3), (4, 8, 8))
    with pytest.raises(
        ValueError, match=r"input_shape \(3, 2, 8\) is smaller than the conv's kernel"
    ):
        conv_operator_norm(nn.Conv2d(3, 4, 3), (3, 2, 8))
    with pytest.raises(ValueError, match=r"W \+ 2 \* padding = 3 < dilated kernel size 5"):
        conv_operator_norm(nn.Conv2d(3, 4, 3, dilation=2), (3, 8, 3))
    assert conv_operator_norm(nn.Conv2d(3, 4, 3, padding=1), (3, 1, 1)) > 0  # padded to 3 x 3
    assert conv_operator_norm(nn.Conv2d(3, 4, 3, padding="same"), (3, 1, 2)) > 0
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got str"):
        spectral_norm(nn.Linear(2, 2), generator="x")
    with pytest.raises(TypeError, match="conv must be a torch.nn.Conv2d"):
        conv_operator_norm(nn.Linear(3, 4), (3, 8, 8))


def test_add_sn_and_remove_sn():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ConvTranspose2d(4, 2, 4, 2, 1),
        nn.Flatten(),
        nn.Linear(2 * 12 * 12, 1),
    )
    parametrize.register_parametrization(net[4], "weight", nn.Identity())
    add_sn(net, n_power_iterations=2)
    assert isinstance(_sn(net[0]), SpectralNorm) and _sn(net[0]).n_power_iterations == 2
    assert isinstance(_sn(net[2]), SpectralNorm) and _sn(net[2]).dim == 1
    assert not parametrize.is_parametrized(net[1])
    assert isinstance(net[4].parametrizations.weight[0], nn.Identity)  # left alone
    u = _sn(net[0])._u.clone()
    add_sn(net)  # idempotent
    assert torch.equal(_sn(net[0])._u, u) and len(net[0].parametrizations.weight) == 1
    net(torch.randn(2, 3, 8, 8))
    param = net[0].parametrizations.weight.original
    net.eval()
    x = torch.randn(2, 3, 8, 8)
    y = net(x)
    expected_w = net[0].weight.detach().clone()
    net.train()  # remove_sn must not run a power-iteration step even in training mode
    with pytest.raises(ValueError, match="mixes spectral normalization"):
        m = spectral_norm(nn.Linear(3, 3))
        parametrize.register_parametrization(m, "weight", nn.Identity())
        remove_sn(m)
    parametrize.remove_parametrizations(net[4], "weight")
    remove_sn(net)
    assert not any(parametrize.is_parametrized(m) for m in net.modules())
    assert net[0].weight is param  # same Parameter object: optimizers keep working
    assert torch.equal(net[0].weight.detach(), expected_w)
    net.eval()
    torch.testing.assert_close(net(x), y)


def _dense_conv_norm(conv: nn.Conv2d, shape) -> float:
    J = torch.autograd.functional.jacobian(
        lambda x: conv._conv_forward(x, conv.weight.detach(), None),
        torch.zeros(1, *shape, dtype=conv.weight.dtype),
    )
    J = J.reshape(-1, torch.Size(shape).numel())
    return torch.linalg.matrix_norm(J, 2).item()


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Conv2d(3, 5, 3, 1, 1, dtype=torch.float64),
        lambda: nn.Conv2d(3, 5, 4, 2, 1, dtype=torch.float64),
        lambda: nn.Conv2d(2, 4, 3, 1, 1, padding_mode="circular", dtype=torch.float64),
        lambda: nn.Conv2d(4, 4, 3, 1, 2, dilation=2, groups=2, dtype=torch.float64),
    ],
    ids=["3x3", "4x4s2", "circular", "dilated-groups"],
)
def test_conv_operator_norm_matches_dense_jacobian(make):
    torch.manual_seed(0)
    conv = make()
    shape = (conv.in_channels, 6, 6)
    exact = _dense_conv_norm(conv, shape)
    gen = torch.Generator().manual_seed(0)
    got = conv_operator_norm(conv, shape, n_iterations=2000, generator=gen)
    assert got <= exact * (1 + 1e-9)  # a power-iteration estimate never overshoots
    assert got == pytest.approx(exact, rel=1e-4)


def test_conv_operator_norm_circular_equals_fft():
    """Circular stride-1 convolution: per-frequency matrices K(f) are c_out x c_in; the
    operator norm is the largest singular value over all frequencies (Sedghi et al., 2019)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, 1, 1, padding_mode="circular", bias=False, dtype=torch.float64)
    n = 8
    K = conv.weight.detach()
    # cross-correlation: y[o, p] = sum_{i, a, b} K[o, i, a, b] x[i, p + (a, b) - 1]
    pad = torch.zeros(4, 3, n, n, dtype=torch.float64)
    pad[:, :, :3, :3] = K.flip(-1, -2)
    pad = pad.roll((-2, -2), dims=(-2, -1))
    spectra = torch.fft.fft2(pad).permute(2, 3, 0, 1)
    exact = torch.linalg.matrix_norm(spectra, 2).max().item()
    got = conv_operator_norm(
        conv, (3, n, n), n_iterations=500, generator=torch.Generator().manual_seed(0)
    )
    assert got == pytest.approx(exact, rel=1e-6)
    assert exact == pytest.approx(_dense_conv_norm(conv, (3, n, n)), rel=1e-9)


def test_conv_operator_norm_of_sn_conv_does_not_update_u():
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(3, 4, 3, padding=1))
    u = _sn(conv)._u.clone()
    value = conv_operator_norm(conv, (3, 8, 8))
    assert torch.equal(_sn(conv)._u, u)
    assert conv.parametrizations.weight[0].training
    assert value > 0


def test_docstring_example_runs():
    result = doctest.testmod(sngan_teach.sn, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0, result


@pytest.mark.parametrize(
    ("kind", "channels_last"),
    [(kind, False) for kind in ("conv2d", "conv4x4s2", "convT2d", "linear")]
    + [(kind, True) for kind in ("conv2d", "conv4x4s2", "convT2d")],  # a 4-D layout only
)
def test_weight_gradient_equals_pytorch_with_gradient_penalty(kind, channels_last):
    """The hand-written backward (eq. 10) against autograd's, through a loss that includes a
    gradient penalty on the input (double backward through the layer), in any memory layout."""
    make, shape = MAKERS[kind]
    ours, theirs = _twins(make)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    if channels_last:
        ours, theirs = (m.to(memory_format=torch.channels_last) for m in (ours, theirs))
        x = x.contiguous(memory_format=torch.channels_last)
    grads = []
    for layer in (ours, theirs):
        xr = x.clone().requires_grad_(True)
        y = layer(xr)
        (g_x,) = torch.autograd.grad(y.tanh().sum(), xr, create_graph=True)
        loss = y.square().mean() + 10 * (g_x.flatten(1).norm(dim=1) - 1).square().mean()
        loss.backward()
        grads.append(layer.parametrizations.weight.original.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_a_weight_of_zeros_is_refused():
    layer = nn.Linear(3, 2)
    nn.init.zeros_(layer.weight)
    with pytest.raises(ValueError, match=r"Linear.weight is all zeros: sigma\(W\) = 0"):
        spectral_norm(layer)
    assert not parametrize.is_parametrized(layer)
    with pytest.raises(ValueError, match="all zeros"):
        add_sn(nn.Sequential(layer))
    # PyTorch's layer gives NaN there, which is what the refusal spares the learner
    assert torch.isnan(torch_spectral_norm(layer).weight).all()


def test_pytorch_spectral_norm_is_skipped_by_add_sn_and_refused_by_spectral_norm():
    torch.manual_seed(0)
    net = nn.Sequential(torch.nn.utils.spectral_norm(nn.Linear(3, 4)), nn.ReLU(), nn.Linear(4, 1))
    with pytest.warns(UserWarning, match=r"left layer '0' \(Linear\) as it is.*remove_spectral_n"):
        add_sn(net)
    assert isinstance(_sn(net[2]), SpectralNorm)  # the other layers get this module's SN
    assert not parametrize.is_parametrized(net[0]) and net(torch.randn(2, 3)).shape == (2, 1)
    with pytest.raises(ValueError, match=r"PyTorch's spectral normalization; remove it first with "
                       r"torch.nn.utils.remove_spectral_norm\(module, 'weight'\)"):  # fmt: skip
        spectral_norm(net[0])
    with pytest.raises(ValueError, match=r"parametrize.remove_parametrizations\(module, 'weight'"):
        spectral_norm(torch_spectral_norm(nn.Linear(3, 4)))
