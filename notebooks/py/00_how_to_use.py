# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,jupyter,-all
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
# # Find your way through the series
#
# This series teaches *Spectral Normalization for Generative Adversarial Networks*
# (Miyato, Kataoka, Koyama and Yoshida, ICLR 2018) by running it. Lessons 01–08 rebuild the
# paper's argument on a CPU: each step states a claim, shows it with code you can change, and
# checks it with an `assert` that would fail if the claim were false. Not every claim of the
# paper can be checked that way: its CIFAR-10 and STL-10 scores come from GAN trainings of
# hours on a GPU. Lesson 09 holds the code for those trainings and reads their results when
# you have run them, and lessons 10 and 11 follow the idea past the paper. Engineering and
# tuning studies that a lesson would be buried under live in appendices A1–A6, linked from the
# place they left. The section *What the series checks, and where* below lists which claim is
# checked in which lesson, and which are not checked at all.
#
# ## What you will learn
#
# - the paper in one page: the problem it solves, its idea, and what it achieved;
# - the map of the lessons, and which of the paper's claims each one checks;
# - how to read the interactive figures;
# - at the end, the practical part: that your environment works, how to run a lesson in quick
#   mode (seconds) or full mode (the real sizes), and how the lessons use a GPU.
#
# ## What you need
#
# Nothing but this repository set up with `python3 tasks.py lab`. In full mode the lesson
# computes for about 9 seconds (measured on a 2-core CPU), plus the few seconds the kernel
# takes to start; on a busy shared machine it took 33 seconds in all.

# %%
import os
import platform
import tomllib
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision
from IPython.display import Markdown, display

import sngan_teach
from sngan_teach.explore import explore
from sngan_teach.runtime import (
    BUDGET_ENV,
    SEED_ENV,
    base_seed,
    budget,
    default_device,
    kernel_check,
    pick,
    seed_all,
)
from sngan_teach.sn import spectral_norm

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # every random draw in this lesson flows from this seed
generator = seed_all(seed)
d_out, d_in = pick(quick=32, full=256), pick(quick=64, full=512)  # shape of the weight W
n_power_iterations = pick(quick=60, full=200)  # k, power-iteration steps for the demo

# %% [markdown]
# ## The paper in one page
#
# **The problem.** A GAN trains a generator $G$ against a discriminator $D$. For a fixed $G$,
# the best discriminator is $D^*(x) = q(x) / (q(x) + p_G(x))$, where $q$ is the data
# density and $p_G$ the generator's. Written as $D = \operatorname{sigmoid}(f)$, its logit is
# $f^*(x) = \log q(x) - \log p_G(x)$, and the gradient $\nabla_x f^*$ can be arbitrarily large
# where the two densities do not overlap (lesson 01). A discriminator that gets close to it
# hands the generator useless, exploding gradients, and training falls apart.
#
# **The idea.** Keep $f$ $K$-Lipschitz: $|f(x) - f(x')| \le K \lVert x - x' \rVert$. For a
# network $f(x) = W^{L+1} a_L(W^L \cdots a_1(W^1 x))$ whose activations are 1-Lipschitz,
# $\lVert f \rVert_{\mathrm{Lip}} \le \prod_l \sigma(W^l)$, where $\sigma(W)$, the
# *spectral norm*, is the largest singular value of $W$ (lesson 02). So divide every weight by
# its spectral norm,
#
# $$\bar W_{\mathrm{SN}}(W) = \frac{W}{\sigma(W)},$$
#
# and the whole discriminator is 1-Lipschitz. Computing $\sigma(W)$ exactly needs an SVD, but
# one step of *power iteration* per training step, with a vector $u$ kept from the previous
# step, tracks it closely (lesson 03). The layer costs little (lesson 04), and unlike weight
# normalization or weight clipping it leaves the other singular values free, so the
# discriminator keeps its rank (lessons 05–06).
#
# **The result.** On CIFAR-10 and STL-10 (Table 2), SN-GANs scored best or close to best among
# the normalizations and penalties the authors tried, and stayed good across optimizer
# settings where the others broke (Figs. 1–2). Not best everywhere: with the standard CNN,
# orthonormal regularization has a slightly better FID on CIFAR-10 (29.0 against SN's 29.3),
# and on STL-10 it beats SN on both scores (IS 8.56 and FID 46.7 against 8.28 and 53.1), as
# WGAN-GP does on IS (8.42); with the hinge loss, and with the ResNet, SN has the table's best
# scores. Below are the paper's reported CIFAR-10 numbers, typed in from Table 2: the series
# does not reproduce them on a CPU. Lessons 07 and 08 test the robustness claim on
# small problems (2-D mixtures, 8×8 digits), and lesson 09 trains the CIFAR-10 models and
# scores them the same way when you
# have a GPU and the data set.

# %%
# Paper, Table 2: CIFAR-10, standard CNN unless noted. IS: higher is better; FID: lower is better.
table_2 = {
    "Weight clipping": (6.41, 42.6),
    "GAN-GP": (6.93, 37.7),
    "WGAN-GP": (6.68, 40.2),
    "Batch norm.": (6.27, 56.3),
    "Layer norm.": (7.19, 33.9),
    "Weight norm.": (6.84, 34.7),
    "Orthonormal": (7.40, 29.0),
    "SN-GANs": (7.42, 29.3),
    "SN-GANs, hinge": (7.58, 25.5),
    "SN-GANs, hinge (ResNet)": (8.22, 21.7),  # mean over seeds
}

names = list(table_2)
colors = ["tab:green" if "ResNet" in n else "tab:gray" for n in names]
fig, (ax_is, ax_fid) = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
ax_is.barh(names, [table_2[n][0] for n in names], color=colors)
ax_fid.barh(names, [table_2[n][1] for n in names], color=colors)
ax_is.set(xlabel="Inception score (higher is better)", xlim=(6, 8.5), title="IS, CIFAR-10")
ax_fid.set(xlabel="FID (lower is better)", title="FID, CIFAR-10")
fig.suptitle("The paper's Table 2 as reported (grey: standard CNN, green: ResNet)")
fig.tight_layout()
plt.show()

# %% [markdown]
# In the paper's table, SN with the hinge loss has the best score on both measures among the
# standard-CNN methods, and the ResNet SN-GAN (green) improves on all of them. The figure
# quotes the paper; it is not a result of the series, and nothing here checks it.
# %% [markdown]
# ## The idea in ten lines
#
# Here is spectral normalization of one weight matrix, before the lessons take it apart.
# Power iteration alternates $v \leftarrow W^\top u / \lVert W^\top u \rVert$ and
# $u \leftarrow W v / \lVert W v \rVert$; then $\sigma(W) \approx u^\top W v$. (For a matrix
# of pure noise the top singular values crowd together and power iteration is slow: lesson 03
# has sliders for that. Our matrix has one strong direction, as a trained layer often does.)


# %%
def sigma_estimates(W, u, n_steps):
    """The estimate u^T W v of sigma(W) after each of n_steps power-iteration steps from u."""
    estimates = []
    for _ in range(n_steps):
        v = W.T @ u
        v = v / v.norm()
        u = W @ v
        u = u / u.norm()
        estimates.append(float(u @ W @ v))
    return estimates


# A random matrix plus one strong direction a bᵀ, like a layer that has learned a feature.
a = torch.randn(d_out, generator=generator, dtype=torch.float64)
b = torch.randn(d_in, generator=generator, dtype=torch.float64)
noise = torch.randn(d_out, d_in, generator=generator, dtype=torch.float64) / d_in**0.5
W = noise + 3.0 * torch.outer(a / a.norm(), b / b.norm())
u0 = torch.randn(d_out, generator=generator, dtype=torch.float64)
estimates = sigma_estimates(W, u0 / u0.norm(), n_power_iterations)
sigma = estimates[-1]
W_sn = W / sigma
sigma_exact = float(torch.linalg.svdvals(W)[0])

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(
    range(1, n_power_iterations + 1), [abs(s - sigma_exact) / sigma_exact for s in estimates]
)
ax.set(xlabel="power-iteration step k", ylabel="relative error of σ estimate",
       title=f"Power iteration on a {d_out}×{d_in} matrix")  # fmt: skip
plt.show()

# %% [markdown]
# The estimate converges to the largest singular value, and the package's layer
# (`sngan_teach.sn.spectral_norm`, built in lesson 04), run for the same number of steps on the
# same $W$, gives a weight of spectral norm 1:

# %%
assert abs(sigma - sigma_exact) / sigma_exact < 1e-4
layer = spectral_norm(
    torch.nn.Linear(d_in, d_out, bias=False, dtype=torch.float64),
    n_power_iterations=n_power_iterations,
    generator=torch.Generator().manual_seed(seed),
)
with torch.no_grad():
    layer.parametrizations.weight.original.copy_(W)
    layer(torch.zeros(1, d_in, dtype=torch.float64))  # a training forward: the iterations run
layer.eval()
assert abs(float(torch.linalg.svdvals(layer.weight.detach())[0]) - 1.0) < 1e-4

# %% [markdown]
# ## How to read an interactive figure
#
# Lessons 01–10 ask questions that a parameter answers, and show the answer in a figure with
# sliders. Here is one: how fast does power iteration converge when the learned direction
# $\text{strength} \cdot a b^\top$ of the matrix above is weaker or stronger? Move the
# strength and the number of steps $k$. Every frame was drawn when the lesson ran, for the
# values on the sliders, so moving a slider swaps in another frame and the line of text under
# it, in JupyterLab and on the web site alike. For other values, call the drawing function in
# a cell of your own, e.g. `fig, caption = draw_power(strength=4.0, k=15)`, then `fig` shows
# the figure.


# %%
def power_errors(strength, k):
    """For W = noise + strength a b^T: the relative error of sigma at each step, and r."""
    W_st = noise + strength * torch.outer(a / a.norm(), b / b.norm())
    s_st = torch.linalg.svdvals(W_st)
    errors = [abs(e - s_st[0].item()) / s_st[0].item() for e in sigma_estimates(W_st, u0, k)]
    return errors, (s_st[1] / s_st[0]).item()


# %% [markdown]
# The folded cell below draws the sliders' figure, `draw_power`: the error of σ over k steps
# for each strength of `strengths`.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_power(strength, k):
    """The figure of the sliders: the error over k steps for W = noise + strength a b^T."""
    errors, r = power_errors(strength, k)
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.semilogy(range(1, k + 1), np.maximum(errors, 1e-16), "o-", ms=3, label="relative error")
    ax.set(xlim=(0, 21), ylim=(1e-16, 1), xlabel="power-iteration step k")
    ax.set(ylabel="relative error of σ estimate", title=f"W = noise + {strength} a bᵀ")
    ax.legend()
    caption = f"strength {strength}: sigma_2/sigma_1 = {r:.2f}; after k = {k} steps the error "
    return fig, caption + f"is {errors[-1]:.1e}"


strengths = [1.0, 2.0, 3.0, 5.0]  # strength of the learned direction on the slider
explore(draw_power, strength=strengths, k=[1, 2, 5, 10, 20])

# %% [markdown]
# The sliders answer the question: the stronger the learned direction, the smaller the ratio
# $\sigma_2/\sigma_1$ and the faster the error falls. After 10 steps the error shrinks as the
# strength grows, at every strength on the slider:

# %%
errors_10 = [power_errors(st, 10)[0][-1] for st in strengths]
print("error after 10 steps for strengths", strengths, ":", [f"{e:.1e}" for e in errors_10])
assert all(e2 < e1 for e1, e2 in zip(errors_10, errors_10[1:], strict=False))

# %% [markdown]
# On a small matrix we can check the arithmetic by hand. For
# $W = \begin{pmatrix} 3 & 0 \\ 4 & 5 \end{pmatrix}$, $W^\top W$ has eigenvalues 45 and 5, so
# $\sigma(W) = \sqrt{45} \approx 6.708204$. The next cell's printed output is stored in the
# notebook and compared exactly every time the tests run.

# %% tags=["nbval-check-output"]
W_small = torch.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=torch.float64)
u_small = torch.tensor([1.0, 0.0], dtype=torch.float64)
for _ in range(100):
    v_small = W_small.T @ u_small / (W_small.T @ u_small).norm()
    u_small = W_small @ v_small / (W_small @ v_small).norm()
print(f"sigma(W) = {float(u_small @ W_small @ v_small):.6f}, sqrt(45) = {45**0.5:.6f}")

# %% [markdown]
# ## The map of the lessons
#
# The lessons follow the paper's argument in order. `book.toml`, at the repository's root,
# is the one list of them; this table is read from it.

# %%
book_toml = next(
    folder / "book.toml"
    for folder in [Path.cwd(), *Path.cwd().parents]
    if (folder / "book.toml").exists()
)
book = tomllib.loads(book_toml.read_text())
rows = ["| # | Lesson | What it shows |", "|---|---|---|"]
rows += [
    f"| {item['file'][:2]} | {item['title']} | {item['summary']} |" for item in book["lessons"]
]
display(Markdown("\n".join(rows)))

# %% [markdown]
# - **01–02: why a discriminator must be kept smooth.** The optimal discriminator's gradient
#   is unbounded; a network's Lipschitz constant is bounded by the product of its layers'
#   spectral norms.
# - **03–04: how to keep it smooth cheaply.** Power iteration estimates $\sigma(W)$; the
#   spectral normalization layer divides by it, and its gradient penalizes the top singular
#   direction.
# - **05–06: why not something simpler.** Weight normalization collapses the rank; clipping
#   and orthonormal regularization constrain every singular value; gradient penalties act
#   only where samples fall.
# - **07–09: does it work.** 2-D GANs trained on a CPU in seconds; every method under the
#   settings A–F on 8×8 digits, with error bars; then the paper's CIFAR-10 models, what a
#   trained one looks like and the scores (Inception score and FID), with the long trainings
#   left to a GPU.
# - **10–11: after the paper.** Class-conditional SN-GANs with a projection discriminator and
#   SN in the generator (10); singular values as an early warning, and a check-up for any
#   network (11).
# - **A1–A6: appendices.** Warm starts and the SN layer under bf16 and `torch.compile` (after
#   03–05), tuning and timing the alternatives (after 06), the longer toy-GAN studies (after
#   07), the engineering of fast, resumable CIFAR-10 runs (after 09), a Wasserstein critic
#   trained with and without the constraint (after 02), and the digits grid's $n_{\mathrm{dis}}$
#   sweep, $\sigma(\bar W)$ records and samples (after 08).
#
# Every lesson is listed in the book and exists next to this one:

# %%
lessons_here = {path.stem for path in Path(book_toml.parent, "notebooks").glob("*.ipynb")}
assert {item["file"] for item in book["lessons"]} == lessons_here

# %% [markdown]
# ## What the series checks, and where
#
# Each item names a claim of the paper and how the lesson checks it.
#
# - **01.** For a fixed $G$ the best discriminator is $D^* = q/(q + p_G)$, with logit
#   $f^* = \log q - \log p_G$ (eq. 3): a grid search of the pointwise maximum and a trained
#   network both land on the formula. $\nabla_x f^*$ can be unbounded (eq. 4): for two
#   Gaussians its size is $m/s^2$, which passes any bound as they separate.
# - **02.** A linear layer's Lipschitz constant is $\sigma(W)$, and
#   $\lVert f \rVert_{\mathrm{Lip}} \le \prod_l \sigma(W^l)$ (eqs. 6–7): the bound against
#   lower estimates on random and trained networks, and how loose it is.
# - **03.** Power iteration, one step per update with $u$ kept between updates, tracks
#   $\sigma(W)$ (Algorithm 1): convergence rates against the SVD, and a warm start on a
#   drifting $W$ (appendix A1).
# - **04.** The layer $W/\sigma(W)$ and its gradient (eqs. 8–12): equal to PyTorch's layer,
#   the gradient against autograd. For a convolution, $\sigma$ of the reshaped kernel differs
#   from the operator norm (footnote 3): the operator norms of the paper's CIFAR-10
#   discriminator.
# - **05.** Weight normalization concentrates the spectrum on few directions, SN does not
#   (§3.2, Fig. 3): small discriminators trained on 8×8 digits, and their effective ranks.
# - **06.** Orthonormal regularization forces every singular value to 1, gradient penalties
#   act where their samples fall, SN costs little time (§3, Figs. 4 and 10): spectra, maps of
#   the gradient norm; a timing on the CPU in appendix A2; for Fig. 4 only the mechanism the
#   paper proposes.
# - **07.** SN stays good across the optimizer settings A–F (Table 1, Figs. 1–2): on 2-D
#   mixtures that a CPU trains in minutes, not on CIFAR-10 or STL-10; the table of every method
#   under A–F (appendix A3) states which parts it reproduces and which it does not.
# - **08.** The same robustness claim on real images, with error bars (Table 1, Figs. 1–2,
#   9 and 11): a small convolutional GAN on scikit-learn's 8×8 digits, every method under
#   settings A–F with three seeds each (the $n_{\mathrm{dis}}$ sweep in appendix A6), scored with
#   digit-classifier proxies of IS and FID; the lesson says where the paper's pattern holds
#   at this scale and where it does not.
# - **09.** The CIFAR-10 networks (Tables 3–4), the recipes, and the scores of Table 2
#   (Inception score and FID): the networks' sizes, the training loop, checkpoints and the
#   scores' formulas are checked on any machine, and a short CPU run stored in the repository,
#   on stand-in images in CIFAR-10's shape, shows each layer's largest singular value during
#   training (Fig. 9) and the spectra of an SN and a WN discriminator (Fig. 3). The scores of
#   Table 2 themselves need a run on a GPU (see *Using a GPU* below).
# - **10.** After the paper, on 8×8 digits: a projection discriminator with SN on every layer
#   conditions a GAN on the class (checked with a digit classifier) better than
#   concatenation does, SN on the generator too (three seeds each).
# - **11.** Whether jumps in each layer's largest singular value warn of drops in quality (on
#   these runs no better than chance); and `checkup`, which reports every layer's $\sigma$ and
#   the network's bounds for any PyTorch network.
#
# Not checked anywhere: the STL-10 and ImageNet experiments, the Inception scores of Fig. 4,
# and the reparametrized WGAN-GP critics of the paper's App. E.
# %% [markdown]
# ## The practical part: check your environment
#
# What follows is about running the lessons rather than about the paper: a check of your
# environment, quick and full mode, and GPUs.
#
# The next cell prints what the lessons run on. If it fails, set-up went wrong: run
# `python3 tasks.py lab` again from the repository's root and open the lessons from there.

# %%
device = default_device()
print(f"Python        {platform.python_version()}")
print(f"PyTorch       {torch.__version__}")
print(f"torchvision   {torchvision.__version__}")
print(f"NumPy         {np.__version__}")
print(f"Matplotlib    {matplotlib.__version__}")
print(f"sngan_teach   {sngan_teach.__version__}")
print(
    f"device        {device}"
    + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
)
print(f"budget        {budget()}  (set {BUDGET_ENV}=quick or full)")

# %% [markdown]
# The package imports, PyTorch is recent enough for everything the lessons use (the
# `torch.nn.utils.parametrize` API and `torch.compile`), and the chosen device computes the
# same matrix product as the CPU:

# %%
major, minor = (int(part) for part in torch.__version__.split(".")[:2])
assert (major, minor) >= (2, 4), f"the lessons need torch >= 2.4, found {torch.__version__}"
x = torch.randn(64, 64, generator=generator)
on_device = (x.to(device) @ x.to(device)).cpu()
torch.testing.assert_close(on_device, x @ x, rtol=1e-3, atol=1e-3)
# %% [markdown]
# ## Quick mode and full mode
#
# Every size in a lesson is written once, with two values, in its settings cell:
#
# ```python
# n_power_iterations = pick(quick=60, full=200)  # k, power-iteration steps
# ```
#
# The environment variable `SNGAN_BUDGET` chooses: `full` (the default) gives the sizes of a
# real experiment, `quick` gives small ones so that every lesson runs in seconds; the test
# suite uses quick mode. **Quick mode never skips a check**: every cell and every assert runs
# in both modes, on smaller sizes, and where a threshold has to differ between the modes its
# cell says why. To use it, start JupyterLab with
# `SNGAN_BUDGET=quick python3 tasks.py lab`, or set the variable in the first cell of a
# lesson before anything else runs:
#
# ```python
# import os; os.environ["SNGAN_BUDGET"] = "quick"
# ```
#
# A second variable, `SNGAN_SEED` (a whole number, default 0), shifts every random seed a
# lesson uses: `SNGAN_SEED=3 python3 tasks.py lab` reruns the lessons on other random draws.
# Their checks hold for every seed. A claim about a trained network is checked as a property
# that survives another seed, with a margin taken from the spread that several seeds show,
# never by comparing one run with a stored number to the last digit. The reason is worth
# knowing before lesson 07: the same seed on the same CPU model, PyTorch build and thread count
# repeats a run exactly, but another machine adds different round-off (it may use other vector
# instructions, or add numbers in another order), and training a GAN amplifies that difference
# into another trajectory, as another seed would. So a number a lesson prints from a training
# run can differ on your machine; the lesson says how far it may. Where lessons rank methods over
# seeds (08, 10 and appendix A3), one rule decides, `sngan_teach.stats.compare`, stated in
# [lesson 08](08_robustness.ipynb)'s Step 4: $\log$ FID, Welch's test, Holm's correction over a
# list of comparisons stated first, and three verdicts: better, worse or not resolved.
#
# This lesson is running with:

# %%
print(f"{BUDGET_ENV}={os.environ.get(BUDGET_ENV, '(unset)')} -> budget {budget()!r}")
print(f"{SEED_ENV}={os.environ.get(SEED_ENV, '(unset)')} -> seed {seed}")
print(f"matrix {d_out}x{d_in}, {n_power_iterations} power-iteration steps")

# %% [markdown]
# ## Using a GPU
#
# Lessons 00–08, 10 and 11 are small and run on a CPU. Lesson 09 runs on a CPU too: it reads a
# short CPU run stored in the repository, and its appendix A4 trains the paper's CIFAR-10
# networks, made narrower, for a few updates (a demonstration). The paper's own runs (100,000
# generator updates at full width, scored with IS and FID) run from `scripts/train_cifar10.py`,
# with the exact commands in the lesson, and need a CUDA GPU, your own copy of CIFAR-10 and the
# Inception weights for the scores. Without the data set and the weights, appendix A4 writes a
# small stand-in in CIFAR-10's file format and uses a stand-in feature extractor, so that every
# code path runs, and says so; the two cells that read the files of GPU runs say whether there are
# any and assert nothing. There is no CIFAR-10 score in the series until you make one.
#
# Every lesson asks `default_device()` for the fastest device present (CUDA, then Apple's
# MPS, then the CPU), so on a machine with a GPU nothing needs changing. If PyTorch does not
# see your GPU, install the PyTorch build for your CUDA version (see pytorch.org) into
# `.venv`, then check with `torch.cuda.is_available()`.
# %% [markdown]
# ## Summary
#
# - The optimal discriminator has unbounded gradients; SN-GANs bound the discriminator's
#   Lipschitz constant by dividing each weight by its spectral norm.
# - One power-iteration step per training step, with a persistent $u$, estimates the spectral
#   norm cheaply.
# - Lessons 01–08, 10 and 11 check their claims with `assert` on a CPU; lesson 09 holds the
#   code of the paper's CIFAR-10 runs and reads their results once you have run them on a GPU.
# - Every lesson runs in quick or full mode, with the same checks, and uses a GPU when there
#   is one.
#
# ## Exercises
#
# 1. How many power-iteration steps does the random matrix above need before the relative
#    error of $\sigma$ falls below $10^{-6}$? Compare with the ratio $\sigma_2/\sigma_1$ of its
#    two largest singular values (lesson 03 explains the link).
# 2. Start the power iteration on the $2 \times 2$ matrix from $u = (0, 1)$ instead. Does it
#    reach the same $\sigma$?

# %% [markdown]
# **Solution 1.** Once the top direction dominates, the error of $\sigma$ shrinks per step by
# a factor that approaches $r^4$, $r = \sigma_2/\sigma_1$, from below: each other direction
# $i$ adds a term that shrinks like $(\sigma_i/\sigma_1)^{4k}$, faster than $r^{4k}$ (lesson
# 03 derives it). We measure the ratio of consecutive errors at the last step before round-off
# sets in (errors above $10^{-13}$, a hundred times the round-off) and compare it with $r^4$.
# On 3000 random matrices of the quick size and 300 of the full size, built like this one, it
# lay between $0.50\,r^4$ and $1.004\,r^4$ (median $0.95\,r^4$ and $0.90\,r^4$).

# %% tags=["hide-input"] jupyter={"source_hidden": true}
errors = np.array([abs(s - sigma_exact) / sigma_exact for s in estimates])
steps_needed = int(np.argmax(errors < 1e-6)) + 1
s = torch.linalg.svdvals(W)
r = float(s[1] / s[0])
last = int(np.flatnonzero(errors > 1e-13)[-1])  # index of the last error above 1e-13
ratio = errors[last] / errors[last - 1]
print(f"sigma_2/sigma_1 = r = {r:.3f}, r^4 = {r**4:.4f}; steps to 1e-6: {steps_needed}")
print(f"error ratio per step at k = {last + 1}: {ratio:.4f} = {ratio / r**4:.2f} r^4")
assert 0.4 * r**4 <= ratio <= 1.02 * r**4  # the measured range, 0.50 to 1.004, with a margin

# %% [markdown]
# **Solution 2.** Yes: any start with a component along the top left singular vector converges.

# %% tags=["hide-input"] jupyter={"source_hidden": true}
u_small = torch.tensor([0.0, 1.0], dtype=torch.float64)
for _ in range(100):
    v_small = W_small.T @ u_small / (W_small.T @ u_small).norm()
    u_small = W_small @ v_small / (W_small @ v_small).norm()
assert abs(float(u_small @ W_small @ v_small) - 45**0.5) < 1e-9

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`

# %% [markdown]
# ## What's next
#
# [Lesson 01](01_optimal_discriminator.ipynb) derives the optimal discriminator and watches its
# gradient explode: the problem that spectral normalization solves.
