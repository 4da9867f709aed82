"""Class-conditional GANs on the 8x8 digits: conditional batch norm, a projection and a
concatenation discriminator, their training run, and a cheap log of every layer's sigma.

Introduced in lesson 10 ("after the paper"), which writes the projection discriminator and
conditional batch norm inline first and checks them equal to the classes here;
``experiments/beyond.py`` trains them with several seeds and the lesson reads its CSV.

- :class:`ConditionalBatchNorm2d`: batch norm without its own affine map, followed by a
  per-class scale and shift, ``gamma_y * BN(h) + beta_y`` (de Vries et al. 2017; Dumoulin et
  al. 2017), as in the conditional generators of Miyato and Koyama (2018).
- :class:`CondDigitsGenerator`: :class:`sngan_teach.digits.DigitsGenerator` with every batch
  norm made conditional; ``forward(z, y)``.
- :class:`ProjectionDiscriminator`: ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>`` on the body
  of :class:`sngan_teach.digits.DigitsDiscriminator` (Miyato and Koyama 2018, eq. 3).
- :class:`ConcatDiscriminator`: the older way, the one-hot label concatenated to the input as
  ten constant channels and again to phi(x) before the last dense layer.
- :func:`train_conditional`: the digits run of :func:`sngan_teach.gan.train` with labels:
  ``n_dis`` discriminator updates on (image, label) pairs, fake labels drawn uniformly, then
  one generator update (hinge loss by default).
- :func:`top_sigmas`: the largest singular value of every Linear/conv/embedding weight, from the
  SN layer's stored ``u, v`` where it has them, else from one power-iteration step per call on a
  vector kept between calls (BigGAN's way of watching sigma_0 during training).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sngan_teach._util import WEIGHT_LAYERS, as_matrix, check_module, check_positive, eval_mode
from sngan_teach.digits import (
    N_CLASSES,
    DigitsDiscriminator,
    DigitsGenerator,
    check_digits,
    digit_classifier,
    digits_fid,
    digits_is,
    init_normal,
    load_digits_split,
    real_sampler,
)
from sngan_teach.gan import get_setting, make_optimizers, sample_z, train
from sngan_teach.sn import add_sn, estimated_sigma, spectral_norm, spectral_norms

__all__ = [
    "ConditionalBatchNorm2d",
    "CondDigitsGenerator",
    "ProjectionDiscriminator",
    "ConcatDiscriminator",
    "make_cond_pair",
    "train_conditional",
    "top_sigmas",
    "class_accuracy",
    "eval_labels",
    "evaluate_conditional",
]


def _check_labels(y: object, n: int) -> None:
    if not isinstance(y, Tensor) or y.dtype != torch.long:
        raise TypeError(f"y must be a LongTensor of class labels, got {type(y).__name__}")
    if y.shape != (n,) or (n and (y.min() < 0 or y.max() >= N_CLASSES)):
        raise ValueError(f"y must hold {n} labels in [0, {N_CLASSES}), got shape {tuple(y.shape)}")


class ConditionalBatchNorm2d(nn.Module):
    """``gamma_y * (h - mean) / sqrt(var + eps) + beta_y``: batch statistics shared by all
    classes, scale and shift looked up per class (``gamma`` starts at 1, ``beta`` at 0)."""

    def __init__(self, n_channels: int, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        check_positive("n_channels", n_channels)
        check_positive("n_classes", n_classes)
        self.bn = nn.BatchNorm2d(n_channels, affine=False)
        self.gamma = nn.Embedding(n_classes, n_channels)
        self.beta = nn.Embedding(n_classes, n_channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        _check_labels(y, len(h))
        return self.gamma(y)[:, :, None, None] * self.bn(h) + self.beta(y)[:, :, None, None]


class CondDigitsGenerator(DigitsGenerator):
    """:class:`sngan_teach.digits.DigitsGenerator` with its three batch norms made conditional:
    ``G(z, y)``, output (N, 1, 8, 8) in [-1, 1]. The class enters only through the BN scales
    and shifts."""

    def __init__(self, z_dim: int = 32, ch: int = 32, n_classes: int = N_CLASSES) -> None:
        super().__init__(z_dim, ch)
        self.bn0 = ConditionalBatchNorm2d(2 * ch, n_classes)
        self.bn1 = ConditionalBatchNorm2d(ch, n_classes)
        self.bn2 = ConditionalBatchNorm2d(ch // 2, n_classes)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        h = F.relu(self.bn0(self.l0(z).view(len(z), 2 * self.ch, 2, 2), y))
        h = F.relu(self.bn1(self.dc1(h), y))
        h = F.relu(self.bn2(self.dc2(h), y))
        return torch.tanh(self.c3(h))


class ProjectionDiscriminator(nn.Module):
    """``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``, one logit per image, shape (N,).

    ``phi`` is :meth:`sngan_teach.digits.DigitsDiscriminator.features` (four convolutions),
    ``psi`` its dense layer ``l4`` and ``embed`` an ``nn.Embedding(n_classes, 16 ch)``.
    """

    def __init__(self, ch: int = 16, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        check_positive("n_classes", n_classes)
        self.body = DigitsDiscriminator(ch)
        self.embed = nn.Embedding(n_classes, self.body.n_features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_labels(y, len(x))
        phi = self.body.features(x)
        return self.body.l4(phi).squeeze(1) + (self.embed(y) * phi).sum(1)


class ConcatDiscriminator(nn.Module):
    """The label as input: ten one-hot channels beside the image, and the one-hot vector again
    beside phi(x) before the dense layer. Same convolutions and widths as
    :class:`ProjectionDiscriminator` (the first one sees 1 + n_classes channels)."""

    def __init__(self, ch: int = 16, n_classes: int = N_CLASSES, slope: float = 0.1) -> None:
        super().__init__()
        check_positive("ch", ch)
        check_positive("n_classes", n_classes)
        self.n_classes, self.slope = n_classes, slope
        self.c0 = nn.Conv2d(1 + n_classes, ch, 3, 1, 1)
        self.c1 = nn.Conv2d(ch, 2 * ch, 4, 2, 1)
        self.c2 = nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1)
        self.c3 = nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1)
        self.l4 = nn.Linear(4 * ch * 2 * 2 + n_classes, 1)
        init_normal(self)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        check_digits(x)
        _check_labels(y, len(x))
        onehot = F.one_hot(y, self.n_classes).to(x.dtype)
        h = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        for conv in (self.c0, self.c1, self.c2, self.c3):
            h = F.leaky_relu(conv(h), self.slope)
        return self.l4(torch.cat([h.flatten(1), onehot], 1)).squeeze(1)


def make_cond_pair(
    d_kind: str = "projection",
    sn_D: bool = True,
    sn_G: bool = False,
    *,
    seed: int = 0,
    z_dim: int = 32,
    ch_G: int = 32,
    ch_D: int = 16,
) -> tuple[CondDigitsGenerator, nn.Module]:
    """``(net_G, net_D)`` drawn from ``seed``: D of kind ``"projection"`` or ``"concat"``.

    ``sn_D`` puts spectral norm on every Linear, conv and embedding weight of D; ``sn_G`` on
    every Linear and (transposed) conv of G (SAGAN's choice; the BN scales stay free).
    """
    if d_kind not in ("projection", "concat"):
        raise ValueError(f"d_kind must be 'projection' or 'concat', got {d_kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net_G = CondDigitsGenerator(z_dim, ch_G)
        net_D = (
            ProjectionDiscriminator(ch_D) if d_kind == "projection" else ConcatDiscriminator(ch_D)
        )
        if sn_D:
            add_sn(net_D)
            if d_kind == "projection":
                spectral_norm(net_D.embed)
        if sn_G:
            add_sn(net_G)
    return net_G, net_D


def _watched_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every Linear/convolution layer and every spectrally normalized embedding, in order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, WEIGHT_LAYERS) or (isinstance(m, nn.Embedding) and spectral_norms(m))
    ]


@torch.no_grad()
def top_sigmas(model: nn.Module, vectors: dict[str, Tensor]) -> dict[str, float]:
    """The largest singular value sigma_0 of the raw weight of every Linear/conv layer of
    ``model`` (and of every spectrally normalized embedding), keyed by layer name.

    For a spectrally normalized layer this is ``u^T W v`` from its stored vectors
    (:func:`sngan_teach.sn.estimated_sigma`: the sigma it divides by, no extra work). For any
    other layer one power-iteration step ``u = W v / ||W v||, sigma = ||W^T u||,
    v <- W^T u / sigma`` runs on the reshaped weight ``d_out x rest`` (transposed convs: output
    axis first), with ``v`` kept in ``vectors`` between calls (seeded from the layer name the
    first time), so over training the estimate tracks sigma_0 the way SN's own iteration does.
    """
    check_module("model", model)
    if not isinstance(vectors, dict):
        raise TypeError(f"vectors must be a dict, got {type(vectors).__name__}")
    out = {}
    for name, m in _watched_layers(model):
        if spectral_norms(m):
            out[name] = float(estimated_sigma(m))
            continue
        W = as_matrix(m.weight.detach().double(), m)
        if name not in vectors:
            gen = torch.Generator().manual_seed(sum(map(ord, name)))
            vectors[name] = F.normalize(
                torch.randn(W.shape[1], generator=gen, dtype=W.dtype), dim=0
            )
        u = F.normalize(W @ vectors[name], dim=0)
        Wt_u = W.mT @ u
        sigma = Wt_u.norm()
        vectors[name] = Wt_u / sigma.clamp_min(1e-30)
        out[name] = float(sigma)
    return out


def class_accuracy(x: Tensor, y: Tensor, clf: nn.Module | None = None) -> float:
    """Share of the images ``x`` that the digit classifier labels as the requested class ``y``."""
    check_digits(x)
    _check_labels(y, len(x))
    clf = digit_classifier() if clf is None else clf
    with torch.no_grad():
        return float((clf(x.float()).argmax(1) == y).float().mean())


def eval_labels(n: int) -> Tensor:
    """``n`` requested classes, balanced: ``0, 1, ..., 9, 0, 1, ...``."""
    check_positive("n", n)
    return torch.arange(n) % N_CLASSES


def evaluate_conditional(net_G: nn.Module, n: int = 1000, seed: int = 1) -> dict[str, float]:
    """``{"class_acc", "digits_is", "digits_fid"}`` of ``n`` samples of ``net_G`` in eval mode,
    balanced over the classes (:func:`eval_labels`), ``z`` drawn from ``seed``. A non-finite
    sample gives ``0, 1, nan``. The training flag is restored."""
    y = eval_labels(n)
    z = sample_z(n, net_G.z_dim, torch.Generator().manual_seed(seed))
    with eval_mode(net_G), torch.no_grad():
        x = net_G(z, y)
    if not torch.isfinite(x).all():
        return {"class_acc": 0.0, "digits_is": 1.0, "digits_fid": math.nan}
    return {
        "class_acc": class_accuracy(x, y),
        "digits_is": digits_is(x),
        "digits_fid": digits_fid(x),
    }


def train_conditional(
    net_G: CondDigitsGenerator,
    net_D: nn.Module,
    n_steps: int,
    *,
    setting: str | dict = "C",
    seed: int = 0,
    loss: str = "hinge",
    batch_size: int = 64,
    log_every: int = 50,
    callback: Callable[[int, list[dict[str, float]]], None] | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Train a conditional pair on the digits for ``n_steps`` generator updates with
    :func:`sngan_teach.gan.train` (``n_classes=10``); return its history.

    Each iteration: ``n_dis`` discriminator updates, each on ``batch_size`` real pairs
    ``(x, y)`` drawn with replacement from the training split and as many fakes
    ``(G(z, y'), y')`` with ``y'`` uniform over the classes, minimizing
    ``loss_D(D(x, y), D(G(z, y'), y'))``; then one generator update on ``batch_size`` fresh
    ``(z, y')``, minimizing ``loss_G(D(G(z, y'), y'))``. Adam with ``alpha, beta1, beta2`` of
    ``setting`` (a key of :data:`sngan_teach.gan.SETTINGS` or a dict with those keys and
    ``n_dis``; ``ValueError`` otherwise). Every random draw comes from ``seed``.

    Every ``log_every`` steps (and after the last) the history gets a row (the step and the
    losses) and ``callback(step, history)`` runs. A loss that turns NaN/inf raises
    ``FloatingPointError`` naming the step.
    """
    hyper = get_setting(setting)
    check_positive("n_steps", n_steps)
    check_positive("log_every", log_every)
    x_train, y_train = load_digits_split()[:2]
    gen = torch.Generator().manual_seed(seed)
    return train(
        net_G, net_D, *make_optimizers(net_G, net_D, hyper), real_sampler(x_train, gen, y_train),
        n_steps, z_dim=net_G.z_dim, generator=gen, n_classes=N_CLASSES, loss=loss,
        n_dis=int(hyper["n_dis"]), batch_size_D=batch_size, batch_size_G=batch_size,
        log_every=log_every, callback=callback, callback_every=log_every, progress=progress,
    )  # fmt: skip
