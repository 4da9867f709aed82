"""CIFAR-10 on the device: load the python-version batches, hold them as uint8, sample there.

Introduced in lesson 09. The real set is CIFAR-10's "python version"
(https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), a folder ``cifar-10-batches-py``
holding ``data_batch_1`` ... ``data_batch_5``, ``test_batch`` and ``batches.meta``: Python-2
pickles of dicts whose ``b"data"`` is a uint8 array N x 3072 (1024 red, 1024 green, 1024 blue
values, row-major 32 x 32) and whose ``b"labels"`` is a list of N ints in 0..9.

Where the data is looked for, first hit wins: the ``root`` argument, ``$SNGAN_CIFAR10_DIR``,
``data/cifar10`` in the repository. ``root`` may be the folder that contains
``cifar-10-batches-py`` or that folder itself. The batches are read with a restricted
unpickler that admits only what they hold (NumPy arrays and dtypes, dicts, lists, bytes,
strings, numbers), so a tampered file cannot run code; anything else is refused, naming the
file. ``download=True`` fetches the archive through torchvision's downloader with a socket
time-out, so a dead network fails in seconds instead of hanging.

``write_cifar10_fixture`` writes a small set in exactly that on-disk format (keys pickled as
Python-2 strings, so torchvision's own reader accepts the files once its md5 check is set
aside); the tests and the lesson's quick mode use it. ``DeviceSampler`` keeps the whole set on
the device as uint8 and draws batches with a torch.Generator on that device, converting to
float in [-1, 1] on the fly: no DataLoader, no host round trip per step.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import torch

from sngan_teach.checkpoint import write_atomic

ENV_DIR = "SNGAN_CIFAR10_DIR"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data" / "cifar10"  # git-ignored
BASE_FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
META_FILE = "batches.meta"
# The md5 sums of the real files, as torchvision lists them (torchvision.datasets.CIFAR10).
MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer"]
CLASSES += ["dog", "frog", "horse", "ship", "truck"]

HOW_TO_GET = (
    "Get CIFAR-10 (python version) in one of three ways: call load_cifar10(download=True) "
    f"when online; or download {URL}, extract it and point ${ENV_DIR} (or the root argument) at "
    f"the folder that holds '{BASE_FOLDER}'; or, for a dry run without the real data, write a "
    "small stand-in with sngan_teach.cifar.write_cifar10_fixture(root)."
)


class CIFAR10NotFoundError(FileNotFoundError):
    """CIFAR-10 is not where it was looked for (the message says how to get it; ``problem``
    holds the message without that advice)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}. {HOW_TO_GET}")
        self.problem = problem


class CIFAR10CorruptError(ValueError):
    """A CIFAR-10 file exists but cannot be read as CIFAR-10 (the message says how to fix it;
    ``problem`` holds the message without that advice)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}. Delete the folder and get it again. {HOW_TO_GET}")
        self.problem = problem


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) ``cifar-10-batches-py``: ``root``, else
    ``$SNGAN_CIFAR10_DIR``, else the repository's ``data/cifar10``. A path that already ends in
    ``cifar-10-batches-py`` is mapped to its parent."""
    if root is None:
        root = os.environ.get(ENV_DIR) or DEFAULT_DIR
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path, got {type(root).__name__}")
    path = Path(root).expanduser()
    return path.parent if path.name == BASE_FOLDER else path


def download_cifar10(
    root: str | os.PathLike | None = None, *, url: str = URL, timeout: float = 30.0
) -> Path:
    """Download and extract CIFAR-10 into ``root`` (see ``resolve_root``); return the root.

    Uses torchvision's downloader (it checks the archive's md5) with a socket time-out of
    ``timeout`` seconds, so an unreachable host raises ``CIFAR10NotFoundError`` quickly.
    """
    from torchvision.datasets.utils import download_and_extract_archive

    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    path = resolve_root(root)
    path.mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        download_and_extract_archive(url, str(path), filename=ARCHIVE, md5=ARCHIVE_MD5)
    except Exception as err:  # URLError, timeouts, bad md5, tar errors: all mean "no data"
        raise CIFAR10NotFoundError(
            f"could not download CIFAR-10 from {url} into {path}: {err!r}"
        ) from err
    finally:
        socket.setdefaulttimeout(old)
    return path


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's array reconstructor, any NumPy version
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 1
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # written by NumPy 2
}


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"); only that
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only NumPy arrays, dtypes and Python's plain types."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if (module, name) == ("_codecs", "encode"):
            return _latin1
        raise pickle.UnpicklingError(
            f"{module}.{name} is not allowed in a CIFAR-10 batch (it holds only arrays, "
            "lists, dicts, bytes, strings and numbers)"
        )


def _get(entry: dict, key: str):
    # The real files are Python-2 pickles: read with encoding="bytes" their keys are bytes.
    if key.encode() in entry:
        return entry[key.encode()]
    if key in entry:
        return entry[key]
    raise KeyError(key)


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file: ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    Raises ``CIFAR10NotFoundError`` when the file is missing and ``CIFAR10CorruptError`` when it
    is not a CIFAR-10 batch (truncated, wrong keys, wrong shapes or dtype, or a pickle that
    would build anything but arrays and plain types: it is refused, not run)."""
    path = Path(path)
    if not path.is_file():
        raise CIFAR10NotFoundError(f"CIFAR-10 file {path} not found")
    try:
        with open(path, "rb") as f:
            entry = _BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(_get(entry, "data"))
        labels = np.asarray(_get(entry, "labels"), dtype=np.int64)
    except Exception as err:
        raise CIFAR10CorruptError(f"{path} is not a readable CIFAR-10 batch ({err!r})") from err
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CIFAR10CorruptError(
            f"{path}: data must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
        raise CIFAR10CorruptError(
            f"{path}: labels must be N={data.shape[0]} ints in 0..9, got shape {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    download: bool = False,
    check_md5: bool = False,
    timeout: float = 30.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load CIFAR-10's training (``train=True``, 50 000 images) or test set as CPU tensors
    ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.

    ``download=True`` downloads first when the files are missing (never otherwise).
    ``check_md5=True`` also compares each file with the md5 of the real release, which a
    fixture written by ``write_cifar10_fixture`` fails by design.
    """
    path = resolve_root(root)
    folder = path / BASE_FOLDER
    files = TRAIN_FILES if train else TEST_FILES
    if download and not all((folder / name).is_file() for name in files):
        download_cifar10(path, timeout=timeout)
    if not folder.is_dir():
        raise CIFAR10NotFoundError(f"no CIFAR-10 folder at {folder}")
    images, labels = [], []
    for name in files:
        if check_md5 and (folder / name).is_file() and _md5(folder / name) != MD5[name]:
            raise CIFAR10CorruptError(f"{folder / name} does not match the md5 of the release")
        x, y = read_batch(folder / name)
        images.append(x)
        labels.append(y)
    if sum(len(x) for x in images) == 0:
        raise CIFAR10CorruptError(f"the batches in {folder} hold no images")
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def fingerprint(root: str | os.PathLike | None = None, *, train: bool = True) -> dict:
    """What identifies the data set ``load_cifar10(root, train=train)`` reads, cheaply:
    ``{"files": {name: size in bytes}, "first_sha256": SHA-256 of the first batch file}``.

    Another data set, a file replaced or two batches swapped give another fingerprint; a run
    stores it so that a resume on other data is refused (``scripts/train_cifar10.py``)."""
    folder = resolve_root(root) / BASE_FOLDER
    files = TRAIN_FILES if train else TEST_FILES
    digest = hashlib.sha256()
    with open(folder / files[0], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    sizes = {name: (folder / name).stat().st_size for name in files}
    return {"files": sizes, "first_sha256": digest.hexdigest()}


# --------------------------------------------------------------------------------------------
# A fixture in the real on-disk format
# --------------------------------------------------------------------------------------------


class _Py2Str(bytes):
    """Bytes that pickle as a Python-2 ``str`` (opcode BINSTRING), as in the real files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler lets us add one opcode writer
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: _Py2Str) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + n.to_bytes(4, "little") + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str


def _dump_py2(obj: object, path: Path) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    write_atomic(path, buffer.getbuffer())  # replaces a link under that name, never follows it


def fixture_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` smooth, class-tinted 32x32 RGB images (uint8, (n, 3, 32, 32)) and labels 0..9:
    a stand-in with some structure for a tiny GAN to learn. Deterministic in ``seed``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    tint = np.random.default_rng(1234).uniform(-0.6, 0.6, size=(10, 3, 1, 1))
    coarse = torch.from_numpy(rng.normal(0.0, 0.5, size=(n, 3, 4, 4)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(
        coarse, size=(32, 32), mode="bilinear", align_corners=False
    ).numpy()
    x = np.tanh(smooth + tint[labels])
    return np.round((x + 1.0) * 127.5).astype(np.uint8), labels.astype(np.int64)


def write_cifar10_fixture(
    root: str | os.PathLike, n_per_batch: int = 20, n_test: int = 20, seed: int = 0
) -> Path:
    """Write a small CIFAR-10 in the real on-disk format under ``root/cifar-10-batches-py``:
    five training batches of ``n_per_batch`` images, a test batch of ``n_test`` and
    ``batches.meta``. Returns ``root`` (pass it to ``load_cifar10``)."""
    if not isinstance(n_per_batch, int) or n_per_batch < 1:
        raise ValueError(f"n_per_batch must be a positive int, got {n_per_batch!r}")
    if not isinstance(n_test, int) or n_test < 1:
        raise ValueError(f"n_test must be a positive int, got {n_test!r}")
    root = Path(root)
    folder = root / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = fixture_images(5 * n_per_batch + n_test, seed)
    names = TRAIN_FILES + TEST_FILES
    for i, name in enumerate(names):
        lo = i * n_per_batch
        hi = lo + (n_per_batch if name != "test_batch" else n_test)
        label = f"training batch {i + 1} of 5" if name != "test_batch" else "testing batch 1 of 1"
        entry = {
            _Py2Str(b"batch_label"): _Py2Str(label.encode()),
            _Py2Str(b"labels"): [int(y) for y in labels[lo:hi]],
            _Py2Str(b"data"): np.ascontiguousarray(images[lo:hi].reshape(hi - lo, 3072)),
            _Py2Str(b"filenames"): [_Py2Str(b"fixture_%05d.png" % j) for j in range(lo, hi)],
        }
        _dump_py2(entry, folder / name)
    meta = {
        _Py2Str(b"num_cases_per_batch"): n_per_batch,
        _Py2Str(b"label_names"): [_Py2Str(c.encode()) for c in CLASSES],
        _Py2Str(b"num_vis"): 3072,
    }
    _dump_py2(meta, folder / META_FILE)
    return root


# --------------------------------------------------------------------------------------------
# Batches on the device
# --------------------------------------------------------------------------------------------


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [-1, 1]: ``x / 127.5 - 1``."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> uint8 in 0..255 (clamped, rounded): the inverse of ``to_float``."""
    return ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)


class DeviceSampler:
    """The whole image set on ``device`` as uint8; ``sampler(batch_size)`` returns a float
    batch in [-1, 1] drawn with replacement by a torch.Generator that lives on that device.

    ``channels_last=True`` returns batches in channels-last memory format (faster convolutions
    on GPUs). ``state_dict()`` / ``load_state_dict()`` save and restore the generator, so a
    resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(
        self,
        images: torch.Tensor,
        device: str | torch.device = "cpu",
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            got = getattr(images, "dtype", type(images).__name__)
            raise TypeError(f"images must be a uint8 tensor, got {got}")
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] < 1:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.n = images.shape[0]
        self.channels_last = channels_last
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __call__(self, batch_size: int) -> torch.Tensor:
        idx = torch.randint(self.n, (batch_size,), device=self.device, generator=self.generator)
        x = to_float(self.images.index_select(0, idx))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())
