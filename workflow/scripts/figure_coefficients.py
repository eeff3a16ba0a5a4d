"""Rule figure_coefficients: density of each coefficient per group (default: visual
category), one row per group: the largest figures.top_groups by filters, the rest pooled."""
import numpy as np

from filterdb import store
from filterdb.database import layers_with_models
from filterdb.plots.coefficients import coefficient_densities
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.style import pooled_line, rank_groups
from filterdb.runner import run_step
from filterdb.shift import group_histograms, group_labels


def step():
    evr = store.read_basis(snakemake.input.basis)["explained_variance_ratio"]
    edges = store.read_bin_edges(snakemake.input.edges)
    models = store.read_models(snakemake.input.models)
    joined = layers_with_models(store.read_layers(snakemake.input.layers), models)
    hue = snakemake.params.hue
    minimum = snakemake.params.min_group_filters
    everyone = rank_groups(joined, hue, snakemake.params.top_groups)
    small = sorted(g for g in everyone.ranked if 0 < everyone.filters[g] < minimum)
    kept_rows = joined[~group_labels(joined[hue]).isin(small)]
    groups = rank_groups(kept_rows, hue, snakemake.params.top_groups) if len(kept_rows) else everyone
    files = store.histogram_files(snakemake.params.histograms)
    kept_rows = kept_rows[kept_rows["model"].isin(list(files))]
    sums, _ = group_histograms(kept_rows.assign(_drawn=groups.key(kept_rows[hue])), files, "_drawn")
    figure = coefficient_densities(edges, sums, groups, evr, small)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    drawn_filters = int(sum(np.asarray(c)[0].sum() for c in sums.values()))
    write_notes(snakemake.output.notes, [
        models_line(models, sorted(kept_rows["model"].unique())),
        f"{drawn_filters:,} filters in {len(sums)} rows, {edges.shape[1] - 1} bins per coefficient over the "
        "database-wide range.",
        pooled_line(groups),
        f"Left out (fewer than {minimum:,} filters, config ``shift.min_group_filters``): {', '.join(small)}."
        if small else f"No group was left out as too small (minimum {minimum:,} filters).",
    ])


run_step(snakemake, step)
