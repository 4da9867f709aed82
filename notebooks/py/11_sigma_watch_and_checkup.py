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
# # Watch singular values as an early warning and give any network a check-up
#
# BigGAN (Brock et al., 2019, §4) logged the largest singular value of every layer during
# training and saw it explode when training collapses, which invites using it as an early
# warning. This lesson tests that alarm on the class-conditional digit GANs of
# [lesson 10](10_beyond_the_paper.ipynb), and ends with a check-up you can run on any PyTorch
# network.
#
# ## What you will learn
#
# 1. Log $\sigma_0$, the largest singular value of every layer of $G$ and $D$, during training
#    cheaply, and check the tracker against the SVD.
# 2. Test on stored runs, two of them pushed far past a sensible learning rate, whether the
#    jumps of $\sigma_0$ come before the drops in quality more often than chance.
# 3. Run `checkup(model, example_input)` on any network: per layer the reshaped-matrix
#    $\sigma$, the true operator norm of a convolution, SN or not, the effective rank; for the
#    network the product bound and a lower bound from Jacobians.
#
# ## What you need
#
# Lesson 10 (the conditional GAN and its stored runs), and lessons 02 (product bound), 03
# (power iteration), 04 (a convolution's operator norm) and 05 (effective rank). No GPU. Full
# mode retrains lesson 10's conditional GAN live (1500 generator updates, well under a minute
# of CPU time) to have a trained network to watch and check; the stored runs were made by
# `experiments/beyond.py`, and the lesson reads the files it wrote.

# %%
import copy
import math
import time

import matplotlib.pyplot as plt
import torch
import torchvision
from torch import nn

from experiments import beyond  # the script that made the stored runs: their settings and sizes
from sngan_teach.checkup import checkup, format_checkup
from sngan_teach.conditional import (
    make_cond_pair,
    top_sigmas,
    train_conditional,
)
from sngan_teach.digits import load_digits_split
from sngan_teach.explore import explore
from sngan_teach.lipschitz import conv_unfold_factor
from sngan_teach.models import build_models
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for the random draws of this notebook
torch.set_num_threads(1)  # as the stored runs ran: small networks are fastest on one thread
n_steps = pick(quick=150, full=beyond.STEPS)  # generator updates of the live run
setting = beyond.STABLE  # alpha, beta1, beta2 of Adam and n_dis = 1 (hinge loss)
sizes = beyond.SIZES  # z_dim (size of z), ch_G, ch_D (channel widths of G and D)
log_every = beyond.LOG_EVERY  # generator updates between two measurements
n_eval = beyond.N_EVAL  # samples scored at each measurement, balanced over the 10 classes
runs_csv, sigma_csv, spectra_csv, grids = beyond.stored()  # what beyond.MADE_BY wrote
show_grid = beyond.show_grid  # draws a 10 x 10 grid of samples, one row per requested digit

last_step = max(r["step"] for r in runs_csv)
print(
    f"stored: {len(runs_csv)} measurements of {len({(r['run'], r['seed']) for r in runs_csv})}"
    f" runs, {last_step:.0f} updates each"
)

# %% [markdown]
#
# %% [markdown]
# ## Step 1: a trained discriminator to watch
#
# The live run of lesson 10, Step 3: the stored run `projection` from this lesson's seed, with
# SN on every layer of $D$ (the class embedding included). Every `log_every` updates it logs
# $\sigma_0$ of every layer of $G$ and $D$ (Step 2 explains how, cheaply). Before training we
# note $D$'s largest input gradient and its bound (lesson 10, Step 2) at initialization, for
# Step 3.

# %%
net_G, net_D = make_cond_pair("projection", sn_D=True, sn_G=False, seed=seed, **sizes)
x_train, y_train, x_held, y_held = load_digits_split()
x, y = x_train[:32], y_train[:32]
x_req = x.clone().requires_grad_(True)
(grad_init,) = torch.autograd.grad(net_D.eval()(x_req, y).sum(), x_req)
grad_init = float(grad_init.flatten(1).norm(dim=1).max())  # largest ||grad_x D(x, y)||
bound_init = checkup(net_D, (x, y))["product_bound"] * 2  # sigma(psi) + ||e_y|| <= 2
net_D.train()
live_sigmas, sigma_vectors = [], {"G": {}, "D": {}}


def measure(step: int, history: list) -> None:
    for name, net in (("G", net_G), ("D", net_D)):
        for layer, sigma in top_sigmas(net, sigma_vectors[name]).items():
            live_sigmas.append({"step": step, "net": name, "layer": layer, "sigma": sigma})


t0 = time.perf_counter()
train_conditional(
    net_G, net_D, n_steps, setting=setting, seed=seed, batch_size=beyond.BATCH_SIZE,
    log_every=log_every, callback=measure, progress=True,
)  # fmt: skip
print(f"{n_steps} updates in {time.perf_counter() - t0:.0f} s")


def first_half_right(run: str, seed_: int) -> float:
    """The first logged update at which a stored run draws the requested digit half the time."""
    return next(
        r["step"]
        for r in runs_csv
        if r["run"] == run and r["seed"] == seed_ and r["class_acc"] >= 0.5
    )


# %% [markdown]
# ## Step 2: singular values as an early warning
#
# BigGAN's authors watched $\sigma_0$, the largest singular value of each layer's (unnormalized)
# weight, during training: in a few of $G$'s layers it grows throughout training and explodes
# when training collapses, and $D$'s grow noisier and jump at the collapse. Can a learner use
# it as an alarm? Two things are needed: a cheap $\sigma_0$, and runs that collapse.
#
# **Cheap $\sigma_0$.** An SN layer already holds it: its stored $u, v$ give
# $\sigma = u^\top W v$ at no cost (lesson 04's `estimated_sigma`). For any other layer
# `top_sigmas` keeps a vector $v$ per layer between calls and runs *one* power-iteration step
# per call, $u = Wv/\lVert Wv\rVert$, $\sigma = \lVert W^\top u\rVert$,
# $v \leftarrow W^\top u/\sigma$: since $W$ moves little between two calls, one step per call
# keeps up, as SN's own iteration does (lesson 03). Checked against the SVD at the end of every
# stored run, for each layer without SN, and on the live run's generator:


# %%
def tracking_errors(pushed: bool) -> list[float]:
    """(tracked - SVD) / SVD at the last update, for every layer without SN of the stored
    runs with (or without) the pushed learning rate."""
    tracked = {
        (r["run"], r["seed"], r["net"], r["layer"]): r["sigma"]
        for r in sigma_csv
        if r["step"] == last_step
    }
    errors = []
    for r in spectra_csv:
        spec = beyond.RUNS[r["run"]]
        has_sn = spec["sn_G"] if r["net"] == "G" else spec["sn_D"]
        if has_sn or (spec["setting"] is beyond.PUSHED) != pushed:
            continue
        errors.append(tracked[(r["run"], r["seed"], r["net"], r["layer"])] / r["sigma"] - 1)
    return errors


stable_err, pushed_err = tracking_errors(False), tracking_errors(True)
print(
    f"stable rate: {len(stable_err)} layers, tracked sigma_0 within "
    f"[{min(stable_err):+.2%}, {max(stable_err):+.2%}] of the SVD value"
)
print(
    f"pushed rate: {len(pushed_err)} layers, within [{min(pushed_err):+.2%}, "
    f"{max(pushed_err):+.2%}]"
)
exact_live = {
    name: torch.linalg.matrix_norm(
        m.weight.detach()
        .double()
        .movedim(1 if isinstance(m, nn.ConvTranspose2d) else 0, 0)
        .flatten(1),
        ord=2,
    ).item()
    for name, m in net_G.named_modules()
    if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)
}
tracked_live = {
    r["layer"]: r["sigma"] for r in live_sigmas if r["net"] == "G" and r["step"] == n_steps
}
print("live run, G:", {k: f"{tracked_live[k]:.4f} vs SVD {v:.4f}" for k, v in exact_live.items()})

# %% [markdown]
# **Claims.** (1) One step of power iteration from a unit vector never overestimates:
# $\lVert W^\top u\rVert \le \sigma_0$ for a unit $u$, in every stored layer and in the live
# run (up to the 6 digits the files keep). (2) At the end of the stored runs the tracker is
# within 1 % of the SVD in at least 90 % of the layers; the worst lags by about a tenth (the
# smallest ratio printed). Lesson 03 gives the reasons it can lag: power iteration converges
# slowly when the top two singular values are close, and a weight that keeps moving gives it
# no time to catch up.

# %%
errors_all = stable_err + pushed_err
assert max(errors_all) <= 1e-5
assert all(tracked_live[k] <= v * (1 + 1e-6) for k, v in exact_live.items())
within = sum(abs(e) <= 0.01 for e in errors_all) / len(errors_all)
print(f"{within:.0%} of the {len(errors_all)} stored layers within 1 %")
assert within >= 0.9

# %% [markdown]
# **Your turn.** Write `sigma0_step(W, v)`: the tracker's estimate after one power-iteration
# step from the stored unit vector $v$, $u = Wv/\lVert Wv\rVert$ and $\sigma_0 \approx \lVert
# W^\top u\rVert$, as a 0-d tensor, for a 2-D `W` of any shape. The next cell checks it on
# matrices it draws itself and names a known mistake; `exercises.sigma0_step.hint()` gives a
# hint, and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def sigma0_step(W, v):
    """One step from v: u = W v / ||W v||, then sigma = ||W^T u||."""
    ...  # your code here


# %%
accepted = exercises.sigma0_step.check(sigma0_step)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: normalise u before the second product; sigma is the norm, not its square.
def sigma0_step_solution(W, v):
    u = W @ v
    return (W.T @ (u / u.norm())).norm()


assert exercises.sigma0_step.check(sigma0_step_solution) is True

# %% [markdown]
# **Runs that collapse.** The stored runs include two pushed far past a sensible learning rate:
# $\alpha = 0.05$, 50 times the stable one, without SN (`pushed_noSN`) and with SN on $D$
# (`pushed_SN`). Scrub through training: left, $\sigma_0$ of every layer of $G$ (solid) and $D$
# (dashed); middle, digits IS; right, the samples at that step (row = requested digit).


# %%
def sigma_traces(run: str, seed_: int) -> dict[tuple[str, str], tuple[list, list]]:
    out: dict = {}
    for r in sigma_csv:
        if r["run"] == run and r["seed"] == seed_:
            steps_, values = out.setdefault((r["net"], r["layer"]), ([], []))
            steps_.append(r["step"])
            values.append(r["sigma"])
    return out


def quality(run: str, seed_: int, key: str = "digits_is") -> tuple[list, list]:
    rows = [r for r in runs_csv if r["run"] == run and r["seed"] == seed_]
    return [r["step"] for r in rows], [r[key] for r in rows]


trace_runs = {
    "projection": "stable: SN in D, alpha 1e-3",
    "pushed_noSN": "pushed: no SN, alpha 0.05",
}
traces = {run: sigma_traces(run, 0) for run in trace_runs}
stored_steps = sorted(int(k.split("/")[1]) for k in grids.files if k.startswith("pushed_noSN/"))
grid_steps = stored_steps[::2]  # every 200 updates: 8 steps x 2 runs = 16 frames


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw`: $\sigma_0$ of every layer, digits
# IS and losses, and the samples, at the chosen step of the chosen run.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw(step: int, run: str):
    fig, axes = plt.subplots(
        1, 3, figsize=(9, 3.2), layout="constrained", gridspec_kw={"width_ratios": [1.3, 1, 0.8]}
    )
    for (net, layer), (steps_, values) in traces[run].items():
        axes[0].plot(steps_, values, "-" if net == "G" else "--", lw=1, label=f"{net}.{layer}")
    axes[0].axvline(step, color="k", lw=0.8)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("generator update")
    axes[0].set_ylabel(r"$\sigma_0$ of the raw weight")
    axes[0].set_title(r"$\sigma_0$ per layer (G solid, D dashed)", fontsize=9)
    axes[0].legend(fontsize=5, ncol=2)
    steps_, is_ = quality(run, 0)
    axes[1].plot(steps_, is_, color="C3", label="digits IS")
    axes[1].axvline(step, color="k", lw=0.8)
    axes[1].set_xlabel("generator update")
    axes[1].set_ylabel("digits IS")
    axes[1].set_ylim(1, 10)
    axes[1].set_title("quality and losses", fontsize=9)
    twin = axes[1].twinx()
    for key, color in (("loss_D", "C0"), ("loss_G", "C2")):
        twin.plot(*quality(run, 0, key), color=color, lw=0.8, label=key)
    twin.set_ylabel("loss (hinge)")
    lines = axes[1].get_lines()[:1] + twin.get_lines()
    axes[1].legend(lines, [ln.get_label() for ln in lines], fontsize=6, loc="lower right")
    show_grid(axes[2], grids[f"{run}/{step}"], f"samples at update {step}")
    axes[2].set_ylabel("requested digit")
    fig.suptitle(f"{trace_runs[run]} (seed 0)", fontsize=10)
    score = dict(zip(steps_, is_, strict=True))[step]
    return fig, f"{trace_runs[run]}: update {step}, digits IS {score:.2f}"


explore(draw, step=grid_steps, run=list(trace_runs))

# %% [markdown]
# **Reading the traces with numbers.** We fix the definitions first, then count on all
# seeds of the runs that trained with SN off or with the pushed rate:
#
# - a *drop* is a measurement whose digits IS is at least 2 below the best IS the run had
#   reached so far, once that best is at least 5 (a run that had learned digits and lost them);
# - a *jump* is a measurement where some layer's $\sigma_0$ rose by at least 25 % since the
#   previous measurement (50 updates earlier), counted from update 200 on (before that every
#   layer grows fast from its initialization);
# - a drop is *warned* when a jump happened in the 100 updates before it (the drop's own
#   measurement included).

# %%
DROP, BEST, JUMP, BURN_IN, WINDOW = 2.0, 5.0, 0.25, 200, 100  # thresholds stated above


def drops(run: str, seed_: int) -> list[int]:
    steps_, is_ = quality(run, seed_)
    out, best = [], 0.0
    for step, value in zip(steps_, is_, strict=True):
        if best >= BEST and value <= best - DROP and (not out or out[-1] < step - log_every):
            out.append(int(step))
        best = max(best, value)
    return out


def jumps(run: str, seed_: int, jump: float = JUMP) -> list[int]:
    found = set()
    for steps_, values in sigma_traces(run, seed_).values():
        for i in range(1, len(steps_)):
            if steps_[i] >= BURN_IN and values[i] >= (1 + jump) * values[i - 1]:
                found.add(int(steps_[i]))
    return sorted(found)


watch = ["projection", "projection_noSN", "pushed_noSN", "pushed_SN"]
events = {(run, s): (drops(run, s), jumps(run, s)) for run in watch for s in range(beyond.SEEDS)}
for (run, s), (d, j) in events.items():
    warned = [t for t in d if any(t - WINDOW <= u <= t for u in j)]
    print(
        f"{run:16s} seed {s}: drops at {d or '-'}; sigma jumps at {j or '-'}; "
        f"warned drops {len(warned)}/{len(d)}"
    )

# %% [markdown]
# Is a warned drop more than luck? Jumps are frequent in some runs, so a drop may have one in
# its window by chance. For each drop, the chance is the share of *all* measurements of its
# run (from update 200 on) that have a jump in the 100 updates before them. If the alarm were
# no better than that, the number of warned drops would be a sum of independent coin flips
# with those chances, and we can compute how likely it is to see at least as many warned
# drops as we did.


# %%
def warned(step: float, jump_steps: list[int]) -> bool:
    return any(step - WINDOW <= u <= step for u in jump_steps)


def chance_of_at_least(k: int, probs: list[float]) -> float:
    """P(X >= k) for X a sum of independent Bernoulli(p) draws, one p per entry."""
    dist = [1.0]  # dist[i] = P(X = i) so far
    for p in probs:
        dist = [
            (dist[i] if i < len(dist) else 0.0) * (1 - p) + (dist[i - 1] * p if i else 0.0)
            for i in range(len(dist) + 1)
        ]
    return sum(dist[k:])


share, chances, n_warned_all = {}, [], 0
for run in watch:
    n_drops = n_drops_warned = 0
    for s in range(beyond.SEEDS):
        d, j = events[(run, s)]
        steps_ = [t for t in quality(run, s)[0] if t >= BURN_IN]
        base = sum(warned(t, j) for t in steps_) / len(steps_)
        chances += [base] * len(d)
        n_drops += len(d)
        n_drops_warned += sum(warned(t, j) for t in d)
    share[run] = (n_drops_warned, n_drops)
    n_warned_all += n_drops_warned
p_value = chance_of_at_least(n_warned_all, chances)
print({run: f"{w}/{n} drops warned" for run, (w, n) in share.items()})
print(
    f"all runs: {n_warned_all} of {len(chances)} drops warned; by chance alone "
    f"{sum(chances):.1f} expected, and at least {n_warned_all} with probability {p_value:.2f}"
)
g_jumps = [
    (run, s, int(t))
    for (run, s) in events
    for (net, _), (steps_, values) in sigma_traces(run, s).items()
    if net == "G"
    for i, t in enumerate(steps_)
    if i and t >= BURN_IN and values[i] >= (1 + JUMP) * values[i - 1]
]
print(
    "pushed runs, jumps of a layer of G (run, seed, update):",
    sorted(g for g in g_jumps if g[0].startswith("pushed")),
)
final_is = {(run, s): quality(run, s)[1] for run in ("pushed_noSN", "pushed_SN") for s in range(3)}
print(
    "pushed runs, final / best digits IS:",
    {k: f"{v[-1]:.1f} / {max(v):.1f}" for k, v in final_is.items()},
)

# %% [markdown]
# **What these runs show, honestly.**
#
# 1. At the stable rate, with or without SN, drops are rare, and every $\sigma_0$ jump comes
#    while the digits are still forming, before half the samples show the requested digit
#    (Step 4's onset), never later.
# 2. Pushed 50-fold, the runs wobble: quality drops and recovers, with and without SN, but
#    none collapses for good: no loss turned NaN and every run ends above half of the best
#    digits IS it reached.
# 3. Few drops had a jump just before them, about as many as chance alone would give (the
#    probability printed above is far from small): on these runs a jump of $\sigma_0$ says
#    no more about a coming drop than a coin would. With SN on $D$ at the pushed rate not
#    one drop was warned.
# 4. In the pushed runs $G$'s layers (BigGAN watched both networks and saw $G$'s explode) jump
#    only in the first 300 updates, as the weights grow from their initialization; every later
#    jump is $D$'s.
#
# So on these small runs the early warning does not work. That is not a test of BigGAN's
# finding: their collapse is a sudden, permanent failure of large models trained with batches
# of 2048, which our pushed runs never reach; what fails here is using $\sigma_0$ jumps as an
# alarm for the ups and downs of a small, unstable run. With three seeds per run and a handful
# of drops, the counts themselves are noisy; what the numbers above allow is only "no
# evidence of a warning". Exercise 2 tries a stricter alarm.

# %%
for run in ("projection", "projection_noSN"):
    for s in range(beyond.SEEDS):
        assert all(t < first_half_right(run, s) for t in events[(run, s)][1]), (run, s)
assert all(len(quality(run, s)[0]) == len(quality("projection", 0)[0]) for run, s in final_is)
assert all(v[-1] >= 0.5 * max(v) for v in final_is.values())
assert len(chances) >= 5 and p_value > 0.05  # no evidence that the alarm beats chance
assert share["pushed_SN"][1] >= 3 and share["pushed_SN"][0] == 0
assert all(t <= 300 for run, _, t in g_jumps if run.startswith("pushed"))

# %% [markdown]
# ## Step 3: a check-up for any network
#
# Everything above read one number per layer. `sngan_teach.checkup.checkup(model,
# example_input)` gathers, for any PyTorch module, what lessons 02–05 computed one at a time.
# One forward on the example input (in eval mode, so no power-iteration step runs) records the
# input shape of each layer; then per Linear and convolution:
#
# - **sigma**: the largest singular value of the weight *as the forward uses it*, reshaped to
#   the $d_\text{out} \times (d_\text{in} k_h k_w)$ matrix SN divides by; about 1 for an SN
#   layer;
# - **op_norm**: the layer's true operator norm $\max \lVert A x\rVert / \lVert x\rVert$ on
#   that input shape, by power iteration on $A^\top A$ (lesson 04); for a Linear it is sigma;
#   for a convolution it differs from sigma (the paper's footnote 3), and is at most sigma
#   times lesson 02's unfold factor ($\sqrt{k_h k_w}$ for stride 1);
# - **SN**: whether the weight is spectrally normalized (this package's layer or either of
#   PyTorch's);
# - **eff_rank**: the effective rank of the singular values (lesson 05);
#
# and for the network: the **product** of the operator norms, an upper bound on its Lipschitz
# constant *if* it is a plain chain with 1-Lipschitz activations (no batch norm, no skips), and
# a **lower bound** that holds for any network, the largest spectral norm of its Jacobian at
# the example inputs. First on the discriminator we just trained, with $(x, y)$ as its input:

# %%
report_D = checkup(net_D, (x_held[:64], y_held[:64]))
print(format_checkup(report_D))

# %% [markdown]
# Every layer is normalized, and sigma is at least 1: the layer divides by the estimate
# $\hat\sigma = u^\top W v \le \sigma(W)$, so $\sigma(W / \hat\sigma) \ge 1$. It is not
# exactly 1, and how far above 1 it sits depends on the run (another seed or another machine
# gives another excess): one power-iteration step per update lags the moving weight (the
# paper's Fig. 9, read in lesson 05 and appendix A6). That the excess is this lag and nothing
# else is checked by letting the estimate catch up: on a copy of $D$, 200 more training-mode
# forwards with the weights frozen run 200 more power-iteration steps, and every layer's sigma
# comes to 1 within $10^{-3}$. The operator norms of the convolutions are not 1: SN
# normalizes the reshaped matrix, and a convolution that reuses its kernel at every position
# can stretch an image more than that, up to the unfold factor. For this projection
# $D$ the bound of lesson 10, Step 2 is the product of the conv operator norms times
# $\sigma(w_\psi) + \max_y\lVert e_y\rVert \le 2$.

# %%
convs = [row for row in report_D["layers"] if row["kind"] == "Conv2d"]
caught_up = copy.deepcopy(net_D).train()
with torch.no_grad():
    for _ in range(200):  # each training-mode forward runs one power-iteration step per layer
        caught_up(x_held[:8], y_held[:8])
report_caught_up = checkup(caught_up, (x_held[:64], y_held[:64]))
print("sigma after the run:", [round(row["sigma"], 4) for row in report_D["layers"]])
print("after 200 more steps:", [round(row["sigma"], 4) for row in report_caught_up["layers"]])
assert all(row["sn"] for row in report_D["layers"])
assert all(row["sigma"] >= 1 - 1e-5 for row in report_D["layers"])
assert all(abs(row["sigma"] - 1) < 1e-3 for row in report_caught_up["layers"])
bound_D = math.prod(row["op_norm"] for row in convs) * 2
print(f"lower bound {report_D['lower_bound']:.3f} <= Step 2's upper bound {bound_D:.3f}")
assert report_D["lower_bound"] <= bound_D

# %% [markdown]
# Lesson 09's CIFAR-10 discriminators, with SN added as in the paper, on a batch of random
# 32×32 images (the check-up needs shapes, not data), and a torchvision ResNet-18 with random
# weights (no download), as an example of a network nobody normalized:

# %%
_, standard_D = build_models("standard")
_, resnet_D = build_models("resnet")
add_sn(standard_D)
add_sn(resnet_D)
images = torch.randn(4, 3, 32, 32, generator=gen)
report_std = checkup(standard_D, images)
report_res = checkup(resnet_D, images)
report_tv = checkup(
    torchvision.models.resnet18(weights=None),
    torch.randn(2, 3, 64, 64, generator=gen),
    n_iterations=20,
)
print("standard CNN discriminator (Table 3) with SN:\n" + format_checkup(report_std))
print("\nResNet-18 of torchvision, untrained, no SN:\n" + format_checkup(report_tv))
print(
    f"\nResNet discriminator (Table 4) with SN: {len(report_res['layers'])} layers, all SN: "
    f"{all(r['sn'] for r in report_res['layers'])}; product {report_res['product_bound']:.3g},"
    f" lower bound {report_res['lower_bound']:.3g}"
)

# %% [markdown]
# **Reading the three reports.**
#
# - In both SN discriminators every layer says *SN yes* and sigma at least 1 (the untrained
#   one, whose estimate had 15 warm-up steps and no moving weight to chase, within 0.1 of 1),
#   while the convolutions' operator norms are spread out, the first one above 2 in both: SN
#   controls the reshaped matrix, not the map the convolution applies to images.
# - The standard CNN discriminator is a plain chain with leaky ReLU, so its product is an upper
#   bound; untrained, its Jacobian at random images is thousands of times below it. Training
#   moves a discriminator towards its bound: our projection $D$ had a largest gradient of
#   under 1 % of its bound at initialization (the same $D$ before training, Step 1) and
#   several percent after training (the first report of this step).
# - The torchvision ResNet-18 has no SN, batch norm and skip connections: its "product" is
#   more than ten thousand times its Jacobian lower bound, and it is not a bound at all,
#   because batch norm rescales and each skip adds a path. The same holds for the ResNet
#   discriminator of lesson 09 (skips, average pooling): read its product as a number, not a
#   guarantee; the lower bound stays valid for any network.

# %%
for report, net in ((report_D, net_D), (report_std, standard_D)):
    conv_rows = [r for r in report["layers"] if r["kind"] == "Conv2d"]
    modules = dict(net.named_modules())
    assert all(r["sigma"] >= 1 - 1e-5 for r in report["layers"])  # sigma_hat <= sigma(W)
    assert conv_rows[0]["op_norm"] > 2
    assert all(
        r["op_norm"] <= r["sigma"] * conv_unfold_factor(modules[r["name"]]) * (1 + 1e-6)
        for r in conv_rows
    )
assert all(abs(r["sigma"] - 1) < 0.1 for r in report_std["layers"])  # untrained: no lag yet
assert report_std["lower_bound"] <= report_std["product_bound"] / 1000
ratio_trained, ratio_init = report_D["lower_bound"] / bound_D, grad_init / bound_init
print(f"largest gradient / bound: {ratio_init:.4f} at initialization, {ratio_trained:.4f} trained")
assert ratio_init < 0.01 < 0.02 < ratio_trained
assert report_tv["product_bound"] > 1e4 * report_tv["lower_bound"]
print("SN found by checkup: ResNet-18", any(r["sn"] for r in report_tv["layers"]),
      "| SN ResNet D", all(r["sn"] for r in report_res["layers"]))  # fmt: skip

# %% [markdown]
#
# %% [markdown]
# ## Summary
#
# - **Early warning.** $\sigma_0$ of every layer costs nothing under SN ($u^\top W v$) and one
#   power-iteration step otherwise, and never overestimates. On our runs its jumps did not
#   foretell the drops in quality: they came before drops no more often than chance would
#   give, and none of our runs collapsed for good, so BigGAN's observation itself stays
#   untested here.
# - **Check-up.** `checkup(model, example_input)` puts sigma, the convolution's true operator
#   norm, SN or not and the effective rank of every layer beside two bounds on the network:
#   the product (an upper bound only for plain chains) and the Jacobian lower bound (valid
#   for any network).
#
# ## Exercises
#
# 1. A one-channel 3×3 convolution whose kernel is all ones, with circular padding, on 6×6
#    images: predict `sigma` and `op_norm` before running `checkup` on it. (Hint: what does it
#    do to a constant image?)
# 2. Make the alarm stricter: count a jump only when $\sigma_0$ rises by 50 % in 50 updates.
#    How many of the drops of Step 2 are still warned, and how many jumps are left on the runs
#    that never dropped? Can a stricter alarm ever warn *more* drops?
# 3. `top_sigmas` runs one power-iteration step per call. On a fresh random 64 × 128 weight,
#    how far is its estimate from the SVD after 1 call, and after 20 calls on the same weight?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1: the reshaped kernel is the 1 x 9 row of ones, sigma = 3; a constant
# image is mapped to 9 times itself (every output sums nine equal inputs), and nothing is
# stretched more, so the operator norm is 9: three times sigma.
ones_conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular", bias=False)
with torch.no_grad():
    ones_conv.weight.fill_(1.0)
(row,) = checkup(ones_conv, torch.randn(2, 1, 6, 6, generator=gen), n_iterations=100)["layers"]
print(f"sigma {row['sigma']:.4f}, op_norm {row['op_norm']:.4f}")
assert abs(row["sigma"] - 3) < 1e-5 and abs(row["op_norm"] - 9) < 1e-3


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 2: a stricter threshold keeps a subset of the jumps, so it can only warn
# fewer drops (or as many), never more.
def warned_count(jump: float) -> tuple[int, int]:
    n_warned = n_quiet_jumps = 0
    for run in watch:
        for s in range(beyond.SEEDS):
            d, j = drops(run, s), jumps(run, s, jump)
            n_warned += sum(any(t - WINDOW <= u <= t for u in j) for t in d)
            n_quiet_jumps += len(j) if not d else 0
    return n_warned, n_quiet_jumps


loose, strict = warned_count(0.25), warned_count(0.5)
print(f"jump >= 25 %: {loose[0]} warned drops, {loose[1]} jumps on runs without a drop")
print(f"jump >= 50 %: {strict[0]} warned drops, {strict[1]} jumps on runs without a drop")

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 3: one step from a random start is a rough guess; repeated calls on the
# same weight are power iteration, and converge (lesson 03).
layer = nn.Linear(128, 64)
truth = torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item()
vectors: dict = {}
errors = []
for _ in range(20):
    estimate = top_sigmas(layer, vectors)[""]
    errors.append(abs(estimate - truth) / truth)
print(f"relative error after 1 call {errors[0]:.3f}, after 20 calls {errors[-1]:.5f}")
# over 8 random layers the error after 20 calls was 0.002 to 0.12 of the first one
assert errors[-1] < 0.25 * errors[0]

# %% [markdown]
# ## References
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Brock, Donahue and Simonyan (2019). *Large Scale GAN Training for High Fidelity Natural
#   Image Synthesis*. ICLR. `brock2019large`
# - Roy and Vetterli (2007). *The Effective Rank: A Measure of Effective Dimensionality*.
#   EUSIPCO. `roy2007effective`
# - Sedghi, Gupta and Long (2019). *The Singular Values of Convolutional Layers*. ICLR.
#   `sedghi2019singular`

# %% [markdown]
# ## What's next
#
# The series ends here. The appendices hold the engineering and tuning that the main lessons
# left out: [A1](A1_sn_layer_engineering.ipynb) (the SN layer under bf16, `torch.compile` and
# `state_dict`), [A2](A2_regularizer_costs.ipynb) (what each regularizer costs per update),
# [A3](A3_toy_gan_studies.ipynb) (every toy method under A–F, and every mode of the grid),
# [A4](A4_cifar10_engineering.ipynb) (fast, resumable CIFAR-10 runs),
# [A5](A5_wasserstein_critic.ipynb) (a Wasserstein critic, with and without the constraint) and
# [A6](A6_digits_grid_details.ipynb) (the digits grid's $n_{\mathrm{dis}}$ sweep and
# $\sigma(\bar W)$ records).
