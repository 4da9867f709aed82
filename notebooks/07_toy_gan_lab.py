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
# # Train 2-D GANs and count the modes each method captures
#
# Lessons 04–06 built spectral normalization (SN) and the alternatives the paper compares it
# with. Here they meet a real adversarial game, small enough to train in seconds on a CPU:
# a generator $G$ that must reproduce a mixture of Gaussians in the plane, and a discriminator
# $D$ normalized in one of six ways. Two-dimensional data lets us *see* everything: the
# samples, the landscape $D(x)$ and the gradient $\nabla_x D$ that pulls the samples, and
# we can *count* mode collapse exactly, with the metrics of VEEGAN and PacGAN.
#
# ## What you will learn
#
# 1. Sample the 8-Gaussian ring and the 25-Gaussian grid, and score a generator by modes
#    captured, fraction of high-quality samples and $\mathrm{KL}(p\,\Vert\,U)$.
# 2. Write the standard and hinge losses (paper eqs. 15–17), and catch a sign error in the
#    hinge loss that makes $D$ learn backwards.
# 3. Run the training step shared with lesson 08: `n_dis` discriminator updates, one generator
#    update, any loss, any normalization or penalty, no host synchronization.
# 4. Read the discriminator's landscape and gradient field, and the metric curves over training.
# 5. Compare every method under the paper's optimizer settings A–F (Table 1) in one table.
#
# ## What you need
#
# Lessons 04 (spectral norm) and 06 (the alternatives). Full mode takes about 3.5 minutes on
# an idle 2-core CPU, 2.5 of them for the long runs of "Reaching every mode" (more when the
# machine is shared); the 72-run results table (`benchmarks/toy_table.py`, 46 minutes on 2
# shared cores) and three longer runs of the final recipe (`benchmarks/toy_long.py`, 6.5
# minutes on 2 idle cores) are produced by separate scripts and read here. No GPU.

# %%
import copy
import csv
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import Dropdown, IntSlider, interact_manual

import sngan_teach.toy as toy
from sngan_teach.gan import SETTINGS, make_optimizers, train, train_step
from sngan_teach.losses import hinge_loss_D, hinge_loss_G, ns_loss_D
from sngan_teach.regularizers import orthonormal_penalty
from sngan_teach.runtime import pick, seed_all
from sngan_teach.toy import (
    DATASETS,
    METHODS,
    dataset,
    lab,
    make_D,
    make_G,
    mode_metrics,
    plot_curves,
    plot_landscape,
    plot_samples,
    sample_mixture,
    train_toy,
)

# %%
seed = 0
gen = seed_all(seed)  # one seeded generator for the data drawn in this notebook
torch.set_num_threads(1)  # tiny networks: one thread is fastest, and fair on a shared CPU
data = pick(quick="ring", full="grid")  # the mixture of Steps 4-5 (quick mode: 8 modes)
n_steps = pick(quick=300, full=1500)  # generator updates of the runs in Step 4
setting = pick(quick="C", full="D")  # optimizer setting of Table 1 (alpha, beta1, beta2, n_dis)
width = 64  # hidden units of G and D
batch_size_D = 256  # real (and fake) samples per discriminator update
batch_size_G = 256  # fake samples per generator update
n_eval = pick(quick=1000, full=2500)  # samples scored by the metrics (2500 as in VEEGAN/PacGAN)
eval_every = pick(quick=50, full=150)  # generator updates between two metric evaluations
n_D_steps = pick(quick=100, full=200)  # discriminator updates in the hinge-sign check of Step 3
table_path = Path("../benchmarks/results/toy_table.csv")  # written by benchmarks/toy_table.py
long_data = pick(quick="ring", full="grid")  # mixture of "Reaching every mode"
long_steps = pick(quick=600, full=9000)  # its generator updates, alpha decayed linearly to 0
long_setting = {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 1}  # alpha, beta1, beta2
long_width = 128  # hidden units of its G and D (3 hidden layers in G, with batch norm; 2 in D)

# %% [markdown]
# ## Step 1: the ring and the grid
#
# Both data sets are equal-weight mixtures of isotropic Gaussians $\mathcal N(c_k, s^2 I)$.
# Papers disagree on the geometry (paper-facts §7), so we fix it and say it:
#
# - **ring**: 8 centres $c_k = (2\cos\frac{2\pi k}{8}, 2\sin\frac{2\pi k}{8})$, radius 2,
#   standard deviation $s = 0.02$ (PacGAN's ring, radius 1 and $s = 0.01$, scaled by 2);
# - **grid**: 25 centres on $\{-4,-2,0,2,4\}^2$ with $s = 0.05$ (PacGAN's grid).
#
# Samples are drawn with an explicit, seeded `torch.Generator`: first the component
# $k \sim \mathcal U\{1..K\}$, then the noise.

# %%
print(DATASETS)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
for ax, name in zip(axes, ("ring", "grid"), strict=True):
    centres, std = dataset(name)
    real = sample_mixture(centres, std, 2500, gen)
    plot_samples(ax, real, centres, f"{name}: {len(centres)} modes, std {std}")
axes[0].legend(loc="upper right", fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Step 2: counting modes
#
# With $n$ samples $x_i$ of the generator (VEEGAN and PacGAN use $n = 2500$):
#
# - a sample is **high quality** (HQ) if it lies within $3s$ of its nearest centre;
# - a mode is **captured** if at least one HQ sample is nearest to it;
# - the **divergence** is the reverse KL from the mode histogram $p$ of the HQ samples to
#   the uniform distribution $U$ over the $K$ modes,
#   $\mathrm{KL}(p\,\Vert\,U) = \sum_k p_k \log(K p_k)$: 0 when every mode gets the same share,
#   $\log K$ when one mode takes everything. (PacGAN's tables call theirs "reverse KL"; their
#   released code logs a Jensen–Shannon divergence instead; the exercise computes that one.)
#
# Inline first:


# %%
def count_modes(samples, centres, std):
    dist, nearest = torch.cdist(samples.double(), centres.double()).min(dim=1)
    good = dist < 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    p = counts[counts > 0].double() / good.sum()
    kl = (p * torch.log(p * len(centres))).sum().item()
    return int((counts > 0).sum()), good.double().mean().item(), kl


centres, std = dataset("grid")
real = sample_mixture(centres, std, 2500, gen)
collapsed = centres[7] + std * torch.randn(2500, 2, generator=gen)  # a generator stuck on one mode
print("real data :", count_modes(real, centres, std))
print("collapsed :", count_modes(collapsed, centres, std))

# %% [markdown]
# **Claim.** The real data captures all 25 modes, with about $1 - e^{-9/2} = 98.9\,\%$ HQ
# samples (the mass of a 2-D Gaussian within $3s$) and a KL near 0; a generator stuck on one
# mode has 1 mode and KL $= \log 25$. The package's `mode_metrics` computes the same numbers.

# %%
modes, hq, kl = count_modes(real, centres, std)
assert modes == 25 and abs(hq - (1 - math.exp(-4.5))) < 0.01 and kl < 0.02
modes, hq, kl = count_modes(collapsed, centres, std)
assert modes == 1 and hq > 0.98 and abs(kl - math.log(25)) < 1e-9
for samples in (real, collapsed):
    m = mode_metrics(samples, centres, std)
    assert (m["modes"], m["hq"]) == count_modes(samples, centres, std)[:2]
    assert math.isclose(m["kl"], count_modes(samples, centres, std)[2], abs_tol=1e-12)

# %% [markdown]
# ## Step 3: the losses, and a sign to get right
#
# $D$ outputs a logit $D(x) \in \mathbb R$. The paper's two losses, written as losses to
# **minimize**:
#
# - standard (eq. 15) with the non-saturating generator loss:
#   $\mathcal L_D = \mathbb E[\mathrm{softplus}(-D(x))] + \mathbb E[\mathrm{softplus}(D(G(z)))]$,
#   $\mathcal L_G = \mathbb E[\mathrm{softplus}(-D(G(z)))]$;
# - hinge (eqs. 16–17): the paper writes $D$'s objective as a *maximization*,
#   $V_D = \mathbb E[\min(0, -1 + D(x))] + \mathbb E[\min(0, -1 - D(G(z)))]$, so the loss
#   is its negative,
#   $\mathcal L_D = \mathbb E[\max(0, 1 - D(x))] + \mathbb E[\max(0, 1 + D(G(z)))]$,
#   and $\mathcal L_G = -\mathbb E[D(G(z))]$.
#
# A seed of this lesson copied eq. (16) into an optimizer as it stands, i.e. **minimized the
# maximization objective**. We train $D$ alone for `n_D_steps` updates, real samples against a
# fixed blob of fakes at the origin, and check what any discriminator must learn:
# $D(\text{real}) > D(\text{fake})$.


# %%
def wrong_hinge_loss_D(d_real, d_fake):  # eq. (16) minimized as written: the wrong sign
    return torch.clamp(-1 + d_real, max=0).mean() + torch.clamp(-1 - d_fake, max=0).mean()


def fit_D(loss_fn_D, n_updates):
    torch.manual_seed(seed)
    net_D = make_D("sn", width)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    d_gen = torch.Generator().manual_seed(seed)
    for _ in range(n_updates):
        real = sample_mixture(centres, std, 128, d_gen)
        fake = 0.5 * torch.randn(128, 2, generator=d_gen)
        loss_D = loss_fn_D(net_D(real), net_D(fake))
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
    net_D.eval()
    with torch.no_grad():
        gap = net_D(sample_mixture(centres, std, 1000, d_gen)).mean() - net_D(fake).mean()
    return gap.item()


gap_wrong = fit_D(wrong_hinge_loss_D, n_D_steps)
print(f"wrong sign: mean D(real) - mean D(fake) = {gap_wrong:+.3f}")

# %% [markdown]
# **Claim.** With the wrong sign, $D$ learns backwards: it rates the fakes *above* the real
# data, so the check fails (the cell below prints the failure instead of stopping).

# %%
try:
    assert gap_wrong > 0, f"D rates fakes above real data (gap {gap_wrong:+.3f})"
    wrong_check = "passed"
except AssertionError as err:
    wrong_check = f"failed: {err}"
print("check D(real) > D(fake) with the wrong sign:", wrong_check)
assert wrong_check.startswith("failed") and gap_wrong < -0.5

# %% [markdown]
# The fix is the hinge loss written as a loss: $\max(0, 1 - D(x))$ and $\max(0, 1 + D(G(z)))$.
# It is `sngan_teach.losses.hinge_loss_D`, which equals the negated objective (16) exactly.


# %%
def correct_hinge_loss_D(d_real, d_fake):
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


gap_right = fit_D(correct_hinge_loss_D, n_D_steps)
print(f"correct sign: mean D(real) - mean D(fake) = {gap_right:+.3f}")
assert gap_right > 0.5
d_real, d_fake = torch.randn(2, 64, 1, generator=gen, dtype=torch.float64).unbind(0)
torch.testing.assert_close(correct_hinge_loss_D(d_real, d_fake), hinge_loss_D(d_real, d_fake))
torch.testing.assert_close(hinge_loss_D(d_real, d_fake), -wrong_hinge_loss_D(d_real, d_fake))
# the standard loss is PyTorch's binary cross-entropy on logits (real = 1, fake = 0)
bce = F.binary_cross_entropy_with_logits
torch.testing.assert_close(
    ns_loss_D(d_real, d_fake),
    bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)),
)

# %% [markdown]
# ## Step 4: the training step, and a first run
#
# One iteration of the game (Algorithm of the paper, as in the authors' code):
#
# ```
# for _ in range(n_dis):                      # discriminator updates
#     real = sample_real(batch_size_D); z = randn(batch_size_D, z_dim, generator=gen)
#     loss_D = loss_fn_D(D(real), D(G(z).detach())) + penalty   # one D call on cat(real, fake)
#     opt_D.step(); after_D_step(D)           # e.g. weight clipping
# z = randn(batch_size_G, z_dim, generator=gen)
# loss_G = loss_fn_G(D(G(z))); opt_G.step()   # D frozen
# ```
#
# `sngan_teach.gan.train_step` is exactly this, with the losses returned as detached tensors
# (no `.item()`, so a GPU never waits for the host); `train` loops over it with a progress
# bar, checks the losses for NaN every `log_every` steps and calls a callback every
# `callback_every` steps. Lesson 08 reuses both unchanged for CIFAR-10. The optimizer
# settings are the paper's Table 1:

# %%
for name, s in SETTINGS.items():
    print(name, s)

# %% [markdown]
# We first write one iteration inline on fresh networks and check that it is the package's
# `train_step`, update for update (same seed, same generator state).


# %%
def my_step(net_G, net_D, opt_G, opt_D, sample_real, z_gen, n_dis):
    for _ in range(n_dis):
        real = sample_real(batch_size_D)
        z = torch.randn(batch_size_D, 2, generator=z_gen)
        with torch.no_grad():
            fake = net_G(z)
        d_real, d_fake = net_D(torch.cat([real, fake])).split([len(real), len(fake)])
        loss_D = hinge_loss_D(d_real, d_fake)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
    z = torch.randn(batch_size_G, 2, generator=z_gen)
    loss_G = hinge_loss_G(net_D(net_G(z)))
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return loss_D.detach(), loss_G.detach()


def make_sampler(name, generator):
    c, s = dataset(name)
    return lambda n: sample_mixture(c, s, n, generator)


runs = []
for step_fn in ("inline", "package"):
    torch.manual_seed(seed)
    net_G, net_D = make_G(2, width), make_D("sn", width)
    opt_G, opt_D = make_optimizers(net_G, net_D, "A")
    z_gen = torch.Generator().manual_seed(seed)
    sample_ring = make_sampler("ring", z_gen)
    for _ in range(3):
        if step_fn == "inline":
            my_step(net_G, net_D, opt_G, opt_D, sample_ring, z_gen, n_dis=5)
        else:
            train_step(net_G, net_D, opt_G, opt_D, sample_ring, z_dim=2, generator=z_gen, n_dis=5,
                       batch_size_D=batch_size_D, batch_size_G=batch_size_G)  # fmt: skip
    runs.append(copy.deepcopy(net_G.state_dict()))
for key in runs[0]:
    torch.testing.assert_close(runs[0][key], runs[1][key])
print("inline step == sngan_teach.gan.train_step after 3 iterations of n_dis = 5")

# %% [markdown]
# Now a real run: SN with the hinge loss against an unnormalized $D$ and the WGAN-GP critic
# (Wasserstein loss plus $\lambda = 10$ gradient penalty), all under the same setting and
# seed. `train_toy` builds the networks (MLPs with `width` units; $G$ has batch norm as in
# PacGAN, $D$ leaky ReLUs with slope 0.1), trains with `train`, and scores $G$ every
# `eval_every` steps on `n_eval` fixed codes $z$.

# %%
kw = dict(n_steps=n_steps, width=width, batch_size_D=batch_size_D, batch_size_G=batch_size_G)
kw |= dict(n_eval=n_eval, eval_every=eval_every, seed=seed, progress=True)
toy_runs = {
    "SN, hinge": train_toy(data, "sn", "hinge", setting, **kw),
    "no normalization, hinge": train_toy(data, "none", "hinge", setting, **kw),
    "WGAN-GP": train_toy(data, "gp", "wgan", setting, **kw),
}
untrained = train_toy(data, "sn", "hinge", setting, **(kw | dict(n_steps=0, progress=False)))
for label, run in toy_runs.items():
    print(f"{label:>24}: {run['metrics']['modes']:>2} modes, HQ {run['metrics']['hq']:.3f}, "
          f"KL {run['metrics']['kl']:.3f}, {run['seconds']:.1f} s")  # fmt: skip

# %%
centres, std = dataset(data)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for ax, (label, run) in zip(axes, toy_runs.items(), strict=True):
    m = run["metrics"]
    plot_samples(ax, run["samples"], centres, f"{label}\n{m['modes']} modes, HQ {m['hq']:.2f}")
axes[0].legend(loc="upper right", fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# The discriminator's landscape tells why the samples move: $G$ climbs $D$, so the arrows
# $\nabla_x D$ are the directions in which $G$'s samples are pushed. With SN, $D$ is at most
# 1-Lipschitz: the arrows have norm at most 1 everywhere, and the landscape is smooth.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
plot_landscape(axes[0], toy_runs["SN, hinge"]["net_D"], centres, "SN: D(x) and grad D")
plot_landscape(axes[1], toy_runs["no normalization, hinge"]["net_D"], centres, "no norm.: D(x)")
fig.tight_layout()
plt.show()

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
plot_curves(list(axes), toy_runs, len(centres))
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims.** (1) Training works: the untrained generator captures at most 1 mode, the SN
# generator at least half of them.
# (2) The SN discriminator is 1-Lipschitz in practice: its input gradient never exceeds 1 on
# the plane (the unnormalized one's is printed for comparison; nothing bounds it).
# (3) The metric curve was recorded every `eval_every` steps and ends at the final metrics.


# %%
def max_grad_norm(net_D):
    x = torch.cartesian_prod(*[torch.linspace(-6, 6, 80)] * 2).requires_grad_(True)
    net_D.eval()
    (grad,) = torch.autograd.grad(net_D(x).sum(), x)
    return grad.norm(dim=1).max().item()


sn_run = toy_runs["SN, hinge"]
print(f"modes captured: untrained {untrained['metrics']['modes']}, SN {sn_run['metrics']['modes']}")
print({label: round(max_grad_norm(run["net_D"]), 3) for label, run in toy_runs.items()})
assert sn_run["metrics"]["modes"] >= 0.5 * len(centres)
assert untrained["metrics"]["modes"] <= 1
assert max_grad_norm(sn_run["net_D"]) <= 1.0 + 1e-3
assert [row["step"] for row in sn_run["curve"]][-1] == n_steps
assert sn_run["curve"][-1]["modes"] == sn_run["metrics"]["modes"]

# %% [markdown]
# ## Step 5: when training blows up
#
# The step never reads a loss on the host, so a NaN cannot stop it there. `train` reads the
# losses once every `log_every` steps and raises a `FloatingPointError` naming the loss and
# the step. Here the real data turns to NaN after 3 batches:

# %%
torch.manual_seed(seed)
net_G, net_D = make_G(2, width), make_D("none", width)
opt_G, opt_D = make_optimizers(net_G, net_D, "C")
nan_gen = torch.Generator().manual_seed(seed)
n_batches = []


def sample_real_nan(n):
    n_batches.append(n)
    x = sample_mixture(centres, std, n, nan_gen)
    return x * float("nan") if len(n_batches) > 3 else x


# %% tags=["raises-exception"]
train(net_G, net_D, opt_G, opt_D, sample_real_nan, 50, z_dim=2, generator=nan_gen, log_every=10)

# %%
try:
    train(net_G, net_D, opt_G, opt_D, sample_real_nan, 50, z_dim=2, generator=nan_gen,
          log_every=10, progress=False)  # fmt: skip
    error = None
except FloatingPointError as err:
    error = str(err)
print(error)
assert error is not None and error.startswith("loss_D is nan at step 10")

# %% [markdown]
# ## Step 6: your own runs
#
# Pick a method, a loss and a setting and train (a short run: `n_steps` generator updates on
# a CPU). The form calls `sngan_teach.toy.lab`, a plain function: it trains with `train_toy`,
# draws the samples and the landscape, and returns the run. One static call of the same
# function follows, so the page shows a result without a kernel.

# %%
interact_manual(
    lab,
    method=Dropdown(options=METHODS, value="sn"),
    loss=Dropdown(options=["ns", "hinge", "wgan"], value="hinge"),
    setting=Dropdown(options=list(SETTINGS), value="C"),
    data=Dropdown(options=["ring", "grid"], value="ring"),
    n_steps=IntSlider(value=300, min=50, max=3000, step=50),
    seed=IntSlider(value=0, min=0, max=9),
)

# %%
run = lab("wn", "ns", "C", "ring", n_steps=pick(quick=100, full=500), seed=seed)
assert run["method"] == "wn" and run["metrics"]["modes"] <= 8

# %% [markdown]
# ## Step 7: every method under settings A–F
#
# `benchmarks/toy_table.py` trains every discriminator method with the non-saturating and the
# hinge loss, and the gradient penalty with the standard loss (GAN-GP) and the Wasserstein
# loss (WGAN-GP), under each setting A–F: 72 runs on the 25-Gaussian grid, with the same
# number of generator updates, sizes and seed. Regenerate the CSV it writes with
#
# ```
# nice .venv/bin/python benchmarks/toy_table.py --out benchmarks/results/toy_table.csv --jobs 2
# ```

# %%
with table_path.open() as f:
    rows = list(csv.DictReader(f))
n_steps_table = {int(r["n_steps"]) for r in rows}
print(f"{len(rows)} runs, {n_steps_table} generator updates each, "
      f"median {np.median([float(r['seconds']) for r in rows]):.0f} s per run")  # fmt: skip
labels = sorted({(r["method"], r["loss"]) for r in rows}, key=lambda ml: (METHODS.index(ml[0]), ml))
table = {(r["method"], r["loss"], r["setting"]): r for r in rows}


def grid_of(key):
    return np.array([[float(table[ml + (s,)][key]) for s in SETTINGS] for ml in labels])


fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, key, cmap in zip(axes, ("modes", "hq"), ("viridis", "magma"), strict=True):
    values = grid_of(key)
    ax.imshow(values, cmap=cmap, aspect="auto")
    bright = values > values.min() + 0.6 * (values.max() - values.min())
    for i, j in np.ndindex(values.shape):
        text = f"{values[i, j]:.0f}" if key == "modes" else f"{values[i, j]:.2f}"
        color = "black" if bright[i, j] else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=7)
    title = "modes captured (of 25)" if key == "modes" else "high-quality fraction"
    ax.set(xticks=range(6), xticklabels=list(SETTINGS), yticks=range(len(labels)),
           yticklabels=[f"{m}/{loss}" for m, loss in labels], xlabel="setting (Table 1)",
           title=title)  # fmt: skip
axes[0].set_ylabel("method / loss")
fig.tight_layout()
plt.show()

# %% [markdown]
# **What the table says** (one seed per cell, 1500 generator updates each: treat differences
# of a few modes as noise). The paper claims, for CIFAR-10 and STL-10 (Figs. 1–2), that SN
# stays good across the settings while WGAN-GP fails at the aggressive ones D, E, F. Here:
#
# 1. The table is complete: 12 method/loss pairs × 6 settings, all trained equally long.
# 2. At the aggressive settings D–F, SN (with either loss) captures more modes on average than
#    the WGAN-GP critic, with a lower KL to uniform.
# 3. **Not reproduced:** WGAN-GP does not *degrade* at D–F on this toy. At this budget the slow
#    settings A–C ($\alpha \le 2\cdot 10^{-4}$) leave it even further behind: it captures fewer
#    modes on A–C than on D–F.
# 4. Setting F ($\beta_1 = 0.9$) is the one that hurts SN: with either loss it captures fewer
#    modes on F than on D and on E.
# 5. On this small MLP the margin of SN over an unnormalized $D$ is small: with the standard
#    loss their average mode counts over A–F differ by less than 3.
# 6. No configuration reaches "all 25 modes with 90 % high-quality samples" in 1500 updates:
#    the best high-quality fraction stays below 0.3 (the generators still smear mass along
#    lines between the modes, as the Step 4 scatter shows). Matching PacGAN's 90 %+ takes far
#    longer training (PacGAN: 400 epochs of 100,000 samples).


# %%
def mean_of(method, loss, settings, key="modes"):
    return np.mean([float(table[(method, loss, s)][key]) for s in settings])


aggressive, mild = "DEF", "ABC"
assert len(rows) == 72 and len(labels) == 12 and len(n_steps_table) == 1
assert all((ml + (s,)) in table for ml in labels for s in SETTINGS)
for loss in ("ns", "hinge"):
    print(f"D-F: SN/{loss} {mean_of('sn', loss, aggressive):.1f} modes, "
          f"KL {mean_of('sn', loss, aggressive, 'kl'):.2f}; WGAN-GP "
          f"{mean_of('gp', 'wgan', aggressive):.1f} modes, "
          f"KL {mean_of('gp', 'wgan', aggressive, 'kl'):.2f}")  # fmt: skip
    assert mean_of("sn", loss, aggressive) > mean_of("gp", "wgan", aggressive)
    assert mean_of("sn", loss, aggressive, "kl") < mean_of("gp", "wgan", aggressive, "kl")
print(f"WGAN-GP modes: A-C {mean_of('gp', 'wgan', mild):.1f}, "
      f"D-F {mean_of('gp', 'wgan', aggressive):.1f}")  # fmt: skip
assert mean_of("gp", "wgan", mild) < mean_of("gp", "wgan", aggressive)
for loss in ("ns", "hinge"):
    modes = {s: int(table[("sn", loss, s)]["modes"]) for s in "DEF"}
    print(f"SN/{loss} modes on D, E, F:", modes)
    assert modes["F"] < modes["D"] and modes["F"] < modes["E"]
sn_all, none_all = mean_of("sn", "ns", "ABCDEF"), mean_of("none", "ns", "ABCDEF")
print(f"standard loss, mean modes over A-F: SN {sn_all:.1f}, no normalization {none_all:.1f}")
assert abs(sn_all - none_all) < 3
best_hq = max(float(r["hq"]) for r in rows)
print(f"best high-quality fraction in the table: {best_hq:.3f}")
assert best_hq < 0.3


# %% [markdown]
# ## Reaching every mode
#
# The table's runs are short (1500 generator updates) and keep $\alpha$ constant to the end,
# so the last updates still shake $G$'s samples around the modes. The goal we set ourselves
# (issue 6) is stricter: an SN discriminator whose generator captures **all 25 modes with at
# least 90 % high-quality samples**, trained in at most a minute on 2 CPU cores. We measured
# the levers one at a time on the grid (one seed each, on an idle CPU):
#
# - **batch norm in $G$ is needed**: without it, $G$ with $\alpha = 10^{-3}$ collapsed to no
#   mode at all, and with $\alpha = 2\cdot10^{-4}$ reached only 5 modes after 5000 updates;
# - **more generator updates** help most: with the hinge loss and everything else fixed, the
#   high-quality fraction went 0.23 → 0.36 from 5000 to 10000 updates;
# - the **standard loss** did better than the hinge loss here: 0.52 against 0.36 after 10000
#   updates (but 10000 updates take just over a minute, so we keep 9000);
# - **linear decay of $\alpha$ to 0** (`lr_decay=True` in `train`) makes the fraction climb
#   in the last quarter of the run, when the steps shrink and the samples settle;
# - $n_{dis} = 5$, $\beta_1 = 0$, $\beta_2 = 0.999$, $\alpha = 3\cdot 10^{-3}$, a latent
#   size of 16, batches of 1024, a wider or deeper $D$ or $G$ did not do better per second
#   of CPU.
#
# The configuration: `long_setting` ($\alpha = 10^{-3}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$,
# $n_{dis} = 1$) with `lr_decay`, `long_width` units, the standard (non-saturating) loss,
# batches of 256, `long_steps` generator updates: about 58 s on one idle CPU core in full mode
# (measured CPU time 59 s; the lesson runs on one thread).

# %%
long_run = train_toy(
    long_data, "sn", "ns", long_setting, long_steps, seed=seed, width=long_width,
    batch_size_D=batch_size_D, batch_size_G=batch_size_G, lr_decay=True, n_eval=n_eval,
    eval_every=long_steps // 10, progress=True,
)  # fmt: skip
long_centres, long_std = dataset(long_data)
m = long_run["metrics"]
print(f"{long_data}: {m['modes']} of {len(long_centres)} modes, HQ {m['hq']:.3f}, "
      f"KL {m['kl']:.3f}, {long_run['seconds']:.1f} s wall for {long_steps} updates")  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
plot_samples(axes[0], long_run["samples"], long_centres,
             f"SN, {long_steps} updates: {m['modes']} modes, HQ {m['hq']:.2f}")  # fmt: skip
axes[0].legend(loc="upper right", fontsize=7)
steps = [row["step"] for row in long_run["curve"]]
axes[1].plot(steps, [row["hq"] for row in long_run["curve"]], label="high-quality fraction")
axes[1].plot(steps, [row["modes"] / len(long_centres) for row in long_run["curve"]],
             label="modes captured / K")  # fmt: skip
axes[1].axhline(0.9, color="grey", ls="--", lw=1, label="target HQ 0.9")
axes[1].set(xlabel="generator step", ylabel="fraction", title="metrics while alpha decays to 0")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims** (measured on this seed; the thresholds keep a margin).
# (1) In full mode the run captures all 25 grid modes, with a high-quality fraction above
# every run of the 1500-update table (measured: 0.45), and a KL to uniform below 0.3
# (measured: 0.16); in quick mode it captures all 8 ring modes with a high-quality fraction of
# at least 0.25 (measured: 0.34).
# (2) The high-quality fraction is highest in the decayed last part of the run: the final
# value exceeds the one at mid-run.
# (3) **Not reached:** the 90 % target. The samples still lie on bridges between the modes;
# fewer than half of them land within $3s$ of a centre. The fraction was still rising at
# the end of each run, so the target needs many more updates than a minute on a CPU buys
# (PacGAN trains for 400 epochs of 100,000 samples).

# %%
n_K = len(long_centres)
mid = long_run["curve"][len(long_run["curve"]) // 2 - 1]
print(f"HQ at step {mid['step']}: {mid['hq']:.3f}; at the end: {m['hq']:.3f}")
assert m["modes"] == n_K
assert m["hq"] > mid["hq"]
assert m["hq"] >= pick(quick=0.25, full=0.4) and m["kl"] < 0.3
if long_data == "grid":
    assert m["hq"] > best_hq
    assert m["hq"] < 0.9  # the target of issue 6 is not met yet (claim 3)

# %% [markdown]
# ### How long would 90 % take?
#
# Claim (3) says the target needs more updates. `benchmarks/toy_long.py` measures how many:
# it trains this same recipe for 9000, 30000 and 60000 generator updates (each run decays
# $\alpha$ to 0 over its own length; the longest takes about 6.5 minutes on one idle core)
# and writes a score every 1500 updates to `benchmarks/results/toy_long.csv`, read here. Every
# row carries the recipe it was trained with; the first check is that it is still ours.

# %%
long_path = Path("../benchmarks/results/toy_long.csv")  # written by benchmarks/toy_long.py
with long_path.open() as f:
    long_rows = list(csv.DictReader(f))
for row in long_rows:
    assert (row["data"], row["method"], row["loss"]) == ("grid", "sn", "ns")
    assert all(float(row[k]) == long_setting[k] for k in ("alpha", "beta1", "beta2", "n_dis"))
    assert (
        int(row["width"]) == long_width and int(row["batch_size"]) == batch_size_D == batch_size_G
    )
    assert int(row["seed"]) == seed
lengths = sorted({int(row["n_steps"]) for row in long_rows})
by_length = {n: [row for row in long_rows if int(row["n_steps"]) == n] for n in lengths}
fig, ax = plt.subplots(figsize=(7, 3.8))
for n, rows_n in by_length.items():
    ax.plot([int(r["step"]) for r in rows_n], [float(r["hq"]) for r in rows_n], marker=".",
            label=f"{n} updates ({float(rows_n[-1]['seconds']):.0f} s)")  # fmt: skip
ax.axhline(0.9, color="grey", ls="--", lw=1, label="target HQ 0.9")
ax.set(xlabel="generator step", ylabel="high-quality fraction",
       title="the recipe trained longer (alpha decayed to 0 over each run)")  # fmt: skip
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
final = {n: rows_n[-1] for n, rows_n in by_length.items()}
for n, row in final.items():
    print(f"{n:>6} updates: {row['modes']} modes, HQ {float(row['hq']):.3f}, "
          f"KL {float(row['kl']):.3f}, {float(row['seconds']):.0f} s")  # fmt: skip

# %% [markdown]
# **Claims** (from the recorded runs).
# (1) Longer training keeps every mode and sharpens them: all three runs end with 25 modes, and
# each longer run ends with a higher high-quality fraction (measured 0.45, 0.76, 0.83) and a
# lower KL to uniform (0.16, 0.02, 0.007).
# (2) Still **not 90 %**: even 60000 updates, about six and a half times the one-minute budget,
# end below the target, and the fraction has flattened: every score of the last 10000 updates
# lies between 0.75 and 0.9 (measured 0.78 to 0.85). Patience alone does not close the gap on
# a CPU budget; PacGAN, which reports 91 %, trains a generator of 4 layers of 400 units for
# 400 epochs.
# (3) The file agrees with this notebook: in full mode the 9000-update run is the run above
# (same recipe, same seed, deterministic on a CPU), so its scores match.

# %%
ends = [final[n] for n in lengths]
assert lengths == [9000, 30000, 60000] and all(int(row["modes"]) == 25 for row in ends)
assert all(float(a["hq"]) < float(b["hq"]) for a, b in zip(ends, ends[1:], strict=False))
assert all(float(a["kl"]) > float(b["kl"]) for a, b in zip(ends, ends[1:], strict=False))
longest = by_length[lengths[-1]]
last = [float(r["hq"]) for r in longest if int(r["step"]) > lengths[-1] - 10000]
assert len(last) >= 5 and all(0.75 < hq < 0.9 for hq in last) and max(last) - min(last) < 0.1
if long_data == "grid" and long_steps in by_length:
    assert abs(float(final[long_steps]["hq"]) - m["hq"]) < 1e-3
    assert int(final[long_steps]["modes"]) == m["modes"]

# %% [markdown]
# ### The same recipe without SN, and with the WGAN-GP critic
#
# Everything stays (setting, decay, sizes, updates, seed); only $D$ changes: no normalization
# (standard loss), and the gradient penalty with the Wasserstein loss (WGAN-GP,
# $\lambda = 10$). Note that $n_{dis} = 1$ and $\alpha = 10^{-3}$ are far from WGAN-GP's own
# recipe ($n_{dis} = 5$, $\alpha = 10^{-4}$): this is the paper's point that SN tolerates
# aggressive settings where the gradient penalty does not.

# %%
recipe_runs = {"SN, standard loss": long_run}
for label, method, loss in (("no normalization", "none", "ns"), ("WGAN-GP", "gp", "wgan")):
    recipe_runs[label] = train_toy(
        long_data, method, loss, long_setting, long_steps, seed=seed, width=long_width,
        batch_size_D=batch_size_D, batch_size_G=batch_size_G, lr_decay=True, n_eval=n_eval,
        eval_every=long_steps // 10, progress=True,
    )  # fmt: skip
for label, run in recipe_runs.items():
    r = run["metrics"]
    print(f"{label:>18}: {r['modes']:>2} modes, HQ {r['hq']:.3f}, KL {r['kl']:.3f}, "
          f"{run['seconds']:.1f} s")  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for ax, label in zip(axes, ("no normalization", "WGAN-GP"), strict=True):
    r = recipe_runs[label]["metrics"]
    plot_samples(ax, recipe_runs[label]["samples"], long_centres,
                 f"{label}: {r['modes']} modes, HQ {r['hq']:.2f}")  # fmt: skip
fig.tight_layout()
plt.show()
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
plot_curves(list(axes), recipe_runs, n_K)
fig.tight_layout()
plt.show()

# %% [markdown]
# **What we see** (one seed). The WGAN-GP critic does not survive this recipe: on the grid it
# ends with 7 modes and a KL of 2.3, on the ring (quick mode) with none. Without
# normalization, the generator does about as well as with SN on this toy: on the grid 24 modes
# with HQ 0.51 and KL 0.40, against SN's 25 modes, HQ 0.45 and KL 0.16, differences that one
# seed cannot settle, so we print them and check only the WGAN-GP gap: fewer modes than SN and
# a KL to uniform at least 1 higher.

# %%
sn_m, gp_m = m, recipe_runs["WGAN-GP"]["metrics"]
assert gp_m["modes"] < sn_m["modes"] and gp_m["kl"] > sn_m["kl"] + 1

# %% [markdown]
# ## Summary
#
# - Mode collapse on a mixture is countable: modes captured, the high-quality fraction
#   within $3s$ of a centre, and $\mathrm{KL}(p\,\Vert\,U)$ of the mode histogram.
# - The hinge loss is the *negative* of the paper's eq. (16); minimizing (16) as written trains
#   $D$ to prefer the fakes.
# - One training step serves every method: the normalization lives in $D$ (SN, WN), the rest
#   enters as a penalty (WGAN-GP, orthonormal) or a hook after the update (clipping).
# - SN's discriminator is 1-Lipschitz in practice. On the grid it beats the WGAN-GP critic at
#   the aggressive settings D–F, but this small toy does not reproduce the rest of the paper's
#   robustness claim: WGAN-GP is worse still at the slow settings, an unnormalized MLP does
#   about as well as SN, and $\beta_1 = 0.9$ (setting F) hurts SN too.
# - Longer training with $\alpha$ decayed linearly to 0 is what sharpens the generator: SN with
#   the standard loss, $\alpha = 10^{-3}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$, $n_{dis} = 1$,
#   128-unit MLPs (batch norm in $G$), batches of 256 and 9000 updates (under a minute on one
#   CPU core) captures all 25 grid modes with 45 % high-quality samples, twice the table's best.
#   Training it 30000 and 60000 updates lifts that to 76 % and 83 % and then flattens: still
#   short of the 90 % that PacGAN reaches after far longer training.
#
# ## Exercises
#
# 1. PacGAN's released code scores the mode histogram with the Jensen–Shannon divergence
#    against uniform. Compute it for the SN run of Step 4 and check it lies in $[0, \log 2]$.
# 2. Retrain SN on the ring with `loss_fns=(wrong_hinge_loss_D, hinge_loss_G)` in `train_toy`:
#    what happens to the samples?
# 3. Change `ORTHO_WEIGHT` in `sngan_teach.toy` (the orthonormal-penalty coefficient, which the
#    paper does not state) and retrain orthonormal regularization under setting E: how close to
#    orthonormal do $D$'s layers stay?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1
counts = torch.tensor(mode_metrics(sn_run["samples"], centres, std)["counts"], dtype=torch.float64)
p = counts / counts.sum()
u = torch.full_like(p, 1 / len(p))
mid = (p + u) / 2


def kl_div(a, b):
    mask = a > 0
    return (a[mask] * torch.log(a[mask] / b[mask])).sum().item()


jsd = 0.5 * kl_div(p, mid) + 0.5 * kl_div(u, mid)
print(f"JSD(p, U) = {jsd:.4f}")
assert 0 <= jsd <= math.log(2)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2: with the wrong sign D rates the fakes above the data, G climbs
# that D, and its samples leave the ring: no mode at all, where the correct loss finds several.
ex_kw = dict(n_steps=200, width=width, batch_size_D=batch_size_D, batch_size_G=batch_size_G)
ex_kw |= dict(n_eval=1000, seed=seed)
wrong_run = train_toy(
    "ring", "sn", setting="C", loss_fns=(wrong_hinge_loss_D, hinge_loss_G), **ex_kw
)
right_run = train_toy("ring", "sn", setting="C", loss_fns=(hinge_loss_D, hinge_loss_G), **ex_kw)
print(
    "modes, wrong sign:", wrong_run["metrics"]["modes"], " correct:", right_run["metrics"]["modes"]
)
assert wrong_run["metrics"]["modes"] <= 1 < right_run["metrics"]["modes"]

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3: a larger coefficient keeps D's layers closer to orthonormal.
default_weight = toy.ORTHO_WEIGHT
penalties = {}
try:
    for weight in (0.01, 10.0):
        toy.ORTHO_WEIGHT = weight
        run = train_toy("ring", "ortho", "hinge", "E", **(ex_kw | dict(n_steps=100)))
        penalties[weight] = orthonormal_penalty(run["net_D"]).item()
finally:
    toy.ORTHO_WEIGHT = default_weight
print("||W W^T - I||_F^2 summed over D's layers after training:", penalties)
assert penalties[10.0] < penalties[0.01]
