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
# # Bound a network's Lipschitz constant by its layers' spectral norms
#
# Lesson 01 ended with a discriminator whose slope is unbounded. The paper's remedy is to
# search only among discriminators $f$ with $\|f\|_{\rm Lip} \le K$ (eq. 5). Computing the
# Lipschitz constant of a network exactly is hard, but bounding it from above is easy: the
# product of its layers' spectral norms (eq. 7). This lesson builds that bound, checks it
# against what a network actually does, and measures how loose it is.
#
# **What you will learn**
#
# - what $\|f\|_{\rm Lip}$ is, and the Lipschitz constants of ReLU, leaky ReLU, sigmoid and tanh;
# - that a linear layer's Lipschitz constant is its spectral norm $\sigma(W)$, and why
#   $\|f\|_{\rm Lip} \le \prod_l \sigma(W^l) \prod_l \|a_l\|_{\rm Lip}$ (eq. 7);
# - to estimate $\|f\|_{\rm Lip}$ from below (gradient norms and worst pairs) and to see the
#   product bound grow looser with depth;
# - that dividing every $W^l$ by $\sigma(W^l)$ makes the bound 1;
# - why the Wasserstein GAN needs a 1-Lipschitz critic (Kantorovich–Rubinstein duality).
#
# **What you need**: lesson 01; singular values (the SVD) at the level of "$W = U \Sigma V^\top$".
# In full mode the lesson computes for about 35 seconds (measured on a 2-core CPU; just over two
# minutes in all on a busy shared machine); no GPU.

# %%
import math
import statistics

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import sngan_teach.lipschitz as lipschitz
from sngan_teach.explore import explore
from sngan_teach.lipschitz import (
    input_gradient_norms,
    lipschitz_lower_estimate,
    make_mlp,
    product_bound,
    spectral_norm_exact,
)
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn

# The networks here are tiny: one thread is faster than two fighting over a shared CPU.
torch.set_num_threads(1)
# Float64 everywhere, so "estimate <= bound" is checked up to 1e-9 rather than float32 noise.
torch.set_default_dtype(torch.float64)

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
generator = seed_all(seed)

d_in = 8  # input dimension of the random MLPs
n_points = pick(quick=64, full=256)  # data points x for the lower estimates
n_steps_pairs = pick(quick=30, full=100)  # gradient-ascent steps on pairs (x, y)
widths = pick(quick=[16, 64], full=[16, 64, 128])  # hidden width of the random MLPs
depths = [1, 2, 4, 6, 8]  # number of hidden layers (so depth + 1 weight matrices W^l)
n_steps_train = pick(quick=300, full=1500)  # Adam steps for the trained MLP
alpha = 1e-2  # its learning rate
rtol = 1e-9  # round-off allowed in "estimate <= bound" (float64)

# %% [markdown]
# ## Step 1: Lipschitz constants of activations
#
# A function $f$ is $M$-Lipschitz if $\|f(x) - f(y)\| \le M \|x - y\|$ for all $x, y$; the
# smallest such $M$ is $\|f\|_{\rm Lip}$ (Euclidean norms throughout). For a differentiable
# function of one variable it is $\sup_x |f'(x)|$, and an activation applied entry by entry has
# the same constant as its 1-D version (each coordinate of $f(x) - f(y)$ is at most $M$ times the
# matching coordinate of $x - y$). So:
#
# | activation | derivative | $\Vert a \Vert_{\rm Lip}$ |
# |---|---|---|
# | ReLU $\max(0, x)$ | 0 or 1 | 1 |
# | leaky ReLU $\max(0.1\, x, x)$ (any slope in $[0, 1]$: the same) | 0.1 or 1 | 1 |
# | sigmoid $1/(1 + e^{-x})$ | $\mathcal{A}(x)(1 - \mathcal{A}(x)) \le 1/4$, at $x = 0$ | 1/4 |
# | tanh | $1 - \tanh^2 x \le 1$, at $x = 0$ | 1 |
#
# We check each in two ways: the largest slope on a fine grid (autograd), and the largest ratio
# $|a(x) - a(y)| / |x - y|$ over a million random pairs.

# %%
activations = {
    "ReLU": (nn.ReLU(), 1.0),
    "leaky ReLU (0.1)": (nn.LeakyReLU(0.1), 1.0),
    "sigmoid": (nn.Sigmoid(), 0.25),
    "tanh": (nn.Tanh(), 1.0),
}
x_grid = torch.linspace(-6, 6, 120_001, requires_grad=True)
pair_x = 12 * torch.rand(1_000_000, generator=generator) - 6
pair_y = pair_x + 0.5 * torch.randn(1_000_000, generator=generator)

fig, ax = plt.subplots(figsize=(6, 3.5))
measured = {}
for name, (act, _) in activations.items():
    (slope,) = torch.autograd.grad(act(x_grid).sum(), x_grid)
    ratios = (act(pair_x) - act(pair_y)).abs() / (pair_x - pair_y).abs()
    measured[name] = (slope.abs().max().item(), ratios.max().item())
    ax.plot(x_grid.detach(), slope, label=name)
ax.set(xlabel="x", ylabel="a'(x)", title="Slopes of the activations")
ax.legend(fontsize=8)
plt.show()
for name, (max_slope, max_ratio) in measured.items():
    print(f"{name:18s} max slope {max_slope:.6f}   max pair ratio {max_ratio:.6f}")

# %% [markdown]
# **Claim**: the largest slope equals the table's constant (to $10^{-6}$), and no pair ratio
# exceeds it.

# %%
for name, (_, lip) in activations.items():
    max_slope, max_ratio = measured[name]
    assert abs(max_slope - lip) < 1e-6, name
    assert max_ratio <= lip * (1 + rtol), name

# %% [markdown]
# ## Step 2: a linear layer's constant is its spectral norm; the product bound
#
# For $g(h) = W h + b$, $\|g(h) - g(h')\| = \|W (h - h')\|$, so
#
# $$
# \|g\|_{\rm Lip} = \sup_{h \ne 0} \frac{\|W h\|_2}{\|h\|_2} = \sigma(W)
# \qquad \text{(paper eq. 6)},
# $$
#
# the spectral norm: the largest singular value of $W$, reached at its first right singular
# vector $v_1$. Composition multiplies constants,
# $\|g_1 \circ g_2\|_{\rm Lip} \le \|g_1\|_{\rm Lip} \|g_2\|_{\rm Lip}$ (apply the definition
# twice), and a network is a chain
# $f = g_{L+1} \circ a_L \circ g_L \circ \cdots \circ a_1 \circ g_1$, so
#
# $$
# \|f\|_{\rm Lip} \le \prod_{l=1}^{L+1} \sigma(W^l) \prod_{l=1}^{L} \|a_l\|_{\rm Lip}
# \qquad \text{(paper eq. 7, where every } \|a_l\|_{\rm Lip} = 1\text{)} .
# $$
#
# The definition needs nothing but the two norms $\lVert W h \rVert$ and $\lVert h \rVert$,
# so the spectral norm exists for every matrix, square or not: a $d_{out} \times d_{in}$
# layer maps $\mathbb{R}^{d_{in}}$ to $\mathbb{R}^{d_{out}}$ and has a largest stretch. (One
# popular write-up calls the spectral norm a notion for square matrices; the weights of a
# network are rarely square.) Take a $3 \times 7$ matrix and compute $\sigma(W)$ twice: from
# the definition, by gradient ascent on $\lVert W h \rVert / \lVert h \rVert$ with no SVD in
# sight, and by the SVD. A hundred thousand random directions $h$ show what the ratio looks
# like away from the best one.

# %%
W = torch.randn(3, 7, generator=generator)
h_best = torch.randn(7, generator=generator)
for _ in range(2000):  # gradient ascent on the ratio, h kept at unit length
    h_best = h_best.clone().requires_grad_(True)
    ratio = (W @ h_best).norm() / h_best.norm()
    (grad,) = torch.autograd.grad(ratio, h_best)
    # the step scales with 1 / ratio: a fixed step overshoots along the null space of W once
    # the ratio exceeds 4, and the ascent then wanders instead of climbing
    h_best = (h_best + 0.5 * grad / ratio.detach()).detach()
    h_best = h_best / h_best.norm()
sigma_def = (W @ h_best).norm().item()  # max ||W h|| / ||h|| from the definition

sigma = torch.linalg.svdvals(W)[0]  # singular values come sorted, largest first
h = torch.randn(100_000, 7, generator=generator)
gains = (h @ W.T).norm(dim=1) / h.norm(dim=1)
print(f"3 x 7 matrix: max ||W h|| / ||h|| by gradient ascent {sigma_def:.12f}")
print(f"              largest singular value (SVD)          {sigma:.12f}")
print(f"              best of 100k random directions         {gains.max():.6f}")

# %% [markdown]
# **Claim**: for this $3 \times 7$ matrix the largest stretch found from the definition equals
# the largest singular value (to $10^{-10}$), which is also PyTorch's matrix 2-norm and the
# package's `spectral_norm_exact`; no random direction beats it, and the best of them comes
# within 5 % of it.

# %%
assert abs(sigma_def - sigma.item()) < 1e-10 * sigma.item()
torch.testing.assert_close(sigma, torch.linalg.matrix_norm(W, ord=2))
assert abs(spectral_norm_exact(W) - sigma.item()) < 1e-12
assert sigma * 0.95 < gains.max() <= sigma * (1 + rtol)

# %% [markdown]
# The "square matrices only" reading comes from eigenvalues, which exist only for square
# matrices: `eigvals` refuses this $3 \times 7$ $W$, while `svdvals` (above) has no such need.

# %% tags=["raises-exception"]
torch.linalg.eigvals(W)

# %%
try:
    torch.linalg.eigvals(W)
    eig_error = None
except RuntimeError as err:
    eig_error = str(err)
print("eigvals on a 3 x 7 matrix:", eig_error.splitlines()[0] if eig_error else "no error")
assert eig_error is not None and "square" in eig_error.lower()

# %% [markdown]
# **Your turn.** Write `sigma_of(W)` returning the spectral norm $\sigma(W)$ of any 2-D tensor
# $W$, square or not (a number or a 0-d tensor).
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.sigma_of.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def sigma_of(W):
    """sigma(W) = max ||W h|| / ||h|| for a d_out x d_in tensor W."""
    ...  # your code here


# %%
accepted = exercises.sigma_of.check(sigma_of)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the largest singular value; it needs no square matrix.
def sigma_of_solution(W):
    return torch.linalg.svdvals(W)[0]


assert exercises.sigma_of.check(sigma_of_solution) is True

# %% [markdown]
# Now the product bound of a small ReLU network, inline, and the package's `product_bound`,
# which does the same walk over an `nn.Sequential` and refuses layers it cannot bound. The
# networks come from `make_mlp(d_in, width, depth, act)`: `depth` hidden layers
# `Linear(., width)`, each followed by `act()` (ReLU unless said otherwise), then a linear
# output to one value.

# %%
seed_all(seed)
net = make_mlp(d_in, 32, 3)
bound_inline = 1.0
for layer in net:
    if isinstance(layer, nn.Linear):
        bound_inline *= torch.linalg.svdvals(layer.weight.detach())[0].item()
    # ReLU contributes a factor 1
print(f"product of spectral norms: {bound_inline:.6f}; product_bound: {product_bound(net):.6f}")

# %%
assert abs(bound_inline - product_bound(net)) < 1e-12 * bound_inline

# %% [markdown]
# A slip that is easy to make: "the spectral norm is the largest eigenvalue". That holds for
# symmetric positive semi-definite matrices only. For a general square $W$ the largest
# eigenvalue modulus (the spectral radius $\rho(W)$) can be far *smaller* than $\sigma(W)$, and
# a "bound" built from it is not a bound. Take a shear in the hidden layer:
#
# $$
# W^1 = \begin{pmatrix} 1 & 10 \\ 0 & 1 \end{pmatrix}, \qquad
# f(x) = w^{2\top} \mathrm{ReLU}(W^1 x), \quad w^2 = (1, 0)^\top ,
# $$
#
# so $f(x) = \mathrm{ReLU}(x_1 + 10 x_2)$, whose Lipschitz constant is $\|(1, 10)\| \approx 10.05$.

# %%
shear = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
with torch.no_grad():
    shear[0].weight.copy_(torch.tensor([[1.0, 10.0], [0.0, 1.0]]))
    shear[2].weight.copy_(torch.tensor([[1.0, 0.0]]))
x_shear = torch.randn(64, 2, generator=generator)
est_shear = lipschitz_lower_estimate(shear, x_shear, n_steps=20, generator=generator)

# WRONG: the largest |eigenvalue| of W^1 in place of sigma(W^1).
rho = torch.linalg.eigvals(shear[0].weight.detach()).abs().max().item()
bound_wrong = rho * spectral_norm_exact(shear[2].weight)
print(f"lower estimate {est_shear:.3f}   'bound' from the spectral radius {bound_wrong:.3f}")
assert est_shear > 9 * bound_wrong, "the eigenvalue 'bound' should fail, by a factor near 10"

# %% [markdown]
# The network provably moves two points 10 times further apart than the "bound" allows, so
# the bound is wrong. Corrected: $\sigma(W) = \sqrt{\lambda_{\max}(W^\top W)}$, the largest
# singular value.

# %%
W1 = shear[0].weight.detach()
sigma_W1 = torch.linalg.eigvalsh(W1.T @ W1).max().sqrt().item()
bound_right = sigma_W1 * spectral_norm_exact(shear[2].weight)
print(f"sigma(W1) = {sigma_W1:.3f} (rho = {rho:.3f});  bound {bound_right:.3f} >= {est_shear:.3f}")
assert abs(bound_right - product_bound(shear)) < 1e-12 * bound_right
assert est_shear <= bound_right * (1 + rtol)
assert abs(est_shear - math.sqrt(101)) < 1e-3  # the true constant ||(1, 10)||

# %% [markdown]
# **Your turn.** Write `lipschitz_bound(net)`: the product bound of eq. 7 for an
# `nn.Sequential` of `Linear` layers and ReLU, leaky ReLU, tanh or sigmoid activations (step 1's
# table gives their constants). `product_bound` is the package's version: write this one
# yourself. The check builds networks of its own.


# %%
def lipschitz_bound(net):
    """prod_l sigma(W^l) * prod_l ||a_l||_Lip for the layers of net, in order."""
    ...  # your code here


# %%
accepted = exercises.lipschitz_bound.check(lipschitz_bound)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: every layer multiplies the bound by its own constant.
def lipschitz_bound_solution(net):
    factors = []
    for layer in net:
        if isinstance(layer, nn.Linear):
            factors.append(torch.linalg.svdvals(layer.weight.detach())[0].item())
        else:  # the sigmoid's largest slope is 1/4; ReLU, leaky ReLU and tanh have 1
            factors.append(0.25 if isinstance(layer, nn.Sigmoid) else 1.0)
    return math.prod(factors)


assert exercises.lipschitz_bound.check(lipschitz_bound_solution) is True

# %% [markdown]
# ## Step 3: how tight is the bound?
#
# The bound is cheap; the true constant is not (computing it exactly is NP-hard already for
# two-layer ReLU networks; Virmaux and Scaman, NeurIPS 2018). Any pair of points, and any
# gradient norm where $f$ is differentiable, gives a *lower* estimate.
# `lipschitz_lower_estimate` takes the largest of
#
# - the gradient norms $\|\nabla_x f(x_i)\|$ over the data, and
# - the ratios $|f(x) - f(y)| / \|x - y\|$ reached by gradient ascent (Adam) on pairs that
#   start at data points,
#
# so the truth lies between the two numbers:
# $\text{estimate} \le \|f\|_{\rm Lip} \le \text{bound}$. We try random MLPs (PyTorch's default
# initialisation) of several depths and widths, and keep the gradient norm at every data
# point for the figure.

# %%
x_data = torch.randn(n_points, d_in, generator=generator)
records, data_grad_norms = [], {}
for width in widths:
    for depth in tqdm(depths, desc=f"width {width}"):
        seed_all(seed + 1000 * width + depth)
        net = make_mlp(d_in, width, depth)
        bound = product_bound(net)
        est = lipschitz_lower_estimate(net, x_data, n_steps=n_steps_pairs, generator=generator)
        records.append((width, depth, bound, est))
        data_grad_norms[width, depth] = input_gradient_norms(net, x_data)

# %% [markdown]
# How loose is the bound for a deep or a wide network? Move the width and the number of hidden
# layers. The left panel shows the ratio bound / estimate of every network tried, the chosen
# one circled; the right panel places, on one log axis, the gradient norms at the data points,
# the lower estimate and the bound of the chosen network: the distance between the last two
# lines is how loose the bound is.


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_looseness`: the ratios of all
# networks, and the chosen network's gradient norms, lower estimate and bound.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_looseness(width, depth):
    """Ratio bound / estimate over all networks, and one network's numbers on a log axis."""
    fig, (ax_ratio, ax_line) = plt.subplots(1, 2, figsize=(8, 3.3), layout="constrained")
    for w in widths:
        ratios = [b / e for w_r, _, b, e in records if w_r == w]
        ax_ratio.semilogy(depths, ratios, "o-", label=f"width {w}")
    _, _, bound, est = next(r for r in records if r[:2] == (width, depth))
    ax_ratio.semilogy([depth], [bound / est], "o", ms=14, mfc="none", mec="k", label="chosen")
    ax_ratio.set(xlabel="hidden layers", ylabel="bound / lower estimate", title="Looseness")
    ax_ratio.legend(fontsize=7)
    norms = data_grad_norms[width, depth].numpy()
    bins = np.logspace(-4, 4, 65)
    ax_line.hist(norms, bins=bins, color="0.7", label="||grad f(x_i)|| at the data")
    ax_line.axvline(est, color="C0", label="lower estimate")
    ax_line.axvline(bound, color="C3", label="product bound")
    ax_line.set(xscale="log", xlabel="Lipschitz constant, log scale", ylabel="data points")
    ax_line.set_title(f"width {width}, {depth} hidden layers")
    ax_line.legend(fontsize=7, loc="best")
    caption = (
        f"width {width}, {depth} hidden layers: estimate {est:.3g} <= bound {bound:.3g}, "
        f"ratio {bound / est:.3g}"
    )
    return fig, caption


explore(draw_looseness, width=widths, depth=depths)

# %%
for width, depth, bound, est in records:
    print(
        f"width {width:3d} depth {depth}: estimate {est:.3g} <= bound {bound:.3g}  "
        f"(ratio {bound / est:.3g})"
    )

# %% [markdown]
# **Claim**: the estimate never exceeds the bound; the ratio bound / estimate grows strictly
# with depth at every width, and from 1 to 8 hidden layers it grows more than 50-fold.

# %%
for width, depth, bound, est in records:
    assert 0 < est <= bound * (1 + rtol), (width, depth)
for width in widths:
    ratio = [b / e for w, _, b, e in records if w == width]
    assert all(r2 > r1 for r1, r2 in zip(ratio, ratio[1:], strict=False)), width
    assert ratio[-1] > 50 * ratio[0], width

# %% [markdown]
# Why so loose? The bound assumes that every layer's worst direction (its $v_1$) lines up with
# the previous layer's worst output direction, and that every ReLU passes it through. In a
# random network neither happens: ReLUs zero about half the coordinates and the singular
# directions of consecutive layers are unrelated, so each layer loses a constant factor
# against the bound, and those factors multiply with depth.
#
# Both reasons can be measured on the widest, deepest random network of the loop above: the
# fraction of hidden units a data point switches on, and the overlap $|u_1^{l\top} v_1^{l+1}|$
# between layer $l$'s worst output direction and layer $l+1$'s worst input direction (1 when
# aligned; about $1/\sqrt{\text{width}}$ for unrelated random directions).

# %%
linears = [m for m in net if isinstance(m, nn.Linear)]
h_act, active = x_data, []
with torch.no_grad():
    for layer in linears[:-1]:
        h_act = torch.relu(layer(h_act))
        active.append((h_act > 0).double().mean().item())
    svds = [torch.linalg.svd(m.weight) for m in linears]
    overlaps = [
        (svds[i][0][:, 0] @ svds[i + 1][2][0]).abs().item() for i in range(len(linears) - 1)
    ]
print(
    f"width {width}, depth {depth}: active fraction per hidden layer", [round(a, 2) for a in active]
)
print("overlap |u1(W^l) . v1(W^l+1)| per pair of layers", [round(o, 3) for o in overlaps])

# %% [markdown]
# **Claim**: in this random network every hidden layer leaves between 30% and 70% of its
# units on, and the worst directions of consecutive layers are as unrelated as random
# directions. For two independent random unit vectors in $\mathbb{R}^{\text{width}}$ the
# overlap is about $z / \sqrt{\text{width}}$ with $z$ standard normal, so the root mean square
# of the overlaps is about $1/\sqrt{\text{width}}$; we check that it is below
# $2/\sqrt{\text{width}}$ (aligned layers would give 1). One overlap alone can come out near
# $3/\sqrt{\text{width}}$ for some seeds, as a three-standard-deviation draw does; the root mean
# square over all pairs exceeds twice its typical value for fewer than one seed in a thousand.

# %%
rms_overlap = math.sqrt(statistics.fmean(o**2 for o in overlaps))
print(f"rms overlap {rms_overlap:.3f}; 1 / sqrt(width) = {1 / math.sqrt(width):.3f}")
assert all(0.3 < a < 0.7 for a in active)
assert rms_overlap < 2 / math.sqrt(width)

# %% [markdown]
# A trained network is not random. We train a 3-hidden-layer MLP to tell apart two noisy
# concentric circles and measure again, before and after.

# %%
n_train = 512
angle = 2 * math.pi * torch.rand(n_train, generator=generator)
radius = torch.where(torch.arange(n_train) % 2 == 0, 1.0, 2.0)
x_circ = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
x_circ += 0.1 * torch.randn(n_train, 2, generator=generator)
y_circ = (radius > 1.5).double().unsqueeze(1)

seed_all(seed)
net_trained = make_mlp(2, 64, 3)
bound_before = product_bound(net_trained)
est_before = lipschitz_lower_estimate(net_trained, x_circ, n_steps_pairs, generator=generator)
opt = torch.optim.Adam(net_trained.parameters(), lr=alpha)
for _ in tqdm(range(n_steps_train), desc="train"):
    loss = F.binary_cross_entropy_with_logits(net_trained(x_circ), y_circ)
    opt.zero_grad()
    loss.backward()
    opt.step()
accuracy = ((net_trained(x_circ) > 0).double() == y_circ).double().mean().item()
bound_after = product_bound(net_trained)
est_after = lipschitz_lower_estimate(net_trained, x_circ, n_steps_pairs, generator=generator)
print(f"accuracy {accuracy:.3f}")
print(
    f"before training: estimate {est_before:.3g} <= bound {bound_before:.3g}"
    f"  (ratio {bound_before / est_before:.3g})"
)
print(
    f"after training:  estimate {est_after:.3g} <= bound {bound_after:.3g}"
    f"  (ratio {bound_after / est_after:.3g})"
)

# %% [markdown]
# **Claim**: the network learned the task (accuracy above 95%), the estimate stays below the
# bound before and after training, and training made both numbers larger: to separate the
# circles the network needs steeper slopes, and on separable data the cross-entropy keeps
# pushing the logits apart, so the slope grows more than 100-fold: lesson 01's explosion,
# happening in a real network. Training also made the bound *tighter*: the ratio
# bound / estimate is smaller after training than before.

# %%
assert accuracy > 0.95
assert est_before <= bound_before * (1 + rtol) and est_after <= bound_after * (1 + rtol)
assert est_after > 100 * est_before and bound_after > bound_before
assert bound_after / est_after < bound_before / est_before

# %% [markdown]
# ## Step 4: divide every weight by its spectral norm
#
# If every $W^l$ is replaced by $\bar W^l = W^l / \sigma(W^l)$, each factor of eq. 7 becomes
# $\sigma(\bar W^l) = 1$ and, with 1-Lipschitz activations, the bound becomes 1: the network is
# guaranteed 1-Lipschitz. This is spectral normalization (eq. 8) computed exactly by SVD;
# lesson 03 replaces the SVD by cheap power iteration and lesson 04 turns it into a layer.


# %%
def normalize_exactly(net):
    """In place: W <- W / sigma(W) for every Linear layer of net, sigma by SVD."""
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                layer.weight /= torch.linalg.svdvals(layer.weight)[0]
    return net


normalized = []
for width in widths:
    for depth in depths:
        seed_all(seed + 1000 * width + depth)  # the same networks as in step 3
        net = normalize_exactly(make_mlp(d_in, width, depth))
        est = lipschitz_lower_estimate(net, x_data, n_steps=n_steps_pairs, generator=generator)
        normalized.append((width, depth, product_bound(net), est))
normalize_exactly(net_trained)
est_trained_sn = lipschitz_lower_estimate(net_trained, x_circ, n_steps_pairs, generator=generator)
for width, depth, bound, est in normalized:
    print(f"width {width:3d} depth {depth}: estimate {est:.3g} <= bound {bound:.6f}")
bound_trained_sn = product_bound(net_trained)
print(f"trained circle net, normalized: estimate {est_trained_sn:.3g} <= {bound_trained_sn:.6f}")
sn_bounds = []  # the same networks through the package's SN layer (lesson 04): sigma estimated
for width in widths:
    for depth in depths:
        seed_all(seed + 1000 * width + depth)
        sn_bounds.append(product_bound(add_sn(make_mlp(d_in, width, depth)).eval()))
print(
    f"with sngan_teach.sn.add_sn instead: bounds from {min(sn_bounds):.4f} to {max(sn_bounds):.4f}"
)

# %% [markdown]
# **Claim**: after the division every bound is 1 (by construction, printed above) and every
# estimate is at most 1, the trained network included. The bound is as loose as before: the
# deepest normalized networks (8 hidden layers) change their output by less than a hundredth
# of what the guarantee allows. The package's layer, which estimates $\sigma$ by power
# iteration instead of the SVD, never divides by more than $\sigma$ ($u^\top W v \le \sigma$),
# so its bound is at least 1: close to the exact one, never below it.

# %%
for width, depth, _, est in normalized + [(2, 3, bound_trained_sn, est_trained_sn)]:
    assert est <= 1.0 + rtol, (width, depth)
assert all(b >= 1 - 1e-9 for b in sn_bounds), sn_bounds
assert all(est < 0.01 for _, depth, _, est in normalized if depth == depths[-1])

# %% [markdown]
# The package holds the division too, `sngan_teach.lipschitz.normalize_exactly` (appendix A5
# imports it): on the same network it gives the same weights, bit for bit.

# %%
with torch.random.fork_rng(devices=[]):  # leaves the global RNG as it was
    torch.manual_seed(seed + 7)
    ours = normalize_exactly(make_mlp(d_in, 16, 2, nn.LeakyReLU))
    torch.manual_seed(seed + 7)
    package = lipschitz.normalize_exactly(make_mlp(d_in, 16, 2, nn.LeakyReLU))
for a, b in zip(ours.state_dict().values(), package.state_dict().values(), strict=True):
    torch.testing.assert_close(a, b, rtol=0, atol=0)

# %% [markdown]
# ## Step 5: why a Wasserstein critic must be 1-Lipschitz
#
# The Kantorovich–Rubinstein duality writes the Wasserstein-1 distance as a supremum over
# 1-Lipschitz functions, $W_1(q, p_G) = \sup_{\|f\|_{\rm Lip} \le 1} \mathbb{E}_q f -
# \mathbb{E}_{p_G} f$, and the WGAN critic *is* that $f$: without the constraint the supremum
# is $+\infty$, so the critic's objective means nothing unless $\|f\|_{\rm Lip} \le 1$ is
# enforced (weight clipping, a gradient penalty, or SN). [Appendix
# A5](A5_wasserstein_critic.ipynb) checks the explicit 1-D critic on samples and trains two
# critics, normalized as in Step 4 and free: the normalized one stays below $W_1$ (short of
# it, by the looseness above), the free one runs off to more than a thousand times $W_1$.

# %% [markdown]
# ## Summary
#
# - $\|f\|_{\rm Lip}$ is the largest ratio $\|f(x) - f(y)\| / \|x - y\|$. ReLU, leaky ReLU
#   (slope $\le 1$) and tanh have constant 1, sigmoid 1/4.
# - A linear layer's constant is its spectral norm $\sigma(W)$, the largest singular value (not
#   the largest eigenvalue); composing layers multiplies constants, which gives the paper's
#   eq. 7, $\|f\|_{\rm Lip} \le \prod_l \sigma(W^l)$ for 1-Lipschitz activations.
# - Lower estimates (gradient norms, worst pairs) never exceed the bound, but the bound grows
#   looser with depth, by orders of magnitude for random networks.
# - Dividing each $W^l$ by $\sigma(W^l)$ makes the bound exactly 1, a 1-Lipschitz guarantee;
#   a WGAN critic needs exactly that (Kantorovich–Rubinstein).
#
# ## Exercises
#
# 1. A sigmoid network: what does eq. 7 give for `make_mlp(d_in, 32, 3, nn.Sigmoid)`? Check
#    that the lower estimate stays below it.
# 2. When is the product bound tight? Build a two-layer *linear* network whose weights are
#    diagonal, and one whose weights are random, and compare $\sigma(W^2 W^1)$ (the exact
#    constant of a linear network) with $\sigma(W^2)\sigma(W^1)$.
# 3. The paper normalizes a convolution's weight reshaped to a $d_{\rm out} \times (d_{\rm in}
#    h w)$ matrix, and says (footnote 3) that this differs from the convolution's operator
#    norm. Show that for a one-channel kernel $[1, 1, 1]$ the reshaped $\sigma$ is $\sqrt 3$
#    while the convolution stretches a constant signal by almost 3. What does
#    `product_bound(conv, conv="unfold")` give?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: each sigmoid contributes 1/4, so the bound is prod sigma(W^l) / 4^3.
seed_all(seed)
net_sig = make_mlp(d_in, 32, 3, nn.Sigmoid)
sigmas = [spectral_norm_exact(m.weight) for m in net_sig if isinstance(m, nn.Linear)]
bound_sig = product_bound(net_sig)
est_sig = lipschitz_lower_estimate(net_sig, x_data, n_steps=20, generator=generator)
print(f"bound {bound_sig:.3g} = prod sigma {math.prod(sigmas):.3g} / 64;  estimate {est_sig:.3g}")
assert abs(bound_sig - math.prod(sigmas) / 4**3) < 1e-12
assert est_sig <= bound_sig * (1 + rtol)

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 2: diagonal weights share singular vectors, so the worst directions line up.
D1, D2 = torch.diag(torch.tensor([3.0, 1.0, 0.5])), torch.diag(torch.tensor([2.0, 1.0, 0.1]))
A1, A2 = torch.randn(3, 3, generator=generator), torch.randn(3, 3, generator=generator)
for name, (M1, M2) in {"diagonal": (D1, D2), "random": (A1, A2)}.items():
    exact = spectral_norm_exact(M2 @ M1)
    prod = spectral_norm_exact(M2) * spectral_norm_exact(M1)
    print(f"{name:8s}: sigma(W2 W1) = {exact:.4f}   sigma(W2) sigma(W1) = {prod:.4f}")
diag_exact, diag_prod = (
    spectral_norm_exact(D2 @ D1),
    spectral_norm_exact(D2) * spectral_norm_exact(D1),
)
assert abs(diag_exact - diag_prod) < 1e-12 * diag_prod  # tight: the top directions line up
assert spectral_norm_exact(A2 @ A1) < spectral_norm_exact(A2) * spectral_norm_exact(A1)

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 3: every input entry lands in 3 patches, so the operator norm can reach 3 = sqrt(3)^2.
conv = nn.Conv1d(1, 1, kernel_size=3, padding=1, bias=False)
with torch.no_grad():
    conv.weight.fill_(1.0)
signal = torch.ones(1, 1, 256)
stretch = (conv(signal).norm() / signal.norm()).item()
print(
    f"reshaped sigma {product_bound(conv):.4f}, stretch of a constant signal {stretch:.4f}, "
    f"unfold bound {product_bound(conv, conv='unfold'):.4f}"
)
assert stretch > 2.9 > product_bound(conv)
assert stretch <= product_bound(conv, conv="unfold") * (1 + rtol)

# %% [markdown]
# ## References
#
# - Arjovsky, Chintala and Bottou (2017). *Wasserstein Generative Adversarial Networks*.
#   ICML. `arjovsky2017wasserstein`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of
#   Wasserstein GANs*. NeurIPS. `gulrajani2017improved`
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Virmaux and Scaman (2018). *Lipschitz Regularity of Deep Neural Networks: Analysis and
#   Efficient Estimation*. NeurIPS. `virmaux2018lipschitz`

# %% [markdown]
# ## What's next
#
# [Lesson 03](03_power_iteration.ipynb) estimates the spectral norm cheaply, with power
# iteration.
