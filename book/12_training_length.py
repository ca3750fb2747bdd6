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
# # 12. How long to train: the short run or the paper?
#
# Every chapter before this one trains its models for a few epochs (the `cpu` profile), while the
# paper trains for 100 (its Appendix B: Adam, learning rate $10^{-3}$, batch 512, no schedule). When
# a claim about the mechanism (LEWC in {doc}`chapter 4 <04_lewc>`, weak additivity and tiny units in
# {doc}`chapter 5 <05_weak_additivity>`) is not reproduced on the `cpu` profile, a reader has to
# know whether the paper is wrong or the networks are barely trained. This chapter answers that
# from the numbers.
#
# **The records.** The paper's recipe was run for 100 epochs on a CPU at the paper's smallest
# widths (from 1/4; 3 pairs, both datasets), and each run was also kept at 3, 10 and 30
# epochs. With a constant learning rate the first 3 epochs of a 100-epoch run *are* a 3-epoch run:
# same data order, same steps; so the 3-epoch snapshot is the `cpu` profile's model bit for bit
# (a test in `tests/test_train_group.py` proves it on toy data, and `benchmarks/snapshot_check.py`
# on the records' own models: see `docs/BENCHMARKS.md`). Chapters 2, 4 and 5 were then recorded at
# each length.
#
# **The experiment.** For each claim with a single core quantity, draw it against the training
# length at every recorded width (mean ± std over pairs), and apply the rule of
# `docs/VERDICTS.md` ("Attribution"), fixed before the records existed: at the widest recorded
# width, the per-pair change from 3 to 100 epochs counts as movement *towards* the paper when its
# mean minus its standard deviation lies on the paper's side of zero.

# %% tags=["parameters"]
dataset: str = "fashion_mnist"  # mnist | fashion_mnist: the records to read
model: str = "mlp"              # mlp (the records are MLPs)
widths: list = []               # unused: the records' widths are drawn
width: float = 0.0              # unused: the records' widths are drawn
epochs: int = 0                 # unused: the records' lengths are drawn (3, 10, 30, 100)
n_pairs: int = 0                # unused: the records' pairs are drawn
weight_decay: float = -1.0      # unused: the paper recipe's weight decay
device: str = "auto"            # auto | cpu | cuda (nothing is trained or evaluated here)
profile: str = "cpu"            # the live profile whose verdicts are attributed
seed: int = 0                   # unused: the records' seeds
second_dataset: str = "mnist"   # repeat the figure on this dataset; "": none

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from lmc_lib.chapters import attribution, report
from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.params import checked
from lmc_lib.chapters.plots import lengths
from lmc_lib.chapters.studies import ch12
from lmc_lib.core.data import DATASET_NAMES

second_dataset, = checked("12", second_dataset=second_dataset)
setup = Setup.from_params(profile=profile, dataset=dataset, model=model, widths=widths,
                          width=width, epochs=epochs, n_pairs=n_pairs,
                          weight_decay=weight_decay, device=device, seed=seed)
datasets = [setup.dataset] + ([second_dataset] if second_dataset and second_dataset != setup.dataset else [])
result = ch12.run(setup, datasets)
TITLE = "{}, MLP | paper recipe recorded on a CPU | 3 pairs"

# %% [markdown]
# ## Each claim's core quantity against training length
# One panel per claim; the panel title says which way the paper expects the quantity to go with
# width (and, if the short training is what hides it, with training).

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch12-lengths", "caption": "Core quantity of C1, C2, C4, C5, C6 and C10 against training epochs (log scale), one line per width, mean and standard deviation over pairs; records of the paper recipe made on a CPU (3-, 10- and 30-epoch snapshots of the 100-epoch runs)."}, "image": {"alt": "Six panels: each claim's core quantity against training epochs, one line per width"}}
lengths.core_vs_epochs(list(result["per_dataset"][setup.dataset].values()),
                       TITLE.format(DATASET_NAMES[setup.dataset]))
plt.show()

# %% tags=["remove-input"]
display(Markdown(ch12.movement_markdown(result, setup.dataset)))

# %% tags=["remove-input"] mystnb={"figure": {"name": "fig-ch12-lengths-second", "caption": "The same on the second dataset."}, "image": {"alt": "Six panels on the second dataset: each claim's core quantity against training epochs"}}
for ds in datasets[1:]:
    lengths.core_vs_epochs(list(result["per_dataset"][ds].values()), TITLE.format(DATASET_NAMES[ds]))
    plt.show()

# %% tags=["remove-input"]
for ds in datasets[1:]:
    display(Markdown(f"**{DATASET_NAMES[ds]}**\n\n" + ch12.movement_markdown(result, ds)))

# %% [markdown]
# ## Short training or the paper: every verdict attributed
# For each verdict of this build on the datasets above: the live `cpu` verdict, the verdict of
# the same chapter's 100-epoch record under the same rules, how the claim's core quantity moved
# with training, and the statement the attribution rule gives.

# %% tags=["remove-input"]
rows = [r for r in attribution.rows_for(report.results_dir(setup.profile)) if r["dataset"] in datasets]
display(Markdown(attribution.markdown(rows)))

# %% [markdown]
# ## Departures from the paper
# ```{admonition} Where this chapter departs from the paper
# :class: warning
# * The paper trains MLPs at widths up to 16 on a GPU; the records here stop at the widest width in
#   the figures' legends, the largest a 2-core CPU trained for 100 epochs in the time it had
#   (`docs/BENCHMARKS.md` gives the wall times). A claim that needs wider nets to show can move
#   towards the paper here without getting there.
# * The paper does not study training length; the 3-, 10- and 30-epoch points are this book's
#   snapshots of the paper's own runs, not a recipe of the paper.
# * The records are read, not re-run, by `make book`; the command that makes them is in
#   `docs/BENCHMARKS.md` with their measured wall time.
# ```
