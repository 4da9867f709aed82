"""Lesson 07's "Reaching every mode" recipe trained longer: how the high-quality fraction grows.

Regenerate the file the lesson reads (from the repository root; 6.5 minutes with ``--jobs 2``
on 2 idle CPU cores, the time of the 60000-update run)::

    nice .venv/bin/python experiments/toy_long.py --out benchmarks/results/toy_long.csv --jobs 2

One run per length in ``--lengths`` (generator updates; default 300, 9000, 30000 and 60000),
each the lesson's recipe with the learning rate decayed linearly to 0 over its own length, from
seed 0, with :func:`sngan_teach.toy.train_toy`. Every ``--eval-every`` updates (and at the end)
the generator is scored on 2500 samples; each score is one CSV row. The recipe's settings are
written into every row, so the lesson can check that they are still its own. The shortest
length is also trained from seeds 1 .. ``--spread-seeds`` - 1: the spread of those runs is what
the lesson compares its own rerun with (a rerun on another CPU, PyTorch build or thread count,
or from another seed, follows another trajectory; it must land within that spread).
``--merge`` keeps the runs (length, seed) already in ``--out`` and adds only the missing ones.
The file is written once, at the end, beside the old one and then renamed over it, so an
interrupted run leaves the old file whole; one run at a time writes it (a lock file beside it).
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

from experiments.result_files import lock, read_rows, write_rows  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402

# The recipe of lesson 07 ("Reaching every mode"): SN discriminator, standard loss.
RECIPE = {
    "data": "grid", "method": "sn", "loss": "ns", "alpha": 1e-3, "beta1": 0.5, "beta2": 0.9,
    "n_dis": 1, "width": 128, "batch_size": 256, "seed": 0,
}  # fmt: skip
FIELDS = [*RECIPE, "n_steps", "step", "modes", "hq", "kl", "seconds"]


def train_recipe(recipe: dict, n_steps: int, eval_every: int, **train_kw: object) -> list[dict]:
    """Train ``recipe`` for ``n_steps`` updates (alpha decayed to 0), scoring every
    ``eval_every``; one dict per score, with the recipe's values, ``n_steps``, ``step``,
    ``modes``, ``hq``, ``kl`` and the run's ``seconds``. ``train_kw`` goes to ``train_toy``."""
    import torch

    torch.set_num_threads(1)
    from sngan_teach.toy import train_toy

    r = recipe
    setting = {k: r[k] for k in ("alpha", "beta1", "beta2", "n_dis")}
    run = train_toy(
        r["data"], r["method"], r["loss"], setting, n_steps, seed=r["seed"], width=r["width"],
        batch_size_D=r["batch_size"], batch_size_G=r["batch_size"], n_eval=2500,
        eval_every=eval_every, **({"lr_decay": True} | train_kw),
    )  # fmt: skip
    seconds = round(run["seconds"], 1)
    return [
        {**recipe, "n_steps": n_steps, "step": point["step"], "modes": point["modes"],
         "hq": round(point["hq"], 4), "kl": round(point["kl"], 4), "seconds": seconds}
        for point in run["curve"]
    ]  # fmt: skip


def run_one(args: tuple[int, int, int]) -> list[dict]:
    """Train the recipe from ``seed`` for ``n_steps`` updates, scoring every ``eval_every``;
    the CSV rows."""
    n_steps, eval_every, seed = args
    return train_recipe(RECIPE | {"seed": seed}, n_steps, eval_every)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "toy_long.csv")
    parser.add_argument("--lengths", type=int, nargs="+", default=[300, 9000, 30000, 60000])
    parser.add_argument("--eval-every", type=int, default=1500)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--spread-seeds", type=int, default=10,
                        help="seeds of the shortest length (its spread)")  # fmt: skip
    parser.add_argument("--merge", action="store_true", help="keep the runs already in --out")
    args = parser.parse_args(argv)
    with lock(args.out):
        run_lengths(args)


def run_lengths(args: argparse.Namespace) -> None:
    """Train the runs (length, seed) not kept from ``--out`` (with ``--merge``) and write
    ``--out`` whole, one run after the other."""
    kept = read_rows(args.out, FIELDS, ("n_steps", "seed", "step")) if args.merge else []
    have = {(int(row["n_steps"]), int(row["seed"])) for row in kept}
    wanted = [(n, 0) for n in args.lengths]
    wanted += [(min(args.lengths), seed) for seed in range(1, args.spread_seeds)]
    todo = [(n, args.eval_every, seed) for n, seed in sorted(wanted, reverse=True)
            if (n, seed) not in have]  # fmt: skip
    print(f"{len(todo)} runs on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.jobs} job(s)", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run_one, todo))
    runs += [[row for row in kept if (int(row["n_steps"]), int(row["seed"])) == key]
             for key in sorted(have)]  # fmt: skip
    runs.sort(key=lambda rows: (int(rows[0]["seed"]), int(rows[0]["n_steps"])))
    write_rows(args.out, FIELDS, [row for rows in runs for row in rows])
    for rows in runs:
        end = rows[-1]
        print(f"{end['n_steps']:>6} updates, seed {end['seed']}: {end['modes']} modes, "
              f"hq {float(end['hq']):.3f}, kl {float(end['kl']):.3f}, {end['seconds']} s",
              flush=True)  # fmt: skip
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
