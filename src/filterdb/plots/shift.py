"""Shift heatmaps (D between the groups of one axis) and the summary across axes."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .common import MIN_FONT, fmt_count, footnote, placeholder, plt, set_category_ticks, wrap
from .style import LINE, SEQUENTIAL

NOISE_COLOUR = "#D55E00"  # vermillion: visible on every viridis shade


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


def decile_label(group: str) -> str:
    """Depth decile "3" → "0.3–0.4" (normalised depth; the lowest edge included)."""
    try:
        d = int(float(group))
    except ValueError:
        return group
    return f"{d / 10:.1f}–{(d + 1) / 10:.1f}" if 0 <= d <= 9 else group


def cell_fits_numbers(cell_inches: float, digits: int = 4, font: float = MIN_FONT) -> bool:
    """Whether a value of ``digits`` characters at ``font`` pt fits a cell of this side."""
    return cell_inches * 72 >= digits * 0.62 * font + 4


def shift_heatmap(
    matrix: pd.DataFrame,
    groups: pd.DataFrame,
    axis_name: str,
    ordered: bool = False,
    min_group_filters: int | None = None,
    noise_floor: float | None = None,
    deciles: bool = False,
):
    """Heatmap of the symmetric D matrix of one axis.

    matrix: groups × groups (group names as str); groups: one row per group with columns
    group, models, filters, status ('kept' or 'too small'). ``min_group_filters`` drops
    further groups from the drawing; every group left out is named below the heatmap.
    Values are printed in the cells only where they stay ≥ 7 pt; the colour bar always
    gives the scale. ``noise_floor``: D between replicates, marked on the colour bar.
    ``deciles``: the groups are depth deciles, labelled by their depth interval.
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
    names = [decile_label(g) if deciles else g for g in order]
    n = len(order)
    cell = min(0.55, max(0.2, 7.0 / n))  # inches: a 7 pt label needs ≥ 0.2 in a row
    two_lines = cell * 72 >= 2 * 1.3 * MIN_FONT  # else one line each, however long
    labels = [f"{wrap(name, 34) if two_lines else name} ({sizes.loc[g, 'models']} m, "
              f"{fmt_count(sizes.loc[g, 'filters'])} f)" for name, g in zip(names, order)]
    longest = max(len(line) for label in labels for line in label.splitlines())
    label_inches = longest * 0.6 * MIN_FONT / 72 + 0.2
    figure = plt.figure(figsize=(n * cell + label_inches + 2.2, n * cell + label_inches + 1.2), layout="constrained")
    axis = figure.add_subplot()
    values = matrix.to_numpy(dtype=np.float64)
    top, capped = colour_top(values)
    image = axis.imshow(values, cmap=SEQUENTIAL, vmin=0, vmax=top, aspect="equal")
    printed = cell_fits_numbers(cell)
    if printed:
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                text = f"{v:.2g}" if v < 10 else f"{v:.0f}"
                axis.text(j, i, text, ha="center", va="center", fontsize=MIN_FONT,
                          color="white" if v < top * 0.6 else "black")
    axis.set_yticks(range(n), labels, fontsize=MIN_FONT)
    axis.set_xticks(range(n), labels, rotation=90, fontsize=MIN_FONT)
    axis.tick_params(length=2)
    bar = figure.colorbar(image, ax=axis, shrink=min(1.0, max(0.5, 3.0 / (n * cell))), aspect=25,
                          extend="max" if capped else "neither")
    label = "shift D (symmetric KL weighted by\nexplained variance; nats)"
    if capped:
        label += f"\n{capped} pairs above {top:.2g} drawn at the top colour"
    if noise_floor is not None and noise_floor <= top:
        bar.ax.axhline(noise_floor, color=NOISE_COLOUR, lw=2)
        label += f"\nred line: noise floor {noise_floor:.2g}"
    elif noise_floor is not None:  # above every cell: a marker at the top of the bar
        bar.ax.plot([0.5], [1.0], marker="^", ms=7, color=NOISE_COLOUR, transform=bar.ax.transAxes, clip_on=False)
        label += f"\nred ▲: noise floor {noise_floor:.2g},\nabove every cell"
    bar.set_label(label, fontsize=MIN_FONT + 1)
    order_note = "axis order" if ordered else "ordered by mean shift to the other groups"
    subtitle = f"{order_note}; m: models, f: filters" + ("" if printed else "; too many groups to print values")
    axis.set_title(f"{title}\n{subtitle}")
    if left_out:
        footnote(figure, f"Left out (too small): {', '.join(left_out)}")
    return figure


def colour_top(values: np.ndarray, quantile: float = 0.9, outlier_ratio: float = 2.0) -> tuple[float, int]:
    """The top of the colour scale and how many off-diagonal cells lie above it.

    The largest D, unless it exceeds ``outlier_ratio`` times the off-diagonal ``quantile``:
    then the scale stops at that quantile, so that one outlying group does not darken the rest.
    The floor never stretches the scale, so the cells keep their contrast.
    """
    off = values[~np.eye(len(values), dtype=bool)] if len(values) > 1 else values.ravel()
    largest = max(float(values.max()), 1e-12)
    if len(off) < 20:
        return largest, 0
    cap = float(np.quantile(off, quantile))
    if cap <= 0 or largest <= outlier_ratio * cap:
        return largest, 0
    return cap, int(np.count_nonzero(np.triu(values, k=1) > cap))


def pairwise_values(matrix: pd.DataFrame) -> np.ndarray:
    """The off-diagonal D values of a symmetric matrix (upper triangle)."""
    values = matrix.to_numpy(dtype=np.float64)
    return values[np.triu_indices(len(values), k=1)]


def shift_summary(matrices: Mapping[str, pd.DataFrame], noise_floor: float | None = None):
    """Spread of pairwise D per axis, side by side (box + points), axes by median D.

    matrices: axis name → symmetric D matrix of the groups kept on that axis.
    Axes with fewer than two groups are listed, not drawn. ``noise_floor``: D between
    replicates, drawn as a line.
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
    figure, axis = plt.subplots(figsize=(min(12, max(6, 1.2 * n + 2)), 4.5), layout="constrained")
    axis.boxplot([spread[a] for a in order], positions=range(n), widths=0.6, showfliers=False,
                 medianprops={"color": "black"}, boxprops={"color": "#555555"})
    rng = np.random.default_rng(0)  # fixed jitter: same inputs, same picture
    for i, a in enumerate(order):
        jitter = rng.uniform(-0.18, 0.18, len(spread[a]))
        axis.scatter(i + jitter, spread[a], s=12, alpha=0.7, color=LINE, zorder=3, linewidths=0)
    labels = [f"{a}\n({len(matrices[a])} groups)" for a in order]
    set_category_ticks(axis, labels, "x")
    values = np.concatenate(list(spread.values()))
    positive = values[values > 0]
    if positive.size and positive.max() / max(positive.min(), 1e-12) > 100:
        axis.set_yscale("log")
    if noise_floor is not None and noise_floor > 0:
        axis.axhline(noise_floor, color=NOISE_COLOUR, lw=1.2, ls="--", label=f"noise floor {noise_floor:.2g}")
        axis.legend(loc="lower left", frameon=False)
    axis.set_ylabel("pairwise shift D between groups (nats)")
    axis.set_title("Which axis moves filters most: pairwise shift D per axis (ordered by median)")
    axis.grid(axis="y", alpha=0.3)
    if empty:
        footnote(figure, f"Not drawn (fewer than two groups): {', '.join(empty)}")
    return figure
