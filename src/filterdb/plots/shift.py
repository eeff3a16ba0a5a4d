"""Shift heatmaps (D between the groups of one axis) and the summary across axes."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .common import footnote, group_label, placeholder, plt, set_category_ticks


def _natural_key(name: str):
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def order_groups(matrix: pd.DataFrame, ordered: bool) -> list[str]:
    """Rows and columns: by mean shift to the others (most typical first), or in the axis's own order."""
    if ordered:
        return sorted(matrix.index, key=_natural_key)
    return list(matrix.mean(axis=1).sort_values(kind="stable").index)


def kept_groups(matrix: pd.DataFrame, groups: pd.DataFrame, min_group_filters: int | None) -> list[str]:
    """The matrix's groups with at least ``min_group_filters`` filters, in matrix order; the
    heatmap draws them when there are two or more (else a placeholder)."""
    if not min_group_filters:
        return list(matrix.index)
    small = set(groups.loc[groups["filters"] < min_group_filters, "group"].astype(str))
    return [g for g in matrix.index if g not in small]


def shift_heatmap(
    matrix: pd.DataFrame,
    groups: pd.DataFrame,
    axis_name: str,
    ordered: bool = False,
    min_group_filters: int | None = None,
):
    """Annotated heatmap of the symmetric D matrix of one axis.

    matrix: groups × groups (group names as str); groups: one row per group with columns
    group, models, filters, status ('kept' or 'too small'). ``min_group_filters`` drops
    further groups from the drawing; every group left out is named below the heatmap.
    """
    groups = groups.assign(group=groups["group"].astype(str))
    kept = set(kept_groups(matrix, groups, min_group_filters))
    left_out = [g for g in groups["group"] if g not in kept]
    title = f"Filter distribution shift by {axis_name}"
    if len(kept) < 2:
        have = ", ".join(sorted(kept)) or "none"
        return placeholder(
            f"Axis '{axis_name}': fewer than two groups to compare (kept: {have}).\n"
            f"Left out as too small: {', '.join(left_out) or 'none'}.\n"
            "A shift needs at least two groups; add models that differ along this axis.",
            figsize=(6, 2.5),
            title=title,
        )
    matrix = matrix.loc[[g for g in matrix.index if g in kept], [g for g in matrix.index if g in kept]]
    order = order_groups(matrix, ordered)
    matrix = matrix.loc[order, order]
    sizes = groups.set_index("group")
    labels = [group_label(g, sizes.loc[g, "models"], sizes.loc[g, "filters"], width=26) for g in order]
    n = len(order)
    side = min(max(4.5, 0.42 * n + 2.5), 14)
    figure, axis = plt.subplots(figsize=(side + 1.5, side))
    values = matrix.to_numpy(dtype=np.float64)
    image = axis.imshow(values, cmap="viridis", vmin=0)
    if n <= 30:
        font = 8 if n <= 10 else 6.5 if n <= 20 else 5
        threshold = values.max() * 0.6
        for i in range(n):
            for j in range(n):
                text = f"{values[i, j]:.2g}" if values[i, j] < 10 else f"{values[i, j]:.0f}"
                axis.text(j, i, text, ha="center", va="center", fontsize=font,
                          color="white" if values[i, j] < threshold else "black")
    set_category_ticks(axis, labels, "y")
    axis.set_xticks(range(n), labels, rotation=90 if n > 12 else 45, ha="center" if n > 12 else "right",
                    rotation_mode="default" if n > 12 else "anchor", fontsize=7 if n <= 20 else 6)
    figure.colorbar(image, ax=axis, shrink=0.8, label="shift D (symmetric KL, weighted by explained variance; nats)")
    order_note = "axis order" if ordered else "ordered by mean shift to the other groups"
    axis.set_title(f"{title} ({order_note})\nm: models, f: filters")
    if left_out:
        footnote(figure, f"Left out (too small): {', '.join(left_out)}")
    return figure


def pairwise_values(matrix: pd.DataFrame) -> np.ndarray:
    """The off-diagonal D values of a symmetric matrix (upper triangle)."""
    values = matrix.to_numpy(dtype=np.float64)
    return values[np.triu_indices(len(values), k=1)]


def shift_summary(matrices: Mapping[str, pd.DataFrame]):
    """Spread of pairwise D per axis, side by side (box + points), axes by median D.

    matrices: axis name → symmetric D matrix of the groups kept on that axis.
    Axes with fewer than two groups are listed, not drawn.
    """
    spread = {a: pairwise_values(m) for a, m in matrices.items() if len(m) >= 2}
    empty = sorted(a for a in matrices if a not in spread)
    if not spread:
        return placeholder(
            "No axis has two or more groups to compare, so there is no shift to summarise.\n"
            f"Axes: {', '.join(sorted(matrices)) or 'none configured'}.",
            figsize=(6, 2.5),
            title="Shift by axis",
        )
    order = sorted(spread, key=lambda a: (-float(np.median(spread[a])), a))
    n = len(order)
    figure, axis = plt.subplots(figsize=(min(12, max(6, 0.75 * n + 3)), 4.5))
    axis.boxplot([spread[a] for a in order], positions=range(n), widths=0.6, showfliers=False,
                 medianprops={"color": "black"}, boxprops={"color": "#555555"})
    rng = np.random.default_rng(0)  # fixed jitter: same inputs, same picture
    for i, a in enumerate(order):
        jitter = rng.uniform(-0.18, 0.18, len(spread[a]))
        axis.scatter(i + jitter, spread[a], s=12, alpha=0.7, color="tab:blue", zorder=3, linewidths=0)
    labels = [f"{a}\n({len(matrices[a])} groups)" for a in order]
    set_category_ticks(axis, labels, "x")
    values = np.concatenate(list(spread.values()))
    positive = values[values > 0]
    if positive.size and positive.max() / max(positive.min(), 1e-12) > 100:
        axis.set_yscale("log")
    axis.set_ylabel("pairwise shift D between groups (nats)")
    axis.set_title("Which axis moves filters most: pairwise shift D per axis (ordered by median)")
    axis.grid(axis="y", alpha=0.3)
    if empty:
        footnote(figure, f"Not drawn (fewer than two groups): {', '.join(empty)}")
    return figure
