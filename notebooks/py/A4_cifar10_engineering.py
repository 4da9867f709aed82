# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py//py:percent
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
# # Make the CIFAR-10 runs fast, resumable and safe
#
# Appendix to [lesson 09](09_cifar10.ipynb). Lesson 09 builds the paper's networks, reads a
# trained SN-GAN and computes IS and FID; this appendix is how its GPU runs are made: what a
# learner needs in order to change the training script or trust its output, not to read the
# paper.
#
# ## What you will learn
#
# 1. What `scripts/train_cifar10.py` writes, which of its scores compares with which published
#    number, and how `benchmarks/gpu_check.sh` checks a GPU before a long run.
# 2. Feed lesson 07's unchanged trainer from CIFAR-10 kept on the device, and why an EMA
#    generator needs its own batch-norm statistics.
# 3. Which GPU speed-ups change the arithmetic (one D call, bf16) and by how much.
# 4. Checkpoint a run, resume it bit for bit, and stop it cleanly on a NaN.
# 5. Run the whole training script on a CPU, and score the demo generator with both protocols.
#
# ## What you need
#
# - [Lesson 09](09_cifar10.ipynb) (the networks, the recipes, IS and FID) and lesson 07 (the
#   training loop).
# - Time on a CPU: about a minute in full mode, less in quick mode; the cell before the summary
#   prints your own run's time. On a GPU the inline demo uses the paper's widths and 500
#   updates. The inline training is a demonstration (narrow networks, a few updates).
# - For real numbers: a GPU, CIFAR-10 (python version) and torch-fidelity's Inception weights.
#   Without them the appendix uses a stand-in written in CIFAR-10's exact format and a stand-in
#   feature extractor, and says so wherever it does.


# %%
import json
import math
import shutil
import subprocess
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from sngan_teach import cifar, inception, runtime
from sngan_teach.checkpoint import Checkpointer, latest_step, load_checkpoint
from sngan_teach.gan import recompute_bn_stats, sample_z, train
from sngan_teach.recipes import PUBLISHED, build_run, get_recipe
from sngan_teach.runtime import base_seed, default_device, is_quick, kernel_check, pick, seed_all

# %%
t_lesson = time.perf_counter()
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)
device = default_device()
ROOT = runtime.ROOT  # the repository, which holds runs/ and benchmarks/results/
WORK = ROOT / "runs" / "A4_cifar10_engineering"  # everything this notebook writes (git-ignored)
RUNS = ROOT / "runs" / "cifar10"  # where scripts/train_cifar10.py writes the long runs

z_dim = 128  # d_z, z ~ N(0, I)
demo = get_recipe("fast-cnn")  # the inline demo's recipe: it has an EMA and a decay to check
alpha = demo["alpha"]  # Adam's learning rate; build_run reads the betas from the recipe
n_dis = pick(quick=2, full=demo["n_dis"])  # D updates per G update
gpu = device.type == "cuda"
slim = pick(quick=8, full=1 if gpu else 8)  # divide every channel count (1: the paper's widths)
batch_size_D = pick(quick=8, full=demo["batch_d"])  # real images per D step
batch_size_G = pick(quick=16, full=demo["batch_g"])  # fakes per G step
n_steps = pick(quick=2, full=500 if gpu else 6)  # G updates of the inline demo (paper: 100k)
n_fixture = pick(quick=20, full=200)  # images per batch file of the stand-in CIFAR-10
n_eval = pick(quick=100, full=2000 if gpu else 200)  # images for the IS/FID demo
print(f"device {device}, quick mode {is_quick()}, slim {slim}, steps {n_steps}")

# %% [markdown]
# ## 1. What a run writes, and the GPU check
#
# Lesson 09 §4 launches the runs behind Table 2 with `scripts/train_cifar10.py --recipe ...`.
# Each run writes into `runs/cifar10/{recipe}_{loss}_{norm}/`: `config.json`,
# `history.json` (losses), `samples/step_*.png`, `ckpt_*.pt` and `results.json`, whose
# `scores` hold, for `net_G` (and for the EMA of G when the recipe keeps one, with its BN
# statistics recomputed): `is_paper` ± `is_paper_sd` and `fid_paper` (the paper's protocol as
# we read it: 10 × 5000 generated images for IS, 10k real / 5k generated for FID) and
# `is_all`, `fid_all` (50k / 50k). Compare `fid_paper` with the paper and with mimicry's
# 23.90, `fid_all` with mimicry's 16.77 and pytorch-gan-collections' numbers.
#
# Two rows stand out. mimicry reports, for ResNet SN-GANs trained with the same recipe, FID
# 16.77 at 50k/50k and 23.90 at 10k/5k (two tables of its README); the cell below sets that
# gap beside the gaps between the paper's own rows. And pytorch-gan-collections' CNN reaches
# 17.81 with a discriminator whose stride-2 layers double the channels
# (`StandardDiscriminator(doubled=True)`, twice the parameters of Table 3's D: see lesson 09's
# exercises), z of size 100 and other batches and optimizer: not the network or the recipe
# of `paper-cnn`, so not comparable with it.

# %%
mimicry = [row["fid"] for row in PUBLISHED if row["source"].startswith("kwotsin/mimicry")]
paper = {row["model"]: row["fid"] for row in PUBLISHED if row["source"] == "paper Table 2"}
print(f"mimicry, one recipe, 10k/5k minus 50k/50k: {max(mimicry) - min(mimicry):.2f}")
for model, fid in paper.items():
    if model != "ResNet, SN, hinge":
        print(f"paper, {model} minus ResNet: {fid - paper['ResNet, SN, hinge']:.2f}")

# %% [markdown]
# Before a long run, `bash benchmarks/gpu_check.sh` checks the GPU path in one command (at
# most about 8 minutes): the CUDA tests, the fast loop against the eager one (same losses
# within bf16 tolerance, σ(W̄) within [0.95, 1.05], no recompilation, SN and BN buffers
# updated), generator updates per second of the fast, eager and plain loops, and a 2000-update
# `paper-cnn` run of the script; it writes `benchmarks/results/gpu_check.json` and an entry of
# `benchmarks/RESULTS.md`.
#
# **This cell reads the GPU runs and the GPU check when they exist**; where they do not, it
# says so. It asserts nothing: what a finished run should show is in the table of lesson 09 §2.

# %%
run_names = ["paper-cnn_ns_sn", "paper-cnn_hinge_sn", "paper-resnet_hinge_sn", "paper-cnn_ns_wn"]
found_runs = {}
for name in run_names:
    folder = RUNS / name
    if not (folder / "results.json").exists():
        print(f"{name}: no finished run in {folder.relative_to(ROOT)}")
        continue
    res = json.loads((folder / "results.json").read_text())
    found_runs[name] = folder
    for who, s in (res.get("scores") or {}).items():
        print(
            f"{name} ({res['steps']} updates, {res.get('device')}, {res.get('extractor')}), "
            f"{who}: IS {s['is_paper']:.2f} ± {s['is_paper_sd']:.2f}, FID 10k/5k "
            f"{s['fid_paper']:.1f}, FID 50k/50k {s['fid_all']:.1f}"
        )
check_file = runtime.RESULTS_DIR / "gpu_check.json"  # stored by benchmarks/gpu_check.sh
if check_file.exists():
    report = json.loads(check_file.read_text())
    for arch in ("standard", "resnet"):
        r = report[arch]
        print(
            f"gpu_check on {report['gpu']} ({report['date']}), {arch}: fast "
            f"{r['fast_g_updates_per_s']:.0f}, eager {r['eager_g_updates_per_s']:.0f}, plain "
            f"{r['plain_g_updates_per_s']:.0f} G updates/s; parity {r['parity']['ok']}"
        )
else:
    print("benchmarks/results/gpu_check.json: the GPU check has not been run on a GPU yet")

# %% [markdown]
# When a GPU run exists, this cell shows its newest sample grid and its losses (it shows
# nothing otherwise).

# %%
for name, folder in list(found_runs.items())[:1]:
    grids = sorted((folder / "samples").glob("step_*.png"))
    history = json.loads((folder / "history.json").read_text())
    fig, ax = plt.subplots(1, 2, figsize=(7, 3.2))
    ax[0].imshow(plt.imread(grids[-1]))
    ax[0].set(title=f"{name}: {grids[-1].stem}", xlabel="sample", ylabel="sample")
    ax[0].set_xticks([])
    ax[0].set_yticks([])
    ax[1].plot([r["step"] for r in history], [r["loss_D"] for r in history], label="loss_D")
    ax[1].plot([r["step"] for r in history], [r["loss_G"] for r in history], label="loss_G")
    ax[1].set(title="losses", xlabel="generator update", ylabel="loss")
    ax[1].legend()
    fig.tight_layout()
    plt.show()


# %% [markdown]
# ## 2. CIFAR-10 on the device
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

# %% [markdown]
# The whole training set is 50 000 × 3 × 32 × 32 bytes = 154 MB: it fits on any GPU. So instead
# of a `DataLoader` that decodes, converts and copies a batch from the host at every step,
# `DeviceSampler` keeps the `uint8` images on the device and draws each batch there with a
# `torch.Generator` that lives on the device, converting to float in [−1, 1] on the fly
# (`x / 127.5 − 1`). Nothing crosses the host boundary during training.
#
# Rounding, both ways: real images are integers 0…255, so the real batches take 256 values
# per pixel, while G's tanh output is continuous. Before scoring, generated images are
# mapped back with `to_uint8` (clamp to [−1, 1], `(x + 1) · 127.5`, round to the nearest
# integer), so Inception sees real and generated images on the same integer grid. The official
# ResNet code also *dequantizes* the real images in training, `x / 128 − 1 + U(0, 1/128)`, so
# that D never sees the 256-level grid; `scripts/train_cifar10.py --dequantize` does the same
# (off in every recipe, as in the official standard-CNN code).
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
# ## 3. Lesson 07's trainer on CIFAR-10
#
# The training step is lesson 07's `sngan_teach.gan.train_step`, unchanged: `n_dis` updates of
# D, each on `batch_size_D` real images from `sample_real` and as many fakes, then one update of G
# on `batch_size_G` fakes; hinge loss (`loss_D = E[relu(1 − D(x))] + E[relu(1 + D(G(z)))]`,
# `loss_G = −E[D(G(z))]`). The demonstration uses the `fast-cnn` recipe, whose learning rate
# decays linearly to 0 and which keeps an exponential moving average (EMA) of G's weights on the
# side. The only new thing is `sample_real`: our `DeviceSampler`. The networks are the paper's
# with every channel count divided by `slim` (same layers, fewer channels), so the demo runs on
# a CPU. `sngan_teach.recipes.build_run` sets a run up as the training script does: it seeds
# torch's RNG with `seed`, builds the networks with the recipe's normalization of D (SN), an EMA
# copy of G and Adam for each, the `DeviceSampler` (seeded `seed + 1`), the generator of z
# (`seed + 2`) and a fixed z for sample grids (`seed + 3`); `fast=True` (CUDA, in the script)
# adds channels-last and fused Adam.


# %%
def make_run(arch, run_seed=seed):
    """The training script's set-up of one run of the demo recipe, for ``arch``."""
    recipe = demo | {"arch": arch}
    return build_run(recipe, images, seed=run_seed, device=device, fast=False, slim=slim)


def run_training(run, steps, start_step=0, callback=None, callback_every=0, loss="hinge"):
    return train(
        run.net_G, run.net_D, run.opt_G, run.opt_D, run.sampler, steps,
        z_dim=z_dim, generator=run.gen_z, loss=loss, n_dis=n_dis,
        batch_size_D=batch_size_D, batch_size_G=batch_size_G, ema_G=run.ema_G,
        ema_decay=0.999, lr_decay=True, start_step=start_step, log_every=1,
        callback=callback, callback_every=callback_every, progress=False,
    )  # fmt: skip


runs, histories = {}, {}
for arch in ("standard", "resnet"):
    runs[arch] = make_run(arch)
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
# Claim: both runs finished with finite losses, the learning rate followed the linear decay
# α(1 − t/T) (logged before each step t = 0 … T−1), and the EMA of G lags behind G.

# %%
for arch, hist in histories.items():
    assert len(hist) == n_steps and all(math.isfinite(r["loss_D"] + r["loss_G"]) for r in hist)
    expected_lr = [alpha * (1 - t / n_steps) for t in range(n_steps)]
    np.testing.assert_allclose([r["lr"] for r in hist], expected_lr, rtol=1e-12)
    m = runs[arch].modules
    name = "l1.weight" if arch == "resnet" else "l0.weight"
    assert not torch.equal(m["net_G"].state_dict()[name], m["ema_G"].state_dict()[name])

# %% [markdown]
# The EMA copies G's batch-norm running statistics at every step (`update_ema`), but those
# statistics describe G's activations, not those of the averaged weights. Before the EMA
# generator is sampled or scored, `recompute_bn_stats` replaces them by the average of its own
# batch statistics over a few batches of z (the training script does this). Claim: afterwards
# the first BN layer's running mean is the average of the EMA generator's own batch means over
# those batches, and no longer G's copied one.

# %%
ema_G = runs["standard"].ema_G
copied_mean = ema_G.bn0.running_mean.clone()
recompute_bn_stats(
    ema_G, z_dim=z_dim, generator=torch.Generator(device=device).manual_seed(seed + 5),
    n_batches=20, batch_size=batch_size_G,
)  # fmt: skip
replay = torch.Generator(device=device).manual_seed(seed + 5)  # the same 20 batches of z
with torch.no_grad():
    own_mean = torch.stack([
        ema_G.l0(sample_z(batch_size_G, z_dim, replay)).view(-1, ema_G.ch, 4, 4).mean((0, 2, 3))
        for _ in range(20)
    ]).mean(0)  # fmt: skip
print(f"largest gap to the EMA's own batch means: recomputed "
      f"{float((ema_G.bn0.running_mean - own_mean).abs().max()):.2e}, "
      f"copied {float((copied_mean - own_mean).abs().max()):.2e}")  # fmt: skip

# %%
torch.testing.assert_close(ema_G.bn0.running_mean, own_mean, rtol=0, atol=1e-6)
assert float((copied_mean - own_mean).abs().max()) > 1e-4

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
# `benchmarks/bench_cifar.py` measures generator updates per second of three loops side by
# side: this fast one, the same loop eager in fp32, and a plain loop written the way public
# reimplementations write it (DataLoader, fp32, two D calls, `.item()` every step);
# `benchmarks/gpu_check.sh` runs it on a GPU together with a parity check of the fast loop.
#
# Two of these change the arithmetic, so we check them here. Claim: a D without batch
# statistics gives the same logits on `cat(real, fake)` as on each half (in eval mode, where SN
# does not run a power-iteration step), and bf16 autocast changes the logits by only a few
# percent.

# %%
net_D_eval = runs["standard"].net_D.eval()
real_b, fake_b = (
    sampler(batch_size_D),
    runs["standard"].net_G(torch.randn(batch_size_D, z_dim, device=device)).detach(),
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
saver = Checkpointer(WORK / "resume_demo", first.modules, first.optimizers, first.generators)
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
resumer = Checkpointer(WORK / "resume_demo", second.modules, second.optimizers, second.generators)
start, old_history = resumer.resume()
run_training(second, n_resume, start_step=start)
print(f"resumed at step {start}, ran to {n_resume}")

# %%
assert start == 2 and len(old_history) == 2
for name, module in reference.modules.items():
    for key, value in module.state_dict().items():
        torch.testing.assert_close(second.modules[name].state_dict()[key], value, rtol=0, atol=0)
assert torch.equal(reference.gen_z.get_state(), second.gen_z.get_state())

# %% [markdown]
# The loop reads the losses every `log_every` steps and raises `FloatingPointError` naming the
# step and the loss when one is NaN or inf; the checkpointer refuses to save weights that hold a
# NaN. Claim: when D's loss turns into NaN at step 3, training stops with a clear message and the
# newest checkpoint is still step 2's, with finite weights.

# %%
nan_run = make_run("standard")
nan_dir = WORK / "nan_demo"
shutil.rmtree(nan_dir, ignore_errors=True)
nan_saver = Checkpointer(nan_dir, nan_run.modules, nan_run.optimizers, nan_run.generators)
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
# ## 6. The training script, end to end on a CPU
#
# `scripts/train_cifar10.py --dry-run` runs every code path of the script on a CPU: a small
# stand-in in CIFAR-10's format, networks 8× narrower, two updates, a checkpoint and a sample
# grid per update, and the stand-in feature extractor for the scores (which mean nothing).

# %%
dry_dir = WORK / "dry_run"
command = [sys.executable, str(ROOT / "scripts" / "train_cifar10.py"), "--dry-run"]
command += ["--recipe", "paper-cnn", "--out", str(dry_dir)]
shutil.rmtree(dry_dir, ignore_errors=True)  # start from scratch (a rerun would resume)
t0 = time.perf_counter()
done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
print(f"exit code {done.returncode} after {time.perf_counter() - t0:.0f} s")
print(done.stdout[-800:], done.stderr[-800:])

# %% [markdown]
# Claim: the run wrote a grid per sampling step (step 0 included), a loss history up to its last
# step, a final checkpoint that loads with `weights_only=True`, and scores at both sample sizes.

# %%
assert done.returncode == 0
dry_results = json.loads((dry_dir / "results.json").read_text())
dry_history = json.loads((dry_dir / "history.json").read_text())
steps_done = dry_results["steps"]
grids = sorted(p.name for p in (dry_dir / "samples").glob("step_*.png"))
assert grids[0] == "step_00000000.png" and grids[-1] == f"step_{steps_done:08d}.png"
assert dry_history[-1]["step"] == steps_done and latest_step(dry_dir) == steps_done
assert load_checkpoint(dry_dir / f"ckpt_{steps_done:08d}.pt")["step"] == steps_done
assert {"is_paper", "fid_paper", "is_all", "fid_all"} <= set(dry_results["scores"]["net_G"])

# %% [markdown]
# ## 7. Scoring the demo generator
#
# **The network and the protocol.** The field's numbers come from one particular network: the
# TensorFlow Inception graph of 2015-12-05 used by the original IS and FID code. torch-fidelity
# ports it to PyTorch and matches the TF reference, so `sngan_teach.inception` reads features
# through torch-fidelity's `FeatureExtractorInceptionV3` (pool features for FID, logits for IS),
# with TF32 off, and `torch_fidelity_metrics` also runs `torch_fidelity.calculate_metrics` end to
# end as a cross-check. The weights are looked for at `$SNGAN_INCEPTION_WEIGHTS` or in torch
# hub's cache and always passed explicitly, so nothing tries to download in the middle of an
# evaluation; when they are missing we learn it at once.

# %%
weights = inception.find_inception_weights()
if weights is not None:
    extractor, extractor_name = inception.inception_extractor(weights, device), "Inception-v3"
else:
    t0 = time.perf_counter()
    try:
        inception.get_inception_weights()
    except inception.InceptionWeightsUnavailable as err:
        print(f"No Inception weights, so no comparable IS/FID here: {err}")
    assert time.perf_counter() - t0 < 5  # fails fast, no download attempt
    extractor, extractor_name = inception.StandInExtractor(seed=seed).to(device), "stand-in"
print(f"feature extractor: {extractor_name}")

# %% [markdown]
# Now both protocols on the demo's EMA generator (its BN statistics recomputed above), against
# the training images. Claim: the barely trained generator is further from the data than one
# half of the data is from the other.

# %%
z_eval = torch.Generator(device=device).manual_seed(seed + 7)
fake = inception.generate_images(ema_G, n_eval, z_dim=z_dim, generator=z_eval)
n_real_eval = min(n_eval, len(images))
sizes = {"is_size": n_eval // 10, "is_runs": 10, "fid_real": n_real_eval, "fid_fake": n_eval // 2}
scores = inception.evaluate(fake, images[:n_real_eval], extractor, **sizes)
halves = inception.evaluate(
    images[: n_real_eval // 2], images[n_real_eval // 2 : n_real_eval], extractor,
    is_size=n_real_eval // 20, is_runs=10, fid_real=n_real_eval // 2, fid_fake=n_real_eval // 2,
)  # fmt: skip
print(f"demo G ({n_steps} updates): IS {scores['is_all']:.2f}, FID {scores['fid_all']:.3f}")
print(f"real vs real (two halves):   IS {halves['is_all']:.2f}, FID {halves['fid_all']:.3f}")

# %%
assert scores["fid_all"] > halves["fid_all"]

# %%
print(f"this run of the lesson took {time.perf_counter() - t_lesson:.0f} s "
      f"({'quick' if is_quick() else 'full'} mode, {device})")  # fmt: skip


# %% [markdown]
# ## Summary
#
# - CIFAR-10 fits on the device as `uint8`; sampling there and never syncing inside the step lets
#   lesson 07's unchanged trainer run at GPU speed; bf16, channels-last, fused Adam, one D call
#   and `torch.compile` do the rest, and `benchmarks/gpu_check.sh` checks it all on a GPU.
# - Checkpoints written atomically and restored with every RNG state resume a run bit for bit;
#   a NaN stops the run and leaves the last good checkpoint. An EMA generator needs its own BN
#   statistics.
# - A run writes its losses, sample grids, checkpoints and both protocols' scores; compare
#   `fid_paper` with the paper and `fid_all` with 50k/50k numbers only.
#
# ## Exercises
#
# 1. Why must `train_step(joint_D_call=True)` be switched off for a D with batch normalization
#    (the "Batch Norm." row of Table 2)?
# 2. Run `python scripts/train_cifar10.py --dry-run --recipe paper-resnet`, interrupt it with
#    Ctrl-C during training, and run it again: where does it restart?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: with BN, the batch statistics of cat(real, fake) mix real and fake images, so
# D(real) depends on the fakes in the same batch; separate calls keep the two apart.
# Solution 2: at the newest checkpoint (every step in a dry run), printed as "resuming from";
# a run that had finished starts at its last step and only re-evaluates.
print("the solutions are the comments of this cell")

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
#
# Back to [lesson 09](09_cifar10.ipynb), or on to [lesson 10](10_beyond_the_paper.ipynb).
