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
# # Estimate the spectral norm with power iteration
#
# Spectral normalization divides every weight matrix $W$ of the discriminator by its spectral
# norm $\sigma(W)$, its largest singular value, at **every** training step. A full SVD costs
# $O(d_{out} d_{in} \min(d_{out}, d_{in}))$ flops per layer and step. The paper (Miyato et
# al., ICLR 2018, App. A, Algorithm 1) uses power iteration instead, and only **one** step of
# it per SGD update, recycling the vector $u$ from the previous update. This lesson builds that
# algorithm, measures how fast it converges, and shows why one step is enough.
#
# ## What you will learn
#
# 1. Write Algorithm 1 ($v \leftarrow W^\top u/\lVert W^\top u\rVert$,
#    $u \leftarrow Wv/\lVert Wv\rVert$, $\sigma \approx u^\top W v$) as a plain loop and check
#    it against `torch.linalg.svdvals` and PyTorch's `spectral_norm`.
# 2. Predict its convergence: the angle to the top singular vector shrinks like
#    $(\sigma_2/\sigma_1)^{2k}$ and the error of $\sigma$ like $(\sigma_2/\sigma_1)^{4k}$;
#    explore it on sliders.
# 3. See why a *warm start* (one step per update, $u$ kept) tracks $\sigma$ of a slowly moving
#    $W$ closely, while a cold start does not.
# 4. Spot two write-up errors ($u \leftarrow W^\top v$; dividing by $\sigma^2$) and the edge
#    cases: zero matrix, rank one, $1\times n$, repeated $\sigma_1$.
#
# ## What you need
#
# Lesson 02 (the spectral norm as the Lipschitz constant of a linear layer). In full mode the
# lesson computes for about 14 seconds (measured on a 2-core CPU; 56 seconds in all on a busy
# shared machine); no GPU.

# %%
import math
import statistics

import matplotlib.pyplot as plt
import torch

from sngan_teach.explore import explore
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for the random draws
dtype = torch.float64  # exact checks need float64
m, n = 64, 32  # shape of W (d_out x d_in) for the first checks
n_long = pick(quick=300, full=1000)  # k, iterations for "converged" checks
n_plot = 30  # k, iterations shown in the static convergence figure
gap_plot = 0.8  # sigma_2 / sigma_1 of the static figure's matrix
m_drift, n_drift = 64, 128  # shape of the fresh layer of exercise 2

# %% [markdown]
# ## Step 1: Algorithm 1, by hand
#
# Write $W = \sum_i \sigma_i u_i v_i^\top$ (the SVD, $\sigma_1 \ge \sigma_2 \ge \dots$). Then
# $W^\top W v_i = \sigma_i^2 v_i$ and $W W^\top u_i = \sigma_i^2 u_i$: multiplying a vector by
# $W W^\top$ over and over stretches its $u_1$ component the most. Algorithm 1 does that in two
# half steps, normalising after each:
#
# $$\tilde v \leftarrow \frac{W^\top \tilde u}{\lVert W^\top \tilde u\rVert_2}, \qquad
#   \tilde u \leftarrow \frac{W \tilde v}{\lVert W \tilde v\rVert_2}, \qquad
#   \sigma(W) \approx \tilde u^\top W \tilde v .$$
#
# $\tilde u$ starts from an isotropic random vector. Because $\tilde u = W\tilde v/\lVert
# W\tilde v\rVert$, the estimate equals $\lVert W \tilde v\rVert_2$, which can never exceed
# $\sigma_1 = \max_{\lVert v\rVert=1}\lVert Wv\rVert$: power iteration approaches $\sigma_1$
# **from below**.

# %%
W = torch.randn(m, n, generator=gen, dtype=dtype)
u0 = torch.randn(m, generator=gen, dtype=dtype)


def power_iteration_by_hand(W, u, n_iterations):
    """Algorithm 1: returns the estimate after each step, and the final u and v."""
    estimates = []
    for _ in range(n_iterations):
        v = W.T @ u
        v = v / v.norm()
        u = W @ v
        u = u / u.norm()
        estimates.append(u @ W @ v)
    return torch.stack(estimates), u, v


sigma_svd = torch.linalg.svdvals(W)
sigma_true = sigma_svd[0]
# Enough steps for this W: the error shrinks like (sigma_2 / sigma_1)^(2k) (Step 3), and a
# random W's top gap can be tiny, so the count grows as sigma_2 / sigma_1 nears 1.
gap = (sigma_svd[1] / sigma_svd[0]).item()
n_converge = max(n_long, math.ceil(math.log(1e-16) / (2 * math.log(gap))))
estimates, u_hand, v_hand = power_iteration_by_hand(W, u0, n_converge)
print(f"sigma_1 (SVD) = {sigma_true:.12f}, sigma_2 / sigma_1 = {gap:.4f}")
for k in (1, 2, 5, 20, n_converge):
    print(f"k = {k:4d}: estimate = {estimates[k - 1]:.12f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ks = torch.arange(1, n_converge + 1)
ax.semilogy(ks, ((sigma_true - estimates) / sigma_true).clamp_min(1e-16), label="power iteration")
ax.set_xlabel("power iterations k")
ax.set_ylabel("(sigma_1 - estimate) / sigma_1")
ax.set_title(f"Algorithm 1 on a random {m} x {n} Gaussian W")
ax.legend()
plt.show()

# %% [markdown]
# **Claim.** The estimate converges to $\sigma_1$ from `svdvals` (to $10^{-10}$ relative
# here, after the `n_converge` steps this $W$'s gap asks for), it never exceeds $\sigma_1$,
# and at the end $(u, v)$ is a singular pair:
# $Wv = \sigma u$ and $W^\top u = \sigma v$.

# %%
sigma_hand = estimates[-1]
assert abs(sigma_hand - sigma_true) / sigma_true < 1e-10
assert bool((estimates <= sigma_true * (1 + 1e-12)).all()), "an estimate overshot sigma_1"
assert torch.allclose(W @ v_hand, sigma_hand * u_hand, atol=1e-8)
assert torch.allclose(W.T @ u_hand, sigma_hand * v_hand, atol=1e-8)
# the first step is rough: a random start is far from u_1
assert (sigma_true - estimates[0]) / sigma_true > 1e-3

# %% [markdown]
# **Your turn.** Write `power_step(W, u)` returning `(u_new, v_new)` after **one** step of
# Algorithm 1 on a 2-D tensor `W`: $\tilde v = W^\top \tilde u / \lVert W^\top \tilde u\rVert$,
# then $\tilde u = W \tilde v / \lVert W \tilde v\rVert$. The check tries matrices that are
# square but not symmetric, tall, wide and a single row, and knows the slips of Step 5.
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.power_step.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def power_step(W, u):
    """One step of Algorithm 1 from u: returns (u_new, v_new)."""
    ...  # your code here


# %%
accepted = exercises.power_step.check(power_step)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: the two half steps, each normalized; the v returned is the one that made u_new.
def power_step_solution(W, u):
    v_new = W.T @ u
    v_new = v_new / v_new.norm()
    u_new = W @ v_new
    return u_new / u_new.norm(), v_new


assert exercises.power_step.check(power_step_solution) is True

# %% [markdown]
# ## Step 2: the package version, and PyTorch's
#
# `sngan_teach.power.power_iteration(W, u, n_iterations, eps, generator)` is the same loop. It
# returns `(sigma, u, v)`, guards both normalisations with `eps` (as PyTorch does), computes
# $u, v$ without autograd and $\sigma = u^\top W v$ with autograd, so that
# $\partial\sigma/\partial W = u v^\top$ (the paper's eq. 10; lesson 04 uses this).

# %%
from sngan_teach.power import power_iteration

sigma_pkg, u_pkg, v_pkg = power_iteration(W, u0, n_iterations=n_converge)
torch.testing.assert_close(sigma_pkg, sigma_hand)
torch.testing.assert_close(u_pkg, u_hand)
torch.testing.assert_close(v_pkg, v_hand)
torch.testing.assert_close(sigma_pkg, torch.linalg.svdvals(W)[0], rtol=1e-10, atol=0)

W_leaf = W.clone().requires_grad_(True)
sigma_g, u_g, v_g = power_iteration(W_leaf, u0, n_iterations=3)
sigma_g.backward()
torch.testing.assert_close(W_leaf.grad, torch.outer(u_g, v_g))
print("package == by hand == svdvals; d sigma / dW = u v^T")

# %% [markdown]
# PyTorch's `torch.nn.utils.parametrizations.spectral_norm` keeps both vectors as buffers and
# runs the two half steps in the **other order**: $u \leftarrow Wv/\lVert Wv\rVert$, then
# $v \leftarrow W^\top u/\lVert W^\top u\rVert$, and reports $\sigma = u^\top W v$ with the
# newest $v$, i.e. $\lVert W^\top u\rVert$. Given Algorithm 1's first $v$,
# $W^\top u_0/\lVert W^\top u_0\rVert$, as its starting $v$, it produces the same $u$ as
# Algorithm 1 and is half a step ahead in $v$. Both estimates approach $\sigma_1$ from below.
# We overwrite its buffers and compare.

# %%
k = 3
layer = torch.nn.Linear(n, m, bias=False).to(dtype)
with torch.no_grad():
    layer.weight.copy_(W)
torch.nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=k)
sn = layer.parametrizations.weight[0]
with torch.no_grad():  # overwrite the 15 warm-up iterations PyTorch ran at registration
    sn._u.copy_(u0 / u0.norm())
    sn._v.copy_(W.T @ u0 / (W.T @ u0).norm())
layer.train()
sigma_torch = W.norm() / layer.weight.detach().norm()  # layer.weight = W / sigma

_, u_k, _ = power_iteration(W, u0, n_iterations=k)
_, _, v_next = power_iteration(W, u0, n_iterations=k + 1)
print(f"PyTorch sigma = {sigma_torch:.10f}, ||W^T u_k|| = {(W.T @ u_k).norm():.10f}")

# %% [markdown]
# **Claim.** After $k$ steps PyTorch's $u$ equals ours, its $v$ equals our step $k+1$'s $v$,
# and its $\sigma$ equals $\lVert W^\top u_k\rVert$, below $\sigma_1$.

# %%
torch.testing.assert_close(sn._u, u_k)
torch.testing.assert_close(sn._v, v_next)
torch.testing.assert_close(sigma_torch, (W.T @ u_k).norm())
assert sigma_torch <= sigma_true * (1 + 1e-12)

# %% [markdown]
# ## Step 3: how fast it converges
#
# Expand the start in the left singular vectors, $u_0 = \sum_i a_i u_i$. After $k$ steps
#
# $$u_k \propto \sum_i a_i \sigma_i^{2k} u_i, \qquad v_k \propto \sum_i a_i \sigma_i^{2k-1} v_i .$$
#
# With the **spectral gap** $r = \sigma_2/\sigma_1$ and $\theta_0$ the angle between $u_0$ and
# $u_1$:
#
# $$\tan\angle(u_k, u_1) \le r^{2k}\tan\theta_0, \qquad
#   \tan\angle(v_k, v_1) \le r^{2k-1}\tan\theta_0,$$
#
# and since $\sigma_{\text{est}} = \lVert W v_k\rVert \ge \sigma_1\cos\angle(v_k, v_1)$,
#
# $$0 \le 1 - \frac{\sigma_{\text{est}}}{\sigma_1} \le 1 - \cos\angle(v_k,v_1)
#   \le \tan^2\angle(v_k,v_1) \le r^{4k-2}\tan^2\theta_0 .$$
#
# The vectors converge at rate $r^2$ per step and $\sigma$ at $r^4$: the estimate is
# *quadratically* better than the vectors, because $\sigma$ is stationary at the top singular
# vector (the classical analysis of power iteration, e.g. Golub and Van Loan, 2013). To see
# it we need matrices with a known spectrum: $W = U\,\mathrm{diag}(s)\,V^\top$ with random
# orthonormal $U, V$ (QR of a Gaussian matrix).

# %%
from sngan_teach.power import (
    angle,
    matrix_with_spectrum,
    show_convergence,
    spectrum_with_gap,
)

s_demo = torch.tensor([2.0, 1.0, 0.5])
W_demo, U_demo, V_demo = matrix_with_spectrum(s_demo, 5, 4, generator=gen)
print("singular values of U diag(s) V^T:", torch.linalg.svdvals(W_demo).numpy().round(12))
print(f"|W v_1 - 2 u_1| = {(W_demo @ V_demo[:, 0] - 2.0 * U_demo[:, 0]).norm():.1e}")

# %% [markdown]
# `show_convergence(n_iterations, gap, shape, seed)` builds such a matrix with
# $\sigma_1 = 1$, $\sigma_2 = $ `gap` and the rest below, runs power iteration from a random
# $u_0$, prints one line and plots the $\sigma$ error and the two angles against $k$, next to the
# two bounds. Here is one static picture; the sliders follow.

# %%
curves = show_convergence(n_plot, gap_plot, "128 x 32", seed)

# %% [markdown]
# **Claim.** Every point lies under its bound; the $\sigma$ error is never negative; the angle
# shrinks per step by a factor approaching $r^2 = 0.64$ (between $0.85\,r^2$ and $r^2$ in the
# last ten steps); and the $\sigma$ error is at most half the *square* of the angle of $v$
# ($1 - \cos\theta \le \theta^2/2$), so at $k = 20$ it is a thousand times smaller than the
# angle of $u$.

# %%
r = gap_plot
tol = 1e-12
assert bool((curves["sigma_rel_error"] >= -tol).all())
assert bool((curves["angle_u"] <= curves["bound_angle_u"] * (1 + 1e-9) + tol).all())
assert bool((curves["sigma_rel_error"] <= curves["bound_sigma"] * (1 + 1e-9) + tol).all())
ratios = curves["angle_u"][-10:] / curves["angle_u"][-11:-1]
print("angle ratio per step, last ten:", ratios.numpy().round(3), " r^2 =", r**2)
assert bool(((ratios > 0.85 * r**2) & (ratios <= r**2 + 1e-9)).all())
assert bool((curves["sigma_rel_error"] <= curves["angle_v"] ** 2 / 2 + 1e-15).all())
k20 = 19  # index of k = 20
print(
    f"k = 20: angle(u, u1) = {curves['angle_u'][k20]:.2e}, sigma error = "
    f"{curves['sigma_rel_error'][k20]:.2e}"
)
assert curves["sigma_rel_error"][k20] < 1e-3 * curves["angle_u"][k20]

# %% [markdown]
# A bigger gap (smaller $r$) makes the vectors converge faster. The $\sigma$ error has a twist
# at $r$ near 1: there the vectors hardly move towards $u_1$, yet $\sigma$ is already close,
# because every unit vector near the top of the spectrum gives almost $\sigma_1$. How close
# depends on the matrix and the start, so the twist is a statement about a typical matrix:
# over 40 random matrices and starts (seeds `seed` to `seed + 39`), the median angle after 5
# steps at $r = 0.99$ is still above 0.8 rad, the median $\sigma$ error is below 0.1, and it is
# *smaller* than the median error at $r = 0.9$. (For about one matrix in five the twist does
# not show: with 40 of them the medians settle it; over 300 seeds the median angle was 1.2
# rad and the median errors 0.043 at $r = 0.99$ against 0.072 at $r = 0.9$.)

# %%
after_5 = {g: show_convergence(5, g, "64 x 64", seed, plot=False) for g in (0.3, 0.6, 0.9, 0.99)}
angles_5 = {g: float(c["angle_u"][-1]) for g, c in after_5.items()}
errors_5 = {g: float(c["sigma_rel_error"][-1]) for g, c in after_5.items()}
print("this matrix, angle(u, u1) after 5 steps:", {g: f"{a:.2e}" for g, a in angles_5.items()})
print("this matrix, sigma error after 5 steps: ", {g: f"{e:.2e}" for g, e in errors_5.items()})
assert angles_5[0.3] < angles_5[0.6] < angles_5[0.9] < angles_5[0.99]
typical = {  # (angle, sigma error) after 5 steps, for 40 matrices and starts
    g: [show_convergence(5, g, "64 x 64", seed + i, plot=False) for i in range(40)]
    for g in (0.9, 0.99)
}
median_angle = {
    g: statistics.median(float(c["angle_u"][-1]) for c in cs) for g, cs in typical.items()
}
median_error = {
    g: statistics.median(float(c["sigma_rel_error"][-1]) for c in cs) for g, cs in typical.items()
}
print(f"40 matrices: median angle {median_angle}, median sigma error {median_error}")
assert median_angle[0.99] > 0.8 and median_error[0.99] < 0.1
assert median_error[0.99] < median_error[0.9]  # the twist: a smaller sigma error at a smaller gap

# %% [markdown]
# ### Sliders
#
# How many steps does a given gap need? Move $k$, the number of iterations, and the gap
# $r = \sigma_2/\sigma_1$ of a $64 \times 64$ matrix: the figure shows the $\sigma$ error and
# the two angles up to step $k$, with their bounds. Try a gap of 0.99 (a slow matrix), then a
# gap of 0.3. Every frame was computed when the lesson ran, so the sliders also work on the
# static web page; for another shape or seed, call `draw_convergence` in a cell of your own
# (`sngan_teach.power.SHAPES` lists the shapes it knows).


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_convergence`: errors, angles and
# bounds up to step k, for the gaps of `gaps_slider`.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_convergence(k, r, shape="64 x 64", seed=seed):
    """Power iteration on a matrix with gap r: errors and angles up to step k, and bounds."""
    c = show_convergence(k, r, shape, seed, plot=False)
    floor = 1e-16
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.semilogy(c["k"], c["sigma_rel_error"].clamp_min(floor), "o-", ms=3, label="sigma error")
    ax.semilogy(c["k"], c["angle_u"].clamp_min(floor), "s-", ms=3, label="angle(u, u1)")
    ax.semilogy(c["k"], c["bound_angle_u"].clamp_min(floor), "k--", label="r^(2k) tan(theta_0)")
    ax.semilogy(c["k"], c["bound_sigma"].clamp_min(floor), "k:", label="r^(4k-2) tan^2(theta_0)")
    ax.set(xlim=(0, 41), ylim=(floor / 2, 1e3), xlabel="power iterations k")
    ax.set(ylabel="relative error / angle (rad)", title=f"{shape} matrix, gap r = {r}")
    ax.legend(fontsize=7, loc="lower left")
    error = float(c["sigma_rel_error"][-1])
    return fig, f"r = {r}: after k = {k} iterations the relative sigma error is {error:.1e}"


gaps_slider = [0.3, 0.6, 0.8, 0.9, 0.99]  # r = sigma_2 / sigma_1 on the slider
explore(draw_convergence, k=[1, 2, 5, 10, 20, 40], r=gaps_slider)

# %% [markdown]
# **Claim.** At every gap of the slider, once the top direction dominates, the $\sigma$ error
# shrinks by a factor $r^4$ per step. The ratio of two consecutive errors approaches $r^4$
# from below: the directions just under $\sigma_2$ (here $\sigma_3, \sigma_4, \dots$ fall
# slowly from $r$) shrink faster and still count for a while. Taken at the last step before
# round-off (errors above $10^{-11}$) or at $k = 40$, the ratio lies within $[0.6\,r^4,
# 1.1\,r^4]$, and within $[0.85\,r^4, 1.1\,r^4]$ for $r \ge 0.8$, where the run is long
# enough for the tail to die out. (Over 60 random matrices and starts: 0.68 to 0.94 $r^4$ at
# $r = 0.3$, which reaches round-off after 5 to 8 steps, and 0.88 to 1.04 $r^4$ for $r \ge
# 0.8$.) And one more iteration always lowers the error.

# %%
for r_slider in gaps_slider:
    c = show_convergence(40, r_slider, "64 x 64", seed, plot=False)
    err = c["sigma_rel_error"]
    last = int((err > 1e-11).nonzero().flatten()[-1])
    ratio = float(err[last] / err[last - 1])
    print(f"r = {r_slider}: error ratio at k = {last + 1} is {ratio / r_slider**4:.3f} r^4")
    low = 0.85 if r_slider >= 0.8 else 0.6
    assert low * r_slider**4 <= ratio <= 1.1 * r_slider**4, r_slider
    assert bool((err[1 : last + 1] < err[:last]).all()), r_slider

# %% [markdown]
# ## Step 4: warm start, or why one iteration per update is enough
#
# A random $64\times128$ layer has a small gap ($r > 0.9$), so one step from a cold start is far
# off. But during training $W$ moves only a little per update, and the paper keeps $\tilde u$
# from the previous update: over $T$ updates that adds up to $T$ steps on a slowly moving
# target. [Appendix A1](A1_sn_layer_engineering.ipynb) simulates such a drift and checks that
# the warm start tracks $\sigma_1$ within 1 % while a cold start stays more than 5 % off.
#
# The cost of a step is two matrix-vector products, about $4\,d_{out} d_{in}$ flops: as much as
# the layer's forward pass on two examples, against a batch of 64. The paper measured SN at
# about 110-120% of weight normalization's training time on CIFAR-10 (§4.1.1, Fig. 10).
#
# ## Step 5: two write-up errors, run
#
# ### Error 1: $u \leftarrow W^\top v$
#
# Some write-ups (for example the Paddle static `spectral_norm` docs) write the second half step
# as $u \leftarrow W^\top v/\lVert W^\top v\rVert$. For a non-square $W$ that does not even
# have the right shape: $v$ has $d_{in}$ entries and $W^\top$ wants $d_{out}$.

# %% tags=["raises-exception"]
W_rect = torch.randn(m, n, generator=gen, dtype=dtype)  # 64 x 32
u = torch.randn(m, generator=gen, dtype=dtype)
v = W_rect.T @ u
v = v / v.norm()
u = W_rect.T @ v  # WRONG: should be W_rect @ v
u = u / u.norm()

# %%
try:
    W_rect.T @ v  # the wrong half step of the cell above, v of length 32
    raised = False
except RuntimeError as error:
    raised = True
    print("RuntimeError:", str(error).splitlines()[0])
assert raised, "u <- W^T v should fail for a 64 x 32 W"

# %% [markdown]
# On a square $W$ it runs, and that is worse: each step is $u \leftarrow (W^\top)^2 u$ up to
# scale, a power of $W^\top$ (whose eigenvectors are not singular vectors) instead of
# $W W^\top$. On a $64\times64$ matrix with $\sigma_1 = 3$ and gap $0.7$ (the right loop
# converges well within 100 steps) it ends far from $u_1$ and gives a wrong $\sigma$ after
# 100 steps.

# %%
W_sq, U_sq, _ = matrix_with_spectrum(3 * spectrum_with_gap(64, 0.7), 64, 64, generator=gen)
u_start = torch.randn(64, generator=gen, dtype=dtype)
u = u_start
for _ in range(100):
    v = W_sq.T @ u
    v = v / v.norm()
    u = W_sq.T @ v  # WRONG
    u = u / u.norm()
sigma_wrong = u @ W_sq @ v
print(f"wrong order: sigma = {sigma_wrong:.4f}, svdvals: {torch.linalg.svdvals(W_sq)[0]:.4f}")
print(f"angle(u, u_1) = {angle(u, U_sq[:, 0]):.2f} rad")
assert abs(sigma_wrong - 3.0) > 0.3, "the wrong order should give a wrong sigma"
assert angle(u, U_sq[:, 0]) > 0.3
v_1 = W_sq.T @ u_start
one_wrong_step = W_sq.T @ (v_1 / v_1.norm())
assert angle(one_wrong_step, W_sq.T @ W_sq.T @ u_start) < 1e-10  # (W^T)^2 u, up to scale

# %% [markdown]
# Why the slip survives in print: on a *symmetric* $W$ (the matrix a quick test often takes),
# $W^\top = W$ and the wrong step is the right one, so it gives the right $\sigma$. Here a
# symmetric $W$ with the same singular values as the one above:

# %%
W_sym = U_sq @ torch.diag(3 * spectrum_with_gap(64, 0.7)).to(dtype) @ U_sq.T  # W_sq's spectrum
u = u_start
for _ in range(100):
    v = W_sym.T @ u
    v = v / v.norm()
    u = W_sym.T @ v  # the same WRONG step
    u = u / u.norm()
sigma_sym = torch.linalg.svdvals(W_sym)[0]
print(f"symmetric W, wrong order: sigma = {u @ W_sym @ v:.10f}, svdvals: {sigma_sym:.10f}")
assert abs(u @ W_sym @ v - sigma_sym) / sigma_sym < 1e-8  # a test on a symmetric W misses it

# %% [markdown]
# Corrected ($u \leftarrow Wv$), from the same start; it is the package's loop again:

# %%
u = u_start
for _ in range(100):
    v = W_sq.T @ u
    v = v / v.norm()
    u = W_sq @ v  # right
    u = u / u.norm()
sigma_right = u @ W_sq @ v
print(f"right order: sigma = {sigma_right:.10f}, angle(u, u_1) = {angle(u, U_sq[:, 0]):.1e} rad")
assert abs(sigma_right - 3.0) < 1e-10
assert angle(u, U_sq[:, 0]) < 1e-6
torch.testing.assert_close(sigma_right, power_iteration(W_sq, u_start, n_iterations=100)[0])

# %% [markdown]
# ### Error 2: dividing by $\sigma^2$
#
# $\bar W_{SN} = W/\sigma(W)$ (eq. 8) has spectral norm exactly 1. Dividing by $\sigma^2$
# instead gives spectral norm $1/\sigma$: the layer's Lipschitz bound is no longer 1, and it
# drifts with the scale of $W$.

# %%
sigma_sq, _, _ = power_iteration(W_sq, n_iterations=n_long, generator=gen)
W_bar_wrong = W_sq / sigma_sq**2  # WRONG
norm_wrong = torch.linalg.svdvals(W_bar_wrong)[0]
print(f"sigma(W / sigma^2) = {norm_wrong:.6f} (= 1 / sigma = {1 / sigma_sq:.6f})")
assert abs(norm_wrong - 1.0) > 0.5

# %% [markdown]
# It also moves with the scale of $W$, and training moves that scale. Twenty steps of Adam
# ascending $\lVert \bar W h\rVert$ (the pull a discriminator exerts, lesson 05) with each
# normalization, $\sigma$ recomputed at every step: dividing by $\sigma$, the spectral norm of
# $\bar W$ stays 1; dividing by $\sigma^2$, the objective grows by *shrinking* $W$, and
# $\sigma(\bar W) = 1/\sigma(W)$ grows with it.


# %%
def train_normalized(power, n_steps=20):
    """sigma(W_bar) at each of n_steps Adam steps up ||W_bar h||, W_bar = W / sigma^power."""
    W_t = W_sq.clone().requires_grad_(True)
    h = torch.randn(W_sq.shape[1], generator=torch.Generator().manual_seed(seed), dtype=dtype)
    opt = torch.optim.Adam([W_t], lr=0.02)
    sigmas_bar = []
    for _ in range(n_steps):
        W_bar_t = W_t / torch.linalg.matrix_norm(W_t, ord=2) ** power
        sigmas_bar.append(torch.linalg.svdvals(W_bar_t.detach())[0].item())
        opt.zero_grad()
        (-(W_bar_t @ h).norm()).backward()
        opt.step()
    return sigmas_bar


by_sigma, by_sigma_sq = train_normalized(1), train_normalized(2)
print("sigma(W_bar), W / sigma:  ", [round(x, 4) for x in by_sigma])
print("sigma(W_bar), W / sigma^2:", [round(x, 4) for x in by_sigma_sq])
assert max(abs(x - 1) for x in by_sigma) < 1e-9
# over seeds 0 to 5 the wrong sigma(W_bar) grew by a factor 1.52 to 1.57 in these 20 steps
assert by_sigma_sq[-1] > 1.3 * by_sigma_sq[0]  # the wrong bound drifts as W trains

# %%
W_bar = W_sq / sigma_sq  # right
norm_right = torch.linalg.svdvals(W_bar)[0]
print(f"sigma(W / sigma) = {norm_right:.12f}")
assert abs(norm_right - 1.0) < 1e-10

# %% [markdown]
# **Your turn.** Write `normalize_by_sigma(W)` returning $\bar W_{SN} = W / \sigma(W)$ (eq. 8)
# with the exact $\sigma(W)$, for any 2-D `W`. The check uses matrices whose $\sigma$ is far
# from 1, where dividing by $\sigma^2$ shows.


# %%
def normalize_by_sigma(W):
    """W / sigma(W), so that the result has spectral norm 1."""
    ...  # your code here


# %%
accepted = exercises.normalize_by_sigma.check(normalize_by_sigma)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: divide once by the largest singular value.
def normalize_by_sigma_solution(W):
    return W / torch.linalg.svdvals(W)[0]


assert exercises.normalize_by_sigma.check(normalize_by_sigma_solution) is True

# %% [markdown]
# ## Step 6: edge cases
#
# * **Zero matrix.** There is no top singular vector. `power_iteration` follows PyTorch: the
#   `eps` guard turns $0/0$ into $0$, so it returns $\sigma = 0$ and zero $u, v$, with no NaN.
#   Dividing $W$ by that $\sigma$ would give NaN, and a zero $u$ stays zero forever, so a warm
#   start must never begin from it.
# * **Rank one, $1\times n$, $n\times 1$.** $W^\top u$ already points along $v_1$: exact after
#   one step.
# * **Repeated top singular value** ($\sigma_1 = \sigma_2$, $r = 1$). The bounds above say
#   nothing about the vectors, and indeed they do not converge to $u_1$: $u_k$ settles somewhere
#   in the plane of $u_1, u_2$ that depends on $u_0$. But every unit vector of that plane
#   achieves $\sigma_1$, so $\sigma$ still converges (at rate $(\sigma_3/\sigma_1)^{4k}$).

# %%
sigma0, u_zero, v_zero = power_iteration(torch.zeros(5, 3, dtype=dtype), generator=gen)
print("zero matrix:", float(sigma0), u_zero.tolist(), v_zero.tolist())
assert float(sigma0) == 0.0 and not bool(u_zero.any()) and not bool(v_zero.any())
sigma_dead, _, _ = power_iteration(torch.ones(5, 3, dtype=dtype), u_zero, n_iterations=10)
assert float(sigma_dead) == 0.0  # a zero u never recovers

a = torch.randn(7, generator=gen, dtype=dtype)
b = torch.randn(5, generator=gen, dtype=dtype)
for name, W_edge in [("rank 1", torch.outer(a, b)), ("1 x 5", b[None, :]), ("7 x 1", a[:, None])]:
    sigma_edge, _, _ = power_iteration(W_edge, n_iterations=1, generator=gen)
    exact = torch.linalg.svdvals(W_edge)[0]
    print(f"{name}: one step {sigma_edge:.15f}, svdvals {exact:.15f}")
    assert abs(sigma_edge - exact) / exact < 1e-13

# %%
W_tie, U_tie, V_tie = matrix_with_spectrum([2.0, 2.0, 1.0, 0.5], 10, 8, generator=gen)
top_plane = U_tie[:, :2]  # u_1, u_2: any unit vector of their plane is a top singular vector
# Three starts whose parts in the top plane point 60 degrees apart (the first at a random
# angle theta_0), each plus a random part off the plane.
theta_0 = float(torch.rand(1, generator=gen, dtype=dtype)) * math.pi
results = []
for k in range(3):
    theta = theta_0 + k * math.pi / 3
    noise = torch.randn(10, generator=gen, dtype=dtype)
    noise = noise - top_plane @ (top_plane.T @ noise)  # the part off the top plane
    u0_tie = math.cos(theta) * U_tie[:, 0] + math.sin(theta) * U_tie[:, 1] + noise
    sigma_tie, u_tie, _ = power_iteration(W_tie, u0_tie, n_iterations=60)
    predicted = top_plane @ (top_plane.T @ u0_tie)  # the start projected onto the top plane
    results.append((float(sigma_tie), angle(u_tie, predicted), angle(u_tie, U_tie[:, 0]), u_tie))
    print(
        f"start {k}: sigma = {sigma_tie:.12f}, angle to u_1 = "
        f"{angle(u_tie, U_tie[:, 0]):.3f} rad, angle to the projected start = "
        f"{angle(u_tie, predicted):.1e} rad"
    )

# %% [markdown]
# **Claim.** With $\sigma_1 = \sigma_2 = 2$, $\sigma$ converges to 2 from every start. $u$
# converges too, but not to a fixed vector: to the start's projection onto the top plane
# ($u_k \propto \sum_i a_i\sigma_i^{2k}u_i$ keeps $a_1 u_1 + a_2 u_2$ in the ratio it began
# with). So different starts end at different $u$ (the three above, whose parts in the plane
# point 60 degrees apart, end 60 degrees apart), and the SVD's $u_1$ is just one of them.

# %%
for sigma_tie, angle_to_predicted, _, _ in results:
    assert abs(sigma_tie - 2.0) < 1e-12
    assert angle_to_predicted < 1e-8
# the ends are as far apart as the starts' projections: 60 degrees between any two lines
for i, j in [(0, 1), (0, 2), (1, 2)]:
    assert abs(angle(results[i][3], results[j][3]) - math.pi / 3) < 1e-6
assert max(r[2] for r in results) > 0.05  # at least one start ends away from the SVD's u_1

# %% [markdown]
# ## Summary
#
# * Algorithm 1 alternates $v \leftarrow W^\top u$, $u \leftarrow Wv$ (normalising each) and
#   reads $\sigma \approx u^\top W v = \lVert Wv\rVert$, which approaches $\sigma_1$ from below.
# * Its vectors converge like $(\sigma_2/\sigma_1)^{2k}$, its $\sigma$ like
#   $(\sigma_2/\sigma_1)^{4k}$; a small gap means slow convergence from a cold start.
# * Keeping $u$ across SGD updates turns one step per update into many steps on a slowly
#   moving target: the estimate tracks $\sigma$ to a fraction of a percent, for the price of two
#   matrix-vector products.
# * The half steps go $W^\top$ then $W$ (not $W^\top$ twice), and $W$ is divided by $\sigma$,
#   not $\sigma^2$. PyTorch runs the half steps in the other order, which is equivalent.
# * From now on the series uses `sngan_teach.power.power_iteration`.
#
# ## Exercises
#
# 1. From the bound $r^{4k-2}\tan^2\theta_0$, how many steps guarantee a relative $\sigma$
#    error below $10^{-8}$ for the static figure's matrix ($r = 0.8$)? Check it.
# 2. PyTorch runs 15 power iterations when `spectral_norm` is registered. On a $64\times128$
#    Gaussian matrix (a fresh layer), how large is the relative error of $\sigma$ after 15 cold
#    steps? And after 15 more?
# 3. Show that running power iteration on $W^\top W$ with $v$ alone,
#    $v \leftarrow W^\top W v / \lVert W^\top W v\rVert$, produces the same $v$ as Algorithm 1.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 1: solve r^(4k-2) tan^2(theta_0) <= 1e-8 for k.
tan0 = math.tan(float(curves["angle_u0"][0]))
k_needed = math.ceil((math.log(1e-8) - 2 * math.log(tan0)) / math.log(gap_plot) / 4 + 0.5)
check = show_convergence(k_needed, gap_plot, "128 x 32", seed, plot=False)
k_reached = int((check["sigma_rel_error"] < 1e-8).nonzero()[0]) + 1
print(f"tan(theta_0) = {tan0:.2f}: k = {k_needed} steps guarantee it; measured: {k_reached}")
assert check["sigma_rel_error"][-1] < 1e-8

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 2: 15 cold steps, then 15 more, on a fresh 64 x 128 Gaussian matrix.
W_ex = torch.randn(m_drift, n_drift, generator=gen, dtype=dtype) / n_drift**0.5
exact_ex = torch.linalg.svdvals(W_ex)[0]
s15, u15, _ = power_iteration(W_ex, n_iterations=15, generator=gen)
s30, _, _ = power_iteration(W_ex, u15, n_iterations=15)
err15, err30 = float((exact_ex - s15) / exact_ex), float((exact_ex - s30) / exact_ex)
print(f"error after 15 steps {err15:.2e}, after 30 {err30:.2e}")
assert 0 <= err30 < err15

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution 3: v <- W^T W v from v_1 = W^T u0 / ||W^T u0|| matches Algorithm 1's v at every step.
v_alt = W.T @ u0 / (W.T @ u0).norm()
for k in range(2, 6):
    v_alt = W.T @ (W @ v_alt)
    v_alt = v_alt / v_alt.norm()
    _, _, v_alg = power_iteration(W, u0, n_iterations=k)
    torch.testing.assert_close(v_alt, v_alg)
print("v-only iteration on W^T W == Algorithm 1's v")

# %% [markdown]
# ## References
#
# - Golub and Van Loan (2013). *Matrix Computations*, 4th edition. Johns Hopkins University
#   Press. `golub2013matrix`
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`

# %% [markdown]
# ## What's next
#
# [Lesson 04](04_spectral_norm.ipynb) turns that estimate into the spectral normalization layer
# and reads its gradient.
