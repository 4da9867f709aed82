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
# # Compare every toy-GAN method under settings A–F and tune SN to reach every mode
#
# Appendix to [lesson 07](07_toy_gan_lab.ipynb), which built the toy GANs, their metrics and the
# training step. Here are the longer studies on the 25-Gaussian grid: every method under the
# paper's optimizer settings A–F (Table 1), three seeds each, read from stored runs; a recipe
# that captures every mode on a CPU, trained longer and with one choice changed at a time, set
# beside the published numbers; and, first, what the training loop does when a loss turns
# into NaN.
#
# ## What you will learn
#
# 1. Stop a run on a NaN loss without reading the losses on the host at every step.
# 2. Read a table of 72 configurations × 3 seeds with one statistical rule, and say where SN's
#    robustness holds on this toy and where it does not.
# 3. Follow a tuning study: what a CPU recipe reaches in a minute, in 30000 and 60000 updates,
#    and what each of its choices is worth.
# 4. Compare with published numbers only where the protocols agree.
#
# ## What you need
#
# Lessons 04 (spectral norm) and 06 (the alternatives). No GPU. Full mode runs in about a
# minute and a half on an idle 2-core CPU, most of it for one minute-long run in "Reaching
# every mode". On a 2-core machine shared with other jobs it took 8 minutes at a
# load average near 5 and 11 minutes near 12 (there the minute-long run took 326 s against 63 s
# alone): expect more than 2.5 minutes on a busy machine. Three scripts in `benchmarks/`
# make what would take longer, and the lesson reads the files they write: the table of 72
# configurations × 3 seeds (`toy_table.py`, over an hour on one core), the recipe of
# "Reaching every mode" trained longer (`toy_long.py`, 6.5 minutes on 2 idle cores) and with
# one choice changed at a time (`toy_levers.py`, 11 minutes of CPU time).
#
# Lesson 07 itself, whose Step 4 SN run section 3 retrains as a yardstick.

# %%
import csv
import math
import statistics

import matplotlib.pyplot as plt
import numpy as np
import torch
from myst_nb import glue

import sngan_teach.methods as methods
from sngan_teach.gan import SETTINGS, make_optimizers, train
from sngan_teach.methods import METHODS
from sngan_teach.regularizers import orthonormal_penalty
from sngan_teach.runtime import base_seed, kernel_check, pick, seed_all, stored_result
from sngan_teach.stats import compare
from sngan_teach.toy import (
    dataset,
    make_D,
    make_G,
    plot_curves,
    plot_samples,
    sample_mixture,
    train_toy,
)

# %%
kernel_check()  # a one-line warning when this is not the kernel Python (sngan-teach)
seed = base_seed()  # $SNGAN_SEED (default 0); every other seed derives from it
gen = seed_all(seed)  # one seeded generator for the data drawn in this notebook
torch.set_num_threads(1)  # tiny networks: one thread is fastest, and fair on a shared CPU
data = pick(quick="ring", full="grid")  # the mixture of lesson 07's Step 4 (quick mode: 8 modes)
n_steps = pick(quick=300, full=1500)  # generator updates of lesson 07's Step 4 runs
setting = pick(quick="C", full="D")  # optimizer setting of Table 1 (alpha, beta1, beta2, n_dis)
width = 64  # hidden units of G and D
batch_size_D = 256  # real (and fake) samples per discriminator update
batch_size_G = 256  # fake samples per generator update
n_eval = pick(quick=1000, full=2500)  # samples scored by the metrics (2500 as in VEEGAN/PacGAN)
eval_every = pick(quick=50, full=150)  # generator updates between two metric evaluations
table_path = stored_result("toy_table.csv", "python experiments/toy_table.py --resume")
long_data = pick(quick="ring", full="grid")  # mixture of "Reaching every mode"
long_steps = pick(quick=600, full=9000)  # its generator updates, alpha decayed linearly to 0
long_setting = {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 1}  # alpha, beta1, beta2
long_width = 128  # hidden units of its G and D (3 hidden layers in G, with batch norm; 2 in D)

centres, std = dataset(data)

# ## 1. When training blows up
#
# The step never reads a loss on the host, so a NaN cannot stop it there. `train` reads the
# losses once every `log_every` steps and raises a `FloatingPointError` naming the loss and
# the step. Here the real data turns to NaN after 3 batches:

# %%
torch.manual_seed(seed)
net_G, net_D = make_G(2, width), make_D("none", width)
opt_G, opt_D = make_optimizers(net_G, net_D, "C")
nan_gen = torch.Generator().manual_seed(seed)
n_batches = []


def sample_real_nan(n):
    n_batches.append(n)
    x = sample_mixture(centres, std, n, nan_gen)
    return x * float("nan") if len(n_batches) > 3 else x


# %% tags=["raises-exception"]
train(net_G, net_D, opt_G, opt_D, sample_real_nan, 50, z_dim=2, generator=nan_gen, log_every=10)

# %%
try:
    train(net_G, net_D, opt_G, opt_D, sample_real_nan, 50, z_dim=2, generator=nan_gen,
          log_every=10, progress=False)  # fmt: skip
    error = None
except FloatingPointError as err:
    error = str(err)
print(error)
assert error is not None and error.startswith("loss_D is nan at step 10")

# %% [markdown]
#
# %% [markdown]
# ## 2. Every method under settings A–F
#
# `experiments/toy_table.py` trains every discriminator method with the non-saturating and the
# hinge loss, and the gradient penalty with the standard loss (GAN-GP) and the Wasserstein
# loss (WGAN-GP), under each setting A–F: 72 configurations on the 25-Gaussian grid, each from
# three seeds, with the same number of generator updates and sizes. Regenerate the CSV it
# writes into a new file, then move it over the stored one (the script refuses to overwrite a
# file that holds rows; `--resume` adds only the missing ones):
#
# ```
# nice .venv/bin/python experiments/toy_table.py --out /tmp/toy_table.csv --jobs 2
# mv /tmp/toy_table.csv benchmarks/results/toy_table.csv
# ```

# %%
with table_path.open() as f:
    rows = list(csv.DictReader(f))
n_steps_table = {int(r["n_steps"]) for r in rows}
table_seeds = sorted({int(r["seed"]) for r in rows})
labels = sorted({(r["method"], r["loss"]) for r in rows}, key=lambda ml: (METHODS.index(ml[0]), ml))
table = {}  # (method, loss, setting) -> the runs of that configuration, one per seed
for r in rows:
    table.setdefault((r["method"], r["loss"], r["setting"]), []).append(r)
print(f"{len(rows)} runs: {len(labels)} method/loss pairs x {len(SETTINGS)} settings x seeds "
      f"{table_seeds}, {n_steps_table} generator updates each, "
      f"median {np.median([float(r['seconds']) for r in rows]):.0f} s per run")  # fmt: skip


def cell_values(ml, setting, key):
    return np.array([float(r[key]) for r in table[ml + (setting,)]])


fig, axes = plt.subplots(1, 2, figsize=(11, 5))
for ax, key, cmap in zip(axes, ("modes", "hq"), ("viridis", "magma"), strict=True):
    means = np.array([[cell_values(ml, s, key).mean() for s in SETTINGS] for ml in labels])
    sds = np.array([[cell_values(ml, s, key).std(ddof=1) for s in SETTINGS] for ml in labels])
    ax.imshow(means, cmap=cmap, aspect="auto")
    bright = means > means.min() + 0.6 * (means.max() - means.min())
    for i, j in np.ndindex(means.shape):
        text = (f"{means[i, j]:.1f}\n±{sds[i, j]:.1f}" if key == "modes"
                else f"{means[i, j]:.2f}\n±{sds[i, j]:.2f}")  # fmt: skip
        color = "black" if bright[i, j] else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=6)
    title = "modes captured (of 25)" if key == "modes" else "high-quality fraction"
    ax.set(xticks=range(6), xticklabels=list(SETTINGS), yticks=range(len(labels)),
           yticklabels=[f"{m}/{loss}" for m, loss in labels], xlabel="setting (Table 1)",
           title=f"{title}: mean ± sd over {len(table_seeds)} seeds")  # fmt: skip
axes[0].set_ylabel("method / loss")
fig.tight_layout()
plt.show()
glue("toy_table_figure", fig, display=False)  # kept for the site's results page

# %% [markdown]
# **Comparing with seeds.** Each configuration ran from three seeds. To compare two of them
# over a group of settings, average each seed's runs over the group, which gives three numbers
# per configuration. Then judge the difference by the rule of lessons 08 and 10,
# `sngan_teach.stats.compare`: Welch's t-test on the two groups of three, Holm's correction
# over a list of comparisons stated before the results, and one of three verdicts applied the
# same way in both directions, **better**, **worse** or **not resolved** (the seeds cannot
# tell; not "equal"). Modes captured (of 25) and the high-quality fraction are bounded and
# compared as they are (the estimate is a difference of means); the KL to uniform is compared
# on the log scale (the estimate is a ratio of geometric means). The list, 14 comparisons,
# `a` against `b` (standard loss unless a loss is named):
#
# 1. at D–F, SN with the standard loss and SN with the hinge loss, each against the WGAN-GP
#    critic, on modes and on KL (4);
# 2. WGAN-GP at A–C against WGAN-GP at D–F, on modes (1);
# 3. SN with each loss at F against SN with that loss at D, and at E, on modes (4);
# 4. on modes: orthonormal regularization against SN at D–F, SN against no normalization
#    over A–F, SN against WN and against weight clipping at D–F (4);
# 5. no normalization against SN at D–F, on the high-quality fraction (1).


# %%
def per_seed(method, loss, settings, key="modes"):
    """One number per seed: the mean of `key` over `settings` for that seed's runs."""
    return np.array([np.mean([float(r[key]) for s in settings for r in table[(method, loss, s)]
                              if int(r["seed"]) == sd]) for sd in table_seeds])  # fmt: skip


def show(name, values):
    return f"{name} {values.mean():.2f} ± {values.std(ddof=1):.2f}"


aggressive, mild = "DEF", "ABC"
family = {}  # name: (a's per-seed values, b's per-seed values, key)


def add(name, a, b, key="modes"):
    family[name] = (per_seed(*a, key), per_seed(*b, key), key)


for loss in ("ns", "hinge"):
    for key in ("modes", "kl"):
        add(f"D-F {key}: SN/{loss} vs WGAN-GP", ("sn", loss, aggressive),
            ("gp", "wgan", aggressive), key)  # fmt: skip
add("modes: WGAN-GP at A-C vs at D-F", ("gp", "wgan", mild), ("gp", "wgan", aggressive))
for loss in ("ns", "hinge"):
    for other in "DE":
        add(f"modes: SN/{loss} at F vs at {other}", ("sn", loss, "F"), ("sn", loss, other))
add("D-F modes: orthonormal vs SN", ("ortho", "ns", aggressive), ("sn", "ns", aggressive))
add("A-F modes: SN vs no normalization", ("sn", "ns", "ABCDEF"), ("none", "ns", "ABCDEF"))
for other in ("wn", "clip"):
    add(f"D-F modes: SN vs {other}", ("sn", "ns", aggressive), (other, "ns", aggressive))
add("D-F hq: no normalization vs SN", ("none", "ns", aggressive), ("sn", "ns", aggressive), "hq")
on_log = {name: key == "kl" for name, (_, _, key) in family.items()}  # KL: lower is better
calls = compare({name: f[:2] for name, f in family.items()}, log=on_log, lower_is_better=on_log)
for name, (a, b, _) in family.items():
    print(f"{name:36s} {show('a', a)}, {show('b', b)}")
for c in calls.values():
    print(c)

# %% [markdown]
# **What the table says** (three seeds per configuration, 1500 generator updates each). The
# paper claims, for CIFAR-10 and STL-10 (Figs. 1–2), that SN stays good across the settings
# while WGAN-GP fails at the aggressive ones D, E, F. By the rule, over the list above:
#
# 1. The table is complete: 12 method/loss pairs × 6 settings × 3 seeds, all trained equally
#    long.
# 2. At the aggressive settings D–F, SN with the standard loss captures **more** modes than the
#    WGAN-GP critic (about five more of 25). The other three comparisons with the critic are
#    **not resolved**: SN with the hinge loss on modes, and the KL to uniform with either loss,
#    although each estimate favours SN (more modes, a lower KL).
# 3. **Not reproduced:** WGAN-GP does not *degrade* at D–F on this toy. At this budget the slow
#    settings A–C ($\alpha \le 2\cdot 10^{-4}$) leave it even further behind: it captures
#    **fewer** modes on A–C than on D–F (about eight fewer).
# 4. Setting F ($\beta_1 = 0.9$) is the one that hurts SN: with the hinge loss it captures
#    **fewer** modes on F than on D. The other three comparisons of F (the hinge loss against
#    E, the standard loss against D and E) are **not resolved**, though each estimate is about
#    ten modes fewer on F: its three seeds spread too widely for Holm's correction.
# 5. **Not reproduced:** SN is not the best method on this toy. Orthonormal regularization
#    (standard loss) captures **more** modes than SN at D–F, as it beats SN at setting D on the
#    digits of lesson 08. SN against an unnormalized $D$ over A–F, and against WN and weight
#    clipping at D–F, is **not resolved**; so is the higher high-quality fraction at D–F
#    without normalization than with SN.
# 6. **Shortfall.** No configuration reaches "all 25 modes with 90 % high-quality samples"
#    in 1500 updates: the best mean high-quality fraction in the table, printed below, is far
#    short of 0.9. The generators still smear mass along lines between the modes, as the Step
#    4 scatter shows. PacGAN's 90 %+ comes after far longer training (400 epochs of 100,000
#    samples).

# %%
assert len(labels) == 12 and len(n_steps_table) == 1 and len(table_seeds) == 3
assert all(len(table.get(ml + (s,), [])) == 3 for ml in labels for s in SETTINGS)
verdicts = {name: c.verdict for name, c in calls.items()}
assert verdicts.pop("D-F modes: SN/ns vs WGAN-GP") == "better"
for name in ("D-F kl: SN/ns vs WGAN-GP", "D-F modes: SN/hinge vs WGAN-GP",
             "D-F kl: SN/hinge vs WGAN-GP"):  # fmt: skip
    better_for_sn = calls[name].estimate < 0 if "kl" in name else calls[name].estimate > 0
    assert better_for_sn and verdicts.pop(name) == "not resolved", name
assert verdicts.pop("modes: WGAN-GP at A-C vs at D-F") == "worse"
assert verdicts.pop("modes: SN/hinge at F vs at D") == "worse"
for name in ("modes: SN/hinge at F vs at E", "modes: SN/ns at F vs at D",
             "modes: SN/ns at F vs at E"):  # fmt: skip
    assert calls[name].estimate < -9 and verdicts.pop(name) == "not resolved", name
assert verdicts.pop("D-F modes: orthonormal vs SN") == "better"
assert calls["D-F hq: no normalization vs SN"].estimate > 0
assert set(verdicts.values()) == {"not resolved"}  # the last four of 5., and the hq one
best = max(table, key=lambda k: cell_values(k[:2], k[2], "hq").mean())
best_hq = cell_values(best[:2], best[2], "hq").mean()
print(f"best mean high-quality fraction: {best_hq:.3f} ({best[0]}/{best[1]}, setting {best[2]}), "
      f"{0.9 - best_hq:.2f} short of 0.9")  # fmt: skip

# %% [markdown]
# ## 3. Reaching every mode
#
# The table's runs are short (1500 generator updates) and keep $\alpha$ constant to the end,
# so the last updates still shake $G$'s samples around the modes. A stricter goal: an SN
# discriminator whose generator captures **all 25 modes with at least 90 % high-quality
# samples**, trained in at most a minute on 2 CPU cores. The recipe below is the best we found
# at that cost; the next subsections show how far it gets, how far longer training takes it,
# and what each of its choices is worth.
#
# The configuration: `long_setting` ($\alpha = 10^{-3}$, $\beta_1 = 0.5$, $\beta_2 = 0.9$,
# $n_{dis} = 1$) with $\alpha$ decayed linearly to 0 (`lr_decay=True` in `train`),
# `long_width` units (3 hidden layers in $G$, with batch norm; 2 in $D$), the standard
# (non-saturating) loss, batches of 256 and `long_steps` generator updates. **What is ours and
# what is the paper's:** $\alpha$, $\beta_1$ and $\beta_2$ are those of the paper's setting D,
# but the paper's aggressive settings D, E and F all use $n_{dis} = 5$. The single $D$ update
# per $G$ update, the decay, the network sizes and the batch size are our choices for a CPU
# budget; the last subsection measures the recipe with $n_{dis} = 5$ too.

# %%
# lesson 07's Step 4 SN run (hinge loss, its setting and length), the yardstick of claim (1)
sn_run = train_toy(
    data, "sn", "hinge", setting, n_steps=n_steps, width=width, batch_size_D=batch_size_D,
    batch_size_G=batch_size_G, n_eval=n_eval, eval_every=eval_every, seed=seed, progress=True,
)  # fmt: skip
long_run = train_toy(
    long_data, "sn", "ns", long_setting, long_steps, seed=seed, width=long_width,
    batch_size_D=batch_size_D, batch_size_G=batch_size_G, lr_decay=True, n_eval=n_eval,
    eval_every=long_steps // 10, progress=True,
)  # fmt: skip
long_centres, long_std = dataset(long_data)
m = long_run["metrics"]
print(f"{long_data}: {m['modes']} of {len(long_centres)} modes, HQ {m['hq']:.3f}, "
      f"KL {m['kl']:.3f}, {long_run['seconds']:.1f} s wall for {long_steps} updates")  # fmt: skip
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
plot_samples(axes[0], long_run["samples"], long_centres,
             f"SN, {long_steps} updates: {m['modes']} modes, HQ {m['hq']:.2f}")  # fmt: skip
axes[0].legend(loc="upper right", fontsize=7)
steps = [row["step"] for row in long_run["curve"]]
axes[1].plot(steps, [row["hq"] for row in long_run["curve"]], label="high-quality fraction")
axes[1].plot(steps, [row["modes"] / len(long_centres) for row in long_run["curve"]],
             label="modes captured / M")  # fmt: skip
axes[1].axhline(0.9, color="grey", ls="--", lw=1, label="target HQ 0.9")
axes[1].set(xlabel="generator step", ylabel="fraction", title="metrics while alpha decays to 0")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims** (checked on this seed; each threshold keeps a margin from what seeds 0 to 9 at
# full size and 0 to 29 in quick mode showed).
# (1) The run captures all $M$ modes (in quick mode, whose 600 updates on the ring are short,
# all but at most one: some seeds end with 7 of the 8), with a high-quality fraction more than
# 1.5 times that of lesson 07's Step 4 SN run on the same mixture (measured: at least 2.9 times
# at full size, 2.2 in quick mode). At full size, on the grid, the run ends at HQ 0.42 to 0.51
# with a KL to uniform of at most 0.18; in quick mode, on the ring, at HQ 0.18 to 0.57 with a
# KL of at most 0.33.
# (2) The high-quality fraction is highest in the decayed last part of the run: the final
# value is more than 1.2 times the one at mid-run (measured: at least 1.5 times).
#
# **Shortfall.** The 90 % target is not reached: in full mode the run ends at a high-quality
# fraction of 0.45, about 0.45 short (the cell prints the gap). The samples still lie on bridges
# between the modes; fewer than half of them land within $3s$ of a centre.

# %%
n_modes = len(long_centres)
mid = long_run["curve"][len(long_run["curve"]) // 2 - 1]
print(f"HQ at step {mid['step']}: {mid['hq']:.3f}; at the end: {m['hq']:.3f} (Step 4 SN run: "
      f"{sn_run['metrics']['hq']:.3f}); {0.9 - m['hq']:.2f} short of 0.9")  # fmt: skip
assert m["modes"] >= n_modes - pick(quick=1, full=0)
assert m["hq"] > 1.2 * mid["hq"]
assert m["hq"] > 1.5 * sn_run["metrics"]["hq"]
# quick mode trains 600 updates on the ring, not 9000 on the grid: a lower bar
assert m["hq"] >= pick(quick=0.12, full=0.35) and m["kl"] < pick(quick=0.45, full=0.3)

# %% [markdown]
# ### How long would 90 % take?
#
# `experiments/toy_long.py` trains this same recipe on the grid for 9000, 30000 and 60000
# generator updates from seed 0 (each run decays $\alpha$ to 0 over its own length; the
# longest takes about 6.5 minutes on one idle core) and writes a score every 1500 updates to
# `benchmarks/results/toy_long.csv`, read here. It also trains a short, 300-update run from
# ten seeds: their spread is what a rerun of the recipe is compared with below. Every row
# carries the recipe it was trained with; the first check is that it is still ours.

# %%
long_path = stored_result("toy_long.csv", "python experiments/toy_long.py --merge")
with long_path.open() as f:
    long_rows = list(csv.DictReader(f))
for row in long_rows:
    assert (row["data"], row["method"], row["loss"]) == ("grid", "sn", "ns")
    assert all(float(row[k]) == long_setting[k] for k in ("alpha", "beta1", "beta2", "n_dis"))
    assert (
        int(row["width"]) == long_width and int(row["batch_size"]) == batch_size_D == batch_size_G
    )
lengths = sorted({int(row["n_steps"]) for row in long_rows})
by_length = {  # the seed-0 run of each length; the shortest length has nine more seeds
    n: [row for row in long_rows if int(row["n_steps"]) == n and int(row["seed"]) == 0]
    for n in lengths
}
fig, ax = plt.subplots(figsize=(7, 3.8))
for n in lengths[1:]:
    rows_n = by_length[n]
    ax.plot([int(r["step"]) for r in rows_n], [float(r["hq"]) for r in rows_n], marker=".",
            label=f"{n} updates ({float(rows_n[-1]['seconds']):.0f} s)")  # fmt: skip
ax.axhline(0.9, color="grey", ls="--", lw=1, label="target HQ 0.9")
ax.set(xlabel="generator step", ylabel="high-quality fraction",
       title="the recipe trained longer (alpha decayed to 0 over each run)")  # fmt: skip
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
final = {n: rows_n[-1] for n, rows_n in by_length.items()}
for n, row in final.items():
    print(f"{n:>6} updates: {row['modes']} modes, HQ {float(row['hq']):.3f}, "
          f"KL {float(row['kl']):.3f}, {float(row['seconds']):.0f} s")  # fmt: skip
longest = by_length[lengths[-1]]
last = [float(r["hq"]) for r in longest if int(r["step"]) > lengths[-1] - 10000]
print(f"last 10000 updates of the longest run: HQ from {min(last):.3f} to {max(last):.3f}")

# %% [markdown]
# **Claims** (from the recorded runs).
# (1) Longer training keeps every mode and sharpens them: the 9000-, 30000- and 60000-update
# runs all end with 25 modes, and each longer run ends with a higher high-quality fraction
# (0.45, 0.76, 0.83) and a lower KL to uniform (0.16, 0.02, 0.007).
# (2) The fraction has flattened: over the last 10000 updates of the longest run it moves by
# less than 0.1.
# (3) The file's runs are runs of this recipe: retrained here for 300 updates, from this
# lesson's seed, the recipe ends within the spread of the file's ten 300-update runs (their
# mean ± 4 standard deviations of one more run, for the modes and the high-quality fraction).
# A retrained run does not end with the file's numbers to the last digit, and need not: the
# same CPU model, PyTorch build and thread count repeat a run exactly, but another machine,
# another build or another thread count adds different round-off, and a GAN amplifies it
# into another trajectory. At 300 updates that spread is wide (10 to 21 modes, high-quality
# fraction 0.013 to 0.032 over the file's ten seeds), so this check catches a recipe that
# changed, not a change of the last digit.
#
# **Shortfall.** Still not 90 %: even 60000 updates, about six and a half times the
# one-minute budget, end at 0.83, and the last 10000 updates stay between 0.78 and 0.85.
# Patience alone does not close the gap on a CPU budget; PacGAN, which reports 94 % on the
# grid, trains a generator of 4 layers of 400 units for 400 epochs of 100,000 samples.

# %%
check_steps = lengths[0]
check_run = train_toy(
    "grid", "sn", "ns", long_setting, check_steps, seed=seed, width=long_width,
    batch_size_D=batch_size_D, batch_size_G=batch_size_G, lr_decay=True, n_eval=2500,
)  # fmt: skip
spread = [row for row in long_rows if int(row["n_steps"]) == check_steps]
ends = [final[n] for n in lengths[1:]]
assert lengths == [300, 9000, 30000, 60000] and all(int(row["modes"]) == 25 for row in ends)
assert all(float(a["hq"]) < float(b["hq"]) for a, b in zip(ends, ends[1:], strict=False))
assert all(float(a["kl"]) > float(b["kl"]) for a, b in zip(ends, ends[1:], strict=False))
assert len(last) >= 5 and max(last) - min(last) < 0.1
assert sorted(int(row["seed"]) for row in spread) == list(range(10))
for key in ("modes", "hq"):
    file_values = [float(row[key]) for row in spread]
    mean, sd = statistics.mean(file_values), statistics.stdev(file_values)
    margin = 4 * sd * math.sqrt(1 + 1 / len(file_values))  # one more run from the same spread
    print(f"{key}: retrained {check_run['metrics'][key]:.4g}; the file's {len(spread)} seeds "
          f"{mean:.4g} ± {sd:.2g} (allowed ± {margin:.2g})")  # fmt: skip
    assert abs(check_run["metrics"][key] - mean) <= margin, (key, check_run["metrics"][key])

# %% [markdown]
# ### Against the published numbers
#
# VEEGAN and PacGAN made this grid a benchmark, with the same rules as lesson 07's Step 2 (3
# standard deviations, 2500 samples); GDPP (Elfeki et al., 2019) reports on it too. The cell below
# puts their numbers beside our longest run (the last row of `toy_long.csv`). Read them with care:
# the published rows are means over 5 to 10 seeds of networks trained far longer than ours
# (PacGAN: $G$ with 4 layers of 400 units and batch norm, $D$ with 3 maxout layers of 200
# units, Adam with $\alpha = 10^{-4}$ and $\beta_1 = 0.8$, batches of 100, about 400,000
# iterations; GDPP: 25,000 iterations with batches of 512), while ours is one seed. VEEGAN
# does not state its grid's spacing and standard deviation, and PacGAN does not publish its
# formula for the "reverse KL" (its code logs a Jensen–Shannon divergence), so only PacGAN's
# modes and HQ are strictly comparable with ours. Even true samples reach only
# $1 - e^{-9/2} = 98.9\,\%$ high-quality under the 3-std rule.

# %%
published = [  # (method, source, modes of 25, high-quality %, reverse KL; None: not reported)
    ("GAN", "PacGAN, Table 1", 17.3, 94.8, 0.70),
    ("PacGAN4", "PacGAN, Table 1", 24.8, 93.6, 0.04),
    ("VEEGAN", "VEEGAN, Table 1", 24.6, 40.0, None),
    ("WGAN-GP", "GDPP, Fig. 2 of its code", 24.2, 28.7, None),
    ("GDPP", "GDPP, Fig. 2 of its code", 24.8, 68.5, None),
]
ours = final[lengths[-1]]
print(f"{'method':<36}{'source':<26}{'modes':>6}{'HQ %':>7}{'KL':>7}")
for name, source, modes, hq, kl in published:
    kl_text = "-" if kl is None else f"{kl:.2f}"
    print(f"{name:<36}{source:<26}{modes:>6.1f}{hq:>7.1f}{kl_text:>7}")
ours_name = f"SN recipe, {lengths[-1]} updates, 1 seed"
ours_hq = 100 * float(ours["hq"])
print(f"{ours_name:<36}{'toy_long.csv':<26}{int(ours['modes']):>6}{ours_hq:>7.1f}"
      f"{float(ours['kl']):>7.3f}")  # fmt: skip
pacgan4 = published[1]
print(f"against PacGAN4: modes {int(ours['modes'])} vs {pacgan4[2]}, HQ {ours_hq:.1f} % vs "
      f"{pacgan4[3]} % ({pacgan4[3] - ours_hq:.1f} points short), KL {float(ours['kl']):.3f} "
      f"vs {pacgan4[4]}; {float(ours['seconds']):.0f} s of training")  # fmt: skip

# %% [markdown]
# **What each published number measures.** PacGAN's modes and HQ follow the rules of lesson
# 07's Step 2 on the same grid (spacing 2, std 0.05), so they are the ones to compare with. Its
# KL column is a "reverse KL" whose formula the paper does not give (its code logs a
# Jensen–Shannon divergence), so our $\mathrm{KL}(p\,\Vert\,U)$ is printed beside it, not
# compared. VEEGAN's HQ is on a grid whose spacing and standard deviation it does not state,
# and GDPP's numbers come from a figure of its code: both are shown for context only.
#
# **Claim.** Our longest run captures at least as many modes as PacGAN4 (all 25).
#
# **Shortfall.** The target "beat PacGAN4 on modes and HQ at once, as a mean of 5 seeds,
# within 10 minutes of this CPU" is **not met**: the run took about 6.5 minutes, but its
# high-quality fraction, 83.4 %, is about 10 points below PacGAN4's 93.6 % (and below PacGAN's
# plain GAN, 94.8 %), and it is one seed, not five. The next subsection finds the lever most
# likely to close the gap, the paper's $n_{dis} = 5$; we have not trained it that long.

# %%
assert int(ours["modes"]) >= pacgan4[2]
assert ours_hq < pacgan4[3]  # the shortfall above: HQ below PacGAN4's


# %% [markdown]
# ### The recipe, one choice at a time
#
# What is each choice of the recipe worth? `experiments/toy_levers.py` retrains it with one
# thing changed at a time, for the same 9000 generator updates from the same seed, and stores a
# score every 900 updates in `benchmarks/results/toy_levers.csv`, read here: $G$ without batch
# norm, the hinge loss, a constant $\alpha$, the paper's $n_{dis} = 5$ (which makes the
# optimizer exactly the paper's setting D, plus the decay), $D$ without normalization (standard
# loss), and the WGAN-GP critic ($\lambda = 10$; note that its authors' own recipe,
# $n_{dis} = 5$ and $\alpha = 10^{-4}$, is far from ours). The first row is the recipe itself,
# and the first check is that it is the run of the file above. The seven runs shared a busy
# machine, so their seconds are inflated: only their ratios to the recipe's mean anything.

# %%
levers_path = stored_result("toy_levers.csv", "python experiments/toy_levers.py")
with levers_path.open() as f:
    lever_rows = list(csv.DictReader(f))
lever_runs = {}
for row in lever_rows:
    assert float(row["alpha"]) == long_setting["alpha"] and int(row["width"]) == long_width
    assert int(row["n_steps"]) == 9000 and int(row["seed"]) == 0  # stored runs of seed 0
    point = {"step": int(row["step"]), "modes": int(row["modes"])}
    point |= {"hq": float(row["hq"]), "kl": float(row["kl"])}
    lever_runs.setdefault(row["variant"], {"curve": [], "seconds": float(row["seconds"])})
    lever_runs[row["variant"]]["curve"].append(point)
lever_end = {variant: run["curve"][-1] for variant, run in lever_runs.items()}
cost = {
    variant: run["seconds"] / lever_runs["recipe"]["seconds"] for variant, run in lever_runs.items()
}
for variant, end in lever_end.items():
    print(f"{variant:>22}: {end['modes']:>2} modes, HQ {end['hq']:.3f}, KL {end['kl']:.3f}, "
          f"time {cost[variant]:.1f} x the recipe's")  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
plot_curves(list(axes), lever_runs, 25)
fig.suptitle("the recipe (9000 updates on the grid) with one choice changed")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Claims** (one seed each: differences of a few hundredths in HQ are within seed noise).
# (1) The file's recipe row is the recipe: it ends where the 9000-update run of `toy_long.csv`
# ends.
# (2) Batch norm in $G$ is needed: without it the generator captures no mode at all.
# (3) The decay of $\alpha$ helps: with a constant $\alpha$ the run ends with a lower
# high-quality fraction and a higher KL.
# (4) The standard loss and the hinge loss end close: their high-quality fractions differ by
# less than 0.05.
# (5) **The paper's $n_{dis} = 5$ beats our $n_{dis} = 1$ per generator update:** all 25 modes,
# a high-quality fraction 0.2 or more higher (0.80 against 0.45) and a KL more than ten times
# lower, for
# two to four times the time. Per second of CPU it is at least as good: the 30000-update run
# of our recipe, about three times as long, ends at 0.76. The $n_{dis} = 1$ of the recipe was
# chosen for the one-minute budget; the paper's setting is the better use of a longer one.
# (6) Without normalization the generator does about as well as with SN on this toy (within
# one mode; the HQ and KL differences are of the size one seed cannot settle).
# (7) The WGAN-GP critic does not survive the recipe: fewer modes than SN and a KL to uniform
# at least 1 higher.

# %%
recipe_end, ends = lever_end["recipe"], lever_end
assert (recipe_end["modes"], recipe_end["hq"]) == (
    int(final[9000]["modes"]),
    float(final[9000]["hq"]),
)
assert ends["no batch norm in G"]["modes"] == 0
assert (
    ends["constant alpha"]["hq"] < recipe_end["hq"]
    and ends["constant alpha"]["kl"] > recipe_end["kl"]
)
assert abs(ends["hinge loss"]["hq"] - recipe_end["hq"]) < 0.05
n_dis_5 = ends["n_dis = 5 (setting D)"]
assert n_dis_5["modes"] == 25 and n_dis_5["hq"] > recipe_end["hq"] + 0.2
assert n_dis_5["kl"] < recipe_end["kl"] / 10 and 2 < cost["n_dis = 5 (setting D)"] < 4
assert n_dis_5["hq"] > float(final[30000]["hq"])
assert abs(ends["no normalization"]["modes"] - recipe_end["modes"]) <= 1
assert (
    ends["WGAN-GP"]["modes"] < recipe_end["modes"] and ends["WGAN-GP"]["kl"] > recipe_end["kl"] + 1
)

# %% [markdown]
# ## Summary
#
# - `train` reads the losses once every `log_every` steps and stops with the loss and step
#   named when one is NaN, so a GPU never waits for the host in between.
# - Over three seeds, judged by one rule (Welch's test, Holm's correction over 14 stated
#   comparisons), SN with the standard loss captures more modes than the WGAN-GP critic at the
#   aggressive settings D–F (with the hinge loss, and on the KL, not resolved). This small toy
#   does not reproduce the rest of the paper's robustness claim: WGAN-GP is worse still at the
#   slow settings, orthonormal regularization captures more modes than SN at D–F, SN against
#   an unnormalized MLP, WN or weight clipping is not resolved, and $\beta_1 = 0.9$ (setting
#   F) hurts SN too (resolved with the hinge loss against D, not resolved elsewhere).
# - Longer training with $\alpha$ decayed linearly to 0 is what sharpens the generator. Our
#   recipe (SN, standard loss, setting D's $\alpha$, $\beta_1$, $\beta_2$ but $n_{dis} = 1$
#   where the paper's D–F use 5) captures all 25 grid modes with 45 % high-quality samples in
#   9000 updates, 76 % and 83 % in 30000 and 60000, and then flattens: all 25 modes, as PacGAN4,
#   but about 10 points short of its 93.6 % high-quality samples.
# - One choice at a time, at 9000 updates: batch norm in $G$ is needed, the decay of $\alpha$
#   helps, the hinge and standard losses end close, and the paper's $n_{dis} = 5$ lifts the
#   high-quality fraction from 0.45 to 0.80 for about three times the time: the better use of
#   a budget longer than a minute.
#
# ## Exercises
#
# 1. Change `ORTHO_WEIGHT` in `sngan_teach.methods` (the orthonormal-penalty coefficient, which the
#    paper does not state) and retrain orthonormal regularization under setting E: how close to
#    orthonormal do $D$'s layers stay?

# %% tags=["hide-input"] jupyter={"source_hidden": true}
# Solution to exercise 1: a larger coefficient keeps D's layers closer to orthonormal.
ex_kw = dict(n_steps=100, width=width, batch_size_D=batch_size_D, batch_size_G=batch_size_G)
ex_kw |= dict(n_eval=1000, seed=seed)
default_weight = methods.ORTHO_WEIGHT
penalties = {}
try:
    for weight in (0.01, 10.0):
        methods.ORTHO_WEIGHT = weight
        run = train_toy("ring", "ortho", "hinge", "E", **ex_kw)
        penalties[weight] = orthonormal_penalty(run["net_D"]).item()
finally:
    methods.ORTHO_WEIGHT = default_weight
print("||W W^T - I||_F^2 summed over D's layers after training:", penalties)
assert penalties[10.0] < penalties[0.01]


# %% [markdown]
# ## References
#
# - Miyato, Kataoka, Koyama and Yoshida (2018). *Spectral Normalization for Generative
#   Adversarial Networks*. ICLR. `miyato2018spectral`
# - Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville and Bengio (2014).
#   *Generative Adversarial Nets*. NeurIPS. `goodfellow2014generative`
# - Gulrajani, Ahmed, Arjovsky, Dumoulin and Courville (2017). *Improved Training of
#   Wasserstein GANs*. NeurIPS. `gulrajani2017improved`
# - Srivastava, Valkov, Russell, Gutmann and Sutton (2017). *VEEGAN: Reducing Mode Collapse in
#   GANs using Implicit Variational Learning*. NeurIPS. `srivastava2017veegan`
# - Metz, Poole, Pfau and Sohl-Dickstein (2017). *Unrolled Generative Adversarial Networks*.
#   ICLR. `metz2017unrolled`
# - Lin, Khetan, Fanti and Oh (2018). *PacGAN: The Power of Two Samples in Generative
#   Adversarial Networks*. NeurIPS. `lin2018pacgan`
# - Elfeki, Couprie, Rivière and Elhoseiny (2019). *GDPP: Learning Diverse Generations Using
#   Determinantal Point Processes*. ICML. `elfeki2019gdpp`
# - Kahng, Thorat, Chau, Viégas and Wattenberg (2018). *GAN Lab: Understanding Complex Deep
#   Generative Models using Interactive Visual Experimentation*. IEEE VIS (IEEE TVCG 25(1)).
#   `kahng2018gan`
# - Kingma and Ba (2015). *Adam: A Method for Stochastic Optimization*. ICLR. `kingma2015adam`

# %% [markdown]
# Back to [lesson 07](07_toy_gan_lab.ipynb), or on to [lesson 08](08_robustness.ipynb).
