"""Rule shift: the D matrix between the groups of each configured axis."""
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
    files = store.histogram_files(snakemake.params.histograms)
    kept = set(models["model"])
    files = {model: path for model, path in files.items() if model in kept}
    evr = store.read_basis(snakemake.input.basis)["explained_variance_ratio"]
    edges = store.read_bin_edges(snakemake.input.edges)
    outputs = zip(snakemake.output.table, snakemake.output.matrix, snakemake.output.groups)
    for name, axis, (table, matrix_tsv, groups_tsv) in zip(snakemake.params.axes, snakemake.params.settings, outputs):
        logging.info("axis %s", name)
        matrix, groups = axis_shift(
            models, layers, files, axis, evr, edges, snakemake.params.eps, snakemake.params.min_group_filters, name=name
        )
        store.write_shift(table, matrix, groups, tsv=matrix_tsv, groups_tsv=groups_tsv)


run_step(snakemake, step)
