"""GANs on real images without a download: scikit-learn's 8x8 digits, a digit classifier, proxies.

The robustness grid (``experiments/robustness.py``, with its driver ``experiments/digits_grid.py``)
trains every discriminator method of the paper under settings A-F of Table 1 on these images;
the lessons read its CSV and rerun a few cells.

**Data.** ``sklearn.datasets.load_digits``: 1797 grey 8x8 handwritten digits that ship inside
scikit-learn. Pixels ``0..16`` are scaled to ``x / 8 - 1`` in ``[-1, 1]`` (the range of G's
``tanh``) and split once, stratified by class with a fixed seed, into a training split (the GAN's
data and the classifier's) and a held-out split of ``N_HELD_OUT`` images.

**Proxy scores.** The CIFAR-10 Inception score and FID need the Inception network; here a small
CNN trained on the training split in seconds (:func:`digit_classifier`) plays its part:

- *digits IS* ``= exp(E_x KL(p(y|x) || p(y)))`` with the classifier's ``p(y|x)`` and
  ``p(y) = E_x p(y|x)`` over the generated samples: 1 when every sample looks alike to the
  classifier, 10 for confident samples spread evenly over the ten digits;
- *digits FID*: the Frechet distance between Gaussians fitted to the classifier's penultimate
  features of the generated samples and of the held-out digits; its floor, the value a perfect
  generator would get, is the distance from as many *training* digits to the held-out ones
  (:func:`real_floor`);
- *classes covered*: how many digits receive at least ``COVER_SHARE`` of the samples among those
  the classifier labels with probability >= ``COVER_CONF``.

These are proxies, not the paper's scores: they rank generators of 8x8 digits against each other
and say nothing about CIFAR-10 numbers.

**Networks.** The paper's standard CNN (Table 3) shrunk to 8x8x1: a discriminator of four
convolutions with leaky ReLU 0.1 and a dense layer (:class:`DigitsDiscriminator`; its
``features`` method returns the last hidden layer phi(x), so a conditional head can be added on
top) and a generator of a dense layer and two stride-2 deconvolutions with batch norm
(:class:`DigitsGenerator`). :func:`make_D` bakes a method of :data:`sngan_teach.methods.METHODS`
into D (spectral norm on every layer for ``"sn"``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sngan_teach._util import check_generator, check_module, check_positive
from sngan_teach.methods import apply_method
from sngan_teach.metrics import fid_from_features, inception_score_from_logits
from sngan_teach.sn import estimated_sigma, spectral_norms

N_CLASSES = 10
N_HELD_OUT = 600  # held-out digits: the classifier's test set and the FID reference
SPLIT_SEED = 0  # the one fixed train/held-out split
COVER_CONF = 0.99  # a sample counts for its class when p(y|x) >= this ...
COVER_SHARE = 0.01  # ... and a class is covered when >= this share of the samples count for it


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _load_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.as_tensor(data.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0
    y = torch.as_tensor(data.target, dtype=torch.long)
    idx_train, idx_held = train_test_split(
        np.arange(len(y)), test_size=N_HELD_OUT, random_state=SPLIT_SEED, stratify=data.target
    )
    idx_train, idx_held = torch.as_tensor(idx_train), torch.as_tensor(idx_held)
    return x[idx_train], y[idx_train], x[idx_held], y[idx_held]


def load_digits_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train, y_train, x_held, y_held)``: the 8x8 digits in ``[-1, 1]``, shape (N, 1, 8, 8).

    The split is fixed (stratified, seed ``SPLIT_SEED``): 1197 training and ``N_HELD_OUT`` = 600
    held-out images. Returns fresh copies, so callers may change them.
    """
    return tuple(t.clone() for t in _load_split())  # type: ignore[return-value]


def real_sampler(x: Tensor, generator: torch.Generator, labels: Tensor | None = None):
    """``sample_real(n)`` for :func:`sngan_teach.gan.train`: ``n`` rows of ``x`` drawn with
    replacement using ``generator``; given ``labels`` (one per row of ``x``), the pair
    ``(x[i], labels[i])`` for a class-conditional run (``train(..., n_classes=...)``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor, got {type(x).__name__}")
    if x.dim() < 2 or len(x) < 1:
        raise ValueError(f"x must be a non-empty batch tensor, got shape {tuple(x.shape)}")
    check_generator(generator)
    if labels is not None and not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a Tensor or None, got {type(labels).__name__}")
    if labels is not None and labels.shape != x.shape[:1]:
        raise ValueError(f"labels must hold {len(x)} labels, one per row of x")

    def sample_real(n: int) -> Tensor | tuple[Tensor, Tensor]:
        idx = torch.randint(len(x), (n,), generator=generator)
        return x[idx] if labels is None else (x[idx], labels[idx])

    return sample_real


# --------------------------------------------------------------------------------------------
# The classifier and the proxy scores
# --------------------------------------------------------------------------------------------


class DigitClassifier(nn.Module):
    """A small CNN for 8x8 digits: two convolutions, a 64-unit hidden layer (the features the
    digits FID uses), and 10 logits."""

    def __init__(self, ch: int = 16, n_features: int = 64) -> None:
        super().__init__()
        check_positive("ch", ch)
        check_positive("n_features", n_features)
        self.c0 = nn.Conv2d(1, ch, 3, 1, 1)
        self.c1 = nn.Conv2d(ch, 2 * ch, 3, 2, 1)  # 8x8 -> 4x4
        self.l2 = nn.Linear(2 * ch * 16, n_features)
        self.l3 = nn.Linear(n_features, N_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features, shape (N, n_features)."""
        check_digits(x)
        h = F.relu(self.c1(F.relu(self.c0(x))))
        return F.relu(self.l2(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.l3(self.features(x))


def train_classifier(seed: int = 0, n_epochs: int = 30, batch_size: int = 64) -> DigitClassifier:
    """Train :class:`DigitClassifier` on the training split (Adam, 1e-3) and return it in eval
    mode. Deterministic for a given ``seed`` (weights and batch order are drawn from it); a few
    seconds on one CPU thread."""
    check_positive("n_epochs", n_epochs)
    check_positive("batch_size", batch_size)
    x, y, _, _ = _load_split()
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=1e-3)
    with torch.enable_grad():  # also when the first score is asked for under torch.no_grad()
        for _ in range(n_epochs):
            for idx in torch.randperm(len(x), generator=gen).split(batch_size):
                loss = F.cross_entropy(clf(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return clf.eval().requires_grad_(False)


@functools.lru_cache(maxsize=1)
def digit_classifier() -> DigitClassifier:
    """The classifier every proxy score uses: :func:`train_classifier` with its defaults, trained
    once per process. Do not change it in place."""
    return train_classifier()


def classifier_accuracy(clf: nn.Module | None = None) -> float:
    """Accuracy of ``clf`` (default :func:`digit_classifier`) on the held-out split."""
    clf = digit_classifier() if clf is None else clf
    _, _, x_held, y_held = _load_split()
    with torch.no_grad():
        return float((clf(x_held).argmax(1) == y_held).float().mean())


def check_digits(x: object) -> None:
    """``TypeError`` unless ``x`` is a Tensor, ``ValueError`` unless its shape is (N, 1, 8, 8)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a Tensor, got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
        raise ValueError(f"x must have shape (N, 1, 8, 8), got {tuple(x.shape)}")


def digits_is(x: Tensor, clf: nn.Module | None = None) -> float:
    """Digits IS (a proxy): ``exp(E_x KL(p(y|x) || p(y)))`` with the digit classifier, one split.

    Between 1 and 10; the held-out digits themselves score about 9 (module docstring).
    """
    check_digits(x)
    clf = digit_classifier() if clf is None else clf
    with torch.no_grad():
        logits = clf(x.float())
    return inception_score_from_logits(logits, splits=1)[0]


@functools.lru_cache(maxsize=1)
def _held_out_features() -> Tensor:
    return digit_classifier().features(_load_split()[2])


def digits_fid(x: Tensor, clf: nn.Module | None = None, reference: Tensor | None = None) -> float:
    """Digits FID (a proxy): Frechet distance between the classifier's penultimate features of
    ``x`` and of ``reference`` (default: the held-out digits), each fitted by a Gaussian."""
    check_digits(x)
    if len(x) < 2:
        raise ValueError(f"x must hold at least 2 images, got {len(x)}")
    if reference is not None:
        check_digits(reference)
    with torch.no_grad():
        if clf is None and reference is None:
            clf, f_ref = digit_classifier(), _held_out_features()
        else:
            clf = digit_classifier() if clf is None else clf
            ref = _load_split()[2] if reference is None else reference
            f_ref = clf.features(ref.float())
        return fid_from_features(clf.features(x.float()), f_ref)


def classes_covered(x: Tensor, clf: nn.Module | None = None) -> int:
    """Digit classes that get at least ``COVER_SHARE`` of the samples ``x`` among those the
    classifier labels with probability >= ``COVER_CONF`` (the analogue of modes captured)."""
    check_digits(x)
    if len(x) < 1:
        raise ValueError("x must hold at least 1 image, got 0")
    clf = digit_classifier() if clf is None else clf
    with torch.no_grad():
        conf, label = clf(x.float()).softmax(1).max(1)
    counts = torch.bincount(label[conf >= COVER_CONF], minlength=N_CLASSES)
    return int((counts >= COVER_SHARE * len(x)).sum())


def evaluate_digits(x: Tensor) -> dict[str, float]:
    """``{"digits_is", "digits_fid", "classes"}`` of samples ``x`` with the shared classifier;
    for non-finite samples (a diverged generator) ``1.0, nan, 0``."""
    check_digits(x)
    if not torch.isfinite(x).all():
        return {"digits_is": 1.0, "digits_fid": math.nan, "classes": 0}
    return {"digits_is": digits_is(x), "digits_fid": digits_fid(x), "classes": classes_covered(x)}


def real_floor(n: int = 1000, seed: int = 0) -> dict[str, float]:
    """The scores of real digits: ``n`` training images drawn without replacement (seeded)
    scored like generated ones against the held-out split, i.e. what a generator that draws
    exactly from the training data would get. Also the held-out split's own digits IS."""
    x_train, _, x_held, _ = _load_split()
    if not isinstance(n, int) or not 2 <= n <= len(x_train):
        raise ValueError(f"n must be an int in [2, {len(x_train)}], got {n!r}")
    idx = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))[:n]
    return {**evaluate_digits(x_train[idx]), "held_out_is": digits_is(x_held)}


# --------------------------------------------------------------------------------------------
# The GAN pair
# --------------------------------------------------------------------------------------------


class DigitsGenerator(nn.Module):
    """z -> dense 2x2x(2 ch) -> BN, ReLU -> deconv 4x4/2 to 4x4x ch -> BN, ReLU -> deconv 4x4/2
    to 8x8x(ch/2) -> BN, ReLU -> conv 3x3 to 1 channel -> tanh. Output (N, 1, 8, 8) in [-1, 1].

    Table 3's generator shrunk to 8x8 (weights from N(0, 0.02), as in :mod:`sngan_teach.models`).
    """

    def __init__(self, z_dim: int = 32, ch: int = 64) -> None:
        super().__init__()
        check_positive("z_dim", z_dim)
        check_positive("ch", ch)
        if ch % 2:
            raise ValueError(f"ch must be even, got {ch}")
        self.z_dim, self.ch = z_dim, ch
        self.l0 = nn.Linear(z_dim, 2 * 2 * 2 * ch)
        self.bn0 = nn.BatchNorm2d(2 * ch)
        self.dc1 = nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(ch)
        self.dc2 = nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(ch // 2)
        self.c3 = nn.Conv2d(ch // 2, 1, 3, 1, 1)
        init_normal(self)

    def forward(self, z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        h = F.relu(self.bn0(self.l0(z).view(len(z), 2 * self.ch, 2, 2)))
        h = F.relu(self.bn1(self.dc1(h)))
        h = F.relu(self.bn2(self.dc2(h)))
        return torch.tanh(self.c3(h))


class DigitsDiscriminator(nn.Module):
    """conv 3x3/1 ch, conv 4x4/2 2ch, conv 3x3/1 2ch, conv 4x4/2 4ch (each with leaky ReLU,
    slope 0.1; 8x8 -> 2x2), then dense -> one logit per image, shape (N,).

    Table 3's discriminator shrunk to 8x8x1. No normalization inside: :func:`make_D` adds it.
    ``features(x)`` is the flattened last hidden layer phi(x) and ``forward = l4(phi(x))``.
    """

    def __init__(self, ch: int = 32, slope: float = 0.1) -> None:
        super().__init__()
        check_positive("ch", ch)
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"slope must be in [0, 1), got {slope}")
        self.slope = slope
        self.c0 = nn.Conv2d(1, ch, 3, 1, 1)
        self.c1 = nn.Conv2d(ch, 2 * ch, 4, 2, 1)
        self.c2 = nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1)
        self.c3 = nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1)
        self.n_features = 4 * ch * 2 * 2
        self.l4 = nn.Linear(self.n_features, 1)
        init_normal(self)

    def features(self, x: Tensor) -> Tensor:
        """phi(x): the last hidden layer, flattened, shape (N, 16 ch)."""
        check_digits(x)
        h = x
        for conv in (self.c0, self.c1, self.c2, self.c3):
            h = F.leaky_relu(conv(h), self.slope)
        return h.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.l4(self.features(x)).squeeze(1)


def init_normal(model: nn.Module) -> None:
    """Every Linear and (transposed) conv of ``model``: weights from N(0, 0.02), biases 0."""
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


def make_G(z_dim: int = 32, ch: int = 64) -> DigitsGenerator:
    """The digits generator (:class:`DigitsGenerator`)."""
    return DigitsGenerator(z_dim, ch)


def make_D(method: str = "sn", ch: int = 32) -> DigitsDiscriminator:
    """The digits discriminator with ``method`` (a name in :data:`sngan_teach.methods.METHODS`)
    baked in by :func:`sngan_teach.methods.apply_method`: ``"sn"`` puts spectral norm on all five
    layers, ``"wn"`` weight norm, ``"ortho"`` orthonormal initialization."""
    return apply_method(DigitsDiscriminator(ch), method)


def sn_layer_sigmas(model: nn.Module) -> dict[str, float]:
    """The true largest singular value of every spectrally normalized weight ``W_bar = W / sigma``
    in ``model`` (the ``d_out x rest`` matrix that SN normalizes), by SVD, keyed by layer name.

    ``sigma`` is the one the next eval-mode forward divides by (:func:`estimated_sigma`, from the
    stored ``u``, ``v``): nothing is updated, so calling it during training changes nothing. With
    a converged power iteration every value is 1; the paper's Fig. 9 finds them within [1, 1.05].

    Raises ``FloatingPointError`` naming the layer when ``W / sigma`` holds NaN or inf (a
    diverged run), before any SVD: ``experiments.digits_grid.train_digits`` scores such a run
    as diverged.
    """
    check_module("model", model)
    out = {}
    for name, m in model.named_modules():
        sns = spectral_norms(m)
        if not sns:
            continue
        with torch.no_grad():
            W = sns[0].weight_matrix(m.parametrizations["weight"].original).double()
            W_bar = W / estimated_sigma(m).double()
            if not bool(torch.isfinite(W_bar).all()):
                raise FloatingPointError(
                    f"layer {name}: W / sigma holds NaN or inf, training diverged"
                )
            out[name] = float(torch.linalg.matrix_norm(W_bar, ord=2))
    return out
