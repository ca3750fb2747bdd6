# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. More settings: CIFAR, conv nets, Sophia, skip connections and BatchNorm
#
# The earlier chapters test the paper's claims on one MLP trained with Adam. The appendix of the
# paper (F.1, F.6, F.10, F.11) asks whether the picture survives other settings:
#
# - **Harder data and conv nets (F.1).** VGG-11 and ResNet-20, both with BatchNorm after every
#   convolution, merged without permutations; after merging, the BatchNorm statistics are
#   recomputed on training data. The paper uses CIFAR-10 and CIFAR-100; where those files are
#   missing we say so and fall back to Fashion-MNIST padded to 32x32.
# - **BatchNorm and the activation norm (F.6, claim C11).** LEWC {eq}`eq-lewc` says the merged MLP's
#   layer outputs shrink by a factor 2 per layer; BatchNorm re-normalises every layer, so merged
#   BN nets should show no such decay.
# - **A second-order optimiser (F.10, Fig 24-25).** Models trained with Sophia instead of Adam:
#   do the barriers still shrink with width?
# - **Skip connections and BatchNorm in the MLP (F.11, Fig 26-27).** Do they change the barriers
#   and the {term}`reciprocal orthogonality <RO>` {eq}`eq-ro`?
#
# Every setting is judged on its own against the claims it tests, one verdict per setting and
# claim, each with that setting's scale: C1 (merged accuracy rises with width) and C2 (the
# calibrated barrier shrinks with width) for Sophia, the skip and BN MLPs, VGG-11 and ResNet-20;
# C7 (reciprocal orthogonality improves with width) for the skip and BN MLPs; C11 (BN nets' merged
# activations do not decay) for the BN nets.

# %% tags=["parameters"]
dataset: str = "fashion_mnist"  # mnist | fashion_mnist | cifar10 | cifar100 (CIFAR: folders needed)
model: str = "mlp"              # unused here: this chapter runs the MLP and both conv nets
widths: list = []               # widths for every part; empty: the defaults of each part (below)
width: float = 0.0              # > 0: this single width for every part (overrides widths)
epochs: int = 0                 # 0: the number of epochs of the profile
n_pairs: int = 0                # 0: the number of model pairs of the profile (MLP parts)
weight_decay: float = -1.0      # -1: the profile's weight decay
device: str = "auto"            # auto | cpu | cuda
profile: str = "cpu"            # cpu | paper | smoke
seed: int = 0                   # offset added to every seed (models, splits, directions)
mlp_widths: list = []           # Sophia, skip and BN MLP widths; empty: ch10.MLP_WIDTHS of the profile
conv_plan: dict = {}            # widths per conv net, e.g. {"vgg11": [0.125]}; empty: conv_widths of the profile
conv_pairs: int = 0             # 0: ch10.CONV_CUTS of the profile (cpu: 1 pair); else this many pairs
conv_n_train: int = 0           # 0: the training images of the conv recipe of the profile; else this many
conv_lams: int = 5              # lam grid of the conv nets (odd; every inner point needs a BN reset)
lams: int = 11                  # lam grid of the MLPs (odd, so that lam 1/2 is on it)
sophia_lr: float = 0.001        # learning rate of Sophia (F.10: the settings of the first-order runs)
conv_dataset: str = "auto"      # auto: cifar10 when present, else the dataset padded to 32x32
# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from lmc_lib.chapters import names, record, report
from lmc_lib.chapters.experiment import Setup, width_label
from lmc_lib.chapters.params import checked
from lmc_lib.chapters.plots import settings as fig
from lmc_lib.chapters.studies import ch10

mlp_widths, conv_plan, conv_pairs, conv_n_train, conv_lams, lams, sophia_lr, conv_dataset = checked("10",
    mlp_widths=mlp_widths, conv_plan=conv_plan, conv_pairs=conv_pairs, conv_n_train=conv_n_train,
    conv_lams=conv_lams, lams=lams, sophia_lr=sophia_lr, conv_dataset=conv_dataset)
setup = Setup.from_params(profile=profile, dataset=dataset, model="mlp", widths=widths,
                          width=width, epochs=epochs, n_pairs=n_pairs,
                          weight_decay=weight_decay, device=device, seed=seed)
plan = ch10.widths_plan(profile, width, widths, mlp_widths, conv_plan)
result = ch10.run(setup, **plan, conv_pairs=conv_pairs, conv_n_train=conv_n_train, lams=lams,
                  conv_lams=conv_lams, sophia_lr=sophia_lr, conv_dataset=conv_dataset)
S = result["settings"]
print(f"{S['title']}; conv nets: {S['conv_label']}, {names.widths(S['conv_plan'])}, "
      f"{names.count(S['conv_pairs'], 'pairs')}")

# %% [markdown]
# ## CIFAR-10 and CIFAR-100
# CIFAR cannot be downloaded on the machines that build this book. The loader looks for the
# standard python-pickle folders; the cell below says which were found.

# %% tags=["remove-input"]
for name, missing in result["cifar"].items():
    print(f"{name}: " + ("found" if not missing else "absent (its python-pickle folder is not in the data folder)"))
if result["cifar100"]:
    fig.lam_paths(result["cifar100"], ch10.conv_title(result).replace(S["conv_label"], "CIFAR-100"))
    plt.show()
else:
    display(Markdown("CIFAR-100 is absent, so the paper's Fig 15 is **not run** here; its "
                     "claims are recorded as \"not run\" for CIFAR-100. Put the folder "
                     "`cifar-100-python` into the data folder (the repository's `data/`, or the "
                     "folder the environment variable `LMC_DATA` names) to run it."))

# %% [markdown]
# ## Conv nets merged without permutations
# Accuracy and {term}`calibrated loss <Calibrated loss>` of $\theta(\lambda)$ along the straight path between two
# independently trained conv nets (BatchNorm statistics reset after merging), one line per width.

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-conv", "caption": "Conv nets merged without permutations (the conv-net panels of the paper's Fig 1 and of the paper's Fig 2, which use CIFAR-10): test accuracy and calibrated loss along the path {eq}`eq-path` (BatchNorm statistics reset after merging), one curve per width."}, "image": {"alt": "Accuracy and calibrated loss against lambda for VGG-11 and ResNet-20"}}
fig.lam_paths(result["conv"], ch10.conv_title(result))
plt.show()

# %% tags=["remove-input"]
rows = []
for arch, st in result["conv"].items():
    for i, w in enumerate(st["widths"]):
        rows.append(f"| {ch10.SETTING_NAMES[arch]} | {width_label(w)} "
                    f"| {100 * ch10.series(st, 'end_acc')[i]:.1f} | {100 * ch10.series(st, 'acc_half')[i]:.1f} "
                    f"| {100 * ch10.series(st, 'acc_barrier', 'half')[i]:.2f} "
                    f"| {ch10.series(st, 'cal_barrier', 'half')[i]:.3f} "
                    f"| {ch10.series(st, 'raw_barrier', 'half')[i]:.3f} |")
display(Markdown("| net | w | endpoint acc (%) | acc at $\\lambda = 1/2$ (%) | acc barrier (pp) | calibrated "
                 "barrier (nats) | raw barrier (nats) |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
                 + "\n\nMeans over pairs; barriers at $\\lambda = 1/2$."))

# %% tags=["remove-input"]
_ = report.show_sentences(ch10.verdicts, (result, setup), ["C1", "C2"])

# %% [markdown]
# ## BatchNorm and the norm of the merged activations (C11)
# Per layer, the mean norm of the {term}`merged model <Merged model>`'s output divided by the mean norm of the two
# endpoints' outputs, at $\lambda = 1/2$ and the largest width of each net (log scale). Crosses:
# what LEWC {eq}`eq-lewc` predicts, $\lVert (f_a + f_b) / 2^l \rVert$; dotted: $2^{-(l-1)}$. The
# plain MLP is shown for contrast.

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-norms", "caption": "Norm of the merged model's layer outputs divided by the endpoints' mean norm, at $\\lambda = 1/2$ and each net's largest width (the paper's Fig 20 for conv nets, with the plain and BatchNorm MLPs); log scale."}, "image": {"alt": "Norm ratio against layer for VGG-11, ResNet-20 and two MLPs"}}
norm_nets = {k: v for k, v in {**result["conv"], **result["mlp"]}.items() if k in
             ("adam", "bn", "vgg11", "resnet20")}
fig.norm_decay(norm_nets, ch10.conv_title(result) + f" | MLPs: {S['dataset']}, "
               f"w = {width_label(S['mlp_widths'][-1])}, {S['n_pairs']} pairs")
plt.show()

# %% tags=["remove-input"]
_ = report.show_sentences(ch10.verdicts, (result, setup), ["C11"])

# %% [markdown]
# ## Sophia instead of Adam (Fig 24, 25)
# The same MLP, data and weight decay, trained with SophiaG {cite}`liu2024sophia` (a clipped, diagonal second-order
# method) at the learning rate set above. Left figure: barriers at $\lambda = 1/2$; right figure:
# the trained models themselves.

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-sophia", "caption": "Adam against Sophia (the paper's Fig 24): accuracy barrier (pp), calibrated-loss and raw loss barriers (nats) at $\\lambda = 1/2$ against width."}, "image": {"alt": "Barriers against width for Adam and Sophia"}}
opt = {k: result["mlp"][k] for k in ("adam", "sophia")}
fig.barriers_vs_width(opt, result["mlp"]["sophia"]["title"] + f" | Sophia lr {S['sophia_lr']:g}",
                      keys=("acc_barrier", "cal_barrier", "raw_barrier"))
plt.show()

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-sophia-ends", "caption": "The trained models themselves (the paper's Fig 25): endpoint test accuracy and calibrated loss against width, Adam and Sophia."}, "image": {"alt": "Endpoint accuracy and calibrated loss against width for Adam and Sophia"}}
fig.endpoints_vs_width(opt, result["mlp"]["sophia"]["title"] + f" | Sophia lr {S['sophia_lr']:g}")
plt.show()

# %% [markdown]
# ## Skip connections and BatchNorm in the MLP (Fig 26, 27)
# Two variants of the same MLP: a residual connection around each hidden layer but the first,
# and BatchNorm before each ReLU (statistics reset after merging). Barriers vs width, then the
# reciprocal-orthogonality ratio $\lVert W_a h_b\rVert / \lVert W_a h_a\rVert$ of {eq}`eq-ro` (mean
# of both directions) per layer.

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-variants", "caption": "Plain, skip-connection and BatchNorm MLPs (the paper's Fig 26): accuracy barrier (pp) and calibrated-loss barrier (nats) at $\\lambda = 1/2$ against width."}, "image": {"alt": "Barriers against width for three MLP variants"}}
var = {k: result["mlp"][k] for k in ("adam", "skip", "bn")}
fig.barriers_vs_width(var, result["mlp"]["skip"]["title"].replace(" (skip)", " (plain, skip, BN)"))
plt.show()

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch10-variants-ro", "caption": "Reciprocal-orthogonality ratio {eq}`eq-ro` per layer for the three MLP variants (the paper's Fig 27), one curve per width."}, "image": {"alt": "Reciprocal-orthogonality ratio against layer, one panel per MLP variant"}}
fig.ro_per_layer(var, result["mlp"]["skip"]["title"].replace(" (skip)", " (plain, skip, BN)"))
plt.show()

# %% tags=["remove-input"]
_ = report.show_sentences(ch10.verdicts, (result, setup), ["C7"])

# %% [markdown]
# ## The paper profile
# The paper's settings (widths up to 16, up to 100 epochs) need a GPU. A run recorded there
# (`python -m lmc_lib.chapters.record --profile paper --chapters 10`) is drawn below by the same code,
# with its provenance, when it exists.

# %% tags=["remove-input"]
record.show("10", setup.dataset, [
    lambda r, t: fig.lam_paths(r["conv"], t),
    lambda r, t: fig.barriers_vs_width({k: r["mlp"][k] for k in ("adam", "sophia")}, t),
    lambda r, t: fig.barriers_vs_width({k: r["mlp"][k] for k in ("adam", "skip", "bn")}, t)])

# %% [markdown]
# ## Departures from the paper
# ```{admonition} Where this run departs from the paper
# :class: warning
# - **Profile.** The `cpu` profile trains for a few epochs on 2 CPU cores; the paper trains for up
#   to 100 epochs at widths up to 16 (MLP) on GPUs. Widths here are far smaller, so the trends are
#   judged between two or so widths only, and a trend that needs more width may not show yet.
# - **Data.** Without the CIFAR folders the conv nets run on Fashion-MNIST zero-padded to 32x32
#   (the figure titles say so); CIFAR-100 (Fig 15) is not run.
# - **Conv budget.** The conv recipe follows the STE-MM code of Ito et al. {cite}`ito2025stemm`
#   (SGD, learning rate $0.4$ with a linear warm-up and decay, crop and flip); the `cpu` profile
#   lowers the learning rate, shortens the warm-up and trains on a subset of the images (values in
#   `lmc_lib/core/config.py`; the line below gives this run's scale). To fit the chapter's time
#   budget the conv nets use fewer pairs per width than the MLPs (the conv figures' titles give the
#   number; with one pair their curves have no error band) and a short $\lambda$ grid (each inner point needs a BatchNorm reset). At
#   the smallest conv widths the nets have a handful of channels per stage: far narrower than
#   anything in the paper.
# - **Sophia.** The paper keeps "the first-order settings"; we use Adam's learning rate and weight
#   decay, but SophiaG applies weight decay decoupled (`theta *= 1 - lr wd`), much weaker than
#   Adam's coupled L2 at the same number; its other settings are the official SophiaG defaults
#   (`lmc_lib/core/sophia.py`).
# - **BN reset.** `bn_batches` batches of training images (a profile setting) instead of the full
#   training set.
# - **Thresholds.** "Decays" means a geometric-mean per-layer norm factor below $2^{-1/2}$ (halfway,
#   on a log scale, between LEWC's 1/2 and no decay); a trend over widths is a one-sided
#   permutation test of Spearman's rank correlation over all (width, pair) points at level
#   $\alpha = 0.05$ (`lmc_lib.lmc.rules.rises` / `falls`), undecided when too few widths or pairs
#   could reach it.
# ```

# %% tags=["remove-input"]
display(Markdown(f"This run: MLP parts {setup.but(widths=tuple(S['mlp_widths'])).scale_line()} "
                 f"Conv nets: {ch10.conv_title(result)}, {S['conv_n_eval']} test inputs."))

# %% [markdown]
# ## Result
# ```{margin} Thresholds
# A net's activations decay when the geometric-mean per-layer norm factor is below $2^{-1/2}$
# (mean − std over pairs must stay above it for "no decay"); a trend over widths is the one-sided
# rank test over all (width, pair) points, not a comparison of the last width with the first.
# ```

# %% tags=["remove-input"]
_ = report.show_result(ch10.verdicts, [(result, setup)])

# %% [markdown]
# ## What this chapter found

# %% tags=["remove-input"]
_ = report.show_found("10", setup.profile)
