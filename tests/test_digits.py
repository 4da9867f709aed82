"""Tests for sngan_teach.digits (the 8x8 digits GAN, its classifier and proxy scores) and for
experiments/robustness.py in its tiny mode."""

import csv
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from experiments.digits_grid import train_digits
from sngan_teach.digits import (
    N_HELD_OUT,
    DigitsDiscriminator,
    DigitsGenerator,
    classes_covered,
    classifier_accuracy,
    digit_classifier,
    digits_fid,
    digits_is,
    evaluate_digits,
    load_digits_split,
    make_D,
    make_G,
    real_floor,
    real_sampler,
    sn_layer_sigmas,
    train_classifier,
)
from sngan_teach.methods import METHODS

ROOT = Path(__file__).resolve().parents[1]


def test_split_is_fixed_disjoint_scaled_and_stratified():
    x, y, x_held, y_held = load_digits_split()
    assert x.shape == (1797 - N_HELD_OUT, 1, 8, 8) and x_held.shape == (N_HELD_OUT, 1, 8, 8)
    assert x.min() == -1.0 and x.max() == 1.0  # pixels 0..16 -> x / 8 - 1
    again = load_digits_split()
    torch.testing.assert_close(again[0], x)
    torch.testing.assert_close(again[3], y_held)
    rows = {tuple(r.flatten().tolist()) for r in x}
    assert not any(tuple(r.flatten().tolist()) in rows for r in x_held[:50])  # no image in both
    share = torch.bincount(y_held, minlength=10) / len(y_held)
    assert share.min() > 0.08 and share.max() < 0.12  # every digit about 10 %
    x[0] = 5.0  # copies: the cached split stays intact
    assert load_digits_split()[0].max() == 1.0


def test_classifier_accuracy_at_least_95_percent():
    acc = classifier_accuracy()
    print(f"held-out accuracy {acc:.4f}")
    assert acc >= 0.95


def test_proxy_scores_rank_real_above_broken_generators():
    x, _, x_held, _ = load_digits_split()
    floor = real_floor(1000)
    assert floor["digits_is"] > 8.5 and floor["held_out_is"] > 8.5
    assert floor["classes"] == 10
    one = x[:1].repeat(500, 1, 1, 1)  # a generator collapsed to one image
    assert digits_is(one) == pytest.approx(1.0, abs=1e-3)
    assert classes_covered(one) <= 1
    assert digits_fid(one) > 50 * floor["digits_fid"]
    noise = torch.rand(500, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert digits_fid(noise) > 50 * floor["digits_fid"]
    # the FID of the held-out digits against themselves is 0 (up to sqrtm's error)
    assert digits_fid(x_held) == pytest.approx(0.0, abs=1e-3)
    assert digits_fid(x[:600], reference=x[:600]) == pytest.approx(0.0, abs=1e-3)


def test_evaluate_digits_marks_non_finite_samples():
    x = torch.full((4, 1, 8, 8), float("nan"))
    m = evaluate_digits(x)
    assert m["digits_is"] == 1.0 and math.isnan(m["digits_fid"]) and m["classes"] == 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="x must have shape"):
        digits_is(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="x must be a Tensor"):
        digits_fid([1, 2])
    with pytest.raises(ValueError, match="n must be"):
        real_floor(1)
    with pytest.raises(ValueError, match="method must be"):
        make_D("bn")
    with pytest.raises(ValueError, match="ch must be even"):
        DigitsGenerator(ch=7)
    with pytest.raises(ValueError, match="slope"):
        DigitsDiscriminator(slope=1.5)
    with pytest.raises(ValueError, match="setting must be"):
        train_digits("sn", "G", 1)
    with pytest.raises(ValueError, match="n_dis must be"):
        train_digits("sn", "C", 1, n_dis=0)
    with pytest.raises(TypeError, match="generator"):
        real_sampler(torch.zeros(3, 1, 8, 8), 0)


def test_networks_shapes_and_discriminator_methods():
    torch.manual_seed(0)
    net_G = make_G(z_dim=8, ch=8)
    x = net_G(torch.randn(5, 8))
    assert x.shape == (5, 1, 8, 8) and x.abs().max() <= 1.0
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net_G.modules()) == 3
    for method in METHODS:
        net_D = make_D(method, ch=4)
        assert net_D(x).shape == (5,)
        assert net_D.features(x).shape == (5, 64)
    sn = make_D("sn", ch=4)
    layers = [m for m in sn.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(layers) == 5 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in make_D("none", ch=4).modules())
    # leaky ReLU with slope 0.1: a negative pre-activation is scaled by 0.1, not zeroed
    h = torch.tensor([-2.0, 3.0])
    assert torch.nn.functional.leaky_relu(h, sn.slope).tolist() == pytest.approx([-0.2, 3.0])
    assert sn.slope == 0.1


def test_sn_layer_sigmas_are_one_and_do_not_update_anything():
    torch.manual_seed(0)
    net_D = make_D("sn", ch=4)
    net_D(torch.randn(8, 1, 8, 8))  # one training forward: u, v take one more step
    state = {k: v.clone() for k, v in net_D.state_dict().items()}
    sigmas = sn_layer_sigmas(net_D)
    assert list(sigmas) == ["c0", "c1", "c2", "c3", "l4"]
    assert all(abs(s - 1.0) < 0.05 for s in sigmas.values()), sigmas
    for k, v in net_D.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert sn_layer_sigmas(make_D("wn", ch=4)) == {}


def test_train_digits_runs_every_method_and_records_sigmas():
    for method in METHODS:
        run = train_digits(method, "D", 2, n_dis=2, ch_G=8, ch_D=4, n_eval=20, sigma_every=1)
        assert run["loss"] == ("wgan" if method in ("clip", "gp") else "ns")
        assert run["n_dis"] == 2 and not run["diverged"]
        assert set(run["metrics"]) == {"digits_is", "digits_fid", "classes"}
        assert run["samples"].shape == (20, 1, 8, 8)
        assert (len(run["sigmas"]) == 2 * 5) == (method == "sn")
    a = train_digits("sn", "C", 3, seed=4, ch_G=8, ch_D=4, n_eval=20)
    b = train_digits("sn", "C", 3, seed=4, ch_G=8, ch_D=4, n_eval=20)
    torch.testing.assert_close(a["samples"], b["samples"])  # seeded end to end


def test_a_cell_diverging_between_two_loss_checks_is_scored_as_diverged(monkeypatch):
    # D's weights turn NaN at the third update; the losses are checked at step 100 only, so
    # the sigma record of step 3 meets them first: it must not run an SVD of NaN.
    import experiments.digits_grid as digits

    updates = []

    def poison(net_D):
        updates.append(1)
        if len(updates) == 3:
            with torch.no_grad():
                net_D.c1.parametrizations.weight.original.fill_(float("nan"))

    monkeypatch.setattr(digits, "method_hooks", lambda method: (None, poison))
    run = train_digits("sn", "C", 200, ch_G=8, ch_D=4, n_eval=20, sigma_every=1)
    assert run["diverged"] and run["history"] == []
    m = run["metrics"]
    assert m["digits_is"] == 1.0 and math.isnan(m["digits_fid"]) and m["classes"] == 0
    assert sorted({r["step"] for r in run["sigmas"]}) == [1, 2]  # the records before the NaN
    with pytest.raises(FloatingPointError, match="layer c1: W / sigma holds NaN"):
        sn_layer_sigmas(run["net_D"])


def test_classes_covered_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="x must hold at least 1 image, got 0"):
        classes_covered(torch.zeros(0, 1, 8, 8))


def test_classifier_is_trained_once_per_process():
    assert digit_classifier() is digit_classifier()


def test_robustness_quick_writes_and_resumes(tmp_path):
    out = tmp_path / "r.csv"
    out.touch()  # an empty file gets its header
    cmd = [sys.executable, str(ROOT / "experiments/robustness.py"), "--quick", "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    rows = list(csv.DictReader(out.open()))
    methods = {r["method"] for r in rows}
    assert methods == {"sn", "wn", "ortho", "clip", "gp", "none"}
    assert {r["setting"] for r in rows} == {"C", "D"}
    assert {int(r["n_dis"]) for r in rows if r["setting"] == "D"} == {1, 5}
    assert len(rows) == len({(r["method"], r["setting"], r["n_dis"]) for r in rows})
    for r in rows:
        assert 1.0 <= float(r["digits_is"]) <= 10.0
    sigma_path = tmp_path / "r_sigma.csv"
    sigma = list(csv.DictReader(sigma_path.open()))
    assert {r["method"] for r in sigma} == {"sn"} and len(sigma) > 0
    assert "0 of" not in first.stdout.splitlines()[0]
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    assert second.stdout.startswith(f"0 of {len(rows)} cells")
    assert len(list(csv.DictReader(out.open()))) == len(rows)

    # A run cut short: the last row torn inside its key, and an SN cell whose sigma rows were
    # written but not its main row. The resume repairs both and reruns exactly those two cells.
    lines = out.read_bytes().splitlines(keepends=True)
    sn_line = next(i for i, line in enumerate(lines) if line.startswith(b"sn,"))
    torn = lines[-1][:5]
    out.write_bytes(b"".join(lines[:sn_line] + lines[sn_line + 1 : -1]) + torn)
    third = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    assert f"the last line of {out} is incomplete ({torn.decode()!r}" in third.stderr
    assert "belong to no cell of the main CSV" in third.stderr
    assert third.stdout.startswith(f"2 of {len(rows)} cells")
    timeless = [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]
    after = [{k: v for k, v in r.items() if "seconds" not in k} for r in csv.DictReader(out.open())]
    assert sorted(after, key=str) == sorted(timeless, key=str)  # each cell once, as before
    assert sorted(csv.DictReader(sigma_path.open()), key=str) == sorted(sigma, key=str)
    summary = [*cmd[:2], "--summary", "--out", str(out)]
    assert subprocess.run(summary, capture_output=True, timeout=600).returncode == 0

    # A second run's rows in the same file: the summary refuses them, it does not average them.
    with out.open("ab") as f:
        f.write(lines[1])
    twice = subprocess.run(summary, capture_output=True, text=True, timeout=600)
    assert twice.returncode == 1
    assert "twice (lines " in twice.stderr and "two runs wrote to it" in twice.stderr


def test_robustness_samples_retrain_the_median_seed_exactly(tmp_path):
    out = tmp_path / "r.csv"
    script = ROOT / "experiments/robustness.py"
    subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)], check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    from experiments import robustness

    hand = [
        {
            "method": "sn",
            "setting": "D",
            "n_dis": "5",
            "steps": "9",
            "seed": str(i),
            "digits_fid": f,
        }
        for i, f in enumerate(["5.0", "nan", "3.0"])
    ]
    assert robustness.median_seed(hand, "sn", "D", 5, 9) == 0  # 3 < 5 < nan (worst)
    rows = list(csv.DictReader(out.open()))
    with pytest.raises(ValueError, match="no rows"):
        robustness.median_seed(rows, "sn", "F", 5, 3)
    npz = tmp_path / "s.npz"
    robustness.store_samples(out, npz, ("D",), steps=3, n_eval=100)
    stored = np.load(npz)
    for method in robustness.METHODS:
        assert stored[f"{method}_D"].shape == (robustness.N_SAMPLES, 1, 8, 8)
        csv_fid, retrained_fid = stored[f"{method}_D_fid"]
        assert abs(csv_fid - retrained_fid) < 1e-3 * max(1.0, csv_fid), method


def test_robustness_long_quick_writes_curves_and_second_classifier_scores(tmp_path):
    out = tmp_path / "long.csv"
    cmd = [sys.executable, str(ROOT / "experiments/robustness.py"), "--long", "--quick",
           "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    rows = list(csv.DictReader(out.open()))
    assert {(r["setting"], int(r["steps"])) for r in rows} == {("D", 4), ("C", 6)}
    assert {r["method"] for r in rows} == {"sn", "wn", "ortho", "clip", "gp", "none"}
    curve = list(csv.DictReader((tmp_path / "long_curve.csv").open()))
    for r in rows:
        steps = [int(c["step"]) for c in curve if (c["method"], c["setting"]) ==
                 (r["method"], r["setting"])]  # fmt: skip
        assert steps == list(range(2, int(r["steps"]) + 1, 2))  # every curve_every, to the end
        last = next(c for c in curve if (c["method"], c["setting"], int(c["step"])) ==
                    (r["method"], r["setting"], int(r["steps"])))  # fmt: skip
        assert last["digits_fid"] == r["digits_fid"]  # the curve ends at the row's score
        assert 1.0 <= float(r["digits_is_clf2"]) <= 10.0 and float(r["digits_fid_clf2"]) > 0
        assert r["digits_fid_clf2"] != r["digits_fid"]  # another classifier, another number
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    assert again.stdout.startswith(f"0 of {len(rows)} cells")
    summary = subprocess.run([*cmd[:2], "--summary", "--long", "--out", str(out)],
                             capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    assert "no setting of" in summary.stdout  # one seed a cell: no comparison to judge


def test_train_digits_curve_changes_nothing_of_the_run():
    kw = {"ch_G": 8, "ch_D": 4, "n_eval": 50}
    plain = train_digits("sn", "D", 6, **kw)
    traced = train_digits("sn", "D", 6, curve_every=4, sigma_every=3, **kw)
    assert traced["metrics"] == plain["metrics"]
    assert [c["step"] for c in traced["curve"]] == [4, 6]
    assert traced["curve"][-1]["digits_fid"] == plain["metrics"]["digits_fid"]
    with pytest.raises(ValueError, match="curve_every"):
        train_digits("sn", "D", 1, curve_every=-1, **kw)


def test_a_classifier_trains_under_no_grad():
    """The first score of a session trains the classifier; a caller's no_grad must not stop it."""
    with torch.no_grad():
        clf = train_classifier(seed=3, n_epochs=2)
    assert classifier_accuracy(clf) > 0.5
