"""A small stored CIFAR-shaped SN-GAN run on a CPU, for lesson 09 to show when no GPU run exists.

The ``paper-cnn`` recipe of ``sngan_teach.recipes`` (standard CNN, setting C of Table 1:
alpha 2e-4, beta1 0.5, beta2 0.999, n_dis 1, batches 64 / 64, standard loss, constant
learning rate) with every channel count divided by ``--slim`` and trained for ``--steps``
generator updates on the stand-in images of ``sngan_teach.cifar.fixture_images`` (smooth,
class-tinted 32 x 32 pictures: CIFAR-10's shape, not its content), one torch thread. ``--norm``
picks SN (the recipe) or WN on D (for the paper's Fig. 3 comparison).

Regenerate the files lesson 09 reads (from the repository root; both runs side by side, each
on one thread):

    .venv/bin/python experiments/cifar_small_run.py --norm sn &
    .venv/bin/python experiments/cifar_small_run.py --norm wn &

Each writes ``benchmarks/results/cifar_small_{norm}.npz``: the settings (``config``, JSON),
fixed-z sample grids (uint8) at the steps in ``grid_steps``, the loss history, the largest
singular value of every normalized layer of D every ``--sigma-every`` updates, and the
singular values of every layer of D at the start and at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: python experiments/NAME.py
    sys.path.insert(0, str(ROOT))

from sngan_teach import cifar  # noqa: E402
from sngan_teach.gan import train  # noqa: E402
from sngan_teach.models import Z_DIM  # noqa: E402
from sngan_teach.recipes import Run, build_run, get_recipe  # noqa: E402
from sngan_teach.runtime import RESULTS_DIR  # noqa: E402
from sngan_teach.spectra import layer_singular_values  # noqa: E402

GRID_STEPS = [0, 25, 50, 100, 200, 300, 500, 700, 1000]


def make_run(norm: str, slim: int, n_images: int, seed: int) -> Run:
    """``build_run`` of ``paper-cnn`` with ``norm`` on D, on the CPU, over ``n_images`` stand-in
    images (same seed: same start)."""
    images = torch.from_numpy(cifar.fixture_images(n_images, seed=seed)[0])
    recipe = get_recipe("paper-cnn") | {"norm": norm}
    return build_run(recipe, images, seed=seed, device="cpu", fast=False, slim=slim, n_fixed=32)


def run_steps(run: Run, n_steps: int, start_step: int = 0, callback=None, every: int = 0):
    """Train ``run`` from ``start_step`` to ``n_steps`` with the recipe; returns the history."""
    r = run.recipe
    return train(
        run.net_G, run.net_D, run.opt_G, run.opt_D, run.sampler, n_steps,
        z_dim=Z_DIM, generator=run.gen_z, loss=r["loss"], n_dis=r["n_dis"],
        batch_size_D=r["batch_d"], batch_size_G=r["batch_g"], lr_decay=r["lr_decay"],
        start_step=start_step, log_every=10, callback=callback, callback_every=every,
        progress=sys.stderr.isatty(),
    )  # fmt: skip


@torch.no_grad()
def grid(run: Run) -> np.ndarray:
    """G(fixed_z) in eval mode, as uint8 (32, 3, 32, 32)."""
    net = run.net_G.eval()
    x = cifar.to_uint8(net(run.fixed_z)).numpy()
    net.train()
    return x


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--norm", choices=["sn", "wn"], default="sn")
    p.add_argument("--steps", type=int, default=GRID_STEPS[-1])
    p.add_argument("--slim", type=int, default=8)
    p.add_argument("--n-images", type=int, default=10_000)
    p.add_argument("--sigma-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out or RESULTS_DIR / f"cifar_small_{args.norm}.npz")
    run = make_run(args.norm, args.slim, args.n_images, args.seed)
    grid_steps = [s for s in GRID_STEPS if s <= args.steps]
    grids, sigma_steps, sigmas = [grid(run)], [0], []
    init = layer_singular_values(run.net_D)
    layers = list(init)
    sigmas.append([float(init[k][0]) for k in layers])

    def callback(step: int, _history: list) -> None:
        if step % 100 == 0:
            print(f"step {step}, {time.perf_counter() - t0:.0f} s", flush=True)
        if step in grid_steps:
            grids.append(grid(run))
        if step % args.sigma_every == 0:
            s = layer_singular_values(run.net_D)
            sigma_steps.append(step)
            sigmas.append([float(s[k][0]) for k in layers])

    t0 = time.perf_counter()
    history = run_steps(run, args.steps, callback=callback, every=1)
    seconds = time.perf_counter() - t0
    final = layer_singular_values(run.net_D)
    config = {
        "recipe": "paper-cnn", "norm": args.norm, "slim": args.slim, "steps": args.steps,
        "n_images": args.n_images, "seed": args.seed, "data": "stand-in (fixture_images)",
        "seconds": round(seconds, 1), "torch": torch.__version__, "threads": 1,
        "machine": f"{platform.machine()} CPU", "layers": layers,
        "command": "experiments/cifar_small_run.py " + " ".join(argv or sys.argv[1:]),
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        config=json.dumps(config),
        grid_steps=np.array(grid_steps),
        grids=np.stack(grids),
        history=np.array([[r["step"], r["loss_D"], r["loss_G"]] for r in history]),
        sigma_steps=np.array(sigma_steps),
        sigmas=np.array(sigmas),
        **{f"init_{k}": init[k].numpy() for k in layers},
        **{f"final_{k}": final[k].numpy() for k in layers},
    )
    print(f"{args.norm}: {args.steps} updates in {seconds:.0f} s -> {out}")


if __name__ == "__main__":
    main()
