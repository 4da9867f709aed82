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
# # Test the spectral normalization layer beyond its definition
#
# Appendix to lessons [03](03_power_iteration.ipynb) and [04](04_spectral_norm.ipynb); lesson 04
# built $W/\sigma(W)$, proved the package layer equal to PyTorch's and read its gradient. Here:
# why one power-iteration step per update is enough (the warm start), what the layer does under
# bf16 autocast, `torch.compile` and a `state_dict` round trip, an exact check of the
# convolution's operator norm with the FFT, and what happens with no iteration at all.
#
# ## What you will learn
#
# 1. Measure how far the recycled estimate $u^\top W v$ lags $\sigma(W)$ during training, with
#    warm and cold starts, over learning rates $\alpha$ and iterations per update $k$.
# 2. Check that $\bar W$ and $\sigma$ stay float32 under bf16 autocast, that $u, v$ travel in
#    the `state_dict`, and that the training forward compiles as one graph.
# 3. Compute the operator norm of a circular convolution exactly with the FFT and compare it
#    with the power iteration of lesson 04.
#
# ## What you need
#
# Lesson 04. Under a minute on a 2-core CPU. No GPU.

# %%
import copy

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

from sngan_teach.explore import explore
from sngan_teach.models import StandardDiscriminator
from sngan_teach.power import angle, power_iteration
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn, conv_operator_norm, estimated_sigma, spectral_norm
from sngan_teach.spectra import layer_singular_values

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # seeds torch, numpy, random; gen for explicit draws
dtype = torch.float64  # exact comparisons are made in float64
d_in, d_out = 32, 64  # W in R^{d_out x d_in}, the linear layer of lesson 04
batch = 16  # N, mini-batch size of the toy training runs
lag_alphas = [1e-3, 3e-3, 1e-2]  # alpha, Adam learning rates of the interactive figure
lag_ks = [1, 2, 5]  # k, power iterations per update in the interactive figure
n_lag_steps = pick(quick=50, full=120)  # training steps per run of the interactive figure
n_fft_iters = pick(quick=60, full=200)  # power-iteration steps for the FFT comparison
m_drift, n_drift = 64, 128  # shape of the drifting W of section 0 (lesson 03's warm start)
n_steps = pick(quick=300, full=600)  # T, simulated SGD updates of W
lr = 2e-3  # step size of the simulated drift
beta1 = 0.5  # momentum of the simulated drift (Adam's beta1 in settings A-E)

# %% [markdown]
# ## 0. Warm start on a drifting $W$ (lesson 03, Step 4)
#
# A random Gaussian $W$ of shape $64\times128$ (a typical initial layer) has a small gap,
# $r = \sigma_2/\sigma_1$ above 0.9, so from a cold start one step is far off. But during
# training $W$ moves only a little per SGD update. The paper keeps $\tilde u$ from the previous
# update and does **one** step per update: over $T$ updates that adds up to $T$ steps on a
# slowly moving target.
#
# We simulate training with small momentum steps, $G_t = \beta_1 G_{t-1} + \xi_t + D$,
# $W_{t+1} = W_t + \text{lr}\, G_t$: Gaussian noise $\xi_t$ plus a persistent direction
# $D = ab^\top$ (unit $a, b$), like a feature the discriminator keeps learning. $D$ makes
# $\sigma_1$ grow and turns the top singular vector, so the target really moves. After each
# update we compare
# * **warm**: one step from the previous $u$ (what SN does);
# * **cold**: one step from a fresh random $u$ (what forgetting $u$ would do);
#
# against the exact $\sigma_1(W_t)$ from `svdvals`.

# %%
gen_drift = torch.Generator().manual_seed(seed + 1)  # its own stream: T differs by budget
W_t = torch.randn(m_drift, n_drift, generator=gen_drift, dtype=dtype) / n_drift**0.5
a_dir = torch.randn(m_drift, generator=gen_drift, dtype=dtype)
b_dir = torch.randn(n_drift, generator=gen_drift, dtype=dtype)
D = torch.outer(a_dir / a_dir.norm(), b_dir / b_dir.norm())  # persistent direction
s_start = torch.linalg.svdvals(W_t)
u1_start = torch.linalg.svd(W_t)[0][:, 0]
print(f"gap at the start: sigma_2 / sigma_1 = {s_start[1] / s_start[0]:.3f}")

G_t = torch.zeros_like(W_t)
u_warm = None
sigma_exact, sigma_warm, sigma_cold, step_size = [], [], [], []
for _t in tqdm(range(n_steps), desc="simulated SGD updates"):
    xi = torch.randn(m_drift, n_drift, generator=gen_drift, dtype=dtype) / n_drift**0.5
    G_t = beta1 * G_t + xi + D
    step_size.append(float((lr * G_t).norm() / W_t.norm()))
    W_t = W_t + lr * G_t
    s_w, u_warm, _ = power_iteration(W_t, u_warm, n_iterations=1, generator=gen_drift)
    s_c, _, _ = power_iteration(W_t, None, n_iterations=1, generator=gen_drift)
    sigma_exact.append(float(torch.linalg.svdvals(W_t)[0]))
    sigma_warm.append(float(s_w))
    sigma_cold.append(float(s_c))

u1_end = torch.linalg.svd(W_t)[0][:, 0]
sigma_exact = torch.tensor(sigma_exact)
err_warm = (sigma_exact - torch.tensor(sigma_warm)) / sigma_exact
err_cold = (sigma_exact - torch.tensor(sigma_cold)) / sigma_exact
tail = slice(2 * n_steps // 3, None)  # the last third of the run
turn = angle(u1_start, u1_end)
print(f"mean relative step ||lr G|| / ||W|| = {sum(step_size) / n_steps:.2e}")
print(
    f"sigma_1 moved from {sigma_exact[0]:.4f} to {sigma_exact[-1]:.4f}; u_1 turned {turn:.2f} rad"
)
print(
    f"last third: warm error max {err_warm[tail].max():.2e}, mean {err_warm[tail].mean():.2e}; "
    f"cold error min {err_cold[tail].min():.2e}, mean {err_cold[tail].mean():.2e}"
)
print(f"angle(warm u, u_1) at the end: {angle(u_warm, u1_end):.2e} rad")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ts = torch.arange(1, n_steps + 1)
ax1.plot(ts, sigma_exact, "k-", label="exact (svdvals)")
ax1.plot(ts, sigma_warm, "C0--", label="warm: 1 step, u kept")
ax1.plot(ts, sigma_cold, "C3.", ms=2, label="cold: 1 step, fresh u")
ax1.set_xlabel("SGD update t")
ax1.set_ylabel("sigma(W_t)")
ax1.set_title("Tracking sigma of a drifting W")
ax1.legend(fontsize=8)
ax2.semilogy(ts, err_warm.clamp_min(1e-16), "C0-", label="warm")
ax2.semilogy(ts, err_cold.clamp_min(1e-16), "C3.", ms=2, label="cold")
ax2.set_xlabel("SGD update t")
ax2.set_ylabel("relative error of sigma")
ax2.set_title("Error of the one-step estimate")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claim.** The start has a small gap ($r > 0.9$). $W$ really moves: $\sigma_1$ changes by more
# than 2% and $u_1$ turns by more than 0.5 rad. Yet after a burn-in the warm start tracks
# $\sigma_1$ to better than $1\%$ at every update of the last third (mean error below
# $0.2\%$) and its $u$ ends within 0.2 rad of the current $u_1$, while a cold start is off by
# more than $5\%$ at every update; on average the warm start is more than 50 times better.
# Early on the warm error was as bad as the cold one: its first step *is* a cold step.
# (The warm error is largest while the learned direction overtakes the initial top direction,
# when $u_1$ turns fastest; in the full run it then falls far lower.)

# %%
assert 0.9 < s_start[1] / s_start[0] < 1.0
assert abs(sigma_exact[-1] - sigma_exact[0]) / sigma_exact[0] > 0.02
assert turn > 0.5
assert err_warm[tail].max() < 1e-2
assert err_warm[tail].mean() < 2e-3
assert angle(u_warm, u1_end) < 0.2
assert err_cold[tail].min() > 5e-2
assert err_cold[tail].mean() > 50 * err_warm[tail].mean()
assert err_warm[0] > 5e-2
assert bool((err_warm > -1e-12).all())  # still never above sigma_1

# %% [markdown]
# ## 1. The warm start at work
#
# Lesson 04 trained an SN layer on a regression and saw the recycled one-step estimate stay
# within a few percent of $\sigma(W)$. The same layer $W$ and a random teacher to regress onto,
# and one start $u_0, v_0$ for every run (the registration warm-up's):

# %%
base = nn.Linear(d_in, d_out, dtype=dtype)
target = nn.Linear(d_in, d_out, dtype=dtype)  # a random teacher to regress onto
start = spectral_norm(copy.deepcopy(base), generator=torch.Generator().manual_seed(seed))
scratch_u0 = start.parametrizations.weight[0]._u.clone()
scratch_v0 = start.parametrizations.weight[0]._v.clone()

# %% [markdown]
# **Move the sliders.** The estimate stays close because $u, v$
# are recycled: each update starts the iteration from the previous update's vectors, which $W$
# has barely left. Here the same layer trains on the same regression with Adam's learning rate
# $\alpha$ and $k$ power iterations per update, once with the recycled vectors (warm start) and
# once with fresh random ones at every update (cold start). The curves are the relative error
# $(\sigma(W) - u^\top W v)/\sigma(W)$ of the value each update divides by.


# %%
def lag_run(alpha: float, k: int, warm: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative error of sigma_hat = u^T W v, and sigma_2 / sigma_1 of W, at every update of the
    regression above."""
    layer = spectral_norm(
        copy.deepcopy(base), n_power_iterations=k, generator=torch.Generator().manual_seed(seed)
    )
    sn_layer, W_train = layer.parametrizations.weight[0], layer.parametrizations.weight.original
    with torch.no_grad():  # the same start for every run
        sn_layer._u.copy_(scratch_u0)
        sn_layer._v.copy_(scratch_v0)
    data, fresh = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(layer.parameters(), lr=alpha)
    errors, gaps = [], []
    for _ in range(n_lag_steps):
        if not warm:  # cold start: forget u, v and start from a random vector
            v_random = torch.randn(d_in, generator=fresh, dtype=dtype)
            with torch.no_grad():
                sn_layer._v.copy_(F.normalize(v_random, dim=0))
        x = torch.randn(batch, d_in, generator=data, dtype=dtype)
        loss = F.mse_loss(layer(x), 0.5 * target(x).detach())
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            s_all = torch.linalg.svdvals(W_train)
            errors.append((s_all[0] - sn_layer._u @ W_train @ sn_layer._v) / s_all[0])
            gaps.append(s_all[1] / s_all[0])
        opt.step()
    return torch.stack(errors), torch.stack(gaps)


lag = {
    (a, k, warm): lag_run(a, k, warm)
    for a in tqdm(lag_alphas, desc="learning rates")
    for k in lag_ks
    for warm in (True, False)
}


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_lag`: the error of $u^\top W v$ at
# every training step of the warm and the cold start above.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_lag(alpha, k):
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for warm, style in [(True, "-"), (False, "--")]:
        err = lag[alpha, k, warm][0]
        label = f"{'warm' if warm else 'cold'} start, median {err.median():.1e}"
        ax.semilogy(err.clamp_min(1e-17), style, label=label)
    ax.set(xlabel="training step", ylabel="relative error of $u^T W v$", ylim=(1e-17, 3))
    ax.set_title(rf"$\alpha$ = {alpha:g}, k = {k} power iteration(s) per update")
    ax.legend(fontsize=8, loc="lower right")
    gaps = lag[alpha, k, True][1]
    caption = (
        f"alpha = {alpha:g}, k = {k}: sigma_2 / sigma_1 of W goes from {gaps[0]:.2f} "
        f"to {gaps[-1]:.2f} while it trains"
    )
    return fig, caption


explore(draw_lag, alpha=lag_alphas, k=lag_ks)

# %% [markdown]
# **Claims.** (a) At every $\alpha$ and $k$ the warm start's median error is more than a hundred
# times smaller than the cold start's. (b) With the warm start, more iterations per update
# shrink it further. (c) The learning rate matters less than one might expect, because it acts
# through the spectrum too: each iteration shrinks the error by about $(\sigma_2/\sigma_1)^2$,
# and this regression opens the gap while it trains ($\sigma_2/\sigma_1$ falls from above 0.9
# to below 0.7 at every $\alpha$), so the iteration catches up fast. Lesson 05 meets the
# opposite case, layers whose top singular values stay crowded, where one iteration per update
# lags by several percent.

# %%
median_lag = {key: err.median().item() for key, (err, _) in lag.items()}
for a in lag_alphas:
    for k in lag_ks:
        assert median_lag[a, k, True] < 0.01 * median_lag[a, k, False], (a, k)
        gaps = lag[a, k, True][1]
        assert gaps[0] > 0.9 and gaps[-1] < 0.7, (a, k, gaps[0], gaps[-1])
    warm_by_k = [median_lag[a, k, True] for k in lag_ks]
    assert all(x > y for x, y in zip(warm_by_k, warm_by_k[1:], strict=False)), (a, warm_by_k)
# %% [markdown]
# ## 2. bf16, `torch.compile` and the `state_dict`
#
# **Claims about the package layer** (`tests/test_sn.py` checks more). Under bf16 autocast the
# layer's matrix product runs in bf16, but $\bar W$ and $\sigma$ stay float32 and equal to the
# float32 computation; the `state_dict` carries $u$ and $v$, so a reloaded layer gives the same
# eval output; and `torch.compile` traces the training-mode forward, power iteration included,
# as one graph with no break.

# %%
layer32 = spectral_norm(nn.Linear(d_in, d_out)).eval()
x32 = torch.randn(batch, d_in, generator=gen)
W_bar32 = layer32.weight.detach()
with torch.autocast("cpu", dtype=torch.bfloat16):
    W_bar_autocast = layer32.weight
    y_autocast = layer32(x32)
assert y_autocast.dtype == torch.bfloat16 and W_bar_autocast.dtype == torch.float32
assert torch.equal(W_bar_autocast.detach(), W_bar32)
reloaded = spectral_norm(nn.Linear(d_in, d_out)).eval()
reloaded.load_state_dict(layer32.state_dict())
assert torch.equal(reloaded(x32), layer32(x32))
explanation = torch._dynamo.explain(copy.deepcopy(layer32).train())(x32)
assert explanation.graph_count == 1 and explanation.graph_break_count == 0, explanation
print(f"graphs: {explanation.graph_count}, graph breaks: {explanation.graph_break_count}")

# %% [markdown]
# ## 3. An exact check with the FFT
#
# The first convolution of the paper's CIFAR-10 discriminator (Table 3), with SN, as in lesson
# 04's Step 5.

# %%
seed_all(seed)
net_D = StandardDiscriminator()
spectral_norm(net_D.c0)

# %% [markdown]
# With *circular* padding a stride-1 convolution is diagonal
# in the 2-D Fourier basis: at each frequency $f$ it acts on the channel vector by a
# $d_{out}\times d_{in}$ matrix $\hat W(f)$ (the 2-D discrete Fourier transform of the kernel,
# zero-padded to the image size), and its operator norm is $\max_f \sigma(\hat W(f))$
# (Sedghi, Gupta and Long, ICLR 2019). We take the first layer's
# kernel with circular padding and compare with the power iteration.

# %%
circ = nn.Conv2d(3, 64, 3, 1, 1, bias=False, padding_mode="circular")
with torch.no_grad():
    circ.weight.copy_(net_D.c0.weight)
n_pix = 32
kernel = circ.weight.detach().double()  # d_out x d_in x 3 x 3
kernel_padded = torch.zeros(64, 3, n_pix, n_pix, dtype=dtype)
# cross-correlation = convolution with the flipped kernel
kernel_padded[:, :, :3, :3] = kernel.flip(-1, -2)
kernel_padded = kernel_padded.roll((-2, -2), dims=(-2, -1))  # centre the window on pixel (0, 0)
W_hat = torch.fft.fft2(kernel_padded).permute(2, 3, 0, 1)  # (n, n, d_out, d_in): W_hat(f)
op_fft = torch.linalg.matrix_norm(W_hat, ord=2).max().item()
op_power = conv_operator_norm(
    circ, (3, n_pix, n_pix), n_iterations=n_fft_iters, generator=torch.Generator().manual_seed(seed)
)
print(f"FFT: {op_fft:.5f}   power iteration ({n_fft_iters} steps): {op_power:.5f}")

# %% [markdown]
# **Claim.** The power iteration approaches the exact FFT value from below (within 1% after
# the iterations of this budget).

# %%
assert op_power <= op_fft * (1 + 1e-9)
assert op_power > 0.99 * op_fft, (op_power, op_fft)
# %% [markdown]
# ## 4. The paper's order, half a step apart
#
# Algorithm 1 stores $\tilde u$ and runs
# $v\leftarrow W^\top u$, then $u\leftarrow Wv$; PyTorch stores $v$ as well and runs
# $u\leftarrow Wv$, then $v\leftarrow W^\top u$. For a fixed $W$ both produce the alternating
# chain $u_0\to v_1\to u_1\to v_2\to\cdots$; started from the same $u_0$, the paper's step $k$
# returns $(u_k, v_k)$ and PyTorch's returns $(u_k, v_{k+1})$.

# %%
W = base.weight.detach()  # any W will do
u0 = F.normalize(torch.randn(d_out, generator=gen, dtype=dtype), dim=0)
u_paper, v_torch = u0, F.normalize(W.T @ u0, dim=0)  # PyTorch's state: v_1
for _ in range(5):
    v_paper = F.normalize(W.T @ u_paper, dim=0)  # Algorithm 1
    u_paper = F.normalize(W @ v_paper, dim=0)
    u_torch = F.normalize(W @ v_torch, dim=0)  # PyTorch's order
    v_next = F.normalize(W.T @ u_torch, dim=0)
    torch.testing.assert_close(u_torch, u_paper, rtol=0, atol=1e-12)  # the same u_k ...
    torch.testing.assert_close(v_torch, v_paper, rtol=0, atol=1e-12)  # ... and v_k
    v_torch = v_next
print("the two orders walk the same chain of vectors")
# %% [markdown]
# ## 5. The lag of a trained SN layer (lesson 05, Step 4)
#
# Lesson 05 trains a 4-layer discriminator on scikit-learn's 8×8 digits against a Gaussian with
# the digits' mean and covariance, with every method; here the SN one again, the same way:

# %%
digits = torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1  # 1797 x 64, in [-1, 1]
mu = digits.mean(0)
L_chol = torch.linalg.cholesky(torch.cov(digits.T) + 1e-3 * torch.eye(64))
width, batch_D = 128, 64  # hidden units of net_D; real and fake samples per D step
n_steps_D = pick(quick=400, full=1500)  # discriminator updates
n_catch_up = 200  # k, power iterations run on a frozen trained W


def sample_fake(n):
    return mu + torch.randn(n, 64, generator=gen) @ L_chol.T


def make_D():
    return nn.Sequential(
        nn.Linear(64, width), nn.LeakyReLU(0.1), nn.Linear(width, width), nn.LeakyReLU(0.1),
        nn.Linear(width, width), nn.LeakyReLU(0.1), nn.Linear(width, 1),
    )  # fmt: skip


torch.manual_seed(seed)
net_SN = add_sn(make_D())
opt_D = torch.optim.Adam(net_SN.parameters(), lr=1e-3, betas=(0.5, 0.999))
for _ in tqdm(range(n_steps_D), desc="training net_D (SN)"):
    x = digits[torch.randint(len(digits), (batch_D,), generator=gen)]
    loss_D = F.softplus(-net_SN(x)).mean() + F.softplus(net_SN(sample_fake(batch_D))).mean()
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
nets = {"SN": net_SN}
spectra = {"SN": layer_singular_values(net_SN)}
torch.manual_seed(seed)
spectra_init = layer_singular_values(make_D())  # the common start
hidden = ["0", "2", "4"]  # module names of the three hidden Linear layers in make_D

# %% [markdown]
# For SN, be precise about *which* number is 1. The layer divides by the estimate
# $\hat\sigma = u^\top W v$ of lesson 04, with $u, v$ carried over from update to update, not by
# $\sigma(W)$ itself. So the matrix it uses, $\bar W = W / \hat\sigma$, has
#
# $$\sigma(\bar W) = \frac{\sigma(W)}{\hat\sigma} \ge 1, \qquad\text{because}\qquad
#   \hat\sigma = u^\top W v \le \lVert u \rVert\, \sigma(W)\, \lVert v \rVert = \sigma(W)$$
#
# for unit $u, v$, with equality only when $u, v$ are the top singular vectors. Exact SN,
# $W / \sigma(W)$, has spectral norm 1 by definition; the layer reaches 1 plus the *lag* of its
# estimate. How large is that lag, and why? For each SN layer we print $\sigma(\bar W)$, the
# ratio $\sigma_2 / \sigma_1$ of $W$, the share $(v^\top v_1)^2$ of the stored $v$ that lies on
# the top right singular vector $v_1$, and how many more power iterations, run on the frozen
# $W$ from the stored vectors, bring $\sigma(W) / \hat\sigma$ within $10^{-3}$ of 1.

# %%
lag = {}
print(
    f"{'layer':>5} {'shape':>10} {'sigma(W_bar)':>12} {'s2/s1':>6} {'(v.v1)^2':>8} {'catch-up':>8}"
)
for name, s in spectra["SN"].items():
    layer = nets["SN"].get_submodule(name)
    W = layer.parametrizations.weight.original.detach().double()
    sigma_W = torch.linalg.matrix_norm(W, ord=2).item()
    sigma_hat = estimated_sigma(layer).item()
    # what layer_singular_values read is W / sigma_hat: sigma(W_bar) = sigma(W) / sigma_hat
    torch.testing.assert_close(s[0].item(), sigma_W / sigma_hat)
    _, S, Vh = torch.linalg.svd(W, full_matrices=False)
    v = layer.parametrizations.weight[0]._v.double()
    share_v1 = (Vh[0] @ v).item() ** 2
    n_needed = None  # power iterations until sigma(W) / (u^T W v) < 1 + 1e-3
    for n in range(1, n_catch_up + 1):
        u = F.normalize(W @ v, dim=0)
        v = F.normalize(W.T @ u, dim=0)
        if sigma_W / (u @ W @ v).item() < 1 + 1e-3:
            n_needed = n
            break
    gap = (S[1] / S[0]).item() if len(S) > 1 else float("nan")
    lag[name] = (s[0].item(), gap, share_v1, n_needed)
    print(
        f"{name:>5} {str(tuple(W.shape)):>10} {s[0].item():>12.4f} {gap:>6.3f} {share_v1:>8.2f} "
        f"{n_needed if n_needed is not None else '> ' + str(n_catch_up):>8}"
    )

# %% [markdown]
# **Claims.** (a) In every layer $\sigma(\bar W) \ge 1$: the estimate never overshoots. (b) The
# excess is the estimate's lag and nothing else: iterating further on the frozen $W$, the same
# vectors reach $\sigma(W)$ to $10^{-3}$, within the budget of iterations of the cell above.
# (c) The lag lives where the top of the spectrum is crowded. How much each layer lags at the
# end of training changes from run to run (another seed, or another machine, gives another
# trajectory): in some runs every hidden layer lags, in others one has just caught up. What
# holds in every run: at least one hidden layer lags by more than 1 %, and every hidden layer
# that lags that much has $\sigma_2 / \sigma_1 > 0.85$, a stored $v$ with at least 5 % of
# its weight off $v_1$, and needs at least three further iterations to catch up (one
# iteration per update cannot; for most of them it takes more than five). (Over seeds 0 to 4
# and two kernel paths the lagging layers had
# $\sigma_2/\sigma_1$ from 0.87 to 0.98 and 7 % to 78 % of $v$ off $v_1$.) With
# $\sigma_2 / \sigma_1$ close to 1, one iteration shrinks
# $v$'s component along $v_2$ relative to $v_1$ only by the factor $(\sigma_2/\sigma_1)^2$,
# close to 1, so the stored $v$ stays a blend of several top directions. The $1 \times 128$
# output layer has a single direction, and there the estimate is exact to $10^{-3}$.

# %%
for name, (sigma_bar, _, _, n_needed) in lag.items():
    assert sigma_bar >= 1 - 1e-5, (name, sigma_bar)
    assert n_needed is not None, name
lagging = [name for name in hidden if lag[name][0] > 1.01]
print("hidden layers lagging by more than 1 %:", lagging)
assert lagging
for name in lagging:
    sigma_bar, gap, share_v1, n_needed = lag[name]
    assert gap > 0.85 and share_v1 < 0.95 and n_needed >= 3, (name, lag[name])
assert lag["6"][0] < 1 + 1e-3 and lag["6"][3] == 1, lag["6"]

# %% [markdown]
# ## Summary
#
# - Recycling $u, v$ is what makes one iteration per update enough: a warm start's error is
#   more than a hundred times a cold start's, and more iterations per update shrink it further.
# - Under bf16 autocast $\bar W$ and $\sigma$ stay float32; $u, v$ live in the `state_dict`; the
#   training forward, power iteration included, compiles as one graph.
# - For a circular stride-1 convolution the FFT gives the operator norm exactly, and the power
#   iteration of `conv_operator_norm` approaches it from below.
# - A trained SN layer ends with $\sigma(\bar W) \ge 1$, and the excess is the lag of its
#   estimate, largest where the top of the spectrum is crowded ($\sigma_2/\sigma_1 > 0.85$).
#
# ## Exercises
#
# **1. SN with $K\neq 1$.** Make a layer whose weight has spectral norm $K = 2$ instead of 1,
# by adding a second parametrization after SN, and check that $\sigma(\bar W) = K$ and that the
# layer's output is exactly $K$ times that of plain SN. Does it matter for a GAN? (Hint: the
# hinge loss has a margin of 1.)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
class Scale(nn.Module):
    def __init__(self, K: float) -> None:
        super().__init__()
        self.K = K

    def forward(self, W: torch.Tensor) -> torch.Tensor:
        return self.K * W


K = 2.0
plain = spectral_norm(nn.Linear(d_in, d_out, dtype=dtype), n_power_iterations=50).eval()
scaled = copy.deepcopy(plain)  # eval first: registering reads the weight once
parametrize.register_parametrization(scaled, "weight", Scale(K))
sigma_K = torch.linalg.matrix_norm(scaled.weight.detach(), ord=2).item()
sigma_1 = torch.linalg.matrix_norm(plain.weight.detach(), ord=2).item()
x = torch.randn(batch, d_in, generator=gen, dtype=dtype)
output_gap = ((scaled(x) - scaled.bias) - K * (plain(x) - plain.bias)).abs().max().item()
print(f"sigma of the K-scaled weight: {sigma_K:.6f} (K sigma_1 = {K * sigma_1:.6f}); output")
print(f"minus K times plain SN's (bias aside): at most {output_gap:.1e}")
# sigma_K is K up to the registration warm-up's lag (below 10 %, as in lesson 04's Step 1)
assert K - 1e-9 <= sigma_K < K / (1 - 0.1), sigma_K
# With a whole network, K per layer multiplies D by K^L. For the hinge loss, whose margin is 1,
# that is the same as changing the margin (and the learning rate): it is not a free choice.


# %% [markdown]
# **2. Zero power iterations per step.** What happens if $u, v$ are never updated after the
# warm-up (the parametrization kept in eval mode while the layer trains)? Train the same layer
# on a regression whose teacher has gain 2 (so the optimizer keeps trying to grow $W$), with
# 0, 1 and 5 iterations per step, on five teachers, and compare the true $\sigma(\bar W)$ at
# the end.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
n_ex = pick(quick=40, full=200)
n_runs = 5  # one run is one draw: compare the three settings on five teachers and data streams
results = {0: [], 1: [], 5: []}
for run in range(n_runs):
    torch.manual_seed(seed + run)
    teacher = nn.Linear(d_in, d_out, dtype=dtype)
    for n_iter_per_step in results:
        torch.manual_seed(seed + run)
        layer = spectral_norm(
            nn.Linear(d_in, d_out, dtype=dtype), n_power_iterations=max(1, n_iter_per_step)
        )
        if n_iter_per_step == 0:
            layer.parametrizations.weight.eval()  # u, v frozen: 0 iterations per step
        opt = torch.optim.Adam(layer.parameters(), lr=0.01)
        data = torch.Generator().manual_seed(seed + run)  # the same batches for the three
        for _ in range(n_ex):
            x = torch.randn(batch, d_in, generator=data, dtype=dtype)
            loss = F.mse_loss(layer(x), 2 * teacher(x).detach())
            opt.zero_grad()
            loss.backward()
            opt.step()
        layer.parametrizations.weight.eval()
        results[n_iter_per_step].append(
            torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
        )
for k, values in results.items():
    print(f"{k} iteration(s) per step: sigma(W_bar) = {', '.join(f'{v:.3f}' for v in values)}")
# With frozen u, v, sigma = u^T W v measures W along one stale direction only; the optimizer
# grows W in the others, and the "normalized" weight ends far above spectral norm 1. One step
# per update keeps it much closer to 1; it still lags here because the teacher pushes every
# singular value up at once, which closes the gap sigma_1 - sigma_2 that power iteration feeds
# on (lesson 03); more iterations per step help, slowly: on average, not in every run (over
# seeds 0 to 9, one run in twenty ended higher with 5 than with 1).
mean = {k: sum(v) / n_runs for k, v in results.items()}
assert min(results[0]) > 2.0, results
assert all(r0 > r1 + 0.5 for r0, r1 in zip(results[0], results[1], strict=True)), results
assert max(results[1] + results[5]) < 1.4 and mean[5] < mean[1], results

# %% [markdown]
# **3. Count the SN budget.** (Lesson 05.) Under SN, what are the smallest and largest possible
# values of $\sum_t \sigma_t(\bar W_{SN})^2$ for a $d_o \times d_i$ matrix? Check your answer on
# the trained SN network.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: sigma_1 = 1 and 0 <= sigma_t <= 1 for t >= 2, so 1 <= sum sigma_t^2 <= min(d_o, d_i):
# anywhere from rank one to an orthonormal matrix. SN does not fix the budget; it caps each
# direction at 1. Read with the exact sigma_1 (s / s[0], exact SN), the trained layers sit well
# inside that range, and training has moved them from where they started.
budgets = {}
for name in hidden:
    s_exact = spectra["SN"][name] / spectra["SN"][name][0]  # W / sigma(W): exact SN
    s_start = spectra_init[name] / spectra_init[name][0]
    budgets[name] = (s_exact.pow(2).sum().item(), s_start.pow(2).sum().item())
    print(
        f"layer {name}: sum sigma^2 = {budgets[name][0]:.1f} (range [1, {len(s_exact)}]), "
        f"at the start {budgets[name][1]:.1f}"
    )
for name, (budget, _) in budgets.items():
    assert 1.5 < budget < 0.9 * len(spectra["SN"][name]), (name, budget)  # neither end
# not fixed: training moved it by more than 20 % in some layer (WN's cannot move at all)
assert max(abs(b - b0) / b0 for b, b0 in budgets.values()) > 0.2, budgets

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Sedghi, Gupta and Long (2019). *The Singular Values of Convolutional Layers*. ICLR.
#   `sedghi2019singular`
#
# Back to [lesson 04](04_spectral_norm.ipynb), or on to [lesson 05](05_weight_norm.ipynb).
