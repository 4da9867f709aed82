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
# 3. Run the training step shared with lessons 08 and 09: `n_dis` discriminator updates, one
#    generator update, any loss, any normalization or penalty, no host synchronization.
# 4. Watch the game GAN Lab style, with and without SN: $D$'s landscape and the push that every
#    fake sample gets from it, step by step; and read the metric curves over training.
# 5. Compare every method under the paper's optimizer settings A–F (Table 1) in one table, and
#    a CPU recipe with the published numbers on the 25-Gaussian grid.
#
# ## What you need
#
# Lessons 04 (spectral norm) and 06 (the alternatives). No GPU. Full mode runs in about 2.5
# minutes on an idle 2-core CPU, most of it for one minute-long run in "Reaching every mode"
# and three runs in Step 4. On a 2-core machine shared with other jobs it took 8 minutes at a
# load average near 5 and 11 minutes near 12 (there the minute-long run took 326 s against 63 s
# alone): expect more than 2.5 minutes on a busy machine. Three scripts in `experiments/`
# make what would take longer, and the lesson reads the files they write: the table of 72
# configurations × 3 seeds (`toy_table.py`, over an hour on one core), the recipe of
# "Reaching every mode" trained longer (`toy_long.py`, 6.5 minutes on 2 idle cores) and with
# one choice changed at a time (`toy_levers.py`, 11 minutes of CPU time).

# %%
import copy
import csv
import math
import statistics

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import CenteredNorm
from myst_nb import glue  # keeps an output for the site's results page
from tqdm.auto import tqdm

import sngan_teach.methods as methods
import sngan_teach.toy as toy  # noqa: F401  (toy.lab: a run of your own, see Step 5)
from sngan_teach.explore import explore
from sngan_teach.gan import SETTINGS, make_optimizers, train, train_step
from sngan_teach.losses import get_loss, hinge_loss_D, hinge_loss_G, ns_loss_D
from sngan_teach.methods import METHODS, method_hooks
from sngan_teach.regularizers import orthonormal_penalty
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all, stored_result
from sngan_teach.toy import (
    DATASETS,
    dataset,
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
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
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
lab_steps = pick(quick=120, full=240)  # generator updates of the GAN-Lab-style runs of Step 6
lab_batch = 128  # their real (and fake) samples per update
lab_settings = ["C", "D"]  # their optimizer settings (Table 1): one mild, one aggressive
table_path = stored_result("toy_table.csv", "python experiments/toy_table.py --resume")
long_data = pick(quick="ring", full="grid")  # mixture of "Reaching every mode"
long_steps = pick(quick=600, full=9000)  # its generator updates, alpha decayed linearly to 0
long_setting = {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 1}  # alpha, beta1, beta2
long_width = 128  # hidden units of its G and D (3 hidden layers in G, with batch norm; 2 in D)

# %% [markdown]
# ## Step 1: the ring and the grid
#
# Both data sets are equal-weight mixtures of $M$ isotropic Gaussians $\mathcal N(c_j, s^2 I)$,
# $j = 1, \dots, M$. Papers and their code disagree on the geometry (PacGAN's ring has radius
# 1, the Unrolled GAN notebook's has 7 distinct centres), so we fix it and say it:
#
# - **ring**: $M = 8$ centres $c_j = (2\cos\frac{2\pi j}{8}, 2\sin\frac{2\pi j}{8})$, radius 2,
#   standard deviation $s = 0.02$ (PacGAN's ring, radius 1 and $s = 0.01$, scaled by 2);
# - **grid**: $M = 25$ centres on $\{-4,-2,0,2,4\}^2$ with $s = 0.05$ (PacGAN's grid).
#
# Samples are drawn with an explicit, seeded `torch.Generator`: first the component
# $j \sim \mathcal U\{1, \dots, M\}$, then the noise.

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
#   the uniform distribution $U$ over the $M$ modes,
#   $\mathrm{KL}(p\,\Vert\,U) = \sum_j p_j \log(M p_j)$: 0 when every mode gets the same share,
#   $\log M$ when one mode takes everything. (PacGAN's tables call theirs "reverse KL"; their
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
# **Your turn.** Write `kl_to_uniform(counts)`: the divergence
# $\mathrm{KL}(p\,\Vert\,U) = \sum_j p_j \log(M p_j)$ from a 1-D tensor of the $M$ modes' counts
# of high-quality samples (what `torch.bincount` gives in `count_modes`; empty modes included).
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.kl_to_uniform.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def kl_to_uniform(counts):
    """KL(p || U) for p = counts / counts.sum() over the M = len(counts) modes."""
    ...  # your code here


# %%
accepted = exercises.kl_to_uniform.check(kl_to_uniform)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: torch.xlogy(p, M p) is p log(M p), with 0 for the empty modes.
def kl_to_uniform_solution(counts):
    p = counts.double() / counts.sum()
    return torch.xlogy(p, len(counts) * p).sum()


assert exercises.kl_to_uniform.check(kl_to_uniform_solution) is True

# %% [markdown]
# ## Step 3: the losses, and a sign to get right
#
# $D$ outputs a logit $D(x) \in \mathbb R$. The paper's two losses, written as losses to
# **minimize**:
#
# - standard (eq. 15; Goodfellow et al., 2014) with the non-saturating generator loss:
#   $\mathcal L_D = \mathbb E[\mathrm{softplus}(-D(x))] + \mathbb E[\mathrm{softplus}(D(G(z)))]$,
#   $\mathcal L_G = \mathbb E[\mathrm{softplus}(-D(G(z)))]$;
# - hinge (eqs. 16–17): the paper writes $D$'s objective as a *maximization*,
#   $V_D = \mathbb E[\min(0, -1 + D(x))] + \mathbb E[\min(0, -1 - D(G(z)))]$, so the loss
#   is its negative,
#   $\mathcal L_D = \mathbb E[\max(0, 1 - D(x))] + \mathbb E[\max(0, 1 + D(G(z)))]$,
#   and $\mathcal L_G = -\mathbb E[D(G(z))]$.
#
# The sign is easy to get wrong, and write-ups do. One popular write-up prints $D$'s hinge
# objective as
# $\max_D\ \mathbb E[\max(0, 1 - D(x))] - \mathbb E[\max(0, 1 + D(G(z)))]$:
# since $\min(0, -1 + t) = -\max(0, 1 - t)$, eq. (16) has a minus sign in front of *both*
# terms, and this version flips the first one. A second slip, just as easy, is to minimize
# eq. (16) as it stands, forgetting that the paper maximizes it. We run both: train $D$ alone
# for `n_D_steps` updates, real samples against a fixed blob of fakes at the origin, and check
# what any discriminator must learn: $D(\text{real}) > D(\text{fake})$.


# %%
def writeup_hinge_loss_D(d_real, d_fake):  # the write-up's objective, maximized as printed
    return -(F.relu(1 - d_real).mean() - F.relu(1 + d_fake).mean())


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


gaps_wrong = {
    "the write-up's objective": fit_D(writeup_hinge_loss_D, n_D_steps),
    "eq. (16) minimized": fit_D(wrong_hinge_loss_D, n_D_steps),
}
for label, gap in gaps_wrong.items():
    print(f"{label}: mean D(real) - mean D(fake) = {gap:+.3f}")

# %% [markdown]
# **Claim.** With either wrong sign, $D$ learns backwards: it rates the fakes *above* the real
# data, so the check fails (the cell below prints the failures instead of stopping).

# %%
wrong_checks = {}
for label, gap in gaps_wrong.items():
    try:
        assert gap > 0, f"D rates fakes above real data (gap {gap:+.3f})"
        wrong_checks[label] = "passed"
    except AssertionError as err:
        wrong_checks[label] = f"failed: {err}"
    print(f"check D(real) > D(fake), {label}: {wrong_checks[label]}")
assert all(check.startswith("failed") for check in wrong_checks.values())
assert all(gap < -0.3 for gap in gaps_wrong.values())

# %% [markdown]
# The fix is the hinge loss written as a loss: $\max(0, 1 - D(x))$ and $\max(0, 1 + D(G(z)))$,
# both with a plus sign. It is `sngan_teach.losses.hinge_loss_D`, which equals the negated
# objective (16) exactly, and differs from the write-up's loss by twice the real term.


# %%
def correct_hinge_loss_D(d_real, d_fake):
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


gap_right = fit_D(correct_hinge_loss_D, n_D_steps)
print(f"correct sign: mean D(real) - mean D(fake) = {gap_right:+.3f}")
assert gap_right > 0.5
d_real, d_fake = torch.randn(2, 64, 1, generator=gen, dtype=torch.float64).unbind(0)
torch.testing.assert_close(correct_hinge_loss_D(d_real, d_fake), hinge_loss_D(d_real, d_fake))
torch.testing.assert_close(hinge_loss_D(d_real, d_fake), -wrong_hinge_loss_D(d_real, d_fake))
torch.testing.assert_close(
    hinge_loss_D(d_real, d_fake) - writeup_hinge_loss_D(d_real, d_fake),
    2 * F.relu(1 - d_real).mean(),
)
# the standard loss is PyTorch's binary cross-entropy on logits (real = 1, fake = 0)
bce = F.binary_cross_entropy_with_logits
torch.testing.assert_close(
    ns_loss_D(d_real, d_fake),
    bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)),
)

# %% [markdown]
# **Your turn.** Write `d_hinge_loss(real_logits, fake_logits)`: the discriminator's hinge loss to
# **minimize**, $\mathbb E[\max(0, 1 - D(x))] + \mathbb E[\max(0, 1 + D(G(z)))]$, as a 0-d tensor.
# The check knows both wrong signs above.


# %%
def d_hinge_loss(real_logits, fake_logits):
    """The hinge loss of D, to minimize, from D(x) and D(G(z))."""
    ...  # your code here


# %%
accepted = exercises.d_hinge_loss.check(d_hinge_loss)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: both hinges with a plus sign, each averaged over its own batch.
def d_hinge_loss_solution(real_logits, fake_logits):
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


assert exercises.d_hinge_loss.check(d_hinge_loss_solution) is True

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
# `callback_every` steps. Lessons 08 and 09 reuse both unchanged for 8×8 digits and
# CIFAR-10. The optimizer settings are the paper's Table 1 (Adam's learning rate $\alpha$
# and $\beta_1$, $\beta_2$; Kingma and Ba, 2015):

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
# (Gulrajani et al., 2017: Wasserstein loss plus $\lambda = 10$ gradient penalty), all under
# the same setting and seed. `train_toy` builds the networks (MLPs with `width` units; $G$ has
# batch norm as in PacGAN, $D$ leaky ReLUs with slope 0.1), trains with `train`, and scores $G$
# every `eval_every` steps on `n_eval` fixed codes $z$.

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
assert [row["step"] for row in sn_run["curve"]] == list(range(eval_every, n_steps + 1, eval_every))
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
# ## Step 6: watch the game, GAN Lab style
#
# GAN Lab (Kahng et al., 2018) made a 2-D GAN visible in the browser: the real and fake
# samples, $D$'s landscape and, on each fake sample, the push it gets from $D$. We build the
# same view for SN against a $D$ without it. The push on a fake sample $x = G(z)$ is
# $-\nabla_x \ell_G(D(x))$, the direction in which the generator's loss for that sample falls
# fastest, with its size; backpropagation hands this (divided by the batch size) to $G$'s
# output. For the hinge and Wasserstein losses $\ell_G = -D(x)$, so the push is
# $\nabla_x D(x)$, and an SN discriminator, being 1-Lipschitz, can never push harder than 1.
#
# The runs are short (`lab_steps` generator updates on the ring, batches of `lab_batch`), made
# here once for every setting in `lab_settings` and every method: SN with the hinge loss,
# no normalization with the hinge loss, and the WGAN-GP critic. Every `lab_steps / 4`
# updates we keep the fake samples of 150 fixed codes, their pushes and $D$ on a grid over
# the plane; the slider then only flips between stored frames. The arrows share one scale in
# both panels: an arrow as long as the ring's radius (2) is a push of size 1. To train a
# configuration of your own instead, call `toy.lab(method, loss, setting, data, n_steps, seed)`
# in a new cell: it trains with `train_toy`, draws the samples and the landscape, and returns
# the run.

# %%
lab_centres = dataset("ring")[0]
lab_methods = {"SN": ("sn", "hinge"), "none": ("none", "hinge"), "WGAN-GP": ("gp", "wgan")}
lab_lim, lab_res = 3.0, 48  # the plane [-3, 3]^2, D evaluated on a 48 x 48 grid
lab_xs = torch.linspace(-lab_lim, lab_lim, lab_res)
lab_plane = torch.cartesian_prod(lab_xs, lab_xs)  # x_1 varies slowest
lab_z = torch.randn(150, 2, generator=torch.Generator().manual_seed(seed + 1))


def snapshot(net_G, net_D, loss_fn_G):
    """Fake samples of the fixed codes, the push -grad_x loss_G on each, and D over the plane."""
    net_G.eval()
    net_D.eval()
    with torch.no_grad():
        fake = net_G(lab_z)
        d_plane = net_D(lab_plane).reshape(lab_res, lab_res).T  # rows: x_2, columns: x_1
    x = fake.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn_G(net_D(x)) * len(x), x)  # the loss of each sample
    net_G.train()
    net_D.train()
    return {"fake": fake.numpy(), "push": -grad.numpy(), "D": d_plane.numpy()}


def lab_run(method, loss, setting):
    torch.manual_seed(seed)
    net_G, net_D = make_G(2, width), make_D(method, width)
    opt_G, opt_D = make_optimizers(net_G, net_D, setting)
    penalty, after_D_step = method_hooks(method)
    loss_fn_G = get_loss(loss)[1]
    data_gen = torch.Generator().manual_seed(seed)
    frames = {0: snapshot(net_G, net_D, loss_fn_G)}

    def keep(step, history):
        frames[step] = snapshot(net_G, net_D, loss_fn_G)

    train(net_G, net_D, opt_G, opt_D, make_sampler("ring", data_gen), lab_steps, z_dim=2,
          generator=data_gen, loss=loss, n_dis=SETTINGS[setting]["n_dis"],
          batch_size_D=lab_batch, batch_size_G=lab_batch, penalty=penalty,
          after_D_step=after_D_step, log_every=lab_steps, callback=keep,
          callback_every=lab_steps // 4, progress=False)  # fmt: skip
    return frames


lab_frames = {
    (label, s): lab_run(method, loss, s)
    for s in tqdm(lab_settings, desc="GAN-lab runs")
    for label, (method, loss) in lab_methods.items()
}
lab_steps_kept = list(lab_frames[("SN", lab_settings[0])])
print("frames kept at generator steps", lab_steps_kept)


def largest_push(frame):
    return float(np.linalg.norm(frame["push"], axis=1).max())


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_lab`: $D$, the fake samples and the
# push on them, for SN and the chosen method.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_lab(step, setting, method):
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.1), sharey=True)
    c = lab_centres.numpy()
    for ax, label in zip(axes, ("SN", method), strict=True):
        frame = lab_frames[(label, setting)][step]
        extent = (-lab_lim, lab_lim, -lab_lim, lab_lim)
        image = ax.imshow(frame["D"], origin="lower", extent=extent, cmap="RdBu_r",
                          norm=CenteredNorm(0.0))  # fmt: skip
        fig.colorbar(image, ax=ax, shrink=0.85, label="$D(x)$")
        ax.scatter(c[:, 0], c[:, 1], marker="x", color="black", s=25, label="real modes")
        fake, push = frame["fake"], frame["push"]
        ax.scatter(fake[:, 0], fake[:, 1], s=5, color="darkorange", label="$G(z)$")
        ax.quiver(fake[:, 0], fake[:, 1], push[:, 0], push[:, 1], angles="xy",
                  scale_units="xy", scale=0.5, width=0.004, label="push on $G(z)$")  # fmt: skip
        ax.set(xlim=(-lab_lim, lab_lim), ylim=(-lab_lim, lab_lim), xlabel="$x_1$")
        ax.set_title(
            f"{label}, setting {setting}: largest push {largest_push(frame):.2f}", fontsize=9
        )
    axes[0].set_ylabel("$x_2$")
    axes[0].legend(loc="lower left", fontsize=6)
    fig.tight_layout()
    pushes = [largest_push(lab_frames[(label, setting)][step]) for label in ("SN", method)]
    caption = f"step {step}, setting {setting}: largest push {pushes[0]:.2f} with SN, "
    caption += f"{pushes[1]:.2f} {method}"
    return fig, caption


explore(draw_lab, step=lab_steps_kept, setting=lab_settings, method=["none", "WGAN-GP"])

# %% [markdown]
# **Claims.** (1) Under SN no fake sample is ever pushed harder than 1: the largest push over
# every frame, setting and step stays at or below 1. (2) Without normalization nothing bounds
# the push: under the aggressive setting D ($\alpha = 10^{-3}$, $n_{dis} = 5$) the
# unnormalized $D$ grows steep walls around the modes, and by the end of the run it pushes some
# sample at least 3 times harder than SN ever does. (3) The gradient penalty does not bound
# the push either: it only pulls the gradient norm toward 1 at points between real and fake
# samples, and the WGAN-GP critic pushes some sample harder than 1.

# %%
most = {label: max(largest_push(frame) for (lb, _), run in lab_frames.items() if lb == label
                   for frame in run.values()) for label in lab_methods}  # fmt: skip
end_none_D = largest_push(lab_frames[("none", "D")][lab_steps])
print({label: round(value, 3) for label, value in most.items()},
      f"none at the end under D: {end_none_D:.2f}")  # fmt: skip
assert most["SN"] <= 1.0 + 1e-3
assert end_none_D > 3 * most["SN"]
assert most["WGAN-GP"] > 1.0

# %% [markdown]
# ## Step 7: every method under settings A–F
#
# `experiments/toy_table.py` trains every discriminator method with the non-saturating and the
# hinge loss, and the gradient penalty with the standard loss (GAN-GP) and the Wasserstein
# loss (WGAN-GP), under each setting A–F: 72 configurations on the 25-Gaussian grid, each from
# three seeds, with the same number of generator updates and sizes. Regenerate the CSV it
# writes into a new file, then move it over the stored one (the script refuses to overwrite a
# file that holds rows; `--resume` adds only the missing ones):
#
# ```
# nice .venv/bin/python experiments/toy_table.py --out /tmp/toy_table.csv --jobs 2
# mv /tmp/toy_table.csv benchmarks/results/toy_table.csv
# ```

# %%
with table_path.open() as f:
    rows = list(csv.DictReader(f))
n_steps_table = {int(r["n_steps"]) for r in rows}
table_seeds = sorted({int(r["seed"]) for r in rows})
labels = sorted({(r["method"], r["loss"]) for r in rows}, key=lambda ml: (METHODS.index(ml[0]), ml))
table = {}  # (method, loss, setting) -> the runs of that configuration, one per seed
for r in rows:
    table.setdefault((r["method"], r["loss"], r["setting"]), []).append(r)
print(f"{len(rows)} runs: {len(labels)} method/loss pairs x {len(SETTINGS)} settings x seeds "
      f"{table_seeds}, {n_steps_table} generator updates each, "
      f"median {np.median([float(r['seconds']) for r in rows]):.0f} s per run")  # fmt: skip


def cell_values(ml, setting, key):
    return np.array([float(r[key]) for r in table[ml + (setting,)]])


fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, key, cmap in zip(axes, ("modes", "hq"), ("viridis", "magma"), strict=True):
    means = np.array([[cell_values(ml, s, key).mean() for s in SETTINGS] for ml in labels])
    sds = np.array([[cell_values(ml, s, key).std(ddof=1) for s in SETTINGS] for ml in labels])
    ax.imshow(means, cmap=cmap, aspect="auto")
    bright = means > means.min() + 0.6 * (means.max() - means.min())
    for i, j in np.ndindex(means.shape):
        text = (f"{means[i, j]:.1f}\n±{sds[i, j]:.1f}" if key == "modes"
                else f"{means[i, j]:.2f}\n±{sds[i, j]:.2f}")  # fmt: skip
        color = "black" if bright[i, j] else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=6)
    title = "modes captured (of 25)" if key == "modes" else "high-quality fraction"
    ax.set(xticks=range(6), xticklabels=list(SETTINGS), yticks=range(len(labels)),
           yticklabels=[f"{m}/{loss}" for m, loss in labels], xlabel="setting (Table 1)",
           title=f"{title}: mean ± sd over {len(table_seeds)} seeds")  # fmt: skip
axes[0].set_ylabel("method / loss")
fig.tight_layout()
plt.show()
glue("toy_table_figure", fig, display=False)

# %% [markdown]
# **Comparing with seeds.** Each configuration ran from three seeds. To compare two of them
# over a group of settings, average each seed's runs over the group, which gives three numbers
# per configuration, and call the difference of their means real when it exceeds two standard
# errors, $|\bar a - \bar b| > 2\sqrt{s_a^2/3 + s_b^2/3}$ (the same rule lesson 08 uses on
# digits).


# %%
def per_seed(method, loss, settings, key="modes"):
    """One number per seed: the mean of `key` over `settings` for that seed's runs."""
    return np.array([np.mean([float(r[key]) for s in settings for r in table[(method, loss, s)]
                              if int(r["seed"]) == sd]) for sd in table_seeds])  # fmt: skip


def z_of(a, b):
    """(mean a - mean b) in standard errors of the difference."""
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return (a.mean() - b.mean()) / se if se > 0 else math.copysign(math.inf, a.mean() - b.mean())


def show(name, values):
    return f"{name} {values.mean():.2f} ± {values.std(ddof=1):.2f}"


# %% [markdown]
# **What the table says** (three seeds per configuration, 1500 generator updates each). The
# paper claims, for CIFAR-10 and STL-10 (Figs. 1–2), that SN stays good across the settings
# while WGAN-GP fails at the aggressive ones D, E, F. Here, with "more" and "fewer" meaning a
# difference of more than two standard errors:
#
# 1. The table is complete: 12 method/loss pairs × 6 settings × 3 seeds, all trained equally
#    long.
# 2. At the aggressive settings D–F, SN (with either loss) captures more modes than the
#    WGAN-GP critic, with a lower KL to uniform.
# 3. **Not reproduced:** WGAN-GP does not *degrade* at D–F on this toy. At this budget the slow
#    settings A–C ($\alpha \le 2\cdot 10^{-4}$) leave it even further behind: it captures fewer
#    modes on A–C than on D–F.
# 4. Setting F ($\beta_1 = 0.9$) is the one that hurts SN: with either loss it captures fewer
#    modes on F than on D and than on E.
# 5. **Not reproduced:** SN is not the best method on this toy. Orthonormal regularization
#    (standard loss) captures more modes than SN at D–F, as it beats SN at setting D on the
#    digits of lesson 08; and over A–F SN's mode count cannot be told apart from an
#    unnormalized $D$'s, nor at D–F from WN's or weight clipping's. Without normalization the
#    high-quality fraction at D–F is even higher than with SN.
# 6. **Shortfall.** No configuration reaches "all 25 modes with 90 % high-quality samples"
#    in 1500 updates: the best mean high-quality fraction in the table, printed below, is far
#    short of 0.9. The generators still smear mass along lines between the modes, as the Step
#    4 scatter shows. PacGAN's 90 %+ comes after far longer training (400 epochs of 100,000
#    samples).

# %%
aggressive, mild = "DEF", "ABC"
assert len(labels) == 12 and len(n_steps_table) == 1 and len(table_seeds) == 3
assert all(len(table.get(ml + (s,), [])) == 3 for ml in labels for s in SETTINGS)
gp_modes = per_seed("gp", "wgan", aggressive)
for loss in ("ns", "hinge"):
    sn_modes, sn_kl = per_seed("sn", loss, aggressive), per_seed("sn", loss, aggressive, "kl")
    gp_kl = per_seed("gp", "wgan", aggressive, "kl")
    print(f"D-F modes: {show('SN/' + loss, sn_modes)}, {show('WGAN-GP', gp_modes)}; "
          f"KL: {show('SN/' + loss, sn_kl)}, {show('WGAN-GP', gp_kl)}")  # fmt: skip
    assert z_of(sn_modes, gp_modes) > 2 and z_of(sn_kl, gp_kl) < -2
gp_mild = per_seed("gp", "wgan", mild)
print(f"WGAN-GP modes: {show('A-C', gp_mild)}, {show('D-F', gp_modes)}")
assert z_of(gp_mild, gp_modes) < -2
for loss in ("ns", "hinge"):
    on = {st: per_seed("sn", loss, st) for st in "DEF"}
    print(f"SN/{loss} modes: " + ", ".join(show(st, v) for st, v in on.items()))
    assert z_of(on["F"], on["D"]) < -2 and z_of(on["F"], on["E"]) < -2
sn_def = per_seed("sn", "ns", aggressive)
ortho_def = per_seed("ortho", "ns", aggressive)
print(f"D-F modes, standard loss: {show('SN', sn_def)}, {show('orthonormal', ortho_def)}")
assert z_of(ortho_def, sn_def) > 2
sn_all, none_all = per_seed("sn", "ns", "ABCDEF"), per_seed("none", "ns", "ABCDEF")
print(f"A-F modes, standard loss: {show('SN', sn_all)}, {show('no normalization', none_all)}")
assert abs(z_of(sn_all, none_all)) < 2
for other in ("wn", "clip"):
    assert abs(z_of(sn_def, per_seed(other, "ns", aggressive))) < 2, other
sn_hq, none_hq = per_seed("sn", "ns", aggressive, "hq"), per_seed("none", "ns", aggressive, "hq")
print(f"D-F high-quality fraction: {show('SN', sn_hq)}, {show('no normalization', none_hq)}")
assert z_of(none_hq, sn_hq) > 2
best = max(table, key=lambda k: cell_values(k[:2], k[2], "hq").mean())
best_hq = cell_values(best[:2], best[2], "hq").mean()
print(f"best mean high-quality fraction: {best_hq:.3f} ({best[0]}/{best[1]}, setting {best[2]}), "
      f"{0.9 - best_hq:.2f} short of 0.9")  # fmt: skip


# %% [markdown]
# ## Reaching every mode
#
# The table's runs are short (1500 generator updates) and keep $\alpha$ constant to the end,
# so the last updates still shake $G$'s samples around the modes. A stricter goal: an SN
# discriminator whose generator captures **all 25 modes with at least 90 % high-quality
# samples**, trained in at most a minute on 2 CPU cores. The recipe below is the best we found
# at that cost; the next subsections show how far it gets, how far longer training takes it,
# and what each of its choices is worth.
#
# The configuration: `long_setting` ($\alpha = 10^{-3}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$,
# $n_{dis} = 1$) with $\alpha$ decayed linearly to 0 (`lr_decay=True` in `train`),
# `long_width` units (3 hidden layers in $G$, with batch norm; 2 in $D$), the standard
# (non-saturating) loss, batches of 256 and `long_steps` generator updates. **What is ours and
# what is the paper's:** $\alpha$, $\beta_1$ and $\beta_2$ are those of the paper's setting D,
# but the paper's aggressive settings D, E and F all use $n_{dis} = 5$. The single $D$ update
# per $G$ update, the decay, the network sizes and the batch size are our choices for a CPU
# budget; the last subsection measures the recipe with $n_{dis} = 5$ too.

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
             label="modes captured / M")  # fmt: skip
axes[1].axhline(0.9, color="grey", ls="--", lw=1, label="target HQ 0.9")
axes[1].set(xlabel="generator step", ylabel="fraction", title="metrics while alpha decays to 0")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims** (checked on this seed; the thresholds keep a margin that seeds 0 to 4 and two
# kernel paths showed).
# (1) The run captures all $M$ modes (in quick mode, whose 600 updates on the ring are short,
# all but at most one: some seeds end with 7 of the 8), with a KL to uniform below 0.3 and a
# high-quality fraction above that of the Step 4 SN run on the same mixture (in full mode, on
# the grid, seed 0 on one machine ended at HQ 0.45 and KL 0.16; in quick mode, on the ring,
# at HQ 0.34).
# (2) The high-quality fraction is highest in the decayed last part of the run: the final
# value exceeds the one at mid-run.
#
# **Shortfall.** The 90 % target is not reached: in full mode the run ends at a high-quality
# fraction of 0.45, about 0.45 short (the cell prints the gap). The samples still lie on bridges
# between the modes; fewer than half of them land within $3s$ of a centre.

# %%
n_modes = len(long_centres)
mid = long_run["curve"][len(long_run["curve"]) // 2 - 1]
print(f"HQ at step {mid['step']}: {mid['hq']:.3f}; at the end: {m['hq']:.3f} (Step 4 SN run: "
      f"{sn_run['metrics']['hq']:.3f}); {0.9 - m['hq']:.2f} short of 0.9")  # fmt: skip
assert m["modes"] >= n_modes - pick(quick=1, full=0)
assert m["hq"] > mid["hq"]
assert m["hq"] > sn_run["metrics"]["hq"]
# quick mode trains 600 updates on the ring, not 9000 on the grid: a lower bar
assert m["hq"] >= pick(quick=0.25, full=0.4) and m["kl"] < 0.3

# %% [markdown]
# ### How long would 90 % take?
#
# `experiments/toy_long.py` trains this same recipe on the grid for 9000, 30000 and 60000
# generator updates from seed 0 (each run decays $\alpha$ to 0 over its own length; the
# longest takes about 6.5 minutes on one idle core) and writes a score every 1500 updates to
# `benchmarks/results/toy_long.csv`, read here. It also trains a short, 300-update run from
# ten seeds: their spread is what a rerun of the recipe is compared with below. Every row
# carries the recipe it was trained with; the first check is that it is still ours.

# %%
long_path = stored_result("toy_long.csv", "python experiments/toy_long.py --merge")
with long_path.open() as f:
    long_rows = list(csv.DictReader(f))
for row in long_rows:
    assert (row["data"], row["method"], row["loss"]) == ("grid", "sn", "ns")
    assert all(float(row[k]) == long_setting[k] for k in ("alpha", "beta1", "beta2", "n_dis"))
    assert (
        int(row["width"]) == long_width and int(row["batch_size"]) == batch_size_D == batch_size_G
    )
lengths = sorted({int(row["n_steps"]) for row in long_rows})
by_length = {  # the seed-0 run of each length; the shortest length has nine more seeds
    n: [row for row in long_rows if int(row["n_steps"]) == n and int(row["seed"]) == 0]
    for n in lengths
}
fig, ax = plt.subplots(figsize=(7, 3.8))
for n in lengths[1:]:
    rows_n = by_length[n]
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
longest = by_length[lengths[-1]]
last = [float(r["hq"]) for r in longest if int(r["step"]) > lengths[-1] - 10000]
print(f"last 10000 updates of the longest run: HQ from {min(last):.3f} to {max(last):.3f}")

# %% [markdown]
# **Claims** (from the recorded runs).
# (1) Longer training keeps every mode and sharpens them: the 9000-, 30000- and 60000-update
# runs all end with 25 modes, and each longer run ends with a higher high-quality fraction
# (0.45, 0.76, 0.83) and a lower KL to uniform (0.16, 0.02, 0.007).
# (2) The fraction has flattened: over the last 10000 updates of the longest run it moves by
# less than 0.1.
# (3) The file's runs are runs of this recipe: retrained here for 300 updates, from this
# lesson's seed, the recipe ends within the spread of the file's ten 300-update runs (their
# mean ± 4 standard deviations of one more run, for the modes and the high-quality fraction).
# A retrained run does not end with the file's numbers to the last digit, and need not: the
# same CPU model, PyTorch build and thread count repeat a run exactly, but another machine,
# another build or another thread count adds different round-off, and a GAN amplifies it
# into another trajectory. At 300 updates that spread is wide (10 to 21 modes, high-quality
# fraction 0.013 to 0.032 over the file's ten seeds), so this check catches a recipe that
# changed, not a change of the last digit.
#
# **Shortfall.** Still not 90 %: even 60000 updates, about six and a half times the
# one-minute budget, end at 0.83, and the last 10000 updates stay between 0.78 and 0.85.
# Patience alone does not close the gap on a CPU budget; PacGAN, which reports 94 % on the
# grid, trains a generator of 4 layers of 400 units for 400 epochs of 100,000 samples.

# %%
check_steps = lengths[0]
check_run = train_toy(
    "grid", "sn", "ns", long_setting, check_steps, seed=seed, width=long_width,
    batch_size_D=batch_size_D, batch_size_G=batch_size_G, lr_decay=True, n_eval=2500,
)  # fmt: skip
spread = [row for row in long_rows if int(row["n_steps"]) == check_steps]
ends = [final[n] for n in lengths[1:]]
assert lengths == [300, 9000, 30000, 60000] and all(int(row["modes"]) == 25 for row in ends)
assert all(float(a["hq"]) < float(b["hq"]) for a, b in zip(ends, ends[1:], strict=False))
assert all(float(a["kl"]) > float(b["kl"]) for a, b in zip(ends, ends[1:], strict=False))
assert len(last) >= 5 and max(last) - min(last) < 0.1
assert sorted(int(row["seed"]) for row in spread) == list(range(10))
for key in ("modes", "hq"):
    file_values = [float(row[key]) for row in spread]
    mean, sd = statistics.mean(file_values), statistics.stdev(file_values)
    margin = 4 * sd * math.sqrt(1 + 1 / len(file_values))  # one more run from the same spread
    print(f"{key}: retrained {check_run['metrics'][key]:.4g}; the file's {len(spread)} seeds "
          f"{mean:.4g} ± {sd:.2g} (allowed ± {margin:.2g})")  # fmt: skip
    assert abs(check_run["metrics"][key] - mean) <= margin, (key, check_run["metrics"][key])

# %% [markdown]
# ### Against the published numbers
#
# VEEGAN and PacGAN made this grid a benchmark, with the same rules as Step 2 (3 standard
# deviations, 2500 samples); GDPP (Elfeki et al., 2019) reports on it too. The cell below puts
# their numbers beside our longest run (the last row of `toy_long.csv`). Read them with care:
# the published rows are means over 5 to 10 seeds of networks trained far longer than ours
# (PacGAN: $G$ with 4 layers of 400 units and batch norm, $D$ with 3 maxout layers of 200
# units, Adam with $\alpha = 10^{-4}$ and $\beta_1 = 0.8$, batches of 100, about 400,000
# iterations; GDPP: 25,000 iterations with batches of 512), while ours is one seed. VEEGAN
# does not state its grid's spacing and standard deviation, and PacGAN does not publish its
# formula for the "reverse KL" (its code logs a Jensen–Shannon divergence), so only PacGAN's
# modes and HQ are strictly comparable with ours. Even true samples reach only
# $1 - e^{-9/2} = 98.9\,\%$ high-quality under the 3-std rule.

# %%
published = [  # (method, source, modes of 25, high-quality %, reverse KL; None: not reported)
    ("GAN", "PacGAN, Table 1", 17.3, 94.8, 0.70),
    ("PacGAN4", "PacGAN, Table 1", 24.8, 93.6, 0.04),
    ("VEEGAN", "VEEGAN, Table 1", 24.6, 40.0, None),
    ("WGAN-GP", "GDPP, Fig. 2 of its code", 24.2, 28.7, None),
    ("GDPP", "GDPP, Fig. 2 of its code", 24.8, 68.5, None),
]
ours = final[lengths[-1]]
print(f"{'method':<36}{'source':<26}{'modes':>6}{'HQ %':>7}{'KL':>7}")
for name, source, modes, hq, kl in published:
    kl_text = "-" if kl is None else f"{kl:.2f}"
    print(f"{name:<36}{source:<26}{modes:>6.1f}{hq:>7.1f}{kl_text:>7}")
ours_name = f"SN recipe, {lengths[-1]} updates, 1 seed"
ours_hq = 100 * float(ours["hq"])
print(f"{ours_name:<36}{'toy_long.csv':<26}{int(ours['modes']):>6}{ours_hq:>7.1f}"
      f"{float(ours['kl']):>7.3f}")  # fmt: skip
pacgan4 = published[1]
print(f"against PacGAN4: modes {int(ours['modes'])} vs {pacgan4[2]}, HQ {ours_hq:.1f} % vs "
      f"{pacgan4[3]} % ({pacgan4[3] - ours_hq:.1f} points short), KL {float(ours['kl']):.3f} "
      f"vs {pacgan4[4]}; {float(ours['seconds']):.0f} s of training")  # fmt: skip

# %% [markdown]
# **Claims.** (1) Our longest run captures at least as many modes as PacGAN4 (all 25) with a
# smaller KL to uniform than PacGAN4's 0.04. (2) Its high-quality fraction is above that of
# VEEGAN, WGAN-GP and GDPP as they report it.
#
# **Shortfall.** The target "beat PacGAN4 on all three numbers at once, as a mean of 5 seeds,
# within 10 minutes of this CPU" is **not met**: the run took about 6.5 minutes, but its
# high-quality fraction, 83.4 %, is about 10 points below PacGAN4's 93.6 % (and below PacGAN's
# plain GAN, 94.8 %), and it is one seed, not five. The next subsection finds the lever most
# likely to close the gap, the paper's $n_{dis} = 5$; we have not trained it that long.

# %%
assert int(ours["modes"]) >= pacgan4[2] and float(ours["kl"]) < pacgan4[4]
assert ours_hq > max(row[3] for row in published if row[4] is None)


# %% [markdown]
# ### The recipe, one choice at a time
#
# What is each choice of the recipe worth? `experiments/toy_levers.py` retrains it with one
# thing changed at a time, for the same 9000 generator updates from the same seed, and stores a
# score every 900 updates in `benchmarks/results/toy_levers.csv`, read here: $G$ without batch
# norm, the hinge loss, a constant $\alpha$, the paper's $n_{dis} = 5$ (which makes the
# optimizer exactly the paper's setting D, plus the decay), $D$ without normalization (standard
# loss), and the WGAN-GP critic ($\lambda = 10$; note that its authors' own recipe,
# $n_{dis} = 5$ and $\alpha = 10^{-4}$, is far from ours). The first row is the recipe itself,
# and the first check is that it is the run of the file above. The seven runs shared a busy
# machine, so their seconds are inflated: only their ratios to the recipe's mean anything.

# %%
levers_path = stored_result("toy_levers.csv", "python experiments/toy_levers.py")
with levers_path.open() as f:
    lever_rows = list(csv.DictReader(f))
lever_runs = {}
for row in lever_rows:
    assert float(row["alpha"]) == long_setting["alpha"] and int(row["width"]) == long_width
    assert int(row["n_steps"]) == 9000 and int(row["seed"]) == 0  # stored runs of seed 0
    point = {"step": int(row["step"]), "modes": int(row["modes"])}
    point |= {"hq": float(row["hq"]), "kl": float(row["kl"])}
    lever_runs.setdefault(row["variant"], {"curve": [], "seconds": float(row["seconds"])})
    lever_runs[row["variant"]]["curve"].append(point)
lever_end = {variant: run["curve"][-1] for variant, run in lever_runs.items()}
cost = {
    variant: run["seconds"] / lever_runs["recipe"]["seconds"] for variant, run in lever_runs.items()
}
for variant, end in lever_end.items():
    print(f"{variant:>22}: {end['modes']:>2} modes, HQ {end['hq']:.3f}, KL {end['kl']:.3f}, "
          f"time {cost[variant]:.1f} x the recipe's")  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
plot_curves(list(axes), lever_runs, 25)
fig.suptitle("the recipe (9000 updates on the grid) with one choice changed")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims** (one seed each: differences of a few hundredths in HQ are within seed noise).
# (1) The file's recipe row is the recipe: it ends where the 9000-update run of `toy_long.csv`
# ends.
# (2) Batch norm in $G$ is needed: without it the generator captures no mode at all.
# (3) The decay of $\alpha$ helps: with a constant $\alpha$ the run ends with a lower
# high-quality fraction and a higher KL.
# (4) The standard loss and the hinge loss end close: their high-quality fractions differ by
# less than 0.05.
# (5) **The paper's $n_{dis} = 5$ beats our $n_{dis} = 1$ per generator update:** all 25 modes,
# a high-quality fraction 0.2 or more higher (0.80 against 0.45) and a KL more than ten times
# lower, for
# two to four times the time. Per second of CPU it is at least as good: the 30000-update run
# of our recipe, about three times as long, ends at 0.76. The $n_{dis} = 1$ of the recipe was
# chosen for the one-minute budget; the paper's setting is the better use of a longer one.
# (6) Without normalization the generator does about as well as with SN on this toy (within
# one mode; the HQ and KL differences are of the size one seed cannot settle).
# (7) The WGAN-GP critic does not survive the recipe: fewer modes than SN and a KL to uniform
# at least 1 higher.

# %%
recipe_end, ends = lever_end["recipe"], lever_end
assert (recipe_end["modes"], recipe_end["hq"]) == (
    int(final[9000]["modes"]),
    float(final[9000]["hq"]),
)
assert ends["no batch norm in G"]["modes"] == 0
assert (
    ends["constant alpha"]["hq"] < recipe_end["hq"]
    and ends["constant alpha"]["kl"] > recipe_end["kl"]
)
assert abs(ends["hinge loss"]["hq"] - recipe_end["hq"]) < 0.05
n_dis_5 = ends["n_dis = 5 (setting D)"]
assert n_dis_5["modes"] == 25 and n_dis_5["hq"] > recipe_end["hq"] + 0.2
assert n_dis_5["kl"] < recipe_end["kl"] / 10 and 2 < cost["n_dis = 5 (setting D)"] < 4
assert n_dis_5["hq"] > float(final[30000]["hq"])
assert abs(ends["no normalization"]["modes"] - recipe_end["modes"]) <= 1
assert (
    ends["WGAN-GP"]["modes"] < recipe_end["modes"] and ends["WGAN-GP"]["kl"] > recipe_end["kl"] + 1
)

# %% [markdown]
# ## Summary
#
# - Mode collapse on a mixture of $M$ Gaussians is countable: modes captured, the high-quality
#   fraction within $3s$ of a centre, and $\mathrm{KL}(p\,\Vert\,U)$ of the mode histogram.
# - The hinge loss is the *negative* of the paper's eq. (16); minimizing (16) as written, or the
#   objective one write-up prints with the first sign flipped, trains $D$ to prefer the fakes.
# - One training step serves every method: the normalization lives in $D$ (SN, WN), the rest
#   enters as a penalty (WGAN-GP, orthonormal) or a hook after the update (clipping).
# - Watched GAN Lab style, SN bounds the push that each fake sample gets from $D$ by 1; an
#   unnormalized $D$ under an aggressive setting grows steep walls and pushes many times harder.
# - Over three seeds, SN beats the WGAN-GP critic on the grid at the aggressive settings D–F,
#   but this small toy does not reproduce the rest of the paper's robustness claim: WGAN-GP is
#   worse still at the slow settings, orthonormal regularization captures more modes than SN
#   at D–F, an unnormalized MLP cannot be told apart from SN, and $\beta_1 = 0.9$ (setting F)
#   hurts SN too.
# - Longer training with $\alpha$ decayed linearly to 0 is what sharpens the generator. Our
#   recipe (SN, standard loss, setting D's $\alpha$, $\beta_1$, $\beta_2$ but $n_{dis} = 1$
#   where the paper's D–F use 5) captures all 25 grid modes with 45 % high-quality samples in
#   9000 updates, 76 % and 83 % in 30000 and 60000, and then flattens: all 25 modes and a KL
#   below PacGAN4's, but about 10 points short of its 93.6 % high-quality samples.
# - One choice at a time, at 9000 updates: batch norm in $G$ is needed, the decay of $\alpha$
#   helps, the hinge and standard losses end close, and the paper's $n_{dis} = 5$ lifts the
#   high-quality fraction from 0.45 to 0.80 for about three times the time: the better use of
#   a budget longer than a minute.
#
# ## Exercises
#
# 1. PacGAN's released code scores the mode histogram with the Jensen–Shannon divergence
#    against uniform. Write it, check it on two histograms you can score by hand (every mode
#    equally often: 0; everything on one of $M$ modes: work out the closed form), and compute
#    it for the SN run of Step 4: is it below that of a generator stuck on one mode?
# 2. Retrain SN on the ring with `loss_fns=(wrong_hinge_loss_D, hinge_loss_G)` in `train_toy`:
#    what happens to the samples?
# 3. Change `ORTHO_WEIGHT` in `sngan_teach.methods` (the orthonormal-penalty coefficient, which the
#    paper does not state) and retrain orthonormal regularization under setting E: how close to
#    orthonormal do $D$'s layers stay?


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1. With all mass on one of M modes, the midpoint m = (p + U) / 2 has
# m_1 = (M + 1) / (2M) and 1 / (2M) elsewhere, so
# JSD = (log(2M / (M + 1)) + log(2 / (M + 1)) / M + (M - 1) / M * log 2) / 2.
def kl_div(a, b):
    mask = a > 0
    return (a[mask] * torch.log(a[mask] / b[mask])).sum().item()


def jsd_to_uniform(counts):
    p = counts / counts.sum()
    u = torch.full_like(p, 1 / len(p))
    mid = (p + u) / 2
    return 0.5 * kl_div(p, mid) + 0.5 * kl_div(u, mid)


M = len(centres)
one_mode = torch.zeros(M, dtype=torch.float64)
one_mode[3] = 500
by_hand = (math.log(2 * M / (M + 1)) + math.log(2 / (M + 1)) / M + (M - 1) / M * math.log(2)) / 2
counts = torch.tensor(mode_metrics(sn_run["samples"], centres, std)["counts"], dtype=torch.float64)
jsd = jsd_to_uniform(counts)
print(
    f"JSD(p, U): SN run {jsd:.4f}, one mode {jsd_to_uniform(one_mode):.4f} (by hand {by_hand:.4f})"
)
assert abs(jsd_to_uniform(torch.full((M,), 7.0, dtype=torch.float64))) < 1e-12
assert math.isclose(jsd_to_uniform(one_mode), by_hand, rel_tol=1e-12)
assert jsd < by_hand


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
default_weight = methods.ORTHO_WEIGHT
penalties = {}
try:
    for weight in (0.01, 10.0):
        methods.ORTHO_WEIGHT = weight
        run = train_toy("ring", "ortho", "hinge", "E", **(ex_kw | dict(n_steps=100)))
        penalties[weight] = orthonormal_penalty(run["net_D"]).item()
finally:
    methods.ORTHO_WEIGHT = default_weight
print("||W W^T - I||_F^2 summed over D's layers after training:", penalties)
assert penalties[10.0] < penalties[0.01]

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014).
#   *Generative Adversarial Nets*. NeurIPS. `goodfellow2014generative`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of
#   Wasserstein GANs*. NeurIPS. `gulrajani2017improved`
# - Srivastava, Valkov, Russell, Gutmann and Sutton (2017). *VEEGAN: Reducing Mode Collapse in
#   GANs using Implicit Variational Learning*. NeurIPS. `srivastava2017veegan`
# - Metz, Poole, Pfau and Sohl-Dickstein (2017). *Unrolled Generative Adversarial Networks*.
#   ICLR. `metz2017unrolled`
# - Lin, Khetan, Fanti and Oh (2018). *PacGAN: The Power of Two Samples in Generative
#   Adversarial Networks*. NeurIPS. `lin2018pacgan`
# - Elfeki, Couprie, Rivière and Elhoseiny (2019). *GDPP: Learning Diverse Generations Using
#   Determinantal Point Processes*. ICML. `elfeki2019gdpp`
# - Kahng, Thorat, Chau, Viégas and Wattenberg (2018). *GAN Lab: Understanding Complex Deep
#   Generative Models using Interactive Visual Experimentation*. IEEE VIS (IEEE TVCG 25(1)).
#   `kahng2018gan`
# - Kingma and Ba (2015). *Adam: A Method for Stochastic Optimization*. ICLR. `kingma2015adam`
