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
# # Watch weight normalization collapse the rank while spectral normalization keeps it
#
# Spectral normalization (SN) divides a weight matrix by *one* number, its largest singular
# value. Weight normalization (WN; Salimans and Kingma, 2016) divides every row by its own
# norm. Both make a layer's Lipschitz constant controllable, so why does the paper (§3.2,
# §4.1.1, Fig. 3) prefer SN? Because
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
#    all other $\sigma_t \to 0$; watch SN reach its optimum with every direction still alive.
# 3. Train small discriminators on real 8×8 digits with no normalization, weight clipping, WN,
#    SN and orthonormal regularization, and draw the paper's Fig. 3 for them.
# 4. Measure how many directions a layer really uses with the *effective rank*.
# 5. Say which number SN actually sets to 1: $\sigma(\bar W) = \sigma(W)/\hat\sigma \ge 1$,
#    and measure how far one power iteration per update lags (the paper's Fig. 9).
#
# ## What you need
#
# Lessons 02 (Lipschitz bound) and 04 (the SN layer). About 1–3 minutes in full mode on a 2-core
# CPU (169 s, 61 s of them CPU time, with other programs busy on both cores). No GPU.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import MaxNLocator
from sklearn.datasets import load_digits
from torch import nn
from tqdm.auto import tqdm

from sngan_teach.explore import explore
from sngan_teach.methods import add_wn, weight_norm
from sngan_teach.regularizers import clip_weights_, orthogonal_init_, orthonormal_penalty
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn, spectral_norm
from sngan_teach.spectra import (
    effective_rank,
    layer_singular_values,
    normalized_squared_spectrum,
    plot_layer_spectra,
)

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for every random draw below
torch.set_num_threads(1)  # small matrices: one thread is fastest and keeps timings steady

d_o, d_i = 8, 16  # d_o x d_i: the toy layer W of steps 1-2
n_toy_steps = pick(quick=200, full=400)  # optimizer steps maximizing ||W_bar h||
toy_lr = 0.01  # alpha, Adam, for the toy
d_o_values = [2, 4, 8, 16]  # output widths d_o offered by the interactive figure of step 2

batch_size = 64  # real and fake samples per discriminator step
n_steps_D = pick(quick=400, full=1500)  # discriminator updates in step 3
alpha, beta1, beta2 = 1e-3, 0.5, 0.999  # Adam; an aggressive alpha shows the effect sooner
width = 128  # hidden units per layer of net_D
c = 0.01  # weight clipping bound (paper §4.1)
ortho_coef = 1e-2  # coefficient of the orthonormal penalty ||W^T W - I||_F^2
record_every = 25  # D updates between two readings of sigma(W_bar) of the SN layers
alpha_C = 2e-4  # alpha of the paper's setting C (its Fig. 9), for comparison
k_more = 5  # k, power iterations per update in the comparison run
n_ex_steps = 400  # optimizer steps of exercise 1, both modes: with fewer, some rows lag

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
# **Claim.** Every row of $\bar W_{WN}$ has unit norm (by construction: printed above), so
# $\sum_t \sigma_t^2 = \lVert \bar W_{WN}\rVert_F^2 = d_o$, whatever $W$ was.

# %%
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
# The package version `sngan_teach.methods.weight_norm` registers exactly that as a
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
# **Your turn.** Write `wn_weight(W)` returning $\bar W_{WN}$ for a 2-D `W` (a `Linear` weight,
# $d_o \times d_i$): every row divided by its own norm, without $\gamma$.
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.wn_weight.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def wn_weight(W):
    """Weight normalization without gamma: row i of W divided by ||w_i||."""
    ...  # your code here


# %%
accepted = exercises.wn_weight.check(wn_weight)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the norms of the rows (dim=1), kept as a column to divide row by row.
def wn_weight_solution(W):
    return W / torch.linalg.vector_norm(W, dim=1, keepdim=True)


assert exercises.wn_weight.check(wn_weight_solution) is True

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
    """Adam on -||layer(h)||^2; returns the objective after every step and the singular values
    at the start (row 0) and after every step (row i after step i)."""
    opt = torch.optim.Adam(layer.parameters(), lr=toy_lr)
    objective, sigmas = [], [layer_singular_values(layer)[""]]
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
# SN the objective reaches its bound 1, $\sigma_1$ is never below 1 and ends at 1, and the other
# singular values stay away from 0: the matrix keeps full rank. ($\sigma_1$ is not exactly 1
# all along: the layer divides by a one-step power-iteration estimate, which lags while Adam
# turns $W$ fast in the first steps. Over seeds 0–9 the largest excess ranged from 0.02 to
# 0.27, always early, and every run ended within $10^{-6}$ of 1. Lesson 04 measured this lag;
# it returns below, in trained discriminators.)

# %%
obj_wn, sig_wn = toy["WN"]
obj_sn, sig_sn = toy["SN"]
assert obj_wn[-1] > 0.99 * d_o
assert abs(sig_wn[-1, 0] - math.sqrt(d_o)) < 0.01 * math.sqrt(d_o)
assert sig_wn[-1, 1:].max() < 0.05
assert np.allclose((sig_wn**2).sum(axis=1), d_o, atol=1e-4)  # the budget, at every step
assert sig_wn[0, 1] > 0.5  # ...and it was not rank one at the start

assert obj_sn[-1] > 0.99
assert sig_sn[:, 0].min() >= 1 - 1e-5  # sigma_1(W_bar_SN) never below 1 ...
assert abs(sig_sn[-1, 0] - 1) < 1e-3  # ... back at 1 once W settles ...
assert sig_sn[:, 0].max() < 1.5  # ... after a lag (0.02 to 0.27 over seeds 0-9)
assert sig_sn[-1, -1] > 0.05  # the smallest singular value is still alive: full rank
assert effective_rank(torch.from_numpy(sig_sn[-1])) > d_o / 3
assert effective_rank(torch.from_numpy(sig_wn[-1])) < 1.05

# %% [markdown]
# **Move the sliders.** The same two runs for output widths $d_o$ from 2 to 16 ($d_i = 16$),
# shown at a few optimizer steps: the bars are the singular values of $\bar W$. Under WN the
# budget $d_o$ drains into $\sigma_1$ (dashed line: its limit $\sqrt{d_o}$) at every width, and
# a wider layer has more to lose; under SN the largest bar sits at 1 and the others keep their
# heights.

# %%
steps_shown = [step for step in (0, 10, 25, 50, 100, 200, 400) if step <= n_toy_steps]
sweep_gen = torch.Generator().manual_seed(seed + 1)  # the sweep's own draws
sweep = {}
for d in tqdm(d_o_values, desc="toy runs per d_o"):
    W0_d = torch.randn(d, d_i, generator=sweep_gen) / math.sqrt(d_i)
    for name, normalize in [("WN", weight_norm), ("SN", spectral_norm)]:
        layer = nn.Linear(d_i, d, bias=False)
        with torch.no_grad():
            layer.weight.copy_(W0_d)
        sweep[d, name] = maximize_norm(normalize(layer), n_toy_steps)[1]


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_spectra`: the singular values of
# $\bar W$ under WN and SN at the chosen step and width.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_spectra(step, d_o):
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.2), sharey=True, layout="constrained")
    ranks_now = {}
    limits = {"WN": (math.sqrt(d_o), rf"$\sqrt{{d_o}}$ = {math.sqrt(d_o):.2f}"), "SN": (1.0, "1")}
    for ax, name in zip(axes, ["WN", "SN"], strict=True):
        s_now = sweep[d_o, name][step]
        ranks_now[name] = effective_rank(torch.from_numpy(s_now))
        color = "C3" if name == "WN" else "C0"
        ax.bar(np.arange(1, d_o + 1), s_now, color=color, label=r"$\sigma_t(\bar W)$")
        ax.axhline(limits[name][0], ls="--", color="k", lw=0.8, label=limits[name][1])
        ax.set(xlabel="index t", title=f"{name}, step {step}", ylim=(0, 4.3))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel(r"singular value $\sigma_t(\bar W)$")
    caption = (
        f"d_o = {d_o}, after {step} steps: effective rank WN {ranks_now['WN']:.2f}, "
        f"SN {ranks_now['SN']:.2f}"
    )
    return fig, caption


explore(draw_spectra, step=steps_shown, d_o=d_o_values)

# %% [markdown]
# **Claim.** At every width the WN layer ends rank one (effective rank below 1.05) from a start
# that was not, while the SN layer ends with an effective rank above 1.5 and above a third of
# $d_o$.

# %%
for d in d_o_values:
    r_wn_start = effective_rank(torch.from_numpy(sweep[d, "WN"][0]))
    r_wn_end = effective_rank(torch.from_numpy(sweep[d, "WN"][-1]))
    r_sn_end = effective_rank(torch.from_numpy(sweep[d, "SN"][-1]))
    print(f"d_o = {d:2d}: WN {r_wn_start:.2f} -> {r_wn_end:.2f}, SN at the end {r_sn_end:.2f}")
    assert r_wn_end < 1.05 < r_wn_start, (d, r_wn_start, r_wn_end)
    assert r_sn_end > max(1.5, d / 3), (d, r_sn_end)

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
# (Roy and Vetterli's (2007) original effective rank uses $\sigma_t$ unsquared; it ranks matrices
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
# **Your turn.** Write `effective_rank_of(s)` returning $r_{\text{eff}}$ for a 1-D tensor `s` of
# singular values, in any order and with zeros allowed (a rank-deficient layer has some).


# %%
def effective_rank_of(s):
    """exp(-sum_t p_t log p_t) with p_t = s_t^2 / sum_k s_k^2."""
    ...  # your code here


# %%
accepted = exercises.effective_rank_of.check(effective_rank_of)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: torch.xlogy(p, p) is p log p with 0 log 0 = 0.
def effective_rank_of_solution(s):
    p = s**2 / (s**2).sum()
    return torch.exp(-torch.xlogy(p, p).sum())


assert exercises.effective_rank_of.check(effective_rank_of_solution) is True

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
# Weight clipping comes from WGAN (Arjovsky, Chintala and Bottou, 2017), orthonormal
# regularization from Brock et al. (2017); lesson 06 looks at both closely, here we only read
# their spectra.

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


def train_D(method, lr=alpha, n_power_iterations=1):
    """Train net_D with one method; for SN, also return sigma(W_bar) of every layer, read
    every record_every updates (one row per reading)."""
    torch.manual_seed(seed)  # the same initial weights for every method
    net_D = make_D()
    if method == "WN":
        add_wn(net_D)
    elif method == "SN":
        add_sn(net_D, n_power_iterations=n_power_iterations)
    elif method == "orthonormal":
        orthogonal_init_(net_D, generator=torch.Generator().manual_seed(seed))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=lr, betas=(beta1, beta2))
    trace = []
    for step in range(1, n_steps_D + 1):
        x = digits[torch.randint(len(digits), (batch_size,), generator=gen)]
        loss_D = F.softplus(-net_D(x)).mean() + F.softplus(net_D(sample_fake(batch_size))).mean()
        if method == "orthonormal":
            loss_D = loss_D + ortho_coef * orthonormal_penalty(net_D)
        opt_D.zero_grad()
        loss_D.backward()
        opt_D.step()
        if method == "WC":
            clip_weights_(net_D, c)
        if method == "SN" and step % record_every == 0:
            trace.append([s[0].item() for s in layer_singular_values(net_D).values()])
    return net_D, np.array(trace)


methods = ["none", "WC", "WN", "SN", "orthonormal"]
runs = {m: train_D(m) for m in tqdm(methods, desc="training net_D")}
nets = {m: runs[m][0] for m in methods}
spectra = {m: layer_singular_values(nets[m]) for m in methods}
torch.manual_seed(seed)
spectra_init = layer_singular_values(make_D())  # the common start of every method but one
print("layers:", {name: tuple(s.shape) for name, s in spectra["SN"].items()})

# %% [markdown]
# First, did each method do what it says? Under WN every layer keeps the budget $d_o$. (Clipping
# needs no such check: the clamp after each step holds every entry in $[-c, c]$ by
# construction. What it does to the spectrum inside that box is the question of the next cells.)

# %%
hidden = ["0", "2", "4"]  # module names of the three hidden Linear layers in make_D
last = hidden[-1]  # the last hidden layer, closest to the output
for name, s in spectra["WN"].items():
    d_out = nets["WN"].get_submodule(name).weight.shape[0]
    assert abs(s.pow(2).sum().item() - d_out) < 1e-3, name  # the budget d_o of every layer

# %% [markdown]
# For SN, be precise about *which* number is 1: the layer divides by the estimate
# $\hat\sigma = u^\top W v \le \sigma(W)$, so its matrix $\bar W = W / \hat\sigma$ has
# $\sigma(\bar W) \ge 1$, 1 plus the *lag* of the estimate. Where that lag comes from in these
# trained layers (a crowded top of the spectrum, not the size of the step) is measured layer by
# layer in [appendix A1](A1_sn_layer_engineering.ipynb); here, its size during training.

# %% [markdown]
# **The paper's Fig. 9 at small scale.** The paper plots $\sigma(\bar W)$ of each layer during
# training (CIFAR-10, setting C, one iteration per update) and finds it between 1 and 1.05, and
# more than 0.1 off early on for its last two layers. The readings `train_D` takes every
# `record_every` updates give our version, for three SN runs that see the same batches: the
# setting above ($\alpha = 10^{-3}$, $k = 1$), $k = 5$ iterations per update, and setting C's
# five times smaller $\alpha = 2 \times 10^{-4}$; the figure shows one stream of batches, the
# numbers after it average three. If the lag came mostly from $W$ moving fast,
# the smaller step would help as much as the extra iterations; if it comes from the crowded
# spectrum, the extra iterations help more.

# %%
n_streams = 3  # streams of batches; the three runs of a stream see the same batches
variants = {
    f"alpha = {alpha:g}, k = 1": {},
    f"alpha = {alpha:g}, k = {k_more}": {"n_power_iterations": k_more},
    f"alpha = {alpha_C:g}, k = 1": {"lr": alpha_C},
}
streams = []
for _ in tqdm(range(n_streams), desc="streams of batches"):
    batches = gen.get_state()  # each run of this stream restarts the batches from here
    stream = {}
    for label, kwargs in variants.items():
        gen.set_state(batches)
        stream[label] = train_D("SN", **kwargs)[1]
    streams.append(stream)
traces = streams[0]
steps_read = record_every * np.arange(1, len(runs["SN"][1]) + 1)
fig, axes = plt.subplots(1, 3, figsize=(9, 3), sharey=True, layout="constrained")
for ax, (label, trace) in zip(axes, traces.items(), strict=True):
    ax.axhspan(1, 1.05, color="0.9", label="1 to 1.05")
    for j, name in enumerate(hidden):
        ax.plot(steps_read, trace[:, j], lw=1, label=f"layer {name}")
    ax.set(xlabel="D update", title=label)
    ax.title.set_fontsize(9)
axes[0].set_ylabel(r"$\sigma(\bar W) = \sigma(W) / \hat\sigma$")
axes[0].legend(fontsize=7)
fig.suptitle(r"Fig. 9 at small scale: $\sigma(\bar W)$ of the SN layers during training")
plt.show()
mean_excess = {
    label: np.mean([(stream[label][:, :3] - 1).mean() for stream in streams]) for label in variants
}
for label, trace in traces.items():
    print(
        f"{label:>20}: sigma(W_bar) - 1 over the hidden layers: mean {mean_excess[label]:.3f} "
        f"({n_streams} streams), largest {(trace[:, :3] - 1).max():.3f} (the figure's)"
    )

# %% [markdown]
# **Claims.** Five iterations per update cut the mean lag of the hidden layers by more than a
# third (to about half of it); a five times smaller learning rate cuts it by much less (to
# about four fifths). So the lag is mostly the crowded spectrum, not the size of the step. Its
# mean is a few percent, the order of the paper's Fig. 9, with peaks above the 1.05 of that
# figure. (Single streams of batches, six for each of seeds 0 and 5 on two kernel paths, at
# full size, gave ratios to the $k = 1$ lag of 0.43 to 0.54 for $k = 5$ and 0.69 to 0.88 for
# the smaller $\alpha$, at least 0.26 apart in every run; at quick size single streams spread
# wider, up to 0.79 for $k = 5$, hence the mean over three streams.)

# %%
excess_k1, excess_k5, excess_C = mean_excess.values()
print(f"lag ratio to k = 1: k = {k_more}: {excess_k5 / excess_k1:.2f}, "
      f"alpha = {alpha_C:g}: {excess_C / excess_k1:.2f}")  # fmt: skip
assert excess_k5 < 2 / 3 * excess_k1, mean_excess
assert excess_C - excess_k5 > 0.1 * excess_k1, mean_excess
assert 0 < excess_k1 < 0.1, mean_excess
assert (traces[f"alpha = {alpha:g}, k = 1"][:, :3] - 1).max() > 0.05  # peaks above 1.05

# %% [markdown]
# Now the paper's Fig. 3: for each layer, the squared singular values sorted, scaled so the
# largest is 1 (for WN and SN, those of the normalized matrices). The last layer is $1 \times 128$
# and has a single singular value, so we plot the three hidden layers.

# %%
fig = plot_layer_spectra(
    {m: spectra[m] for m in ["WC", "WN", "SN"]},
    layers=hidden,
    title="Fig. 3 at small scale: squared singular values of net_D's layers (largest = 1)",
)
plt.show()

ranks = {m: {name: effective_rank(spectra[m][name]) for name in hidden} for m in methods}
print(f"{'effective rank':>14}" + "".join(f"{'layer ' + name:>10}" for name in hidden))
for m in methods:
    print(f"{m:>14}" + "".join(f"{ranks[m][name]:>10.1f}" for name in hidden))

# %% [markdown]
# **Claims.** In every hidden layer SN keeps a higher effective rank than WN and than weight
# clipping; in the last hidden layer (closest to the output, where the pull of the loss is
# strongest) WN and clipping use fewer than half as many directions as SN. The SN curve in
# Fig. 3 stays high far along the index axis, the WN and WC curves drop to near zero after a
# few components.

# %%
for name in hidden:
    assert ranks["SN"][name] > ranks["WN"][name], (name, ranks["SN"][name], ranks["WN"][name])
    assert ranks["SN"][name] > ranks["WC"][name], (name, ranks["SN"][name], ranks["WC"][name])
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
# - `weight_norm`/`add_wn` (in `sngan_teach.methods`) and `layer_singular_values`/`effective_rank`
#   (in `sngan_teach.spectra`) come back in lesson 09, on the CIFAR-10 discriminator.
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
Q, _ = torch.linalg.qr(torch.randn(d_i, d_i, generator=torch.Generator().manual_seed(seed)))
C_cov = Q @ torch.diag(eigvals) @ Q.T
ex_layer = weight_norm(nn.Linear(d_i, d_o, bias=False))
ex_opt = torch.optim.Adam(ex_layer.parameters(), lr=toy_lr)
for _ in range(n_ex_steps):
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
print({name: (round(ranks["none"][name], 1), round(ranks["SN"][name], 1)) for name in hidden})
assert ranks["none"][last] < 0.5 * ranks["SN"][last]
sigma1_none = spectra["none"][last][0].item()
sigma1_start = spectra_init[last][0].item()  # the same layer at the common start
print(f"sigma_1 of the unnormalized layer {last}: {sigma1_start:.2f} -> {sigma1_none:.2f}")
assert sigma1_none > 2 * sigma1_start  # it grew, where SN holds sigma_1 at 1

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Salimans and Kingma (2016). *Weight Normalization: A Simple Reparameterization to Accelerate
#   Training of Deep Neural Networks*. NeurIPS. `salimans2016weight`
# - Arjovsky, Chintala and Bottou (2017). *Wasserstein Generative Adversarial Networks*. ICML.
#   `arjovsky2017wasserstein`
# - Brock, Lim, Ritchie and Weston (2017). *Neural Photo Editing with Introspective Adversarial
#   Networks*. ICLR. `brock2017neural`
# - Roy and Vetterli (2007). *The Effective Rank: A Measure of Effective Dimensionality*.
#   EUSIPCO. `roy2007effective`

# %% [markdown]
# ## What's next
#
# [Lesson 06](06_regularizers.ipynb) sets SN beside the other ways to tame a discriminator:
# orthonormal regularization, weight clipping and gradient penalties.
