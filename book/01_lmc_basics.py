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
# This first chapter introduces the data sets and the models the book trains, and trains one
# small network so that the rest of the book has something to stand on.

# %% tags=["parameters"]
dataset: str = "fashion_mnist"  # mnist | fashion_mnist | cifar10 | cifar100 (CIFAR: folders needed)
model: str = "mlp"              # mlp | vgg11 | resnet20
widths: list = []               # width multipliers to sweep; empty = the profile's widths
width: float = 0.0              # > 0: this single width (overrides widths)
epochs: int = 0                 # 0 = the profile's number of epochs
n_pairs: int = 0                # 0 = the profile's number of model pairs
weight_decay: float = -1.0      # < 0 = the profile's weight decay
seed: int = 0                   # seed of the model trained here
device: str = "auto"            # auto | cpu | cuda
profile: str = "cpu"            # cpu | paper | smoke

# %%
import matplotlib.pyplot as plt

from lmc_lib import data as lmc_data
from lmc_lib.cache import load_or_train
from lmc_lib.experiment import Setup, width_label
from lmc_lib.plots import sample_grid, loss_curve

setup = Setup.from_params(profile=profile, dataset=dataset, model=model, widths=widths,
                          width=width, epochs=epochs, n_pairs=n_pairs,
                          weight_decay=weight_decay, device=device)
setup

# %% [markdown]
# ## The data
# MNIST (handwritten digits) and Fashion-MNIST (clothing) both hold 60,000 training and 10,000
# test images of 28x28 grey pixels in 10 classes.

# %%
for name in ("mnist", "fashion_mnist"):
    ds = lmc_data.load(name)
    print(f"{name}: {tuple(ds.x_train.shape)} train, {tuple(ds.x_test.shape)} test, "
          f"mean {ds.mean[0]:.4f}, std {ds.std[0]:.4f}")
    sample_grid(ds)
    plt.show()

# %% [markdown]
# ## One model
# We train one network of the chosen width with the profile's recipe; the model cache keeps it for
# the other chapters.

# %%
w = setup.widths[-1]
config = setup.config(w, seed=seed)
net = load_or_train(config, setup.device)
print(config)
print({k: net.train_metrics[k] for k in ("train_acc", "test_acc", "test_loss", "wall_time_s")})
loss_curve(net.train_metrics, title=setup.title(widths=[w]))
plt.show()
