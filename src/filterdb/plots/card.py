"""Model card: one compact figure per model, its layer metrics by depth and its first-layer filters."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from .common import MIN_FONT, fmt_count, placeholder, plt, wrap
from .degeneracy import draw_cutoffs
from .filters import _cmap, filter_mosaic
from .style import FLAGGED, LINE


def model_card(model: str, row: Mapping, layers: pd.DataFrame, first_kernels: np.ndarray | None, cutoffs: dict):
    """row: the model's sheet row; layers: its layer table; first_kernels: (k, 9) first filters
    of its shallowest 3×3 layer (None when it has none)."""
    facts = ", ".join(f"{k}: {row[k]}" for k in ("family", "task", "visual_category", "training_dataset")
                      if k in row and row[k] not in (None, ""))
    if layers.empty:
        return placeholder(f"{model} ({facts})\nThis model has no 3×3 convolution layers: no card to draw.",
                           figsize=(8, 2.5), title=f"Model card: {model}")
    layers = layers.sort_values(["conv_depth_norm", "layer"], kind="stable")
    figure = plt.figure(figsize=(11, 4.2), layout="constrained")
    figure.get_layout_engine().set(h_pad=0.1)  # room between the suptitle and the filters' two-line title
    grid = figure.add_gridspec(1, 4, width_ratios=[1, 1, 1, 1.25])
    sparsity_axis = figure.add_subplot(grid[0])
    ratio_axis = figure.add_subplot(grid[1], sharex=sparsity_axis)
    ortho_axis = figure.add_subplot(grid[2], sharex=sparsity_axis)
    filters_axis = figure.add_subplot(grid[3])
    x = layers["conv_depth_norm"].to_numpy()
    for axis, column, label in (
        (sparsity_axis, "sparsity", "sparsity"),
        (ratio_axis, "entropy_ratio", "H / TH(n)"),
        (ortho_axis, "orthogonality", "orthogonality"),
    ):
        axis.plot(x, layers[column].to_numpy(), marker="o", ms=3, lw=1, color=LINE)
        axis.set_xlabel("normalised conv depth")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    flagged = layers[["flag_sparse", "flag_collapsed"]].any(axis=1).to_numpy()
    for axis, column in ((sparsity_axis, "sparsity"), (ratio_axis, "entropy_ratio")):
        axis.scatter(x[flagged], layers[column].to_numpy()[flagged], color=FLAGGED, zorder=3, s=14)
    draw_cutoffs(sparsity_axis, ratio_axis, cutoffs, label=False)
    sparsity_axis.set_ylim(-0.03, 1.03)
    ratio_axis.set_ylim(0, max(1.2, float(np.nanmax(layers["entropy_ratio"].to_numpy(dtype=float), initial=0)) + 0.05))
    ortho_axis.set_ylim(min(0.0, np.nanmin(layers["orthogonality"].to_numpy(dtype=float), initial=0.0)), 1.02)
    if first_kernels is not None and len(first_kernels):
        first = layers.iloc[0]
        k = len(first_kernels)
        columns = int(math.ceil(math.sqrt(k)))
        rows = int(math.ceil(k / columns))
        # The shown filters' own max |w|: one outlier weight elsewhere in the layer would blank them all.
        shown_max = float(np.nanmax(np.abs(np.asarray(first_kernels, dtype=np.float64)), initial=0.0))
        image = filter_mosaic(first_kernels, shown_max or first["abs_max"], columns, rows)
        shown = filters_axis.imshow(image, cmap=_cmap(), vmin=-1, vmax=1, interpolation="nearest")
        filters_axis.set_title(f"first {k} filters of the first 3×3 layer\n{wrap(first['name'], 44)}",
                               fontsize=MIN_FONT + 1)
        figure.colorbar(shown, ax=filters_axis, location="bottom", shrink=0.9, aspect=30, ticks=[-1, -0.5, 0, 0.5, 1],
                        label=f"weight / max |w| of these filters\n({shown_max / first['abs_max']:.0%} of the layer's max |w|)"
                        if first["abs_max"] else "weight / max |w| of these filters")
    filters_axis.set_xticks([])  # not axis("off"): the layout then keeps the title clear of the suptitle
    filters_axis.set_yticks([])
    for side in filters_axis.spines.values():
        side.set_visible(False)
    counts = {name: int(layers[f"flag_{key}"].sum()) for name, key in
              (("sparse", "sparse"), ("collapsed", "collapsed"), ("random-like", "random_like"))}
    flags = ", ".join(f"{v} {k}" for k, v in counts.items())
    figure.suptitle(
        f"{model} — {wrap(facts, 110)}\n{len(layers)} 3×3 layers, {fmt_count(layers['n_filters'].sum())} filters; "
        f"flagged layers: {flags} (orange points: sparse or collapsed)",
        fontsize=MIN_FONT + 2,
    )
    return figure
