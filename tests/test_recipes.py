"""Tests for sngan_teach.recipes: each preset's values and the source it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sngan_teach.gan import SETTINGS
from sngan_teach.recipes import PUBLISHED, RECIPES, get_recipe

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
