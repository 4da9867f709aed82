"""The Inception path of IS and FID on CIFAR-10 (lesson 09): the weights, the feature
extractor, and the evaluation of a generator. The math is in :mod:`sngan_teach.metrics`.

The features come from the field's standard network: torch-fidelity's port of the TensorFlow
Inception-v3 graph (2015-12-05) that the original IS and FID code used, read through
``FeatureExtractorInceptionV3`` ("2048" pool features for FID, "logits_unbiased" for IS). The
weights file is found, in order, at the ``weights`` argument, ``$SNGAN_INCEPTION_WEIGHTS``, or
torch hub's cache (where torch-fidelity's own download puts it). It is always passed to
torch-fidelity explicitly, so torch-fidelity never starts a download of its own; a download
happens only through ``get_inception_weights(download=True)``, with a socket time-out. Without
weights, ``InceptionWeightsUnavailable`` is raised at once with instructions. torch-fidelity
unpickles the file with ``weights_only=False``, which can run code, so the file's SHA-256 is
compared with the published one (``INCEPTION_SHA256``) before it is handed on, and downloads
are checked against it too; any other file raises ``InceptionWeightsInvalid`` naming it.

``StandInExtractor`` is a small fixed random network with the same interface, so the quick mode
and the tests run every line of the evaluation without the Inception weights. Its numbers are
not comparable to the paper's.

Evaluation runs with TF32 matmuls off (``no_tf32``), G in eval mode (BN running statistics).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sngan_teach._util import check_int, eval_mode
from sngan_teach.cifar import to_uint8
from sngan_teach.metrics import (
    fid_from_features,
    inception_score_from_logits,
)

ENV_WEIGHTS = "SNGAN_INCEPTION_WEIGHTS"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
# SHA-256 of that file (its name carries the first 8 hex digits, torch hub's convention); the
# same file is pytorch-fid's pt_inception-2015-12-05-6726825d.pth.
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"

Extractor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------------------------
# Feature extractors
# --------------------------------------------------------------------------------------------


class InceptionWeightsUnavailable(FileNotFoundError):
    """The Inception weights for IS/FID are not on disk (and could not be downloaded). The
    message says how to get them; ``problem`` holds it without that advice."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{problem}. Download {INCEPTION_URL} (torch-fidelity's port of the TF Inception "
            f"used for IS/FID) and set ${ENV_WEIGHTS} to the file, or pass weights=PATH, or "
            "call get_inception_weights(download=True) when online."
        )
        self.problem = problem


class InceptionWeightsInvalid(ValueError):
    """A file given as the Inception weights is not that file (its SHA-256 differs)."""


def check_inception_weights(path: str | os.PathLike) -> Path:
    """Return ``path`` if its SHA-256 is ``INCEPTION_SHA256``; else raise
    ``InceptionWeightsInvalid`` naming the file. Nothing in the file is loaded."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != INCEPTION_SHA256:
        raise InceptionWeightsInvalid(
            f"{path} is not the Inception weights file {INCEPTION_FILE}: its SHA-256 is "
            f"{digest.hexdigest()}, not {INCEPTION_SHA256}. It was not loaded (a weights file "
            f"can run code when unpickled). Delete it and download {INCEPTION_URL} again."
        )
    return path


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def find_inception_weights(weights: str | os.PathLike | None = None) -> Path | None:
    """The Inception weights file: ``weights``, ``$SNGAN_INCEPTION_WEIGHTS`` or torch hub's cache,
    whichever is given first; None when that file does not exist. Never downloads."""
    if weights is None:
        weights = os.environ.get(ENV_WEIGHTS) or _hub_path()
    path = Path(weights).expanduser()
    return path if path.is_file() else None


def get_inception_weights(
    weights: str | os.PathLike | None = None, *, download: bool = False, timeout: float = 30.0
) -> Path:
    """Return the path of the Inception weights; download them into torch hub's cache first if
    ``download=True`` and they are missing. Raises ``InceptionWeightsUnavailable`` at once (or
    after ``timeout`` seconds of silence from the network) with instructions, and
    ``InceptionWeightsInvalid`` when the file found is not the published one (SHA-256)."""
    found = find_inception_weights(weights)
    if found is not None:
        return check_inception_weights(found)
    if not download:
        where = weights or os.environ.get(ENV_WEIGHTS) or _hub_path()
        raise InceptionWeightsUnavailable(f"no Inception weights at {where}")
    target = _hub_path() if weights is None else Path(weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(
            INCEPTION_URL, str(target), hash_prefix=INCEPTION_SHA256, progress=False
        )
    except Exception as err:
        raise InceptionWeightsUnavailable(f"download failed ({err!r})") from err
    finally:
        socket.setdefaulttimeout(old)
    return target


def inception_extractor(
    weights: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> Extractor:
    """torch-fidelity's TF-compatible Inception-v3 as ``extract(uint8 images) -> (pool, logits)``:
    2048-d pool features (for FID) and the 1008 unbiased logits (for IS)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = get_inception_weights(weights)
    net = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
    ).to(device)

    def extract(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pool, logits = net(x.to(device))
        return pool, logits

    return extract


class StandInExtractor(nn.Module):
    """A fixed random conv net with Inception's interface, ``uint8 images -> (features, logits)``,
    for running the evaluation code without the Inception weights (quick mode, tests).

    Two stride-2 convolutions with ReLU, then 2x2 average pooling, so the ``n_features``
    features keep a coarse spatial layout; the logits are a fixed random linear map of the
    layer-normalized features. Its IS and FID are *not* comparable with the paper's."""

    def __init__(self, n_features: int = 32, n_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(n_features, int) or n_features < 4 or n_features % 4:
            raise ValueError(f"n_features must be a positive multiple of 4, got {n_features!r}")
        gen = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.conv2 = nn.Conv2d(8, n_features // 4, 3, 2, 1)
        self.fc = nn.Linear(n_features, n_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) / max(1, p[0].numel()) ** 0.5)
        self.requires_grad_(False).eval()

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dtype != torch.uint8:
            raise TypeError(f"x must be uint8 images, got {x.dtype}")
        h = x.float().to(self.conv1.weight.device) / 127.5 - 1.0
        h = torch.relu(self.conv2(torch.relu(self.conv1(h))))
        features = nn.functional.adaptive_avg_pool2d(h, 2).flatten(1)
        logits = 3.0 * self.fc(nn.functional.layer_norm(features, features.shape[1:]))
        return features, logits


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """Turn TF32 off for matmuls and cuDNN convolutions inside the block (restored after)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@torch.no_grad()
def generate_images(
    net_G: nn.Module, n: int, *, z_dim: int, generator: torch.Generator, batch_size: int = 500
) -> torch.Tensor:
    """``n`` images from ``net_G`` in eval mode (BN running statistics) as a uint8 CPU tensor
    (n, 3, 32, 32); z ~ N(0, I) from ``generator`` (on G's device). ``ValueError`` when
    ``net_G`` returns another shape."""
    check_int("n", n, 1)
    check_int("batch_size", batch_size, 1)
    out = []
    with eval_mode(net_G):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = torch.randn(m, z_dim, generator=generator, device=generator.device)
            x = net_G(z)
            if tuple(x.shape) != (m, 3, 32, 32):
                raise ValueError(
                    f"net_G must return images of shape ({m}, 3, 32, 32) for {m} codes, "
                    f"got {tuple(x.shape)}"
                )
            out.append(to_uint8(x).cpu())
    return torch.cat(out)


def _check_images(name: str, images: object) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a uint8 torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8, got {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}")


def check_eval_sizes(
    n_fake: int,
    n_real: int,
    *,
    is_size: int = 5000,
    is_runs: int = 10,
    fid_real: int = 10000,
    fid_fake: int = 5000,
    all_splits: int = 10,
    batch_size: int = 200,
) -> None:
    """Raise ``ValueError`` naming the argument unless :func:`evaluate` can score ``n_fake``
    fakes against ``n_real`` real images with these sizes. Run it before a long training run so
    that a bad size fails at start-up, not after training."""
    for name, value, low in (("n_fake", n_fake, 2), ("n_real", n_real, 2), ("is_size", is_size, 1),
                             ("is_runs", is_runs, 1), ("fid_real", fid_real, 2),
                             ("fid_fake", fid_fake, 2), ("all_splits", all_splits, 1),
                             ("batch_size", batch_size, 1)):  # fmt: skip
        check_int(name, value, low)
    if is_runs * is_size > n_fake:
        raise ValueError(f"is_runs * is_size must be <= {n_fake} fakes, got {is_runs * is_size}")
    if fid_fake > n_fake or fid_real > n_real:
        raise ValueError(
            f"fid_fake, fid_real must be <= {n_fake}, {n_real}, got {fid_fake}, {fid_real}"
        )
    if all_splits > min(n_fake, n_real):
        raise ValueError(
            f"all_splits must be <= {min(n_fake, n_real)} (fewest images), got {all_splits}"
        )


@torch.no_grad()
def extract_features(
    extractor: Extractor, images: torch.Tensor, batch_size: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``extractor`` over uint8 ``images`` in batches; return ``(features, logits)`` as
    float64 CPU tensors."""
    _check_images("images", images)
    check_int("batch_size", batch_size, 1)
    feats, logits = [], []
    with no_tf32():
        for start in range(0, images.shape[0], batch_size):
            f, lg = extractor(images[start : start + batch_size])
            feats.append(f.double().cpu())
            logits.append(lg.double().cpu())
    return torch.cat(feats), torch.cat(logits)


def evaluate(
    fake_images: torch.Tensor,
    real_images: torch.Tensor,
    extractor: Extractor,
    *,
    is_size: int = 5000,
    is_runs: int = 10,
    fid_real: int = 10000,
    fid_fake: int = 5000,
    all_splits: int = 10,
    batch_size: int = 200,
    seed: int = 0,
) -> dict[str, float]:
    """IS and FID of ``fake_images`` against ``real_images`` (uint8, N x 3 x 32 x 32) at two sizes.

    * ``is_all`` (mean, sd over ``all_splits`` consecutive splits) and ``fid_all``: every fake
      against every real image (the common 50k / 50k protocol);
    * ``is_paper``: the paper's App. B.1 as we read it, "5000 images 10 times": IS of
      ``is_runs`` disjoint sets of ``is_size`` fakes drawn at random (a permutation seeded by
      ``seed``), one split each, mean and sd over the sets; ``fid_paper``: the first
      ``fid_real`` real against the first ``fid_fake`` fakes (10000 / 5000 by default; the paper
      says "10000 and 5000 samples" without saying which is which).

    At 50k fakes both IS protocols measure the same thing (the IS of a set of 5000 images,
    averaged over 10 sets); they differ only in which images fall in which set, so ``is_all``
    and ``is_paper`` agree within their sd. That sd is the spread of one 5000-image IS between
    sets of the same generator (sampling noise), not the spread between training runs from
    different seeds that the paper's ResNet rows report.
    """
    _check_images("fake_images", fake_images)
    _check_images("real_images", real_images)
    n_fake, n_real = fake_images.shape[0], real_images.shape[0]
    check_eval_sizes(n_fake, n_real, is_size=is_size, is_runs=is_runs, fid_real=fid_real,
                     fid_fake=fid_fake, all_splits=all_splits, batch_size=batch_size)  # fmt: skip
    f_fake, l_fake = extract_features(extractor, fake_images, batch_size)
    f_real, l_real = extract_features(extractor, real_images, batch_size)
    is_all = inception_score_from_logits(l_fake, all_splits)
    order = torch.randperm(n_fake, generator=torch.Generator().manual_seed(seed))
    sets = order[: is_runs * is_size].view(is_runs, is_size)
    runs = [inception_score_from_logits(l_fake[idx], 1)[0] for idx in sets]
    return {
        "is_all": is_all[0],
        "is_all_sd": is_all[1],
        "fid_all": fid_from_features(f_fake, f_real),
        "is_paper": float(np.mean(runs)),
        "is_paper_sd": float(np.std(runs)),
        "fid_paper": fid_from_features(f_fake[:fid_fake], f_real[:fid_real]),
        "is_real": inception_score_from_logits(l_real, all_splits)[0],
        "n_fake": n_fake,
        "n_real": n_real,
    }


class _Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def torch_fidelity_metrics(
    fake_images: torch.Tensor,
    real_images: torch.Tensor,
    weights: str | os.PathLike | None = None,
    *,
    splits: int = 10,
    fid: bool = True,
    batch_size: int = 200,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """IS (``splits`` splits) and FID of uint8 ``fake_images`` against ``real_images`` computed
    end to end by ``torch_fidelity.calculate_metrics``, with the local Inception weights and
    TF32 off; returns torch-fidelity's dict (``inception_score_mean``, ``..._std`` and, unless
    ``fid=False``, ``frechet_inception_distance``). Images are not shuffled before splitting."""
    import torch_fidelity

    _check_images("fake_images", fake_images)
    _check_images("real_images", real_images)
    check_int("splits", splits, 1)
    check_int("batch_size", batch_size, 1)
    path = get_inception_weights(weights)
    with no_tf32():
        return torch_fidelity.calculate_metrics(
            input1=_Images(fake_images),
            input2=_Images(real_images),
            cuda=torch.device(device).type == "cuda",
            isc=True,
            fid=fid,
            isc_splits=splits,
            batch_size=batch_size,
            feature_extractor="inception-v3-compat",
            feature_extractor_weights_path=str(path),
            samples_shuffle=False,
            cache=False,
            save_cpu_ram=True,
            verbose=False,
        )
