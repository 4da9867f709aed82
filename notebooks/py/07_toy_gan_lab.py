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
# 5. Know where the longer studies are: every method under the paper's settings A–F, and a CPU
#    recipe against the published numbers, in [appendix A3](A3_toy_gan_studies.ipynb).
#
# ## What you need
#
# Lessons 04 (spectral norm) and 06 (the alternatives). No GPU. Full mode runs in under two
# minutes on an idle 2-core CPU, most of it for the three runs of Step 4; expect more on a busy
# machine.

# %%
import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import CenteredNorm
from tqdm.auto import tqdm

from sngan_teach.explore import explore
from sngan_teach.gan import SETTINGS, make_optimizers, train, train_step
from sngan_teach.losses import get_loss, hinge_loss_D, hinge_loss_G, ns_loss_D
from sngan_teach.methods import method_hooks
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
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
lab_steps = pick(quick=120, full=240)  # generator updates of the GAN-Lab-style runs of Step 5
lab_batch = 128  # their real (and fake) samples per update
lab_settings = ["C", "D"]  # their optimizer settings (Table 1): one mild, one aggressive

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
# - the **divergence** is the KL divergence from the mode histogram $p$ of the HQ samples to
#   the uniform distribution $U$ over the $M$ modes,
#   $\mathrm{KL}(p\,\Vert\,U) = \sum_j p_j \log(M p_j)$: 0 when every mode gets the same share,
#   $\log M$ when one mode takes everything. (PacGAN's tables report a "reverse KL" without its
#   formula, and its released code logs a Jensen–Shannon divergence; the exercise computes that
#   one. So our KL is not PacGAN's number.)
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
print(
    "package loss - write-up loss:",
    f"{(hinge_loss_D(d_real, d_fake) - writeup_hinge_loss_D(d_real, d_fake)).item():.6f},",
    f"twice the real term: {2 * F.relu(1 - d_real).mean().item():.6f}",
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
# (3) The metric curve (recorded every `eval_every` steps) ends at the final metrics.


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
assert sn_run["curve"][-1]["modes"] == sn_run["metrics"]["modes"]

# %% [markdown]
# ## Step 5: watch the game, GAN Lab style
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
# **Further.** Every method under the paper's settings A–F over three seeds, a CPU recipe
# that captures all 25 modes beside the published numbers, and what `train` does when a loss
# turns into NaN are in [appendix A3](A3_toy_gan_studies.ipynb).

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
# - Every method under settings A–F, and how long it takes SN to reach every mode with a
#   high-quality fraction near PacGAN's: [appendix A3](A3_toy_gan_studies.ipynb).
#
#
# ## Exercises
#
# 1. PacGAN's released code scores the mode histogram with the Jensen–Shannon divergence
#    against uniform. Write it, check it on two histograms you can score by hand (every mode
#    equally often: 0; everything on one of $M$ modes: work out the closed form), and compute
#    it for the SN run of Step 4: is it below that of a generator stuck on one mode?
# 2. Retrain SN on the ring with `loss_fns=(wrong_hinge_loss_D, hinge_loss_G)` in `train_toy`:
#    what happens to the samples?


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
print(f"JSD(U, U) = {jsd_to_uniform(torch.full((M,), 7.0, dtype=torch.float64)):.1e}")
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

# %% [markdown]
# ## What's next
#
# [Lesson 08](08_robustness.ipynb) moves from the plane to real images: every method under
# settings A–F on 8×8 digits, with error bars over seeds.
