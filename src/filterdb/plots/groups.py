"""Group comparison: layer entropy and sparsity for user-chosen groups of models or layers."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .common import colours, group_label, placeholder, plt, set_category_ticks
from .degeneracy import draw_cutoffs


def select_groups(joined: pd.DataFrame, column: str, values: Sequence | None = None, where: dict | None = None):
    """Rows of the layer⋈model table in the comparison, with a ``_group`` column (str) in order.

    values: the groups to keep, in this order (all values, sorted, when None);
    where: {column: value or [values]} restriction applied first.
    """
    if column not in joined.columns:
        raise KeyError(
            f"figures.group_comparison: column {column!r} is not a column of the model or layer table; "
            f"known columns: {', '.join(sorted(joined.columns))}"
        )
    selected = joined
    for key, value in (where or {}).items():
        if key not in joined.columns:
            raise KeyError(f"figures.group_comparison: 'where' column {key!r} is not a column of the model or layer table")
        selected = selected[selected[key].isin(value if isinstance(value, list) else [value])]
    selected = selected.assign(_group=selected[column].astype(str))
    if values is not None:
        order = [str(v) for v in values]
        selected = selected[selected["_group"].isin(order)]
    else:
        order = sorted(selected["_group"].unique())
    return selected, [g for g in order if g in set(selected["_group"])]


def group_comparison(
    joined: pd.DataFrame,
    name: str,
    column: str,
    cutoffs: dict,
    values: Sequence | None = None,
    where: dict | None = None,
    min_group_filters: int = 0,
):
    """Box plots of H/TH and sparsity per group, and their median by depth decile.

    joined: the layer table joined with the model table. Groups with fewer than
    ``min_group_filters`` filters are left out and named in the title.
    """
    selected, order = select_groups(joined, column, values, where)
    sizes = selected.groupby("_group").agg(models=("model", "nunique"), layers=("layer", "size"),
                                           filters=("n_filters", "sum"))
    left_out = [g for g in order if sizes.loc[g, "filters"] < min_group_filters]
    order = [g for g in order if g not in left_out]
    title = f"Group comparison '{name}': layers by {column}"
    if len(order) < 2:
        return placeholder(
            f"Comparison '{name}' needs at least two groups of '{column}' with layers; "
            f"found {len(order)} ({', '.join(order) or 'none'}).\n"
            + (f"Left out as too small: {', '.join(left_out)}.\n" if left_out else "")
            + "Add models that differ in this column, or change figures.group_comparison.",
            figsize=(6.5, 2.6),
            title=title,
        )
    palette = dict(zip(order, colours(len(order))))
    labels = [group_label(g, sizes.loc[g, "models"], sizes.loc[g, "filters"], width=24) for g in order]
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.2), constrained_layout=True)
    rng = np.random.default_rng(0)
    for col, (metric, ylabel) in enumerate(
        (("entropy_ratio", "H / TH(n) (normalised variance entropy)"), ("sparsity", "sparsity (share of sparse filters)"))
    ):
        axis = axes[0, col]
        data = [selected.loc[selected["_group"] == g, metric].dropna().to_numpy() for g in order]
        axis.boxplot(data, positions=range(len(order)), widths=0.6, showfliers=False, medianprops={"color": "black"})
        for i, (g, d) in enumerate(zip(order, data)):
            axis.scatter(i + rng.uniform(-0.2, 0.2, len(d)), d, s=8, alpha=0.5, color=palette[g], linewidths=0)
        set_category_ticks(axis, labels, "x")
        axis.set_ylabel(ylabel)
        axis.grid(axis="y", alpha=0.3)
        bottom = axes[1, col]
        for g in order:
            part = selected[selected["_group"] == g]
            median = part.groupby(part["depth_decile"])[metric].median()
            bottom.plot(median.index, median.to_numpy(), marker="o", ms=3, color=palette[g], label=group_label(g, width=30))
        bottom.set_xlabel("depth decile (0 = shallowest tenth of the model's convs)")
        bottom.set_ylabel(f"median {ylabel.split(' (')[0]}")
        bottom.set_xticks(range(10))
        bottom.grid(alpha=0.3)
    draw_cutoffs(axes[0, 1], axes[0, 0], cutoffs)
    draw_cutoffs(axes[1, 1], axes[1, 0], cutoffs, label=False)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    axes[0, 1].legend(fontsize=7, loc="upper left")
    axes[1, 0].legend(fontsize=7, loc="best", title=column, title_fontsize=7)
    axes[0, 0].set_title("Variance entropy / randomness threshold, per layer")
    axes[0, 1].set_title("Sparsity, per layer")
    axes[1, 0].set_title("H/TH by depth (median per decile)")
    axes[1, 1].set_title("Sparsity by depth (median per decile)")
    if left_out:
        title += f" (left out, too small: {', '.join(left_out)})"
    figure.suptitle(title + "\nm: models, f: filters")
    return figure
