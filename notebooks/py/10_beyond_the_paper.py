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
# # Follow spectral normalization past the paper
#
# The paper ends where practice began. The same authors made SN-GANs class-conditional with a
# *projection discriminator* (Miyato and Koyama, ICLR 2018); SAGAN (Zhang et al., 2019) put
# spectral normalization on the generator too; BigGAN (Brock et al., 2019, §4) logged the
# largest singular value of every layer during training and saw it explode when training
# collapses. This lesson retraces the first two steps on a machine you have: the 8×8
# handwritten digits of scikit-learn (lesson 08's data, classifier and proxy scores), a CPU, a
# few minutes; [lesson 11](11_sigma_watch_and_checkup.ipynb) tests the third as an early
# warning and gives any network a check-up.
#
# ## What you will learn
#
# 1. Write conditional batch norm and the projection discriminator
#    $D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x)\rangle$, see why the label enters through
#    an inner product, and why the class embedding needs spectral normalization too.
# 2. Train a class-conditional SN-GAN on the digits, show a 10 × 10 grid whose row $r$ asks for
#    digit $r$, and measure with a classifier how often the digit asked for is the one drawn;
#    compare with the older concatenation discriminator over three seeds, by one statistical
#    rule, and read what three seeds can and cannot resolve.
# 3. Put SN on the generator as well and read what it changes in $G$'s singular values and in
#    the proxy scores.
#
# ## What you need
#
# Lessons 02 (product bound), 04 (the SN layer and a convolution's operator norm), 05
# (effective rank) and 08 (the digits, the classifier, digits IS and FID). No GPU. Full mode
# retrains one conditional GAN live (1500 generator updates, about 35 s of CPU time): about a
# minute in all on a 2-core machine shared with other jobs; quick mode takes about 30 s. The
# 18 stored runs it compares against (six variants × three seeds) were made by
# `experiments/beyond.py`; the lesson reads the files it wrote.

# %%
import math
import statistics
import time

import matplotlib.pyplot as plt
import torch
from myst_nb import glue  # keeps an output for the site's results page
from torch import nn

from experiments import beyond  # the script that made the stored runs: their settings and sizes
from sngan_teach.checkup import checkup
from sngan_teach.conditional import (
    ConditionalBatchNorm2d,
    ProjectionDiscriminator,
    evaluate_conditional,
    make_cond_pair,
    train_conditional,
)
from sngan_teach.digits import classifier_accuracy, load_digits_split, real_floor
from sngan_teach.explore import explore
from sngan_teach.results import format_mean_sd
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all
from sngan_teach.sn import add_sn, spectral_norm
from sngan_teach.stats import compare

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
# ## Step 1: the data and the judge
#
# The digits are 1797 grey 8×8 images in $[-1, 1]$, split once into 1197 training and 600
# held-out images. A small CNN trained on the training split judges the samples: it gives
# the *class accuracy* of a conditional generator (the share of samples asked for digit $y$
# that it reads as $y$), digits IS and digits FID (lesson 08). Its own held-out accuracy is the
# ceiling of any class accuracy it reports.

# %%
x_train, y_train, x_held, y_held = load_digits_split()
clf_acc = classifier_accuracy()
floor = real_floor()
print(
    f"{len(x_train)} training and {len(x_held)} held-out digits; classifier accuracy "
    f"{clf_acc:.3f}; 1000 real training digits score IS {floor['digits_is']:.2f}, "
    f"FID {floor['digits_fid']:.2f}"
)
assert clf_acc > 0.95  # the judge is right on at least 95 % of unseen digits

# %% [markdown]
# ## Step 2: conditional batch norm and the projection discriminator
#
# **The generator** takes the class through its batch-norm layers. Conditional batch norm
# (de Vries et al., 2017; Dumoulin et al., 2017) normalizes with statistics shared by all
# classes, then scales and shifts with parameters looked up per class:
#
# $$\mathrm{CBN}(h, y) = \gamma_y \odot \frac{h - \mu}{\sqrt{\mathrm{var} + \epsilon}} + \beta_y .$$
#
# Nothing else in $G$ knows the class, so ten rows of $(\gamma, \beta)$ per layer are all it
# has to make a 3 look different from a 7. Written out:


# %%
class ScratchCBN(nn.Module):
    def __init__(self, n_channels: int, n_classes: int = 10) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(n_classes, n_channels))
        self.beta = nn.Parameter(torch.zeros(n_classes, n_channels))

    def forward(self, h, y):
        mean = h.mean((0, 2, 3), keepdim=True)
        var = h.var((0, 2, 3), unbiased=False, keepdim=True)
        h_hat = (h - mean) / torch.sqrt(var + 1e-5)
        return self.gamma[y][:, :, None, None] * h_hat + self.beta[y][:, :, None, None]


scratch_cbn, package_cbn = ScratchCBN(6), ConditionalBatchNorm2d(6)
with torch.no_grad():
    scratch_cbn.gamma.normal_(1.0, 0.3, generator=gen)
    scratch_cbn.beta.normal_(0.0, 0.3, generator=gen)
    package_cbn.gamma.weight.copy_(scratch_cbn.gamma)
    package_cbn.beta.weight.copy_(scratch_cbn.beta)
h = torch.randn(16, 6, 4, 4, generator=gen)
y = torch.randint(10, (16,), generator=gen)
torch.testing.assert_close(scratch_cbn(h, y), package_cbn(h, y))
print("the scratch CBN equals sngan_teach.conditional.ConditionalBatchNorm2d (training mode)")

# %% [markdown]
# **Your turn.** In eval mode batch norm normalizes with its running statistics, not the batch's.
# Write `cbn_eval(h, y, gamma, beta, running_mean, running_var)`: conditional batch norm in eval
# mode, $\gamma_y \odot (h - \mu_{\text{run}}) / \sqrt{\mathrm{var}_{\text{run}} + \epsilon} +
# \beta_y$ with $\epsilon = 10^{-5}$, for `h` of shape $(N, C, H, W)$, labels `y` and `gamma`,
# `beta` of shape (classes, $C$).
# The next cell runs your function on inputs it draws itself (several shapes, seeds and
# dtypes), says what is wrong and names the mistake when it is a known one;
# `exercises.cbn_eval.hint()` gives a hint, `exercises.progress()` lists what you have solved,
# and the folded cell after the check holds a solution.

# %%
from sngan_teach import exercises  # checks the answers of the "your turn" exercises


def cbn_eval(h, y, gamma, beta, running_mean, running_var):
    """Conditional batch norm in eval mode, with the running mean and variance."""
    ...  # your code here


# %%
accepted = exercises.cbn_eval.check(cbn_eval)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: PyTorch's batch norm in eval mode, then the class's scale and shift.
def cbn_eval_solution(h, y, gamma, beta, running_mean, running_var):
    h_hat = torch.nn.functional.batch_norm(h, running_mean, running_var, eps=1e-5)
    return gamma[y][:, :, None, None] * h_hat + beta[y][:, :, None, None]


assert exercises.cbn_eval.check(cbn_eval_solution) is True

# %% [markdown]
# **The discriminator.** The optimal $D$ of lesson 01 is the log density ratio. With a label,
# it is $\log \frac{q(x, y)}{p(x, y)} = \log\frac{q(y\mid x)}{p(y\mid x)} + \log\frac{q(x)}{p(x)}$,
# $q$ the data and $p$ the generator. Miyato and Koyama (2018) model both conditionals as
# softmax classifiers on one feature vector $\phi(x)$, $\log q(y\mid x) = \langle v^q_y,
# \phi(x)\rangle - \log Z^q(x)$, and likewise for $p$. The difference of two such logits is
# $\langle v^q_y - v^p_y, \phi(x)\rangle$ plus terms without $y$, which the network folds into
# one output $\psi(\phi(x))$:
#
# $$D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x) \rangle, \qquad e_y = v^q_y - v^p_y .$$
#
# So the label enters through one inner product with a learned class embedding $e_y$, rather
# than as an extra input (Mirza and Osindero, 2014) that the network must learn to combine.
# Our $\phi$ is the four convolutions of lesson 08's discriminator, $\psi$ its dense layer.


# %%
class ScratchProjection(nn.Module):
    def __init__(self, body: nn.Module, n_classes: int = 10) -> None:
        super().__init__()
        self.body = body  # phi: body.features, psi: body.l4
        self.embed = nn.Embedding(n_classes, body.n_features)  # e_y, one row per class

    def forward(self, x, y):
        phi = self.body.features(x)
        return self.body.l4(phi).squeeze(1) + (self.embed(y) * phi).sum(1)


package_D = ProjectionDiscriminator(ch=sizes["ch_D"])
scratch_D = ScratchProjection(package_D.body)
scratch_D.embed.weight = package_D.embed.weight  # the same e_y
x, y = x_train[:32], y_train[:32]
torch.testing.assert_close(scratch_D(x, y), package_D(x, y))
# The label acts only through <e_y, phi(x)>: changing y to y' moves D by <e_y' - e_y, phi(x)>.
y_other = (y + 3) % 10
with torch.no_grad():
    shift = ((package_D.embed(y_other) - package_D.embed(y)) * package_D.body.features(x)).sum(1)
    change = package_D(x, y_other) - package_D(x, y)
print(f"D(x, y') - D(x, y) - <e_y' - e_y, phi(x)>: at most {(change - shift).abs().max():.1e}")
print("the scratch projection D equals sngan_teach.conditional.ProjectionDiscriminator")

# %% [markdown]
# **Your turn.** Write `projection_logit(phi, w_psi, b_psi, E, y)`:
# $D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x)\rangle$ from features `phi` ($N \times F$), the
# dense layer $\psi(h) = h\, w_\psi + b_\psi$, the embedding matrix `E` (one row $e_y$ per class)
# and labels `y`.


# %%
def projection_logit(phi, w_psi, b_psi, E, y):
    """D(x, y) = psi(phi(x)) + <e_y, phi(x)>, one logit per sample."""
    ...  # your code here


# %%
accepted = exercises.projection_logit.check(projection_logit)


# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution: E[y] picks one row e_y per sample; einsum takes the inner products row by row.
def projection_logit_solution(phi, w_psi, b_psi, E, y):
    return phi @ w_psi + b_psi + torch.einsum("nf,nf->n", E[y], phi)


assert exercises.projection_logit.check(projection_logit_solution) is True

# %% [markdown]
# **Spectral normalization on every layer, the embedding included.** $\phi$ is a chain of
# spectrally normalized convolutions with leaky ReLU, so (lesson 02, with the true operator
# norms of lesson 04) $\lVert\phi\rVert_{\mathrm{Lip}} \le \prod_l \lVert \mathrm{conv}_l
# \rVert$. Then $\nabla_x D = J_\phi(x)^\top (w_\psi + e_y)$, so
#
# $$\lVert D(\cdot, y) \rVert_{\mathrm{Lip}} \le \prod_l \lVert \mathrm{conv}_l \rVert \,
#   \bigl(\sigma(w_\psi) + \lVert e_y \rVert\bigr),$$
#
# and $\lVert e_y\rVert \le \sigma(E)$ for the embedding matrix $E$ whose rows are the $e_y$.
# SN on $\psi$ alone leaves the second term free: the embedding can grow without limit and
# with it $D$'s gradient. A tempting shortcut is to normalize every Linear and convolution
# with `add_sn` and stop there, since an `nn.Embedding` is neither. Here is that shortcut, with
# the raw embedding scaled by 1000: not a size this short training reaches (the live run of
# Step 3 prints how far its raw $\sigma(E)$ moves), but what nothing in the shortcut forbids:


# %%
def embedding_gradient(net_D: nn.Module, scale: float) -> float:
    """Largest ||grad_x D(x, y)|| over a batch after multiplying the raw embedding by scale."""
    net_D = net_D.eval()
    emb = (
        net_D.embed.parametrizations.weight.original
        if hasattr(net_D.embed, "parametrizations")
        else net_D.embed.weight
    )
    with torch.no_grad():
        emb.mul_(scale)
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net_D(x_req, y).sum(), x_req)
    return float(grad.flatten(1).norm(dim=1).max())


shortcut_D = add_sn(ProjectionDiscriminator(ch=sizes["ch_D"]))  # embedding left plain
grads_shortcut = [embedding_gradient(shortcut_D, s) for s in (1.0, 1e3)]
print(
    f"embedding left plain: max ||grad_x D|| {grads_shortcut[0]:.3g} -> "
    f"{grads_shortcut[1]:.3g} after scaling the embedding by 1000"
)

# %%
# The check that shortcut fails: a spectrally normalized D must stay within its bound whatever
# the raw weights are.
bound_shortcut = checkup(shortcut_D, (x, y))["product_bound"] * 2  # sigma(psi) + ||e_y|| <= 2
print(f"bound if every weight were normalized: {bound_shortcut:.3g}")
assert grads_shortcut[1] > bound_shortcut  # the shortcut breaks the bound

# %% [markdown]
# Corrected: `spectral_norm` on the embedding as well (the same parametrization works on
# its $10 \times 256$ weight; `make_cond_pair` does this). Now scaling the raw embedding
# changes nothing, because $E/\sigma(E)$ does not change when $E$ is scaled.

# %%
fixed_D = add_sn(ProjectionDiscriminator(ch=sizes["ch_D"]))
spectral_norm(fixed_D.embed)
grads_fixed = [embedding_gradient(fixed_D, s) for s in (1.0, 1e3)]
bound_fixed = checkup(fixed_D, (x, y))["product_bound"] * 2
print(
    f"embedding normalized: max ||grad_x D|| {grads_fixed[0]:.3g} -> {grads_fixed[1]:.3g};"
    f" bound {bound_fixed:.3g}"
)
assert max(grads_fixed) <= bound_fixed
assert math.isclose(grads_fixed[0], grads_fixed[1], rel_tol=1e-4)

# %% [markdown]
# ## Step 3: train a class-conditional SN-GAN
#
# The game of lesson 07, with labels. Each discriminator update sees a batch of real pairs
# $(x, y)$ and as many fakes $(G(z, y'), y')$ with $y'$ uniform over the ten classes and
# minimizes the hinge loss $\mathbb E[\max(0, 1 - D(x, y))] + \mathbb E[\max(0, 1 + D(G(z, y'),
# y'))]$ (the negative of the paper's eq. 16, which $D$ maximizes); the generator update
# minimizes $-D(G(z, y'), y')$ (eq. 17). One $D$ update per $G$ update, Adam with
# $\alpha = 10^{-3}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$ (the settings of the stored runs, picked
# because they learn the digits within 1500 updates on a CPU). Every `log_every` updates we
# score 1000 samples, 100 per requested class. This is the stored run `projection`, from this
# lesson's seed, so it should land where the stored file's seeds land.

# %%
net_G, net_D = make_cond_pair("projection", sn_D=True, sn_G=False, seed=seed, **sizes)
E_raw = net_D.embed.parametrizations.weight.original  # the embedding before SN divides it
sigma_E = [torch.linalg.matrix_norm(E_raw.detach(), ord=2).item()]  # sigma(E), start and end
live = []


def measure(step: int, history: list) -> None:
    live.append(history[-1] | evaluate_conditional(net_G, n_eval, seed=seed + 1))


t0, c0 = time.perf_counter(), time.process_time()
train_conditional(
    net_G,
    net_D,
    n_steps,
    setting=setting,
    seed=seed,
    batch_size=beyond.BATCH_SIZE,
    log_every=log_every,
    callback=measure,
    progress=True,
)
live_wall, live_cpu = time.perf_counter() - t0, time.process_time() - c0
end = live[-1]
sigma_E.append(torch.linalg.matrix_norm(E_raw.detach(), ord=2).item())
print(
    f"{n_steps} updates in {live_wall:.0f} s ({live_cpu:.0f} s CPU): class accuracy "
    f"{end['class_acc']:.3f}, digits IS {end['digits_is']:.2f}, FID {end['digits_fid']:.1f}"
)
print(f"raw embedding: sigma(E) {sigma_E[0]:.3g} at the start, {sigma_E[1]:.3g} after training")

# %%
fig, ax = plt.subplots(figsize=(3.6, 3.6), layout="constrained")
show_grid(ax, beyond.grid_of(net_G), f"Projection SN-GAN after {n_steps} updates")
ax.set_ylabel("requested digit")
ax.set_xlabel("ten samples (fixed z)")
plt.show()

# %% [markdown]
# **Move the slider: the classes appear.** The folded cell below draws the slider's figure,
# `draw_stored_grid`: the same grid for the stored run `projection` (seed 0) after each number
# of updates, with its class accuracy at that update.


# %% tags=["hide-input"] jupyter={"source_hidden": true}
def draw_stored_grid(step):
    fig, ax = plt.subplots(figsize=(3.6, 3.6), layout="constrained")
    show_grid(ax, grids[f"projection/{step}"], f"stored run, seed 0, after {step} updates")
    ax.set(xlabel="ten samples (fixed z)", ylabel="requested digit")
    acc = [
        r["class_acc"]
        for r in runs_csv
        if (r["run"], r["seed"], r["step"]) == ("projection", 0, step)
    ]
    return fig, f"update {step}: class accuracy " + (f"{acc[0]:.3f}" if acc else "not logged")


stored_grid_steps = sorted(int(k.split("/")[1]) for k in grids.files if k.startswith("projection/"))
explore(draw_stored_grid, step=stored_grid_steps[::2])

# %% [markdown]
# **Claim: the live run lands where the stored runs are.** Not at every step: when learning
# sets in differs from run to run (at 350 updates the three stored seeds are all still at
# chance, while a rerun from another seed, or on another machine, may already be past it), so
# a step-by-step comparison would test the onset's timing, not the run. Where the run ends,
# its class accuracy and digits IS must lie within 4 standard deviations of one more run from
# the stored seeds' mean at that step, with the spread between seeds pooled over all six
# stored runs (3 seeds each; the spread is largest while learning sets in, which in quick mode
# is where the run ends) and a floor of 0.02 in accuracy and 0.1 in IS where the seeds nearly
# agree.


# %%
def stored(run: str, step: float, key: str) -> list[float]:
    return [r[key] for r in runs_csv if r["run"] == run and r["step"] == step]


for key, floor_sd in (("class_acc", 0.02), ("digits_is", 0.1)):
    values = stored("projection", end["step"], key)
    pooled = math.sqrt(
        statistics.fmean(statistics.variance(stored(run, end["step"], key)) for run in beyond.RUNS)
    )
    allowed = 4 * pooled * math.sqrt(1 + 1 / len(values)) + floor_sd
    print(f"{key} at step {end['step']}: live {end[key]:.3f}, stored seeds "
          f"{[round(v, 3) for v in values]}, allowed ± {allowed:.3f} around the mean")  # fmt: skip
    assert abs(end[key] - statistics.mean(values)) <= allowed, (key, end[key], values)

# %% [markdown]
# **Claim: the requested digit is the one drawn, at least 90 % of the time, after 1500
# updates.** The stored runs give the answer for each of their three seeds (the live run in
# quick mode is too short to say; in full mode it is one more run of the same kind).

# %%
final = {
    run: {key: stored(run, last_step, key) for key in ("class_acc", "digits_is", "digits_fid")}
    for run in beyond.RUNS
}
acc = final["projection"]["class_acc"]
print(f"projection SN-GAN, class accuracy over seeds: {[round(a, 3) for a in acc]}")
assert min(acc) >= 0.9

# %% [markdown]
# ## Step 4: projection or concatenation?
#
# The older conditional discriminator (Mirza and Osindero, 2014, and most early cGANs) feeds
# the label in: here as ten one-hot channels beside the image and the one-hot vector again
# beside $\phi(x)$ before the dense layer, with the same widths and SN on every layer. Same
# generator, settings, seeds. Mean ± sd over the three seeds at the last update:


# %%
labels = {
    "projection": "projection D, SN",
    "concat": "concatenation D, SN",
    "projection_snG": "projection D, SN in D and G",
    "projection_noSN": "projection D, no SN",
}
variant_lines = [f"{'variant':32s} {'class accuracy':>16s} {'digits IS':>16s} {'digits FID':>18s}"]
for run, label in labels.items():
    cols = [format_mean_sd(final[run][k]) for k in ("class_acc", "digits_is", "digits_fid")]
    variant_lines.append(f"{label:32s} {cols[0]:>16s} {cols[1]:>16s} {cols[2]:>18s}")
variant_lines.append(
    f"{'real training digits':32s} {clf_acc:>16.3f} {floor['digits_is']:>16.2f} "
    f"{floor['digits_fid']:>18.2f}"
)
print("\n".join(variant_lines))
glue("variants_table", "\n".join(variant_lines), display=False)

# %%
fig, axes = plt.subplots(1, 3, figsize=(8, 3), layout="constrained")
for ax, run in zip(axes, ("projection", "concat", "projection_snG"), strict=True):
    show_grid(ax, grids[f"{run}/{last_step:.0f}"], labels[run])
axes[0].set_ylabel("requested digit")
fig.suptitle(f"Stored runs, seed 0, after {last_step:.0f} updates (row = requested digit)")
plt.show()

# %% [markdown]
# **Which differences do three seeds resolve?** This lesson judges every comparison of two
# variants by the rule of lesson 08, `sngan_teach.stats.compare`: Welch's t-test on the seeds,
# Holm's correction over a list stated before the results, and one of three verdicts applied
# the same way in both directions, **better**, **worse** or **not resolved**. The list, nine
# comparisons on the stored runs (three seeds each), `a` against `b`:
#
# 1. projection D against concatenation D (both with SN, $G$ plain), at the last update:
#    class accuracy, digits IS, digits FID;
# 2. SN in $D$ and $G$ against SN in $D$ only (Step 5), the same three scores;
# 3. the *onset*, the first measurement at which at least half the samples show the requested
#    digit (lower is sooner): SN in $D$ and $G$ against SN in $D$ only, and SN in $D$ against
#    no SN;
# 4. the effective rank of $G$'s dense first layer (Step 5), SN in $G$ against $G$ plain;
#    neither direction is better, so here "better" reads "lower".
#
# FID is compared on the log scale (the estimate is a ratio of geometric means); class
# accuracy, IS (between 1 and 10), the onset (an update count within 1500) and the effective
# rank are bounded and compared as they are (the estimate is a difference of means).


# %%
def first_half_right(run: str, seed_: int) -> float:
    return next(
        r["step"]
        for r in runs_csv
        if r["run"] == run and r["seed"] == seed_ and r["class_acc"] >= 0.5
    )


onset = {
    run: [first_half_right(run, s) for s in range(beyond.SEEDS)]
    for run in ("projection_snG", "projection", "projection_noSN")
}
rank_l0 = {
    run: [
        r["eff_rank"] for r in spectra_csv if (r["run"], r["net"], r["layer"]) == (run, "G", "l0")
    ]
    for run in ("projection", "projection_snG")
}
family = {}  # (a, b, score): (a's seeds, b's seeds, log scale, lower is better)
for a, b in (("projection", "concat"), ("projection_snG", "projection")):
    for key in ("class_acc", "digits_is", "digits_fid"):
        fid = key == "digits_fid"
        family[a, b, key] = (final[a][key], final[b][key], fid, fid)
for a, b in (("projection_snG", "projection"), ("projection", "projection_noSN")):
    family[a, b, "onset"] = (onset[a], onset[b], False, True)
snG, plain = "projection_snG", "projection"
family[snG, plain, "l0 rank"] = (rank_l0[snG], rank_l0[plain], False, True)
names = {k: f"{labels[k[0]]} vs {labels[k[1]]}, {k[2]}" for k in family}
judged = compare(
    {names[k]: f[:2] for k, f in family.items()},
    log={names[k]: f[2] for k, f in family.items()},
    lower_is_better={names[k]: f[3] for k, f in family.items()},
)
calls = dict(zip(family, judged.values(), strict=True))
for c in calls.values():
    print(c)
print("first update with class accuracy >= 0.5, per seed:", onset)

# %% [markdown]
# **What the rule says about Step 4.** (1) **Projection against concatenation is not resolved
# on any of the three scores.** Every estimate favours projection: its geometric mean FID is
# about a third of concatenation's, its class accuracy and IS are higher. The FID alone would
# pass one test at 5 %, but not Holm's correction over the nine comparisons: three seeds a
# variant cannot settle it. With concatenation the mean class accuracy over the seeds stays
# under 90 % (one seed gets above it). (2) **The onset is not resolved either.** In each of the
# three stored seeds the classes appear sooner with SN on $D$ than without it, and sooner
# still with SN on $G$ as well (the onsets are printed above), yet neither comparison
# survives Holm's correction. The whole list, in fact, resolves nothing.

# %%
concat_calls = [calls["projection", "concat", k] for k in ("class_acc", "digits_is", "digits_fid")]
assert all(c.verdict == "not resolved" for c in concat_calls)
assert concat_calls[0].estimate > 0 and concat_calls[1].estimate > 0  # higher accuracy and IS
assert concat_calls[2].ratio < 0.4 and concat_calls[2].p < 0.05 < concat_calls[2].p_holm
assert statistics.mean(final["concat"]["class_acc"]) < 0.9 < max(final["concat"]["class_acc"])
assert max(onset["projection_snG"]) < min(onset["projection"])
assert max(onset["projection"]) < min(onset["projection_noSN"])
assert calls["projection_snG", "projection", "onset"].verdict == "not resolved"
assert calls["projection", "projection_noSN", "onset"].verdict == "not resolved"
assert {c.verdict for c in calls.values()} == {"not resolved"}  # nine of nine

# %% [markdown]
# ## Step 5: spectral normalization in the generator too
#
# SAGAN (Zhang et al., 2019) applied SN to $G$'s layers as well, reporting that it keeps the
# parameters from growing without limit, avoids unusual gradients and stabilizes training.
# The generator is not asked to be Lipschitz by any theory of the game; SN there acts on the
# conditioning: each layer's output scale no longer depends on its weight's largest singular
# value. What it does to $G$ here, read from the weights as each forward uses them at the end of the
# stored runs ($\sigma$ of $W$, or of $W/\sigma(W)$ under SN, and the effective rank of lesson
# 05):


# %%
def final_spectra(run: str, net: str) -> dict[str, dict[str, list[float]]]:
    out: dict = {}
    for r in spectra_csv:
        if r["run"] == run and r["net"] == net:
            out.setdefault(r["layer"], {"sigma": [], "eff_rank": []})
            out[r["layer"]]["sigma"].append(r["sigma"])
            out[r["layer"]]["eff_rank"].append(r["eff_rank"])
    return out


g_plain, g_sn = final_spectra("projection", "G"), final_spectra("projection_snG", "G")
print(
    f"{'layer of G':10s} {'sigma, G plain':>16s} {'sigma, SN in G':>16s} "
    f"{'eff. rank, plain':>17s} {'eff. rank, SN':>15s}"
)
for layer in g_plain:
    print(
        f"{layer:10s} {format_mean_sd(g_plain[layer]['sigma']):>16s} "
        f"{format_mean_sd(g_sn[layer]['sigma']):>16s} "
        f"{format_mean_sd(g_plain[layer]['eff_rank']):>17s} "
        f"{format_mean_sd(g_sn[layer]['eff_rank']):>15s}"
    )

# %% [markdown]
# **Claims.** (1) Without SN, $G$'s layers end with $\sigma$ well above 1 (the table's left
# column); with SN every one of them is 1 to within 1 %: $G$'s weights move slowly enough that
# one power-iteration step per update keeps up. (2) The shape of the spectra of the
# (transposed) convolutions hardly moves: their mean effective ranks differ by less than
# 10 %. The dense first layer's effective rank is lower with SN in every stored seed, yet the
# rule does not resolve that difference. (3) **SN in $G$ against $G$ plain is not resolved on
# any final score**, in either direction: the estimates all lean towards the plain $G$ (lower
# accuracy and IS with SN in $G$, a geometric mean FID about 1.5 times as high), but their
# intervals reach well past no difference. At this scale the data cannot tell whether SN in
# $G$ helps or hurts the end point.

# %%
assert all(min(v["sigma"]) > 1.2 for v in g_plain.values())
assert all(abs(x - 1) < 0.01 for v in g_sn.values() for x in v["sigma"])
for layer in ("dc1", "dc2", "c3"):
    plain_rank = statistics.mean(g_plain[layer]["eff_rank"])
    assert abs(statistics.mean(g_sn[layer]["eff_rank"]) - plain_rank) < 0.1 * plain_rank, layer
l0_call = calls["projection_snG", "projection", "l0 rank"]
print(l0_call)
assert max(rank_l0["projection_snG"]) < min(rank_l0["projection"])
assert l0_call.estimate < 0 and l0_call.verdict == "not resolved"
sn_g_calls = {
    k: calls["projection_snG", "projection", k] for k in ("class_acc", "digits_is", "digits_fid")
}
for c in sn_g_calls.values():
    print(c)
assert all(c.verdict == "not resolved" for c in sn_g_calls.values())
assert sn_g_calls["class_acc"].estimate < 0 and sn_g_calls["digits_is"].estimate < 0
assert 1.3 < sn_g_calls["digits_fid"].ratio < 1.6
assert all(c.low < 0 < c.high for c in sn_g_calls.values())  # each interval holds no change

# %% [markdown]
# ## Summary
#
# - **Projection.** With the label entering through $\langle e_y, \phi(x)\rangle$ and SN on
#   every layer *and on the embedding* (without it, scaling the embedding breaks $D$'s bound),
#   a small conditional SN-GAN draws the requested digit in at least 90 % of its samples
#   after 1500 updates in every seed.
# - **One rule, nine comparisons.** Judged by Welch's test with Holm's correction over the
#   stated list, three seeds resolve none of them. The estimates favour projection over
#   concatenation on all three scores (a geometric mean FID a third as high), and SN makes the
#   classes appear sooner in every stored seed, but each of these is not resolved.
# - **SN in G.** It pins every layer of $G$ at $\sigma = 1$ and leaves the effective ranks of
#   the (transposed) convolutions within 10 %. Whether it helps or hurts the final scores is
#   not resolved (the estimates lean towards the plain $G$).
#
# ## Exercises
#
# 1. With every $\gamma_y = 1$ and $\beta_y = 0$, conditional batch norm is plain batch norm:
#    check it on a fresh `ConditionalBatchNorm2d(6)`. Then set $\gamma_3 = 2$: which samples of
#    a batch change?
# 2. Why does the projection $D$ need SN on its class embedding, while the class parameters
#    $\gamma_y, \beta_y$ of $G$'s conditional batch norm need none?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1: only the samples whose label is 3 change.
cbn = ConditionalBatchNorm2d(6)
h_ex, y_ex = torch.randn(20, 6, 4, 4, generator=gen), torch.arange(20) % 10
with torch.no_grad():
    cbn.gamma.weight.fill_(1.0)
    cbn.beta.weight.zero_()
    plain = nn.functional.batch_norm(h_ex, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(cbn(h_ex, y_ex), plain)
    cbn.gamma.weight[3] = 2.0
    changed = (cbn(h_ex, y_ex) != plain).flatten(1).any(1)
print("samples that changed have labels", sorted(set(y_ex[changed].tolist())))
assert torch.equal(changed, y_ex == 3)
# Solution to exercise 2: the game asks D, not G, to be Lipschitz in x. grad_x D = J_phi^T
# (w_psi + e_y) grows with ||e_y||, so the embedding must be bounded (Step 2); G's gamma_y and
# beta_y only shape what G draws, and no bound of the game involves them (SN in G, Step 5, is
# an optional conditioning choice).

# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Miyato and Koyama (2018). *cGANs with Projection Discriminator*. ICLR. `miyato2018cgans`
# - Zhang, Goodfellow, Metaxas and Odena (2019). *Self-Attention Generative Adversarial
#   Networks*. ICML. `zhang2019self`
# - Brock, Donahue and Simonyan (2019). *Large Scale GAN Training for High Fidelity Natural
#   Image Synthesis*. ICLR. `brock2019large`
# - de Vries, Strub, Mary, Larochelle, Pietquin and Courville (2017). *Modulating Early Visual
#   Processing by Language*. NeurIPS. `devries2017modulating`
# - Dumoulin, Shlens and Kudlur (2017). *A Learned Representation for Artistic Style*. ICLR.
#   `dumoulin2017learned`
# - Mirza and Osindero (2014). *Conditional Generative Adversarial Nets*. arXiv:1411.1784.
#   `mirza2014conditional`
# - Roy and Vetterli (2007). *The Effective Rank: A Measure of Effective Dimensionality*.
#   EUSIPCO. `roy2007effective`
# - Sedghi, Gupta and Long (2019). *The Singular Values of Convolutional Layers*. ICLR.
#   `sedghi2019singular`

# %% [markdown]
# ## What's next
#
# [Lesson 11](11_sigma_watch_and_checkup.ipynb) watches the largest singular value of every layer
# during training as an early warning, and gives any network a check-up.
