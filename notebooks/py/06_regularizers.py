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
# # Compare orthonormal regularization, weight clipping and gradient penalties
#
# Spectral normalization is one way to keep a discriminator's Lipschitz constant in check. The
# paper compares it with three older ones (§3, §4.1): **orthonormal regularization** (push every
# $W^T W$ toward $I$), **weight clipping** (WGAN: clamp every weight to $[-c, c]$) and
# **gradient penalties** (WGAN-GP, DRAGAN: penalize $\lVert \nabla_x D \rVert$ where samples
# fall). Each one controls something different, and each one costs something different. This
# lesson measures both.
#
# ## What you will learn
#
# 1. Why orthonormal regularization flattens the spectrum to all ones while SN keeps its shape,
#    and how that plays out when the final layer gets wider (the paper's Fig. 4, at small scale).
# 2. What clipping to $c = 0.01$ does to a layer's scale and to its spectrum.
# 3. Write WGAN-GP's and DRAGAN's penalties, and map $\lVert \nabla_x D \rVert$ over the plane to
#    see that a penalty only acts where its samples fall, while SN's bound holds everywhere.
# 4. Know where the tuning and the cost are: $\lambda$, $c$ and the time per generator update
#    (the paper's Fig. 10) in [appendix A2](A2_regularizer_costs.ipynb).
#
# ## What you need
#
# Lessons 02 (Lipschitz bound), 04 (the SN layer) and 05 (weight normalization, effective
# rank). About 1–2 minutes in full mode on a 2-core CPU: it ran in 120 s, 55 s of them CPU
# time, while other programs kept both cores busy. No GPU.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from tqdm.auto import tqdm

import sngan_teach.toy as toy
from sngan_teach.explore import explore
from sngan_teach.lipschitz import input_gradient_norms
from sngan_teach.regularizers import (
    clip_weights_,
    dragan_penalty,
    gradient_penalty,
    orthogonal_init_,
    orthonormal_penalty,
)
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn, spectral_norm
from sngan_teach.spectra import effective_rank, layer_singular_values

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for every random draw below
torch.set_num_threads(1)  # small models: one thread is fastest and keeps timings steady

d_o, d_i = 16, 48  # d_o x d_i: the matrix W of steps 1 and 3
n_ortho_steps = pick(quick=300, full=600)  # gradient steps on the orthonormal penalty alone
ortho_coef = 1e-2  # beta, coefficient of the orthonormal penalty in loss_D
widths = pick(quick=[16, 64, 256], full=[16, 64, 256])  # final-layer widths w (Fig. 4's x-axis)
n_width_steps = pick(quick=250, full=500)  # D updates per width and method

c = 0.01  # weight clipping bound (paper §4.1)
n_clip_steps = pick(quick=100, full=200)  # projected-gradient steps under clipping

lam = 10.0  # lambda, gradient-penalty coefficient (paper §4.1)
n_critic_steps = pick(quick=300, full=800)  # critic updates in the 2-D experiment
critic_alpha, critic_beta1, critic_beta2 = 5e-4, 0.5, 0.9  # Adam for the 2-D critics
init_scale = 4.0  # the 2-D critics start with all weights multiplied by this
grid_n = pick(quick=81, full=121)  # grid points per axis for the gradient map


# %% [markdown]
# ## Step 1: orthonormal regularization flattens the spectrum
#
# Orthonormal regularization (Brock et al., 2017; paper eq. 14) adds
# $\beta \sum_l \lVert W_l^T W_l - I \rVert_F^2$ to the discriminator's loss. Both Gram matrices
# $W^TW$ and $WW^T$ have the non-zero eigenvalues $\sigma_t^2$, so for a $d_o \times d_i$ matrix
# with $d_o \le d_i$
#
# $$\lVert W W^T - I_{d_o} \rVert_F^2 = \sum_{t=1}^{d_o} (\sigma_t^2 - 1)^2 .$$
#
# The penalty is zero exactly when **every** singular value is 1. Spectral normalization asks
# only $\sigma_1 = 1$. Inline, with the smaller Gram matrix:

# %%
W = torch.randn(d_o, d_i, generator=gen) / math.sqrt(d_i)


def ortho_inline(W):
    G = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
    return (G - torch.eye(G.shape[0])).pow(2).sum()


s = torch.linalg.svdvals(W)
print(
    "penalty:", ortho_inline(W).item(), " sum (sigma^2 - 1)^2:", (s.pow(2) - 1).pow(2).sum().item()
)
torch.testing.assert_close(ortho_inline(W), (s.pow(2) - 1).pow(2).sum())

layer = nn.Linear(d_i, d_o, bias=False)
with torch.no_grad():
    layer.weight.copy_(W)
torch.testing.assert_close(orthonormal_penalty(layer), ortho_inline(W))  # the package version

# %% [markdown]
# A trap in eq. (14) taken literally: for a *wide* matrix ($d_o < d_i$), $W^TW$ is
# $d_i \times d_i$ but has rank at most $d_o$, so $\lVert W^TW - I_{d_i}\rVert_F^2 \ge d_i - d_o$
# can never reach 0. Run it and it looks as if the regularizer never converges:


# %%
def ortho_literal(W):
    return (W.T @ W - torch.eye(W.shape[1])).pow(2).sum()


W_orth = torch.linalg.qr(torch.randn(d_i, d_o, generator=gen)).Q.T  # orthonormal rows
print("literal eq. (14) on an orthonormal-row matrix:", ortho_literal(W_orth).item())
assert ortho_literal(W_orth) > d_i - d_o - 1e-3  # stuck at d_i - d_o = 32, not 0

# %% [markdown]
# The two sides differ by the constant $d_i - d_o$ only, so they have the same gradient; the
# smaller Gram matrix is the one to use (it is cheaper and its minimum is 0). That is what
# `sngan_teach.regularizers.orthonormal_penalty` does, consistently, for every layer.

# %%
print("smaller Gram side on the same matrix:", ortho_inline(W_orth).item())
assert ortho_inline(W_orth) < 1e-10
Wa = W.clone().requires_grad_(True)
Wb = W.clone().requires_grad_(True)
ortho_inline(Wa).backward()
ortho_literal(Wb).backward()
torch.testing.assert_close(Wa.grad, Wb.grad)
torch.testing.assert_close(ortho_literal(W) - ortho_inline(W), torch.tensor(float(d_i - d_o)))

# %% [markdown]
# **Your turn.** Write `ortho_penalty(W)` returning $\lVert G - I\rVert_F^2$ with $G$ the
# smaller of $WW^T$ and $W^TW$, as a 0-d tensor that keeps its gradient (it is added to
# `loss_D`). The check tries wide, tall and square matrices, and compares the gradient too.
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.ortho_penalty.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def ortho_penalty(W):
    """||G - I||_F^2 with G the smaller Gram matrix of W."""
    ...  # your code here


# %%
accepted = exercises.ortho_penalty.check(ortho_penalty)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the Gram matrix of side min(d_o, d_i), whose minimum is 0.
def ortho_penalty_solution(W):
    d = min(W.shape)
    G = W @ W.T if W.shape[0] == d else W.T @ W
    return torch.linalg.matrix_norm(G - torch.eye(d, dtype=W.dtype)) ** 2


assert exercises.ortho_penalty.check(ortho_penalty_solution) is True

# %% [markdown]
# Now descend on the penalty alone, and compare with spectral normalization of the same start.
# SN divides by $\sigma_1$, so the *ratios* $\sigma_t / \sigma_1$ are untouched.

# %%
W_reg = W.clone().requires_grad_(True)
opt = torch.optim.SGD([W_reg], lr=0.05)
shown_steps = [0, 5, 20, 80, n_ortho_steps]  # the steps the slider below shows
spectra_by_step = {0: torch.linalg.svdvals(W)}
for step in range(1, n_ortho_steps + 1):
    opt.zero_grad()
    ortho_inline(W_reg).backward()
    opt.step()
    if step in shown_steps:
        spectra_by_step[step] = torch.linalg.svdvals(W_reg.detach())
s_orth = torch.linalg.svdvals(W_reg.detach())
sn_layer = nn.Linear(d_i, d_o, bias=False)
with torch.no_grad():
    sn_layer.weight.copy_(W)
spectral_norm(sn_layer, generator=torch.Generator().manual_seed(seed)).eval()
s_sn = torch.linalg.svdvals(sn_layer.weight.detach())  # the package layer's W / sigma_hat

index = np.arange(1, d_o + 1)  # t, the index of sigma_t
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(index, s.numpy(), "o-", label="W (start)")
ax.plot(index, s_sn.numpy(), "s-", label=r"SN: $W / \sigma_1(W)$")
ax.plot(index, s_orth.numpy(), "^-", label="after descending on the orthonormal penalty")
ax.set_xlabel("index t")
ax.set_ylabel(r"singular value $\sigma_t$")
ax.set_title("Orthonormal regularization flattens the spectrum, SN rescales it")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Claim.** The orthonormal penalty drives every singular value to 1 (the spectrum becomes
# flat, every direction gets the same gain); SN keeps the shape of the spectrum: $\sigma_1 = 1$
# and $\sigma_t(\bar W_{SN}) / \sigma_1 = \sigma_t(W)/\sigma_1(W)$.

# %%
assert (s_orth - 1).abs().max() < 1e-3
# the start was far from flat: for a 16 x 48 Gaussian matrix sigma_1 / sigma_16 is about
# (1 + sqrt(1/3)) / (1 - sqrt(1/3)) = 3.7 (Marchenko-Pastur); 2.6 to 4.2 over seeds 0 to 9...
assert s.max() / s.min() > 2
# ...and the SN layer gives sigma_t(W) / sigma_1(W), to the accuracy of its estimate of sigma_1
torch.testing.assert_close(s_sn, s / s[0], rtol=1e-2, atol=0)
assert s_sn[-1] < 0.5

# %% [markdown]
# **Move the slider.** The folded cell below draws the slider's figure, `draw_descent`: the
# spectrum of $W$ after each number of descent steps on the penalty; every $\sigma_t$ moves to 1,
# the small ones up and the large ones down.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_descent(step):
    s_now = spectra_by_step[step]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(index, s.numpy(), "o-", label="W (start)")
    ax.plot(index, s_now.numpy(), "^-", label=f"after {step} descent steps")
    ax.axhline(1, color="grey", ls="--", lw=1, label="1")
    ax.set(xlabel="index t", ylabel=r"singular value $\sigma_t$", title="the orthonormal penalty")
    ax.legend(fontsize=8)
    return fig, f"step {step}: sigma_t between {s_now.min():.3f} and {s_now.max():.3f}"


explore(draw_descent, step=shown_steps)

# %% [markdown]
# ## Step 2: a wider final layer, at small scale (the paper's Fig. 4)
#
# The paper trains GANs on STL-10 with the input and output widths of the discriminator's final
# layer scaled by 0.5 to 8, and finds that the Inception score of orthonormal regularization
# falls as the layer widens while SN's "does not falter" (§4.1.2, Fig. 4). Its explanation: SN
# lets a layer use only the few directions the data calls for (Fig. 3b: a small effective
# feature space), while orthonormal regularization makes every singular value 1 and so forces
# the layer to use *all* its directions, however many there are.
#
# A sample-quality score is out of reach here: each of the paper's points is a GAN trained for
# 100K generator updates and scored with the Inception network, and a few hundred updates of a
# small GAN are too short and too noisy to separate the methods. What we can measure cheaply
# and reliably is the mechanism the paper points to. We train lesson 05's discriminator
# (8×8 digits against a Gaussian with their mean and covariance) with a final hidden layer of
# width $w \times w$ for several $w$, under orthonormal regularization and under SN, and count
# how many directions the final layer uses: the effective rank of its $\bar W$ (lesson 05), and
# the effective rank of the covariance of its output features on held-out digits.

# %%
digits_flat = torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1  # 1797 x 64
split = torch.randperm(len(digits_flat), generator=gen)
d_train, d_test = digits_flat[split[:1400]], digits_flat[split[1400:]]
mu = d_train.mean(0)
L_chol = torch.linalg.cholesky(torch.cov(d_train.T) + 1e-3 * torch.eye(64))


def make_wide_D(w):
    return nn.Sequential(
        nn.Linear(64, 64), nn.LeakyReLU(0.1),
        nn.Linear(64, w), nn.LeakyReLU(0.1),
        nn.Linear(w, w), nn.LeakyReLU(0.1),  # the final hidden layer, w x w
        nn.Linear(w, 1),
    )  # fmt: skip


def train_wide_D(method, w):
    torch.manual_seed(seed)
    net_D = make_wide_D(w)
    if method == "SN":
        add_sn(net_D)
    else:
        orthogonal_init_(net_D, generator=torch.Generator().manual_seed(seed))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(n_width_steps):
        x = d_train[torch.randint(len(d_train), (64,), generator=gen)]
        x_fake = mu + torch.randn(64, 64, generator=gen) @ L_chol.T
        loss_D = F.softplus(-net_D(x)).mean() + F.softplus(net_D(x_fake)).mean()
        if method == "orthonormal":
            loss_D = loss_D + ortho_coef * orthonormal_penalty(net_D)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
    net_D.eval()
    rank_W = effective_rank(layer_singular_values(net_D)["4"])
    with torch.no_grad():
        feats = net_D[:6](d_test)  # the final layer's output features, after the activation
    feat_var = torch.linalg.eigvalsh(torch.cov(feats.T)).clamp_min(0)
    rank_feat = effective_rank(feat_var.sqrt())  # squares back to the variances
    return rank_W, rank_feat


width_ranks = {
    (m, w): train_wide_D(m, w) for m in tqdm(["orthonormal", "SN"], desc="methods") for w in widths
}

fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
for m, marker in [("orthonormal", "^-"), ("SN", "s-")]:
    axes[0].plot(widths, [width_ranks[m, w][0] for w in widths], marker, label=m)
    axes[1].plot(widths, [width_ranks[m, w][1] for w in widths], marker, label=m)
axes[0].plot(widths, widths, "k:", lw=0.8, label="w (all directions)")
axes[0].set_ylabel(r"effective rank of $\bar W$")
axes[1].set_ylabel("effective rank of the features")
for ax in axes:
    ax.set_xscale("log", base=2)
    ax.set_xlabel("final-layer width w")
    ax.legend(fontsize=8)
axes[0].set_title("Directions the final layer uses", fontsize=10)
axes[1].set_title("Dimensions of its output features", fontsize=10)
plt.tight_layout()
plt.show()
for m in ["orthonormal", "SN"]:
    print(m, {w: tuple(round(v, 1) for v in width_ranks[m, w]) for w in widths})

# %% [markdown]
# **Claims.** Under orthonormal regularization the final layer uses essentially all of its
# directions at every width (effective rank of $\bar W$ above 90 % of $w$), so its feature space
# grows with the width, faster than SN's. Under SN the share of directions used *falls* as the
# layer widens, and at the largest width SN's layer uses far fewer directions, and its features
# span fewer dimensions, than the orthonormal one. That is the paper's explanation of Fig. 4: a
# wide layer forced to use every direction gives the discriminator a large feature space it
# does not need.

# %%
w_small, w_large = widths[0], widths[-1]
for w in widths:
    assert width_ranks["orthonormal", w][0] > 0.9 * w, (w, width_ranks["orthonormal", w])
share_sn = [width_ranks["SN", w][0] / w for w in widths]
# the share of directions SN uses falls with the width
assert all(a > b for a, b in zip(share_sn[:-1], share_sn[1:], strict=True)), share_sn
assert width_ranks["SN", w_large][0] < 0.7 * width_ranks["orthonormal", w_large][0]
assert width_ranks["SN", w_large][1] < width_ranks["orthonormal", w_large][1]
gain_orth = width_ranks["orthonormal", w_large][1] / width_ranks["orthonormal", w_small][1]
gain_sn = width_ranks["SN", w_large][1] / width_ranks["SN", w_small][1]
print(f"features, width {w_small} -> {w_large}: orthonormal x{gain_orth:.2f}, SN x{gain_sn:.2f}")
assert gain_orth > gain_sn

# %% [markdown]
# ## Step 3: weight clipping shrinks the layer and, under a pull, collapses it
#
# WGAN clamps every weight to $[-c, c]$ after each step, $c = 0.01$. Every entry is bounded, so
# for a $d_o \times d_i$ layer
#
# $$\sigma_1(W) \le \lVert W \rVert_F \le c\sqrt{d_o d_i},$$
#
# which is 0.28 for our $16 \times 48$ matrix and, for a whole network, a product of such
# numbers: the Lipschitz constant is bounded, but so is the *scale* of everything the network
# can compute. Worse, the only way to get a large output inside the box is to push entries to
# the corners $\pm c$. Maximize $\lVert W h\rVert$ for a unit $h$ under clipping (a gradient
# step, then the clamp) and look at the result:

# %%
h = torch.randn(d_i, generator=gen)
h = h / h.norm()
clip_layer = nn.Linear(d_i, d_o, bias=False)
with torch.no_grad():
    clip_layer.weight.copy_(W * c)  # a small random start inside the box
clip_opt = torch.optim.Adam(clip_layer.parameters(), lr=c / 10)
for _ in range(n_clip_steps):
    clip_opt.zero_grad()
    (-clip_layer(h).pow(2).sum()).backward()
    clip_opt.step()
    clip_weights_(clip_layer, c)
W_clip = clip_layer.weight.detach()
s_clip = torch.linalg.svdvals(W_clip)
at_bound = (W_clip.abs() > 0.999 * c).float().mean().item()
print(f"entries at +-c: {at_bound:.0%}, sigma_1 = {s_clip[0]:.4f}, sigma_2 = {s_clip[1]:.2e}")
print(f"bound c sqrt(d_o d_i) = {c * math.sqrt(d_o * d_i):.4f}")
print("effective rank:", round(effective_rank(s_clip), 3))

# %% [markdown]
# **Claim.** Under the pull, every weight saturates at $\pm c$ in the pattern
# $c\,\operatorname{sign}(s\,h^T)$: a rank-one matrix with $\sigma_1 = c\sqrt{d_o d_i}$ (the bound)
# and all other singular values 0. The same collapse as WN in lesson 05, for the same reason:
# a budget (here a box) spent on one direction. And the scale is tiny: $\sigma_1 \approx 0.28$.

# %%
assert at_bound > 0.99
row_sign = (W_clip.sign() * h.sign()).sum(dim=1).sign()  # s_i: each row is +-sign(h)
torch.testing.assert_close(W_clip.sign(), torch.outer(row_sign, h.sign()))
assert abs(s_clip[0] - c * math.sqrt(d_o * d_i)) < 1e-3 * c * math.sqrt(d_o * d_i)
assert s_clip[1] < 1e-3 * s_clip[0]
assert effective_rank(s_clip) < 1.01

# %% [markdown]
# **Your turn, a number.** With $c = 0.05$, what is the largest spectral norm $\sigma_1$ that a
# $16 \times 48$ layer can have when every weight is clipped to $[-c, c]$? Put the number, or an
# expression that computes it, in place of `...`.

# %%
clip_sigma_max = ...  # the largest sigma_1 of a 16 x 48 layer clipped to [-0.05, 0.05]


# %%
accepted = exercises.clip_sigma_max.check(clip_sigma_max)

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: sigma_1 <= ||W||_F <= c sqrt(d_o d_i), reached by the sign matrix c s h^T above.
clip_sigma_max_solution = 0.05 * math.sqrt(d_o * d_i)


assert exercises.clip_sigma_max.check(clip_sigma_max_solution) is True

# %% [markdown]
# ## Step 4: gradient penalties act only where their samples fall
#
# WGAN-GP (Gulrajani et al., 2017) adds $\lambda\,\mathbb E_{\hat x}[(\lVert \nabla_x D(\hat x)
# \rVert_2 - 1)^2]$ to the critic's loss, at random interpolates
# $\hat x = t x + (1 - t)\tilde x$ between a real $x$ and a fake $\tilde x$,
# $t \sim U[0, 1]$, $\lambda = 10$. DRAGAN (Kodali et al., 2017) uses the same term at noisy
# copies of the real data, $\hat x = x + \delta$. The gradient $\nabla_x D$ must itself be
# differentiated with respect to D's weights, so the input gradient is taken with
# `create_graph=True`: a double backward. Inline:


# %%
def gp_inline(net_D, real, fake, generator):
    t = torch.rand(real.shape[0], 1, generator=generator)  # interpolation weights
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(net_D(x_hat).sum(), x_hat, create_graph=True)
    return (grad.norm(dim=1) - 1).pow(2).mean()


def make_critic():
    return nn.Sequential(
        nn.Linear(2, 64), nn.LeakyReLU(0.1), nn.Linear(64, 64), nn.LeakyReLU(0.1), nn.Linear(64, 1)
    )


probe = make_critic()
real_probe = torch.randn(32, 2, generator=gen)
fake_probe = torch.randn(32, 2, generator=gen)
gp_a = gp_inline(probe, real_probe, fake_probe, torch.Generator().manual_seed(seed + 1))
gp_b = gradient_penalty(
    probe, real_probe, fake_probe, generator=torch.Generator().manual_seed(seed + 1)
)
print("inline:", gp_a.item(), " package:", gp_b.item())
torch.testing.assert_close(gp_a, gp_b)
gp_b.backward()  # it trains D: the graph through grad_x D reaches the weights
assert probe[0].weight.grad.abs().sum() > 0

# A linear critic D(x) = a.x has gradient a everywhere: both penalties are (||a|| - 1)^2.
lin = nn.Linear(2, 1)
expected = (lin.weight.norm() - 1).pow(2)
torch.testing.assert_close(gradient_penalty(lin, real_probe, fake_probe, generator=gen), expected)
torch.testing.assert_close(dragan_penalty(lin, real_probe, generator=gen), expected)

# %% [markdown]
# **Your turn.** Write `gp_at(net_D, real, fake, t)`: the WGAN-GP penalty
# $\mathbb E[(\lVert \nabla_x D(\hat x)\rVert_2 - 1)^2]$ at the interpolates
# $\hat x = t x + (1 - t)\tilde x$ for the weights `t` you are given (shaped to broadcast over a
# sample), as a 0-d tensor that trains `net_D`'s weights. The check uses a 2-D critic and a
# critic of small images.


# %%
def gp_at(net_D, real, fake, t):
    """mean of (||grad_x net_D(x_hat)|| - 1)^2 over x_hat = t * real + (1 - t) * fake."""
    ...  # your code here


# %%
accepted = exercises.gp_at.check(gp_at)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: create_graph=True keeps the input gradient differentiable (the double backward),
# and each sample's gradient is flattened to one vector before its norm.
def gp_at_solution(net_D, real, fake, t):
    x_hat = (t * real + (1 - t) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(net_D(x_hat).sum(), x_hat, create_graph=True)
    per_sample = grad.flatten(1).norm(dim=1)
    return ((per_sample - 1) ** 2).mean()


assert exercises.gp_at.check(gp_at_solution) is True

# %% [markdown]
# Now a 2-D experiment. Real data: 8 Gaussians on a ring of radius 2 (std 0.05). Fake data: a
# fixed blob at the origin (std 0.3), standing in for an early generator. Three critics with the
# Wasserstein loss $\mathbb E[D(\tilde x)] - \mathbb E[D(x)]$: WGAN-GP, DRAGAN and SN (SN on
# every layer, no penalty). All three start from the *same* steep weights (every weight
# multiplied by `init_scale` = 4, as a critic might be after a phase without constraint); the
# question is what each method does about that steepness, and where.


# %%
def sample_real(n, generator):
    k = torch.randint(8, (n,), generator=generator)
    angle = 2 * math.pi * k / 8
    centres = 2.0 * torch.stack([angle.cos(), angle.sin()], dim=1)
    return centres + 0.05 * torch.randn(n, 2, generator=generator)


def sample_fake(n, generator):
    return 0.3 * torch.randn(n, 2, generator=generator)


def train_critic(method, generator, lam=lam, c=c, n_steps=n_critic_steps):
    """A 2-D critic trained with the Wasserstein loss and one method: "WGAN-GP", "DRAGAN"
    (penalty weight lam), "WC" (clipping bound c) or "SN"; data and penalties from generator."""
    torch.manual_seed(seed)
    net_D = make_critic()
    with torch.no_grad():
        for p in net_D.parameters():
            p.mul_(init_scale)
    if method == "SN":
        add_sn(net_D)
    opt_D = torch.optim.Adam(
        net_D.parameters(), lr=critic_alpha, betas=(critic_beta1, critic_beta2)
    )
    for _ in range(n_steps):
        x, x_fake = sample_real(256, generator), sample_fake(256, generator)
        loss_D = net_D(x_fake).mean() - net_D(x).mean()
        if method == "WGAN-GP":
            loss_D = loss_D + lam * gradient_penalty(net_D, x, x_fake, generator=generator)
        elif method == "DRAGAN":
            loss_D = loss_D + lam * dragan_penalty(net_D, x, generator=generator)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        if method == "WC":
            clip_weights_(net_D, c)
    return net_D.eval()


critics = {m: train_critic(m, gen) for m in tqdm(["WGAN-GP", "DRAGAN", "SN"], desc="2-D critics")}

xs = torch.linspace(-6, 6, grid_n)
XX, YY = torch.meshgrid(xs, xs, indexing="xy")
grid = torch.stack([XX.flatten(), YY.flatten()], dim=1)
radius = grid.norm(dim=1)
off = radius > 3.5  # far from every real sample, fake sample and interpolate
maps = {m: input_gradient_norms(net, grid) for m, net in critics.items()}

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
vmax = max(v.max().item() for v in maps.values())
for ax, (m, g) in zip(axes, maps.items(), strict=True):
    im = ax.imshow(
        g.reshape(grid_n, grid_n).numpy(), origin="lower", extent=(-6, 6, -6, 6), vmin=0, vmax=vmax
    )
    pts = sample_real(200, gen)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="white", label="real")
    ax.add_patch(plt.Circle((0, 0), 3.5, fill=False, ls="--", color="w", lw=0.8))
    ax.set_title(f"{m}: max {g.max():.2f}", fontsize=10)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
fig.colorbar(im, ax=axes, label=r"$\|\nabla_x D\|$")
fig.suptitle(r"Gradient norm of the trained critics over the plane (dashed: radius 3.5)")
plt.show()

# %% [markdown]
# On the samples the penalty sees, WGAN-GP's critic has $\lVert\nabla_x D\rVert$ close to 1,
# as intended. For SN, the bound is global: with 1-Lipschitz leaky ReLUs,
# $\lVert \nabla_x D(x) \rVert \le \prod_l \sigma_1(\bar W_l)$ at every $x$ (lesson 02), and each
# $\sigma_1(\bar W_l) \approx 1$. Compute the bound from the layers' exact spectra, for all three:

# %%
bounds = {
    m: math.prod(sv[0].item() for sv in layer_singular_values(net).values())
    for m, net in critics.items()
}
for m in critics:
    g, on_real = maps[m], input_gradient_norms(critics[m], sample_real(2000, gen))
    print(
        f"{m:>8}: product bound {bounds[m]:8.2f} | grad norm on real data (median) "
        f"{on_real.median():.2f} | off the samples: "
        f"median {g[off].median():.2f}, max {g[off].max():.2f}"
    )

# %% [markdown]
# **Claims.** (1) Where its samples fall, WGAN-GP's critic meets its target
# $\lVert\nabla_x D\rVert \approx 1$. (2) Off the sampled region nothing controls it: there its
# gradient norm exceeds 2, more than four times anything the SN critic has anywhere, and its
# layers' product bound is far above 1. (3) SN's critic stays below its product bound at every
# point of the plane, and that bound is close to 1. (Over seeds 0–9 at full size the largest
# off-sample norm of WGAN-GP's critic ranged from 2.6 to 5.6, 5.9 to 13 times SN's largest.)

# %%
t_chk = torch.rand(2000, 1, generator=gen)  # interpolation weights
interp = t_chk * sample_real(2000, gen) + (1 - t_chk) * sample_fake(2000, gen)
gp_on_samples = input_gradient_norms(critics["WGAN-GP"], interp).median().item()
print("WGAN-GP, median grad norm at interpolates:", round(gp_on_samples, 3))
assert abs(gp_on_samples - 1) < 0.3
assert maps["WGAN-GP"][off].max() > 2
assert maps["WGAN-GP"][off].max() > 4 * maps["SN"].max()
assert bounds["WGAN-GP"] > 10
assert maps["SN"].max() <= bounds["SN"] + 1e-5
assert bounds["SN"] < 1.1

# %% [markdown]
# **Further.** Would a larger $\lambda$, or another place to sample, tame the critic everywhere?
# What does weight clipping do to the same 2-D critic, and how much does each method cost per
# generator update (the paper's Fig. 10)? These tuning and timing studies are in
# [appendix A2](A2_regularizer_costs.ipynb). It trains the same critics with the package's
# copy of the three functions above, `sngan_teach.toy.sample_ring`, `sample_blob` and
# `train_critic`: a short run of each method, from one fresh generator, gives the same
# samples and the same critic, weight for weight.

# %%
for m in toy.CRITIC_METHODS:  # SN last, so that the global RNG ends as after the critics above
    ours = train_critic(m, torch.Generator().manual_seed(seed + 2), n_steps=20)
    package = toy.train_critic(m, torch.Generator().manual_seed(seed + 2), seed=seed, n_steps=20)
    for a, b in zip(ours.state_dict().values(), package.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
gen_a, gen_b = torch.Generator().manual_seed(seed + 3), torch.Generator().manual_seed(seed + 3)
assert torch.equal(sample_real(500, gen_a), toy.sample_ring(500, gen_b))
assert torch.equal(sample_fake(500, gen_a), toy.sample_blob(500, gen_b))

# %% [markdown]
# ## Summary
#
# - Orthonormal regularization $\lVert W^TW - I\rVert_F^2 = \sum_t(\sigma_t^2 - 1)^2$ pushes
#   *every* singular value to 1; SN only rescales so that $\sigma_1 = 1$ and keeps the shape of
#   the spectrum. Use the smaller Gram matrix: the literal $W^TW$ of a wide matrix bottoms out at
#   $d_i - d_o$.
# - Weight clipping bounds every entry, hence $\sigma_1 \le c\sqrt{d_o d_i}$: a tiny scale, and
#   under a pull for large outputs a rank-one sign matrix.
# - Gradient penalties (WGAN-GP, DRAGAN) act only where $\hat x$ falls; off the sampled region
#   the critic's gradient is whatever its weights make it. SN bounds the gradient everywhere by
#   $\prod_l \sigma_1(\bar W_l) \approx 1$, by construction.
# - Tuning $\lambda$ or $c$ does not change where each method acts, and the double backward makes
#   WGAN-GP the slowest per generator update: [appendix A2](A2_regularizer_costs.ipynb).
#
# ## Exercises
#
# **1. DRAGAN versus WGAN-GP.** DRAGAN penalizes only around the real data. Measure the median
# gradient norm of the DRAGAN critic at the real samples and in the middle of the plane (radius
# < 1, where the fake blob sits): which region does it control?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: around the data DRAGAN's gradient norm is close to its target 1; at the fake blob it
# is not controlled by the penalty (no x_hat falls there), and it is only as large as the loss
# made it. Compare: WGAN-GP's interpolates cross the middle, so its critic is controlled there.
near_real = input_gradient_norms(critics["DRAGAN"], sample_real(2000, gen)).median().item()
centre_pts = 0.5 * torch.randn(2000, 2, generator=gen)
centre = {
    m: input_gradient_norms(critics[m], centre_pts).median().item() for m in ["DRAGAN", "WGAN-GP"]
}
print(f"DRAGAN: near real data {near_real:.2f}, at the centre {centre['DRAGAN']:.2f}")
print(f"WGAN-GP at the centre: {centre['WGAN-GP']:.2f}")
assert abs(near_real - 1) < 0.3
assert abs(centre["WGAN-GP"] - 1) < abs(centre["DRAGAN"] - 1)

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Brock, Lim, Ritchie and Weston (2017). *Neural Photo Editing with Introspective Adversarial
#   Networks*. ICLR. `brock2017neural`
# - Arjovsky, Chintala and Bottou (2017). *Wasserstein Generative Adversarial Networks*. ICML.
#   `arjovsky2017wasserstein`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of Wasserstein
#   GANs*. NeurIPS. `gulrajani2017improved`
# - Kodali, Abernethy, Hays and Kira (2017). *On Convergence and Stability of GANs*. arXiv
#   1705.07215. `kodali2017convergence`

# %% [markdown]
# ## What's next
#
# [Lesson 07](07_toy_gan_lab.ipynb) puts every method into a real adversarial game: 2-D GANs on
# mixtures of Gaussians, with the modes each one captures counted.
