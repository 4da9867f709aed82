"""Tests for sngan_teach.cifar: a fixture in CIFAR-10's real on-disk format, errors, sampling."""

from __future__ import annotations

import pickle
import time
from unittest import mock

import numpy as np
import pytest
import torch
import torchvision
from fault_helpers import Marker

from sngan_teach import cifar
from sngan_teach.cifar import (
    CIFAR10CorruptError,
    CIFAR10NotFoundError,
    DeviceSampler,
    load_cifar10,
    resolve_root,
    to_float,
    to_uint8,
    write_cifar10_fixture,
)


@pytest.fixture
def root(tmp_path):
    return write_cifar10_fixture(tmp_path / "c10", n_per_batch=6, n_test=4, seed=1)


def test_fixture_has_the_real_layout(root):
    folder = root / "cifar-10-batches-py"
    names = sorted(p.name for p in folder.iterdir())
    expected = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    assert names == sorted(expected)
    with open(folder / "data_batch_3", "rb") as f:
        entry = pickle.load(f, encoding="bytes")  # the recipe on the CIFAR-10 web page
    assert set(entry) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert entry[b"data"].dtype == np.uint8 and entry[b"data"].shape == (6, 3072)
    assert all(isinstance(y, int) and 0 <= y <= 9 for y in entry[b"labels"])
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane" and meta[b"num_vis"] == 3072


def test_torchvision_reads_the_fixture_once_md5_is_set_aside(root):
    x, y = load_cifar10(root)
    # torchvision reads with encoding="latin1" and str keys, like the real Python-2 pickles
    with (
        mock.patch.object(torchvision.datasets.CIFAR10, "_check_integrity", return_value=True),
        mock.patch("torchvision.datasets.cifar.check_integrity", return_value=True),
    ):
        ds = torchvision.datasets.CIFAR10(str(root), train=True, download=False)
    np.testing.assert_array_equal(ds.data, x.permute(0, 2, 3, 1).numpy())
    assert ds.targets == y.tolist()
    assert ds.classes == cifar.CLASSES
    # without the patch torchvision rejects it: the md5s are those of the real release
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        torchvision.datasets.CIFAR10(str(root), train=True, download=False)


def test_load_shapes_and_order(root):
    x, y = load_cifar10(root)
    assert x.shape == (30, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (30,) and y.dtype == torch.int64
    xt, yt = load_cifar10(root, train=False)
    assert xt.shape == (4, 3, 32, 32)
    # batches are concatenated in order 1..5; the fixture's images come from one stream
    images, labels = cifar.fixture_images(34, seed=1)
    np.testing.assert_array_equal(x.numpy(), images[:30])
    np.testing.assert_array_equal(xt.numpy(), images[30:])
    np.testing.assert_array_equal(y.numpy(), labels[:30])


def test_root_resolution(tmp_path, monkeypatch, root):
    monkeypatch.setenv(cifar.ENV_DIR, str(root))
    assert resolve_root() == root
    assert load_cifar10()[0].shape[0] == 30
    assert resolve_root(root / "cifar-10-batches-py") == root
    monkeypatch.delenv(cifar.ENV_DIR)
    assert resolve_root() == cifar.DEFAULT_DIR
    with pytest.raises(TypeError, match="root must be a path"):
        resolve_root(3)


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(CIFAR10NotFoundError, match="download=True") as err:
        load_cifar10(tmp_path / "nothing")
    assert cifar.ENV_DIR in str(err.value) and cifar.URL in str(err.value)


def test_missing_batch_file(root):
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(CIFAR10NotFoundError, match="data_batch_4 not found"):
        load_cifar10(root)


def test_truncated_file_is_corrupt(root):
    path = root / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CIFAR10CorruptError, match="data_batch_2 is not a readable"):
        load_cifar10(root)


def test_a_batch_file_that_runs_code_is_refused(root, tmp_path):
    marker = tmp_path / "code-ran"
    bad = root / "cifar-10-batches-py" / "data_batch_4"
    bad.write_bytes(pickle.dumps({b"data": Marker(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(CIFAR10CorruptError, match="data_batch_4 .*open is not allowed"):
        load_cifar10(root)
    assert not marker.exists()
    # nor does a numpy array smuggle it in as an object array
    import numpy as np

    smuggled = np.array([Marker(marker)], dtype=object)
    bad.write_bytes(pickle.dumps({b"data": smuggled, b"labels": [0]}, protocol=2))
    with pytest.raises(CIFAR10CorruptError, match="data_batch_4"):
        load_cifar10(root)
    assert not marker.exists()


def test_batches_pickled_with_numpy_1_names_load(root):
    # the real files name numpy.core.multiarray (NumPy 1); NumPy 2 writes numpy._core.multiarray
    path = root / "cifar-10-batches-py" / "data_batch_1"
    expected = cifar.read_batch(path)
    data = path.read_bytes()
    assert b"numpy._core.multiarray\n_reconstruct" in data
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    for got, want in zip(cifar.read_batch(path), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_wrong_shape_is_corrupt(root):
    path = root / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((6, 100), np.uint8), b"labels": [0] * 6}, f)
    with pytest.raises(CIFAR10CorruptError, match=r"uint8 of shape \(N, 3072\)"):
        load_cifar10(root)


def test_md5_check_rejects_the_fixture(root):
    with pytest.raises(CIFAR10CorruptError, match="md5"):
        load_cifar10(root, check_md5=True)


def test_download_fails_fast_when_offline(tmp_path):
    start = time.perf_counter()
    with pytest.raises(CIFAR10NotFoundError, match="could not download"):
        cifar.download_cifar10(tmp_path, url="http://127.0.0.1:9/cifar.tar.gz", timeout=2)
    assert time.perf_counter() - start < 30
    with pytest.raises(ValueError, match="timeout must be > 0"):
        cifar.download_cifar10(tmp_path, timeout=0)


def test_load_only_downloads_when_asked(root):
    with mock.patch.object(cifar, "download_cifar10") as dl:
        load_cifar10(root)
        load_cifar10(root, download=True)  # files present: nothing to fetch
    dl.assert_not_called()
    with mock.patch.object(cifar, "download_cifar10") as dl:
        with pytest.raises(CIFAR10NotFoundError):
            load_cifar10(root / "elsewhere", download=True)
    dl.assert_called_once()


def test_float_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    f = to_float(x)
    assert f.min() == -1.0 and f.max() == 1.0
    torch.testing.assert_close(to_uint8(f), x, rtol=0, atol=0)


def test_sampler_is_seeded_and_restorable(root):
    x, _ = load_cifar10(root)
    s1, s2 = DeviceSampler(x, seed=3), DeviceSampler(x, seed=3)
    a = s1(8)
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32
    assert -1 <= a.min() and a.max() <= 1
    torch.testing.assert_close(a, s2(8))
    state = s1.state_dict()
    b = s1(8)
    s2.load_state_dict(state)
    torch.testing.assert_close(b, s2(8), rtol=0, atol=0)
    # every batch is made of real images
    flat = to_uint8(b).flatten(1)
    assert all((flat[i] == x.flatten(1)).all(1).any() for i in range(8))
    assert DeviceSampler(x, channels_last=True)(2).is_contiguous(memory_format=torch.channels_last)


def test_sampler_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        DeviceSampler(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="shape"):
        DeviceSampler(torch.zeros(2, 32, 32, dtype=torch.uint8))


def test_fingerprint_tells_other_data_apart(root, tmp_path):
    fp = cifar.fingerprint(root)
    assert fp == cifar.fingerprint(root / "cifar-10-batches-py")  # either folder names it
    assert set(fp["files"]) == {f"data_batch_{i}" for i in range(1, 6)}
    folder = root / "cifar-10-batches-py"
    assert fp["files"]["data_batch_3"] == (folder / "data_batch_3").stat().st_size
    other = write_cifar10_fixture(tmp_path / "other", n_per_batch=6, n_test=4, seed=2)
    assert cifar.fingerprint(other)["first_sha256"] != fp["first_sha256"]
    (folder / "data_batch_1").write_bytes((folder / "data_batch_1").read_bytes()[::-1])
    assert cifar.fingerprint(root)["files"] == fp["files"]  # same size, other content
    assert cifar.fingerprint(root)["first_sha256"] != fp["first_sha256"]


def test_batches_without_images_are_refused(tmp_path):
    folder = tmp_path / "c10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in cifar.TRAIN_FILES:
        entry = {"data": np.zeros((0, 3072), dtype=np.uint8), "labels": []}
        (folder / name).write_bytes(pickle.dumps(entry, 4))
    with pytest.raises(CIFAR10CorruptError, match=f"the batches in {folder} hold no images"):
        load_cifar10(tmp_path / "c10")


def test_the_fixture_replaces_links_instead_of_writing_through_them(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("precious")
    folder = tmp_path / "c10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").symlink_to(outside)
    write_cifar10_fixture(tmp_path / "c10", n_per_batch=2, n_test=2)
    assert outside.read_text() == "precious" and not (folder / "data_batch_1").is_symlink()
    assert load_cifar10(tmp_path / "c10")[0].shape == (10, 3, 32, 32)
