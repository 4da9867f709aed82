# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python (sngan-teach)
#     language: python
#     name: sngan-teach
# ---

# %% [markdown]
# # Train a CIFAR-10 SN-GAN on a GPU and score it with IS and FID
#
# Everything so far ran on 2-D toys. Here we do what the paper's Table 2 did: train the paper's
# networks on CIFAR-10 with spectral normalization on the discriminator, and score the generator
# with the Inception score (IS) and the Fréchet Inception distance (FID).
#
# ## What you will learn
#
# 1. Build the paper's standard CNN (Table 3) and 32×32 ResNet (Table 4), and check their sizes
#    against the tables by formula.
# 2. Keep CIFAR-10 on the device as `uint8` and feed it to lesson 07's trainer, unchanged, with
#    the speed-ups that matter on a GPU (bf16, channels-last, fused Adam, one D call, compile).
# 3. Checkpoint a run atomically, resume it to the same weights, and stop cleanly on a NaN.
# 4. Compute IS and FID by hand, then with torch-fidelity's Inception, and read them against
#    Table 2.
# 5. Compare the singular-value spectra of a trained SN discriminator and a WN one (Fig. 3).
#
# ## What you need
#
# - Lessons 04 (the SN layer, `add_sn`), 05 (spectra, weight normalization) and 07 (losses and
#   the training loop).
# - Time: about a minute in quick mode (CI); in full mode a few minutes on a GPU (the paper's
#   widths, 500 updates) or 10 to 20 minutes on a CPU (networks 4x narrower, 10 updates). The
#   training it runs inline is a demonstration. The real 100k-update runs need a GPU
#   and run from `scripts/train_cifar10.py` (section 6); this notebook reads what they wrote.
# - CIFAR-10 (python version) and the Inception weights for IS/FID if you want real numbers.
#   Without them the notebook writes a small stand-in in CIFAR-10's exact format and uses a
#   stand-in feature extractor, and says so.

# %%
import copy
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torchvision.utils import make_grid

from sngan_teach import cifar, metrics
from sngan_teach.checkpoint import Checkpointer, latest_step, load_checkpoint
from sngan_teach.gan import train
from sngan_teach.models import (
    ResNetDiscriminator,
    ResNetGenerator,
    StandardDiscriminator,
    StandardGenerator,
    build_models,
    count_parameters,
)
from sngan_teach.regularizers import add_wn
from sngan_teach.runtime import default_device, is_quick, pick, seed_all
from sngan_teach.sn import add_sn
from sngan_teach.spectra import effective_rank, layer_singular_values, plot_layer_spectra

# %%
seed = 0
gen = seed_all(seed)
device = default_device()
ROOT = Path.cwd().resolve().parent if Path.cwd().name == "notebooks" else Path.cwd().resolve()
WORK = ROOT / "runs" / "08_cifar10"  # everything this notebook writes (git-ignored)
RUNS = ROOT / "runs" / "cifar10"  # where scripts/train_cifar10.py writes the long runs

z_dim = 128  # d_z, z ~ N(0, I)
alpha, beta1, beta2 = 2e-4, 0.0, 0.9  # Adam (App. B.2 and the official config)
n_dis = pick(quick=2, full=5)  # D updates per G update (paper: 5)
gpu = device.type == "cuda"
slim = pick(quick=8, full=1 if gpu else 4)  # divide every channel count (1: the paper's widths)
batch_size_D = pick(quick=8, full=64)  # real images per D step (paper's code: 64)
batch_size_G = pick(quick=16, full=128)  # fakes per G step (paper's code: 128)
n_steps = pick(quick=2, full=500 if gpu else 10)  # G updates of the inline demo (paper: 100k)
n_fixture = pick(quick=20, full=200)  # images per batch file of the stand-in CIFAR-10
n_eval = pick(quick=100, full=2000 if gpu else 200)  # images for the IS/FID demo (paper: 50k)
print(f"device {device}, quick mode {is_quick()}, slim {slim}, steps {n_steps}")

# %% [markdown]
# ## 1. CIFAR-10 on the device
#
# CIFAR-10's "python version" is a folder `cifar-10-batches-py` with five training batches,
# a test batch and `batches.meta`: Python-2 pickles whose `b"data"` is a `uint8` array of
# N × 3072 (1024 red, then green, then blue values of a 32×32 image) and whose `b"labels"` is a
# list of ints. `sngan_teach.cifar.load_cifar10` reads it from the `root` argument, then
# `$SNGAN_CIFAR10_DIR`, then the repository's `data/cifar10`, and downloads only when asked
# (`download=True`, with a socket time-out). When it is missing, it says how to get it instead
# of hanging:

# %% tags=["raises-exception"]
cifar.load_cifar10(WORK / "no-such-folder")

# %%
try:
    cifar.load_cifar10(WORK / "no-such-folder")
except cifar.CIFAR10NotFoundError as err:
    message = str(err)
assert "download=True" in message and cifar.ENV_DIR in message and cifar.URL in message

# %% [markdown]
# We use the real set when it is there. Otherwise we write a small stand-in in exactly the same
# on-disk format (the keys are even pickled as Python-2 strings, so torchvision's own reader
# accepts the files once its md5 check is set aside; see `tests/test_cifar.py`) and load it with
# the same code.

# %%
try:
    images, labels = cifar.load_cifar10()
    data_source = "CIFAR-10"
except (cifar.CIFAR10NotFoundError, cifar.CIFAR10CorruptError) as err:
    print(f"CIFAR-10 not found ({type(err).__name__}); using a stand-in in its format.")
    fixture_root = cifar.write_cifar10_fixture(WORK / "fixture", n_per_batch=n_fixture, seed=seed)
    images, labels = cifar.load_cifar10(fixture_root)
    data_source = "stand-in"
print(f"{data_source}: {tuple(images.shape)} {images.dtype}, labels {tuple(labels.shape)}")

# %%
x_show = cifar.to_float(images[:32])
fig, ax = plt.subplots(figsize=(6, 3))
ax.imshow(make_grid(x_show, nrow=8, normalize=True, value_range=(-1, 1)).permute(1, 2, 0))
ax.set(title=f"First 32 training images ({data_source})", xlabel="image", ylabel="image")
ax.set_xticks([])
ax.set_yticks([])
plt.show()

# %% [markdown]
# The whole training set is 50 000 × 3 × 32 × 32 bytes = 154 MB: it fits on any GPU. So instead
# of a `DataLoader` that decodes, converts and copies a batch from the host at every step,
# `DeviceSampler` keeps the `uint8` images on the device and draws each batch there with a
# `torch.Generator` that lives on the device, converting to float in [−1, 1] on the fly
# (`x / 127.5 − 1`). Nothing crosses the host boundary during training.
#
# Claim: batches come out in [−1, 1], made of real images, and the same seed gives the same
# batches.

# %%
sampler = cifar.DeviceSampler(images, device, seed=seed)
batch = sampler(batch_size_D)
assert batch.device.type == device.type and batch.dtype == torch.float32
assert -1.0 <= batch.min() and batch.max() <= 1.0
as_bytes = cifar.to_uint8(batch[:4]).flatten(1).cpu()  # check four of them
assert all((as_bytes[i] == images.flatten(1)).all(1).any() for i in range(len(as_bytes)))
torch.testing.assert_close(cifar.DeviceSampler(images, device, seed=seed)(batch_size_D), batch)

# %% [markdown]
# ## 2. The paper's networks
#
# **Standard CNN (Table 3).** G: z → dense 4×4×512 → three 4×4 stride-2 deconvolutions with
# BN and ReLU (256, 128, 64 channels) → 3×3 conv to RGB → tanh. D: seven convolutions
# (3×3 64, 4×4/2 64, 3×3 128, 4×4/2 128, 3×3 256, 4×4/2 256, 3×3 512) with leaky ReLU of slope
# 0.1, then dense → 1.
#
# Two things in public code differ from the table, and they change the results you can expect:
# the authors' `chainer-gan-lib` discriminator doubles the channels at the stride-2 layers
# (64 → 128 → 128 → 256 → 256 → 512 → 512) and uses Chainer's default leaky-ReLU slope 0.2;
# its generator draws z from a uniform distribution. We follow the table (and put BN + ReLU after
# G's dense layer, as that code does; Table 3 is silent there).
#
# **ResNet (Table 4).** G: dense 4×4×256 → three up-sampling residual blocks of 256 channels →
# BN, ReLU, 3×3 conv, tanh. D: two down-sampling blocks and two plain blocks of 128 channels →
# ReLU → global *sum* pooling → dense 1. Block internals follow the official code (3×3 convs,
# nearest ×2 up-sampling, 2×2 average pooling, 1×1 shortcuts when the shape changes).
#
# A convolution with `c_in` inputs, `c_out` outputs and a k×k kernel has `c_out·c_in·k² + c_out`
# parameters; a BN layer has 2c (γ and β). Claim: the models have exactly the parameter counts
# the tables imply.


# %%
def conv_params(c_in, c_out, k, bias=True):
    return c_out * c_in * k * k + (c_out if bias else 0)


table3_G = (128 * 4 * 4 * 512 + 4 * 4 * 512) + 2 * 512
table3_G += sum(conv_params(a, b, 4) + 2 * b for a, b in [(512, 256), (256, 128), (128, 64)])
table3_G += conv_params(64, 3, 3)
table3_D = sum(
    conv_params(a, b, k)
    for a, b, k in [(3, 64, 3), (64, 64, 4), (64, 128, 3), (128, 128, 4)]
    + [(128, 256, 3), (256, 256, 4), (256, 512, 3)]
)
table3_D += 4 * 4 * 512 + 1
res_block_G = 2 * 256 + conv_params(256, 256, 3) + 2 * 256 + conv_params(256, 256, 3)
res_block_G += conv_params(256, 256, 1)
table4_G = (128 * 4 * 4 * 256 + 4 * 4 * 256) + 3 * res_block_G + 2 * 256 + conv_params(256, 3, 3)
table4_D = conv_params(3, 128, 3) + conv_params(128, 128, 3) + conv_params(3, 128, 1)
table4_D += 3 * conv_params(128, 128, 3) + conv_params(128, 128, 3) + conv_params(128, 128, 1)
table4_D += 2 * conv_params(128, 128, 3) + 128  # last plain block's 2nd conv, dense (no bias)

paper_nets = {
    "standard G": (StandardGenerator(), table3_G),
    "standard D": (StandardDiscriminator(), table3_D),
    "ResNet G": (ResNetGenerator(), table4_G),
    "ResNet D": (ResNetDiscriminator(), table4_D),
}
for name, (net, expected) in paper_nets.items():
    print(f"{name:<11} {count_parameters(net):>10,d} parameters (tables: {expected:,d})")

# %%
for name, (net, expected) in paper_nets.items():
    assert count_parameters(net) == expected, name

# %% [markdown]
# The models hold no normalization in D: spectral normalization is added afterwards with
# lesson 04's `add_sn(net_D)` (weight normalization with lesson 05's `add_wn`), so one
# architecture serves every method. `add_sn` starts each layer with 15 power iterations, and every
# training-mode forward pass adds one more, so the normalized weights W/σ̃(W) quickly have a
# spectral norm of 1 (σ̃ is the power-iteration estimate of σ).
#
# Claim: before `add_sn` the standard D's layers have spectral norms far from 1; right after it
# they are within 20 % of 1, and after 200 training-mode forward passes (no gradient step) every
# layer's largest singular value (of the reshaped d_out × (d_in·k·k) matrix) is within 2 % of 1.
# Images go in as (N, 3, 32, 32) and come out as one logit each.

# %%
net_D_check = build_models("standard", slim)[1]  # Table 3's D, channels / slim
before = {k: float(s[0]) for k, s in layer_singular_values(net_D_check).items()}
add_sn(net_D_check)
registered = {k: float(s[0]) for k, s in layer_singular_values(net_D_check).items()}
with torch.no_grad():
    for _ in range(200):  # each training-mode forward runs one power iteration per layer
        net_D_check(cifar.to_float(images[:2]))
after = {k: float(s[0]) for k, s in layer_singular_values(net_D_check).items()}
print("largest singular value per layer: before add_sn -> after it -> after 200 forwards")
for k in before:
    print(f"  {k}: {before[k]:.3f} -> {registered[k]:.3f} -> {after[k]:.4f}")

# %%
assert max(abs(s - 1) for s in before.values()) > 0.5
assert all(abs(s - 1) < 0.2 for s in registered.values()), registered
assert all(abs(s - 1) < 0.02 for s in after.values()), after
for arch in ("standard", "resnet"):
    g_small, d_small = build_models(arch, slim)
    x_fake = g_small(torch.randn(4, z_dim, generator=gen))
    assert x_fake.shape == (4, 3, 32, 32) and x_fake.abs().max() <= 1
    assert add_sn(d_small)(x_fake).shape == (4,)

# %% [markdown]
# ## 3. Lesson 07's trainer on CIFAR-10
#
# The training step is lesson 07's `sngan_teach.gan.train_step`, unchanged: `n_dis` updates of
# D, each on `batch_size_D` real images from `sample_real` and as many fakes, then one update of G
# on `batch_size_G` fakes; hinge loss by default
# (`loss_D = E[relu(1 − D(x))] + E[relu(1 + D(G(z)))]`, `loss_G = −E[D(G(z))]`); Adam with
# α = 2·10⁻⁴, β₁ = 0, β₂ = 0.9 (the ResNet runs of App. B.2 and the official config); the
# learning rate decays linearly to 0; an exponential moving average (EMA) of G's weights is kept
# on the side. The only new thing is `sample_real`: our `DeviceSampler`.
#
# In this notebook the networks are the paper's with every channel count divided by `slim`
# (same layers, fewer channels), so the demo runs on a CPU.


# %%
def make_run(arch, norm="sn", run_seed=seed):
    """Networks, optimizers, EMA and explicit generators for one training run."""
    torch.manual_seed(run_seed)
    net_G, net_D = build_models(arch, slim)
    (add_sn if norm == "sn" else add_wn)(net_D)
    net_G, net_D = net_G.to(device), net_D.to(device)
    opt_G = torch.optim.Adam(net_G.parameters(), lr=alpha, betas=(beta1, beta2))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=alpha, betas=(beta1, beta2))
    real = cifar.DeviceSampler(images, device, seed=run_seed + 1)
    z_gen = torch.Generator(device=device).manual_seed(run_seed + 2)
    return {
        "modules": {"net_G": net_G, "net_D": net_D, "ema_G": copy.deepcopy(net_G)},
        "optimizers": {"opt_G": opt_G, "opt_D": opt_D},
        "generators": {"z": z_gen, "real": real.generator},
        "sampler": real,
    }


def run_training(run, steps, start_step=0, callback=None, callback_every=0, loss="hinge"):
    m, o = run["modules"], run["optimizers"]
    return train(
        m["net_G"], m["net_D"], o["opt_G"], o["opt_D"], run["sampler"], steps,
        z_dim=z_dim, generator=run["generators"]["z"], loss=loss, n_dis=n_dis,
        batch_size_D=batch_size_D, batch_size_G=batch_size_G, ema_G=m["ema_G"],
        ema_decay=0.999, lr_decay=True, start_step=start_step, log_every=1,
        callback=callback, callback_every=callback_every, progress=False,
    )  # fmt: skip


runs, histories = {}, {}
for arch in ("standard", "resnet"):
    runs[arch] = make_run(arch)
    w0 = runs[arch]["modules"]["net_G"].state_dict()[
        "l1.weight" if arch == "resnet" else "l0.weight"
    ]
    w0 = w0.clone()
    t0 = time.perf_counter()
    histories[arch] = run_training(runs[arch], n_steps)
    print(f"{arch}: {n_steps} G updates in {time.perf_counter() - t0:.1f} s")

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3))
for ax, (arch, hist) in zip(axes, histories.items(), strict=True):
    steps_axis = [row["step"] for row in hist]
    ax.plot(steps_axis, [row["loss_D"] for row in hist], "o-", label="loss_D")
    ax.plot(steps_axis, [row["loss_G"] for row in hist], "s-", label="loss_G")
    ax.set(title=f"{arch} (slim {slim}), hinge loss", xlabel="generator update", ylabel="loss")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Claim: both runs finished with finite losses, G's weights moved, the learning rate followed
# the linear decay α(1 − t/T) (logged before each step t = 0 … T−1), and the EMA of G lags
# behind G.

# %%
for arch, hist in histories.items():
    assert len(hist) == n_steps and all(math.isfinite(r["loss_D"] + r["loss_G"]) for r in hist)
    expected_lr = [alpha * (1 - t / n_steps) for t in range(n_steps)]
    np.testing.assert_allclose([r["lr"] for r in hist], expected_lr, rtol=1e-12)
    m = runs[arch]["modules"]
    name = "l1.weight" if arch == "resnet" else "l0.weight"
    assert not torch.equal(m["net_G"].state_dict()[name], m["ema_G"].state_dict()[name])

# %% [markdown]
# ## 4. Making it fast on a GPU
#
# On a GPU the cost of one generator update is dominated not by arithmetic (a few GFLOP) but by
# waiting: for the host to send batches, for Python to launch ~100 small kernels, for the device
# to answer `.item()`. The loop above already avoids the first and last of these:
#
# - data as `uint8` on the device, batches drawn there (`DeviceSampler`): no DataLoader, no
#   host copies;
# - no host syncs in the step (`train_step` returns tensors; the loop reads them every
#   `log_every` steps): the CPU queues work ahead of the GPU;
# - one D call on `cat(real, fake)` (`train_step(joint_D_call=True)`): half the kernel launches,
#   one power iteration per update;
# - bf16 autocast (`autocast_dtype=torch.bfloat16`), with σ computed in fp32 by lesson 04's SN:
#   tensor cores, and σ stays accurate;
# - channels-last memory (`net.to(memory_format=torch.channels_last)`): faster cuDNN convolutions;
# - fused Adam (`torch.optim.Adam(..., fused=True)`): one kernel per optimizer step;
# - `torch.compile(net, mode="reduce-overhead")` in the script on CUDA: fused kernels and CUDA
#   graphs.
#
# `benchmarks/bench_cifar.py` measures generator updates per second of this loop against a plain
# eager loop (DataLoader, fp32, no compile, two D calls, `.item()` each step) side by side;
# `benchmarks/RESULTS.md` records the figures.
#
# Two of these change the arithmetic, so we check them. Claim: a D without batch statistics gives
# the same logits on `cat(real, fake)` as on each half (in eval mode, where SN does not run a
# power-iteration step), and bf16 autocast changes the logits by only a few percent.

# %%
net_D_eval = runs["standard"]["modules"]["net_D"].eval()
real_b, fake_b = (
    sampler(batch_size_D),
    runs["standard"]["modules"]["net_G"](torch.randn(batch_size_D, z_dim, device=device)).detach(),
)
with torch.no_grad():
    joint = net_D_eval(torch.cat([real_b, fake_b]))
    separate = torch.cat([net_D_eval(real_b), net_D_eval(fake_b)])
    with torch.autocast(device.type, dtype=torch.bfloat16):
        joint_bf16 = net_D_eval(torch.cat([real_b, fake_b])).float()
net_D_eval.train()
rel_bf16 = float((joint_bf16 - joint).norm() / joint.norm())
print(f"relative change of D's logits under bf16 autocast: {rel_bf16:.4f}")

# %%
torch.testing.assert_close(joint, separate, rtol=1e-5, atol=1e-5)
assert rel_bf16 < 0.05

# %% [markdown]
# ## 5. Checkpoints that survive interruptions
#
# A 100k-step run takes hours; it will be interrupted. `sngan_teach.checkpoint.Checkpointer` is
# a callback for `train`: every `callback_every` steps it writes `ckpt_XXXXXXXX.pt` atomically
# (a temporary file in the same folder, flushed, then renamed over the target, so a crash never
# leaves half a file), keeps the newest two, and stores the models (BN statistics and SN's `u`,
# `v` included), both Adam states (with `lr` and `initial_lr`, all the learning-rate schedule
# needs), the EMA, the states of both explicit generators and PyTorch's global RNG.
# Loading uses `torch.load(..., weights_only=True)`: no pickled code runs.
#
# Claim: a run killed after step 2 of 3 and resumed from its checkpoint, in fresh objects, ends with
# the same weights, bit for bit, as a run that was never interrupted.


# %%
class Interrupt(Exception):
    pass


n_resume = 3
reference = make_run("standard")
run_training(reference, n_resume)

first = make_run("standard")
saver = Checkpointer(
    WORK / "resume_demo", first["modules"], first["optimizers"], first["generators"]
)
for old in (WORK / "resume_demo").glob("ckpt_*.pt"):
    old.unlink()


def save_then_crash(step, history):
    saver(step, history)
    if step == 2:
        raise Interrupt(f"killed after step {step}")


try:
    run_training(first, n_resume, callback=save_then_crash, callback_every=1)
except Interrupt as err:
    print(err, "| checkpoints:", sorted(p.name for p in (WORK / "resume_demo").glob("ckpt_*")))

second = make_run("standard", run_seed=seed + 100)  # fresh objects, other initial weights
resumer = Checkpointer(
    WORK / "resume_demo", second["modules"], second["optimizers"], second["generators"]
)
start, old_history = resumer.resume()
run_training(second, n_resume, start_step=start)
print(f"resumed at step {start}, ran to {n_resume}")

# %%
assert start == 2 and len(old_history) == 2
for name, module in reference["modules"].items():
    for key, value in module.state_dict().items():
        torch.testing.assert_close(second["modules"][name].state_dict()[key], value, rtol=0, atol=0)
assert torch.equal(reference["generators"]["z"].get_state(), second["generators"]["z"].get_state())

# %% [markdown]
# The loop reads the losses every `log_every` steps and raises `FloatingPointError` naming the
# step and the loss when one is NaN or inf; the checkpointer refuses to save weights that hold a
# NaN. Claim: when D's loss turns into NaN at step 3, training stops with a clear message and the
# newest checkpoint is still step 2's, with finite weights.

# %%
nan_run = make_run("standard")
nan_dir = WORK / "nan_demo"
shutil.rmtree(nan_dir, ignore_errors=True)
nan_saver = Checkpointer(nan_dir, nan_run["modules"], nan_run["optimizers"], nan_run["generators"])
d_calls = {"n": 0}


def loss_D_that_explodes(d_real, d_fake):
    d_calls["n"] += 1
    loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return loss * float("nan") if d_calls["n"] > 2 * n_dis else loss  # NaN from step 3 on


try:
    run_training(
        nan_run, 5, callback=nan_saver, callback_every=1,
        loss=(loss_D_that_explodes, lambda d_fake: -d_fake.mean()),
    )  # fmt: skip
    nan_message = ""
except FloatingPointError as err:
    nan_message = str(err)
print(nan_message)

# %%
assert "loss_D is nan at step 3" in nan_message
assert latest_step(nan_dir) == 2
good = load_checkpoint(nan_saver.latest())
assert all(torch.isfinite(v).all() for v in good["modules"]["net_D"].values())

# %% [markdown]
# ## 6. The long run: `scripts/train_cifar10.py`
#
# The script puts all of the above together at the paper's sizes: paper widths, batches 64/128,
# `n_dis` = 5, 100k generator updates, linear decay, EMA 0.9999, bf16, channels-last, fused Adam
# and `torch.compile` on CUDA, a checkpoint and a fixed-z sample grid every 5000 steps, IS and FID
# at the end. Running the same command again resumes from the newest checkpoint. On a GPU:
#
# ```bash
# export SNGAN_CIFAR10_DIR=/path/to/cifar10          # the folder holding cifar-10-batches-py
# export SNGAN_INCEPTION_WEIGHTS=/path/to/weights-inception-2015-12-05-6726825d.pth
# python scripts/train_cifar10.py --arch standard --loss hinge   # Table 2: IS 7.58, FID 25.5
# python scripts/train_cifar10.py --arch standard --loss ns      # Table 2: IS 7.42, FID 29.3
# python scripts/train_cifar10.py --arch resnet --loss hinge     # Table 2: IS 8.22, FID 21.7
# python scripts/train_cifar10.py --arch standard --loss ns --norm wn   # WN D, for Fig. 3
# ```
#
# (add `--download` to fetch the data and the weights when online). Each writes into
# `runs/cifar10/{arch}_{loss}_{norm}/`: `config.json`, `history.json`, `samples/*.png`,
# `ckpt_*.pt` and `results.json`. Here we run its `--dry-run` (every code path, on CPU, on a
# small stand-in in CIFAR-10's format, with narrow networks and the stand-in feature extractor),
# and below we read the long runs' files wherever they exist.

# %%
dry_dir = WORK / "dry_run"
command = [sys.executable, str(ROOT / "scripts" / "train_cifar10.py"), "--dry-run"]
command += ["--arch", "standard", "--out", str(dry_dir)]
shutil.rmtree(dry_dir, ignore_errors=True)  # start from scratch (a rerun would resume)
t0 = time.perf_counter()
done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
print(f"exit code {done.returncode} after {time.perf_counter() - t0:.0f} s")
print(done.stdout[-800:], done.stderr[-800:])

# %%
assert done.returncode == 0
dry_results = json.loads((dry_dir / "results.json").read_text())
assert dry_results["steps"] == 2 and latest_step(dry_dir) == 2
assert sorted(p.name for p in (dry_dir / "samples").glob("*.png"))[-1] == "step_00000002.png"


# %%
def pick_run(name):
    """The long run's folder when its results exist, else the dry run's."""
    folder = RUNS / name
    return (folder, "GPU run") if (folder / "results.json").exists() else (dry_dir, "dry run")


main_dir, main_kind = pick_run("standard_hinge_sn")
main_config = json.loads((main_dir / "config.json").read_text())
main_results = json.loads((main_dir / "results.json").read_text())
main_history = json.loads((main_dir / "history.json").read_text())
print(f"reading {main_kind}: {main_dir}")

# %%
grids = sorted((main_dir / "samples").glob("step_*.png"))
shown = grids[:: max(1, len(grids) // 3)][-3:] if len(grids) > 3 else grids
fig, axes = plt.subplots(1, len(shown), figsize=(2.3 * len(shown), 2.6))
for ax, path in zip(np.atleast_1d(axes), shown, strict=True):
    ax.imshow(plt.imread(path))
    ax.set(title=f"step {int(path.stem.split('_')[1])}", xlabel="sample", ylabel="sample")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"Fixed-z samples over training ({main_kind})")
fig.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r["step"] for r in main_history], [r["loss_D"] for r in main_history], label="loss_D")
ax.plot([r["step"] for r in main_history], [r["loss_G"] for r in main_history], label="loss_G")
ax.set(title=f"Losses of the {main_kind} (standard CNN, hinge)", xlabel="generator update")
ax.set(ylabel="loss")
ax.legend()
plt.show()

# %% [markdown]
# Claim: the run wrote a grid per sampling step (step 0 included), a loss history up to its last
# step, and a final checkpoint that loads with `weights_only=True`.

# %%
steps_done = main_results["steps"]
assert grids[0].name == "step_00000000.png" and grids[-1].name == f"step_{steps_done:08d}.png"
assert main_history[-1]["step"] == steps_done
final_state = load_checkpoint(main_dir / f"ckpt_{steps_done:08d}.pt")
assert final_state["step"] == steps_done

# %% [markdown]
# ## 7. Inception score and Fréchet Inception distance
#
# Both scores read generated images through an Inception-v3 classifier trained on ImageNet.
#
# **IS** (Salimans et al. 2016) rewards images that the classifier is sure about (p(y|x) peaked)
# and that together cover many classes (p(y) = E_x p(y|x) flat):
# IS = exp(E_x KL(p(y|x) ‖ p(y))). It lies between 1 and the number of classes.
#
# **FID** (Heusel et al. 2017) fits a Gaussian to Inception's 2048 pool features of real images
# (μ_r, Σ_r) and of generated ones (μ_g, Σ_g) and measures
# FID = ‖μ_r − μ_g‖² + tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2}); lower is better.
#
# First by hand. Claim: confident predictions spread evenly over k classes give IS = k, the
# same prediction for every image gives IS = 1, and the hand-written version equals
# `sngan_teach.metrics` and torch-fidelity's own formula.


# %%
def inception_score_by_hand(p):
    p_y = p.mean(0, keepdims=True)
    kl = np.sum(np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - np.log(p_y)), 0), axis=1)
    return float(np.exp(kl.mean()))


k = 10
confident = np.tile(np.eye(k), (5, 1))
same = np.tile(np.full((1, k), 1 / k), (50, 1))
print(inception_score_by_hand(confident), inception_score_by_hand(same))

# %%
assert abs(inception_score_by_hand(confident) - k) < 1e-12
assert abs(inception_score_by_hand(same) - 1) < 1e-12
logits_random = 3 * torch.randn(200, k, generator=gen, dtype=torch.float64)
is_by_hand = inception_score_by_hand(torch.softmax(logits_random, 1).numpy())
assert abs(is_by_hand - metrics.inception_score_from_logits(logits_random)[0]) < 1e-10
is_torch_fidelity = isc_features_to_metric(logits_random, splits=1, shuffle=False)
assert abs(is_by_hand - is_torch_fidelity["inception_score_mean"]) < 1e-10

# %% [markdown]
# For FID the check is a closed form: for Gaussians with diagonal covariances
# FID = Σ_i (μ_1i − μ_2i)² + Σ_i (s_1i + s_2i − 2 √(s_1i s_2i)). The matrix square root matters.
# A version seen in the wild takes `np.sqrt(sigma1 @ sigma2)` (an element-wise root) instead of
# `scipy.linalg.sqrtm`; it agrees on diagonal matrices, which is why it survives. Claim: on
# correlated Gaussians the element-wise version is off, while `sqrtm` matches the value from the
# eigenvalues of Σ_1 Σ_2 (tr (Σ_1 Σ_2)^{1/2} = Σ √λ_i).

# %%
rng = np.random.default_rng(seed)
d = 6
A, B = rng.normal(size=(d, d)), rng.normal(size=(d, d))
sigma1, sigma2 = A @ A.T + np.eye(d), B @ B.T + np.eye(d)
mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
tr_sqrt_exact = np.sum(np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).real))
fid_exact = float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * tr_sqrt_exact)


def fid_wrong(mu1, sigma1, mu2, sigma2):
    covmean = np.sqrt(np.abs(sigma1 @ sigma2))  # element-wise: the erratum
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * np.trace(covmean))


print(f"exact {fid_exact:.4f}, element-wise sqrt {fid_wrong(mu1, sigma1, mu2, sigma2):.4f}")

# %%
assert abs(fid_wrong(mu1, sigma1, mu2, sigma2) - fid_exact) > 0.1  # the erratum fails the check


# %%
def fid_by_hand(mu1, sigma1, mu2, sigma2):
    covmean = linalg.sqrtm(sigma1 @ sigma2).real  # the matrix square root
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1 + sigma2) - 2 * np.trace(covmean))


print(f"exact {fid_exact:.6f}, by hand {fid_by_hand(mu1, sigma1, mu2, sigma2):.6f}")

# %%
assert abs(fid_by_hand(mu1, sigma1, mu2, sigma2) - fid_exact) < 1e-8
assert abs(metrics.frechet_distance(mu1, sigma1, mu2, sigma2) - fid_exact) < 1e-8
fid_torch_fidelity = fid_statistics_to_metric(
    {"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False
)["frechet_inception_distance"]
assert abs(fid_torch_fidelity - fid_exact) < 1e-8
s1, s2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
diag_closed_form = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
assert abs(fid_by_hand(mu1, np.diag(s1), mu2, np.diag(s2)) - diag_closed_form) < 1e-10

# %% [markdown]
# **The network and the protocol.** The field's numbers come from one particular network: the
# TensorFlow Inception graph of 2015-12-05 used by the original IS and FID code. torch-fidelity
# ports it to PyTorch and matches the TF reference, so `sngan_teach.metrics` reads features
# through torch-fidelity's `FeatureExtractorInceptionV3` (pool features for FID, logits for IS),
# with TF32 off, and `torch_fidelity_metrics` also runs `torch_fidelity.calculate_metrics` end to
# end as a cross-check. The weights are looked for at `$SNGAN_INCEPTION_WEIGHTS` or in torch
# hub's cache and always passed explicitly, so nothing tries to download in the middle of an
# evaluation; when they are missing we learn it at once.
#
# Two sample sizes are reported, because IS and FID depend on them (FID is biased upwards for
# small samples): the common 50k generated vs the 50k training images, and the paper's own
# protocol (App. B.1): IS as mean ± sd over 10 sets of 5000 samples, FID from 10 000 real vs
# 5000 generated images.

# %%
weights = metrics.find_inception_weights()
if weights is not None:
    extractor, extractor_name = metrics.inception_extractor(weights, device), "Inception-v3"
else:
    t0 = time.perf_counter()
    try:
        metrics.get_inception_weights()
    except metrics.InceptionWeightsUnavailable as err:
        print(f"No Inception weights, so no comparable IS/FID here: {err}")
    assert time.perf_counter() - t0 < 5  # fails fast, no download attempt
    extractor, extractor_name = metrics.StandInExtractor(seed=seed).to(device), "stand-in"
print(f"feature extractor: {extractor_name}")

# %%
net_G_demo = runs["standard"]["modules"]["ema_G"]
z_eval = torch.Generator(device=device).manual_seed(seed + 7)
fake = metrics.generate_images(net_G_demo, n_eval, z_dim=z_dim, generator=z_eval)
n_real_eval = min(n_eval, len(images))
sizes = {"is_size": n_eval // 10, "is_runs": 10, "fid_real": n_real_eval, "fid_fake": n_eval // 2}
scores = metrics.evaluate(fake, images[:n_real_eval], extractor, **sizes)
halves = metrics.evaluate(
    images[: n_real_eval // 2], images[n_real_eval // 2 : n_real_eval], extractor,
    is_size=n_real_eval // 20, is_runs=10, fid_real=n_real_eval // 2, fid_fake=n_real_eval // 2,
)  # fmt: skip
print(f"demo G ({n_steps} updates): IS {scores['is_all']:.2f}, FID {scores['fid_all']:.3f}")
print(f"real vs real (two halves):   IS {halves['is_all']:.2f}, FID {halves['fid_all']:.3f}")

# %% [markdown]
# Claim: IS lies in [1, number of classes], FID is not negative, and the barely trained
# generator is further from the data than one half of the data is from the other.

# %%
n_classes = 1008 if extractor_name == "Inception-v3" else 10
for s in (scores, halves):
    assert 1 - 1e-9 <= s["is_all"] <= n_classes and 1 - 1e-9 <= s["is_paper"] <= n_classes
    assert s["fid_all"] >= -1e-6 and s["fid_paper"] >= -1e-6
assert scores["fid_all"] > halves["fid_all"]

# %% [markdown]
# Now the table. Rows come from the long runs' `results.json` where they exist; the dry run
# stands in for the standard-CNN hinge row otherwise (its stand-in numbers are not comparable and
# are labelled so), and the other rows say "not run".

# %%
table_rows = []
for name, paper_name in [
    ("standard_ns_sn", "standard CNN, SN, standard loss"),
    ("standard_hinge_sn", "standard CNN, SN, hinge"),
    ("resnet_hinge_sn", "ResNet, SN, hinge"),
    ("standard_ns_wn", "standard CNN, weight norm"),
]:
    folder, kind = pick_run(name)
    if kind == "dry run" and name != "standard_hinge_sn":  # the dry run stands in for one row
        table_rows.append((paper_name, "not run", None, None, *metrics.PAPER_TABLE2[paper_name]))
        continue
    res = json.loads((folder / "results.json").read_text())
    ours = (res.get("scores") or {}).get("net_G")
    table_rows.append(
        (paper_name, kind, res.get("extractor"), ours, *metrics.PAPER_TABLE2[paper_name])
    )
    paper_is, _, paper_fid = metrics.PAPER_TABLE2[paper_name]
    inception = "Inception" in (res.get("extractor") or "")
    if kind == "GPU run" and ours is not None and inception and res["steps"] >= 100_000:
        # a finished 100k-update run, scored with Inception, should land near the paper's row
        assert ours["is_paper"] > paper_is - 1.5 and ours["fid_paper"] < paper_fid + 15

print(f"{'method':<32}{'source':<10}{'IS (paper)':>16}{'FID (paper)':>16}")
for paper_name, kind, ext, ours, p_is, _, p_fid in table_rows:
    mine_is = f"{ours['is_paper']:.2f}" if ours else "-"
    mine_fid = f"{ours['fid_paper']:.1f}" if ours else "-"
    tag = kind + "*" if ext is not None and "stand-in" in ext else kind
    print(f"{paper_name:<32}{tag:<10}{mine_is + f' ({p_is})':>16}{mine_fid + f' ({p_fid})':>16}")
print("* stand-in extractor: numbers not comparable with the paper's")

# %%
assert len(table_rows) == 4 and table_rows[1][3] is not None  # the hinge row is always filled
assert all(r[3] is None or math.isfinite(r[3]["fid_paper"]) for r in table_rows)

# %% [markdown]
# ## 8. What SN and WN do to D's spectrum (Fig. 3)
#
# Lesson 05 showed why weight normalization pushes a layer towards rank one. The paper's Fig. 3
# plots the squared singular values σ_t² / σ_1² of each layer of a *trained* D. We read the SN D
# and the WN D of the long runs when they exist (`standard_hinge_sn`, `standard_ns_wn`), else the
# short runs of this notebook (a WN run is trained here for that).
#
# Two facts hold whatever the training: with SN every layer's largest singular value is 1 (the
# weight is divided by it, once the power iteration has caught up with the weight), while a WN
# layer (each output row scaled to norm 1, γ removed) has Σ_t σ_t² = ‖W‖_F² = d_out, so its
# largest singular value is at least 1 and grows as the spectrum concentrates.


# %%
def trained_D(name, fallback_run, norm):
    folder = RUNS / name
    if (folder / "results.json").exists():
        cfg = json.loads((folder / "config.json").read_text())
        net = build_models(cfg["arch"], cfg.get("slim", 1))[1]
        (add_sn if norm == "sn" else add_wn)(net)
        state = load_checkpoint(folder / f"ckpt_{cfg['steps']:08d}.pt")
        net.load_state_dict(state["modules"]["net_D"])
        return net, "GPU run"
    return fallback_run["modules"]["net_D"], "this notebook"


wn_run = make_run("standard", norm="wn")
run_training(wn_run, n_steps, loss="ns")
D_sn, src_sn = trained_D("standard_hinge_sn", runs["standard"], "sn")
D_wn, src_wn = trained_D("standard_ns_wn", wn_run, "wn")
# SN's stored u lags a little behind a weight that Adam just moved (one power iteration per
# step); a few train-mode forwards without gradients let it catch up before we read sigma.
with torch.no_grad():
    D_sn.train()
    for _ in range(200):
        D_sn(sampler(2).to(next(D_sn.parameters()).device))
spectra = {"SN": layer_singular_values(D_sn), "WN": layer_singular_values(D_wn)}
matrix_layers = [k for k, s in spectra["SN"].items() if len(s) > 1]  # l7 has one value only
fig = plot_layer_spectra(
    spectra, layers=matrix_layers, title=f"D's squared singular values (SN: {src_sn}, WN: {src_wn})"
)
plt.show()
for layer in spectra["SN"]:
    r_sn, r_wn = effective_rank(spectra["SN"][layer]), effective_rank(spectra["WN"][layer])
    print(f"{layer:>4}: effective rank SN {r_sn:7.2f}   WN {r_wn:7.2f}")

# %%
for layer, s in spectra["SN"].items():
    assert abs(float(s[0]) - 1) < 0.02, (layer, float(s[0]))
for name, module in D_wn.named_modules():
    if name in spectra["WN"]:
        s = spectra["WN"][name]
        d_out = module.parametrizations.weight.original.shape[0]
        # float32 rows of norm 1 +- 1e-7: tolerances of 1e-5
        assert abs(float((s**2).sum()) - d_out) < 1e-5 * d_out and float(s[0]) >= 1 - 1e-5
if src_sn == src_wn == "GPU run":  # the paper's finding, on fully trained discriminators
    ranks = [
        effective_rank(spectra["WN"][k]) < effective_rank(spectra["SN"][k]) for k in spectra["SN"]
    ]
    assert sum(ranks) >= len(ranks) - 1

# %% [markdown]
# ## Summary
#
# - The paper's networks are small: the standard CNN's G has 3.8M parameters and D 2.9M, the
#   ResNet's G 4.3M and D 1.1M, exactly what Tables 3 and 4 imply. Public code differs from
#   the tables (doubled channels, slope 0.2, uniform z); know which one you compare with.
# - CIFAR-10 fits on the device as `uint8`; sampling there and never syncing inside the step lets
#   lesson 07's unchanged trainer run at GPU speed; bf16, channels-last, fused Adam, one D call
#   and `torch.compile` do the rest (`benchmarks/bench_cifar.py`).
# - Checkpoints written atomically and restored with every RNG state resume a run bit for bit;
#   a NaN stops the run and leaves the last good checkpoint.
# - IS and FID are a few lines of math on top of one specific network; use torch-fidelity's
#   TF-compatible Inception and report the sample sizes, since both scores depend on them.
# - SN pins every layer's top singular value to 1 without collapsing the spectrum; WN fixes the
#   sum of the squared singular values instead.
#
# ## Exercises
#
# 1. The `chainer-gan-lib` discriminator doubles the channels at the stride-2 convolutions:
#    3→64 (3×3), 64→128 (4×4/2), 128→128 (3×3), 128→256 (4×4/2), 256→256 (3×3), 256→512 (4×4/2),
#    512→512 (3×3), dense 4·4·512 → 1. How many parameters does it have, and how many times more
#    than Table 3's D?
# 2. Why must `train_step(joint_D_call=True)` be switched off for a D with batch normalization
#    (the "Batch Norm." row of Table 2)?
# 3. Run `python scripts/train_cifar10.py --dry-run --arch resnet --out runs/cifar10/dry_resnet`,
#    interrupt it with Ctrl-C during training, and run it again: where does it restart?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: count by formula.
chainer_D = sum(
    conv_params(a, b, k)
    for a, b, k in [(3, 64, 3), (64, 128, 4), (128, 128, 3), (128, 256, 4)]
    + [(256, 256, 3), (256, 512, 4), (512, 512, 3)]
)
chainer_D += 4 * 4 * 512 + 1
print(f"chainer-gan-lib D: {chainer_D:,d} parameters, {chainer_D / table3_D:.2f}x Table 3's D")
assert chainer_D > table3_D
# Solution 2: with BN, the batch statistics of cat(real, fake) mix real and fake images, so
# D(real) depends on the fakes in the same batch; separate calls keep the two apart.
# Solution 3: at the newest checkpoint (every step in a dry run), printed as "resuming from";
# a run that had finished starts at its last step and only re-evaluates.
