"""The nine principal components of the scaled filters as 3×3 images."""

from __future__ import annotations

import numpy as np

from .common import DIVERGING, placeholder, plt


def basis_figure(components: np.ndarray, ratio: np.ndarray, n_filters: int):
    """components (9, 9): rows are eigen-filters (row-major 3×3); ratio (9,): explained-variance ratios."""
    components = np.asarray(components, dtype=np.float64)
    ratio = np.asarray(ratio, dtype=np.float64)
    if components.shape != (9, 9) or ratio.shape != (9,) or not np.isfinite(components).all():
        return placeholder("No basis to draw: the database holds fewer than two filters.", title="Filter basis")
    figure, axes = plt.subplots(1, 9, figsize=(10, 2.1))
    image = None
    cumulative = np.cumsum(ratio)
    for i, axis in enumerate(axes):
        image = axis.imshow(components[i].reshape(3, 3), cmap=DIVERGING, vmin=-1, vmax=1)
        axis.set_title(f"c{i}\n{100 * ratio[i]:.1f} %\n(Σ {100 * cumulative[i]:.0f} %)", fontsize=8)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=list(axes), shrink=0.85, pad=0.02, label="component weight")
    figure.suptitle(
        f"Principal components of {n_filters:,} max-|w|-scaled 3×3 filters, "
        "with explained-variance ratio (cumulative)",
        y=1.08,
    )
    return figure
