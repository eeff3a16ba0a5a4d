"""Group comparison: layer entropy and sparsity for user-chosen groups of models or layers."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ColumnError
from .common import fmt_count, placeholder, plt, wrap
from .degeneracy import draw_cutoffs
from .style import OTHER, rank_groups


def select_groups(joined: pd.DataFrame, column: str, values: Sequence | None = None, where: dict | None = None):
    """Rows of the layer⋈model table in the comparison, with a ``_group`` column (str) in order.

    values: the groups to keep, in this order (all values, sorted, when None);
    where: {column: value or [values]} restriction applied first.
    """
    if column not in joined.columns:
        raise ColumnError(
            f"figures.group_comparison: column {column!r} is not a column of the model or layer table; "
            f"known columns: {', '.join(sorted(joined.columns))}"
        )
    selected = joined
    for key, value in (where or {}).items():
        if key not in joined.columns:
            raise ColumnError(f"figures.group_comparison: 'where' column {key!r} is not a column of the model or layer table")
        selected = selected[selected[key].isin(value if isinstance(value, list) else [value])]
    selected = selected.assign(_group=selected[column].astype(str))
    if values is not None:
        order = [str(v) for v in values]
        selected = selected[selected["_group"].isin(order)]
    else:
        order = sorted(selected["_group"].unique())
    return selected, [g for g in order if g in set(selected["_group"])]


def comparison_groups(joined: pd.DataFrame, column: str, values=None, where=None, min_group_filters: int = 0,
                      top_n: int = 8):
    """What a comparison draws: (rows with a ``_drawn`` group column, drawn groups in order,
    groups left out as too small, groups pooled as OTHER, colour of each drawn group).

    Groups under ``min_group_filters`` filters are left out; of the rest, the ``top_n``
    largest are drawn by name (in the configured order when ``values`` is given) and the
    others pooled as OTHER. Colours follow the group's rank in the whole table, so they
    match every other figure of the build.
    """
    selected, order = select_groups(joined, column, values, where)
    sizes = selected.groupby("_group")["n_filters"].sum()
    left_out = [g for g in order if sizes[g] < min_group_filters]
    kept = selected[~selected["_group"].isin(left_out)]
    ranking = rank_groups(kept.assign(_group=kept["_group"]), "_group", top_n)
    if values is None:  # no configured order: largest first
        order = list(ranking.ranked)
    shown = [g for g in order if g in set(ranking.shown)]
    pooled = [g for g in order if g in set(ranking.pooled)]
    drawn = shown + ([OTHER] if pooled else [])
    kept = kept.assign(_drawn=kept["_group"].where(kept["_group"].isin(shown), OTHER))
    colours = rank_groups(joined, column, top_n).palette_for(drawn)
    return kept, drawn, left_out, pooled, colours


def group_comparison(
    joined: pd.DataFrame,
    name: str,
    column: str,
    cutoffs: dict,
    values: Sequence | None = None,
    where: dict | None = None,
    min_group_filters: int = 0,
    top_n: int = 8,
):
    """Per group: H/TH and sparsity of its layers (box and points, one row per group), and
    their median by depth decile (one line per group).

    joined: the layer table joined with the model table. Small groups are left out and
    the smallest beyond ``top_n`` pooled as OTHER (``comparison_groups``); both are named
    in the figure.
    """
    kept, drawn, left_out, pooled, palette = comparison_groups(joined, column, values, where, min_group_filters, top_n)
    title = f"Group comparison '{name}': layers by {column}"
    if len(drawn) < 2:
        return placeholder(
            f"Comparison '{name}' needs at least two groups of '{column}' with layers; "
            f"found {len(drawn)} ({', '.join(drawn) or 'none'}).\n"
            + (f"Left out as too small: {', '.join(left_out)}.\n" if left_out else "")
            + "Add models that differ in this column, or change figures.group_comparison.",
            figsize=(6.5, 2.6),
            title=title,
        )
    sizes = kept.groupby("_drawn").agg(models=("model", "nunique"), layers=("layer", "size"),
                                       filters=("n_filters", "sum"))
    labels = []
    for g in drawn:
        extra = f"{len(pooled)} groups, " if g == OTHER else ""
        labels.append(wrap(g, 26) + f"\n({extra}{sizes.loc[g, 'models']} m, {sizes.loc[g, 'layers']} layers, "
                      f"{fmt_count(sizes.loc[g, 'filters'])} f)")
    n = len(drawn)
    figure = plt.figure(figsize=(10, 0.42 * n + 5.4), layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=[0.42 * n + 0.6, 3.2])
    top_left = figure.add_subplot(grid[0, 0])
    top_right = figure.add_subplot(grid[0, 1], sharey=top_left)
    bottom = [figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1])]
    rng = np.random.default_rng(0)  # fixed jitter: same inputs, same picture
    metrics = (("entropy_ratio", "H / TH(n)"), ("sparsity", "sparsity"))
    for axis, line_axis, (metric, label) in zip((top_left, top_right), bottom, metrics):
        data = [kept.loc[kept["_drawn"] == g, metric].dropna().to_numpy(dtype=float) for g in drawn]
        boxes = axis.boxplot(data, positions=range(n), widths=0.6, orientation="horizontal", showfliers=False, patch_artist=True,
                             medianprops={"color": "black"})
        for patch, g in zip(boxes["boxes"], drawn):
            patch.set(facecolor=palette[g], alpha=0.35, edgecolor="#555555")
        for i, (g, d) in enumerate(zip(drawn, data)):
            axis.scatter(d, i + rng.uniform(-0.2, 0.2, len(d)), s=7, alpha=0.6, color=palette[g], linewidths=0)
        axis.set_xlabel(f"{label} of each layer")
        axis.grid(axis="x", alpha=0.3)
        for g in drawn:
            part = kept[kept["_drawn"] == g]
            median = part.groupby(part["depth_decile"])[metric].median()
            line_axis.plot(median.index, median.to_numpy(), marker="o", ms=3, color=palette[g], label=wrap(g, 24))
        line_axis.set_xlabel("depth decile (0: shallowest tenth of a model's convs)")
        line_axis.set_ylabel(f"median {label}")
        line_axis.set_xticks(range(10))
        line_axis.grid(alpha=0.3)
    top_left.set_yticks(range(n), labels)
    top_left.invert_yaxis()  # first group on top
    top_right.tick_params(labelleft=False)
    draw_cutoffs(top_right, top_left, cutoffs, vertical=True)
    draw_cutoffs(bottom[1], bottom[0], cutoffs, label=False)
    top_left.set_title("H/TH (variance entropy / randomness threshold), per layer")
    top_right.set_title("Sparsity (share of sparse filters), per layer")
    bottom[0].set_title("H/TH by depth (median per decile)")
    bottom[1].set_title("Sparsity by depth (median per decile)")
    handles, names = bottom[0].get_legend_handles_labels()
    cut_handles, cut_names = [], []
    for axis in (top_left, top_right):
        h, t = axis.get_legend_handles_labels()
        cut_handles += h
        cut_names += t
    figure.legend(handles + cut_handles, names + cut_names, loc="outside lower center", ncols=min(5, len(names) + 3),
                  frameon=False, title=f"{column} (colour), flag cut-offs (grey lines)")
    subtitle = "m: models, f: filters"
    if pooled:
        subtitle += f"; '{OTHER}' pools the {len(pooled)} smallest groups (figures.top_groups = {top_n})"
    if left_out:
        shown_out = ", ".join(left_out[:8]) + (f" and {len(left_out) - 8} more" if len(left_out) > 8 else "")
        subtitle += f"; left out (under {min_group_filters:,} filters): {shown_out}"
    figure.suptitle(title + "\n" + wrap(subtitle, 140))
    return figure
