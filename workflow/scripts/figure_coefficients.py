"""Rule figure_coefficients: density of each coefficient per group (default: visual
category), one row per group: the largest figures.top_groups by filters, the rest pooled."""
import json

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.database import layers_with_models, read_layers, read_models
from filterdb.plots.coefficients import coefficient_densities
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.style import pooled_line, rank_groups
from filterdb.runner import run_step
from filterdb.shift import group_histograms, read_histograms


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    models = read_models(snakemake.input.models)
    joined = layers_with_models(read_layers(snakemake.input.layers), models)
    hue = snakemake.params.hue
    minimum = snakemake.params.min_group_filters
    everyone = rank_groups(joined, hue, snakemake.params.top_groups)
    small = sorted(g for g in everyone.ranked if 0 < everyone.filters[g] < minimum)
    kept_rows = joined[~joined[hue].astype(str).isin(small)]
    groups = rank_groups(kept_rows, hue, snakemake.params.top_groups) if len(kept_rows) else everyone
    kept_rows = kept_rows.assign(_drawn=groups.key(kept_rows[hue]))
    sums, used = {}, []
    for path in snakemake.input.histograms:  # one model at a time: memory of one histogram file
        model = pq.read_schema(path).metadata[io.MODEL_KEY].decode()
        part = kept_rows[kept_rows["model"] == model]
        if part.empty:
            continue
        counts, _ = group_histograms(part, {model: read_histograms(path)}, "_drawn")
        for group, value in counts.items():
            sums[group] = sums[group] + value if group in sums else value
        used.append(model)
    figure = coefficient_densities(edges, sums, groups, evr, small)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    drawn_filters = int(sum(np.asarray(c)[0].sum() for c in sums.values()))
    write_notes(snakemake.output.notes, [
        models_line(models, used),
        f"{drawn_filters:,} filters in {len(sums)} rows, {edges.shape[1] - 1} bins per coefficient over the "
        "database-wide range.",
        pooled_line(groups),
        f"Left out (fewer than {minimum:,} filters, config ``figures.min_group_filters``): {', '.join(small)}."
        if small else f"No group was left out as too small (minimum {minimum:,} filters).",
    ])


run_step(snakemake, step)
