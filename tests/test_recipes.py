"""Tests for sngan_teach.recipes: each preset's values and the source it names."""

from __future__ import annotations

import pytest

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
