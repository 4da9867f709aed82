"""Lesson 07's "Reaching every mode" recipe with one lever changed at a time.

Regenerate the file the lesson reads (from the repository root; 11 minutes of CPU time in all,
most of it the ``n_dis = 5`` run, which took 40 minutes of wall time with ``--jobs 2`` on 2
cores shared with other jobs)::

    nice -n 10 .venv/bin/python experiments/toy_levers.py --jobs 2

Each variant is the recipe of ``experiments/toy_long.py`` (SN, standard loss, alpha 1e-3
decayed linearly to 0, beta1 0.5, beta2 0.9, n_dis 1, 128-unit MLPs with batch norm in G,
batches of 256, seed 0) trained for the same ``--n-steps`` generator updates on the 25-mode
grid, with one thing changed: G without batch norm, the hinge loss, a constant alpha, the
paper's setting D (``n_dis = 5``), an unnormalized D, or the WGAN-GP critic. Every
``--eval-every`` updates (and at the end) the generator is scored on 2500 samples; each score
is one CSV row that carries the variant's settings. The file is written once, at the end,
beside the old one and then renamed over it, so an interrupted run leaves the old file whole;
one run at a time writes it (a lock file beside it).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/NAME.py
    sys.path.insert(0, str(ROOT))

from experiments.result_files import lock, write_rows  # noqa: E402
from experiments.toy_long import RECIPE, train_recipe  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402

# variant -> (changes to the recipe, changes to train_toy's defaults of the recipe)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "recipe": ({}, {}),
    "no batch norm in G": ({}, {"batch_norm": False}),
    "hinge loss": ({"loss": "hinge"}, {}),
    "constant alpha": ({}, {"lr_decay": False}),
    "n_dis = 5 (setting D)": ({"n_dis": 5}, {}),
    "no normalization": ({"method": "none"}, {}),
    "WGAN-GP": ({"method": "gp", "loss": "wgan"}, {}),
}
FIELDS = ["variant", *RECIPE, "batch_norm", "lr_decay", "n_steps", "step", "modes", "hq", "kl"]
FIELDS += ["seconds"]


def run_one(args: tuple[str, int, int]) -> list[dict]:
    """Train one variant for ``n_steps`` updates, scoring every ``eval_every``; its CSV rows."""
    variant, n_steps, eval_every = args
    changes, train_kw = VARIANTS[variant]
    train_kw = {"batch_norm": True, "lr_decay": True} | train_kw
    rows = train_recipe(RECIPE | changes, n_steps, eval_every, **train_kw)
    return [{"variant": variant, **row, **{k: int(v) for k, v in train_kw.items()}} for row in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "toy_levers.csv")
    parser.add_argument("--n-steps", type=int, default=9000, help="generator updates per run")
    parser.add_argument("--eval-every", type=int, default=900)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    with lock(args.out):
        run_variants(args)


def run_variants(args: argparse.Namespace) -> None:
    """Train every variant and write ``--out`` whole, variant by variant."""
    print(f"{len(VARIANTS)} runs on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.jobs} job(s)", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    todo = [(v, args.n_steps, args.eval_every) for v in VARIANTS]
    todo.sort(key=lambda t: -VARIANTS[t[0]][0].get("n_dis", 1))  # the slowest first
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = {rows[0]["variant"]: rows for rows in pool.map(run_one, todo)}
    write_rows(args.out, FIELDS, [row for variant in VARIANTS for row in runs[variant]])
    for variant in VARIANTS:
        end = runs[variant][-1]
        print(f"{variant:>22}: {end['modes']} modes, hq {end['hq']:.3f}, "
              f"kl {end['kl']:.3f}, {end['seconds']} s", flush=True)  # fmt: skip
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
