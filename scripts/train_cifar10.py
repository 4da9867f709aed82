"""Train the paper's CIFAR-10 GAN (SN on D by default), checkpoint it, and score it with IS/FID.

Lesson 09 explains every piece, shows how to run this script and reads the files it writes.
A run starts from a named recipe of ``sngan_teach.recipes`` (``--recipe``, default
``paper-cnn``); every flag given on the command line overrides the recipe's value. Each recipe
names the source of each value there: what the paper states (Table 1, App. B.2, 100k updates)
and what comes from the authors' code (batch sizes, decay, the 50k updates of the ResNet
config). The time per run on a GPU is not measured yet: ``--steps`` divided by the rate that
``benchmarks/gpu_check.sh`` reports, plus a few minutes of evaluation.

    # standard CNN, setting C, standard loss    (paper Table 2, "SN-GANs": IS 7.42, FID 29.3)
    python scripts/train_cifar10.py --recipe paper-cnn
    # the same with the hinge loss              (paper Table 2: IS 7.58, FID 25.5)
    python scripts/train_cifar10.py --recipe paper-cnn --loss hinge
    # ResNet, App. B.2, 50k updates as the official config (paper Table 2 after 100k: IS 8.22,
    # FID 21.7; add --steps 100000)
    python scripts/train_cifar10.py --recipe paper-resnet
    # standard CNN with a weight-normalized D, for Fig. 3 (paper Table 2: IS 6.84, FID 34.7)
    python scripts/train_cifar10.py --recipe paper-cnn --norm wn
    # not the paper's: ResNet optimizer on the standard CNN, decay and an EMA of G
    python scripts/train_cifar10.py --recipe fast-cnn

The paper does not say which setting of Table 1 its standard-CNN rows used, nor its batch
sizes; compare with those rows knowing that.

Each writes into ``runs/cifar10/{recipe}_{loss}_{norm}`` (or ``--out``): ``config.json``,
``history.json`` (losses every ``--log-every`` steps), ``samples/step_XXXXXXXX.png`` (a fixed-z
grid every ``--sample-every`` steps), ``ckpt_XXXXXXXX.pt`` (every ``--ckpt-every`` steps,
atomic; the newest two are kept) and, at the end, ``results.json`` (IS and FID at 50k/50k and
at the paper's sizes as we read them, for G and, when the recipe keeps one, for its EMA, whose
batch-norm statistics are recomputed from its own outputs first).

Real images go in as ``x / 127.5 - 1`` (256 levels in [-1, 1]); ``--dequantize`` adds
U(0, 1/128) noise to ``x / 128 - 1`` instead, as the official ResNet code does. Generated
images are rounded to 0..255 (``sngan_teach.cifar.to_uint8``) before they are scored.

Data: ``--data DIR`` or ``$SNGAN_CIFAR10_DIR``; add ``--download`` when online. Inception
weights for IS/FID: ``--inception-weights FILE`` or ``$SNGAN_INCEPTION_WEIGHTS`` (or torch
hub's cache); add ``--download`` to fetch them. They are checked against their published
SHA-256 before training starts; without them the script refuses to start unless you pass
``--no-eval`` (no scores) or ``--stand-in`` (a stand-in network whose scores mean nothing).

On CUDA the networks are compiled with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs);
this was checked on CPU only (mode "default", bf16, SN, channels-last: no graph breaks). If it
fails on your GPU stack, add ``--compile default`` or ``--compile none`` and run again.

Interrupted? Run the same command again: it resumes from the newest checkpoint in the output
folder that loads and ends with the same weights as an uninterrupted run (bitwise on CPU).
Ctrl-C stops a run with one line that names that checkpoint (exit 130). The checkpoint stores
the run's configuration and a fingerprint of the data (file names, sizes, a hash of the first
batch); a resume with different settings (another ``--loss``, say) or on other data is refused
with the differing flags named. One run at a time may use a folder (a lock file ``.lock`` holds
the running one's PID). Every file is written to a temporary file in the folder and renamed
over its name, so a symbolic link planted in the folder is replaced, never written through.

A dry run of every code path on CPU in a minute, on a small stand-in written in CIFAR-10's
format and with a stand-in feature extractor (its scores mean nothing); it writes into
``runs/cifar10/dry_{recipe}_{loss}_{norm}`` unless ``--out`` is given:

    python scripts/train_cifar10.py --dry-run --recipe paper-cnn

Exit codes: 0 done, 2 bad arguments or a run that cannot start or resume (the message says
which flag to change), 3 NaN or inf in training, 4 a failed write (a full disk, or a path in
the way; the message names the error), 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import math
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sngan_teach import checkpoint, cifar, inception, metrics  # noqa: E402
from sngan_teach._util import eval_mode  # noqa: E402
from sngan_teach.checkpoint import Checkpointer  # noqa: E402
from sngan_teach.gan import SETTINGS, recompute_bn_stats, train  # noqa: E402
from sngan_teach.models import Z_DIM, build_models  # noqa: E402
from sngan_teach.recipes import RECIPES, Run, build_run  # noqa: E402
from sngan_teach.runtime import MAX_SEED, default_device  # noqa: E402

# Flags whose default comes from the recipe (argparse default None: "not given").
RECIPE_FLAGS = ["arch", "loss", "norm", "alpha", "beta1", "beta2", "n_dis", "batch_d"]
RECIPE_FLAGS += ["batch_g", "lr_decay", "ema", "steps", "dequantize"]
PAPER_ROW = {
    ("standard", "hinge", "sn"): "standard CNN, SN, hinge",
    ("standard", "ns", "sn"): "standard CNN, SN, standard loss",
    ("resnet", "hinge", "sn"): "ResNet, SN, hinge",
    ("standard", "ns", "wn"): "standard CNN, weight norm",
}
WEIGHTS_ADVICE = (
    "IS/FID need torch-fidelity's Inception weights: pass --inception-weights FILE (or set "
    f"${inception.ENV_WEIGHTS}), or add --download to fetch them; or add --no-eval to train "
    "without scores (--stand-in scores with a stand-in network, not comparable to the paper)."
)
# Flags that may change when a run resumes; every other flag must match the checkpoint's.
MAY_CHANGE_ON_RESUME = {
    "device", "compile", "data", "download", "inception_weights", "out", "log_every",
    "ckpt_every", "sample_every", "eval_fake", "eval_real", "no_eval", "stand_in", "progress",
}  # fmt: skip
DEVICE_TYPES = ("cpu", "cuda", "mps")  # where the script can train
# Flags that must be >= 1.
POSITIVE_FLAGS = ("steps", "batch_d", "batch_g", "n_dis", "log_every", "ckpt_every")
POSITIVE_FLAGS += ("sample_every",)
# Bytes held per image scored: the uint8 image, and with Inception its 2048 pool features and
# 1008 logits as float64 (the stand-in's features are tiny).
IMAGE_BYTES, INCEPTION_BYTES = 3 * 32 * 32, 8 * (2048 + 1008)
CIFAR10_TRAIN_IMAGES = 50_000


class RunError(Exception):
    """A run that cannot start or go on; the message says why and what to do."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--recipe", choices=sorted(RECIPES), default="paper-cnn",
        help="preset of sngan_teach.recipes; the flags below override its values",
    )  # fmt: skip
    p.add_argument("--arch", choices=["standard", "resnet"])
    p.add_argument("--loss", choices=["hinge", "ns"])
    p.add_argument("--norm", choices=["sn", "wn", "none"], help="normalization of D")
    p.add_argument("--setting", choices=sorted(SETTINGS), help="alpha, betas, n_dis of Table 1")
    p.add_argument("--alpha", type=float, help="Adam's learning rate")
    p.add_argument("--beta1", type=float)
    p.add_argument("--beta2", type=float)
    p.add_argument("--n-dis", type=int, help="D updates per G update")
    p.add_argument("--steps", type=int, help="generator updates")
    p.add_argument("--batch-d", type=int, help="real images per D step")
    p.add_argument("--batch-g", type=int, help="fakes per G step")
    p.add_argument(
        "--lr-decay", action=argparse.BooleanOptionalAction,
        help="decay alpha linearly to 0 over --steps (--no-lr-decay: keep it constant)",
    )  # fmt: skip
    p.add_argument("--ema", type=float, help="EMA decay of G (0: off)")
    p.add_argument(
        "--dequantize", action=argparse.BooleanOptionalAction,
        help="real images as x/128 - 1 + U(0, 1/128), as the official ResNet code",
    )  # fmt: skip
    p.add_argument(
        "--slim", type=int, default=1, choices=[1, 2, 4, 8, 16, 32, 64],
        help="divide channel counts (1: paper)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda, else mps, else cpu")
    p.add_argument("--no-bf16", action="store_true", help="fp32 instead of bf16 autocast")
    p.add_argument(
        "--compile", choices=["auto", "none", "default", "reduce-overhead"], default="auto",
        help="torch.compile mode for G and D (auto: reduce-overhead on CUDA, none elsewhere)",
    )  # fmt: skip
    p.add_argument("--data", default=None, help="CIFAR-10 root (default $SNGAN_CIFAR10_DIR)")
    p.add_argument("--download", action="store_true", help="download data/weights if missing")
    p.add_argument("--inception-weights", default=None)
    p.add_argument(
        "--out", default=None,
        help="default runs/cifar10/{recipe}_{loss}_{norm} (dry runs: dry_{recipe}_...)",
    )  # fmt: skip
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--ckpt-every", type=int, default=5000)
    p.add_argument("--sample-every", type=int, default=5000)
    p.add_argument("--eval-fake", type=int, default=50_000, help="generated images for IS/FID")
    p.add_argument("--eval-real", type=int, default=50_000, help="training images for FID")
    p.add_argument("--no-eval", action="store_true", help="no IS/FID (no Inception weights needed)")
    p.add_argument(
        "--stand-in", action="store_true",
        help="score with a stand-in network instead of Inception (its scores mean nothing)",
    )  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true",
        help="tiny CPU run on a fixture in CIFAR-10's format, stand-in extractor",
    )  # fmt: skip
    p.add_argument("--progress", action="store_true", help="tqdm bar even when not a terminal")
    args = p.parse_args(argv)
    apply_recipe(args)
    if args.dry_run:
        args.steps, args.slim = min(args.steps, 2), 8
        args.batch_d, args.batch_g = 8, 16
        args.log_every, args.ckpt_every, args.sample_every = 1, 1, 1
        args.eval_fake, args.eval_real = 100, 100
        args.stand_in, args.compile = True, "none"
        args.device = args.device or "cpu"
    if args.out is None:
        name = f"{'dry_' if args.dry_run else ''}{args.recipe}_{args.loss}_{args.norm}"
        args.out = str(ROOT / "runs" / "cifar10" / name)
    check_args(p, args)
    return args


def apply_recipe(args: argparse.Namespace) -> None:
    """Fill every flag the command line left out (None) from ``RECIPES[args.recipe]``;
    ``--setting X`` sets alpha, beta1, beta2 and n_dis from Table 1 unless given one by one."""
    recipe = RECIPES[args.recipe]
    setting = SETTINGS[args.setting] if args.setting else {}
    for key in RECIPE_FLAGS:
        if getattr(args, key) is None:
            setattr(args, key, setting.get(key, recipe[key]))


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, through ``p.error`` (exit 2), everything that would fail later in the run."""
    try:
        check_counts({name: getattr(args, name) for name in POSITIVE_FLAGS})
        check_optimizer(args.seed, args.ema, args.alpha, args.beta1, args.beta2)
        device = check_device(args.device)
        check_out(Path(args.out))
        check_step_memory(device, args.arch, args.slim, args.batch_d, args.batch_g)
        if not args.no_eval:
            check_eval_memory(args.eval_fake, args.eval_real, args.stand_in)
        if not (args.no_eval or args.stand_in or args.download):
            inception_weights(args.inception_weights, download=False)
    except RunError as err:
        p.error(str(err))


def check_counts(counts: dict[str, int]) -> None:
    """``RunError`` naming the first flag of ``counts`` (its name with ``_``) below 1."""
    for name, value in counts.items():
        if value < 1:
            raise RunError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def check_optimizer(seed: int, ema: float, alpha: float, beta1: float, beta2: float) -> None:
    """``RunError`` for a seed, EMA decay or Adam setting that ``build_run`` would refuse."""
    if not 0 <= seed <= MAX_SEED:
        raise RunError(f"--seed must be in 0..{MAX_SEED} (2**63 - 1), got {seed}")
    if not 0 <= ema < 1:
        raise RunError(f"--ema must be in [0, 1), got {ema}")
    if not 0 < alpha < math.inf or not 0 <= beta1 < 1 or not 0 <= beta2 < 1:
        raise RunError(
            f"--alpha must be finite and > 0 and --beta1, --beta2 in [0, 1), got {alpha}, "
            f"{beta1}, {beta2}"
        )


def check_device(name: str | None) -> torch.device:
    """The device ``--device name`` trains on (None: ``default_device()``); ``RunError`` for a
    name that is not cpu, cuda, cuda:N or mps, or a device that is not here."""
    if name is None:
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise RunError(f"--device must be cpu, cuda, cuda:N or mps, got {name!r}")
    problem = device_problem(device)
    if problem:
        raise RunError(f"--device {name}: {problem}")
    return device


def device_problem(device: torch.device) -> str | None:
    """Why ``device`` cannot be used here (with what to do), or None."""
    if device.type == "cuda" and not torch.cuda.is_available():
        return "PyTorch sees no CUDA GPU here; use --device cpu"
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        return f"there are {torch.cuda.device_count()} GPUs"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "MPS is not available here; use --device cpu"
    return None


def check_out(out: Path) -> None:
    """``RunError`` unless the folder ``out`` exists or can be made, and can be written."""
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; give a folder")
    parent = next(a for a in (out, *out.parents) if a.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RunError(f"--out {out}: cannot create or write a folder under {parent}")


def check_step_memory(
    device: torch.device, arch: str, slim: int, batch_d: int, batch_g: int
) -> None:
    """``RunError`` when one training step needs more memory than ``device`` has."""
    memory = memory_bytes(device)
    step_bytes = training_step_bytes(arch, slim, batch_d, batch_g)
    if memory is not None and step_bytes > memory:
        raise RunError(
            f"--batch-d {batch_d} / --batch-g {batch_g}: a training step needs at least "
            f"{step_bytes / 1e9:.1f} GB, more than the {memory / 1e9:.1f} GB of {device.type}; "
            "lower them"
        )


def check_eval_memory(eval_fake: int, eval_real: int, stand_in: bool) -> None:
    """``RunError`` for scoring sizes below 1, too small for the protocol, or too large for the
    memory here."""
    if eval_fake < 1 or eval_real < 1:
        raise RunError(f"--eval-fake and --eval-real must be >= 1, got {eval_fake}, {eval_real}")
    host = memory_bytes(torch.device("cpu"))
    per_image = IMAGE_BYTES + (0 if stand_in else INCEPTION_BYTES)
    eval_bytes = per_image * (eval_fake + min(eval_real, CIFAR10_TRAIN_IMAGES))
    if host is not None and eval_bytes > host:
        raise RunError(
            f"--eval-fake {eval_fake}: scoring them needs at least {eval_bytes / 1e9:.1f} GB, "
            f"more than the {host / 1e9:.1f} GB of memory here; lower --eval-fake (the paper's "
            "protocol uses 50000) or add --no-eval"
        )
    try:
        inception.check_eval_sizes(eval_fake, eval_real, **eval_sizes(eval_fake, eval_real))
    except ValueError as err:
        raise RunError(
            f"--eval-fake {eval_fake} / --eval-real {eval_real} too small: {err}"
        ) from None


def inception_weights(path: str | None, download: bool) -> Path:
    """The Inception weights file for IS/FID (``--inception-weights``, else the environment or
    torch hub's cache; fetched when ``download``), checked; ``RunError`` with what to do."""
    try:
        return inception.get_inception_weights(path, download=download)
    except (inception.InceptionWeightsUnavailable, inception.InceptionWeightsInvalid) as err:
        raise RunError(
            f"{str(getattr(err, 'problem', err)).rstrip('.')}. {WEIGHTS_ADVICE}"
        ) from None


def memory_bytes(device: torch.device) -> int | None:
    """Total memory of ``device`` (the host's for cpu and mps), None where it is unknown."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        return None


def training_step_bytes(arch: str, slim: int, batch_d: int, batch_g: int) -> int:
    """A lower bound of the memory one training step takes: the outputs of every convolution
    and linear layer, which autograd keeps for the backward pass, at 2 bytes a number (bf16),
    for ``2 * batch_d`` images through D (real and fake) or ``batch_g`` through G and D."""
    net_G, net_D = build_models(arch, slim)
    sizes: list[int] = []  # numbers in each layer output, for one image
    for net in (net_G, net_D):
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.register_forward_hook(lambda m, inputs, output: sizes.append(output.numel()))
    with torch.no_grad():
        fake = net_G.eval()(torch.zeros(1, Z_DIM))
        per_G = sum(sizes)
        net_D(fake)
        per_D = sum(sizes) - per_G
    return 2 * max(2 * batch_d * per_D, batch_g * (per_G + per_D))


def run_config(args: argparse.Namespace, data: dict) -> dict:
    """Every flag of the run and the fingerprint of its ``data`` (``cifar.fingerprint``):
    stored in each checkpoint, compared on resume."""
    return dict(vars(args)) | {"data_fingerprint": data}


def config_changes(saved: dict, now: dict) -> list[str]:
    """The flags that differ between a checkpoint's configuration and this command's, as
    ``--loss ns (checkpoint: hinge)``; flags in ``MAY_CHANGE_ON_RESUME`` may differ, and so
    may ``--steps`` when the learning rate does not decay (it decays to 0 over ``--steps``).
    Other data than the checkpoint's is named as ``--data`` with what differs."""
    free = MAY_CHANGE_ON_RESUME | (set() if now.get("lr_decay") else {"steps"})
    return [
        data_change(saved[key], now[key], now.get("data"))
        if key == "data_fingerprint"
        else f"--{key.replace('_', '-')} {now[key]} (checkpoint: {saved[key]})"
        for key in sorted(set(saved) & set(now) - free)
        if saved[key] != now[key]
    ]


def data_change(saved: dict, now: dict, data: str | None) -> str:
    """``--data DIR (other data than the checkpoint's: ...)``, saying which file differs."""
    where = data or f"${cifar.ENV_DIR}"
    old, new = saved.get("files", {}), now.get("files", {})
    if set(old) != set(new):
        what = f"files {sorted(new)}, checkpoint {sorted(old)}"
    else:
        sized = [name for name in new if old[name] != new[name]]
        what = (
            f"{sized[0]} has {new[sized[0]]} bytes, checkpoint {old[sized[0]]}"
            if sized
            else f"{next(iter(new), 'the first batch')} holds other images"
        )
    return f"--data {where} (other data than the checkpoint's: {what})"


def lock_folder(out: Path):
    """Hold an exclusive lock on ``out/.lock`` for as long as the returned file stays open
    (the kernel drops it when the process ends, so a crashed run leaves no stale lock).
    ``RunError`` naming the holder's PID when another run holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return None
    path = out / ".lock"
    try:  # O_NOFOLLOW: a symbolic link planted there is refused, never written through
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.EISDIR):  # a link, a folder: refused below
            raise
        fd = None
    info = os.fstat(fd) if fd is not None else None
    if info is None or not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        if fd is not None:
            os.close(fd)
        raise RunError(
            f"{path} is a link or not a plain file, and a run writes only inside its folder; "
            "remove it, or pass another --out"
        )
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise RunError(
            f"another run (PID {holder}) is using {out}; wait for it to end, or pass another --out"
        ) from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def eval_sizes(n_fake: int, n_real: int) -> dict[str, int]:
    """The paper's protocol as we read it (IS: 10 sets of 5000; FID: 10000 real vs 5000 fake; the
    paper does not say which of its "10000 and 5000 samples" is real), scaled down
    in proportion when fewer images are asked for (dry runs)."""
    scale = min(1.0, n_fake / 50_000, n_real / 50_000)
    return {
        "is_size": max(2, int(5000 * scale)),
        "is_runs": 10,
        "fid_real": max(2, int(10_000 * scale)),
        "fid_fake": max(2, int(5000 * scale)),
        "all_splits": 10,
    }


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """Save float images in [-1, 1] as one PNG grid (written atomically, see ``write_json``)."""
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    save_image(images.float().cpu(), buffer, format="png", nrow=nrow, normalize=True,
               value_range=(-1, 1))  # fmt: skip
    checkpoint.write_atomic(path, buffer.getbuffer())


def write_json(path: Path, value: object, indent: int | None = None) -> None:
    """Write ``value`` as JSON to ``path`` through a temporary file renamed over it: a crash
    leaves the old file whole, and a symbolic link under that name is replaced, not followed."""
    checkpoint.write_atomic(path, json.dumps(value, indent=indent).encode())


def own_folder(path: Path) -> Path:
    """Make the folder ``path`` inside the run's folder, or refuse (``RunError``) when a file or
    a symbolic link is in its place: a run writes only inside its own folder."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        what = "a symbolic link" if path.is_symlink() else "a file"
        raise RunError(f"{path} is {what}, not a folder; move it away, or pass another --out")
    path.mkdir(exist_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = lock_folder(out)
    except OSError as err:
        print(f"error: cannot use --out {out}: {err.strerror}; pass another --out", file=sys.stderr)
        return 2
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    try:
        return run(args, out)
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        newest = saved_checkpoints(out)
        where = (
            f"the newest checkpoint is {newest[-1]} (step {checkpoint.step_of(newest[-1])} of "
            f"{args.steps}): run the same command to resume from it"
            if newest
            else "no checkpoint was written yet: the same command starts the run again"
        )
        print(f"stopped (Ctrl-C); {where}", file=sys.stderr)
        return 130
    except OSError as err:
        newest = saved_checkpoints(out)
        resume = f"; the same command resumes from {newest[-1]}" if newest else ""
        problem = f"error: could not write {err.filename or out}: {err.strerror or err}"
        if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):  # disk, quota
            sizes = [path.stat().st_size for path in newest]
            size = f"{max(sizes) / 1e6:.0f}" if sizes else "?"
            advice = (
                f"Free space on that disk (a checkpoint of this run is about {size} MB) or "
                "pass --out on another disk"
            )
        else:
            advice = "Fix that, or pass another --out"
        print(f"{problem}. {advice}{resume}.", file=sys.stderr)
        return 4
    finally:
        if lock is not None:
            lock.close()


def saved_checkpoints(out: Path) -> list[Path]:
    """The checkpoint files in ``out`` (not a folder or FIFO under such a name), oldest first."""
    return [path for path in checkpoint.list_checkpoints(out) if path.is_file()]


def resume_state(out: Path, config: dict, steps: int, ckpt_every: int) -> tuple[Path, dict] | None:
    """The newest checkpoint in ``out`` that loads, as ``(path, state)``, checked against this
    command's ``config`` (``run_config``); None for a fresh run. Removes temporary files of
    interrupted writes first; refuses a folder where this run would write a checkpoint (one
    every ``ckpt_every`` steps and at ``steps``)."""
    stale = checkpoint.remove_stale_temp_files(out)
    if stale:
        print(f"removed {len(stale)} temporary file(s) of interrupted checkpoint writes")
    try:
        found = checkpoint.load_newest(out, lambda m: print(f"warning: {m}", file=sys.stderr))
    except checkpoint.CheckpointError as err:
        raise RunError(
            f"{err}. Move the ckpt_*.pt files away, or pass another --out, to start a fresh run"
        ) from None
    start = 0
    if found is not None:
        path, state = found
        try:
            checkpoint.check_state(state)
            saved = state["extra"].get("config")
            if not isinstance(saved, dict):
                raise checkpoint.CheckpointError("it stores no run configuration")
        except checkpoint.CheckpointError as err:
            raise RunError(
                f"{path} is not a checkpoint of this script: {err}. Move it away, or pass "
                "another --out, to start a fresh run"
            ) from None
        if state["step"] > steps:
            raise RunError(
                f"{path} is at step {state['step']}, beyond --steps {steps}; pass --steps "
                f"{state['step']} or more to resume it, or another --out to start a fresh run"
            )
        changes = config_changes(saved, config)
        if changes:
            raise RunError(
                f"{out} holds a run with other settings: {', '.join(changes)}. Repeat the "
                "original command to resume it, or pass another --out to start a fresh run."
            )
        start = state["step"]
    for path in checkpoint.list_checkpoints(out):
        step = checkpoint.step_of(path)
        will_write = step == steps or step % ckpt_every == 0
        if path.is_dir() and not path.is_symlink() and start < step <= steps and will_write:
            raise RunError(
                f"{path} is a folder where this run will write its step-{step} checkpoint; "
                "move it away, or pass another --out"
            )
    return found


def run(args: argparse.Namespace, out: Path) -> int:
    """Train the run ``args`` describes in ``out`` (locked by ``main``), resuming from its newest
    checkpoint, then score it; returns the exit code (0, or 3 for NaN or inf in training)."""
    device = torch.device(args.device) if args.device else default_device()
    samples = own_folder(out / "samples")
    images, data = load_data(dry_run_data(out) if args.dry_run else args.data, args.download)
    config = run_config(args, data)
    found = resume_state(out, config, args.steps, args.ckpt_every)
    weights = None  # resolved (and downloaded) before training; None: the stand-in or no scores
    if not (args.no_eval or args.stand_in):
        weights = inception_weights(args.inception_weights, args.download)
    if not args.no_eval:
        check_enough_images(images.shape[0], args.eval_fake, args.eval_real)
    parts = start_run(recipe_of(args), images, device, args.seed, args.slim)
    start, history = restore(parts, found)
    source = {"recipe_source": RECIPES[args.recipe]["source"], "device_name": device_name(device)}
    write_json(out / "config.json", config | source, indent=2)
    saver = Checkpointer(
        out, parts.modules, parts.optimizers, parts.generators, keep=2,
        extra={"arch": args.arch, "config": config},
    )  # fmt: skip
    sample_grid = grid_writer(parts, samples, args.seed)
    if start == 0:
        sample_grid(0)
    t0 = time.perf_counter()
    try:
        rows = train_run(args, parts, start, history, saver, sample_grid, out / "history.json")
    except FloatingPointError as err:
        print(
            f"error: {err}. Training stopped; the last good checkpoint is {saver.latest()}.",
            file=sys.stderr,
        )
        return 3
    seconds = time.perf_counter() - t0
    history = history + rows
    write_json(out / "history.json", history)
    rate = (args.steps - start) / seconds if args.steps > start else float("nan")
    print(f"trained {args.steps - start} generator updates in {seconds:.1f} s ({rate:.2f}/s)")

    row = paper_row(args.recipe, args.arch, args.loss, args.norm)
    results = {
        "recipe": args.recipe, "arch": args.arch, "loss": args.loss, "norm": args.norm,
        "steps": args.steps,
        "device": device_name(device), "train_seconds": seconds, "updates_per_second": rate,
        "paper_row": row, "paper": metrics.PAPER_TABLE2.get(row or ""),
        "extractor": None, "scores": None, "torch_fidelity": None, "note": "",
    }  # fmt: skip
    if not args.no_eval:
        results.update(
            evaluate_run(parts.modules, images, device, weights,
                         n_fake=args.eval_fake, n_real=args.eval_real, seed=args.seed)
        )  # fmt: skip
    write_json(out / "results.json", results, indent=2)
    print(json.dumps({k: results[k] for k in ("extractor", "scores", "note")}, indent=2))
    return 0


def dry_run_data(out: Path) -> Path:
    """Write the dry run's small stand-in in CIFAR-10's format into ``out/fixture``; its root."""
    root = out / "fixture"
    own_folder(own_folder(root) / cifar.BASE_FOLDER)
    cifar.write_cifar10_fixture(root, n_per_batch=20, n_test=10)
    return root


def load_data(root: str | Path | None, download: bool) -> tuple[torch.Tensor, dict]:
    """The training images (uint8) under ``root`` (None: ``$SNGAN_CIFAR10_DIR``) and their
    fingerprint (``cifar.fingerprint``); ``RunError`` saying where to find them."""
    try:
        images, _ = cifar.load_cifar10(root, download=download)
        return images, cifar.fingerprint(root)
    except (cifar.CIFAR10NotFoundError, cifar.CIFAR10CorruptError) as err:
        raise RunError(
            f"{err.problem}. Pass --data DIR (the folder that holds {cifar.BASE_FOLDER}) or set "
            f"${cifar.ENV_DIR}; add --download to fetch CIFAR-10 when online; or try the script "
            "on a small stand-in with --dry-run."
        ) from None


def check_enough_images(n_images: int, eval_fake: int, eval_real: int) -> None:
    """``RunError`` when ``n_images`` training images are too few for IS/FID at these sizes."""
    n_real = min(eval_real, n_images)
    try:
        inception.check_eval_sizes(eval_fake, n_real, **eval_sizes(eval_fake, n_real))
    except ValueError as err:
        raise RunError(
            f"the data has {n_images} images, too few for IS/FID ({err}); "
            "lower --eval-real and --eval-fake, or add --no-eval"
        ) from None


def recipe_of(args: argparse.Namespace) -> dict[str, object]:
    """The recipe this command trains: its ``--recipe`` row with the flags given applied."""
    return {key: getattr(args, key) for key in RECIPE_FLAGS}


def start_run(
    recipe: dict, images: torch.Tensor, device: torch.device, seed: int, slim: int
) -> Run:
    """``build_run``, fast (fused Adam, channels-last) on CUDA, where TF32 is allowed too
    (for training only: evaluation turns it off)."""
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return build_run(recipe, images, seed=seed, device=device, fast=cuda, slim=slim)


def restore(parts: Run, found: tuple[Path, dict] | None) -> tuple[int, list[dict]]:
    """Load ``found`` (``resume_state``'s checkpoint) into ``parts``: ``(step, history)``,
    ``(0, [])`` for a fresh run; ``RunError`` when the checkpoint does not fit."""
    if found is None:
        return 0, []
    path, state = found
    try:
        start = checkpoint.restore(state, parts.modules, parts.optimizers, parts.generators)
    except checkpoint.CheckpointError as err:
        raise RunError(
            f"{path} does not fit this run: {err}. Move it away, or pass another --out, "
            "to start a fresh run"
        ) from None
    print(f"resuming from step {start} ({path})")
    return start, list(state["history"])


def grid_writer(parts: Run, samples: Path, seed: int) -> Callable[[int], None]:
    """``write(step)``: the fixed-z grid, as ``samples/step_XXXXXXXX.png``, of the EMA (after
    recomputing its own BN statistics with a generator of its own, so the training RNG stays
    intact) when there is one, else of G."""
    net = parts.ema_G if parts.ema_G is not None else parts.net_G

    def write(step: int) -> None:
        if parts.ema_G is not None:
            recompute_bn_stats(parts.ema_G, z_dim=Z_DIM, generator=bn_generator(parts.device, seed))
        with eval_mode(net), torch.no_grad():
            save_grid(net(parts.fixed_z.to(parts.device)), samples / f"step_{step:08d}.png")

    return write


def train_run(
    args: argparse.Namespace, parts: Run, start: int, history: list[dict], saver: Checkpointer,
    sample_grid: Callable[[int], None], history_file: Path,
) -> list[dict]:  # fmt: skip
    """Lesson 07's ``train`` from step ``start`` to ``--steps`` with the training flags of
    ``args`` (compiled on CUDA unless ``--compile none``, bf16 unless ``--no-bf16``), a sample
    grid every ``--sample-every`` steps and a checkpoint and ``history_file`` every
    ``--ckpt-every`` steps and at the end; returns the new rows of the history."""

    def callback(step: int, rows: list[dict[str, float]]) -> None:
        if step % args.sample_every == 0 or step == args.steps:
            sample_grid(step)
        if step % args.ckpt_every == 0 or step == args.steps:
            saver(step, history + rows)
            write_json(history_file, history + rows)

    cuda = parts.device.type == "cuda"
    mode = args.compile if args.compile != "auto" else ("reduce-overhead" if cuda else "none")
    run_G, run_D = parts.net_G, parts.net_D
    if mode != "none":
        run_G, run_D = torch.compile(run_G, mode=mode), torch.compile(run_D, mode=mode)
    sample_real = parts.sampler
    if args.dequantize:  # noise drawn by the sampler's own generator: resumes stay exact
        sample_real = lambda n: dequantize(parts.sampler(n), parts.sampler.generator)  # noqa: E731
    return train(
        run_G, run_D, parts.opt_G, parts.opt_D, sample_real, args.steps,
        z_dim=Z_DIM, generator=parts.gen_z, loss=args.loss, n_dis=args.n_dis,
        batch_size_D=args.batch_d, batch_size_G=args.batch_g,
        autocast_dtype=torch.bfloat16 if cuda and not args.no_bf16 else None,
        ema_G=parts.ema_G, ema_decay=args.ema, lr_decay=args.lr_decay, start_step=start,
        log_every=args.log_every, callback=callback,
        callback_every=math.gcd(args.ckpt_every, args.sample_every),
        progress=args.progress or sys.stderr.isatty(),
    )  # fmt: skip


def paper_row(recipe: str, arch: str, loss: str, norm: str) -> str | None:
    """The row of the paper's Table 2 that this run is the model of (None for a recipe that is
    not the paper's, or a combination the table does not have)."""
    return None if recipe == "fast-cnn" else PAPER_ROW.get((arch, loss, norm))


def dequantize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Real images ``x = u / 127.5 - 1`` (u in 0..255) -> ``u / 128 - 1 + U(0, 1/128)``: the
    official ResNet pipeline's continuous version of the 256-level data, in [-1, 1)."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + 1) * (127.5 / 128) - 1 + noise / 128


def bn_generator(device: torch.device, seed: int) -> torch.Generator:
    """The generator of the z used to recompute the EMA's BN statistics (fixed per run)."""
    return torch.Generator(device=device).manual_seed(seed + 5)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def evaluate_run(
    modules: dict,
    images: torch.Tensor,
    device: torch.device,
    weights: Path | None,
    *,
    n_fake: int,
    n_real: int,
    seed: int,
) -> dict:
    """IS and FID of ``n_fake`` samples of G (and of its EMA) against at most ``n_real``
    training images, with the Inception ``weights`` (checked at start-up), or the stand-in
    extractor when ``weights`` is None; the run's ``seed`` draws z."""
    if weights is None:
        extractor, name = inception.StandInExtractor().to(device), "stand-in (not Inception)"
    else:
        extractor = inception.inception_extractor(weights, device)
        name = "inception-v3-compat (torch-fidelity, TF 2015-12-05 weights)"
    n_real = min(n_real, images.shape[0])
    real = images[torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))]
    real = real[:n_real]
    sizes = eval_sizes(n_fake, n_real)
    scores, tf_scores = {}, None
    for key in ("net_G", "ema_G"):
        if key not in modules:
            continue
        if key == "ema_G":  # its own BN statistics, not those copied from net_G
            recompute_bn_stats(modules[key], z_dim=Z_DIM, generator=bn_generator(device, seed))
        gen = torch.Generator(device=device).manual_seed(seed + 4)
        fake = inception.generate_images(modules[key], n_fake, z_dim=Z_DIM, generator=gen)
        scores[key] = inception.evaluate(fake, real, extractor, **sizes)
        if weights is not None and key == "net_G":
            tf_scores = inception.torch_fidelity_metrics(fake, real, weights, device=device)
    return {"extractor": name, "scores": scores, "torch_fidelity": tf_scores, "sizes": sizes}


if __name__ == "__main__":
    sys.exit(main())
