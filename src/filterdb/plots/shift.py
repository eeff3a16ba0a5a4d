"""Shift heatmaps: D between the groups of one axis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import placeholder, plt


def shift_heatmap(matrix: pd.DataFrame, groups: pd.DataFrame, axis_name: str, ordered: bool = False):
    """matrix: symmetric D (groups × groups); groups: sizes with columns group, models, filters, status."""
    if len(matrix) < 2:
        left = ", ".join(groups.loc[groups["status"] != "kept", "group"].astype(str)) or "none"
        return placeholder(f"Axis '{axis_name}': fewer than two groups to compare.\nGroups left out (too small): {left}")
    if not ordered:  # rows and columns by mean shift, most typical first
        order = matrix.mean(axis=1).sort_values(kind="stable").index
        matrix = matrix.loc[order, order]
    sizes = groups.set_index("group")
    labels = [f"{g} ({sizes.loc[g, 'models']} m, {sizes.loc[g, 'filters']:,} f)" for g in matrix.index]
    n = len(matrix)
    figure, axis = plt.subplots(figsize=(2.5 + 0.55 * n, 1.8 + 0.45 * n))
    image = axis.imshow(matrix.to_numpy(), cmap="viridis")
    if n <= 25:
        values = matrix.to_numpy()
        for i in range(n):
            for j in range(n):
                axis.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                          color="white" if values[i, j] < values.max() * 0.6 else "black")
    axis.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=7)
    axis.set_yticks(range(n), labels, fontsize=7)
    figure.colorbar(image, ax=axis, label="shift D (symmetric KL, nats)")
    axis.set_title(f"Filter distribution shift by {axis_name}")
    return figure
