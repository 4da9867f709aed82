"""Tests for sngan_teach.recipes: each preset's values and the source it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sngan_teach.gan import SETTINGS
from sngan_teach.models import Z_DIM, build_models
from sngan_teach.recipes import PUBLISHED, RECIPES, build_run, get_recipe
from sngan_teach.sn import add_sn

KEYS = {"arch", "loss", "norm", "alpha", "beta1", "beta2", "n_dis", "batch_d", "batch_g"}
KEYS |= {"lr_decay", "ema", "steps", "dequantize", "source"}


def optimizer(recipe: dict) -> dict:
    return {k: recipe[k] for k in ("alpha", "beta1", "beta2", "n_dis")}


def test_every_recipe_has_every_setting_and_a_source():
    assert set(RECIPES) == {"paper-cnn", "paper-resnet", "fast-cnn"}
    for name, recipe in RECIPES.items():
        assert set(recipe) == KEYS, name
        assert isinstance(recipe["source"], str) and len(recipe["source"]) > 20, name


def test_paper_cnn_is_setting_c_with_chainer_gan_libs_batches():
    r = RECIPES["paper-cnn"]
    assert optimizer(r) == SETTINGS["C"]  # Table 1, setting C
    assert (r["arch"], r["batch_d"], r["batch_g"], r["steps"]) == ("standard", 64, 64, 100_000)
    assert not r["lr_decay"] and r["ema"] == 0 and r["norm"] == "sn"
    assert "setting C" in r["source"] and "chainer-gan-lib" in r["source"]


def test_paper_resnet_is_app_b2_with_the_official_config():
    r = RECIPES["paper-resnet"]
    assert optimizer(r) == {"alpha": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_dis": 5}
    assert (r["arch"], r["loss"], r["batch_d"], r["batch_g"]) == ("resnet", "hinge", 64, 128)
    assert r["lr_decay"] and r["ema"] == 0 and r["steps"] == 50_000
    assert "App. B.2" in r["source"] and "sngan_projection" in r["source"]


def test_fast_cnn_says_it_is_not_the_papers():
    r = RECIPES["fast-cnn"]
    assert r["source"].startswith("not the paper's")
    assert optimizer(r) == optimizer(RECIPES["paper-resnet"]) and r["arch"] == "standard"
    assert r["ema"] > 0 and r["lr_decay"]


def test_get_recipe_returns_a_copy_and_names_bad_input():
    r = get_recipe("paper-cnn")
    r["alpha"] = 1.0
    assert RECIPES["paper-cnn"]["alpha"] == 2e-4
    with pytest.raises(ValueError, match=r"recipe must be one of .*got 'paper'"):
        get_recipe("paper")
    with pytest.raises(TypeError, match="name must be a str, got int"):
        get_recipe(3)


def test_published_rows_name_the_measurement_they_match():
    for row in PUBLISHED:
        assert {"source", "model", "is", "fid", "protocol", "comparable", "note"} <= set(row)
        assert "FID" in row["protocol"] or row["fid"] is None
        if row["comparable"] is None:
            assert row["note"], row  # a row nobody can match says why
        else:
            assert row["comparable"].split()[0] in RECIPES, row
    by_fid = {row["fid"]: row for row in PUBLISHED}
    assert "50k real / 50k fake" in by_fid[16.77]["protocol"]
    assert "10k real / 5k fake" in by_fid[23.90]["protocol"]
    assert by_fid[17.81]["comparable"] is None and "z of size 100" in by_fid[17.81]["note"]


# ---- scripts/train_cifar10.py --recipe ----------------------------------------------------

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_cifar10.py"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_script_takes_every_value_from_the_recipe(train_script, name):
    args = train_script.parse_args(["--recipe", name, "--no-eval"])
    for key in train_script.RECIPE_FLAGS:
        assert getattr(args, key) == RECIPES[name][key], (name, key)
    assert Path(args.out).name == f"{name}_{RECIPES[name]['loss']}_{RECIPES[name]['norm']}"


def test_script_flags_override_the_recipe(train_script):
    args = train_script.parse_args(
        ["--recipe", "paper-cnn", "--no-eval", "--n-dis", "5", "--lr-decay"]
    )
    assert args.n_dis == 5 and args.lr_decay and args.beta1 == 0.5  # the rest stays
    args = train_script.parse_args(["--recipe", "paper-resnet", "--no-eval", "--setting", "A"])
    assert (args.alpha, args.beta1, args.beta2, args.n_dis) == (1e-4, 0.5, 0.9, 5)
    args = train_script.parse_args(
        ["--recipe", "paper-resnet", "--no-eval", "--setting", "A"] + ["--beta1", "0"]
    )
    assert args.beta1 == 0 and args.alpha == 1e-4


def test_dequantize_is_the_official_x_over_128_plus_uniform_noise(train_script):
    u = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16)
    gen = torch.Generator().manual_seed(0)
    x = train_script.dequantize(u / 127.5 - 1, gen)
    noise = torch.rand(u.shape, generator=torch.Generator().manual_seed(0)) / 128
    torch.testing.assert_close(x, u / 128 - 1 + noise, rtol=0, atol=1e-6)
    assert x.min() >= -1 and x.max() < 1


@pytest.mark.parametrize("name", ["paper-cnn", "paper-resnet"])
def test_dry_run_of_each_paper_recipe_runs_on_the_cpu(tmp_path, name):
    out = tmp_path / name
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--recipe", name, "--dry-run", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["recipe"] == name and results["arch"] == RECIPES[name]["arch"]
    config = json.loads((out / "config.json").read_text())
    assert config["n_dis"] == RECIPES[name]["n_dis"] and config["recipe_source"]


def test_ema_is_scored_with_its_own_batch_norm_statistics(tmp_path):
    out = tmp_path / "fast"
    flags = ["--recipe", "fast-cnn", "--dry-run", "--dequantize", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    state = torch.load(out / "ckpt_00000002.pt", weights_only=True)
    ema, net = state["modules"]["ema_G"], state["modules"]["net_G"]
    # the final grid recomputed the EMA's statistics after the last copy from net_G
    assert not torch.equal(ema["bn0.running_mean"], net["bn0.running_mean"])
    assert set(json.loads((out / "results.json").read_text())["scores"]) == {"net_G", "ema_G"}


# ---- build_run: one run's setup for the script, the benchmarks, the small run and A4 --------

IMAGES = torch.randint(
    0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
)


PAPER_CNN = RECIPES["paper-cnn"]
SMALL = {"images": IMAGES, "seed": 3, "device": "cpu", "fast": False, "slim": 16}


def small_run(name: str = "paper-cnn", **change):
    return build_run(get_recipe(name), **(SMALL | change))


def test_build_run_draws_weights_batches_and_z_from_the_seed_in_a_fixed_order():
    run = small_run(seed=3, n_fixed=5)
    torch.manual_seed(3)
    net_G, net_D = build_models("standard", 16)
    add_sn(net_D)
    for built, by_hand in ((run.net_G, net_G), (run.net_D, net_D)):
        for key, value in by_hand.state_dict().items():
            torch.testing.assert_close(built.state_dict()[key], value, rtol=0, atol=0)
    seeded = {"real": 4, "z": 5}  # seed + 1, seed + 2
    for key, offset in seeded.items():
        expected = torch.Generator().manual_seed(offset).get_state()
        assert torch.equal(run.generators[key].get_state(), expected), key
    fixed = torch.randn(5, Z_DIM, generator=torch.Generator().manual_seed(6))  # seed + 3
    torch.testing.assert_close(run.fixed_z, fixed, rtol=0, atol=0)
    assert run.sampler.generator is run.generators["real"] and run.gen_z is run.generators["z"]
    assert list(run.optimizers) == ["opt_G", "opt_D"] and list(run.modules) == ["net_G", "net_D"]
    group = run.opt_D.param_groups[0]
    assert (group["lr"], group["betas"]) == (2e-4, (0.5, 0.999))  # paper-cnn's Adam


def test_build_run_keeps_an_ema_copy_only_when_the_recipe_has_one():
    assert small_run("paper-cnn").ema_G is None
    run = small_run("fast-cnn")
    assert list(run.modules) == ["net_G", "net_D", "ema_G"] and run.ema_G is not run.net_G
    for key, value in run.net_G.state_dict().items():
        assert torch.equal(run.ema_G.state_dict()[key], value), key
    assert run.recipe == RECIPES["fast-cnn"] and run.recipe is not RECIPES["fast-cnn"]


def test_build_run_fast_is_fused_adam_and_channels_last_with_the_same_start():
    fast, eager = small_run(fast=True), small_run(fast=False)
    convs = [w for w in fast.net_D.parameters() if w.dim() == 4]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert fast.opt_G.defaults["fused"] and fast.opt_D.defaults["fused"]
    assert fast.sampler(2).is_contiguous(memory_format=torch.channels_last)
    assert eager.opt_G.defaults["fused"] is None and eager.opt_D.defaults["fused"] is None
    assert all(w.is_contiguous() for w in eager.net_D.parameters())
    for key, value in eager.net_D.state_dict().items():
        torch.testing.assert_close(fast.net_D.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    "norm, layers", [("sn", "SpectralNorm"), ("wn", "WeightNorm"), ("none", "")]
)
def test_build_run_normalizes_d_as_the_recipe_says(norm, layers):
    run = build_run(PAPER_CNN | {"norm": norm}, **SMALL)
    normalized = [m for m in run.net_D.modules() if hasattr(m, "parametrizations")]
    found = {type(p).__name__ for m in normalized for p in m.parametrizations.weight}
    assert found == ({layers} if layers else set())


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"recipe": ["paper-cnn"]}, TypeError, "recipe must be a mapping"),
        ({"recipe": {"arch": "standard"}}, ValueError, r"recipe lacks \['norm', 'alpha'"),
        ({"recipe": PAPER_CNN | {"norm": "bn"}}, ValueError, r"recipe\['norm'\] must be one of"),
        ({"recipe": PAPER_CNN | {"arch": "mlp"}}, ValueError, "arch must be 'standard' or"),
        ({"recipe": PAPER_CNN | {"alpha": 0.0}}, ValueError, r"recipe\['alpha'\] must be a finite"),
        ({"recipe": PAPER_CNN | {"beta2": 1.0}}, ValueError, r"recipe\['beta2'\] must be in"),
        ({"recipe": PAPER_CNN | {"ema": "0.9"}}, TypeError, r"recipe\['ema'\] must be a number"),
        ({"images": IMAGES.float()}, TypeError, "images must be a uint8 tensor"),
        ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
        ({"seed": 2**63}, ValueError, r"seed must be in 0\.\.9223372036854775807"),
        ({"seed": 1.0}, TypeError, "seed must be an int"),
        ({"device": "gpu"}, ValueError, "device must be a name such as 'cpu'"),
        ({"device": 0}, TypeError, "device must be a str or torch.device, got int"),
        ({"fast": "yes"}, TypeError, "fast must be a bool, got str"),
        ({"slim": 3}, ValueError, "slim must be an int in"),
        ({"n_fixed": 0}, ValueError, "n_fixed must be >= 1, got 0"),
    ],
)
def test_build_run_names_a_bad_argument(change, error, message):
    arguments = {"recipe": PAPER_CNN} | SMALL | change
    with pytest.raises(error, match=message):
        build_run(**arguments)
