"""Tests for sngan_teach.inception: the evaluation with a stand-in extractor, and the Inception
path with stand-in weights (the real ones cannot be downloaded here)."""

from __future__ import annotations

import hashlib
import http.server
import pickle
import threading
import time
from unittest import mock

import numpy as np
import pytest
import torch
from fault_helpers import Marker

from sngan_teach import inception as I
from sngan_teach import metrics as M
from sngan_teach.cifar import fixture_images
from sngan_teach.models import StandardGenerator

# ---- Evaluation with a stand-in extractor -------------------------------------------------


def test_is_paper_draws_disjoint_random_sets_and_reports_their_spread():
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(60, 10, generator=gen, dtype=torch.float64)
    images = torch.arange(60, dtype=torch.uint8).view(60, 1, 1, 1).expand(60, 3, 32, 32)

    def by_index(x):  # image i (all pixels i) -> logits[i]
        return logits[x[:, 0, 0, 0].long()].float(), logits[x[:, 0, 0, 0].long()]

    out = I.evaluate(images, images, by_index, is_size=6, is_runs=10, fid_real=60, fid_fake=60)
    order = torch.randperm(60, generator=torch.Generator().manual_seed(0))
    per_set = [M.inception_score_from_logits(logits[idx], 1)[0] for idx in order.view(10, 6)]
    assert out["is_paper"] == pytest.approx(np.mean(per_set), rel=1e-12)
    assert out["is_paper_sd"] == pytest.approx(np.std(per_set), rel=1e-12)
    # at n_fake = is_runs * is_size the consecutive splits of is_all are other sets
    assert out["is_paper"] != pytest.approx(out["is_all"], rel=1e-9)


def test_evaluate_with_stand_in_extractor():
    torch.manual_seed(0)
    net_G = StandardGenerator(z_dim=16, ch=32)
    real = torch.from_numpy(fixture_images(120, seed=0)[0])
    fake = I.generate_images(net_G, 100, z_dim=16, generator=torch.Generator().manual_seed(1))
    assert fake.dtype == torch.uint8 and fake.shape == (100, 3, 32, 32)
    assert net_G.training  # mode restored
    ext = I.StandInExtractor(seed=0)
    out = I.evaluate(fake, real, ext, is_size=20, is_runs=5, fid_real=60, fid_fake=40)
    assert 1 <= out["is_all"] <= 10 and 1 <= out["is_paper"] <= 10
    assert out["fid_all"] > 0 and out["fid_paper"] > 0
    # the real set scored against itself: FID 0; against a disjoint half of itself: small
    self_fid = I.evaluate(real, real, ext, is_size=20, is_runs=5, fid_real=60, fid_fake=60)
    assert self_fid["fid_all"] == pytest.approx(0, abs=1e-6)
    assert self_fid["fid_paper"] == pytest.approx(0, abs=1e-6)
    halves = I.evaluate(real[:60], real[60:], ext, is_size=10, is_runs=2, fid_real=60, fid_fake=60)
    assert out["fid_all"] > 5 * halves["fid_all"]  # an untrained G is far from the data
    with pytest.raises(ValueError, match="is_runs \\* is_size"):
        I.evaluate(fake, real, ext, is_size=50, is_runs=5)


def test_evaluation_refuses_bad_sizes_and_inputs():
    real = torch.from_numpy(fixture_images(40, seed=0)[0])
    ext = I.StandInExtractor(seed=0)
    sizes = {"is_size": 4, "is_runs": 5, "fid_real": 20, "fid_fake": 20, "all_splits": 4}
    for change, match in [
        ({"is_runs": 0}, "is_runs must be >= 1, got 0"),
        ({"fid_fake": -3}, "fid_fake must be >= 2, got -3"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
        ({"all_splits": 41}, "all_splits must be <= 40"),
    ]:
        with pytest.raises(ValueError, match=match):
            I.evaluate(real, real, ext, **(sizes | change))
        with pytest.raises(ValueError, match=match):
            I.check_eval_sizes(40, 40, **(sizes | change))
    with pytest.raises(TypeError, match="must be a uint8 torch.Tensor, got ndarray"):
        I.extract_features(ext, real.numpy())
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        I.extract_features(ext, real, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        I.generate_images(StandardGenerator(z_dim=16, ch=32), 4, z_dim=16,
                          generator=torch.Generator(), batch_size=0)  # fmt: skip
    flat = torch.nn.Sequential(torch.nn.Linear(16, 3 * 28 * 28))
    with pytest.raises(ValueError, match=r"shape \(4, 3, 32, 32\).*got \(4, 2352\)"):
        I.generate_images(flat, 4, z_dim=16, generator=torch.Generator())


def test_stand_in_extractor_is_deterministic_and_checks_dtype():
    x = torch.from_numpy(fixture_images(4, seed=0)[0])
    a, b = I.StandInExtractor(seed=3)(x), I.StandInExtractor(seed=3)(x)
    torch.testing.assert_close(a, b)
    with pytest.raises(TypeError, match="uint8"):
        I.StandInExtractor()(x.float())
    with pytest.raises(ValueError, match="multiple of 4"):
        I.StandInExtractor(n_features=6)


def test_no_tf32_restores_flags():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with I.no_tf32():
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


# ---- The Inception path -------------------------------------------------------------------


def test_missing_weights_fail_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.delenv(I.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert I.find_inception_weights() is None
    with pytest.raises(I.InceptionWeightsUnavailable, match=I.ENV_WEIGHTS):
        I.get_inception_weights()
    with pytest.raises(I.InceptionWeightsUnavailable):
        I.inception_extractor()
    # a download attempt to a dead address fails quickly instead of hanging
    monkeypatch.setattr(I, "INCEPTION_URL", "http://127.0.0.1:9/w.pth")
    start = time.perf_counter()
    with pytest.raises(I.InceptionWeightsUnavailable, match="download failed"):
        I.get_inception_weights(download=True, timeout=2)
    assert time.perf_counter() - start < 30
    # the environment variable is honoured (a stand-in file, accepted under its own hash)
    fake = tmp_path / "w.pth"
    fake.write_bytes(b"x")
    monkeypatch.setenv(I.ENV_WEIGHTS, str(fake))
    monkeypatch.setattr(I, "INCEPTION_SHA256", hashlib.sha256(b"x").hexdigest())
    assert I.get_inception_weights() == fake


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_weights_file_that_runs_code_is_refused_before_loading(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    evil.write_bytes(pickle.dumps({"fc.weight": Marker(marker)}))
    monkeypatch.delenv(I.ENV_WEIGHTS, raising=False)
    for call in (
        lambda: I.get_inception_weights(evil),
        lambda: I.inception_extractor(evil),
        lambda: I.torch_fidelity_metrics(*[torch.zeros(2, 3, 32, 32, dtype=torch.uint8)] * 2, evil),
    ):
        with pytest.raises(I.InceptionWeightsInvalid, match=str(evil)):
            call()
    assert not marker.exists()
    # a garbage file is named too
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not weights")
    monkeypatch.setenv(I.ENV_WEIGHTS, str(garbage))
    with pytest.raises(I.InceptionWeightsInvalid, match="garbage.pth.*SHA-256"):
        I.get_inception_weights()


def test_a_download_with_the_wrong_hash_is_refused_and_not_kept(tmp_path, monkeypatch):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "w.pth").write_bytes(b"tampered")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(
            I, "INCEPTION_URL", f"http://127.0.0.1:{server.server_address[1]}/w.pth"
        )
        target = tmp_path / "hub" / "w.pth"
        with pytest.raises(I.InceptionWeightsUnavailable, match="download failed"):
            I.get_inception_weights(target, download=True, timeout=5)
        assert not target.exists()
        # the same file is accepted when it is the one the hash names
        monkeypatch.setattr(I, "INCEPTION_SHA256", hashlib.sha256(b"tampered").hexdigest())
        assert I.get_inception_weights(target, download=True, timeout=5) == target
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A weights file for torch-fidelity's Inception with random (He-scaled) weights: the real
    file cannot be downloaded here, but the code path can run end to end on these."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    d = tmp_path_factory.mktemp("inception")
    torch.save({}, d / "empty.pt")
    torch.manual_seed(0)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"):
        net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(d / "empty.pt")
        )
    state = {k: v * 6**0.5 if k.endswith("conv.weight") else v for k, v in net.state_dict().items()}
    torch.save(state, d / "w.pth")
    return d / "w.pth"


def test_inception_path_matches_torch_fidelity_end_to_end(random_inception_weights, monkeypatch):
    monkeypatch.setattr(I, "INCEPTION_SHA256", sha256_of(random_inception_weights))
    x = torch.from_numpy(fixture_images(3, seed=0)[0])
    extract = I.inception_extractor(random_inception_weights)
    pool, logits = I.extract_features(extract, x)
    assert pool.shape == (3, 2048) and logits.shape == (3, 1008)
    ours = M.inception_score_from_logits(logits, splits=1)[0]
    theirs = I.torch_fidelity_metrics(x, x, random_inception_weights, splits=1, fid=False)
    assert ours == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours > 1.0  # the random net's predictions do vary across images
