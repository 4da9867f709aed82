"""Tests for sngan_teach.results: the reader of stored results (lessons 07, 08 and 10)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sngan_teach import results
from sngan_teach.results import cell_values, format_mean_sd, mean_sd, read_rows, tile


def test_tile_equals_the_lessons_own_tilings():
    rng = np.random.default_rng(0)
    grid = rng.integers(0, 256, (10, 10, 8, 8), dtype=np.uint8)  # lesson 10: class x sample
    padded = np.pad(grid, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=70)
    lesson10 = padded.transpose(0, 2, 1, 3).reshape(90, 90)[:-1, :-1]
    assert np.array_equal(tile(grid, 10, pad_value=70), lesson10)
    images = rng.uniform(-1, 1, (24, 1, 8, 8))  # lesson 08: (N, 1, 8, 8) in [-1, 1]
    pad = np.pad(images[:, 0], ((0, 0), (0, 1), (0, 1)), constant_values=-1)
    lesson08 = pad.reshape(3, 8, 9, 9).transpose(0, 2, 1, 3).reshape(27, 72)[:-1, :-1]
    assert np.array_equal(tile(images, 3, pad_value=-1), lesson08)
    with pytest.raises(ValueError, match="n_rows must divide the number of images 24, got 5"):
        tile(images, 5, pad_value=0)


def test_mean_sd_and_its_format():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([1.0, math.inf]) == (math.inf, math.inf)
    m, sd = mean_sd([4.0])
    assert m == 4.0 and math.isnan(sd)
    assert format_mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"
    assert format_mean_sd([1.0, 2.0, 3.0], digits=2, sep=" +- ") == "2.00 +- 1.00"
    with pytest.raises(ValueError, match="values must hold at least 1 number, got 0"):
        mean_sd([])


def test_read_rows_strings_or_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr("sngan_teach.runtime.RESULTS_DIR", tmp_path)
    (tmp_path / "r.csv").write_text("method,seed,fid\nsn,0,1.5\nwn,1,nan\n")
    assert read_rows("r.csv", "make it") == [
        {"method": "sn", "seed": "0", "fid": "1.5"},
        {"method": "wn", "seed": "1", "fid": "nan"},
    ]
    rows = read_rows("r.csv", "make it", numbers=True)
    assert rows[0] == {"method": "sn", "seed": 0.0, "fid": 1.5} and math.isnan(rows[1]["fid"])
    with pytest.raises(FileNotFoundError, match="make it"):
        results.read_rows("missing.csv", "make it")


def test_cell_values_picks_one_cell_and_replaces_nan_on_request():
    rows = [
        {"method": "sn", "n_dis": "5", "seed": "0", "fid": "12.5"},
        {"method": "sn", "n_dis": "1", "seed": "0", "fid": "80"},
        {"method": "sn", "n_dis": "5", "seed": "1", "fid": "nan"},
        {"method": "wn", "n_dis": "5", "seed": "0", "fid": "30"},
    ]
    assert cell_values(rows, "fid", nan_as=900.0, method="sn", n_dis=5) == [12.5, 900.0]
    kept = cell_values(rows, "fid", method="sn", n_dis=5)
    assert kept[0] == 12.5 and math.isnan(kept[1])
    assert cell_values(rows, "fid", method="wn") == [30.0]
    assert cell_values(rows, "fid", method="gp") == []
    with pytest.raises(ValueError, match="'is'"):
        cell_values(rows, "is", method="sn")
    with pytest.raises(ValueError, match="'setting'"):
        cell_values(rows, "fid", setting="A")
