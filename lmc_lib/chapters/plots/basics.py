"""Chapter 1 figures: sample images per class, a training loss curve."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lmc_lib.chapters.plots.style import finish, finish_with_legend


def sample_grid(ds, per_class: int = 6, title: str | None = None):
    """A grid of the first `per_class` training images of every class."""
    y = ds.y_train.cpu().numpy()
    fig, axes = plt.subplots(per_class, ds.n_classes, figsize=(ds.n_classes * 0.8, per_class * 0.8))
    for c in range(ds.n_classes):
        idx = np.flatnonzero(y == c)[:per_class]
        for r, i in enumerate(idx):
            img = ds.x_train[i].cpu().numpy().transpose(1, 2, 0).squeeze()
            axes[r, c].imshow(img, cmap="gray" if img.ndim == 2 else None)
        for r in range(per_class):
            axes[r, c].axis("off")
        axes[0, c].set_title(str(ds.classes[c])[:12], fontsize=9)
    return finish(fig, title or f"{ds.name}: first training images of each class")


def loss_curve(metrics: dict, title: str = ""):
    """Training loss per step (thin) and per epoch (markers) from a model's train_metrics."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    steps = np.asarray(metrics["step_losses"], dtype=float)
    x = np.asarray(metrics.get("step_losses_index", np.arange(len(steps))), dtype=float)
    ax.plot(x, steps, lw=0.8, alpha=0.7, label="per step")
    epochs = np.asarray(metrics["epoch_losses"], dtype=float)
    if len(steps) and len(epochs):
        per_epoch = (x[-1] + 1) / len(epochs)
        ax.plot((np.arange(len(epochs)) + 1) * per_epoch - 1, epochs, "o-", label="epoch mean")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("training cross-entropy (nats)")
    return finish_with_legend(fig, ax, title)
