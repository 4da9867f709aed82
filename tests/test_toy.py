"""Tests for sngan_teach.toy (lesson 07) and for experiments/toy_table.py in a tiny mode."""

import csv
import math
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch.nn.utils import parametrize

from sngan_teach.gan import SETTINGS
from sngan_teach.lipschitz import input_gradient_norms, product_bound
from sngan_teach.losses import hinge_loss_D, hinge_loss_G
from sngan_teach.methods import METHODS
from sngan_teach.toy import (
    CRITIC_METHODS,
    dataset,
    grid_centres,
    lab,
    make_D,
    make_G,
    mode_metrics,
    plot_curves,
    plot_landscape,
    plot_samples,
    ring_centres,
    sample_blob,
    sample_mixture,
    sample_ring,
    train_critic,
    train_toy,
)

ROOT = Path(__file__).resolve().parents[1]
TOY_TABLE = [
    sys.executable,
    str(ROOT / "experiments/toy_table.py"),
    "--n-steps",
    "1",
    "--seeds",
    "0",
]


def test_ring_and_grid_geometry():
    ring = ring_centres(8, 2.0)
    assert ring.shape == (8, 2)
    torch.testing.assert_close(ring.norm(dim=1), torch.full((8,), 2.0))
    assert len(torch.unique(ring.round(decimals=4), dim=0)) == 8  # no duplicated endpoint
    grid = grid_centres()
    assert grid.shape == (25, 2)
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    c, std = dataset("grid")
    assert std == 0.05 and torch.equal(c, grid)
    c, std = dataset("ring")
    assert std == 0.02 and torch.equal(c, ring)
    with pytest.raises(ValueError, match="data must be one of .* got 'moons'"):
        dataset("moons")


def test_sample_ring_and_blob_are_seeded_and_have_their_geometry():
    a = sample_ring(20000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, sample_ring(20000, torch.Generator().manual_seed(0)))
    centres = ring_centres(8, 2.0)
    m = mode_metrics(a, centres, 0.05)
    assert m["modes"] == 8 and m["hq"] > 0.98 and m["kl"] < 0.01
    resid = a - centres[torch.cdist(a, centres).argmin(1)]
    assert abs(resid.std().item() - 0.05) < 0.002
    # the same draws as sample_mixture on the ring, up to float32 round-off of the angles
    b = sample_mixture(centres, 0.05, 20000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    wide = sample_ring(5000, torch.Generator().manual_seed(1), n_modes=5, radius=3.0, std=0.01)
    assert mode_metrics(wide, ring_centres(5, 3.0), 0.01)["modes"] == 5
    blob = sample_blob(20000, torch.Generator().manual_seed(0))
    assert blob.shape == (20000, 2) and abs(blob.std().item() - 0.3) < 0.01
    assert blob.mean(0).abs().max() < 0.01


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda g: sample_ring(0, g), ValueError, "n must be >= 1, got 0"),
        (lambda g: sample_ring(4, None), TypeError, "generator must be a torch.Generator"),
        (lambda g: sample_ring(4, g, std=0.0), ValueError, "std must be a finite number > 0"),
        (lambda g: sample_ring(4, g, radius=-1.0), ValueError, "radius must be a finite"),
        (lambda g: sample_blob(2.5, g), TypeError, "n must be an int, got float 2.5"),
        (lambda g: train_critic("gp", g), ValueError, "method must be one of .*'WGAN-GP'"),
        (lambda g: train_critic("SN", 0), TypeError, "generator must be a torch.Generator"),
        (lambda g: train_critic("SN", g, n_steps=-1), ValueError, "n_steps must be >= 0"),
        (lambda g: train_critic("WC", g, c=0), ValueError, "c must be a finite number > 0"),
        (lambda g: train_critic("SN", g, lam="10"), TypeError, "lam must be a number"),
        (lambda g: train_critic("SN", g, betas=0.5), TypeError, "betas must be a tuple of 2"),
        (
            lambda g: train_critic("SN", g, betas=(0.5, 1.0)),
            ValueError,
            r"betas\[1\] must be in \[0, 1\)",
        ),
    ],
)
def test_critic_functions_refuse_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call(torch.Generator())


def test_train_critic_is_seeded_and_each_method_acts():
    def run(method, **kw):
        return train_critic(method, torch.Generator().manual_seed(0), **({"n_steps": 60} | kw))

    for method in CRITIC_METHODS:
        a, b = run(method), run(method)
        assert not a.training
        for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    untrained = run("SN", n_steps=0)
    assert parametrize.is_parametrized(untrained[0], "weight")
    assert product_bound(run("SN")) < 1.1 < 10 < product_bound(run("DRAGAN", n_steps=0))
    clipped = run("WC", c=0.02)
    assert max(p.abs().max().item() for p in clipped.parameters()) <= 0.02
    # the steep start: every weight of the unconstrained init times init_scale
    torch.manual_seed(0)
    plain = make_D("none", 64, 2)
    steep = run("WGAN-GP", n_steps=0)
    torch.testing.assert_close(steep[0].weight, 4.0 * plain[0].weight)
    # the penalty pulls the gradient norm at the interpolates toward 1 (from ~8 at the start)
    x = 0.5 * sample_ring(500, torch.Generator().manual_seed(5))
    before = input_gradient_norms(steep, x).median().item()
    after = input_gradient_norms(train_critic("WGAN-GP", torch.Generator(), n_steps=300), x)
    assert abs(after.median().item() - 1) < abs(before - 1) / 3


def test_sample_mixture_is_seeded_and_fills_every_mode():
    c, std = dataset("grid")
    a = sample_mixture(c, std, 5000, torch.Generator().manual_seed(0))
    b = sample_mixture(c, std, 5000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    m = mode_metrics(a, c, std)
    assert m["modes"] == 25
    assert m["hq"] > 0.98  # 3 std in 2-D holds 98.9 % of a Gaussian's mass
    assert m["kl"] < 0.02
    # the empirical std around each centre is the one asked for
    nearest = torch.cdist(a, c).argmin(1)
    resid = a - c[nearest]
    assert abs(resid.std().item() - std) < 0.003
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        sample_mixture(c, std, 0, torch.Generator())


def test_mode_metrics_on_hand_made_samples():
    c = grid_centres()
    std = 0.05
    # 3 modes hit: 2 samples at centre 0, 1 at centre 1, 1 at centre 7; one far-off sample
    samples = torch.stack(
        [c[0], c[0] + 0.1, c[1], c[7] - torch.tensor([0.14, 0.0]), torch.tensor([1.0, 1.0])]
    )
    m = mode_metrics(samples, c, std)
    assert m["modes"] == 3
    assert m["hq"] == pytest.approx(4 / 5)
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert m["kl"] == pytest.approx(float((p * torch.log(25 * p)).sum()))
    assert m["counts"][0] == 2 and sum(m["counts"]) == 4
    # a sample just beyond 3 std is not high quality
    assert mode_metrics(c[:1] + 0.151, c, std)["hq"] == 0.0
    # one mode takes all: KL = log K
    assert mode_metrics(c[:1].repeat(10, 1), c, std)["kl"] == pytest.approx(math.log(25))
    assert mode_metrics(torch.full((3, 2), 9.0), c, std) == {
        "modes": 0,
        "hq": 0.0,
        "kl": pytest.approx(math.log(25)),
        "counts": [0] * 25,
    }
    with pytest.raises(ValueError, match="samples must have shape"):
        mode_metrics(torch.zeros(4, 3), c, std)
    with pytest.raises(ValueError, match="samples must hold at least 1 sample, got 0"):
        mode_metrics(torch.zeros(0, 2), c, std)


def test_make_D_methods():
    x = torch.randn(8, 2)
    for method in METHODS:
        net_D = make_D(method, width=16)
        assert net_D(x).shape == (8, 1)
    sn = make_D("sn", width=16)
    wn = make_D("wn", width=16)
    assert all(parametrize.is_parametrized(sn[i], "weight") for i in (0, 2, 4))
    assert all(parametrize.is_parametrized(wn[i], "weight") for i in (0, 2, 4))
    # spectral norm: every layer's weight has sigma ~ 1
    for i in (0, 2, 4):
        assert torch.linalg.matrix_norm(sn[i].weight.detach(), ord=2) == pytest.approx(1, abs=0.05)
    clip = make_D("clip", width=16)
    assert max(p.abs().max().item() for p in clip.parameters()) <= 0.01
    ortho = make_D("ortho", width=16)
    W = ortho[2].weight.detach()
    torch.testing.assert_close(W @ W.T, torch.eye(16), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="method must be one of .* got 'bn'"):
        make_D("bn")


def test_train_toy_learns_and_is_reproducible():
    kw = dict(data="ring", method="sn", loss="ns", setting="D", width=32, n_eval=500)
    a = train_toy(**kw, n_steps=60, eval_every=20, seed=3)
    b = train_toy(**kw, n_steps=60, eval_every=20, seed=3)
    torch.testing.assert_close(a["samples"], b["samples"])
    assert [row["step"] for row in a["curve"]] == [20, 40, 60]
    assert a["metrics"] == b["metrics"]
    assert a["curve"][-1] == {"step": 60, **{k: a["metrics"][k] for k in ("modes", "hq", "kl")}}
    # training moves G's samples from the origin towards the ring's centres
    c, _ = dataset("ring")
    untrained = train_toy(**kw, n_steps=0, seed=3)
    assert untrained["curve"] == [] and untrained["history"] == []

    def mean_distance(run):
        return torch.cdist(run["samples"], c).min(dim=1).values.mean().item()

    assert mean_distance(a) < 0.5 * mean_distance(untrained), (
        mean_distance(a),
        mean_distance(untrained),
    )


def test_train_toy_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method must be one of"):
        train_toy(method="batchnorm", n_steps=1)
    with pytest.raises(ValueError, match="setting must be one of .* got 'Z'"):
        train_toy(setting="Z", n_steps=1)
    with pytest.raises(ValueError, match=r"setting is missing \['n_dis'\]"):
        train_toy(setting={"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9}, n_steps=1)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_toy(loss="lsgan", n_steps=1)
    with pytest.raises(ValueError, match="data must be one of"):
        train_toy(data="spiral", n_steps=1)
    # each of these failed only after training, or not at all
    for kwargs, error, text in [
        ({"n_eval": 0}, ValueError, "n_eval must be >= 1, got 0"),
        ({"width": 0}, ValueError, "width must be >= 1, got 0"),
        ({"width_D": 0}, ValueError, "width_D must be >= 1, got 0"),
        ({"depth_G": 0}, ValueError, "depth_G must be >= 1, got 0"),
        ({"z_dim": 2.5}, TypeError, "z_dim must be an int"),
        ({"eval_every": -1}, ValueError, "eval_every must be >= 0, got -1"),
        ({"setting": {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 2.7}}, ValueError,
         r"n_dis must be a whole number >= 1, got 2.7"),
    ]:  # fmt: skip
        with pytest.raises(error, match=text):
            train_toy(n_steps=1, **kwargs)


def test_plots_and_lab_run():
    c, std = dataset("grid")
    s = sample_mixture(c, std, 100, torch.Generator().manual_seed(0))
    fig, axes = plt.subplots(1, 5)
    plot_samples(axes[0], s, c, "samples")
    plot_landscape(axes[1], make_D("sn", width=8), c, "landscape")
    run = {"curve": [{"step": 1, "modes": 3, "hq": 0.5, "kl": 1.0}]}
    plot_curves(list(axes[2:]), {"sn": run}, 25)
    assert axes[0].get_xlabel() and axes[1].get_title() == "landscape"
    assert axes[2].get_ylabel() == "modes captured"
    plt.close(fig)
    run = lab("wn", "ns", "B", "ring", n_steps=5)
    assert run["method"] == "wn" and run["n_steps"] == 5
    plt.close("all")


def test_train_toy_takes_a_custom_loss_pair():
    calls = []

    def counting_hinge_loss_D(d_real, d_fake):
        calls.append(len(d_real))
        return hinge_loss_D(d_real, d_fake)

    run = train_toy(
        "ring", "sn", setting="B", n_steps=3, width=8, batch_size_D=16, n_eval=50,
        loss_fns=(counting_hinge_loss_D, hinge_loss_G),
    )  # fmt: skip
    assert run["loss"] == "custom" and calls == [16, 16, 16]


def test_make_G_depth_and_batch_norm_switch():
    z = torch.randn(8, 2)
    default = make_G(2, 16)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in default) == 3
    assert sum(isinstance(m, torch.nn.Linear) for m in default) == 4
    plain = make_G(2, 16, depth=4, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in plain)
    assert sum(isinstance(m, torch.nn.Linear) for m in plain) == 5
    assert plain(z).shape == (8, 2)
    # same seed, same Linear weights with or without batch norm
    torch.manual_seed(0)
    a = make_G(2, 16, batch_norm=True)
    torch.manual_seed(0)
    b = make_G(2, 16, batch_norm=False)
    torch.testing.assert_close(a[0].weight, b[0].weight)


def test_train_toy_sizes_dict_setting_and_lr_decay():
    # a dict setting equal to setting "D" trains exactly as "D"
    kw = dict(data="ring", method="sn", loss="hinge", width=16, n_eval=100, n_steps=8, seed=1)
    a = train_toy(setting="D", **kw)
    b = train_toy(setting=dict(SETTINGS["D"]), **kw)
    torch.testing.assert_close(a["samples"], b["samples"])
    run = train_toy(
        setting="C", width_D=24, depth_G=4, depth_D=3, batch_norm=False, lr_decay=True,
        eval_every=0, **(kw | dict(n_steps=10))
    )  # fmt: skip
    linears_G = [m for m in run["net_G"] if isinstance(m, torch.nn.Linear)]
    linears_D = [m for m in run["net_D"] if isinstance(m, torch.nn.Linear)]
    assert len(linears_G) == 5 and linears_G[0].out_features == 16
    assert len(linears_D) == 4 and linears_D[0].out_features == 24
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in run["net_G"])
    # linear decay: the last step ran at alpha * (1 - 9/10)
    assert run["history"][-1]["lr"] == pytest.approx(SETTINGS["C"]["alpha"] * 0.1)
    plain = train_toy(setting="C", **(kw | dict(n_steps=10)))
    assert plain["history"][-1]["lr"] == pytest.approx(SETTINGS["C"]["alpha"])


def test_toy_table_without_resume_never_overwrites_a_table(tmp_path):
    out = tmp_path / "toy_table.csv"
    shutil.copy(ROOT / "benchmarks/results/toy_table.csv", out)
    before = out.read_bytes()
    done = subprocess.run([*TOY_TABLE, "--out", str(out)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 1
    assert f"{out} already holds 216 rows; pass --resume" in done.stderr
    assert out.read_bytes() == before


def test_toy_table_resume_repairs_a_torn_last_line(tmp_path):
    out = tmp_path / "t.csv"
    cmd = [*TOY_TABLE, "--out", str(out)]
    subprocess.run(cmd, capture_output=True, timeout=600, check=True)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 72
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:12])  # cut inside the key fields
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600,
                             check=True)  # fmt: skip
    assert "is incomplete" in resumed.stderr and "that cell runs again" in resumed.stderr
    assert resumed.stdout.startswith("1 configurations")
    after = list(csv.DictReader(out.open()))
    key = ("method", "loss", "setting", "seed")
    assert sorted(tuple(r[k] for k in key) for r in after) == sorted(
        tuple(r[k] for k in key) for r in rows
    )
