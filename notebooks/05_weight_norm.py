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
# # Watch weight normalization collapse the rank while spectral normalization keeps it
#
# Spectral normalization (SN) divides a weight matrix by *one* number, its largest singular
# value. Weight normalization (WN) divides every row by its own norm. Both make a layer's
# Lipschitz constant controllable, so why does the paper (§3.2, §4.1.1, Fig. 3) prefer SN? Because
# WN, pushed by a discriminator that wants large outputs, spends its whole fixed budget of
# "squared singular value" on a single direction: the layer collapses toward rank one and the
# discriminator looks at the data through a keyhole. SN fixes only the top singular value and
# leaves the others free.
#
# ## What you will learn
#
# 1. Write the paper's weight normalization (no γ multiplier) and prove that it fixes
#    $\sum_t \sigma_t(\bar W_{WN})^2 = d_o$.
# 2. Derive why maximizing $\lVert \bar W h \rVert$ under WN drives $\sigma_1 \to \sqrt{d_o}$ and
#    all other $\sigma_t \to 0$, and watch it happen; watch SN reach its optimum with every
#    direction still alive.
# 3. Train small discriminators on real 8×8 digits with no normalization, weight clipping, WN,
#    SN and orthonormal regularization, and draw the paper's Fig. 3 for them.
# 4. Measure how many directions a layer really uses with the *effective rank*.
#
# ## What you need
#
# Lessons 02 (Lipschitz bound) and 04 (the SN layer). About 1–2 minutes on a
# CPU in full mode; no GPU.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from tqdm.auto import tqdm

from sngan_teach.regularizers import (
    add_wn,
    clip_weights_,
    orthogonal_init_,
    orthonormal_penalty,
    weight_norm,
)
from sngan_teach.runtime import pick, seed_all
from sngan_teach.sn import add_sn, spectral_norm
from sngan_teach.spectra import (
    effective_rank,
    layer_singular_values,
    normalized_squared_spectrum,
    plot_layer_spectra,
)

# %%
seed = 0
gen = seed_all(seed)  # one seeded generator for every random draw below
torch.set_num_threads(1)  # small matrices: one thread is fastest and keeps timings steady

d_o, d_i = 8, 16  # d_o x d_i: the toy layer W of steps 1-2
n_toy_steps = pick(quick=200, full=400)  # optimizer steps maximizing ||W_bar h||
toy_lr = 0.01  # alpha, Adam, for the toy

batch_size = 64  # real and fake samples per discriminator step
n_steps_D = pick(quick=400, full=1500)  # discriminator updates in step 3
alpha, beta1, beta2 = 1e-3, 0.5, 0.999  # Adam; an aggressive alpha shows the effect sooner
width = 128  # hidden units per layer of net_D
c = 0.01  # weight clipping bound (paper §4.1)
ortho_coef = 1e-2  # coefficient of the orthonormal penalty ||W^T W - I||_F^2

# %% [markdown]
# ## Step 1: weight normalization without γ, and the budget it fixes
#
# Write a layer's weight as a $d_o \times d_i$ matrix $W$ with rows $w_1^T, \dots, w_{d_o}^T$ (a
# convolution kernel $d_o \times d_i \times h \times w$ is reshaped to $d_o \times (d_i h w)$). The
# paper's weight normalization, with the γ multiplier removed as in its experiments (§4.1), is
#
# $$\bar W_{WN} = \begin{bmatrix} \bar w_1^T \\ \vdots \\ \bar w_{d_o}^T\end{bmatrix},\qquad
#   \bar w_i = \frac{w_i}{\lVert w_i \rVert_2}.$$
#
# Every row has norm 1, so the Frobenius norm is fixed, and the Frobenius norm is the sum of
# the squared singular values:
#
# $$\sum_t \sigma_t(\bar W_{WN})^2 = \lVert \bar W_{WN} \rVert_F^2
#   = \sum_{i=1}^{d_o} \lVert \bar w_i \rVert^2 = d_o .$$
#
# That is the paper's eq. (13): a fixed budget $d_o$ of squared singular values, to be shared
# among the directions. Inline first:

# %%
W = torch.randn(d_o, d_i, generator=gen)


def wn_inline(W):
    """Each output unit's weight vector (row) divided by its norm."""
    return W / W.norm(dim=1, keepdim=True)


W_wn = wn_inline(W)
sigma_wn = torch.linalg.svdvals(W_wn)
print("row norms      :", W_wn.norm(dim=1).numpy().round(6))
print("sum of sigma^2 :", sigma_wn.pow(2).sum().item(), " d_o =", d_o)

# %% [markdown]
# **Claim.** Every row of $\bar W_{WN}$ has unit norm and $\sum_t \sigma_t^2 = d_o$.

# %%
torch.testing.assert_close(W_wn.norm(dim=1), torch.ones(d_o))
torch.testing.assert_close(sigma_wn.pow(2).sum(), torch.tensor(float(d_o)))

# %% [markdown]
# An easy slip is to normalize along the wrong axis, dividing each *column* (input unit) by its
# norm, as `W.norm(dim=0)` does for a `Linear` weight. It runs and gives a matrix of a
# plausible size, but it is not weight normalization: the output units' weight vectors are not
# unit, and the budget becomes $d_i$ instead of $d_o$.

# %%
W_wrong = W / W.norm(dim=0, keepdim=True)  # WRONG: normalizes columns, not rows
wrong_row_norms_ok = torch.allclose(W_wrong.norm(dim=1), torch.ones(d_o))
wrong_budget = torch.linalg.svdvals(W_wrong).pow(2).sum().item()
print("rows unit?", wrong_row_norms_ok, "| sum of sigma^2 =", round(wrong_budget, 4))
assert not wrong_row_norms_ok  # the check that WN must pass fails here
assert abs(wrong_budget - d_i) < 1e-4  # the budget is d_i, not d_o

# %% [markdown]
# The correction is the row-wise norm, `W.norm(dim=1, keepdim=True)`, as in `wn_inline` above.
# The package version `sngan_teach.regularizers.weight_norm` registers exactly that as a
# `torch.nn.utils.parametrize` parametrization (convolutions reshaped to out × rest), and it is
# PyTorch's `weight_norm` with the gain $g$ frozen at 1:

# %%
layer = weight_norm(nn.Linear(d_i, d_o, bias=False))
with torch.no_grad():
    layer.parametrizations.weight.original.copy_(W)
torch.testing.assert_close(layer.weight, wn_inline(W))

ref = nn.utils.parametrizations.weight_norm(nn.Linear(d_i, d_o, bias=False), dim=0)
with torch.no_grad():
    ref.parametrizations.weight.original0.fill_(1.0)  # g = 1: WN without gamma
    ref.parametrizations.weight.original1.copy_(W)
torch.testing.assert_close(ref.weight, wn_inline(W))

conv = weight_norm(nn.Conv2d(3, 5, 3))  # 5 x (3*3*3): the budget is d_o = 5 here too
conv_budget = torch.linalg.svdvals(conv.weight.detach().reshape(5, -1)).pow(2).sum()
torch.testing.assert_close(conv_budget, torch.tensor(5.0))

# %% [markdown]
# ## Step 2: what a discriminator's pull does to that budget
#
# A discriminator wants large outputs on some inputs. The simplest version of that pull is to
# maximize $\lVert \bar W h \rVert$ for one fixed unit vector $h$ (paper §3.2). Under WN,
#
# $$\lVert \bar W_{WN} h \rVert^2 = \sum_{i=1}^{d_o} (\bar w_i^T h)^2 \le \sum_{i=1}^{d_o}
#   \lVert \bar w_i\rVert^2 \lVert h \rVert^2 = d_o,$$
#
# with equality (Cauchy–Schwarz) only when every row is $\bar w_i = \pm h$. Then
# $\bar W_{WN} = s\,h^T$ with $s \in \{\pm 1\}^{d_o}$: a **rank-one** matrix, with
# $\sigma_1 = \lVert s \rVert \lVert h \rVert = \sqrt{d_o}$ and $\sigma_t = 0$ for $t \ge 2$. The
# whole budget $d_o$ goes to one direction.
#
# Under SN, $\lVert \bar W_{SN} h \rVert \le \sigma_1(\bar W_{SN}) = 1$, with equality as soon as
# $h$ is a top right singular vector of $W$. Nothing in the objective cares about
# $\sigma_2, \sigma_3, \dots$: they stay wherever they are.
#
# Let us run both: a bias-free layer $h \mapsto \bar W h$, Adam on $-\lVert \bar W h \rVert^2$, and
# the singular values of $\bar W$ (the matrix the layer actually uses) recorded at every step.
# The SN layer is lesson 04's (`sngan_teach.sn.spectral_norm`, one power iteration per step).

# %%
h = torch.randn(d_i, generator=gen)
h = h / h.norm()


def maximize_norm(layer, n_steps):
    """Adam on -||layer(h)||^2; returns the objective and the singular values at every step."""
    opt = torch.optim.Adam(layer.parameters(), lr=toy_lr)
    objective, sigmas = [], []
    for _ in range(n_steps):
        loss = -layer(h).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        objective.append(-loss.item())
        sigmas.append(layer_singular_values(layer)[""])
    return np.array(objective), torch.stack(sigmas).numpy()


W0 = torch.randn(d_o, d_i, generator=gen) / math.sqrt(d_i)  # the same start for both
toy = {}
for name, normalize in [("WN", weight_norm), ("SN", spectral_norm)]:
    layer = nn.Linear(d_i, d_o, bias=False)
    with torch.no_grad():
        layer.weight.copy_(W0)
    toy[name] = maximize_norm(normalize(layer), n_toy_steps)

fig, axes = plt.subplots(1, 2, figsize=(7, 3.2), sharex=True)
for ax, name in zip(axes, ["WN", "SN"], strict=True):
    sig = toy[name][1]
    ax.plot(sig[:, 0], color="C3", lw=2, label=r"$\sigma_1$")
    ax.plot(sig[:, 1:], color="gray", lw=1)
    ax.plot([], [], color="gray", label=r"$\sigma_2, \dots, \sigma_{d_o}$")
    ax.set_title(f"{name}: maximize $\\|\\bar W h\\|$")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(r"singular value of $\bar W$")
    ax.legend(fontsize=8)
axes[0].axhline(math.sqrt(d_o), ls="--", color="k", lw=0.8)
fig.tight_layout()
plt.show()

for name in toy:
    s_end = toy[name][1][-1]
    print(
        f"{name}: objective {toy[name][0][-1]:.4f}, sigma = {np.round(s_end, 3)}, "
        f"effective rank {effective_rank(torch.from_numpy(s_end)):.2f}"
    )

# %% [markdown]
# **Claims.** Under WN the objective reaches its bound $d_o$, $\sigma_1 \to \sqrt{d_o}$ and every
# other singular value goes to 0 (rank one), while $\sum_t \sigma_t^2 = d_o$ at every step. Under
# SN the objective reaches its bound 1, $\sigma_1$ stays at 1, and the other singular values stay
# away from 0: the matrix keeps full rank.

# %%
obj_wn, sig_wn = toy["WN"]
obj_sn, sig_sn = toy["SN"]
assert obj_wn[-1] > 0.99 * d_o
assert abs(sig_wn[-1, 0] - math.sqrt(d_o)) < 0.01 * math.sqrt(d_o)
assert sig_wn[-1, 1:].max() < 0.05
assert np.allclose((sig_wn**2).sum(axis=1), d_o, atol=1e-4)  # the budget, at every step
assert sig_wn[0, 1] > 0.5  # ...and it was not rank one to begin with

assert obj_sn[-1] > 0.99
assert np.abs(sig_sn[:, 0] - 1).max() < 0.02  # sigma_1(W_bar_SN) = 1 all along
assert sig_sn[-1, -1] > 0.05  # the smallest singular value is still alive: full rank
assert effective_rank(torch.from_numpy(sig_sn[-1])) > d_o / 3
assert effective_rank(torch.from_numpy(sig_wn[-1])) < 1.05

# %% [markdown]
# ## Step 3: effective rank, a number for "how many directions"
#
# To compare spectra we need one number for how many directions a layer really uses. We use the
# exponential of the entropy of the normalized *squared* spectrum,
#
# $$p_t = \frac{\sigma_t^2}{\sum_k \sigma_k^2},\qquad
#   r_{\text{eff}} = \exp\Bigl(-\sum_t p_t \log p_t\Bigr).$$
#
# It is 1 for a rank-one matrix and $r$ when $r$ singular values are equal and the rest vanish.
# Squared, because Fig. 3 plots $\sigma_t^2$ and because $\sigma_t^2$ is the share of the budget
# $\lVert \bar W\rVert_F^2$ spent on direction $t$ (for WN, $p_t = \sigma_t^2 / d_o$ exactly).
# (Roy and Vetterli's original effective rank uses $\sigma_t$ unsquared; it ranks matrices
# the same way here but is less harsh on a dominant direction.)


# %%
def effective_rank_inline(s):
    p = s.pow(2) / s.pow(2).sum()
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum()).item()


s_test = torch.tensor([3.0, 1.0, 0.5, 0.0])
print("inline:", effective_rank_inline(s_test), " package:", effective_rank(s_test))
assert abs(effective_rank_inline(s_test) - effective_rank(s_test)) < 1e-6
assert abs(effective_rank(torch.tensor([1.0, 0.0, 0.0])) - 1) < 1e-12  # rank one
assert abs(effective_rank(torch.ones(5)) - 5) < 1e-9  # five equal directions

# %% [markdown]
# ## Step 4: discriminators trained on real digits, and the paper's Fig. 3
#
# Now a real discriminator. Data: scikit-learn's bundled 8×8 handwritten digits (1,797 images,
# offline), scaled to $[-1, 1]$. To keep the run small and the pull steady, the "generator" is
# fixed: a Gaussian with the digits' own mean and covariance, so `net_D` cannot tell real from
# fake by the first two moments and has to learn nonlinear features. `net_D` is a 4-layer MLP
# with leaky ReLU (slope 0.1, as in the paper), trained with the standard loss (eq. 15),
#
# $$\mathcal L_D = \mathbb E[\operatorname{softplus}(-D(x))]
#   + \mathbb E[\operatorname{softplus}(D(\tilde x))],$$
#
# and the same Adam for every method:
#
# | method | what it does to `net_D` |
# |---|---|
# | none | nothing |
# | WC | clamp every parameter to $[-c, c]$, $c = 0.01$, after each step (WGAN) |
# | WN | $\bar W_{WN}$ on every layer |
# | SN | $\bar W_{SN} = W / \sigma(W)$ on every layer (lesson 04) |
# | orthonormal | orthonormal init, plus $\beta \sum_l \lVert W_l^T W_l - I \rVert_F^2$ |
#
# Lesson 06 looks at the last two regularizers closely; here we only read their spectra.

# %%
digits = torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1  # 1797 x 64, in [-1, 1]
mu = digits.mean(0)
L_chol = torch.linalg.cholesky(torch.cov(digits.T) + 1e-3 * torch.eye(64))


def sample_fake(n):
    return mu + torch.randn(n, 64, generator=gen) @ L_chol.T


def make_D():
    return nn.Sequential(
        nn.Linear(64, width),
        nn.LeakyReLU(0.1),
        nn.Linear(width, width),
        nn.LeakyReLU(0.1),
        nn.Linear(width, width),
        nn.LeakyReLU(0.1),
        nn.Linear(width, 1),
    )


def train_D(method):
    torch.manual_seed(seed)  # the same initial weights for every method
    net_D = make_D()
    if method == "WN":
        add_wn(net_D)
    elif method == "SN":
        add_sn(net_D)
    elif method == "orthonormal":
        orthogonal_init_(net_D, generator=torch.Generator().manual_seed(seed))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=alpha, betas=(beta1, beta2))
    for _ in range(n_steps_D):
        x = digits[torch.randint(len(digits), (batch_size,), generator=gen)]
        loss_D = F.softplus(-net_D(x)).mean() + F.softplus(net_D(sample_fake(batch_size))).mean()
        if method == "orthonormal":
            loss_D = loss_D + ortho_coef * orthonormal_penalty(net_D)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        if method == "WC":
            clip_weights_(net_D, c)
    return net_D


methods = ["none", "WC", "WN", "SN", "orthonormal"]
nets = {m: train_D(m) for m in tqdm(methods, desc="training net_D")}
spectra = {m: layer_singular_values(nets[m]) for m in methods}
print("layers:", {name: tuple(s.shape) for name, s in spectra["SN"].items()})

# %% [markdown]
# First, did each method do what it says? WN rows have unit norm (budget $d_o$ per layer), SN's
# top singular value is close to 1, clipping keeps every entry in $[-c, c]$. "Close": with one
# power iteration per step, $\sigma$ is an estimate that lags a little behind a fast-moving $W$,
# so the true $\sigma_1(\bar W_{SN})$ sits slightly above 1 (the paper's Fig. 9 shows
# deviations of up to 5–10 %).

# %%
for name, s in spectra["WN"].items():
    d_out = nets["WN"].get_submodule(name).weight.shape[0]
    assert abs(s.pow(2).sum().item() - d_out) < 1e-3, name  # the budget d_o of every layer
for name, s in spectra["SN"].items():
    assert abs(s[0].item() - 1) < 0.1, (name, s[0].item())
assert max(p.abs().max().item() for p in nets["WC"].parameters()) <= c

# %% [markdown]
# Now the paper's Fig. 3: for each layer, the squared singular values sorted, scaled so the
# largest is 1 (for WN and SN, those of the normalized matrices). The last layer is $1 \times 128$
# and has a single singular value, so we plot the three hidden layers.

# %%
hidden = ["0", "2", "4"]  # module names of the three hidden Linear layers in make_D
last = hidden[-1]  # the last hidden layer, closest to the output
fig = plot_layer_spectra(
    {m: spectra[m] for m in ["WC", "WN", "SN"]},
    layers=hidden,
    title="Fig. 3 at small scale: squared singular values of net_D's layers (largest = 1)",
)
plt.show()

ranks = {m: {k: effective_rank(spectra[m][k]) for k in hidden} for m in methods}
print(f"{'effective rank':>14}" + "".join(f"{'layer ' + k:>10}" for k in hidden))
for m in methods:
    print(f"{m:>14}" + "".join(f"{ranks[m][k]:>10.1f}" for k in hidden))

# %% [markdown]
# **Claims.** In every hidden layer SN keeps a higher effective rank than WN and than weight
# clipping; in the last hidden layer (closest to the output, where the pull of the loss is
# strongest) WN and clipping use fewer than half as many directions as SN. The SN curve in
# Fig. 3 stays high far along the index axis, the WN and WC curves drop to near zero after a
# few components.

# %%
for k in hidden:
    assert ranks["SN"][k] > ranks["WN"][k], (k, ranks["SN"][k], ranks["WN"][k])
    assert ranks["SN"][k] > ranks["WC"][k], (k, ranks["SN"][k], ranks["WC"][k])
assert ranks["WN"][last] < 0.5 * ranks["SN"][last]
assert ranks["WC"][last] < 0.5 * ranks["SN"][last]
# The curves: the 10th-largest squared singular value, relative to the first
tenth = {m: normalized_squared_spectrum(spectra[m][last])[9].item() for m in ["WC", "WN", "SN"]}
print(f"sigma_10^2 / sigma_1^2 in layer {last}:", {m: round(v, 4) for m, v in tenth.items()})
assert tenth["SN"] > 5 * max(tenth["WN"], tenth["WC"])

# %% [markdown]
# Orthonormal regularization keeps *every* direction (its effective rank is close to the full
# 128), which is the opposite extreme: it forces all singular values to 1 instead of letting the
# data decide. Lesson 06 shows what that costs.

# %%
assert ranks["orthonormal"][last] > 0.9 * width
assert ranks["orthonormal"][last] > ranks["SN"][last]

# %% [markdown]
# ## Summary
#
# - Weight normalization without γ fixes $\sum_t \sigma_t(\bar W)^2 = d_o$: a budget of squared
#   singular values (eq. 13).
# - A discriminator's pull toward large $\lVert \bar W h\rVert$ spends that whole budget on one
#   direction: $\sigma_1 \to \sqrt{d_o}$, the rest $\to 0$. Under SN only $\sigma_1 = 1$ is
#   fixed and the other singular values stay free.
# - On a real discriminator (digits vs a moment-matched Gaussian), WN and weight clipping
#   concentrate the spectrum of the deepest hidden layer on a few components (Fig. 3); SN keeps
#   many. The effective rank $\exp H(\sigma^2/\sum\sigma^2)$ puts a number on it.
# - `sngan_teach.regularizers` holds `weight_norm`/`add_wn`, `clip_weights_` and the orthonormal
#   penalty; `sngan_teach.spectra` holds `layer_singular_values`, `effective_rank` and
#   `plot_layer_spectra`, which lesson 08 uses on the CIFAR-10 discriminator.
#
# ## Exercises
#
# **1. Does a whole batch of inputs save WN?** Replace the single $h$ by inputs $h \sim
# \mathcal N(0, C)$ with a covariance $C$ whose eigenvalues are all different, and maximize
# $\mathbb E\lVert \bar W_{WN} h\rVert^2 = \sum_i \bar w_i^T C \bar w_i$. What happens to the
# rank? (Hint: each row maximizes its own Rayleigh quotient.)

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: every row independently climbs to C's top eigenvector, so W_bar -> s q_1^T: rank one
# again. A batch of inputs does not help; only a loss that needs several directions would.
eigvals = torch.linspace(2.0, 0.2, d_i)
Q, _ = torch.linalg.qr(torch.randn(d_i, d_i, generator=gen))
C_cov = Q @ torch.diag(eigvals) @ Q.T
ex_layer = weight_norm(nn.Linear(d_i, d_o, bias=False))
ex_opt = torch.optim.Adam(ex_layer.parameters(), lr=toy_lr)
for _ in range(n_toy_steps):
    ex_loss = -torch.einsum("ij,jk,ik->", ex_layer.weight, C_cov, ex_layer.weight)
    ex_opt.zero_grad()
    ex_loss.backward()
    ex_opt.step()
ex_s = torch.linalg.svdvals(ex_layer.weight.detach())
alignment = (ex_layer.weight.detach() @ Q[:, 0]).abs()  # |w_i . q_1|, 1 when aligned
print("effective rank:", round(effective_rank(ex_s), 3), "| min |w_i.q_1|:", alignment.min().item())
assert effective_rank(ex_s) < 1.1
assert alignment.min() > 0.95

# %% [markdown]
# **2. Is the unnormalized discriminator better off?** Compare the effective ranks of the
# network trained with no normalization (`ranks["none"]`) with SN's. What does that tell you about
# where the collapse comes from?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: without any normalization the deepest hidden layer is also concentrated on a few
# directions. The pull toward large outputs exists with any parametrization; WN can only answer
# it by concentrating (its budget is fixed), an unnormalized layer by growing its top singular
# value. SN takes away the reward for growing sigma_1, so nothing drives the concentration.
print({k: (round(ranks["none"][k], 1), round(ranks["SN"][k], 1)) for k in hidden})
assert ranks["none"][last] < 0.5 * ranks["SN"][last]
sigma1_none = spectra["none"][last][0].item()
print(f"sigma_1 of the unnormalized layer {last}:", round(sigma1_none, 2))
assert sigma1_none > 1  # it grew past what SN allows

# %% [markdown]
# **3. Count the SN budget.** Under SN, what are the smallest and largest possible values of
# $\sum_t \sigma_t(\bar W_{SN})^2$ for a $d_o \times d_i$ matrix? Check your answer on the trained
# SN network.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: sigma_1 = 1 and 0 <= sigma_t <= 1 for t >= 2, so 1 <= sum sigma_t^2 <= min(d_o, d_i):
# anywhere from rank one to an orthonormal matrix. SN does not fix the budget; it caps each
# direction at 1.
for k in hidden:
    s = spectra["SN"][k]
    budget = s.pow(2).sum().item()
    print(f"layer {k}: sum sigma^2 = {budget:.1f} (range [1, {len(s)}])")
    assert 1 - 0.1 <= budget <= len(s) * 1.05**2
    assert budget > 1.5  # well above rank one
