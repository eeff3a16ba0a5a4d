"""Rule figure_coefficients: density of each coefficient per group (default: visual category)."""
import json

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.database import layers_with_models, read_layers, read_models
from filterdb.plots.coefficients import coefficient_densities
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
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
    sums, used = {}, []
    for path in snakemake.input.histograms:  # one model at a time: memory of one histogram file
        model = pq.read_schema(path).metadata[io.MODEL_KEY].decode()
        part = joined[joined["model"] == model]
        if part.empty:
            continue
        counts, _ = group_histograms(part, {model: read_histograms(path)}, hue)
        for group, value in counts.items():
            sums[group] = sums[group] + value if group in sums else value
        used.append(model)
    sizes = (
        joined.assign(group=joined[hue].astype(str))
        .groupby("group")
        .agg(models=("model", "nunique"), filters=("n_filters", "sum"))
        .reset_index()
    )
    small = sorted(sizes.loc[sizes["filters"] < snakemake.params.min_group_filters, "group"])
    kept = {g: c for g, c in sums.items() if g not in small}
    figure = coefficient_densities(edges, kept, sizes, evr, hue, small)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    write_notes(snakemake.output.notes, [
        models_line(models, used),
        f"Groups: the values of ``{hue}`` ({len(kept)} drawn). "
        + (f"Left out (fewer than {snakemake.params.min_group_filters:,} filters): {', '.join(small)}." if small
           else f"No group was left out (minimum {snakemake.params.min_group_filters:,} filters)."),
    ])


run_step(snakemake, step)
