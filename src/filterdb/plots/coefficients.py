"""Distributions of the basis coefficients: 1-D densities per group, joint density of c0 and c1."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from .common import MIN_FONT, fmt_count, placeholder, plt, wrap
from .style import OTHER, Groups


def group_densities(edges: np.ndarray, counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Probability per unit of each coefficient: group → (9, bins), each row integrating to 1
    over the bin edges (9, bins + 1)."""
    edges = np.asarray(edges, dtype=np.float64)
    out = {}
    for name, c in counts.items():
        c = np.asarray(c, dtype=np.float64)
        out[name] = c / (c.sum(axis=1, keepdims=True) * np.diff(edges, axis=1))
    return out


def coefficient_densities(
    edges: np.ndarray,
    counts: dict[str, np.ndarray],
    groups: Groups,
    evr: np.ndarray,
    left_out: list[str] | None = None,
):
    """The paper's layout: one row per group, one column per coefficient c0…c8, the
    group's density of that coefficient in each cell, on the database-wide range.

    edges (9, bins + 1): shared bin edges; counts: drawn group (``groups.drawn``, OTHER
    pooling the smaller ones) → (9, bins) filter counts; evr (9,): explained-variance
    ratios (column titles); left_out: groups not drawn (too small), named in the figure.
    Density: probability per unit of the coefficient, log scale, one scale per column.
    """
    edges = np.asarray(edges, dtype=np.float64)
    names = [g for g in groups.drawn if g in counts and np.asarray(counts[g]).sum() > 0]
    if not names:
        return placeholder(f"No filters to draw coefficient distributions by {groups.column}.",
                           title="Coefficient densities")
    colours = groups.palette_for(names)
    densities = group_densities(edges, {name: counts[name] for name in names})
    floors = [min(d[i][d[i] > 0].min(initial=np.inf) for d in densities.values()) / 2 for i in range(9)]
    floors = [f if np.isfinite(f) else 1e-6 for f in floors]
    n = len(names)
    figure, axes = plt.subplots(n, 9, figsize=(10, 0.62 * n + 1.5), sharex="col", sharey="col", squeeze=False,
                                layout="constrained")
    figure.get_layout_engine().set(w_pad=0.01, h_pad=0.01, hspace=0.0, wspace=0.04)  # keeps "2" and "−2" apart
    for row, name in enumerate(names):
        models, filters = groups.size(name)
        pooled = f"{len(groups.pooled)} groups, " if name == OTHER else ""
        for i in range(9):
            axis = axes[row, i]
            density, floor = densities[name][i], floors[i]
            axis.fill_between(edges[i], np.append(np.maximum(density, floor), floor), floor, step="post",
                              color=colours[name], alpha=0.85, linewidth=0)
            axis.set_yscale("log")
            axis.set_xlim(edges[i][0], edges[i][-1])
            axis.tick_params(left=False, labelleft=False, bottom=row == n - 1, labelsize=MIN_FONT)
            axis.xaxis.set_major_locator(MaxNLocator(3))
            for side in ("top", "right", "left"):
                axis.spines[side].set_visible(False)
        axes[row, 0].set_ylabel(f"{wrap(name, 18)}\n({pooled}{models} m, {fmt_count(filters)} f)", rotation=0,
                                ha="right", va="center", fontsize=MIN_FONT)
    for i in range(9):
        axes[0, i].set_title(f"c{i}\n{100 * evr[i]:.1f} %", fontsize=MIN_FONT + 1)
    title = f"Density of each basis coefficient by {groups.column} (log scale, one scale per column)"
    note = "m: models, f: filters; column titles: share of variance"
    if groups.pooled:
        note += f"; '{OTHER}' pools {len(groups.pooled)} smaller groups"
    if left_out:
        note += f"; left out (too small): {', '.join(left_out[:8])}" + (
            f" and {len(left_out) - 8} more" if len(left_out) > 8 else "")
    figure.suptitle(title + "\n" + wrap(note, 140))
    figure.supxlabel("coefficient value (one range for every row of a column)", fontsize=MIN_FONT + 1)
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
    figure, axis = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    positive = density[counts > 0]
    mesh = axis.pcolormesh(edges_x, edges_y, masked.T, cmap="magma",
                           norm=LogNorm(vmin=positive.min(), vmax=positive.max()), shading="flat")
    axis.set_facecolor("#f0f0f0")
    share = "" if evr is None else f" ({100 * evr[0]:.1f} % of variance)"
    share1 = "" if evr is None else f" ({100 * evr[1]:.1f} % of variance)"
    axis.set_xlabel(f"coefficient c0{share}")
    axis.set_ylabel(f"coefficient c1{share1}")
    axis.set_title(f"Joint density of the first two coefficients\n{int(total):,} filters")
    figure.colorbar(mesh, ax=axis, label="normalised density (integrates to 1 over the c0, c1 plane;\nlog scale; grey: no filter)")
    return figure
