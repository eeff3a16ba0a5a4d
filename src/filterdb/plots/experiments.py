"""Figures of the experiments: transfer against source size and variance; degeneracy
against fine-tuned accuracy and robustness."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import pandas as pd  # noqa: E402

from ..zoo.experiments.measures import spearman_interval  # noqa: E402
from .common import footnote, placeholder  # noqa: E402
from .style import PALETTE  # noqa: E402


def transfer_figure(table: pd.DataFrame, resamples: int = 2000):
    """Target accuracy against source size (x, log), one line per classes level (variance),
    one panel per source (columns) and target × budget (rows); from-scratch (dashed) and
    in-domain (dotted) baselines with their seed range; error bars: seed min … max."""
    sources = table[table["role"] == "source"]
    if sources.empty:
        return placeholder("The transfer design has no source rows.", title="Transfer")
    columns = sorted(sources["row"].unique(), key=lambda r: (sources.loc[sources["row"] == r, "category"].iloc[0] != "real", r))
    panels = sorted(table[["target", "budget"]].drop_duplicates().itertuples(index=False, name=None))
    levels = sorted(sources["classes"].unique())
    sizes = spaced_ticks(sorted(sources["data_size"].unique()))
    labelled = set()  # each classes level named in the legend once, at its first line
    palette = dict(zip(levels, PALETTE))
    figure, axes = plt.subplots(len(panels), len(columns), figsize=(2.4 * len(columns) + 1, 2.1 * len(panels) + 0.8),
                                sharex=True, sharey="row", squeeze=False)  # fmt: skip
    for i, (target, budget) in enumerate(panels):
        here = table[(table["target"] == target) & (table["budget"] == budget)]
        for j, row in enumerate(columns):
            axis = axes[i, j]
            part = here[here["row"] == row]
            if i == 0:
                category = sources.loc[sources["row"] == row, "category"].iloc[0]
                axis.set_title(f"{row}\n({category})", fontsize=9)
            if j == 0:
                axis.set_ylabel(f"{target}\n{budget} labels: accuracy", fontsize=8)
            for role, style in (("scratch", "--"), ("in-domain", ":")):
                base = here.loc[here["role"] == role, "accuracy"]
                if len(base):
                    axis.axhline(base.mean(), color="0.3", linestyle=style, linewidth=1, label=role if (i, j) == (0, 0) else None)
                    axis.axhspan(base.min(), base.max(), color="0.5", alpha=0.12, linewidth=0)
            if part.empty:
                axis.text(0.5, 0.5, "not a held-out\ntarget", transform=axis.transAxes, ha="center", va="center", fontsize=8,
                          color="0.4", bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
                continue
            for level, group in part.groupby("classes"):
                stats = group.groupby("data_size")["accuracy"].agg(["mean", "min", "max"]).reset_index()
                axis.errorbar(stats["data_size"], stats["mean"], yerr=[stats["mean"] - stats["min"], stats["max"] - stats["mean"]],
                              marker="o", markersize=3, linewidth=1, capsize=2, color=palette[level],
                              label=None if level in labelled else f"{level} classes")  # fmt: skip
                labelled.add(level)
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.set_xticks(sizes, [f"{s / 1000:.0f}k" for s in sizes])
            axis.tick_params(labelsize=7)
    for axis in axes[-1]:
        axis.set_xlabel("source images", fontsize=8)
    handles, labels = [], []
    for axis in axes.flat:
        h, lab = axis.get_legend_handles_labels()
        handles += h
        labels += lab
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    spread = ", ".join(f"{r}: {s:.3g}" for r, s in sources.groupby("row")["pixel_spread"].max().items())
    footnote(figure, f"Points: mean over seeds, bars: seed min…max. Variance level = classes kept (real) or generator "
                     f"classes (synthetic); pixel spread (RMS pixel distance between images) of each source's largest set: {spread}.")  # fmt: skip
    figure.tight_layout(rect=(0, 0.04, 1, 0.95))
    return figure


def spaced_ticks(values, factor: float = 1.5):
    """Sorted values thinned so that neighbouring log-axis ticks differ by at least ``factor``."""
    kept = []
    for value in values:
        if not kept or value >= kept[-1] * factor:
            kept.append(value)
    return kept


DEGENERACY_X = "degenerated_filter_share"


def degeneracy_figure(table: pd.DataFrame, resamples: int = 2000):
    """Degenerated-filter share of each checkpoint (x) against fine-tuned accuracy (one panel
    per budget), accuracy under Gaussian noise and under FGSM (largest budget); one point per
    checkpoint × seed, coloured by the change from the base recipe; Spearman ρ and its
    bootstrap 95 % interval in each title."""
    if table.empty:
        return placeholder("The degeneracy design produced no rows.", title="Degeneracy")
    budgets = sorted(table["budget"].unique())
    panels = [(b, "accuracy", f"fine-tuned accuracy, {b} labels") for b in budgets]
    panels += [(budgets[-1], "mean_noise_accuracy", f"Gaussian noise, {budgets[-1]} labels"),
               (budgets[-1], "mean_fgsm_accuracy", f"FGSM, {budgets[-1]} labels")]  # fmt: skip
    changes = sorted(table["change"].unique())
    palette = dict(zip(changes, PALETTE))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.3), squeeze=False)
    for axis, (budget, column, label) in zip(axes[0], panels):
        part = table[table["budget"] == budget]
        for change, group in part.groupby("change"):
            axis.scatter(group[DEGENERACY_X], group[column], s=16, color=palette[change], label=change, alpha=0.85)
        rho, low, high = spearman_interval(part[DEGENERACY_X], part[column], resamples)
        axis.set_title(f"{label}\nρ = {rho:.2f} [{low:.2f}, {high:.2f}]", fontsize=9)
        axis.set_xlabel("degenerated filter share", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("target accuracy", fontsize=8)
    axes[0, 0].legend(fontsize=7, frameon=False)
    footnote(figure, "Degenerated filters: sparse filters, and every filter of a collapsed or random-like layer (the workflow's "
                     "flags). Robustness: mean accuracy over the configured noise σ and FGSM ε. Interval: percentile bootstrap "
                     "over points.")  # fmt: skip
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    return figure

