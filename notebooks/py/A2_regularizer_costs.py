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
# # Tune the alternatives to spectral normalization and time what each one costs
#
# Appendix to [lesson 06](06_regularizers.ipynb), which compared orthonormal regularization,
# weight clipping and gradient penalties with SN on spectra and on a 2-D critic. Here: whether a
# larger penalty weight $\lambda$ or another place to sample tames that critic everywhere, what
# weight clipping does to it for $c$ from 0.01 to 1, and what each method costs per generator
# update (the paper's Fig. 10).
#
# ## What you will learn
#
# 1. See that no $\lambda$ and neither sampling place controls a critic far from its samples.
# 2. Read the scale that clipping imposes on a critic, and how it grows with $c$.
# 3. Time a generator update ($n_{dis} = 5$) for no normalization, WN, SN and WGAN-GP side by
#    side and draw the paper's Fig. 10, and count the extra work of WGAN-GP.
#
# ## What you need
#
# Lesson 06. About a minute in full mode on a 2-core CPU. No GPU.

# %%
import math
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.colors import LogNorm
from myst_nb import glue
from sklearn.datasets import load_digits
from torch import nn
from tqdm.auto import tqdm

from sngan_teach.explore import explore
from sngan_teach.lipschitz import input_gradient_norms
from sngan_teach.methods import add_wn
from sngan_teach.regularizers import gradient_penalty
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn
from sngan_teach.spectra import layer_singular_values
from sngan_teach.toy import sample_blob, sample_ring, train_critic

kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for every random draw below
torch.set_num_threads(1)  # small models: one thread is fastest and keeps timings steady


c = 0.01  # weight clipping bound (paper §4.1), train_critic's default

lam = 10.0  # lambda, gradient-penalty coefficient (paper §4.1), train_critic's default
n_critic_steps = pick(quick=300, full=800)  # critic updates in the 2-D experiment
grid_n = pick(quick=81, full=121)  # grid points per axis for the gradient map
sweep_lams = [1.0, 10.0, 100.0]  # lambda values of the interactive figure
sweep_cs = [0.01, 0.03, 0.1, 0.3, 1.0]  # clipping bounds c of the interactive figure
n_sweep_steps = pick(quick=150, full=400)  # critic updates per run of the interactive figures
sweep_grid_n = 61  # grid points per axis for the interactive maps

n_dis = 5  # D updates per G update (paper Fig. 10)
timing_batch = 64  # batch size in the timing run
n_timing_rounds = pick(quick=5, full=15)  # interleaved repeats; we report medians

# %% [markdown]
# The 2-D experiment of lesson 06, Step 4: real data on a ring of radius 2 (`sample_ring`), a
# fixed fake blob at the origin (`sample_blob`), critics trained with the Wasserstein loss from
# the same steep start (`train_critic`, with lesson 06's Adam settings and `init_scale` = 4).
# Lesson 06 wrote these functions inline and checked them equal to the package's, which we
# import. The grid of the gradient maps, and the SN critic to compare with:

# %%
xs = torch.linspace(-6, 6, grid_n)
XX, YY = torch.meshgrid(xs, xs, indexing="xy")
grid = torch.stack([XX.flatten(), YY.flatten()], dim=1)
critics = {"SN": train_critic("SN", gen, seed=seed, n_steps=n_critic_steps)}

# %% [markdown]
# ## 1. The penalty weight and where it samples
#
# **Move the sliders.** Would a larger $\lambda$, or another place to sample, tame the critic
# everywhere? Each frame is a critic trained from the same steep start for `n_sweep_steps`
# updates with one penalty, at real-fake interpolates (WGAN-GP) or at noisy copies of the real
# data (DRAGAN), with weight $\lambda$. The map is $\lVert\nabla_x D\rVert$ over the plane, on
# one colour scale for every frame; the dots show where that penalty's samples fall.

# %%
sweep_xs = torch.linspace(-6, 6, sweep_grid_n)
SX, SY = torch.meshgrid(sweep_xs, sweep_xs, indexing="xy")
sweep_grid = torch.stack([SX.flatten(), SY.flatten()], dim=1)
sweep_off = sweep_grid.norm(dim=1) > 3.5  # far from every sample, as above
t_pts = torch.rand(300, 1, generator=gen)
real_pts = sample_ring(300, gen)
sample_pts = {  # where each penalty's x_hat fall (the formulas of gradient_penalty, dragan_penalty)
    "interpolates": t_pts * real_pts + (1 - t_pts) * sample_blob(300, gen),
    "near real data": real_pts + 0.5 * real_pts.std() * torch.randn(300, 2, generator=gen),
}
places = {"interpolates": "WGAN-GP", "near real data": "DRAGAN"}
penalty_sweep = {}
for place, method in tqdm(places.items(), desc="penalty sweep"):
    for lam_value in sweep_lams:
        net = train_critic(method, gen, seed=seed, lam=lam_value, n_steps=n_sweep_steps)
        penalty_sweep[place, lam_value] = (
            input_gradient_norms(net, sweep_grid),
            input_gradient_norms(net, sample_pts[place]).median().item(),
        )
vmax_sweep = max(g.max().item() for g, _ in penalty_sweep.values())


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_penalty`: the map of
# $\|\nabla_x D\|$ of each critic above, with its penalty's samples.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_penalty(samples, lam):
    g, on_samples = penalty_sweep[samples, lam]
    fig, ax = plt.subplots(figsize=(5.4, 4), layout="constrained")
    im = ax.imshow(
        g.reshape(sweep_grid_n, sweep_grid_n).numpy(),
        origin="lower",
        extent=(-6, 6, -6, 6),
        vmin=0,
        vmax=vmax_sweep,
    )
    pts = sample_pts[samples]
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="white", label="penalty samples")
    ax.add_patch(plt.Circle((0, 0), 3.5, fill=False, ls="--", color="w", lw=0.8))
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"penalty at {samples}, $\\lambda$ = {lam:g}")
    ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(im, ax=ax, label=r"$\|\nabla_x D\|$")
    caption = (
        f"median gradient norm at the penalty's samples {on_samples:.2f}; "
        f"beyond radius 3.5 up to {g[sweep_off].max():.2f}"
    )
    return fig, caption


explore(draw_penalty, samples=list(places), lam=sweep_lams)

# %% [markdown]
# **Claims.** Where its samples fall, $\lambda = 1$ is too weak: with either penalty the median
# gradient norm there misses its target 1 by more than twice as much as with $\lambda = 10$ or
# 100. No $\lambda$ and neither place controls the critic
# far from the samples: beyond radius 3.5 its gradient norm exceeds 2 somewhere in every frame.

# %%
for (place, lam_value), (g, on_samples) in penalty_sweep.items():
    print(f"{place:>15}, lambda {lam_value:5g}: on the samples {on_samples:.2f}, ", end="")
    print(f"beyond radius 3.5 up to {g[sweep_off].max():.2f}")
    assert g[sweep_off].max() > 2, (place, lam_value)
for place in places:
    miss = {lam_value: abs(penalty_sweep[place, lam_value][1] - 1) for lam_value in sweep_lams}
    assert miss[1.0] > 2 * max(miss[10.0], miss[100.0]), (place, miss)
# %% [markdown]
# ## 2. Weight clipping on the same critic
#
# Weight clipping also bounds the gradient everywhere, but at a scale set by $c$ and the widths,
# not by the task: for our $2 \to 64 \to 64 \to 1$ critic, $\lVert\nabla_x D\rVert \le
# c^3\sqrt{2\cdot 64}\sqrt{64\cdot 64}\sqrt{64 \cdot 1} \approx 0.006$ (lesson 06's Step 3
# bound, layer by layer). Train the same critic with clipping (and the same steep start, which
# the first clamp erases):

# %%
critic_wc = train_critic("WC", gen, seed=seed, c=c, n_steps=n_critic_steps)
map_wc = input_gradient_norms(critic_wc, grid)
bound_wc = math.prod(sv[0].item() for sv in layer_singular_values(critic_wc).values())
clip_cap = c**3 * math.sqrt(2 * 64) * math.sqrt(64 * 64) * math.sqrt(64 * 1)
with torch.no_grad():
    gaps = {
        m: (net(sample_ring(4000, gen)).mean() - net(sample_blob(4000, gen)).mean()).item()
        for m, net in [("WC", critic_wc), ("SN", critics["SN"])]
    }
print(f"WC: max grad norm {map_wc.max():.2e} <= product bound {bound_wc:.2e} <= {clip_cap:.2e}")
print("E[D(real)] - E[D(fake)]:", {m: f"{v:.2e}" for m, v in gaps.items()})

# %% [markdown]
# **Claim.** The clipped critic's gradient is below $c^3\sqrt{\cdots} < 0.01$ everywhere: a
# global bound, like SN's, but about a hundred times smaller than the slope 1 a Wasserstein
# critic should have, and its gap $\mathbb E[D(x)] - \mathbb E[D(\tilde x)]$ is more than ten
# times smaller than the SN critic's.

# %%
assert map_wc.max() <= bound_wc + 1e-9 <= clip_cap + 2e-9
assert map_wc.max() < 0.01  # a hundred times below slope 1, everywhere on the plane
assert 0 < gaps["WC"] < 0.1 * gaps["SN"]

# %% [markdown]
# **Move the slider.** A larger $c$ loosens the box. The same clipped critic, trained for
# `n_sweep_steps` updates with $c$ from 0.01 to 1 (a logarithmic colour scale, the same in every
# frame):

# %%
clip_sweep = {}
for c_value in tqdm(sweep_cs, desc="clipping sweep"):
    net = train_critic("WC", gen, seed=seed, c=c_value, n_steps=n_sweep_steps)
    with torch.no_grad():
        gap_c = (net(sample_ring(4000, gen)).mean() - net(sample_blob(4000, gen)).mean()).item()
    clip_sweep[c_value] = (input_gradient_norms(net, sweep_grid), gap_c)


# %% [markdown]
# The folded cell below draws the slider's figure, `draw_clip`: the map of
# $\|\nabla_x D\|$ of each clipped critic above.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_clip(c):
    g, gap_c = clip_sweep[c]
    fig, ax = plt.subplots(figsize=(5.4, 4), layout="constrained")
    im = ax.imshow(
        g.reshape(sweep_grid_n, sweep_grid_n).clamp_min(1e-6).numpy(),
        origin="lower",
        extent=(-6, 6, -6, 6),
        norm=LogNorm(vmin=1e-4, vmax=10),
    )
    pts = sample_ring(200, gen)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="white", label="real")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=f"weight clipping, c = {c:g}")
    ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(im, ax=ax, label=r"$\|\nabla_x D\|$ (log scale)")
    return (
        fig,
        f"c = {c:g}: largest gradient norm {g.max():.2g}, E[D(x)] - E[D(fake)] = {gap_c:.2g}",
    )


explore(draw_clip, c=sweep_cs)

# %% [markdown]
# **Claim.** The critic's largest gradient norm and its gap $\mathbb E[D(x)] - \mathbb
# E[D(\tilde x)]$ both grow with $c$: the bound sets the scale of everything the critic can
# say, and only a $c$ far above the paper's 0.01 lets it approach slope 1.

# %%
max_by_c = [clip_sweep[c_value][0].max().item() for c_value in sweep_cs]
gap_by_c = [clip_sweep[c_value][1] for c_value in sweep_cs]
print("largest gradient norm:", [f"{v:.2g}" for v in max_by_c])
print("gap:", [f"{v:.2g}" for v in gap_by_c])
assert all(x < y for x, y in zip(max_by_c, max_by_c[1:], strict=False)), max_by_c
assert all(x < y for x, y in zip(gap_by_c, gap_by_c[1:], strict=False)), gap_by_c
assert max_by_c[0] < 0.01 and max_by_c[-1] > 0.5, max_by_c

# %% [markdown]
#
# ## 3. What each method costs per generator update
#
# The paper's Fig. 10 times 100 generator updates with $n_{dis} = 5$ for WGAN-GP, WN, SN and no
# normalization ("vanilla"). SN adds one power iteration (two matrix-vector products) per layer
# per D step; WN a row-norm per layer; WGAN-GP a third forward pass on the interpolates and a
# **double backward**. We time the same small convolutional GAN on 8×8 digits with each method,
# interleaving the methods round by round (so a slow moment of the machine hits all of them)
# and taking medians.

# %% tags=["results"]
digits_flat = torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1  # 1797 x 64
digits = digits_flat.reshape(-1, 1, 8, 8)  # N x 1 x 8 x 8, in [-1, 1]


def make_conv_D():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 1),
    )  # fmt: skip


def make_conv_G():
    return nn.Sequential(
        nn.Linear(16, 64 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 1, 3, padding=1), nn.Tanh(),
    )  # fmt: skip


def make_setup(method):
    torch.manual_seed(seed)
    net_D, net_G = make_conv_D(), make_conv_G()
    if method == "WN":
        add_wn(net_D)
    elif method == "SN":
        add_sn(net_D)
    opt_D = torch.optim.Adam(net_D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_G = torch.optim.Adam(net_G.parameters(), lr=1e-4, betas=(0.5, 0.9))
    return method, net_D, net_G, opt_D, opt_G


def generator_update(setup):
    """n_dis D steps and one G step: the unit the paper times."""
    method, net_D, net_G, opt_D, opt_G = setup
    for _ in range(n_dis):
        x = digits[torch.randint(len(digits), (timing_batch,), generator=gen)]
        with torch.no_grad():
            x_fake = net_G(torch.randn(timing_batch, 16, generator=gen))
        if method == "WGAN-GP":
            loss_D = net_D(x_fake).mean() - net_D(x).mean()
            loss_D = loss_D + lam * gradient_penalty(net_D, x, x_fake, generator=gen)
        else:
            loss_D = F.softplus(-net_D(x)).mean() + F.softplus(net_D(x_fake)).mean()
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
    d_fake = net_D(net_G(torch.randn(timing_batch, 16, generator=gen)))
    loss_G = -d_fake.mean() if method == "WGAN-GP" else F.softplus(-d_fake).mean()
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()


timed = ["vanilla", "WN", "SN", "WGAN-GP"]
setups = {m: make_setup(m) for m in timed}
for m in timed:
    generator_update(setups[m])  # warm-up
times = {m: [] for m in timed}
for _ in tqdm(range(n_timing_rounds), desc="timing rounds"):
    for m in timed:
        t0 = time.perf_counter()
        generator_update(setups[m])
        times[m].append(time.perf_counter() - t0)
median = {m: statistics.median(times[m]) for m in timed}
ratio = {m: median[m] / median["vanilla"] for m in timed}

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(timed, [100 * median[m] for m in timed], color=["C0", "C1", "C2", "C3"])
for k, m in enumerate(timed):
    ax.text(k, 100 * median[m], f"{ratio[m]:.2f}x", ha="center", va="bottom", fontsize=8)
ax.set_xlabel("method")
ax.set_ylabel("seconds per 100 generator updates")
ax.set_title(f"Fig. 10 at small scale (n_dis = {n_dis}, CPU, medians of {n_timing_rounds})")
plt.show()
cost_lines = [
    f"{m:>8}: {1000 * median[m]:7.1f} ms per G update, {ratio[m]:.2f}x vanilla" for m in timed
]
cost_lines.append(
    f"SN / WN = {median['SN'] / median['WN']:.2f}, "
    f"WGAN-GP / SN = {median['WGAN-GP'] / median['SN']:.2f}"
)
print("\n".join(cost_lines))
glue("cost_figure", fig, display=False)  # kept for the site's results page
glue("cost_ratios", "\n".join(cost_lines), display=False)

# %% [markdown]
# **Claim.** WGAN-GP does more work per generator update: with $n_{dis} = 5$ its discriminator
# runs 16 forward passes per generator update (three per D step: the real batch, the fakes and
# the interpolates of the penalty; one for G's step) against 11 for the other methods, and its
# penalty is then differentiated through the input gradient (the double backward). What that
# work costs depends on the machine and its load, so the times are printed, not asserted: on a
# shared 2-core CPU WGAN-GP took more than 1.2 times SN's time per update, round by round, and SN
# a few percent over WN and vanilla (the paper reports SN at about 110–120 % of WN on CIFAR-10
# with a GPU).


# %%
def forwards_per_update(method):
    """How many times D runs in one generator update of `method` (a forward hook counts)."""
    setup = make_setup(method)
    calls = []
    handle = setup[1].register_forward_hook(lambda *_: calls.append(1))
    generator_update(setup)
    handle.remove()
    return len(calls)


n_forwards = {m: forwards_per_update(m) for m in timed}
paired = [gp / sn for gp, sn in zip(times["WGAN-GP"], times["SN"], strict=True)]
print("forward passes of D per generator update:", n_forwards)
print(f"WGAN-GP / SN time, round by round: median {statistics.median(paired):.2f}")

# %%
assert n_forwards == {"vanilla": 2 * n_dis + 1, "WN": 2 * n_dis + 1, "SN": 2 * n_dis + 1,
                      "WGAN-GP": 3 * n_dis + 1}, n_forwards  # fmt: skip

# %% [markdown]
# ## Summary
#
# - Where its samples fall a penalty needs $\lambda$ of about 10 to meet its target; no $\lambda$
#   and neither place to sample controls the critic far from the samples.
# - Clipping bounds the gradient everywhere, at a scale set by $c$ and the widths, not by the
#   task; only a $c$ far above the paper's 0.01 lets the critic approach slope 1.
# - The double backward makes WGAN-GP markedly slower per generator update; SN costs little.
#
# ## Exercises
#
# **1. The clipping bound for a whole network.** With $c = 0.01$, what is the largest possible
# spectral norm of a $128 \times 128$ layer, and the product bound of a 4-layer MLP
# $64 \to 128 \to 128 \to 128 \to 1$? Check the layer bound with a sign matrix.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: sigma_1 <= c sqrt(d_o d_i) = c * 128 = 1.28, reached by c * s t^T with sign vectors;
# the network: c^4 sqrt(64*128) sqrt(128*128) sqrt(128*128) sqrt(128*1), below 0.2. A clipped
# critic is Lipschitz, but small: it cannot even reach slope 1, the slope the Wasserstein
# critic needs, however it arranges its weights.
signs = torch.where(torch.rand(128, generator=gen) < 0.5, -1.0, 1.0)
S = c * torch.outer(signs, torch.ones(128))
sigma_S = torch.linalg.matrix_norm(S, ord=2).item()
net_bound = c**4 * math.sqrt(64 * 128) * 128 * 128 * math.sqrt(128)
# The bound is reached: with every weight +c the layers' top singular vectors line up (the
# all-ones directions), a positive input stays positive through the leaky ReLUs, and the
# gradient there has exactly the bound's norm.
widest = nn.Sequential(
    nn.Linear(64, 128, bias=False), nn.LeakyReLU(0.1),
    nn.Linear(128, 128, bias=False), nn.LeakyReLU(0.1),
    nn.Linear(128, 128, bias=False), nn.LeakyReLU(0.1),
    nn.Linear(128, 1, bias=False),
)  # fmt: skip
with torch.no_grad():
    for p in widest.parameters():
        p.fill_(c)
x_pos = torch.ones(1, 64, requires_grad=True)
(grad_pos,) = torch.autograd.grad(widest(x_pos).sum(), x_pos)
slope = grad_pos.norm().item()
print(f"sign matrix sigma_1 = {sigma_S:.4f}, network bound = {net_bound:.3e}, reached: {slope:.3e}")
assert abs(slope / net_bound - 1) < 1e-5 and slope < 0.2

# %% [markdown]
# **2. How much of the time is the penalty?** Time one D step of the conv discriminator with and
# without the gradient penalty (same batch). What fraction of WGAN-GP's D step is the penalty?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the penalty adds a forward pass on x_hat and a backward through a backward; the
# printout gives its share of the D step on this model (a large one, for one extra term).
_, net_D_t, net_G_t, _, _ = setups["WGAN-GP"]
x_t = digits[:timing_batch]
with torch.no_grad():
    fake_t = net_G_t(torch.randn(timing_batch, 16, generator=gen))
plain, penal = [], []
for _ in range(5):
    t0 = time.perf_counter()
    (net_D_t(fake_t).mean() - net_D_t(x_t).mean()).backward()
    plain.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    loss_t = net_D_t(fake_t).mean() - net_D_t(x_t).mean()
    (loss_t + lam * gradient_penalty(net_D_t, x_t, fake_t, generator=gen)).backward()
    penal.append(time.perf_counter() - t0)
share = 1 - statistics.median(plain) / statistics.median(penal)
print(f"the penalty is {share:.0%} of a WGAN-GP D step (a timing on this machine, not a check)")

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Arjovsky, Chintala and Bottou (2017). *Wasserstein Generative Adversarial Networks*. ICML.
#   `arjovsky2017wasserstein`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of Wasserstein
#   GANs*. NeurIPS. `gulrajani2017improved`
# - Kodali, Abernethy, Hays and Kira (2017). *On Convergence and Stability of GANs*. arXiv
#   1705.07215. `kodali2017convergence`
#
# Back to [lesson 06](06_regularizers.ipynb), or on to [lesson 07](07_toy_gan_lab.ipynb).
