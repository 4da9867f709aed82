"""Lesson 07's results table: every discriminator method x loss x setting A-F on the 2-D grid.

Regenerate it (from the repository root; about 27 CPU minutes per seed on an idle core) into a
new file, then move it over the stored one::

    nice .venv/bin/python experiments/toy_table.py --out /tmp/toy_table.csv --jobs 2
    mv /tmp/toy_table.csv benchmarks/results/toy_table.csv

Rows: the methods ``none, sn, wn, clip, ortho`` with the non-saturating (``ns``) and the hinge
loss, and the gradient penalty with ``ns`` (GAN-GP) and with the Wasserstein loss (``wgan``:
WGAN-GP), each under the paper's settings A-F (Table 1): 12 x 6 = 72 configurations. Every
configuration trains for the same number of generator updates (as the paper does: 100K for
all settings there), from each of the seeds ``--seeds`` (0, 1, 2), with
:func:`sngan_teach.toy.train_toy`, and is scored on 2500 samples (modes captured, high-quality
fraction, KL to uniform). A run whose loss turns NaN/inf is recorded with ``diverged=1`` and the
scores of a generator that captured nothing.

Rows are appended as they finish, each in one write synced to disk, so an interrupted run keeps
its rows; ``--resume`` skips the configurations (with their seed) already in the file (a last
line cut short is dropped with a warning and its configuration runs again). Without
``--resume`` a file that already holds rows is refused, never overwritten. One run at a time
writes a file (a lock file beside it); ``--jobs 2`` trains two at a time.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/NAME.py
    sys.path.insert(0, str(ROOT))

from experiments.result_files import append_rows, lock, read_rows  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402

CONFIGS = [(m, loss) for m in ("none", "sn", "wn", "clip", "ortho") for loss in ("ns", "hinge")]
CONFIGS += [("gp", "ns"), ("gp", "wgan")]
SETTING_NAMES = ("A", "B", "C", "D", "E", "F")
# The sizes every row uses (the lesson prints them from the CSV).
TRAIN_KW = {"width": 64, "batch_size_D": 256, "batch_size_G": 256, "z_dim": 2, "n_eval": 2500}
FIELDS = [
    "data", "method", "loss", "setting", "n_steps", "seed", "width", "batch_size_D",
    "batch_size_G", "modes", "hq", "kl", "diverged", "seconds",
]  # fmt: skip
KEY = ("data", "method", "loss", "setting", "n_steps", "seed")


def run_one(args: tuple[str, str, str, str, int, int]) -> dict:
    """Train and score one configuration; return its CSV row."""
    import torch

    torch.set_num_threads(1)
    from sngan_teach.toy import dataset, train_toy

    data, method, loss, setting, n_steps, seed = args
    t0 = time.perf_counter()
    row = {"data": data, "method": method, "loss": loss, "setting": setting}
    row |= {"n_steps": n_steps, "seed": seed, "width": TRAIN_KW["width"]}
    row |= {"batch_size_D": TRAIN_KW["batch_size_D"], "batch_size_G": TRAIN_KW["batch_size_G"]}
    try:
        run = train_toy(data, method, loss, setting, n_steps, seed=seed, **TRAIN_KW)
        m = run["metrics"]
        row |= {"modes": m["modes"], "hq": round(m["hq"], 4), "kl": round(m["kl"], 4)}
        row["diverged"] = 0
    except FloatingPointError:
        n_modes = len(dataset(data)[0])
        row |= {"modes": 0, "hq": 0.0, "kl": round(math.log(n_modes), 4), "diverged": 1}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "toy_table.csv")
    parser.add_argument("--data", default="grid", choices=["grid", "ring"])
    parser.add_argument("--n-steps", type=int, default=1500, help="generator updates per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="skip rows already in --out")
    args = parser.parse_args(argv)

    todo = [
        (args.data, method, loss, setting, args.n_steps, seed)
        for seed in args.seeds
        for method, loss in CONFIGS
        for setting in SETTING_NAMES
    ]
    with lock(args.out):
        rows = read_rows(args.out, FIELDS, KEY, repair=True)
        if rows and not args.resume:
            raise SystemExit(
                f"{args.out} already holds {len(rows)} rows; pass --resume to keep them and "
                "train only the missing configurations, or pass another --out"
            )
        done = {tuple(int(r[k]) if k in ("n_steps", "seed") else r[k] for k in KEY) for r in rows}
        todo = [t for t in todo if t not in done]
        print(f"{len(todo)} configurations on {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, {args.jobs} job(s)", flush=True)  # fmt: skip
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for i, row in enumerate(pool.map(run_one, todo), 1):
                append_rows(args.out, FIELDS, [row])
                print(
                    f"[{i}/{len(todo)}] {row['method']:>5} {row['loss']:>5} {row['setting']}: "
                    f"{row['modes']:>2} modes, hq {row['hq']:.3f}, kl {row['kl']:.3f}, "
                    f"diverged {row['diverged']}, {row['seconds']} s",
                    flush=True,
                )
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
