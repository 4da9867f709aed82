"""The paper's CIFAR-10 networks: the standard CNN (Table 3) and the 32x32 ResNet (Table 4).

Introduced in lesson 09. The models hold no normalization of their own in the discriminator:
spectral normalization is applied afterwards with ``sngan_teach.sn.add_sn(net_D)`` (or weight
normalization with ``sngan_teach.methods.add_wn(net_D)``), so one architecture serves every
method. Generators map ``z`` in R^128, z ~ N(0, I), to images in [-1, 1] of shape (N, 3, 32, 32);
discriminators map images to one logit each, shape (N,).

Where the paper is silent or public code disagrees with it:

* Standard CNN, Table 3. The discriminator follows the *table*: channels 64, 64, 128, 128, 256,
  256, 512 with leaky-ReLU slope 0.1. The authors' chainer-gan-lib ``SNDCGANDiscriminator``
  instead doubles the channels at the stride-2 convolutions (64, 128, 128, 256, 256, 512, 512)
  and uses Chainer's default slope 0.2; ``w86763777/pytorch-gan-collections`` uses the doubled
  channels with slope 0.1. ``StandardDiscriminator(doubled=True)`` builds the doubled pattern,
  for comparisons with those codes. Weights start from N(0, 0.02), as in chainer-gan-lib.
* The generator's first layer. Table 3 shows no normalization after the dense layer
  z -> 4x4x512. We reshape its 8192 outputs to 512 x 4 x 4 and apply ``BatchNorm2d(512)``,
  then ReLU: statistics per channel over the batch and the 16 positions, 2 x 512 affine
  parameters, the same kind of normalization as every later BN layer of the generator.
  chainer-gan-lib's ``DCGANGenerator`` differs: it applies ``BatchNormalization(8192)`` to the
  flattened dense outputs (statistics per unit over the batch alone, 2 x 8192 affine parameters)
  and draws z from a uniform distribution. Neither form is the paper's; we keep one kind of BN
  throughout G, and the parameter counts checked in lesson 09 follow from that choice. z is
  N(0, I), as the paper states.
* ResNet, Table 4 and Fig. 8. Block internals follow the official ``sngan_projection`` code:
  3x3 convolutions, nearest-neighbour x2 up-sampling before the generator block's first conv,
  2x2 average pooling after the discriminator block's second conv, 1x1 convolution shortcuts
  where the shape changes, an "optimized" first discriminator block
  (conv-ReLU-conv-avgpool, shortcut avgpool then 1x1 conv), no BN in the discriminator, global
  *sum* pooling and a bias-free final dense layer; Glorot-uniform init with gain sqrt(2) on the
  residual convolutions and 1 on shortcuts and dense layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sngan_teach._util import check_positive

Z_DIM = 128  # d_z, the same for every experiment in the paper


def _check_images(x: torch.Tensor, size: int = 32) -> None:
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"x must have shape (N, 3, {size}, {size}), got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# Standard CNN (Table 3)
# --------------------------------------------------------------------------------------------


class StandardGenerator(nn.Module):
    """Table 3's generator: z -> dense 4x4x512 -> three 4x4 stride-2 deconvs with BN + ReLU
    (256, 128, 64 channels) -> 3x3 conv to 3 channels -> tanh. Output (N, 3, 32, 32)."""

    def __init__(self, z_dim: int = Z_DIM, ch: int = 512, bottom_width: int = 4) -> None:
        super().__init__()
        for name, value in (("z_dim", z_dim), ("ch", ch), ("bottom_width", bottom_width)):
            check_positive(name, value)
        self.z_dim, self.ch, self.bottom_width = z_dim, ch, bottom_width
        self.l0 = nn.Linear(z_dim, bottom_width * bottom_width * ch)
        self.bn0 = nn.BatchNorm2d(ch)
        self.dc1 = nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(ch // 2)
        self.dc2 = nn.ConvTranspose2d(ch // 2, ch // 4, 4, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(ch // 4)
        self.dc3 = nn.ConvTranspose2d(ch // 4, ch // 8, 4, stride=2, padding=1)
        self.bn3 = nn.BatchNorm2d(ch // 8)
        self.c4 = nn.Conv2d(ch // 8, 3, 3, stride=1, padding=1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        h = self.l0(z).view(z.shape[0], self.ch, self.bottom_width, self.bottom_width)
        h = F.relu(self.bn0(h))
        h = F.relu(self.bn1(self.dc1(h)))
        h = F.relu(self.bn2(self.dc2(h)))
        h = F.relu(self.bn3(self.dc3(h)))
        return torch.tanh(self.c4(h))


class StandardDiscriminator(nn.Module):
    """Table 3's discriminator: seven convolutions with leaky ReLU (slope 0.1), then dense -> 1.

    ``conv 3x3/1 64, conv 4x4/2 64, conv 3x3/1 128, conv 4x4/2 128, conv 3x3/1 256,
    conv 4x4/2 256, conv 3x3/1 512``; all with padding 1, so 32x32 -> 4x4x512 before the dense
    layer. Returns one logit per image, shape (N,). No SN inside: use ``add_sn(net_D)``.

    ``doubled=True``: the channel pattern of chainer-gan-lib and pytorch-gan-collections,
    ``64, 128, 128, 256, 256, 512, 512`` (each stride-2 convolution doubles the channels).
    """

    def __init__(
        self, ch: int = 64, slope: float = 0.1, size: int = 32, doubled: bool = False
    ) -> None:
        super().__init__()
        check_positive("ch", ch)
        if not isinstance(doubled, bool):
            raise TypeError(f"doubled must be a bool, got {type(doubled).__name__}")
        check_positive("size", size)
        if size % 8:
            raise ValueError(f"size must be a multiple of 8, got {size}")
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"slope must be in [0, 1), got {slope}")
        self.slope, self.size = slope, size
        # output channels of c0..c6: Table 3's, or doubled at each stride-2 convolution
        w = [1, 2, 2, 4, 4, 8, 8] if doubled else [1, 1, 2, 2, 4, 4, 8]
        w = [ch * k for k in w]
        self.c0 = nn.Conv2d(3, w[0], 3, 1, 1)
        self.c1 = nn.Conv2d(w[0], w[1], 4, 2, 1)
        self.c2 = nn.Conv2d(w[1], w[2], 3, 1, 1)
        self.c3 = nn.Conv2d(w[2], w[3], 4, 2, 1)
        self.c4 = nn.Conv2d(w[3], w[4], 3, 1, 1)
        self.c5 = nn.Conv2d(w[4], w[5], 4, 2, 1)
        self.c6 = nn.Conv2d(w[5], w[6], 3, 1, 1)
        self.l7 = nn.Linear((size // 8) ** 2 * w[6], 1)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.size)
        h = x
        for conv in (self.c0, self.c1, self.c2, self.c3, self.c4, self.c5, self.c6):
            h = F.leaky_relu(conv(h), self.slope)
        return self.l7(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------------------------
# ResNet (Table 4, Fig. 8)
# --------------------------------------------------------------------------------------------


def _glorot(module: nn.Module, gain: float) -> None:
    nn.init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _glorot_block(block: nn.Module) -> None:
    """A residual block's init, as in the paper's code: gain sqrt 2 on the 3x3 convs ``c1``,
    ``c2``, gain 1 on the 1x1 shortcut ``c_sc`` (when the block has one), zero biases."""
    _glorot(block.c1, math.sqrt(2))
    _glorot(block.c2, math.sqrt(2))
    if block.c_sc is not None:
        _glorot(block.c_sc, 1.0)


class GenBlock(nn.Module):
    """Generator residual block with x2 up-sampling: BN-ReLU-up-conv3x3-BN-ReLU-conv3x3, plus a
    shortcut up-sample then 1x1 conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.b1 = nn.BatchNorm2d(in_ch)
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.b2 = nn.BatchNorm2d(out_ch)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1, 1, 0)
        _glorot_block(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.b1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.b2(self.c1(h))))
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DisBlock(nn.Module):
    """Discriminator residual block: ReLU-conv3x3-ReLU-conv3x3 [-avgpool 2x2]. The shortcut is a
    1x1 conv then avgpool when down-sampling or changing channels, else the identity."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1, 1, 0) if downsample or in_ch != out_ch else None
        _glorot_block(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(F.relu(x))))
        sc = x if self.c_sc is None else self.c_sc(x)
        if self.downsample:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class OptimizedDisBlock(nn.Module):
    """The first discriminator block: conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool then 1x1
    conv (no ReLU on the raw image)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1, 1, 0)
        _glorot_block(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class ResNetGenerator(nn.Module):
    """Table 4's generator: z -> dense 4x4x256 -> 3 up-sampling ResBlocks of 256 channels ->
    BN, ReLU, 3x3 conv to 3 channels, tanh. Output (N, 3, 32, 32)."""

    def __init__(self, z_dim: int = Z_DIM, ch: int = 256, bottom_width: int = 4) -> None:
        super().__init__()
        for name, value in (("z_dim", z_dim), ("ch", ch), ("bottom_width", bottom_width)):
            check_positive(name, value)
        self.z_dim, self.ch, self.bottom_width = z_dim, ch, bottom_width
        self.l1 = nn.Linear(z_dim, bottom_width * bottom_width * ch)
        self.block2 = GenBlock(ch, ch)
        self.block3 = GenBlock(ch, ch)
        self.block4 = GenBlock(ch, ch)
        self.b5 = nn.BatchNorm2d(ch)
        self.c5 = nn.Conv2d(ch, 3, 3, 1, 1)
        _glorot(self.l1, 1.0)
        _glorot(self.c5, 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        h = self.l1(z).view(z.shape[0], self.ch, self.bottom_width, self.bottom_width)
        h = self.block4(self.block3(self.block2(h)))
        return torch.tanh(self.c5(F.relu(self.b5(h))))


class ResNetDiscriminator(nn.Module):
    """Table 4's discriminator: ResBlock down 128, ResBlock down 128, ResBlock 128,
    ResBlock 128, ReLU, global sum pooling, dense -> 1 (no bias). Returns (N,) logits."""

    def __init__(self, ch: int = 128) -> None:
        super().__init__()
        check_positive("ch", ch)
        self.block1 = OptimizedDisBlock(3, ch)
        self.block2 = DisBlock(ch, ch, downsample=True)
        self.block3 = DisBlock(ch, ch, downsample=False)
        self.block4 = DisBlock(ch, ch, downsample=False)
        self.l5 = nn.Linear(ch, 1, bias=False)
        _glorot(self.l5, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x)
        h = self.block4(self.block3(self.block2(self.block1(x))))
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling
        return self.l5(h).squeeze(1)


def build_models(arch: str, slim: int = 1) -> tuple[nn.Module, nn.Module]:
    """Return ``(net_G, net_D)`` for ``arch`` = ``"standard"`` (Table 3) or ``"resnet"``
    (Table 4), freshly initialised and without SN. ``slim`` divides every channel count (1: the
    paper's widths; 8: a narrow copy with the same layers, for quick CPU runs)."""
    if not isinstance(slim, int) or isinstance(slim, bool) or slim < 1 or 64 % slim:
        raise ValueError(f"slim must be an int in (1, 2, 4, 8, 16, 32, 64), got {slim!r}")
    if arch == "standard":
        return StandardGenerator(ch=512 // slim), StandardDiscriminator(ch=64 // slim)
    if arch == "resnet":
        return ResNetGenerator(ch=256 // slim), ResNetDiscriminator(ch=128 // slim)
    raise ValueError(f"arch must be 'standard' or 'resnet', got {arch!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
