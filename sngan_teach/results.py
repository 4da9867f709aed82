"""Reading the stored results: CSV rows, mean and standard deviation over seeds, image tiles.

The experiments (``experiments/``) write their runs into ``benchmarks/results/``; lessons 07, 08
and 10 read them back with these, and the experiments' ``--summary`` prints with them.
"""

from __future__ import annotations

import csv
import math
import statistics

import numpy as np

from sngan_teach.runtime import stored_result

__all__ = ["read_rows", "cell_values", "mean_sd", "format_mean_sd", "tile"]


def read_rows(name: str, made_by: str, numbers: bool = False) -> list[dict]:
    """The rows of the stored CSV ``benchmarks/results/NAME`` as dicts, in file order.

    ``made_by`` is the command that writes the file (named when it is missing, see
    :func:`sngan_teach.runtime.stored_result`). With ``numbers`` every value that parses as a
    float is one; otherwise every value is the string the file holds.
    """
    with stored_result(name, made_by).open(newline="") as f:
        rows = list(csv.DictReader(f))
    if numbers:
        for row in rows:
            for key, value in row.items():
                try:
                    row[key] = float(value)
                except (TypeError, ValueError):
                    pass
    return rows


def cell_values(
    rows: list[dict], metric: str, nan_as: float | None = None, **match: object
) -> list[float]:
    """The ``metric`` column, as floats, of every row whose columns equal ``match``: one cell
    of a grid, a value per seed, in file order.

    Columns are compared as text (``n_dis=5`` matches ``"5"``). The experiments store a NaN FID
    for a run that diverged; with ``nan_as`` it reads as that number (say, the FID of an
    untrained generator). ``ValueError`` when ``metric`` or a key of ``match`` is no column.
    """
    columns = set(rows[0]) if rows else set()
    for name in (metric, *match):
        if rows and name not in columns:
            raise ValueError(f"no column {name!r} in the rows (columns: {sorted(columns)})")
    picked = [float(r[metric]) for r in rows if all(str(r[k]) == str(v) for k, v in match.items())]
    return [nan_as if nan_as is not None and math.isnan(x) else x for x in picked]


def mean_sd(values: list[float]) -> tuple[float, float]:
    """``(mean, sample standard deviation)`` of ``values``: ``(inf, inf)`` when one is infinite
    (a diverged run's FID), sd ``nan`` for a single value. ``ValueError`` for no values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least 1 number, got 0")
    if any(math.isinf(v) for v in values):
        return math.inf, math.inf
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), sd


def format_mean_sd(values: list[float], digits: int = 3, sep: str = " ± ") -> str:
    """``"mean ± sd"`` of :func:`mean_sd` with ``digits`` decimals."""
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}{sep}{sd:.{digits}f}"


def tile(images: np.ndarray, n_rows: int, pad_value: float) -> np.ndarray:
    """Square images ``(..., h, w)`` (their leading axes flattened, row by row) as one picture of
    ``n_rows`` rows, with a line of ``pad_value`` between neighbours: shape
    ``(n_rows (h + 1) - 1, n_cols (w + 1) - 1)``. ``ValueError`` when they do not fill the rows."""
    images = np.asarray(images)
    h, w = images.shape[-2:]
    images = images.reshape(-1, h, w)
    if not isinstance(n_rows, int) or n_rows < 1 or len(images) % n_rows:
        raise ValueError(f"n_rows must divide the number of images {len(images)}, got {n_rows!r}")
    n_cols = len(images) // n_rows
    padded = np.pad(images, ((0, 0), (0, 1), (0, 1)), constant_values=pad_value)
    grid = padded.reshape(n_rows, n_cols, h + 1, w + 1).transpose(0, 2, 1, 3)
    return grid.reshape(n_rows * (h + 1), n_cols * (w + 1))[:-1, :-1]
