"""Figures shared by the experiment pages (matplotlib, no styling beyond what reads well)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.report.tables import ACCURACY  # noqa: E402
from pipeline.stats import t_interval  # noqa: E402


def curves_with_bands(curves, registry, y="val_accuracy", ylabel="validation accuracy", title=None, ax=None,
                      bounds=ACCURACY):
    """curves: {method: [DataFrame per seed]} -> mean line and 95% band of `y` by epoch over seeds per method,
    labelled and coloured by the experiment's method registry (methods.py)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    for method, frames in curves.items():
        xs = frames[0]["epoch"].to_numpy()
        table = np.stack([f[y].to_numpy() for f in frames])
        ci = np.array([t_interval(col, bounds=bounds) for col in table.T])
        colour = registry[method].colour
        ax.plot(xs, ci[:, 0], color=colour, label=f"{registry[method].label} (n={len(frames)})")
        ax.fill_between(xs, ci[:, 1], ci[:, 2], color=colour, alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def image_grid(rows, col_titles, shape=(28, 28), title=None):
    """rows: [n_rows, n_cols, H*W] array in [0, 1] -> a grid of grey images."""
    rows = np.asarray(rows)
    n_rows, n_cols = rows.shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 0.8, n_rows * 0.8 + 0.6), squeeze=False)
    for i in range(n_rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.imshow(rows[i, j].reshape(shape), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig
