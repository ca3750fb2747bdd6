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
# # 1. Data, models and linear mode connectivity
#
# This first chapter introduces the data sets and the models the book trains, trains one small
# network, and then sets up the two ideas the whole paper turns on (paper sections 1-2):
#
# * **Permutation symmetry.** The hidden units of a layer can be reordered, together with the
#   rows and columns of the weights that touch them, without changing what the network computes.
#   Two nets trained from different seeds are therefore compared only "up to a permutation".
# * **Linear mode connectivity (LMC)** and the **barrier** that measures its failure: how much
#   worse the straight-line average of two trained nets is than the endpoints themselves.
#   Independent solutions are known to be joined by low-loss *curved* paths
#   {cite}`garipov2018curves,draxler2018barriers`; the linear question asks for the straight one.
#
# The paper's question is whether one needs to *undo* the {term}`permutation symmetry <Permutation symmetry>` (by matching units
# first) for two independently trained nets to be linearly connected, or whether width alone
# suffices. Chapters 2 and 3 answer it on the book's models; this chapter only fixes the vocabulary.

# %% tags=["parameters"]
dataset: str = "fashion_mnist"  # mnist | fashion_mnist | cifar10 | cifar100 (CIFAR: folders needed)
model: str = "mlp"              # mlp | vgg11 | resnet20
widths: list = []               # width multipliers to sweep; empty: the profile's widths
width: float = 0.0              # > 0: this single width (overrides widths)
epochs: int = 0                 # 0: the profile's number of epochs
n_pairs: int = 0                # 0: the profile's number of model pairs
weight_decay: float = -1.0      # -1: the profile's weight decay
seed: int = 0                   # offset added to every seed (models, splits, directions)
device: str = "auto"            # auto | cpu | cuda
profile: str = "cpu"            # cpu | paper | smoke
count_widths: list = [0.0625, 0.25, 1.0, 4.0, 16.0]  # widths whose parameter counts are listed
barrier_width: float = 0.0      # width of the pair whose path is drawn; 0: the narrowest width
perm_seed: int = 0              # seed of the random permutation in the symmetry check

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, width_label
from lmc_lib.chapters.params import checked
from lmc_lib.chapters.plots import loss_curve, sample_grid
from lmc_lib.chapters.plots.paths import barrier_example
from lmc_lib.chapters.studies import ch01
from lmc_lib.core import data as lmc_data
from lmc_lib.core.cache import load_or_train

count_widths, barrier_width, perm_seed = checked("01", count_widths=count_widths,
    barrier_width=barrier_width, perm_seed=perm_seed)
setup = Setup.from_params(profile=profile, dataset=dataset, model=model, widths=widths,
                          width=width, epochs=epochs, n_pairs=n_pairs,
                          weight_decay=weight_decay, device=device, seed=seed)
setup

# %% [markdown]
# ## The data
# MNIST (handwritten digits) and Fashion-MNIST (clothing) both hold 60,000 training and 10,000
# test images of 28x28 grey pixels in 10 classes.

# %% tags=["remove-input"]
sets = {name: lmc_data.load(name) for name in ("mnist", "fashion_mnist")}
for name, ds in sets.items():
    print(f"{name}: {tuple(ds.x_train.shape)} train, {tuple(ds.x_test.shape)} test, "
          f"pixel mean {ds.mean[0]:.3f}, std {ds.std[0]:.3f}")

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch01-mnist", "caption": "MNIST: the first six training images of each class."}, "image": {"alt": "Grid of handwritten digits, six per class 0 to 9"}}
sample_grid(sets["mnist"])
plt.show()

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch01-fashion", "caption": "Fashion-MNIST: the first six training images of each class; the book's default data set."}, "image": {"alt": "Grid of clothing images, six per class"}}
sample_grid(sets["fashion_mnist"])
plt.show()

# %% [markdown]
# ## One model
# We train one network of the chosen width with the profile's recipe; the model cache keeps it for
# the other chapters.

# %% tags=["remove-input"]
w = setup.widths[-1]
config = setup.config(w)
net = load_or_train(config, setup.device)
m = net.train_metrics
epochs_txt = f"{config.epochs} epoch" + ("s" if config.epochs != 1 else "")
print(f"{config.arch}, w = {width_label(w)}, seed {config.seed}, {epochs_txt}, "
      f"weight decay {config.weight_decay:g}")
print(f"train accuracy {100 * m['train_acc']:.1f}%, test accuracy {100 * m['test_acc']:.1f}%, "
      f"test loss {m['test_loss']:.3f} nats, trained in {m['wall_time_s']:.1f} s")

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch01-loss", "caption": "Training loss of the model above, per optimisation step and per epoch."}, "image": {"alt": "Training cross-entropy falling over the optimisation steps"}}
loss_curve(net.train_metrics, title=setup.title(widths=[w]))
plt.show()

# %% [markdown]
# ## The three architectures and their width multiplier
# The paper studies a multi-layer perceptron (three hidden ReLU layers of $512w$ units, four
# weight layers in all), VGG-11 and ResNet-20 (channel counts of every convolution times $w$).
# The {term}`width multiplier <Width multiplier>` $w$ is the single knob of the paper. The table counts the parameters of
# each model per width, for this data set's image shape (convolutional nets see 28x28 images
# zero-padded to 32x32). The paper's widths run from 1/4 to 16; the `cpu` profile stays far
# below that, and the counts show why: VGG-11 at $w = 16$ has billions of parameters.

# %% tags=["remove-input"]
result = ch01.run(setup, count_widths=count_widths, barrier_width=barrier_width,
                  perm_seed=perm_seed)
display(Markdown(ch01.param_table(result)))

# %% [markdown]
# ## Permutation symmetry on a trained net
# Take hidden layer $l$ and any permutation matrix $P_l$ of its units. Replacing
# $W_l \to P_l W_l P_{l-1}^\top$ and $b_l \to P_l b_l$ (with $P_0 = P_L = I$: inputs and logits
# stay in place) reorders the units of every hidden layer and leaves the network's function
# unchanged, because ReLU acts unit by unit. Below, one trained model of the main sweep (the
# widest width, pair 0, model a) gets a uniformly random permutation in every hidden layer. Its
# logits should agree with the original up to floating-point rounding, while its parameter vector
# moves far away; for scale, the printout also gives the distance to a second, independently
# trained model of the same width (model b of the same pair).

# %% tags=["remove-input"]
s = result["symmetry"]
print(f"width {width_label(s['width'])}: {s['units_moved']} of {s['units']} hidden units moved "
      f"by the random permutation (seed {s['seed']})")
print(f"max |logits(original) - logits(permuted)| over {s['n_inputs']} test images: "
      f"{s['max_abs_logit_diff']:.2e} (largest |logit|: {s['max_abs_logit']:.1f})")
print(f"test accuracy: original {100 * s['acc']:.2f}%, permuted {100 * s['acc_permuted']:.2f}%")
print(f"||theta||                          = {s['param_norm']:.2f}")
print(f"||theta - permuted theta||         = {s['dist_permuted']:.2f}")
print(f"||theta_a - theta_b|| (other seed) = {s['dist_independent']:.2f}")

# %% [markdown]
# ## The barrier
# For two trained models $\theta_a, \theta_b$ the book always writes the linear path as
#
# ```{math}
# :label: eq-path
# \theta(\lambda) = \lambda\,\theta_a + (1 - \lambda)\,\theta_b, \qquad \lambda \in [0, 1],
# ```
#
# so $\lambda = 1$ is model a and $\lambda = 0$ is model b. The **loss barrier** (the paper's
# Def 2.1, after Entezari et al. {cite}`entezari2022permutation`) is the largest excess of the path's test loss over the
# straight chord between the endpoints' losses,
#
# ```{math}
# :label: eq-barrier
# \begin{aligned}
# B_{\text{loss}} = \max_\lambda \big[\, &\mathcal{L}(\theta(\lambda)) \\
#   &- \lambda\,\mathcal{L}(\theta_a) - (1 - \lambda)\,\mathcal{L}(\theta_b)\big],
# \end{aligned}
# ```
#
# and the **accuracy barrier** (in percentage points, pp, throughout the book) is the largest
# shortfall of accuracy below its chord. The two models are *linearly mode connected* when the
# barrier is about zero. The book evaluates the path on a grid of $\lambda$ (11 points for MLPs, 5
# for conv nets) and reports both the value at $\lambda = 1/2$ (the paper's Table 1) and the maximum
# over the grid. Here is the path of one pair of the main sweep, at its narrowest width, where a
# barrier is expected to be most visible; {doc}`chapter 2 <02_width>` repeats this for every width
# and pair.

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch01-barrier", "caption": "The barrier of one pair along the path {eq}`eq-path`: accuracy (left) and loss (right) of the merged model against the chord between the endpoints; the arrow marks the barrier {eq}`eq-barrier`."}, "image": {"alt": "Accuracy and loss along lambda for one pair with the chord and the barrier marked"}}
ex = result["example"]
barrier_example(ex, setup.title(widths=[ex["width"]]))
plt.show()

# %% tags=["remove-input"]
display(Markdown(
    f"For this pair at $w$ = {width_label(ex['width'])}, the accuracy barrier is "
    f"{100 * ex['acc_barrier_max'][0]:.2f} pp (maximum over the grid; "
    f"{100 * ex['acc_barrier_half'][0]:.2f} pp at λ = 1/2) and the raw loss barrier is "
    f"{ex['loss_barrier_max'][0]:.3f} nats. Chapter 2 also calibrates the loss (fits a "
    f"temperature for every model on the path): here that barrier is "
    f"{ex['cal_barrier_max'][0]:.3f} nats."))

# %% [markdown]
# ## Departures from the paper
# ```{admonition} Where this run departs from the paper
# :class: warning
# * The `cpu` profile trains for a few epochs at small widths (the line printed under the
#   parameters gives this run's scale); the paper trains for up to 100 epochs at widths up to 16 with 3 pairs (see `lmc_lib/core/config.py`).
# * The paper's learning rate and weight decay for the MLP were lost in the text we work from; the
#   book uses Adam with the profile's learning rate and weight decay (documented defaults in
#   `lmc_lib/core/config.py`).
# * Barriers are measured on a held-out $80\%$ of the first `n_eval` test images (the other $20\%$ fit
#   the temperature of the calibrated loss, {doc}`chapter 2 <02_width>`), not on the whole test set.
# ```
#
# ## Result
# This chapter sets up the definitions and judges none of the paper's claims (C1-C12); its
# permutation check is printed above and kept in the chapter's result.

# %% tags=["remove-input"]
display(Markdown(report.result_markdown(ch01.verdicts(result, setup))
                 or "No claim is judged in this chapter."))

# %% [markdown]
# ## What this chapter found

# %% tags=["remove-input"]
_ = report.show_found("01", setup.profile)
