"""Speed of spectral normalization: one discriminator update of the paper's standard CNN.

Lesson 04. Times one update of ``StandardDiscriminator`` (paper Table 3: seven convs and a
dense layer, 32x32x3 inputs): forward of a batch of 64 images, the hinge loss of D on it (as if
half were real and half fake), backward, and an Adam step (alpha=2e-4, beta1=0.5, beta2=0.999,
setting C). Three variants start from the same weights:

* ``none``: no normalization;
* ``ours``: ``sngan_teach.sn.add_sn`` (one power iteration per update);
* ``torch``: ``torch.nn.utils.parametrizations.spectral_norm`` on the same layers.

The variants are interleaved: each round times ``--steps`` updates of every variant, in a
fresh random order, after ``--warmup`` untimed updates each. The script prints the median time
per update of each variant, the ratios ours/torch, ours/none and torch/none, and, for each
ratio, the median of the per-round ratios (robust to a machine whose load changes between
rounds) and of the minima (the least disturbed rounds on a shared machine). It then times the
SN part alone (every normalized weight, forward and backward, without the convolutions) for
ours and torch, interleaved the same way. Targets: ours <= 1.00x torch, SN <= 1.10x none.

Commands (CPU, as recorded in benchmarks/RESULTS.md; on a shared 2-core machine one thread
gives the steadier figures)::

    .venv/bin/python benchmarks/bench_sn.py --rounds 12 --steps 2 --warmup 2 --threads 1
    .venv/bin/python benchmarks/bench_sn.py --rounds 15 --steps 5

On a GPU: ``--device cuda`` (optionally ``--channels-last --bf16 --compile``).
"""

from __future__ import annotations

import argparse
import copy
import platform
import random
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from sngan_teach.models import StandardDiscriminator
from sngan_teach.sn import add_sn


def torch_add_sn(model: nn.Module) -> nn.Module:
    for m in list(model.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            torch_spectral_norm(m)
    return model


def make_step(net_D: nn.Module, x: torch.Tensor, sign: torch.Tensor, args) -> callable:
    opt_D = torch.optim.Adam(net_D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    forward = torch.compile(net_D) if args.compile else net_D
    dtype = torch.bfloat16 if args.bf16 else torch.float32

    def step() -> None:
        with torch.autocast(x.device.type, dtype=dtype, enabled=args.bf16):
            out = forward(x)
        # hinge loss of D: relu(1 - D(real)) for sign +1, relu(1 + D(fake)) for sign -1
        loss_D = F.relu(1 - sign * out.float()).mean()
        opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        opt_D.step()

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return (
        f"{model}; {torch.get_num_threads()} torch threads; torch {torch.__version__}; "
        f"python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=5, help="timed updates per variant per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates per variant")
    parser.add_argument("--batch", type=int, default=64, help="images per update")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward")
    parser.add_argument("--compile", action="store_true", help="torch.compile the forward")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--rounds, --steps and --batch must be >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    torch.manual_seed(args.seed)
    base = StandardDiscriminator()
    nets = {"none": copy.deepcopy(base)}
    torch.manual_seed(args.seed)
    nets["ours"] = add_sn(copy.deepcopy(base))
    torch.manual_seed(args.seed)
    nets["torch"] = torch_add_sn(copy.deepcopy(base))
    gen = torch.Generator().manual_seed(args.seed)
    x = (torch.rand(args.batch, 3, 32, 32, generator=gen) * 2 - 1).to(device)
    sign = torch.ones(args.batch, device=device)
    sign[args.batch // 2 :] = -1
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    x = x.contiguous(memory_format=fmt)
    steps = {}
    for name, net in nets.items():
        net.to(device=device, memory_format=fmt).train()
        steps[name] = make_step(net, x, sign, args)

    # the two SN variants start from the same u, v, so they compute the same function
    mods = zip(nets["ours"].modules(), nets["torch"].modules(), strict=True)
    with torch.no_grad():
        for m_ours, m_torch in mods:
            if hasattr(m_ours, "parametrizations"):
                p_ours, p_torch = (
                    m_ours.parametrizations.weight[0],
                    m_torch.parametrizations.weight[0],
                )
                p_torch._u.copy_(p_ours._u)
                p_torch._v.copy_(p_ours._v)
        y_ours, y_torch = nets["ours"](x[:4]), nets["torch"](x[:4])
    print(f"|D_ours - D_torch| on 4 images: {(y_ours - y_torch).abs().max():.2e}")

    for step in steps.values():
        for _ in range(args.warmup):
            step()
        sync(device)
    per_update = {name: [] for name in steps}
    rng = random.Random(args.seed)
    for _ in range(args.rounds):
        order = list(steps)
        rng.shuffle(order)
        for name in order:
            sync(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            sync(device)
            per_update[name].append((time.perf_counter() - start) / args.steps)

    # The SN part alone: every normalized weight computed (one power iteration each) and
    # back-propagated, without the convolutions. This isolates what the variants differ in.
    sn_parts = {}
    for name in ("ours", "torch"):
        mods = [m for m in nets[name].modules() if hasattr(m, "parametrizations")]
        grads = [torch.randn_like(m.parametrizations.weight.original) for m in mods]

        def sn_only(mods=mods, grads=grads) -> None:
            for m in mods:
                m.parametrizations.weight.original.grad = None
            torch.autograd.backward([m.weight for m in mods], grads)

        sn_parts[name] = sn_only
    for fn in sn_parts.values():
        for _ in range(args.warmup):
            fn()
    part_times = {name: [] for name in sn_parts}
    for _ in range(args.rounds):
        order = list(sn_parts)
        rng.shuffle(order)
        for name in order:
            sync(device)
            start = time.perf_counter()
            for _ in range(10 * args.steps):
                sn_parts[name]()
            sync(device)
            part_times[name].append((time.perf_counter() - start) / (10 * args.steps))

    print(f"machine: {machine()}")
    print(
        f"device {device}, batch {args.batch}, rounds {args.rounds} x {args.steps} updates, "
        f"warm-up {args.warmup}, channels_last={args.channels_last}, bf16={args.bf16}, "
        f"compile={args.compile}"
    )
    med = {name: statistics.median(times) for name, times in per_update.items()}
    for name in steps:
        times = per_update[name]
        print(
            f"{name:>6}: median {med[name] * 1e3:8.2f} ms per D update "
            f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f})"
        )
    for name, times in part_times.items():
        print(
            f"SN part alone, {name:>5}: median {statistics.median(times) * 1e3:7.3f} ms "
            f"(min {min(times) * 1e3:.3f}) per update, all 8 layers, forward + backward"
        )
    paired = statistics.median(
        ta / tb for ta, tb in zip(part_times["ours"], part_times["torch"], strict=True)
    )
    print(f"SN part alone, ours/torch: {paired:.3f}x (median of per-round ratios)")
    for name, times in part_times.items():
        print(
            f"SN part alone, {name:>5}, as a share of the unnormalized D update: "
            f"{statistics.median(times) / med['none']:.1%} (medians), "
            f"{min(times) / min(per_update['none']):.1%} (minima)"
        )
    for a, b in (("ours", "torch"), ("ours", "none"), ("torch", "none")):
        paired = statistics.median(
            ta / tb for ta, tb in zip(per_update[a], per_update[b], strict=True)
        )
        best = min(per_update[a]) / min(per_update[b])
        print(
            f"D update {a}/{b}: {med[a] / med[b]:.3f}x (ratio of medians), "
            f"{paired:.3f}x (median of per-round ratios), {best:.3f}x (ratio of minima)"
        )


if __name__ == "__main__":
    main()
