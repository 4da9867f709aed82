"""Generator updates per second of the CIFAR-10 training loop: fast loop vs a plain eager loop.

Lesson 08. For each architecture (the paper's standard CNN and ResNet, SN on D, hinge loss,
n_dis = 5, 64 real images per D step, 128 fakes per G step) it times, side by side in one run
on the same device:

* ``eager``: the loop most tutorials write: a DataLoader over float images, fp32, no
  compile, ``torch.optim.Adam`` (for-each), D called separately on real and fake, and
  ``loss.item()`` every step (a host sync);
* ``fast``: lesson 07's ``sngan_teach.gan.train_step`` unchanged, fed by
  ``sngan_teach.cifar.DeviceSampler`` (uint8 data on the device, batches drawn there), with
  bf16 autocast (SN's sigma stays fp32), channels_last, fused Adam, one D call on real + fake,
  no host sync inside the step, and ``torch.compile`` (on CUDA, mode ``--compile``).

Data: the real CIFAR-10 training set when it is found (``$SNGAN_CIFAR10_DIR``), else 50 000
random CIFAR-shaped uint8 images (the speed does not depend on the pixels).

On one GPU (the figures to record in benchmarks/RESULTS.md):

    python benchmarks/bench_cifar.py --steps 300 --warmup 50

On a CPU, narrow the models (``--slim 8`` divides every channel count by 8) and time a few
steps (what RESULTS.md records for this machine):

    python benchmarks/bench_cifar.py --device cpu --slim 8 --steps 3 --warmup 1
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sngan_teach import cifar  # noqa: E402
from sngan_teach.gan import train_step  # noqa: E402
from sngan_teach.losses import hinge_loss_D, hinge_loss_G  # noqa: E402
from sngan_teach.models import Z_DIM, build_models  # noqa: E402
from sngan_teach.runtime import default_device  # noqa: E402
from sngan_teach.sn import add_sn  # noqa: E402

ALPHA, BETAS, N_DIS, BATCH_D, BATCH_G = 2e-4, (0.0, 0.9), 5, 64, 128


def load_images() -> tuple[torch.Tensor, str]:
    try:
        return cifar.load_cifar10()[0], "CIFAR-10 training set"
    except (cifar.CIFAR10NotFoundError, cifar.CIFAR10CorruptError):
        gen = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, generator=gen), (
            "synthetic CIFAR-shaped uint8 (CIFAR-10 not found)"
        )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def eager_loop(arch: str, slim: int, images: torch.Tensor, device: torch.device):
    """The plain reference: returns ``step()`` doing one G update the common eager way."""
    torch.manual_seed(0)
    net_G, net_D = build_models(arch, slim)
    add_sn(net_D)
    net_G.to(device)
    net_D.to(device)
    opt_G = torch.optim.Adam(net_G.parameters(), lr=ALPHA, betas=BETAS)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=ALPHA, betas=BETAS)
    data = torch.utils.data.TensorDataset(cifar.to_float(images))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH_D, shuffle=True, drop_last=True)
    batches = iter(loader)

    def next_real() -> torch.Tensor:
        nonlocal batches
        try:
            return next(batches)[0].to(device)
        except StopIteration:
            batches = iter(loader)
            return next(batches)[0].to(device)

    def step() -> float:
        for _ in range(N_DIS):
            real = next_real()
            fake = net_G(torch.randn(BATCH_D, Z_DIM, device=device)).detach()
            loss_D = hinge_loss_D(net_D(real), net_D(fake))
            opt_D.zero_grad()
            loss_D.backward()
            opt_D.step()
        loss_G = hinge_loss_G(net_D(net_G(torch.randn(BATCH_G, Z_DIM, device=device))))
        opt_G.zero_grad()
        loss_G.backward()
        opt_G.step()
        return loss_D.item() + loss_G.item()  # the host sync most loops have for logging

    return step


def fast_loop(arch: str, slim: int, images: torch.Tensor, device: torch.device, mode: str):
    """Lesson 07's train_step with the speed-ups; returns ``step()``."""
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    net_G, net_D = build_models(arch, slim)
    add_sn(net_D)
    memory = torch.channels_last if cuda else torch.contiguous_format
    net_G.to(device, memory_format=memory)
    net_D.to(device, memory_format=memory)
    opt_G = torch.optim.Adam(net_G.parameters(), lr=ALPHA, betas=BETAS, fused=cuda)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=ALPHA, betas=BETAS, fused=cuda)
    sampler = cifar.DeviceSampler(images, device, seed=1, channels_last=cuda)
    gen_z = torch.Generator(device=device).manual_seed(2)
    run_G, run_D = net_G, net_D
    if mode != "none":
        run_G, run_D = torch.compile(net_G, mode=mode), torch.compile(net_D, mode=mode)
    autocast = torch.bfloat16 if cuda else None

    def step() -> None:
        train_step(
            run_G, run_D, opt_G, opt_D, sampler, z_dim=Z_DIM, generator=gen_z, loss="hinge",
            n_dis=N_DIS, batch_size_D=BATCH_D, batch_size_G=BATCH_G, autocast_dtype=autocast,
        )  # fmt: skip

    return step


def rate(step, n_steps: int, warmup: int, device: torch.device) -> float:
    """Generator updates per second over ``n_steps`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    sync(device)
    return n_steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default=None)
    p.add_argument("--archs", nargs="+", default=["standard", "resnet"])
    p.add_argument("--slim", type=int, default=1, help="divide channel counts (1: paper)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--compile", default="auto", help="none|default|reduce-overhead|max-autotune")
    args = p.parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    mode = args.compile if args.compile != "auto" else (
        "reduce-overhead" if device.type == "cuda" else "none"
    )  # fmt: skip
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    images, source = load_images()
    print(f"device: {device} ({name}); torch {torch.__version__}; data: {source}")
    print(f"slim {args.slim}; steps {args.steps} after {args.warmup} warm-up; compile: {mode}")
    print(f"n_dis {N_DIS}, batch D {BATCH_D} real + {BATCH_D} fake, batch G {BATCH_G}")
    print(f"{'arch':<10}{'eager G upd/s':>15}{'fast G upd/s':>15}{'fast/eager':>12}")
    for arch in args.archs:
        eager = rate(eager_loop(arch, args.slim, images, device), args.steps, args.warmup, device)
        try:
            fast = rate(
                fast_loop(arch, args.slim, images, device, mode), args.steps, args.warmup, device
            )
        except Exception as err:  # report a compile failure instead of hiding it
            print(f"{arch}: the fast loop failed with compile mode {mode!r}: {err!r}")
            print(f"{arch}: timing the fast loop without compile instead")
            fast = rate(
                fast_loop(arch, args.slim, images, device, "none"), args.steps, args.warmup, device
            )
        print(f"{arch:<10}{eager:>15.3f}{fast:>15.3f}{fast / eager:>11.2f}x", flush=True)


if __name__ == "__main__":
    main()
