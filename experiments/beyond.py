"""Class-conditional SN-GANs on 8x8 digits: projection vs concatenation, SN in G, sigma traces.

Lesson 10 reads what this script writes and reruns one run live. Every run trains a pair of
:mod:`sngan_teach.conditional` (conditional-BN generator, projection or concatenation
discriminator) with the hinge loss for ``--steps`` generator updates, one D update per G update,
batches of 64, and every ``LOG_EVERY`` updates records

- both losses and the proxy scores of 1000 samples balanced over the requested classes
  (:func:`sngan_teach.conditional.evaluate_conditional`: class accuracy by the digit classifier,
  digits IS, digits FID against the held-out digits) into ``beyond.csv``;
- the largest singular value of every layer's raw weight in G and D
  (:func:`sngan_teach.conditional.top_sigmas`: SN's own ``u, v`` where it has them, one power
  iteration otherwise) into ``beyond_sigma.csv``;

and at the end the singular values of every layer's weight as the forward uses it (``W / sigma``
for SN layers), as the largest one and the effective rank, into ``beyond_spectra.csv``. For seed 0
it keeps a 10 x 10 grid of samples (row = requested class, fixed z) at the end of every run
and every 100 updates of the runs named in ``TRACE_RUNS``, in ``beyond_samples.npz`` (uint8).

Runs (``RUNS``), each with seeds ``0 .. --seeds - 1``:

- ``projection``: projection D with SN on every layer and on the class embedding; G plain;
- ``concat``: concatenation D (one-hot label as input channels and beside phi(x)), SN, G plain;
- ``projection_snG``: ``projection`` with SN on G's dense and (de)conv layers too (SAGAN);
- ``projection_noSN``: ``projection`` without SN anywhere;
- ``pushed_noSN``, ``pushed_SN``: the learning rate alpha raised 50-fold, to 0.05, without and
  with SN on D.

Every file is written once, at the end, beside the old one and then renamed over it, so an
interrupted run leaves the old files whole; one run at a time writes a folder (a lock file
beside ``beyond.csv``), and ``--summary`` refuses a ``beyond.csv`` that holds a (run, seed,
step) twice. ``--summary`` prints the mean +- sd of every run at the last step and then the
verdicts of ``COMPARISONS``, the list lesson 10 judges by the one rule of
:func:`sngan_teach.stats.compare` (Welch's test, Holm's correction over the whole list).

Commands (from the repository root)::

    nice -n 5 .venv/bin/python experiments/beyond.py --jobs 2      # all runs, about 14 CPU min
    .venv/bin/python experiments/beyond.py --summary     # mean +- sd, the rule's verdicts
    .venv/bin/python experiments/beyond.py --quick --out-dir /tmp/beyond   # seconds, a smoke run
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/NAME.py
    sys.path.insert(0, str(ROOT))

from experiments.result_files import lock, read_rows, replace_file, write_rows  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402

STABLE = {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 1}
PUSHED = {"alpha": 5e-2, "beta1": 0.5, "beta2": 0.9, "n_dis": 1}
RUNS = {
    "projection": {"d_kind": "projection", "sn_D": True, "sn_G": False, "setting": STABLE},
    "concat": {"d_kind": "concat", "sn_D": True, "sn_G": False, "setting": STABLE},
    "projection_snG": {"d_kind": "projection", "sn_D": True, "sn_G": True, "setting": STABLE},
    "projection_noSN": {"d_kind": "projection", "sn_D": False, "sn_G": False, "setting": STABLE},
    "pushed_noSN": {"d_kind": "projection", "sn_D": False, "sn_G": False, "setting": PUSHED},
    "pushed_SN": {"d_kind": "projection", "sn_D": True, "sn_G": False, "setting": PUSHED},
}
TRACE_RUNS = ("projection", "pushed_noSN")
STEPS = 1500
SEEDS = 3
LOG_EVERY = 50
GRID_EVERY = 100
N_EVAL = 1000
SIZES = {"z_dim": 32, "ch_G": 32, "ch_D": 16}
BATCH_SIZE = 64
FIELDS = ["run", "seed", "step", "loss_D", "loss_G", "class_acc", "digits_is", "digits_fid"]
SIGMA_FIELDS = ["run", "seed", "step", "net", "layer", "sigma"]
SPECTRA_FIELDS = ["run", "seed", "net", "layer", "sigma", "eff_rank"]
COST_FIELDS = ["run", "seed", "steps", "seconds", "cpu_seconds"]
KEY = ("run", "seed", "step")
SCORES = ("class_acc", "digits_is", "digits_fid")
# Lesson 10's list, judged as one family: (a, b, score), "a vs b". The scores at the last step
# (FID on the log scale, lower better; class accuracy and IS as they are, higher better), the
# onset (first logged step with class accuracy >= ONSET_ACC; lower is sooner) and the effective
# rank of G's dense layer l0 at the end (neither direction better: "better" reads "lower").
COMPARISONS = [
    *((a, b, score) for a, b in (("projection", "concat"), ("projection_snG", "projection"))
      for score in SCORES),
    ("projection_snG", "projection", "onset"),
    ("projection", "projection_noSN", "onset"),
    ("projection_snG", "projection", "l0 rank"),
]  # fmt: skip
ONSET_ACC = 0.5


def grid_of(net_G):  # -> numpy uint8 array
    """A 10 x 10 grid of G's samples in eval mode, row = requested class, fixed z (seed 2),
    as uint8 of shape (10, 10, 8, 8)."""
    import torch

    from sngan_teach._util import eval_mode
    from sngan_teach.gan import sample_z

    y = torch.arange(10).repeat_interleave(10)
    z = sample_z(100, net_G.z_dim, torch.Generator().manual_seed(2))
    with eval_mode(net_G), torch.no_grad():
        x = net_G(z, y)
    x = torch.nan_to_num(x, nan=-1.0).clamp(-1, 1)
    return ((x + 1) * 127.5).round().to(torch.uint8).view(10, 10, 8, 8).numpy()


MADE_BY = "python experiments/beyond.py"  # the command that writes the stored runs


def stored():  # -> (runs, sigma, spectra, grids)
    """The stored runs that lessons 10 and 11 read: the measurements (``beyond.csv``), the sigma
    traces (``beyond_sigma.csv``) and final spectra (``beyond_spectra.csv``) as lists of rows of
    numbers, and the sample grids (``beyond_samples.npz``, keys ``"run/step"``). A missing file
    raises an error that names :data:`MADE_BY`."""
    import numpy as np

    from sngan_teach.results import read_rows
    from sngan_teach.runtime import stored_result

    rows = [read_rows(f"beyond{s}.csv", MADE_BY, numbers=True) for s in ("", "_sigma", "_spectra")]
    return *rows, np.load(stored_result("beyond_samples.npz", MADE_BY))


def show_grid(ax, grid, title: str) -> None:
    """Draw a grid of :func:`grid_of` on ``ax``: one row per requested digit (labelled 0-9)."""
    import numpy as np

    from sngan_teach.results import tile

    ax.imshow(tile(grid, 10, pad_value=70), cmap="gray_r", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks(np.arange(10) * 9 + 3.5, [str(d) for d in range(10)])
    ax.set_title(title, fontsize=9)


def run_one(run: str, seed: int, steps: int, log_every: int = LOG_EVERY, n_eval: int = N_EVAL):
    """Train run ``run`` with ``seed``; return (rows, sigma rows, spectra rows, cost, grids)."""
    import torch

    torch.set_num_threads(1)
    from sngan_teach.conditional import (
        evaluate_conditional,
        make_cond_pair,
        top_sigmas,
        train_conditional,
    )
    from sngan_teach.spectra import effective_rank, layer_singular_values

    spec = RUNS[run]
    net_G, net_D = make_cond_pair(spec["d_kind"], spec["sn_D"], spec["sn_G"], seed=seed, **SIZES)
    rows, sigma_rows, grids = [], [], {}
    vectors = {"G": {}, "D": {}}

    def callback(step: int, history: list) -> None:
        losses = {k: history[-1][k] for k in ("step", "loss_D", "loss_G")}
        rows.append(
            {"run": run, "seed": seed, **losses, **evaluate_conditional(net_G, n_eval, seed=1)}
        )
        for net_name, net in (("G", net_G), ("D", net_D)):
            for layer, sigma in top_sigmas(net, vectors[net_name]).items():
                sigma_rows.append(
                    {"run": run, "seed": seed, "step": step, "net": net_name, "layer": layer,
                     "sigma": sigma}
                )  # fmt: skip
        if seed == 0 and (step % GRID_EVERY == 0 or step == steps):
            if run in TRACE_RUNS or step == steps:
                grids[step] = grid_of(net_G)

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        train_conditional(
            net_G,
            net_D,
            steps,
            setting=spec["setting"],
            seed=seed,
            batch_size=BATCH_SIZE,
            log_every=log_every,
            callback=callback,
        )
    except FloatingPointError as err:  # the rows logged so far are kept
        print(f"{run} seed {seed}: {err}")
    spectra_rows = []
    for net_name, net in (("G", net_G), ("D", net_D)):
        for layer, s in layer_singular_values(net).items():
            spectra_rows.append(
                {"run": run, "seed": seed, "net": net_name, "layer": layer,
                 "sigma": float(s[0]), "eff_rank": effective_rank(s)}
            )  # fmt: skip
    cost = {"run": run, "seed": seed, "steps": steps, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}  # fmt: skip
    return rows, sigma_rows, spectra_rows, cost, grids


def cell_text(value: object) -> str:
    """A CSV cell: floats with 6 significant digits, anything else as ``str``."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def main_run(out_dir: Path, steps: int, seeds: int, runs: list[str], jobs: int, **kw) -> None:
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(run, seed) for seed in range(seeds) for run in runs]
    print(
        f"{len(tasks)} runs of {steps} updates, {jobs} jobs; {platform.processor() or 'cpu'}, "
        f"load {os.getloadavg()}"
    )
    t0, c0 = time.perf_counter(), time.process_time()
    results = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {task: pool.submit(run_one, *task, steps, **kw) for task in tasks}
        for task, future in futures.items():
            results[task] = future.result()
            cost = results[task][3]
            print(f"{task}: {cost['seconds']:.0f} s wall, {cost['cpu_seconds']:.0f} s CPU")
    rows, sigma_rows, spectra_rows, costs, grids = [], [], [], [], {}
    for task in tasks:
        r, s, sp, cost, g = results[task]
        rows += r
        sigma_rows += s
        spectra_rows += sp
        costs.append(cost)
        for step, grid in g.items():
            grids[f"{task[0]}/{step}"] = grid
    write_rows(out_dir / "beyond.csv", FIELDS, rows, cell_text)
    write_rows(out_dir / "beyond_sigma.csv", SIGMA_FIELDS, sigma_rows, cell_text)
    write_rows(out_dir / "beyond_spectra.csv", SPECTRA_FIELDS, spectra_rows, cell_text)
    write_rows(out_dir / "beyond_cost.csv", COST_FIELDS, costs, cell_text)
    with replace_file(out_dir / "beyond_samples.npz", "wb") as f:
        np.savez_compressed(f, **grids)
    print(
        f"done: {time.perf_counter() - t0:.0f} s wall; this process {time.process_time() - c0:.0f}"
        f" s CPU; load {os.getloadavg()}"
    )


def judge(rows: list[dict], spectra_rows: list[dict]) -> dict:
    """The verdicts of ``COMPARISONS`` on the rows of ``beyond.csv`` and ``beyond_spectra.csv``
    (dicts of strings): :func:`sngan_teach.stats.compare` over the whole list."""
    from sngan_teach.stats import compare

    last = max(int(r["step"]) for r in rows)

    def seeds_of(run: str, score: str) -> list[float]:
        if score == "l0 rank":
            return [float(r["eff_rank"]) for r in spectra_rows
                    if (r["run"], r["net"], r["layer"]) == (run, "G", "l0")]  # fmt: skip
        if score == "onset":
            seeds = sorted({int(r["seed"]) for r in rows if r["run"] == run})
            return [min((int(r["step"]) for r in rows if r["run"] == run and int(r["seed"]) == s
                         and float(r["class_acc"]) >= ONSET_ACC), default=math.nan)
                    for s in seeds]  # fmt: skip
        return [float(r[score]) for r in rows if r["run"] == run and int(r["step"]) == last]

    names = {c: f"{c[0]} vs {c[1]}, {c[2]}" for c in COMPARISONS}
    pairs = {names[c]: (seeds_of(c[0], c[2]), seeds_of(c[1], c[2])) for c in COMPARISONS}
    fid = {names[c]: c[2] == "digits_fid" for c in COMPARISONS}
    lower = {names[c]: c[2] in ("digits_fid", "onset", "l0 rank") for c in COMPARISONS}
    return compare(pairs, log=fid, lower_is_better=lower)


def summary(out_dir: Path) -> None:
    rows = read_rows(out_dir / "beyond.csv", FIELDS, KEY)
    if not rows:
        raise SystemExit(f"no rows in {out_dir / 'beyond.csv'}; run this script without --summary")
    last = max(int(r["step"]) for r in rows)
    print(f"mean +- sd over seeds at step {last}")
    for run in RUNS:
        sel = [r for r in rows if r["run"] == run and int(r["step"]) == last]
        if not sel:
            continue
        parts = []
        for key in SCORES:
            values = [float(r[key]) for r in sel]
            sd = statistics.stdev(values) if len(values) > 1 else math.nan
            parts.append(f"{key} {statistics.mean(values):.3f} +- {sd:.3f}")
        print(f"{run:16s} n={len(sel)}  " + "  ".join(parts))
    spectra = read_rows(
        out_dir / "beyond_spectra.csv", SPECTRA_FIELDS, ("run", "seed", "net", "layer")
    )
    seeds = {run: len({r["seed"] for r in rows if r["run"] == run and int(r["step"]) == last})
             for run in RUNS}  # fmt: skip
    if not spectra or min(seeds[run] for c in COMPARISONS for run in c[:2]) < 2:
        print("the rule's list needs beyond_spectra.csv and two seeds of every run it compares")
        return
    print(f"the rule (Welch; Holm over these {len(COMPARISONS)} comparisons; onset: first step "
          f"with class accuracy >= {ONSET_ACC}; l0 rank: 'better' reads 'lower'):")  # fmt: skip
    for c in judge(rows, spectra).values():
        print(f"- {c}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--quick", action="store_true", help="4 updates, 1 seed, 100 samples")
    args = parser.parse_args(argv)
    if args.summary:
        summary(args.out_dir)
        return
    if args.quick and args.out_dir == parser.get_default("out_dir"):
        raise SystemExit("--quick needs --out-dir: the committed files hold full-size runs only")
    with lock(args.out_dir / "beyond.csv"):
        if args.quick:
            main_run(args.out_dir, 4, 1, args.runs, args.jobs, log_every=2, n_eval=100)
        else:
            main_run(args.out_dir, args.steps, args.seeds, args.runs, args.jobs)


if __name__ == "__main__":
    main()
