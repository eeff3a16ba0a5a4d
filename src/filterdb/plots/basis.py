"""The nine principal components of the scaled filters as 3×3 images."""

from __future__ import annotations

import numpy as np

from .common import plt


def basis_figure(components: np.ndarray, ratio: np.ndarray, n_filters: int):
    """components (9, 9): rows are eigen-filters; ratio (9,): explained-variance ratios."""
    figure, axes = plt.subplots(1, 9, figsize=(11, 1.9))
    image = None
    for i, axis in enumerate(axes):
        image = axis.imshow(np.asarray(components[i]).reshape(3, 3), cmap="RdBu_r", vmin=-1, vmax=1)
        axis.set_title(f"c{i}\n{100 * ratio[i]:.1f} %", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=axes, shrink=0.8, label="weight")
    figure.suptitle(f"Principal components of {n_filters:,} max-abs-scaled 3×3 filters (explained variance)", y=1.12)
    return figure
