"""Distributions of the basis coefficients: 1-D densities per group, joint density of c0 and c1."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from .common import colours, group_label, placeholder, plt


def coefficient_densities(
    edges: np.ndarray,
    counts: dict[str, np.ndarray],
    sizes: pd.DataFrame,
    evr: np.ndarray,
    hue: str,
    left_out: list[str] | None = None,
):
    """Density of each coefficient c0…c8, one line per group, on the database-wide range.

    edges (9, bins + 1): shared bin edges; counts: group → (9, bins) filter counts;
    sizes: columns group, models, filters; evr (9,): explained-variance ratios (titles);
    left_out: groups not drawn (too small), named in the figure.
    """
    edges = np.asarray(edges, dtype=np.float64)
    names = [g for g in sorted(counts) if np.asarray(counts[g]).sum() > 0]
    if not names:
        return placeholder(f"No filters to draw coefficient distributions by {hue}.", title="Coefficient densities")
    size = sizes.set_index("group")
    palette = dict(zip(names, colours(len(names))))
    figure, axes = plt.subplots(3, 3, figsize=(10, 7.5), constrained_layout=True)
    for i, axis in enumerate(axes.flat):
        width = np.diff(edges[i])
        centres = (edges[i][:-1] + edges[i][1:]) / 2
        for name in names:
            c = np.asarray(counts[name][i], dtype=np.float64)
            density = c / (c.sum() * width)  # probability per unit of the coefficient
            axis.plot(centres, density, lw=1.1, color=palette[name], drawstyle="steps-mid")
        axis.set_xlim(edges[i][0], edges[i][-1])
        axis.set_yscale("log")
        axis.set_title(f"c{i} ({100 * evr[i]:.1f} % of variance)", fontsize=9)
        if i >= 6:
            axis.set_xlabel("coefficient value")
        if i % 3 == 0:
            axis.set_ylabel("density (log)")
    handles = [plt.Line2D([], [], color=palette[n], lw=2) for n in names]
    labels = [
        group_label(n, size.loc[n, "models"] if n in size.index else None,
                    size.loc[n, "filters"] if n in size.index else None, width=30)
        for n in names
    ]
    title = f"Coefficient distributions by {hue}"
    if left_out:
        title += f" (left out, too small: {', '.join(left_out)})"
    figure.suptitle(title)
    figure.legend(handles, labels, loc="outside lower center", ncol=min(4, len(names)), frameon=False)
    return figure


def joint_density(edges_x: np.ndarray, edges_y: np.ndarray, counts: np.ndarray, evr: np.ndarray | None = None):
    """2-D density of coefficients c0 (x) and c1 (y), log colour scale.

    counts (bins_x, bins_y): filters per bin, edges over the database-wide range.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return placeholder("No filters: the joint density of c0 and c1 is empty.", title="Joint density c0, c1")
    area = np.outer(np.diff(edges_x), np.diff(edges_y))
    density = counts / (total * area)
    masked = np.ma.masked_where(counts == 0, density)
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    positive = density[counts > 0]
    mesh = axis.pcolormesh(edges_x, edges_y, masked.T, cmap="magma",
                           norm=LogNorm(vmin=positive.min(), vmax=positive.max()), shading="flat")
    axis.set_facecolor("#f0f0f0")
    share = "" if evr is None else f" ({100 * evr[0]:.1f} % of variance)"
    share1 = "" if evr is None else f" ({100 * evr[1]:.1f} % of variance)"
    axis.set_xlabel(f"coefficient c0{share}")
    axis.set_ylabel(f"coefficient c1{share1}")
    axis.set_title(f"Joint density of the first two coefficients, {int(total):,} filters")
    figure.colorbar(mesh, ax=axis, label="density (filters per unit², log scale)")
    return figure
