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
# # Train a CIFAR-10 SN-GAN on a GPU and score it with IS and FID
#
# Everything so far ran on 2-D toys. The paper's main evidence is Table 2: GANs trained on
# CIFAR-10 and STL-10, scored with the Inception score (IS) and the Fréchet Inception distance
# (FID). This lesson is about what it takes to reproduce that table: the two networks, the
# recipe behind every number (and which parts of it the paper does not state), what a trained
# SN-GAN looks like, how to launch the real runs (they need a GPU), and how IS and FID are
# computed. What makes those runs fast and safe is [appendix A4](A4_cifar10_engineering.ipynb).
#
# ## What you will learn
#
# 1. Build the paper's standard CNN (Table 3) and 32×32 ResNet (Table 4), and check their sizes
#    against the tables by formula.
# 2. Tell which settings of a CIFAR-10 run are the paper's, which come from the authors' code,
#    and which published IS and FID each of our measurements can be compared with; see why FID
#    at 10k/5k samples is not FID at 50k/50k.
# 3. Read a trained SN-GAN: its samples over training, each layer's largest singular value
#    during training (the paper's Fig. 9) and the spectra of an SN and a WN discriminator
#    (Fig. 3).
# 4. Launch the runs behind Table 2 with `scripts/train_cifar10.py --recipe ...`.
# 5. Compute IS and FID by hand, equal to `sngan_teach.metrics` and torch-fidelity, and catch the
#    element-wise square root that some FID code takes.
#
# ## What you need
#
# - Lessons 04 (the SN layer, `add_sn`), 05 (spectra, weight normalization) and 07 (losses).
# - Time on a CPU: under a minute in either mode, kernel start included (the cell before the
#   summary prints it). Section 3's trained run was made by `experiments/cifar_small_run.py`.
# - For real numbers: a GPU, CIFAR-10 (python version) and torch-fidelity's Inception weights;
#   without them appendix A4 uses stand-ins in their formats, and says so.

# %%
import json
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import linalg
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torchvision.utils import make_grid

from sngan_teach import cifar, metrics
from sngan_teach.explore import explore
from sngan_teach.gan import SETTINGS
from sngan_teach.models import (
    ResNetDiscriminator,
    ResNetGenerator,
    StandardDiscriminator,
    StandardGenerator,
    build_models,
    count_parameters,
)
from sngan_teach.recipes import PUBLISHED, RECIPES
from sngan_teach.runtime import base_seed, default_device, is_quick, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn
from sngan_teach.spectra import effective_rank, layer_singular_values, plot_layer_spectra

# %%
t_lesson = time.perf_counter()
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)
device = default_device()

z_dim = 128  # d_z, z ~ N(0, I)
slim = pick(quick=8, full=8)  # divide every channel count (1: the paper's widths)
print(f"device {device}, quick mode {is_quick()}, slim {slim}")

# %% [markdown]
# ## 1. The paper's networks
#
# **Standard CNN (Table 3).** G: z → dense 4×4×512 → three 4×4 stride-2 deconvolutions with
# BN and ReLU (256, 128, 64 channels) → 3×3 conv to RGB → tanh. D: seven convolutions
# (3×3 64, 4×4/2 64, 3×3 128, 4×4/2 128, 3×3 256, 4×4/2 256, 3×3 512) with leaky ReLU of slope
# 0.1, then dense → 1.
#
# Public code differs from the table in ways that change the results you can expect: the
# authors' `chainer-gan-lib` discriminator doubles the channels at the stride-2 layers
# (64 → 128 → 128 → 256 → 256 → 512 → 512) and uses Chainer's default leaky-ReLU slope 0.2;
# its generator draws z from a uniform distribution and batch-normalizes the 8192 outputs of
# the dense layer one by one. We follow the table, and after G's dense layer (where Table 3
# shows nothing) we reshape to 512×4×4 and use a per-channel `BatchNorm2d(512)` like every other
# BN of G; `sngan_teach/models.py` says why.
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
# architecture serves every method. `add_sn` runs 15 power iterations per layer when it is
# registered, so that W/σ̃(W) starts with a spectral norm close to 1 (σ̃ is the power-iteration
# estimate of σ), and then one more at every training-mode forward pass.
#
# Claim: before `add_sn` the layers of Table 3's D have spectral norms far from 1 (at
# initialization); right after it, every layer's largest singular value (of the reshaped
# d_out × (d_in·k·k) matrix) is within 20 % of 1. Images go in as (N, 3, 32, 32) and come out as
# one logit each.

# %%
net_D_check = build_models("standard", slim)[1]  # Table 3's D, channels / slim
before = {k: float(s[0]) for k, s in layer_singular_values(net_D_check).items()}
add_sn(net_D_check)
registered = {k: float(s[0]) for k, s in layer_singular_values(net_D_check).items()}
print("largest singular value per layer: before add_sn -> after it")
for k in before:
    print(f"  {k}: {before[k]:.3f} -> {registered[k]:.3f}")

# %%
assert max(abs(s - 1) for s in before.values()) > 0.5
assert all(abs(s - 1) < 0.2 for s in registered.values()), registered
for arch in ("standard", "resnet"):
    g_small, d_small = build_models(arch, slim)
    x_fake = g_small(torch.randn(4, z_dim, generator=gen))
    assert x_fake.shape == (4, 3, 32, 32) and x_fake.abs().max() <= 1
    assert add_sn(d_small)(x_fake).shape == (4,)

# %% [markdown]
# ## 2. The recipe, and where each number comes from
#
# What the paper states: the optimizer settings A–F of Table 1 (α, β₁, β₂, n_dis); for the
# ResNet, α = 2·10⁻⁴, β₁ = 0, β₂ = 0.9, n_dis = 5 (App. B.2, after Gulrajani et al.); 100k
# generator updates "unless otherwise noted" (Sec. 4.1); z ∈ R¹²⁸, z ~ N(0, I). What it does not
# state: the batch sizes, whether the learning rate decays for CIFAR-10, and which setting of
# Table 1 its standard-CNN rows of Table 2 used. Those come from the authors' code, and each of
# our recipes (`sngan_teach.recipes`, the `--recipe` of the training script) names its source:

# %%
columns = ["arch", "loss", "alpha", "beta1", "beta2", "n_dis", "batch_d", "batch_g"]
columns += ["lr_decay", "ema", "steps"]
print(f"{'recipe':<14}" + "".join(f"{c:>10}" for c in columns))
for name, r in RECIPES.items():
    print(f"{name:<14}" + "".join(f"{str(r[c]):>10}" for c in columns))
for name, r in RECIPES.items():
    print(f"\n{name}: {r['source']}")
matching = [k for k, s in SETTINGS.items() if all(s[c] == RECIPES["paper-cnn"][c] for c in s)]
print(f"\npaper-cnn's optimizer is setting {matching} of Table 1")

# %% [markdown]
# `paper-cnn` is setting C of Table 1 with a constant learning rate and no average of G's
# weights, which is what the authors' `chainer-gan-lib` runs for its SN-DCGAN; `paper-resnet`
# is the official `sngan_projection` configuration. `fast-cnn`, the recipe of the inline
# demonstration in appendix A4, is *not* the paper's: it puts the ResNet optimizer on the
# standard CNN and adds a learning-rate decay and an exponential moving average (EMA) of G.
#
# **Which published number a run can be compared with.** IS and FID depend on how many images
# they are computed from, so a number is only comparable with one computed the same way. The
# paper (App. B.1) computes IS on 5000 generated images and reports the mean and standard
# deviation of 10 repetitions; we read that as 10 sets of 5000 images from one generator (its
# ResNet rows give the spread over training seeds instead). It computes FID "over 10000 and 5000
# samples" without saying which set is real; we read it, as mimicry does, as 10000 real against
# 5000 generated. Both are our interpretations where the paper is ambiguous. The training
# script reports our `is_paper` and `fid_paper` (10 × 5000; 10k real / 5k generated) and
# `is_all`, `fid_all` (50k / 50k):

# %%
for row in PUBLISHED:
    is_txt = "" if row["is"] is None else f"IS {row['is']:.2f}, "
    print(f"{row['source']}, {row['model']}: {is_txt}FID {row['fid']:.2f}")
    print(f"    measured as: {row['protocol']}")
    print(f"    compare with: {row['comparable'] or 'none of our recipes'} ({row['note']})")

# %% [markdown]
# Why sample size matters: FID estimates a distance between two Gaussians from finite samples,
# and the estimate is biased upwards: for two samples of one distribution the mean term
# ‖μ̂_r − μ̂_g‖² alone is tr(Σ)(1/n_real + 1/n_fake) on average, and the covariance term adds a
# bias that also shrinks with the sample sizes. Claim: for two samples of one and the same
# Gaussian (true FID 0) in 64 dimensions, the estimate at 10k/5k is more than three times the
# one at 50k/50k.

# %%
rng = np.random.default_rng(seed)
d_feat = 64  # feature dimension (Inception's pool features have 2048)
mix = rng.normal(size=(d_feat, d_feat)) / math.sqrt(d_feat)


def gaussian_features(n):
    return rng.normal(size=(n, d_feat)) @ mix.T


fid_by_size = {
    (n_r, n_f): metrics.fid_from_features(gaussian_features(n_r), gaussian_features(n_f))
    for n_r, n_f in [(10_000, 5_000), (50_000, 50_000)]
}
for (n_r, n_f), value in fid_by_size.items():
    print(f"same distribution, {n_r} vs {n_f} samples: FID {value:.4f}")
print(f"ratio {fid_by_size[10_000, 5_000] / fid_by_size[50_000, 50_000]:.1f}")

# %%
assert fid_by_size[10_000, 5_000] > 3 * fid_by_size[50_000, 50_000] > 0

# %% [markdown]
# ## 3. What a trained SN-GAN looks like
#
# No GPU run of this repository is stored yet, so this section reads a **small run on a CPU**
# that `experiments/cifar_small_run.py` made and stored in `benchmarks/results/`: the
# `paper-cnn` recipe (setting C, n_dis = 1, batches 64 / 64, standard loss), with every channel
# count divided by 8, trained on *stand-in images* in CIFAR-10's shape (smooth, class-tinted
# pictures from `sngan_teach.cifar.fixture_images`, not CIFAR-10), once with SN on D and once
# with WN on D. It makes the kinds of plots the paper shows, on a problem small enough for a CPU; it
# says nothing about IS or FID on CIFAR-10. Its settings are stored with it:

# %%
from sngan_teach.runtime import stored_result  # benchmarks/results/NAME, or how to make it

made_by = "python experiments/cifar_small_run.py --norm"  # the command that stored them
stored = {n: np.load(stored_result(f"cifar_small_{n}.npz", f"{made_by} {n}")) for n in ("sn", "wn")}
small = {norm: json.loads(str(d["config"])) for norm, d in stored.items()}
for norm, cfg in small.items():
    print(
        f"{norm}: recipe {cfg['recipe']}, slim {cfg['slim']}, {cfg['steps']} G updates on "
        f"{cfg['n_images']} {cfg['data']} images, {cfg['seconds'] / 60:.0f} min on a "
        f"{cfg['machine']} with {cfg['threads']} thread (torch {cfg['torch']})"
    )
run_sn = stored["sn"]
grid_steps = [int(s) for s in run_sn["grid_steps"]]
real_small = cifar.fixture_images(small["sn"]["n_images"], seed=small["sn"]["seed"])[0]
history_sn = run_sn["history"]  # columns: step, loss_D, loss_G

# %% [markdown]
# Move the slider through training: the same 32 codes z, fed to G after each number of
# updates. The folded cell below draws the slider's figure, `draw_samples`: training images of
# the stand-in set beside G's 32 samples after the chosen number of updates.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def image_grid(x, nrow=8):
    return make_grid(torch.as_tensor(x), nrow=nrow).permute(1, 2, 0).numpy()


def draw_samples(step):
    i = grid_steps.index(step)
    fig, (ax_r, ax_f) = plt.subplots(1, 2, figsize=(6, 1.9))
    ax_r.imshow(image_grid(real_small[:32]))
    ax_r.set(title="training images (stand-in)", xlabel="image", ylabel="image")
    ax_f.imshow(image_grid(run_sn["grids"][i]))
    ax_f.set(title=f"G(z) after {step} updates", xlabel="sample", ylabel="sample")
    for ax in (ax_r, ax_f):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    row = history_sn[np.searchsorted(history_sn[:, 0], max(step, history_sn[0, 0]))]
    return fig, f"step {step}: loss_D {row[1]:.3f}, loss_G {row[2]:.3f} (logged at {row[0]:.0f})"


explore(draw_samples, step=grid_steps)

# %% [markdown]
# A number to go with the pictures. With no Inception network trained on these pictures, we
# compare colour statistics: each image's mean and standard deviation per channel (6 numbers),
# and the Fréchet distance (the FID formula) between those of G's 32 samples and of 2000
# training images. Claim: over training it falls by more than a factor of 10.


# %%
def colour_stats(x):
    x = torch.as_tensor(x).double() / 255
    return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1).numpy()


colour_real = colour_stats(real_small[:2000])
colour_distance = [metrics.fid_from_features(colour_stats(g), colour_real) for g in run_sn["grids"]]
fig, ax = plt.subplots(1, 2, figsize=(7, 3))
ax[0].plot(history_sn[:, 0], history_sn[:, 1], label="loss_D")
ax[0].plot(history_sn[:, 0], history_sn[:, 2], label="loss_G")
ax[0].set(title="losses (stored run, SN)", xlabel="generator update", ylabel="loss")
ax[0].legend()
ax[1].semilogy(grid_steps, colour_distance, "o-", label="G(z) vs training images")
ax[1].set(title="colour-statistics distance", xlabel="generator update", ylabel="Fréchet distance")
ax[1].legend()
fig.tight_layout()
plt.show()
print(
    "distance by step:", {s: round(v, 4) for s, v in zip(grid_steps, colour_distance, strict=True)}
)

# %%
assert colour_distance[-1] < colour_distance[0] / 10

# %% [markdown]
# **Every layer's σ(W̄) during training (the paper's Fig. 9).** SN divides each weight by the
# power-iteration estimate σ̃(W), updated by one iteration per training step. If the weight
# moves faster than the estimate follows, σ(W̄) = σ(W)/σ̃(W) drifts above 1. The paper reports
# (Fig. 9, CIFAR-10, setting C) that every layer stays within 1 to 1.05 and mostly within 0.05
# of 1. The stored run recorded each SN layer's largest singular value of W̄ during training.
#
# One bound holds by construction: σ̃(W) = uᵀWv with unit vectors u, v is at most σ(W), so
# σ(W̄) = σ(W)/σ̃(W) is never below 1; lag can only push it up.

# %%
layers = small["sn"]["layers"]
sigma_steps, sigmas = run_sn["sigma_steps"], run_sn["sigmas"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for j, layer in enumerate(layers):
    ax.plot(sigma_steps, sigmas[:, j], label=layer)
ax.set(title="σ(W̄) of each SN layer (stored run)", xlabel="generator update", ylabel="σ(W̄)")
ax.legend(ncol=4, fontsize=7)
plt.show()
in_band = (sigmas >= 1 - 1e-6) & (sigmas <= 1.05)
print(f"over the whole run: min {sigmas.min():.4f}, max {sigmas.max():.4f}; "
      f"{in_band.mean():.1%} of the readings in [1, 1.05]; outside:")  # fmt: skip
for t, j in zip(*np.nonzero(~in_band), strict=True):
    print(f"  update {sigma_steps[t]:>4}, layer {layers[j]}: {sigmas[t, j]:.3f}")

# %% [markdown]
# As in the paper, nearly every reading is within [1, 1.05]; the largest departures are in the
# last convolution (`c6`, the paper's layer 7, the widest), where the paper too sees
# deviations above 0.1 early in training, and right after registration (update 0). Claim:
# σ(W̄) ≥ 1 throughout, at least 90 % of the readings lie in [1, 1.05], and the largest one is
# in `c6`.

# %%
assert sigmas.min() >= 1 - 1e-6  # float32 rounding only
assert in_band.mean() >= 0.9
assert layers[int(np.argmax(sigmas.max(0)))] == "c6"

# %% [markdown]
# **Spectra of a trained SN and WN discriminator (the paper's Fig. 3).** The paper plots, for
# each layer of D, the squared singular values σ_t² / σ_1² of the normalized weight. With weight
# normalization (each output row scaled to norm 1, γ removed) Σ_t σ_t² = ‖W̄‖_F² = d_out is fixed,
# and lesson 05 showed training spend that fixed budget on few directions. SN fixes only σ_1.
# Below: the stored SN and WN runs at the end of their training (the last layer, a single row,
# has one singular value and is left out). These discriminators are far less trained than the
# paper's: far fewer updates, narrower layers and a simpler data set (the settings printed above).

# %%
spectra = {
    norm.upper(): {k: torch.from_numpy(stored[norm][f"final_{k}"]) for k in layers}
    for norm in ("sn", "wn")
}
matrix_layers = [k for k in layers if len(spectra["SN"][k]) > 1]
cfg = small["sn"]
title = f"D after {cfg['steps']} updates (stored CPU run, stand-in data, slim {cfg['slim']})"
fig = plot_layer_spectra(spectra, layers=matrix_layers, title=title)
plt.show()
ranks = {
    norm: {k: effective_rank(spectra[norm][k]) for k in matrix_layers} for norm in ("SN", "WN")
}
for k in matrix_layers:
    print(f"{k:>4}: effective rank SN {ranks['SN'][k]:7.2f}   WN {ranks['WN'][k]:7.2f}")

# %% [markdown]
# The two discriminators start from the same weights. After this short run the WN spectra have
# begun to concentrate in the last two convolutions only; elsewhere neither method has moved
# far from its starting spectrum, so the collapse of the paper's Fig. 3 (rank-deficient WN
# layers 1–5) is not reached here: the run is far too short for it. Claim: WN's effective
# rank in `c5` and `c6` falls by more than 5 % of its starting value, while every SN layer stays
# within 3 % of its own; and each WN layer's squared singular values still sum to d_out (every
# row of W̄ has norm 1).

# %%
start_rank = {
    m.upper(): {k: effective_rank(torch.from_numpy(d[f"init_{k}"])) for k in matrix_layers}
    for m, d in stored.items()
}
change = {m: {k: ranks[m][k] / start_rank[m][k] - 1 for k in matrix_layers} for m in ranks}
for m, c in change.items():
    print(f"{m}: effective rank, change since the start:", {k: f"{v:+.1%}" for k, v in c.items()})

# %%
assert change["WN"]["c5"] < -0.05 and change["WN"]["c6"] < -0.05
assert all(abs(v) < 0.03 for v in change["SN"].values())
net_shapes = dict(build_models("standard", small["wn"]["slim"])[1].named_modules())
d_out = {k: net_shapes[k].weight.shape[0] for k in layers}
for k in layers:  # WN: every row of W-bar has norm 1, so the squared singular values sum to d_out
    assert abs(float((spectra["WN"][k] ** 2).sum()) - d_out[k]) < 1e-4 * d_out[k], k

# %% [markdown]
# ## 4. Launching and reading the real runs
#
# `scripts/train_cifar10.py` trains one of the recipes at the paper's widths, with everything of
# appendix A4 switched on (data on the device, bf16, channels-last, fused
# Adam and `torch.compile` on CUDA, checkpoints and a fixed-z sample grid every 5000 updates),
# and scores G with IS and FID at the end. Running the same command again resumes from the
# newest checkpoint. On a GPU:
#
# ```bash
# export SNGAN_CIFAR10_DIR=/path/to/cifar10          # the folder holding cifar-10-batches-py
# export SNGAN_INCEPTION_WEIGHTS=/path/to/weights-inception-2015-12-05-6726825d.pth
# python scripts/train_cifar10.py --recipe paper-cnn                # Table 2, "SN-GANs"
# python scripts/train_cifar10.py --recipe paper-cnn --loss hinge   # Table 2, hinge loss
# python scripts/train_cifar10.py --recipe paper-resnet             # 50k updates, as the config
# python scripts/train_cifar10.py --recipe paper-resnet --steps 100000   # 100k, as the paper
# python scripts/train_cifar10.py --recipe paper-cnn --norm wn      # a WN D, for Fig. 3
# ```
#
#
# (add `--download` to fetch the data and the weights when online). Any flag overrides the
# recipe's value. What each run writes, which of its scores compares with which published
# number, the one-command GPU check, and a reader of the finished runs are in
# [appendix A4](A4_cifar10_engineering.ipynb).

# %% [markdown]
# ## 5. Inception score and Fréchet Inception distance
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
# Images go in as bytes. Real images are integers 0…255, while G's tanh output is continuous;
# before scoring, generated images are mapped back with `cifar.to_uint8` (clamp to [−1, 1],
# `(x + 1) · 127.5`, round to the nearest integer), so Inception sees real and generated images
# on the same integer grid. (The official ResNet code also *dequantizes* the real images in
# training, `x / 128 − 1 + U(0, 1/128)`, so that D never sees the 256-level grid;
# `scripts/train_cifar10.py --dequantize` does the same, off in every recipe.)
#

# %% [markdown]
# **Your turn.** Write `as_uint8(x)`, the mapping back to bytes described above: images in
# $[-1, 1]$ (values a little outside allowed) to a `torch.uint8` tensor in 0…255, clamped and
# rounded to the nearest integer. `cifar.to_uint8` is the package's: write your own.
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.as_uint8.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def as_uint8(x):
    """Images in [-1, 1] as bytes 0..255: clamp, scale, round."""
    ...  # your code here


# %%
accepted = exercises.as_uint8.check(as_uint8)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: round before the cast, which alone would truncate.
def as_uint8_solution(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


assert exercises.as_uint8.check(as_uint8_solution) is True


# %% [markdown]
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
# **Your turn.** Write `inception_score_of(p)` for a numpy array `p` of class probabilities (one
# row $p(y\mid x)$ per image): $\exp(\mathbb E_x\, \mathrm{KL}(p(y\mid x)\,\Vert\,p(y)))$.
# Confident rows hold exact zeros.


# %%
def inception_score_of(p):
    """IS = exp(E_x KL(p(y|x) || p(y))) from the N x K array p."""
    ...  # your code here


# %%
accepted = exercises.inception_score_of.check(inception_score_of)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: xlogy(a, b) = a log b, with 0 where a = 0.
def inception_score_of_solution(p):
    from scipy.special import xlogy

    kl = xlogy(p, p) - xlogy(p, p.mean(axis=0))
    return float(np.exp(kl.sum(axis=1).mean()))


assert exercises.inception_score_of.check(inception_score_of_solution) is True

# %% [markdown]
# For FID the check is a closed form: for Gaussians with diagonal covariances
# FID = Σ_i (μ_1i − μ_2i)² + Σ_i (s_1i + s_2i − 2 √(s_1i s_2i)). The matrix square root matters.
# A version seen in the wild takes `np.sqrt(sigma1 @ sigma2)` (an element-wise root) instead of
# `scipy.linalg.sqrtm`; it agrees on diagonal matrices, which is why it survives. Claim: on
# correlated Gaussians the element-wise version is off, while `sqrtm` matches the value from the
# eigenvalues of Σ_1 Σ_2 (tr (Σ_1 Σ_2)^{1/2} = Σ √λ_i).

# %%
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
assert abs(fid_wrong(mu1, sigma1, mu2, sigma2) - fid_exact) > 0.1  # 2000 draws: always > 0.5
# Why it survives: on diagonal covariances the element-wise root is the matrix root.
diag_rng = np.random.default_rng(seed + 11)
a_diag, b_diag = diag_rng.uniform(0.5, 2, d), diag_rng.uniform(0.5, 2, d)
diag_exact = np.sum((mu1 - mu2) ** 2) + np.sum(a_diag + b_diag - 2 * np.sqrt(a_diag * b_diag))
assert abs(fid_wrong(mu1, np.diag(a_diag), mu2, np.diag(b_diag)) - diag_exact) < 1e-10


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
# **Your turn.** Write `fid_of_gaussians(mu1, sigma1, mu2, sigma2)` for numpy means and
# covariances, from the formula, with the trace of the matrix square root taken from the
# eigenvalues of $\Sigma_1\Sigma_2$ (as `fid_exact` above) or by `sqrtm`. The check uses
# correlated covariances, where the element-wise root is caught.


# %%
def fid_of_gaussians(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))."""
    ...  # your code here


# %%
accepted = exercises.fid_of_gaussians.check(fid_of_gaussians)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: tr (Sigma_1 Sigma_2)^(1/2) is the sum of the roots of its eigenvalues (all >= 0).
def fid_of_gaussians_solution(mu1, sigma1, mu2, sigma2):
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2).real.clip(min=0)
    mean_term = ((mu1 - mu2) ** 2).sum()
    return float(mean_term + np.trace(sigma1 + sigma2) - 2 * np.sqrt(eigenvalues).sum())


assert exercises.fid_of_gaussians.check(fid_of_gaussians_solution) is True
# %%
print(f"this run of the lesson took {time.perf_counter() - t_lesson:.0f} s "
      f"({'quick' if is_quick() else 'full'} mode, {device})")  # fmt: skip


# %% [markdown]
# ## Summary
#
# - The paper's networks are small: the standard CNN's G has 3.8M parameters and D 2.9M, the
#   ResNet's G 4.3M and D 1.1M, exactly what Tables 3 and 4 imply. Public code differs from
#   the tables (doubled channels, slope 0.2, uniform z, BN over 8192 units); know which one you
#   compare with.
# - The paper states its optimizers (Table 1, App. B.2) and the number of updates, not its
#   batch sizes or which setting its standard-CNN rows used: `paper-cnn` and `paper-resnet`
#   fill those in from the authors' code and say so, `fast-cnn` is ours.
# - A published IS or FID is comparable only with one computed at the same sample sizes: FID at
#   10k/5k is several times more biased than at 50k/50k.
# - A trained SN discriminator keeps every layer's largest singular value near 1 without
#   collapsing its spectrum; a WN one fixes the sum of the squared singular values instead.
# - IS and FID are a few lines each once the features are there; the matrix square root of FID
#   must be `sqrtm` (or the eigenvalues of Σ_1 Σ_2), not an element-wise root, which agrees only
#   on diagonal covariances.
# - How the runs are made fast (data on the device, bf16, one D call, `torch.compile`), resumed
#   bit for bit and stopped on a NaN is [appendix A4](A4_cifar10_engineering.ipynb).
#
# ## Exercises
#
# 1. The `chainer-gan-lib` discriminator doubles the channels at the stride-2 convolutions:
#    3→64 (3×3), 64→128 (4×4/2), 128→128 (3×3), 128→256 (4×4/2), 256→256 (3×3), 256→512 (4×4/2),
#    512→512 (3×3), dense 4·4·512 → 1. How many parameters does it have, and how many times more
#    than Table 3's D? Check your count against `StandardDiscriminator(doubled=True)`.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: count by formula, then build the network.
chainer_D = sum(
    conv_params(a, b, k)
    for a, b, k in [(3, 64, 3), (64, 128, 4), (128, 128, 3), (128, 256, 4)]
    + [(256, 256, 3), (256, 512, 4), (512, 512, 3)]
)
chainer_D += 4 * 4 * 512 + 1
print(f"chainer-gan-lib D: {chainer_D:,d} parameters, {chainer_D / table3_D:.2f}x Table 3's D")
assert chainer_D == count_parameters(StandardDiscriminator(doubled=True))

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of
#   Wasserstein GANs*. NeurIPS. `gulrajani2017improved`
# - Radford, Metz and Chintala (2016). *Unsupervised Representation Learning with Deep
#   Convolutional Generative Adversarial Networks*. ICLR. `radford2016unsupervised`
# - Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016). *Improved Techniques for
#   Training GANs*. NeurIPS. `salimans2016improved`
# - Heusel, Ramsauer, Unterthiner, Nessler and Hochreiter (2017). *GANs Trained by a Two
#   Time-Scale Update Rule Converge to a Local Nash Equilibrium*. NeurIPS. `heusel2017gans`
# - Kingma and Ba (2015). *Adam: A Method for Stochastic Optimization*. ICLR. `kingma2015adam`

# %% [markdown]
# ## What's next
#
# [Lesson 10](10_beyond_the_paper.ipynb) takes SN past the paper: a class-conditional SN-GAN
# with a projection discriminator, and SN in the generator too.
