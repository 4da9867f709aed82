"""Generator updates per second of the CIFAR-10 training loop: fast vs eager vs plain, one run.

Lesson 09. For each recipe of ``sngan_teach.recipes`` (default: ``paper-cnn`` for the standard
CNN, ``paper-resnet`` for the ResNet; SN on D, the recipe's loss, n_dis, batches and Adam), it
times three loops side by side on the same device:

* ``plain``: the loop the public reimplementations write: a DataLoader over float images, fp32,
  eager, ``torch.optim.Adam`` (for-each), D called separately on real and fake, and
  ``loss.item()`` every step (a host sync);
* ``eager``: lesson 07's ``sngan_teach.gan.train_step`` unchanged, fed by
  ``sngan_teach.cifar.DeviceSampler`` (uint8 data on the device, batches drawn there), one D
  call on real + fake, no host sync inside the step; fp32, no compile, default memory format;
* ``fast``: the same with bf16 autocast (SN's sigma stays fp32), channels-last, fused Adam and
  ``torch.compile`` (mode ``--compile``; on CUDA ``reduce-overhead``, i.e. CUDA graphs).

Data: the real CIFAR-10 training set when it is found (``$SNGAN_CIFAR10_DIR``), else 50 000
random CIFAR-shaped uint8 images (the speed does not depend on the pixels).

On one GPU (``benchmarks/gpu_check.sh`` runs this as its third step and records the result):

    python benchmarks/bench_cifar.py --steps 300 --warmup 50

On a CPU, narrow the models (``--slim 8`` divides every channel count by 8) and time a few
steps:

    python benchmarks/bench_cifar.py --device cpu --slim 8 --steps 3 --warmup 1
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sngan_teach import cifar  # noqa: E402
from sngan_teach.gan import train_step  # noqa: E402
from sngan_teach.losses import get_loss  # noqa: E402
from sngan_teach.models import Z_DIM  # noqa: E402
from sngan_teach.recipes import build_run, get_recipe  # noqa: E402
from sngan_teach.runtime import default_device  # noqa: E402

LOOPS = ("fast", "eager", "plain")


def load_images(n_synthetic: int = 50_000) -> tuple[torch.Tensor, str]:
    """The CIFAR-10 training set if found, else ``n_synthetic`` random uint8 images."""
    try:
        return cifar.load_cifar10()[0], "CIFAR-10 training set"
    except (cifar.CIFAR10NotFoundError, cifar.CIFAR10CorruptError):
        gen = torch.Generator().manual_seed(0)
        shape = (n_synthetic, 3, 32, 32)
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
        return images, "synthetic CIFAR-shaped uint8 (CIFAR-10 not found)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(
    recipe: dict, slim: int, images: torch.Tensor, device: torch.device, seed: int = 0
) -> Callable[[], float]:
    """The plain reference: returns ``step()`` doing one G update the common eager way, from
    the networks and Adam (for-each on CUDA) of ``build_run``'s eager run; its sampler is left
    unused: this loop reads a DataLoader."""
    run = build_run(recipe, images, seed=seed, device=device, fast=False, slim=slim)
    net_G, net_D, opt_G, opt_D = run.net_G, run.net_D, run.opt_G, run.opt_D
    loss_fn_D, loss_fn_G = get_loss(recipe["loss"])
    batch_d, batch_g = recipe["batch_d"], recipe["batch_g"]
    data = torch.utils.data.TensorDataset(cifar.to_float(images))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_d, shuffle=True, drop_last=True)
    batches = iter(loader)

    def next_real() -> torch.Tensor:
        nonlocal batches
        try:
            return next(batches)[0].to(device)
        except StopIteration:
            batches = iter(loader)
            return next(batches)[0].to(device)

    def step() -> float:
        for _ in range(recipe["n_dis"]):
            real = next_real()
            fake = net_G(torch.randn(batch_d, Z_DIM, device=device)).detach()
            loss_D = loss_fn_D(net_D(real), net_D(fake))
            opt_D.zero_grad()
            loss_D.backward()
            opt_D.step()
        loss_G = loss_fn_G(net_D(net_G(torch.randn(batch_g, Z_DIM, device=device))))
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return loss_D.item() + loss_G.item()  # the host sync most loops have for logging

    return step


def lesson_loop(
    recipe: dict,
    slim: int,
    images: torch.Tensor,
    device: torch.device,
    *,
    fast: bool,
    mode: str = "none",
    seed: int = 0,
) -> dict:
    """Lesson 07's ``train_step`` on the run that ``build_run`` makes for the training script:
    the ``eager`` loop (``fast=False``: fp32, no compile) or the ``fast`` one (``fast=True``:
    on CUDA bf16 autocast, channels-last and fused Adam; ``torch.compile`` with ``mode`` unless
    ``"none"``).

    Returns ``{"step", "net_G", "net_D", "opt_G", "opt_D"}``; ``step()`` runs one generator
    update and returns its losses as detached tensors. The same ``seed`` gives the same
    weights, SN vectors, real batches and z in both loops.
    """
    cuda = device.type == "cuda"
    run = build_run(recipe, images, seed=seed, device=device, fast=fast and cuda, slim=slim)
    net_G, net_D, opt_G, opt_D = run.net_G, run.net_D, run.opt_G, run.opt_D
    run_G, run_D = net_G, net_D
    if fast and mode != "none":
        run_G, run_D = torch.compile(net_G, mode=mode), torch.compile(net_D, mode=mode)
    autocast = torch.bfloat16 if fast and cuda else None

    def step() -> dict[str, torch.Tensor]:
        return train_step(
            run_G, run_D, opt_G, opt_D, run.sampler, z_dim=Z_DIM, generator=run.gen_z,
            loss=recipe["loss"], n_dis=recipe["n_dis"], batch_size_D=recipe["batch_d"],
            batch_size_G=recipe["batch_g"], autocast_dtype=autocast,
        )  # fmt: skip

    return {"step": step, "net_G": net_G, "net_D": net_D, "opt_G": opt_G, "opt_D": opt_D}


def rate(step: Callable, n_steps: int, warmup: int, device: torch.device) -> float:
    """Generator updates per second over ``n_steps`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    sync(device)
    return n_steps / (time.perf_counter() - t0)


def compile_mode(arg: str, device: torch.device) -> str:
    """``auto`` -> ``reduce-overhead`` (CUDA graphs) on CUDA, ``none`` elsewhere."""
    if arg != "auto":
        return arg
    return "reduce-overhead" if device.type == "cuda" else "none"


def measure(
    recipe_name: str,
    slim: int,
    images: torch.Tensor,
    device: torch.device,
    *,
    steps: int,
    warmup: int,
    mode: str,
    recipe: dict | None = None,
) -> dict[str, float]:
    """G updates/s of the ``fast``, ``eager`` and ``plain`` loops for one recipe (a row of
    ``sngan_teach.recipes``, or ``recipe`` when given), measured one after the other."""
    recipe = recipe or get_recipe(recipe_name)
    out = {}
    try:
        out["fast"] = rate(
            lesson_loop(recipe, slim, images, device, fast=True, mode=mode)["step"],
            steps, warmup, device,
        )  # fmt: skip
        out["fast_compile"] = mode
    except Exception as err:  # report a compile failure instead of hiding it
        print(f"{recipe_name}: the fast loop failed with compile mode {mode!r}: {err!r}")
        out["fast"] = rate(
            lesson_loop(recipe, slim, images, device, fast=True)["step"], steps, warmup, device
        )
        out["fast_compile"] = f"none ({mode} failed: {type(err).__name__})"
    eager = lesson_loop(recipe, slim, images, device, fast=False)["step"]
    out["eager"] = rate(eager, steps, warmup, device)
    out["plain"] = rate(plain_loop(recipe, slim, images, device), steps, warmup, device)
    return out


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default=None)
    p.add_argument("--recipes", nargs="+", default=["paper-cnn", "paper-resnet"])
    p.add_argument("--slim", type=int, default=1, help="divide channel counts (1: paper)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--compile", default="auto", help="none|default|reduce-overhead|max-autotune")
    args = p.parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    mode = compile_mode(args.compile, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    images, source = load_images()
    print(f"device: {device} ({device_description(device)}); torch {torch.__version__}")
    print(f"data: {source}; slim {args.slim}; {args.steps} steps after {args.warmup} warm-up")
    print(
        f"{'recipe':<14}{'fast':>10}{'eager':>10}{'plain':>10}{'fast/eager':>12}{'fast/plain':>12}"
    )
    for name in args.recipes:
        r = measure(
            name, args.slim, images, device, steps=args.steps, warmup=args.warmup, mode=mode
        )
        print(
            f"{name:<14}{r['fast']:>10.3f}{r['eager']:>10.3f}{r['plain']:>10.3f}"
            f"{r['fast'] / r['eager']:>11.2f}x{r['fast'] / r['plain']:>11.2f}x"
            f"   (compile: {r['fast_compile']})",
            flush=True,
        )


if __name__ == "__main__":
    main()
