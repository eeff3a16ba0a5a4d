"""The nine principal components of the scaled filters as 3×3 images: the global basis,
and beside it the basis of one subset of the database."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .common import DIVERGING, MIN_FONT, placeholder, plt


def _valid(components, ratio) -> bool:
    return components.shape == (9, 9) and ratio.shape == (9,) and np.isfinite(components).all()


def basis_figure(components: np.ndarray, ratio: np.ndarray, n_filters: int, subset: Mapping | None = None):
    """components (9, 9): rows are eigen-filters (row-major 3×3); ratio (9,): explained-variance ratios.

    subset: optional {"label", "components", "ratio", "n_filters"} of a subset's own basis,
    drawn as a second row; its titles give |cos| between each of its components and the
    global one of the same index (1: the same filter up to sign).
    """
    components = np.asarray(components, dtype=np.float64)
    ratio = np.asarray(ratio, dtype=np.float64)
    if not _valid(components, ratio):
        return placeholder("No basis to draw: the database holds fewer than two filters.", title="Filter basis")
    rows = [("whole database", components, ratio, n_filters, None)]
    subset_note = ""
    if subset is not None:
        sub_components = np.asarray(subset["components"], dtype=np.float64)
        sub_ratio = np.asarray(subset["ratio"], dtype=np.float64)
        if _valid(sub_components, sub_ratio):
            cosine = np.abs(np.sum(sub_components * components, axis=1) /
                            (np.linalg.norm(sub_components, axis=1) * np.linalg.norm(components, axis=1)))
            rows.append((subset["label"], sub_components, sub_ratio, int(subset["n_filters"]), cosine))
        else:
            subset_note = f"\nsubset {subset['label']}: fewer than two filters, no basis"
    figure, axes = plt.subplots(len(rows), 9, figsize=(10, 1.8 * len(rows) + 0.9), squeeze=False,
                                layout="constrained")
    image = None
    for r, (label, comps, share, count, cosine) in enumerate(rows):
        cumulative = np.cumsum(share)
        for i, axis in enumerate(axes[r]):
            image = axis.imshow(comps[i].reshape(3, 3), cmap=DIVERGING, vmin=-1, vmax=1)
            title = f"c{i}: {100 * share[i]:.1f} %\n(Σ {100 * cumulative[i]:.0f} %)"
            if cosine is not None:
                title += f"\n|cos| {cosine[i]:.2f}"
            axis.set_title(title, fontsize=MIN_FONT + 1)
            axis.set_xticks([])
            axis.set_yticks([])
        axes[r, 0].set_ylabel(f"{label}\n{count:,} filters", fontsize=MIN_FONT + 1)
    figure.colorbar(image, ax=axes, shrink=0.85, pad=0.02, label="component weight")
    figure.suptitle(
        "Principal components of max-|w|-scaled 3×3 filters, with explained-variance ratio (cumulative)"
        + ("\nsecond row: the basis of one subset; |cos|: agreement with the global component" if len(rows) > 1 else "")
        + subset_note
    )
    return figure
