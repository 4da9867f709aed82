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
"""

from __future__ import annotations

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
