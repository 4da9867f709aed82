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
# # Derive the optimal discriminator and watch its gradient explode
#
# Spectral normalization exists because of one formula. The best discriminator a GAN can
# have, for a fixed generator, has an input gradient that can be as large as you like. A
# discriminator that follows it hands the generator useless, exploding gradients. Section 2 of
# Miyato et al. (ICLR 2018) starts from that formula; this lesson derives it and runs it.
#
# **What you will learn**
#
# - to derive the optimal discriminator $D^*_G(x) = q(x) / (q(x) + p_G(x))$ and its logit
#   $f^*(x) = \log q(x) - \log p_G(x)$ (paper eq. 3) from the GAN value $V(G, D)$;
# - to check the formula against a small neural network trained as a discriminator;
# - to see that $|\nabla_x f^*|$ grows without bound as the two distributions separate
#   (paper eq. 4), on a slider;
# - why the original "minimax" generator loss gives vanishing gradients once $D$ is confident,
#   and the "non-saturating" loss does not.
#
# **What you need**: lesson 00 (how quick and full mode work), the chain rule, and what a
# logistic regression does. In full mode the lesson computes for about 16 seconds (measured
# on a 2-core CPU; 76 seconds in all on a busy shared machine); no GPU.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sngan_teach.densities import (
    gaussian_log_prob,
    logit_gradient,
    max_logit_gradient,
    mixture_log_prob,
    mixture_sample,
    optimal_discriminator,
    optimal_logit,
    plot_separation,
    separation_curves,
)
from sngan_teach.explore import explore
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all

# The networks here are tiny: one thread is faster than two fighting over a shared CPU.
torch.set_num_threads(1)

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
generator = seed_all(seed)  # every random draw below uses this generator or the global seed

# The data density q and the generator's density p_G of steps 1-2 (1-D Gaussian mixtures).
q_means, q_stds, q_weights = [-1.5, 1.0], [0.5, 0.7], [0.4, 0.6]
p_G_means, p_G_stds = [0.5], [1.2]

n_grid = 401  # points of the x grid for plots and checks
batch_size = pick(quick=256, full=512)  # samples of q and of p_G per discriminator step
n_steps_D = pick(quick=400, full=1500)  # discriminator (net_D) updates
alpha = 3e-3  # Adam learning rate of net_D
hidden = 64  # width of net_D's two hidden layers
tol_D = 0.05  # allowed mean |D - D*| where both densities have mass

std = 0.5  # common std of q = N(0, std^2) and p_G = N(gap, std^2) in steps 3-4
gaps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]  # distances between the means of q and p_G
n_z = pick(quick=2_001, full=20_001)  # quadrature nodes over z for the generator's gradient

# %% [markdown]
# ## Step 1: derive the optimal discriminator
#
# The paper writes the GAN game as $\min_G \max_D V(G, D)$ with
#
# $$
# V(G, D) = \mathbb{E}_{x \sim q}[\log D(x)] + \mathbb{E}_{x' \sim p_G}[\log(1 - D(x'))]
#         = \int \big( q(x) \log D(x) + p_G(x) \log(1 - D(x)) \big)\, dx ,
# $$
#
# where $q$ is the data density, $p_G$ the generator's, and $D(x) = \mathcal{A}(f(x))$ with
# $\mathcal{A}$ the sigmoid. For a fixed $G$ the integrand can be maximised at every $x$
# separately. With $a = q(x)$, $b = p_G(x)$ and $y = D(x) \in (0, 1)$, the function
# $a \log y + b \log(1 - y)$ has derivative $a/y - b/(1-y)$, which is zero at $y = a/(a+b)$,
# and it is concave, so that is the maximum:
#
# $$
# D^*_G(x) = \frac{q(x)}{q(x) + p_G(x)} = \mathcal{A}(f^*(x)),
# \qquad f^*(x) = \log q(x) - \log p_G(x) . \qquad \text{(paper eq. 3)}
# $$
#
# (The second form follows from $\mathcal{A}(\log a - \log b) = 1/(1 + b/a) = a/(a+b)$.)
#
# Let us check the pointwise argument by brute force: for several $x$, search $D$ on a fine
# grid of $(0,1)$ for the value that maximises the integrand.

# %%
x = torch.linspace(-4, 4, n_grid, dtype=torch.float64)
log_q = mixture_log_prob(x, q_means, q_stds, q_weights)
log_p_G = mixture_log_prob(x, p_G_means, p_G_stds)
q, p_G = log_q.exp(), log_p_G.exp()

D_star = q / (q + p_G)  # the formula, written inline

y = torch.linspace(1e-5, 1 - 1e-5, 100_001, dtype=torch.float64)  # candidate values of D(x)
some = torch.arange(0, n_grid, 40)  # eleven x's across the grid
integrand = q[some, None] * torch.log(y) + p_G[some, None] * torch.log1p(-y)
D_search = y[integrand.argmax(dim=1)]
for xi, d_s, d_f in zip(x[some], D_search, D_star[some], strict=True):
    print(f"x = {xi:5.2f}   grid search D = {d_s:.5f}   q/(q+p_G) = {d_f:.5f}")

# %% [markdown]
# **Claim**: at every $x$, the $D$ that maximises $q \log D + p_G \log(1-D)$ is
# $q/(q + p_G)$; and the package's `optimal_discriminator` (which works from log densities, as
# $\mathcal{A}(\log q - \log p_G)$, so it stays exact where both densities underflow) agrees.

# %%
assert (D_search - D_star[some]).abs().max() < 1e-4
torch.testing.assert_close(optimal_discriminator(log_q, log_p_G), D_star)
torch.testing.assert_close(optimal_logit(log_q, log_p_G), torch.log(q) - torch.log(p_G))

# %% [markdown]
# **Your turn.** Write `optimal_D(q, p_G)`: the optimal discriminator $D^*_G(x)$ from the two
# densities $q(x)$ and $p_G(x)$, given as tensors of the same shape (one entry per point $x$).
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.optimal_D.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def optimal_D(q, p_G):
    """D*(x) from the densities q(x) and p_G(x), entry by entry."""
    ...  # your code here


# %%
accepted = exercises.optimal_D.check(optimal_D)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the maximizer q / (q + p_G) of q log D + p_G log(1 - D), at every x.
def optimal_D_solution(q, p_G):
    return q / (q + p_G)


assert exercises.optimal_D.check(optimal_D_solution) is True

# %% [markdown]
# Plugging $D^*$ back in gives the value the generator then minimises,
#
# $$
# V(G, D^*) = -\log 4 + 2\,\mathrm{JSD}(q \,\|\, p_G), \qquad
# \mathrm{JSD}(q \,\|\, p_G) = \tfrac12 \mathrm{KL}(q \,\|\, m) +
# \tfrac12 \mathrm{KL}(p_G \,\|\, m), \quad m = \tfrac12 (q + p_G),
# $$
#
# the Jensen–Shannon divergence. So it is $-\log 4$ exactly when $p_G = q$, and larger
# otherwise. We compute both sides by the trapezoid rule, each from its own formula, on a grid
# wide enough to hold all the mass of $q$ and $p_G$ (on the plotting grid $[-4, 4]$ the two
# sides differ by about $10^{-3}$: $p_G$ has 0.2 % of its mass outside it).


# %%
def value(f, q, p_G, x):
    """V(G, D) for D = sigmoid(f), by the trapezoid rule on the grid x.

    log D = logsigmoid(f) and log(1 - D) = logsigmoid(-f) stay finite where D rounds to 0 or 1.
    """
    return torch.trapezoid(q * F.logsigmoid(f) + p_G * F.logsigmoid(-f), x)


x_V = torch.linspace(-10, 10, 2001, dtype=torch.float64)  # wide grid for the integrals
log_q_V = mixture_log_prob(x_V, q_means, q_stds, q_weights)
log_p_G_V = mixture_log_prob(x_V, p_G_means, p_G_stds)
q_V, p_G_V = log_q_V.exp(), log_p_G_V.exp()
V_star = value(optimal_logit(log_q_V, log_p_G_V), q_V, p_G_V, x_V)
V_same = value(torch.zeros_like(q_V), q_V, q_V, x_V)  # p_G = q, where f* = 0 and D* = 1/2

log_m = torch.logaddexp(log_q_V, log_p_G_V) - math.log(2)  # log of m = (q + p_G) / 2
jsd = 0.5 * torch.trapezoid(q_V * (log_q_V - log_m), x_V) + 0.5 * torch.trapezoid(
    p_G_V * (log_p_G_V - log_m), x_V
)
log4 = torch.log(torch.tensor(4.0, dtype=torch.float64))
print(f"V(G, D*) = {V_star:.6f},  -log 4 + 2 JSD(q || p_G) = {-log4 + 2 * jsd:.6f}")
print(f"JSD(q || p_G) = {jsd:.4f};  with p_G = q: V = {V_same:.6f},  -log 4 = {-log4:.6f}")

# %% [markdown]
# **Claim**: $V(G, D^*) = -\log 4 + 2\,\mathrm{JSD}(q \,\|\, p_G)$ (to $10^{-4}$); the
# divergence of our two densities is positive, so $V(G, D^*) > -\log 4$; with $p_G = q$ the
# value is $-\log 4$ (printed above), and it is the maximum there: $D = 1/2$ beats the
# discriminators that lean either way, as $D^*$ beats its own perturbations when $p_G \ne q$.

# %%
assert abs(V_star - (-log4 + 2 * jsd)) < 1e-4
assert jsd > 0.01
f_star_V = optimal_logit(log_q_V, log_p_G_V)
for shift in (-0.5, 0.5):
    const = torch.full_like(q_V, shift)
    assert value(const, q_V, q_V, x_V) < V_same - 1e-2  # p_G = q: D = 1/2 is the best
    assert value(f_star_V + shift, q_V, p_G_V, x_V) < V_star - 1e-2  # D* is the best

# %% [markdown]
# ## Step 2: train a discriminator and compare it with $D^*$
#
# The derivation assumes $D$ can be any function. A small MLP is flexible enough in one
# dimension: we train `net_D` (a logit $f$, then the sigmoid) to maximise $V$ on fresh samples
# of $q$ and $p_G$ at every step, which is the same as minimising the binary cross-entropy with
# label 1 for data and 0 for generated samples.

# %%
seed_all(seed)
net_D = nn.Sequential(
    nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1)
)
opt_D = torch.optim.Adam(net_D.parameters(), lr=alpha)
labels = torch.cat([torch.ones(batch_size, 1), torch.zeros(batch_size, 1)])

losses = []
for _ in tqdm(range(n_steps_D), desc="net_D"):
    x_real = mixture_sample(batch_size, q_means, q_stds, q_weights, generator=generator)
    x_fake = mixture_sample(batch_size, p_G_means, p_G_stds, generator=generator)
    loss_D = F.binary_cross_entropy_with_logits(net_D(torch.cat([x_real, x_fake])), labels)
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    losses.append(loss_D.item())

with torch.no_grad():
    f_net = net_D(x[:, None].float()).squeeze(1).double()  # the trained logit f on the grid
D_net = torch.sigmoid(f_net)

# Compare only where both densities have mass: elsewhere neither samples nor D* constrain much.
both = (q > 0.02) & (p_G > 0.02)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
axes[0].plot(losses)
axes[0].set(xlabel="step", ylabel="loss_D (BCE)", title="Training net_D")
axes[1].plot(x, q, label="q (data)")
axes[1].plot(x, p_G, label="p_G (generator)")
axes[1].plot(x, D_star, "k--", label="D* = q / (q + p_G)")
axes[1].plot(x, D_net, color="C3", label="trained net_D")
axes[1].axvspan(x[both][0], x[both][-1], color="0.9", zorder=0, label="compared region")
axes[1].set(xlabel="x", ylabel="density / probability", title="Trained D against D*")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# A slip that is easy to make when one mixes the notations of the original GAN paper ($p_{\rm
# data}$, $p_g$) with this paper's ($q$, $p_G$) is to put the generator's density on top,
# $p_G/(q + p_G)$. Compare the trained network with that formula first:

# %%
D_slip = p_G / (q + p_G)  # WRONG: the roles of data and generator are swapped
err_slip = (D_net - D_slip)[both].abs().mean().item()
print(f"mean |net_D - p_G/(q+p_G)| = {err_slip:.3f}  (tolerance {tol_D})")
assert err_slip > tol_D, "the swapped formula should fail the check"

# %% [markdown]
# It misses by far more than the tolerance: the network learned $q/(q+p_G)$, the probability
# that $x$ is *data*. Corrected:

# %%
err = (D_net - D_star)[both].abs().mean().item()
with torch.no_grad():
    V_net = value(net_D(x_V[:, None].float()).squeeze(1).double(), q_V, p_G_V, x_V)
print(f"mean |net_D - q/(q+p_G)| = {err:.4f}  on {int(both.sum())} grid points")
print(f"V(G, net_D) = {V_net:.5f}  against the maximum V(G, D*) = {V_star:.5f}")

# %% [markdown]
# **Claim**: a flexible discriminator trained on samples approaches $D^*$: the mean absolute
# error on the region where both densities have mass is below `tol_D` = 0.05 (in both modes),
# and the trained network's value $V(G, D)$ does not exceed the maximum $V(G, D^*)$ but closes
# more than 90 % of the distance to it from the value $-\log 4$ of the undecided $D = 1/2$.

# %%
assert err < tol_D
assert 0 <= V_star - V_net < 0.1 * (V_star + log4)

# %% [markdown]
# ## Step 3: the gradient of $f^*$ explodes as the distributions separate
#
# The paper's eq. 4 differentiates the optimal logit:
#
# $$
# \nabla_x f^*(x) = \frac{1}{q(x)} \nabla_x q(x) - \frac{1}{p_G(x)} \nabla_x p_G(x),
# $$
#
# "which can be unbounded or even incomputable". The simplest case shows it. Take
# $q = \mathcal{N}(0, s^2)$ and $p_G = \mathcal{N}(m, s^2)$ with a gap $m$ between the means.
# Then
#
# $$
# f^*(x) = \frac{(x - m)^2 - x^2}{2 s^2} = \frac{m^2 - 2 m x}{2 s^2},
# \qquad \nabla_x f^*(x) = -\frac{m}{s^2} \quad \text{at every } x .
# $$
#
# As $m/s$ grows the two supports become (nearly) disjoint, $D^*$ becomes a step from 1 to 0,
# and the slope of $f^*$ grows linearly in $m$ and like $1/s^2$ as the densities sharpen. In
# the limit of disjoint supports $f^* = \pm\infty$ and its gradient does not exist.
#
# The package computes $\nabla_x f^*$ by autograd; first check autograd against the line above.

# %%
x_check = torch.linspace(-3, 6, 50, dtype=torch.float64)
for gap in gaps:
    torch.testing.assert_close(
        logit_gradient(gap, std, x_check), torch.full_like(x_check, -gap / std**2)
    )

# %% [markdown]
# How steep does $f^*$ get as the two densities separate, or sharpen? Move `gap` (the
# distance $m$ between the means) and `std` ($s$). The left panel shows the two densities and
# $D^*$, the middle one $f^*$, the right one $|\nabla_x f^*|$ on a log axis; the line under
# the figure gives its size.


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_separation`: `plot_separation` at
# each gap and std, with one scale for the slope.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_separation(gap, std):
    """lesson 01's figure for q = N(0, std^2), p_G = N(gap, std^2), and a one-line caption."""
    slope = max_logit_gradient(gap, std)
    fig = plot_separation(gap, std)
    fig.axes[2].set_ylim(0.1, 1e3)  # one scale for every frame, so the slope's growth shows
    return fig, f"gap m = {gap}, std s = {std}: max |df*/dx| = {slope:.4g}"


explore(draw_separation, gap=[0.5, 1.0, 2.0, 4.0, 8.0], std=[0.25, 0.5, 1.0])

# %%
max_grads = [max_logit_gradient(gap, std) for gap in gaps]
gaps_fine = torch.linspace(0, 8, 81).tolist()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(gaps_fine, [max_logit_gradient(g, std) for g in gaps_fine], label=f"std s = {std}")
ax.plot(gaps_fine, [max_logit_gradient(g, std / 2) for g in gaps_fine], label=f"std s = {std / 2}")
ax.set(
    xlabel="gap m between the means",
    ylabel="max_x |df*/dx|",
    title="The optimal logit's slope grows without bound",
)
ax.legend()
plt.show()
# Where is D* undecided (0.01 < D* < 0.99)? On a fixed fine grid, for each gap.
x_wide = torch.linspace(-4.0, 12.0, 16_001, dtype=torch.float64)
dx = (x_wide[1] - x_wide[0]).item()
undecided = []
for gap in gaps:
    D_gap = optimal_discriminator(
        gaussian_log_prob(x_wide, 0.0, std), gaussian_log_prob(x_wide, gap, std)
    )
    undecided.append(((D_gap > 0.01) & (D_gap < 0.99)).sum().item() * dx)
for gap, g, w in zip(gaps, max_grads, undecided, strict=True):
    print(f"gap = {gap:5.2f}   max |grad f*| = {g:8.2f}   width where 0.01 < D* < 0.99: {w:.3f}")

# %% [markdown]
# **Claim**: $D^*$ becomes a step: the region where it is undecided ($0.01 < D^* < 0.99$)
# shrinks strictly as the gap grows; from $f^* = \pm\log 99$ its width is
# $2 s^2 \log 99 / m$ (checked to two grid steps where it fits in the grid, $m \ge 1$).

# %%
assert all(b < a for a, b in zip(undecided, undecided[1:], strict=False))
for gap, w in zip(gaps, undecided, strict=True):
    if gap >= 1.0:
        assert abs(w - 2 * std**2 * math.log(99) / gap) <= 2 * dx

# %% [markdown]
# **Claim**: $\max_x |\nabla_x f^*|$ equals $m/s^2$: so it grows linearly with the gap,
# passes any bound $K$ as soon as $m > K s^2$, and is multiplied by 4 when $s$ is halved. We
# check the exact value, computed by autograd on the slider's grid, at every gap above for
# $s$ and for $s/2$, and at the gap $m = K s^2 + 1$ for the bound $K = 1000$.

# %%
K = 1000.0
for s_check in (std, std / 2):
    for gap in [*gaps, K * s_check**2 + 1.0]:
        g = max_logit_gradient(gap, s_check)
        assert abs(g - gap / s_check**2) < 1e-9 * (gap / s_check**2), (gap, s_check, g)

# %% [markdown]
# A discriminator that gets close to $D^*$ inherits that slope. Nothing in $V(G, D)$ stops it:
# the better the discriminator, the steeper and less informative its landscape. Spectral
# normalization adds exactly the missing constraint, $\|f\|_{\rm Lip} \le K$ (paper eq. 5);
# lesson 02 shows how a network's Lipschitz constant is bounded by its layers' spectral norms.
#
# ## Step 4: minimax against non-saturating generator loss
#
# The generator sees the discriminator only through the gradient of its loss. With
# $D = \mathcal{A}(f)$:
#
# - **minimax** (the original game of Goodfellow et al., 2014): $G$ minimises
#   $\mathbb{E}_z[\log(1 - D(G(z)))]$, and
#   $\frac{d}{df}\log(1 - \mathcal{A}(f)) = -\mathcal{A}(f) = -D$;
# - **non-saturating** (used by the paper for all its non-hinge runs, §4): $G$ minimises
#   $-\mathbb{E}_z[\log D(G(z))]$, and $\frac{d}{df}\big(-\log \mathcal{A}(f)\big) = -(1 - D)$.
#
# When $D$ is confident that generated samples are fake, $D(G(z)) \to 0$: the minimax
# gradient is multiplied by $D \to 0$ and vanishes, the non-saturating one by $1 - D \to 1$.
#
# We measure it on the setting of step 3: $G(z) = \theta + s z$ with $z \sim \mathcal{N}(0,1)$
# and $\theta = m$, the discriminator frozen at $D^*$ for that $p_G$, and the gradient of each
# loss with respect to the generator's parameter $\theta$ by autograd. The expectations over
# $z$ are tiny numbers that decide the claim, so we compute them by quadrature on a fine grid
# of $z$ (weights $\varphi(z)\,\Delta z$) rather than by sampling: a sample of a few thousand
# $z$ never reaches the rare region that dominates $\mathbb{E}[D(G(z))]$ at large gaps.

# %%
z = torch.linspace(-12.0, 12.0, n_z, dtype=torch.float64)  # quadrature nodes for z ~ N(0, 1)
w_z = gaussian_log_prob(z, 0.0, 1.0).exp() * (z[1] - z[0])  # weights phi(z) dz, sum ~ 1


def generator_gradients(gap, std):
    """|d loss_G / d theta| for the minimax and the non-saturating loss, and E[D(G(z))]."""
    theta = torch.tensor(gap, dtype=torch.float64, requires_grad=True)
    x_fake = theta + std * z  # G(z)
    # D is frozen at D* for the current p_G = N(gap, std^2): gap enters as a constant here.
    f = optimal_logit(gaussian_log_prob(x_fake, 0.0, std), gaussian_log_prob(x_fake, gap, std))
    loss_G_minimax = -(w_z * F.softplus(f)).sum()  # E[log(1 - sigmoid(f))]
    loss_G_ns = (w_z * F.softplus(-f)).sum()  # E[-log sigmoid(f)]
    (g_mm,) = torch.autograd.grad(loss_G_minimax, theta, retain_graph=True)
    (g_ns,) = torch.autograd.grad(loss_G_ns, theta)
    return abs(g_mm.item()), abs(g_ns.item()), (w_z * torch.sigmoid(f)).sum().item()


gaps_G = torch.linspace(0.25, 8.0, 32, dtype=torch.float64).tolist()
results = [generator_gradients(gap, std) for gap in gaps_G]
grad_mm = [r[0] for r in results]
grad_ns = [r[1] for r in results]
mean_D_fake = [r[2] for r in results]

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
axes[0].semilogy(gaps_G, mean_D_fake, color="k")
axes[0].set(xlabel="gap m", ylabel="E[D*(G(z))]", title="D grows confident: D(G(z)) -> 0")
axes[1].semilogy(gaps_G, grad_mm, label="minimax: log(1 - D(G(z)))")
axes[1].semilogy(gaps_G, grad_ns, label="non-saturating: -log D(G(z))")
axes[1].set(xlabel="gap m", ylabel="|d loss_G / d theta|", title="The generator's gradient")
axes[1].legend(fontsize=8)
plt.show()
print(
    f"largest gap {gaps_G[-1]}: E[D(G(z))] = {mean_D_fake[-1]:.2e}, "
    f"minimax grad = {grad_mm[-1]:.2e}, non-saturating grad = {grad_ns[-1]:.2f}"
)

# %% [markdown]
# **Claim**: as $D$ grows confident, the minimax gradient vanishes (at the largest gap it is
# below $10^{-6}$ of its largest value), while the non-saturating gradient does not: it
# increases strictly with the gap and ends above 1. Both agree with the closed forms
# $|\nabla_\theta| = \frac{m}{s^2}\,\mathbb{E}[D]$ (minimax) and
# $\frac{m}{s^2}\,\mathbb{E}[1 - D]$ (non-saturating), which follow from the chain rule and
# $\partial f^* / \partial x = -m/s^2$.

# %%
assert grad_mm[-1] < 1e-6 * max(grad_mm)
assert all(b > a for a, b in zip(grad_ns, grad_ns[1:], strict=False))
assert grad_ns[-1] > 1.0
total_w = w_z.sum().item()
for gap, g_mm, g_ns, d in zip(gaps_G, grad_mm, grad_ns, mean_D_fake, strict=True):
    assert abs(g_mm - gap / std**2 * d) <= 1e-9 * (1 + g_mm)
    assert abs(g_ns - gap / std**2 * (total_w - d)) <= 1e-9 * (1 + g_ns)

# %% [markdown]
# **Your turn.** Write `ns_generator_loss(d_fake)`: the non-saturating generator loss
# $-\mathbb{E}_z[\log D(G(z))]$ from the discriminator's logits `d_fake` (with
# $D = \mathcal{A}(\text{logit})$), as a 0-d tensor that `backward()` can run through. The check
# compares values and gradients, and recognises the minimax loss of this step.


# %%
def ns_generator_loss(d_fake):
    """-E[log D(G(z))] from the logits d_fake = f(G(z))."""
    ...  # your code here


# %%
accepted = exercises.ns_generator_loss.check(ns_generator_loss)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: -log sigmoid(t) = softplus(-t), finite for any logit t.
def ns_generator_loss_solution(d_fake):
    return F.softplus(-d_fake).mean()


assert exercises.ns_generator_loss.check(ns_generator_loss_solution) is True

# %% [markdown]
# Note what the non-saturating loss fixes and what it does not: its gradient no longer
# vanishes, but it grows with the same $m/s^2$ factor as $\nabla_x f^*$. Neither loss controls
# the discriminator's slope; that is the job of a Lipschitz constraint on $f$.
#
# ## Summary
#
# - For a fixed generator the best discriminator is $D^*_G = q/(q + p_G) = \mathcal{A}(f^*)$
#   with $f^* = \log q - \log p_G$ (paper eq. 3); a trained MLP lands on it.
# - Its input gradient $\nabla_x f^* = \nabla q / q - \nabla p_G / p_G$ (eq. 4) is unbounded: for
#   two Gaussians it is $m/s^2$, which passes any bound as the distributions separate.
# - With the minimax loss the generator's gradient vanishes once $D$ is confident; the
#   non-saturating loss keeps it alive but inherits the exploding slope.
# - The fix the paper proposes is to restrict $f$ to $\|f\|_{\rm Lip} \le K$: lesson 02.
#
# ## Exercises
#
# 1. Keep the means equal ($m = 0$) but give the densities different widths:
#    $q = \mathcal{N}(0, 1)$, $p_G = \mathcal{N}(0, 0.5^2)$. Show that $\nabla_x f^*$ is now
#    unbounded in $x$ even though the distributions overlap completely.
# 2. Compute $V(G, D^*)$ for the two Gaussians of step 3 as the gap grows and check that it
#    approaches $0 = -\log 4 + 2 \log 2$ (the Jensen–Shannon divergence saturates at $\log 2$),
#    so its derivative with respect to the gap vanishes: another face of step 4.
# 3. Why does step 2 compare $D$ only where both densities exceed 0.02? Measure the error of
#    the trained logit $f$ against $f^*$ at $x = \pm 4$.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: f*(x) = -x^2/2 + 2 x^2 - log 2 = 1.5 x^2 - log 2, so df*/dx = 3 x grows with |x|.
xs = torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64, requires_grad=True)
f_star = optimal_logit(gaussian_log_prob(xs, 0.0, 1.0), gaussian_log_prob(xs, 0.0, 0.5))
(grad_xs,) = torch.autograd.grad(f_star.sum(), xs)
print("df*/dx at x = 1, 10, 100:", grad_xs.tolist())
torch.testing.assert_close(grad_xs, 3 * xs.detach())
torch.testing.assert_close(f_star, 1.5 * xs.detach() ** 2 - math.log(2))

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 2: V(G, D*) by quadrature on each gap's own grid.
V_gap = []
for gap in [0.0, 1.0, 2.0, 4.0, 8.0]:
    c = separation_curves(gap, std, n_points=4001)
    V_gap.append(value(c["f"], c["q"], c["p_G"], c["x"]).item())
print("V(G, D*) for gaps 0, 1, 2, 4, 8:", [round(v, 4) for v in V_gap])
assert abs(V_gap[0] + log4.item()) < 1e-3
assert all(b > a for a, b in zip(V_gap, V_gap[1:], strict=False)) and abs(V_gap[-1]) < 1e-3

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 3: outside the data the net's logit is an extrapolation, not f*.
x_far = torch.tensor([[-4.0], [4.0]])
with torch.no_grad():
    f_net_far = net_D(x_far).squeeze(1).double()
f_star_far = optimal_logit(
    mixture_log_prob(x_far.squeeze(1).double(), q_means, q_stds, q_weights),
    mixture_log_prob(x_far.squeeze(1).double(), p_G_means, p_G_stds),
)
print("trained f at x = -4, 4:", f_net_far.tolist(), "  f*:", f_star_far.tolist())
assert ((f_net_far - f_star_far).abs() > 1.0).all()

# %% [markdown]
# ## References
#
# - Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014).
#   *Generative Adversarial Nets*. NeurIPS. `goodfellow2014generative`
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`

# %% [markdown]
# ## What's next
#
# [Lesson 02](02_lipschitz.ipynb) bounds a network's Lipschitz constant by its layers' spectral
# norms: the handle that keeps this gradient in check.
