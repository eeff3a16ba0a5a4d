"""Degenerated layers: sparsity and H/TH by depth, and the models that hold most of them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import MIN_FONT, fmt_count, footnote, placeholder, plt, wrap
from .style import CUTOFF_COLOUR, CUTOFF_STYLES, LINE, OTHER, OTHER_COLOUR, rank_groups

FLAGS = {"flag_sparse": "sparse", "flag_collapsed": "collapsed", "flag_random_like": "random-like"}


def draw_cutoffs(sparsity_axis, ratio_axis, cutoffs: dict, label: bool = True, vertical: bool = False) -> None:
    """The configured layer cut-offs as lines (horizontal; vertical where the metric is on x)."""
    lines = ((sparsity_axis, "sparse", cutoffs["sparse_min"], f"sparse: sparsity ≥ {cutoffs['sparse_min']:g}"),
             (ratio_axis, "collapsed", cutoffs["collapsed_max"], f"collapsed: H/TH ≤ {cutoffs['collapsed_max']:g}"),
             (ratio_axis, "random-like", cutoffs["random_like_min"],
              f"random-like: H/TH > {cutoffs['random_like_min']:g}"))
    for axis, flag, value, text in lines:
        draw = axis.axvline if vertical else axis.axhline
        draw(value, ls=CUTOFF_STYLES[flag], color=CUTOFF_COLOUR, lw=1.0, label=text if label else None)


DECILE_CENTRES = np.arange(10) / 10 + 0.05


def decile_bands(depth: pd.Series, values: pd.Series) -> pd.DataFrame:
    """Median and quartiles of ``values`` per depth decile (edges 0, 0.1, …, 1; lowest included)."""
    decile = np.clip(np.floor(depth.to_numpy(dtype=float) * 10), 0, 9).astype(int)
    grouped = pd.Series(values.to_numpy(dtype=float)).groupby(decile)
    return pd.DataFrame({"q1": grouped.quantile(0.25), "median": grouped.median(), "q3": grouped.quantile(0.75)})


def degeneracy_by_depth(layers: pd.DataFrame, cutoffs: dict, panels: str = "visual_category", top_n: int = 8):
    """One panel per group of ``panels`` (the ``top_n`` largest by filters, the rest pooled
    as OTHER): sparsity (top) and H/TH (bottom) of every layer against normalised depth.

    layers: the layer table joined with the model table (conv_depth_norm, sparsity,
    entropy_ratio, model, n_filters and ``panels``). Points: layers; line and band: the
    median and the interquartile range per depth decile; dashed/dotted lines: the
    cut-offs of the layer flags.
    """
    layers = layers.dropna(subset=["conv_depth_norm"])
    if layers.empty:
        return placeholder("No 3×3 layers in the database: nothing to plot against depth.",
                           title="Degeneracy by depth")
    groups = rank_groups(layers, panels, top_n)
    layers = layers.assign(_panel=groups.key(layers[panels]))
    drawn = groups.drawn
    colours = groups.palette()
    n = len(drawn)
    columns = min(n, 4)
    rows = -(-n // columns)
    figure, grid = plt.subplots(2 * rows, columns, figsize=(min(10, 2.5 * columns + 1.5), 3.0 * rows + 1.4),
                                sharex=True, squeeze=False,
                                layout="constrained")
    top = max(1.2, float(np.nanmax(layers["entropy_ratio"].to_numpy(dtype=float), initial=0)) + 0.05)
    for index in range(rows * columns):
        upper, lower = grid[2 * (index // columns), index % columns], grid[2 * (index // columns) + 1, index % columns]
        if index >= n:
            upper.set_visible(False)
            lower.set_visible(False)
            continue
        name = drawn[index]
        part = layers[layers["_panel"] == name]
        models, filters = groups.size(name)
        pooled = f"{len(groups.pooled)} groups, " if name == OTHER else ""
        upper.set_title(f"{wrap(name, 30)}\n({pooled}{models} m, {len(part)} layers, {fmt_count(filters)} f)",
                        fontsize=MIN_FONT + 1)
        for axis, column in ((upper, "sparsity"), (lower, "entropy_ratio")):
            axis.scatter(part["conv_depth_norm"], part[column], s=9, alpha=0.6, color=colours[name], linewidths=0)
            band = decile_bands(part["conv_depth_norm"], part[column])
            x = DECILE_CENTRES[band.index]
            axis.fill_between(x, band["q1"], band["q3"], color=colours[name], alpha=0.3, linewidth=0)
            axis.plot(x, band["median"], color=LINE, lw=1.3)
            axis.set_xlim(-0.03, 1.03)
            axis.grid(alpha=0.3)
        draw_cutoffs(upper, lower, cutoffs, label=index == 0)
        upper.set_ylim(-0.03, 1.03)
        lower.set_ylim(0, top)
        lower.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
        lower.tick_params(labelbottom=True)
        if index % columns == 0:
            upper.set_ylabel("sparsity")
            lower.set_ylabel("H / TH(n)")
        else:
            upper.tick_params(labelleft=False)
            lower.tick_params(labelleft=False)
        if index + columns >= n:
            lower.set_xlabel("normalised conv depth")
    handles, names = [], []
    for axis in (grid[0, 0], grid[1, 0]):
        h, t = axis.get_legend_handles_labels()
        handles += h
        names += t
    handles += [plt.Line2D([], [], color=LINE, lw=1.3), plt.Rectangle((0, 0), 1, 1, color=OTHER_COLOUR, alpha=0.4)]
    names += ["median per depth decile", "interquartile range per decile (points: layers)"]
    figure.legend(handles, names, loc="outside lower center", ncols=3, frameon=False)
    note = f"; '{OTHER}' pools {len(groups.pooled)} smaller groups" if groups.pooled else ""
    figure.suptitle(f"Degenerated layers by depth, one panel per {panels}\n(m: models, f: filters{note})")
    return figure


def model_flag_shares(layers: pd.DataFrame) -> pd.DataFrame:
    """Per model: share of layers flagged sparse, collapsed, random-like, and any of them."""
    flags = layers[["model", *FLAGS]].astype({f: float for f in FLAGS})
    flags["flag_any"] = layers[list(FLAGS)].any(axis=1).astype(float)
    shares = flags.groupby("model", sort=True).mean()
    shares["n_layers"] = layers.groupby("model", sort=True).size()
    shares["degenerated"] = layers[["flag_sparse", "flag_collapsed"]].any(axis=1).groupby(layers["model"]).mean()
    return shares.sort_values(["degenerated", "flag_any", "flag_random_like"], ascending=False, kind="stable")


def degenerated_models(layers: pd.DataFrame, top: int = 40, models: pd.DataFrame | None = None):
    """Per model, the share of its 3×3 layers that are sparse, collapsed or random-like, ranked.

    Models ranked by the share of sparse-or-collapsed layers (then any flag), highest at
    the top; at most ``top`` models are drawn, the rest counted in the title. Models
    without 3×3 layers are named below.
    """
    if layers.empty:
        return placeholder("No 3×3 layers in the database: no model can be ranked.", title="Degenerated models")
    shares = model_flag_shares(layers)
    hidden = max(0, len(shares) - top)
    shown = shares.head(top)
    columns = ["flag_sparse", "flag_collapsed", "flag_random_like", "flag_any"]
    names = ["sparse", "collapsed", "random-like", "any flag"]
    values = shown[columns].to_numpy()
    n = len(shown)
    figure, heat = plt.subplots(figsize=(8, max(2.6, 0.3 * n + 1.8)), layout="constrained")
    image = heat.imshow(values, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(n):
        for j in range(len(columns)):
            heat.text(j, i, f"{100 * values[i, j]:.0f} %", ha="center", va="center", fontsize=MIN_FONT,
                      color="white" if values[i, j] > 0.6 else "black")
    heat.axvline(len(columns) - 1.5, color="white", lw=3)
    heat.xaxis.tick_top()
    heat.set_xticks(range(len(names)), names)
    labels = [f"{i + 1}. {wrap(m, 40)} ({int(shown.loc[m, 'n_layers'])} layers)" for i, m in enumerate(shown.index)]
    heat.set_yticks(range(n), labels, fontsize=MIN_FONT)
    figure.colorbar(image, ax=heat, shrink=min(1.0, 4 / max(n, 1) + 0.4), pad=0.02,
                    label="share of the model's\n3×3 layers")
    note = f"; {hidden} more not shown" if hidden else ""
    heat.set_title(f"Degenerated models, ranked by share of sparse or collapsed layers (top {n}{note})")
    if models is not None:
        empty = sorted(set(models.loc[models["n_filters"] == 0, "model"]))
        if empty:
            footnote(figure, f"Without 3×3 layers (not ranked): {', '.join(empty)}")
    return figure
