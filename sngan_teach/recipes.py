"""Named training recipes for CIFAR-10, each with the source of every value, and the published
numbers we compare with, each with the measurement it matches.

Introduced in lesson 09; ``scripts/train_cifar10.py --recipe NAME`` starts from a row of
:data:`RECIPES` (any flag given on the command line overrides the row).

The paper (Miyato et al., ICLR 2018) states the optimizer settings (Table 1; App. B.2 for the
ResNet), the 100k generator updates (Sec. 4.1) and z ~ N(0, I) in R^128. It does not state the
batch sizes, nor which setting of Table 1 its Table 2 standard-CNN rows used. Where a value is
not in the paper, the row names the authors' code it comes from:

=============  =====================================================================================
recipe         source
=============  =====================================================================================
paper-cnn      standard CNN (Table 3); Adam of setting C in Table 1 (alpha 2e-4, beta1 0.5, beta2
               0.999, n_dis 1); 100k G updates (Sec. 4.1). Batches 64 / 64, constant learning rate,
               no EMA and the standard loss: what the authors' ``pfnet-research/chainer-gan-lib``
               runs for SN-DCGAN (README.md and train.py: ``--n_dis 1 --adam_beta1 0.5
               --adam_beta2 0.999``, batchsize 64, max_iter 100000).
paper-resnet   ResNet (Table 4); alpha 2e-4, beta1 0, beta2 0.9, n_dis 5 (App. B.2); hinge loss
               (Table 2); batches 64 real / 128 fake, linear decay to 0, 50k G updates, no EMA, from
               ``pfnet-research/sngan_projection`` configs/sn_cifar10_unconditional.yml and
               updater.py (the paper's Sec. 4.1 says 100k: pass ``--steps 100000``).
fast-cnn       NOT the paper's: the standard CNN trained with the ResNet optimizer of App. B.2
               (alpha 2e-4, beta1 0, beta2 0.9, n_dis 5), batches 64 / 128, linear decay to 0 and
               an EMA of G (decay 0.9999); hinge loss, 100k G updates.
=============  =====================================================================================

``dequantize`` (off in every row) adds U(0, 1/128) noise to each real image, as the official
ResNet data pipeline does (sngan_projection's CIFAR-10 dataset: ``x / 128 - 1 + U(0, 1/128)``).

:func:`build_run` makes the objects one run of a recipe starts from (networks, EMA, Adam, the
real-image sampler and the z): the training script, ``benchmarks/bench_cifar.py`` (so the GPU
check's fast-vs-eager parity), ``experiments/cifar_small_run.py`` and appendix A4 all use it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from sngan_teach._util import check_fraction, check_int, check_number
from sngan_teach.cifar import DeviceSampler
from sngan_teach.methods import add_wn
from sngan_teach.models import Z_DIM, build_models
from sngan_teach.runtime import MAX_SEED
from sngan_teach.sn import add_sn

# Every value of a recipe, with its provenance in ``source``. Keys are the training script's
# argument names (``--batch-d`` is ``batch_d``).
RECIPES: dict[str, dict[str, object]] = {
    "paper-cnn": {
        "arch": "standard",
        "loss": "ns",
        "norm": "sn",
        "alpha": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "n_dis": 1,
        "batch_d": 64,
        "batch_g": 64,
        "lr_decay": False,
        "ema": 0.0,
        "steps": 100_000,
        "dequantize": False,
        "source": (
            "optimizer: paper Table 1, setting C; steps: paper Sec. 4.1; batches, constant "
            "learning rate, no EMA, standard loss: pfnet-research/chainer-gan-lib README.md "
            "and train.py (SN-DCGAN)"
        ),
    },
    "paper-resnet": {
        "arch": "resnet",
        "loss": "hinge",
        "norm": "sn",
        "alpha": 2e-4,
        "beta1": 0.0,
        "beta2": 0.9,
        "n_dis": 5,
        "batch_d": 64,
        "batch_g": 128,
        "lr_decay": True,
        "ema": 0.0,
        "steps": 50_000,
        "dequantize": False,
        "source": (
            "optimizer and n_dis: paper App. B.2; hinge loss: paper Table 2; batches, linear "
            "decay, 50k steps: pfnet-research/sngan_projection "
            "configs/sn_cifar10_unconditional.yml and updater.py (paper Sec. 4.1: 100k)"
        ),
    },
}
# fast-cnn is paper-resnet's training (optimizer, batches, decay, loss) on the standard CNN, with
# an EMA of G and the paper's 100k updates: the same row but for these values.
RECIPES["fast-cnn"] = RECIPES["paper-resnet"] | {
    "arch": "standard",
    "ema": 0.9999,
    "steps": 100_000,
    "source": (
        "not the paper's: the ResNet optimizer of paper App. B.2 on the standard CNN, "
        "with linear decay and an EMA of G"
    ),
}

# Published CIFAR-10 numbers we compare with, and the measurement each one matches. ``fid``
# gives the sample sizes "n_real/n_fake"; "comparable" names the recipe whose run is scored
# the same way, or None with the reason in "note".
PUBLISHED: list[dict[str, object]] = [
    {
        "source": "paper Table 2",
        "model": "standard CNN, SN, standard loss",
        "is": 7.42,
        "fid": 29.3,
        "protocol": "IS 10 x 5000; FID '10000 and 5000 samples'",
        "comparable": "paper-cnn",
        "note": "which set is real and which generated is not said (read as 10k real / 5k fake)",
    },
    {
        "source": "paper Table 2",
        "model": "standard CNN, SN, hinge",
        "is": 7.58,
        "fid": 25.5,
        "protocol": "IS 10 x 5000; FID '10000 and 5000 samples'",
        "comparable": "paper-cnn --loss hinge",
        "note": "setting of Table 1 not stated",
    },
    {
        "source": "paper Table 2",
        "model": "ResNet, SN, hinge",
        "is": 8.22,
        "fid": 21.7,
        "protocol": "IS 10 x 5000; FID '10000 and 5000 samples'; mean over seeds",
        "comparable": "paper-resnet --steps 100000",
        "note": "the official config trains 50k updates; the paper says 100k",
    },
    {
        "source": "pfnet-research/chainer-gan-lib README",
        "model": "SN-DCGAN (standard CNN, D doubled at stride 2, slope 0.2)",
        "is": 7.5,
        "fid": 23.6,
        "protocol": "IS 10 x 5000; FID 50k train / 10k generated",
        "comparable": None,
        "note": "recipe as paper-cnn, but a wider D (see the exercise) and uniform z",
    },
    {
        "source": "kwotsin/mimicry README",
        "model": "ResNet SNGAN, 100k updates",
        "is": 7.97,
        "fid": 16.77,
        "protocol": "IS 50k in 10 splits; FID 50k real / 50k fake",
        "comparable": "paper-resnet --steps 100000",
        "note": "compare with our 50k/50k FID",
    },
    {
        "source": "kwotsin/mimicry README (reproducibility table)",
        "model": "ResNet SNGAN, 100k updates",
        "is": None,
        "fid": 23.90,
        "protocol": "FID 10k real / 5k fake",
        "comparable": "paper-resnet --steps 100000",
        "note": "compare with our 10k/5k FID and the paper's 21.7",
    },
    {
        "source": "w86763777/pytorch-gan-collections Readme",
        "model": "SNGAN CNN",
        "is": 7.84,
        "fid": 17.81,
        "protocol": "IS 50k; FID 50k generated vs the training-set statistics",
        "comparable": None,
        "note": (
            "not comparable with paper-cnn: D doubled at stride 2, z of size 100, batches "
            "128 / 256, beta1 0, beta2 0.9, linear decay"
        ),
    },
]


def get_recipe(name: str) -> dict[str, object]:
    """A copy of the row ``name`` of :data:`RECIPES` (lesson 09).

    Raises ``ValueError`` naming the known recipes when ``name`` is not one of them.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return dict(RECIPES[name])


# The normalization of D that a recipe's "norm" names.
NORMS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "sn": add_sn,
    "wn": add_wn,
    "none": lambda net: net,
}
RUN_KEYS = ("arch", "norm", "alpha", "beta1", "beta2", "ema")  # what build_run reads


@dataclass
class Run:
    """The objects one CIFAR-10 training run starts from, made by :func:`build_run`."""

    recipe: dict[str, object]  # a copy of the recipe it was built from
    device: torch.device  # where the networks, the images and gen_z live
    net_G: nn.Module
    net_D: nn.Module  # normalized as recipe["norm"] says
    ema_G: nn.Module | None  # a copy of net_G when recipe["ema"] > 0, else None
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    sampler: DeviceSampler  # the real images, batches drawn on the device
    gen_z: torch.Generator  # the z of training, on the device
    fixed_z: torch.Tensor  # z of the sample grids, on the CPU

    @property
    def modules(self) -> dict[str, nn.Module]:
        """``net_G``, ``net_D`` and ``ema_G`` (when there is one), as a checkpoint names them."""
        ema = {"ema_G": self.ema_G} if self.ema_G is not None else {}
        return {"net_G": self.net_G, "net_D": self.net_D} | ema

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``opt_G`` and ``opt_D``, as a checkpoint names them."""
        return {"opt_G": self.opt_G, "opt_D": self.opt_D}

    @property
    def generators(self) -> dict[str, torch.Generator]:
        """``z`` (``gen_z``) and ``real`` (the sampler's), as a checkpoint names them."""
        return {"z": self.gen_z, "real": self.sampler.generator}


def build_run(
    recipe: Mapping[str, object],
    images: torch.Tensor,
    *,
    seed: int,
    device: str | torch.device,
    fast: bool,
    slim: int = 1,
    n_fixed: int = 64,
) -> Run:
    """The networks, EMA, optimizers, real-image sampler and z of one run of ``recipe`` (a row
    of :data:`RECIPES`, or one with values changed), always made in the same order from
    ``seed``, so that the same arguments give the same run everywhere (lesson 09, appendix A4).

    It reads ``recipe["arch"]``, ``["norm"]`` (``"sn"``, ``"wn"`` or ``"none"``: the
    normalization of D), ``["alpha"]``, ``["beta1"]``, ``["beta2"]`` (Adam) and ``["ema"]``, and:

    1. seeds the global RNG with ``torch.manual_seed(seed)`` (it draws the initial weights and
       the SN vectors ``u``), builds ``build_models(arch, slim)`` and normalizes D;
    2. moves both networks to ``device``, in channels-last memory format when ``fast``;
    3. copies G into ``ema_G`` when ``ema > 0`` (else None);
    4. makes Adam for G and for D (``lr=alpha``, ``betas=(beta1, beta2)``), fused when ``fast``,
       else torch's default kind (for-each on CUDA, a loop over tensors on the CPU);
    5. puts the uint8 ``images`` on ``device`` in a ``DeviceSampler`` seeded ``seed + 1``
       (channels-last batches when ``fast``);
    6. seeds ``gen_z``, a generator on ``device``, with ``seed + 2``;
    7. draws ``fixed_z``, ``n_fixed`` z on the CPU, with a generator seeded ``seed + 3``.

    ``fast`` is meant for CUDA: the callers pass ``device.type == "cuda"``. Raises
    ``TypeError`` for a ``recipe`` that is not a mapping, ``images`` that are not a uint8
    tensor, or a ``seed``, ``fast``, ``n_fixed`` or recipe value of the wrong type;
    ``ValueError`` naming the argument for a recipe without one of those keys, a value out of
    range (``alpha`` > 0, ``beta1``, ``beta2`` and ``ema`` in [0, 1), ``seed`` in 0 ..
    2**63 - 1, ``n_fixed`` >= 1), an unknown ``arch``, ``norm``, ``slim`` or ``device``.
    """
    check_run_recipe(recipe)
    device = run_device(device)
    if not isinstance(fast, bool):
        raise TypeError(f"fast must be a bool, got {type(fast).__name__} {fast!r}")
    if check_int("seed", seed, 0) > MAX_SEED:
        raise ValueError(f"seed must be in 0..{MAX_SEED} (2**63 - 1), got {seed}")
    check_int("n_fixed", n_fixed, 1)
    torch.manual_seed(seed)
    net_G, net_D = build_models(recipe["arch"], slim)
    NORMS[recipe["norm"]](net_D)
    memory = torch.channels_last if fast else torch.contiguous_format
    net_G.to(device, memory_format=memory)
    net_D.to(device, memory_format=memory)
    lr, betas, fused = recipe["alpha"], (recipe["beta1"], recipe["beta2"]), fast or None
    return Run(
        recipe=dict(recipe),
        device=device,
        net_G=net_G,
        net_D=net_D,
        ema_G=copy.deepcopy(net_G) if recipe["ema"] > 0 else None,
        opt_G=torch.optim.Adam(net_G.parameters(), lr=lr, betas=betas, fused=fused),
        opt_D=torch.optim.Adam(net_D.parameters(), lr=lr, betas=betas, fused=fused),
        sampler=DeviceSampler(images, device, seed=seed + 1, channels_last=fast),
        gen_z=torch.Generator(device=device).manual_seed(seed + 2),
        fixed_z=torch.randn(n_fixed, Z_DIM, generator=torch.Generator().manual_seed(seed + 3)),
    )


def check_run_recipe(recipe: object) -> None:
    """``TypeError`` unless ``recipe`` is a mapping with numbers where :func:`build_run` needs
    them; ``ValueError`` naming the key that is missing, unknown or out of range."""
    if not isinstance(recipe, Mapping):
        raise TypeError(f"recipe must be a mapping (a row of RECIPES), got {type(recipe).__name__}")
    missing = [key for key in RUN_KEYS if key not in recipe]
    if missing:
        raise ValueError(f"recipe lacks {missing}: start from a row of RECIPES (get_recipe)")
    if recipe["norm"] not in NORMS:
        raise ValueError(f"recipe['norm'] must be one of {sorted(NORMS)}, got {recipe['norm']!r}")
    check_number("recipe['alpha']", recipe["alpha"])
    for key in ("beta1", "beta2", "ema"):
        check_fraction(f"recipe[{key!r}]", recipe[key])


def run_device(device: object) -> torch.device:
    """``device`` as a ``torch.device``: ``TypeError`` unless a str or a device, ``ValueError``
    for a name torch does not know."""
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device must be a name such as 'cpu' or 'cuda:0', got {device!r}"
        ) from None
