"""Rule shift: the D matrix between the groups of one axis."""
import logging

from filterdb import store
from filterdb.axes import axis_shift
from filterdb.database import unique_models
from filterdb.runner import run_step


def step():
    models, layers = store.read_models(snakemake.input.models), store.read_layers(snakemake.input.layers)
    if snakemake.params.exclude_duplicates:  # a bit-identical copy would count its filters twice
        keep = unique_models(models)
        left_out = sorted(set(models["model"]) - set(keep))
        if left_out:
            logging.info("left out (bit-identical to another model): %s", ", ".join(left_out))
        models, layers = models[models["model"].isin(keep)], layers[layers["model"].isin(keep)]
    files = store.histogram_files(snakemake.input.histograms)
    matrix, groups = axis_shift(
        models,
        layers,
        {model: path for model, path in files.items() if model in set(models["model"])},
        snakemake.params.axis,
        store.read_basis(snakemake.input.basis)["explained_variance_ratio"],
        store.read_bin_edges(snakemake.input.edges),
        snakemake.params.eps,
        snakemake.params.min_group_filters,
        name=snakemake.wildcards.axis,
    )
    store.write_shift(snakemake.output.table, matrix, groups, tsv=snakemake.output.matrix, groups_tsv=snakemake.output.groups)


run_step(snakemake, step)
