"""Tests for sngan_teach.models: shapes and parameter counts from the paper's Tables 3 and 4."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sngan_teach.models import (
    ResNetDiscriminator,
    ResNetGenerator,
    StandardDiscriminator,
    StandardGenerator,
    build_models,
    count_parameters,
)


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_out * c_in * k * k + (c_out if bias else 0)


def dense(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # gamma and beta


def test_standard_generator_parameter_count_matches_table_3():
    # z 128 -> dense 4x4x512 (+BN) -> deconv4x4 256, 128, 64 (each +BN) -> conv3x3 3
    expected = dense(128, 4 * 4 * 512) + bn(512)
    for c_in, c_out in ((512, 256), (256, 128), (128, 64)):
        expected += conv(c_in, c_out, 4) + bn(c_out)
    expected += conv(64, 3, 3)
    assert count_parameters(StandardGenerator()) == expected


def test_standard_discriminator_parameter_count_matches_table_3():
    layers = [(3, 64, 3), (64, 64, 4), (64, 128, 3), (128, 128, 4), (128, 256, 3)]
    layers += [(256, 256, 4), (256, 512, 3)]
    expected = sum(conv(c_in, c_out, k) for c_in, c_out, k in layers)
    expected += dense(4 * 4 * 512, 1)
    assert count_parameters(StandardDiscriminator()) == expected


def test_doubled_discriminator_is_chainer_gan_libs_channel_pattern():
    layers = [(3, 64, 3), (64, 128, 4), (128, 128, 3), (128, 256, 4), (256, 256, 3)]
    layers += [(256, 512, 4), (512, 512, 3)]
    expected = sum(conv(c_in, c_out, k) for c_in, c_out, k in layers) + dense(4 * 4 * 512, 1)
    net = StandardDiscriminator(doubled=True)
    assert count_parameters(net) == expected
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [
        c_out for _, c_out, _ in layers
    ]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(TypeError, match="doubled must be a bool"):
        StandardDiscriminator(doubled=1)


def test_resnet_generator_parameter_count_matches_table_4():
    ch = 256
    block = bn(ch) + conv(ch, ch, 3) + bn(ch) + conv(ch, ch, 3) + conv(ch, ch, 1)
    expected = dense(128, 4 * 4 * ch) + 3 * block + bn(ch) + conv(ch, 3, 3)
    assert count_parameters(ResNetGenerator()) == expected


def test_resnet_discriminator_parameter_count_matches_table_4():
    ch = 128
    first = conv(3, ch, 3) + conv(ch, ch, 3) + conv(3, ch, 1)
    down = conv(ch, ch, 3) + conv(ch, ch, 3) + conv(ch, ch, 1)
    plain = conv(ch, ch, 3) + conv(ch, ch, 3)  # identity shortcut
    expected = first + down + 2 * plain + dense(ch, 1, bias=False)
    assert count_parameters(ResNetDiscriminator()) == expected


@pytest.mark.parametrize("arch", ["standard", "resnet"])
def test_shapes_and_ranges(arch):
    torch.manual_seed(0)
    net_G, net_D = build_models(arch)
    z = torch.randn(5, 128)
    x = net_G(z)
    assert x.shape == (5, 3, 32, 32)
    assert x.abs().max() <= 1.0
    assert net_D(x).shape == (5,)
    # gradients reach every parameter of both nets
    net_D(net_G(z)).sum().backward()
    for net in (net_G, net_D):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_standard_discriminator_layers_follow_table_3():
    net_D = StandardDiscriminator()
    convs = [m for m in net_D.modules() if isinstance(m, nn.Conv2d)]
    got = [(m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs]
    assert got == [(64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2)] + [
        (512, 3, 1)
    ]
    assert net_D.slope == 0.1
    # a forward pass written by hand with leaky-ReLU slope 0.1 gives the same logits
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    h = x
    for m in convs:
        h = m(h)
        h = torch.where(h > 0, h, 0.1 * h)
    expected = net_D.l7(h.flatten(1)).squeeze(1)
    torch.testing.assert_close(net_D(x), expected)
    assert h.shape == (2, 512, 4, 4)


def test_resnet_discriminator_uses_global_sum_pooling():
    torch.manual_seed(0)
    net_D = ResNetDiscriminator(ch=8)
    x = torch.randn(2, 3, 32, 32)
    h = net_D.block4(net_D.block3(net_D.block2(net_D.block1(x))))
    assert h.shape == (2, 8, 8, 8)  # two down-sampling blocks: 32 -> 8
    summed = net_D.l5(torch.relu(h).sum(dim=(2, 3))).squeeze(1)
    averaged = net_D.l5(torch.relu(h).mean(dim=(2, 3))).squeeze(1)
    torch.testing.assert_close(net_D(x), summed)
    assert not torch.allclose(net_D(x), averaged)


@pytest.mark.parametrize("arch", ["standard", "resnet"])
def test_slim_models_keep_the_layers(arch):
    full, slim = build_models(arch), build_models(arch, slim=8)
    for a, b in zip(full, slim, strict=True):
        kinds = [type(m) for m in a.modules()]
        assert kinds == [type(m) for m in b.modules()]
        assert count_parameters(b) < count_parameters(a) / 20
    assert slim[1](slim[0](torch.randn(2, 128))).shape == (2,)


def test_models_hold_no_normalization_in_D():
    for net_D in (StandardDiscriminator(), ResNetDiscriminator()):
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net_D.modules())
        assert not any("parametrizations" in name for name, _ in net_D.named_parameters())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="arch must be"):
        build_models("vgg")
    with pytest.raises(ValueError, match="slim must be"):
        build_models("standard", slim=3)
    with pytest.raises(ValueError, match="z must have shape"):
        StandardGenerator()(torch.randn(2, 100))
    with pytest.raises(ValueError, match="x must have shape"):
        StandardDiscriminator()(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="ch must be >= 1, got 0"):
        ResNetDiscriminator(ch=0)
    with pytest.raises(ValueError, match="slope must be"):
        StandardDiscriminator(slope=1.5)
