"""Degeneracy by depth: sparsity and H/TH of every layer against normalised depth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import placeholder, plt


def degeneracy_by_depth(layers: pd.DataFrame, cutoffs: dict, hue: str = "model"):
    """layers: the layer table (with conv_depth_norm, sparsity, entropy_ratio and ``hue``)."""
    if layers.empty:
        return placeholder("No 3×3 layers in the database.")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    groups = list(layers.groupby(hue, sort=True))
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(groups), 1)))
    for colour, (name, part) in zip(colours, groups):
        part = part.sort_values("conv_depth_norm")
        left.plot(part["conv_depth_norm"], part["sparsity"], marker=".", lw=1, color=colour, label=str(name))
        right.plot(part["conv_depth_norm"], part["entropy_ratio"], marker=".", lw=1, color=colour)
    left.axhline(cutoffs["sparse_min"], ls="--", color="grey", lw=0.8)
    right.axhline(cutoffs["collapsed_max"], ls="--", color="grey", lw=0.8)
    right.axhline(cutoffs["random_like_min"], ls=":", color="grey", lw=0.8)
    left.set(xlabel="normalised conv depth", ylabel="sparsity (share of sparse filters)", title="Sparsity")
    right.set(xlabel="normalised conv depth", ylabel="H / TH(n)", title="Variance entropy / randomness threshold")
    if len(groups) <= 30:
        left.legend(fontsize=6, ncol=2, loc="upper left")
    return figure
