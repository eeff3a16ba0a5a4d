"""Degenerated layers: sparsity and H/TH by depth, and the models that hold most of them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import colours, footnote, group_label, placeholder, plt, wrap

FLAGS = {"flag_sparse": "sparse", "flag_collapsed": "collapsed", "flag_random_like": "random-like"}


def draw_cutoffs(sparsity_axis, ratio_axis, cutoffs: dict, label: bool = True) -> None:
    """The configured layer cut-offs as horizontal lines."""
    sparsity_axis.axhline(cutoffs["sparse_min"], ls="--", color="tab:red", lw=0.9,
                          label=f"sparse ≥ {cutoffs['sparse_min']:g}" if label else None)
    ratio_axis.axhline(cutoffs["collapsed_max"], ls="--", color="tab:red", lw=0.9,
                       label=f"collapsed ≤ {cutoffs['collapsed_max']:g}" if label else None)
    ratio_axis.axhline(cutoffs["random_like_min"], ls=":", color="tab:purple", lw=1.1,
                       label=f"random-like > {cutoffs['random_like_min']:g}" if label else None)


def degeneracy_by_depth(layers: pd.DataFrame, cutoffs: dict, hue: str = "family"):
    """Sparsity and H/TH of every layer against normalised depth, coloured by ``hue``.

    layers: the layer table joined with the model table (conv_depth_norm, sparsity,
    entropy_ratio, model, and ``hue``). Points: layers; lines: per-group median per depth
    decile. Dashed/dotted lines: the cut-offs of the layer flags.
    """
    layers = layers.dropna(subset=["conv_depth_norm"])
    if layers.empty:
        return placeholder("No 3×3 layers in the database: nothing to plot against depth.",
                           title="Degeneracy by depth")
    if hue not in layers.columns:
        hue = "model"
    layers = layers.assign(_hue=layers[hue].astype(str))
    names = sorted(layers["_hue"].unique())
    palette = dict(zip(names, colours(len(names))))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.3), sharex=True)
    centres = np.arange(10) / 10 + 0.05
    for name in names:
        part = layers[layers["_hue"] == name]
        n_models = part["model"].nunique()
        label = group_label(name, n_models, None, width=28) + f", {len(part)} layers"
        for axis, column in ((left, "sparsity"), (right, "entropy_ratio")):
            axis.scatter(part["conv_depth_norm"], part[column], s=9, alpha=0.45, color=palette[name], linewidths=0)
            median = part.groupby(np.clip((part["conv_depth_norm"] * 10).astype(int), 0, 9))[column].median()
            axis.plot(centres[median.index], median.to_numpy(), color=palette[name], lw=1.6,
                      label=label if axis is left else None)
    handles, labels = left.get_legend_handles_labels()
    draw_cutoffs(left, right, cutoffs)
    left.set(xlabel="normalised conv depth (0 = first 3×3 layer, 1 = last)", ylabel="sparsity (share of sparse filters)",
             title="Sparsity", ylim=(-0.03, 1.03))
    top = max(1.2, float(np.nanmax(layers["entropy_ratio"].to_numpy(dtype=float), initial=0)) + 0.05)
    right.set(xlabel="normalised conv depth (0 = first 3×3 layer, 1 = last)",
              ylabel="H / TH(n) (normalised variance entropy)", title="Variance entropy / randomness threshold",
              ylim=(0, top))
    cut_handles, cut_labels = left.get_legend_handles_labels()
    left.legend(cut_handles[len(handles):], cut_labels[len(labels):], fontsize=7, loc="upper left")
    right.legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=7, frameon=False,
                  title=f"{hue}: points are layers, lines the median per depth decile", title_fontsize=7)
    figure.suptitle(f"Degenerated layers by depth, per {hue}", y=1.02)
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
    figure, heat = plt.subplots(figsize=(8, max(2.4, 0.32 * n + 1.5)))
    image = heat.imshow(values, cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i in range(n):
        for j in range(len(columns)):
            heat.text(j, i, f"{100 * values[i, j]:.0f} %", ha="center", va="center", fontsize=7 if n <= 40 else 6,
                      color="white" if values[i, j] > 0.6 else "black")
    heat.axvline(len(columns) - 1.5, color="white", lw=3)
    heat.xaxis.tick_top()
    heat.set_xticks(range(len(names)), names)
    labels = [f"{i + 1}. {wrap(m, 40)} ({int(shown.loc[m, 'n_layers'])} layers)" for i, m in enumerate(shown.index)]
    heat.set_yticks(range(n), labels, fontsize=7 if n <= 30 else 6)
    figure.colorbar(image, ax=heat, shrink=min(1.0, 4 / max(n, 1) + 0.4), pad=0.02,
                    label="share of the model's 3×3 layers")
    note = f"; {hidden} more not shown" if hidden else ""
    heat.set_title(f"Degenerated models, ranked by share of sparse or collapsed layers (top {n}{note})", pad=22)
    if models is not None:
        empty = sorted(set(models.loc[models["n_filters"] == 0, "model"]))
        if empty:
            footnote(figure, f"Without 3×3 layers (not ranked): {', '.join(empty)}")
    return figure
