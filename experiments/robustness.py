"""The paper's robustness claim on 8x8 digits: every D method x settings A-F x seeds, plus n_dis.

The paper (Table 1, Figs. 1-2) trains each discriminator method under six Adam settings A-F and
finds spectral normalization good under all of them while the others degrade at the aggressive
ones (D-F: alpha = 1e-3); Fig. 11 sweeps n_dis in {1, 2, 5, 10, 20} at setting D's alpha, beta1,
beta2 and finds weight normalization worse as n_dis grows, SN not. This script repeats both on
scikit-learn's 8x8 digits with :func:`experiments.digits_grid.train_digits` (a small DCGAN-style
pair) and scores every run with the digits proxies (digits IS, digits FID against the held-out
split, classes covered; :mod:`sngan_teach.digits`).

Cells, all with the same number of generator updates (``--steps``) and seeds ``0 .. --seeds - 1``:

- grid: methods ``sn, wn, ortho, clip, gp, none`` x settings ``A-F`` (n_dis of the setting); the
  standard loss, except the Wasserstein loss for ``clip`` (WGAN) and ``gp`` (WGAN-GP);
- sweep: ``sn, wn, gp`` at setting D's alpha, beta1, beta2 with n_dis in {1, 2, 10, 20} (the
  n_dis = 5 cells are the grid's setting D); their ``setting`` column reads ``D`` and ``n_dis``
  holds the value used.

For every SN cell the true largest singular value of each layer's normalized weight
(:func:`sngan_teach.digits.sn_layer_sigmas`) is recorded every ``--sigma-every`` updates into a
second CSV (the Fig. 9 analogue). Each cell's rows are appended as it finishes, its sigma rows
first and its main row last, each in one write synced to disk; a cell whose key (method,
setting, n_dis, seed, steps) is already in the CSV is skipped, so an interrupted run resumes
(a last line cut short and the sigma rows of a cell without a main row are dropped, with a
warning, and the cell runs again). One run at a time writes a CSV (a lock file beside it), and
``--summary`` refuses a CSV that holds a cell twice (:mod:`result_files`).
Cells run setting by setting, every seed of a setting before the next setting (the grid first,
in the order C, D, E, F, A, B, then the sweep), so a partial run holds whole settings with all
their seeds, the most telling ones first.

Commands (from the repository root)::

    .venv/bin/python experiments/robustness.py --estimate       # seconds per update, grid cost
    nice -n 19 .venv/bin/python experiments/robustness.py --jobs 2   # the grid (resumes)
    .venv/bin/python experiments/robustness.py --summary        # mean +- sd from the CSV
    .venv/bin/python experiments/robustness.py --samples benchmarks/results/robustness_samples.npz
    .venv/bin/python experiments/robustness.py --quick --out /tmp/r.csv   # seconds, for tests
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/NAME.py
    sys.path.insert(0, str(ROOT))

from experiments.digits_grid import GRID_KW as TRAIN_KW  # noqa: E402  (the sizes of every cell)
from experiments.digits_grid import GRID_STEPS as STEPS  # noqa: E402  (G updates per cell)
from experiments.result_files import append_rows, lock, read_rows, replace_file, write_rows  # noqa: E402
from sngan_teach.results import format_mean_sd  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402

METHODS = ("sn", "wn", "ortho", "clip", "gp", "none")
# Table 1's settings in the order the cells run: the DCGAN setting C and the aggressive D-F
# first, so a partial run holds the most telling settings (A and B, alpha = 1e-4, last).
SETTING_NAMES = ("C", "D", "E", "F", "A", "B")
SWEEP_METHODS = ("sn", "wn", "gp")
SWEEP_N_DIS = (1, 2, 5, 10, 20)
SEEDS = 3
SIGMA_EVERY = 50
BURN_IN = 100  # updates before the sigma summary counts (the paper's Fig. 9 plots from the start)
N_EVAL = 1000
N_SAMPLES = 64  # samples stored per cell for the lesson's grids (--samples)
SAMPLE_SETTINGS = ("D", "E", "F")
QUICK = {"steps": 3, "seeds": 1, "settings": ("C", "D"), "n_dis": (1, 5), "n_eval": 100}
# The long grid (--long): runs long enough to show collapse and instability, with learning curves.
# D-F (alpha = 1e-3, n_dis 5), where the paper's differences live: 3000 generator updates, the
# paper's contenders 5 seeds, clipping and no normalization 3. A (n_dis 5) as long, B and C
# (n_dis 1) for 15000, as many discriminator updates as A: one seed per method, the curves that
# show whether a method learns there at all. Cells run setting by setting in this order, every
# seed of a setting before the next one.
CONTENDER_SEEDS = {"sn": 5, "wn": 5, "ortho": 5, "gp": 5, "clip": 3, "none": 3}
ONE_SEED = {m: 1 for m in METHODS}
LONG = {
    "steps": {"D": 3000, "E": 3000, "F": 3000, "A": 3000, "C": 15000, "B": 15000},
    "seeds": {"D": CONTENDER_SEEDS, "E": CONTENDER_SEEDS, "F": CONTENDER_SEEDS}
    | {"A": ONE_SEED, "C": ONE_SEED, "B": ONE_SEED},
    "curve_every": 100,
}
LONG_QUICK = {"steps": {"D": 4, "C": 6}, "seeds": {"D": ONE_SEED, "C": ONE_SEED}, "curve_every": 2}
# The settings of the stated SN-vs-X lists: where training gets going in 650 updates (B and C
# learn nothing there, lesson 08), and the long grid's D-F, whose contenders have 5 seeds.
VERDICTS, LONG_VERDICTS = "ADEF", "DEF"
UNTRAINED_FID = 2000.0  # a diverged run counts as this digits FID (an untrained G scores ~2400)
CLF_SEED_2 = 1  # the second digit classifier's seed: the ranking must not hang on one classifier
FIELDS = [
    "method", "loss", "setting", "alpha", "beta1", "beta2", "n_dis", "seed", "steps",
    "digits_is", "digits_fid", "classes", "diverged", "seconds", "cpu_seconds",
]  # fmt: skip
LONG_FIELDS = [*FIELDS, "digits_is_clf2", "digits_fid_clf2", "classes_clf2"]
SIGMA_FIELDS = ["method", "setting", "n_dis", "seed", "steps", "step", "layer", "sigma"]
CURVE_FIELDS = ["method", "setting", "n_dis", "seed", "steps", "step",
                "digits_is", "digits_fid", "classes"]  # fmt: skip
KEY = ("method", "setting", "n_dis", "seed", "steps")
SIGMA_KEY = (*KEY, "step", "layer")
CURVE_KEY = (*KEY, "step")


def plan(
    steps: int,
    seeds: int,
    settings: tuple[str, ...] = SETTING_NAMES,
    sweep_n_dis: tuple[int, ...] = SWEEP_N_DIS,
    methods: tuple[str, ...] = METHODS,
) -> list[tuple[str, str, int, int, int]]:
    """Every cell as ``(method, setting, n_dis, seed, steps)``: the grid setting by setting
    (every seed of a setting before the next one), then the n_dis sweep at setting D, value by
    value (without the cells the grid already has)."""
    from sngan_teach.gan import SETTINGS

    cells = []
    for setting in settings:
        for seed in range(seeds):
            for method in methods:
                cells.append((method, setting, int(SETTINGS[setting]["n_dis"]), seed, steps))
    for n_dis in sweep_n_dis:
        for seed in range(seeds):
            for method in SWEEP_METHODS:
                cell = (method, "D", n_dis, seed, steps)
                if method in methods and cell not in cells:
                    cells.append(cell)
    return cells


def plan_long(grid: dict = LONG) -> list[tuple[str, str, int, int, int]]:
    """The long grid's cells as ``(method, setting, n_dis, seed, steps)``, setting by setting in
    the order of ``grid["steps"]``, every seed of a setting before the next one."""
    from sngan_teach.gan import SETTINGS

    cells = []
    for setting, steps in grid["steps"].items():
        seeds = grid["seeds"][setting]
        for seed in range(max(seeds.values())):
            for method in METHODS:
                if seed < seeds[method]:
                    cells.append((method, setting, int(SETTINGS[setting]["n_dis"]), seed, steps))
    return cells


@functools.lru_cache(maxsize=1)
def second_classifier():
    """A digit classifier trained like the shared one from another seed (``CLF_SEED_2``)."""
    from sngan_teach.digits import train_classifier

    return train_classifier(seed=CLF_SEED_2)


def train_cell(
    cell: tuple[str, str, int, int, int], n_eval: int, sigma_every: int, curve_every: int = 0
) -> dict:
    """Train one cell on one thread (as every row of the CSV was); return the run dict of
    :func:`experiments.digits_grid.train_digits`."""
    import torch

    torch.set_num_threads(1)
    from experiments.digits_grid import train_digits

    method, setting, n_dis, seed, steps = cell
    return train_digits(
        method,
        setting,
        steps,
        seed=seed,
        n_dis=n_dis,
        n_eval=n_eval,
        sigma_every=sigma_every,
        curve_every=curve_every,
        **TRAIN_KW,
    )


def run_cell(
    cell: tuple[str, str, int, int, int], n_eval: int, sigma_every: int, curve_every: int = 0
):
    """Train and score one cell; return its CSV row, its sigma rows and its curve rows. With
    ``curve_every`` the row also holds the scores under :func:`second_classifier`."""
    from sngan_teach.digits import classes_covered, digits_fid, digits_is
    from sngan_teach.gan import SETTINGS

    run = train_cell(cell, n_eval, sigma_every, curve_every)
    method, setting, n_dis, seed, steps = cell
    m = run["metrics"]
    row = dict(zip(KEY, cell, strict=True)) | {"loss": run["loss"], **SETTINGS[setting]}
    row["n_dis"] = n_dis
    row |= {
        "digits_is": round(m["digits_is"], 4),
        "digits_fid": round(m["digits_fid"], 3),
        "classes": m["classes"],
        "diverged": int(run["diverged"]),
        "seconds": round(run["seconds"], 1),
        "cpu_seconds": round(run["cpu_seconds"], 1),
    }
    sigmas = [
        dict(zip(KEY, cell, strict=True)) | {"step": s["step"], "layer": s["layer"]}
        | {"sigma": round(s["sigma"], 5)}
        for s in run["sigmas"]
    ]  # fmt: skip
    curve = [
        dict(zip(KEY, cell, strict=True))
        | {"step": c["step"], "digits_is": round(c["digits_is"], 4)}
        | {"digits_fid": round(c["digits_fid"], 3), "classes": c["classes"]}
        for c in run["curve"]
    ]
    if curve_every:
        x, clf = run["samples"], second_classifier()
        finite = not run["diverged"] and bool(x.isfinite().all())
        row |= {
            "digits_is_clf2": round(digits_is(x, clf), 4) if finite else 1.0,
            "digits_fid_clf2": round(digits_fid(x, clf), 3) if finite else math.nan,
            "classes_clf2": classes_covered(x, clf) if finite else 0,
        }
    return row, sigmas, curve


def row_key(row: dict) -> tuple[str, str, int, int, int]:
    return (row["method"], row["setting"], int(row["n_dis"]), int(row["seed"]), int(row["steps"]))


def drop_orphans(path: Path, fields: list[str], key: tuple[str, ...], done: set) -> None:
    """Remove from the side CSV ``path`` (sigma or curve rows) the rows of cells without a main
    row (a run stopped between a cell's appends), with a warning: the cell runs again and
    writes them anew."""
    rows = read_rows(path, fields, key, repair=True)
    kept = [r for r in rows if row_key(r) in done]
    if len(kept) < len(rows):
        print(f"warning: {len(rows) - len(kept)} rows in {path} belong to no "
              "cell of the main CSV (a run stopped mid-cell); removed them",
              file=sys.stderr)  # fmt: skip
        write_rows(path, fields, kept)


def finite_mean_sd(values: list[float]) -> str:
    """``"mean +- sd"`` of the finite values (a diverged run's FID left out), ``"-"`` for none."""
    values = [v for v in values if math.isfinite(v)]
    return format_mean_sd(values, digits=2, sep=" +- ") if values else "-"


def summarize(path: Path, fields: list[str] = FIELDS) -> None:
    """Print mean +- sd (over seeds) of every cell group in the CSV, as markdown tables."""
    from sngan_teach.gan import SETTINGS

    rows = read_rows(path, fields, KEY)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["setting"], int(r["n_dis"]), int(r["steps"])), []).append(
            r
        )
    print(f"{len(rows)} rows in {path}")
    print(
        "| method | setting | n_dis | steps | seeds | diverged | digits IS | digits FID | classes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    order = {m: i for i, m in enumerate(METHODS)}
    for key in sorted(
        groups, key=lambda k: (k[2] != SETTINGS[k[1]]["n_dis"], k[1], k[2], order[k[0]])
    ):
        g = groups[key]
        print(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {len(g)} | "
            f"{sum(int(r['diverged']) for r in g)} | "
            f"{finite_mean_sd([float(r['digits_is']) for r in g])} | "
            f"{finite_mean_sd([float(r['digits_fid']) for r in g])} | "
            f"{finite_mean_sd([float(r['classes']) for r in g])} |"
        )


def summarize_verdicts(path: Path, settings: str, fields: list[str] = FIELDS) -> None:
    """Print the verdicts of :mod:`sngan_teach.stats` (Welch on log digits FID, Holm over the
    list) for SN against every other method at each of ``settings`` (at its own n_dis): the
    list stated in advance, less the pairs whose cells hold fewer than 2 seeds so far."""
    from sngan_teach.gan import SETTINGS
    from sngan_teach.stats import compare

    rows = read_rows(path, fields, KEY)

    def fids(method: str, setting: str) -> list[float]:
        n_dis = SETTINGS[setting]["n_dis"]
        cell = (method, setting, n_dis)
        return [float(r["digits_fid"]) for r in rows
                if (r["method"], r["setting"], int(r["n_dis"])) == cell]  # fmt: skip

    pairs = {
        f"SN vs {other} at {setting}": (fids("sn", setting), fids(other, setting))
        for setting in settings
        for other in METHODS[1:]
        if len(fids("sn", setting)) >= 2 and len(fids(other, setting)) >= 2
    }
    if not pairs:
        print(f"no setting of {path} has two seeds of SN and another method")
        return
    print(f"SN against the others, digits FID, Holm over these {len(pairs)} comparisons:")
    for c in compare(pairs, log=True, lower_is_better=True, worst=UNTRAINED_FID).values():
        print(f"- {c}")


def summarize_sigmas(path: Path, burn_in: int = BURN_IN) -> None:
    """Print, per SN layer, the range of the true sigma(W_bar) after ``burn_in`` updates over
    every recorded step of every SN cell, and the share of records within [1, 1.05] (Fig. 9)."""
    rows = [r for r in read_rows(path, SIGMA_FIELDS, SIGMA_KEY) if int(r["step"]) > burn_in]
    if not rows:
        print(f"no sigma rows after {burn_in} updates in {path}")
        return
    print(f"sigma(W_bar) of SN's layers after {burn_in} updates, {path}")
    print("| setting | n_dis | cells | layer | records | min | median | max | share in [1, 1.05] |")
    print("|---|---|---|---|---|---|---|---|---|")
    for setting, n_dis in sorted({(r["setting"], int(r["n_dis"])) for r in rows}):
        group = [r for r in rows if r["setting"] == setting and int(r["n_dis"]) == n_dis]
        n_cells = len({row_key(r) for r in group})
        for layer in sorted({r["layer"] for r in group}):
            v = [float(r["sigma"]) for r in group if r["layer"] == layer]
            inside = sum(1.0 - 1e-6 <= x <= 1.05 for x in v) / len(v)
            print(f"| {setting} | {n_dis} | {n_cells} | {layer} | {len(v)} | {min(v):.4f} | "
                  f"{statistics.median(v):.4f} | {max(v):.4f} | {inside:.3f} |")  # fmt: skip


def median_seed(rows: list[dict], method: str, setting: str, n_dis: int, steps: int) -> int:
    """The seed whose digits FID is the median of its cell's seeds (a diverged run, FID nan,
    counts as the worst); with an even number of seeds, the lower of the two middle ones."""
    group = [
        r
        for r in rows
        if (r["method"], r["setting"], int(r["n_dis"]), int(r["steps"]))
        == (method, setting, n_dis, steps)
    ]
    if not group:
        raise ValueError(f"no rows for {method} {setting} n_dis {n_dis} steps {steps}")
    fid = [
        float(r["digits_fid"]) if math.isfinite(float(r["digits_fid"])) else math.inf for r in group
    ]
    order = sorted(range(len(group)), key=lambda i: fid[i])
    return int(group[order[(len(group) - 1) // 2]]["seed"])


def store_samples(
    csv_path: Path, out: Path, settings: tuple[str, ...], steps: int, n_eval: int = N_EVAL
) -> None:
    """Retrain the median seed of every method at ``settings`` and store its first
    ``N_SAMPLES`` scored samples in ``out`` (npz: ``<method>_<setting>`` arrays and the seed,
    the CSV's FID and the retrained FID of each), for the lesson's sample grids. The retrained
    FID must equal the CSV's: the cells are deterministic on one thread."""
    import numpy as np

    from sngan_teach.gan import SETTINGS

    rows = read_rows(csv_path, FIELDS, KEY)
    arrays: dict[str, np.ndarray] = {}
    for setting in settings:
        n_dis = int(SETTINGS[setting]["n_dis"])
        for method in METHODS:
            seed = median_seed(rows, method, setting, n_dis, steps)
            run = train_cell((method, setting, n_dis, seed, steps), n_eval, 0)
            csv_fid = next(
                float(r["digits_fid"])
                for r in rows
                if row_key(r) == (method, setting, n_dis, seed, steps)
            )
            key = f"{method}_{setting}"
            arrays[key] = run["samples"][:N_SAMPLES].numpy().astype(np.float32)
            arrays[key + "_seed"] = np.array(seed)
            arrays[key + "_fid"] = np.array([csv_fid, run["metrics"]["digits_fid"]])
            print(f"{key}: seed {seed}, FID {csv_fid:.3f} in the CSV, "
                  f"{run['metrics']['digits_fid']:.3f} retrained", flush=True)  # fmt: skip
    with replace_file(out, "wb") as f:
        np.savez_compressed(f, **arrays)
    print(f"wrote {out}")


def estimate(cells: list, n_updates: int = 20) -> None:
    """Measure CPU seconds per generator update for every (method, n_dis) the plan uses and
    print the plan's cost and the number of updates that fit 60 minutes on 2 cores."""
    import torch

    torch.set_num_threads(1)
    from experiments.digits_grid import train_digits

    per_update = {}
    for method, n_dis in sorted({(c[0], c[2]) for c in cells}):
        train_digits(method, "D", 2, n_dis=n_dis, n_eval=10, **TRAIN_KW)  # warm-up
        run = train_digits(method, "D", n_updates, n_dis=n_dis, n_eval=10, **TRAIN_KW)
        per_update[method, n_dis] = run["cpu_seconds"] / n_updates
        ms_cpu, ms_wall = 1000 * per_update[method, n_dis], 1000 * run["seconds"] / n_updates
        print(
            f"{method:>5} n_dis {n_dis:>2}: {ms_cpu:6.1f} ms CPU, {ms_wall:6.1f} ms wall per update"
        )
    per_step = sum(per_update[c[0], c[2]] for c in cells)
    total = sum(per_update[c[0], c[2]] * c[4] for c in cells)
    print(f"{len(cells)} cells: {total / 3600:.2f} CPU hours for the plan's updates")
    for setting in dict.fromkeys(c[1] for c in cells):
        part = sum(per_update[c[0], c[2]] * c[4] for c in cells if c[1] == setting)
        print(f"  setting {setting}: {part / 3600:.2f} CPU hours")
    print(f"60 min on 2 cores = 7200 CPU s fit {7200 / per_step:.0f} updates per cell")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "robustness.csv")
    parser.add_argument("--sigma-out", type=Path, default=None,
                        help="per-layer sigma CSV (default: <out stem>_sigma.csv)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=STEPS, help="generator updates per cell")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--sigma-every", type=int, default=SIGMA_EVERY)
    parser.add_argument("--quick", action="store_true", help="a tiny grid in seconds (tests)")
    parser.add_argument("--long", action="store_true",
                        help="the long grid with learning curves (LONG; default --out "
                        "benchmarks/results/robustness_long.csv)")  # fmt: skip
    parser.add_argument("--estimate", action="store_true", help="time the plan, train nothing")
    parser.add_argument("--summary", action="store_true", help="print mean +- sd of --out")
    parser.add_argument("--samples", type=Path, default=None,
                        help="retrain the median seed of every method at settings "
                        f"{', '.join(SAMPLE_SETTINGS)} and store samples in this npz")  # fmt: skip
    args = parser.parse_args(argv)
    if args.samples:
        store_samples(args.out, args.samples, SAMPLE_SETTINGS, args.steps)
        return
    if args.summary:
        if args.long and args.out == parser.get_default("out"):
            args.out = args.out.with_name("robustness_long.csv")
        fields = LONG_FIELDS if args.long else FIELDS
        summarize(args.out, fields)
        summarize_verdicts(args.out, LONG_VERDICTS if args.long else VERDICTS, fields)
        summarize_sigmas(args.sigma_out or args.out.with_name(args.out.stem + "_sigma.csv"))
        return
    for name in ("steps", "seeds", "jobs"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be >= 1, got {getattr(args, name)}")
    n_eval, curve_every, fields = N_EVAL, 0, FIELDS
    if args.quick and args.out == parser.get_default("out"):
        raise SystemExit("--quick needs --out: the committed CSV holds full-size cells only")
    if args.long:
        if args.out == parser.get_default("out"):
            args.out = args.out.with_name("robustness_long.csv")
        grid = LONG_QUICK if args.quick else LONG
        cells, curve_every, fields = plan_long(grid), grid["curve_every"], LONG_FIELDS
        if args.quick:
            n_eval, args.sigma_every = QUICK["n_eval"], 1
    elif args.quick:
        cells = plan(QUICK["steps"], QUICK["seeds"], QUICK["settings"], QUICK["n_dis"])
        n_eval, args.sigma_every = QUICK["n_eval"], 1
    else:
        cells = plan(args.steps, args.seeds)
    if args.estimate:
        estimate(cells)
        return
    sigma_out = args.sigma_out or args.out.with_name(args.out.stem + "_sigma.csv")
    curve_out = args.out.with_name(args.out.stem + "_curve.csv")
    with lock(args.out):
        done = {row_key(r) for r in read_rows(args.out, fields, KEY, repair=True)}
        drop_orphans(sigma_out, SIGMA_FIELDS, SIGMA_KEY, done)
        if curve_every:
            drop_orphans(curve_out, CURVE_FIELDS, CURVE_KEY, done)
        todo = [c for c in cells if c not in done]
        load = os.getloadavg()[0]
        print(f"{len(todo)} of {len(cells)} cells to run on {platform.machine()}, "
              f"{os.cpu_count()} CPUs, {args.jobs} job(s), load average {load:.1f}",
              flush=True)  # fmt: skip
        t0 = time.perf_counter()

        def record(i: int, row: dict, sigmas: list[dict], curve: list[dict]) -> None:
            # side rows first: the main row marks the cell done (a resume drops orphans)
            if sigmas:
                append_rows(sigma_out, SIGMA_FIELDS, sigmas)
            if curve:
                append_rows(curve_out, CURVE_FIELDS, curve)
            append_rows(args.out, fields, [row])
            print(f"[{i}/{len(todo)}] {row['method']:>5} {row['setting']} "
                  f"n_dis {row['n_dis']:>2} seed {row['seed']}: IS {row['digits_is']:.2f}, "
                  f"FID {row['digits_fid']:.1f}, classes {row['classes']}, "
                  f"diverged {row['diverged']}, {row['seconds']} s", flush=True)  # fmt: skip

        if args.jobs == 1:
            for i, cell in enumerate(todo, 1):
                record(i, *run_cell(cell, n_eval, args.sigma_every, curve_every))
        else:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                futures = [
                    pool.submit(run_cell, c, n_eval, args.sigma_every, curve_every) for c in todo
                ]
                for i, future in enumerate(as_completed(futures), 1):
                    record(i, *future.result())
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
