"""Rule shift: the D matrix between the groups of one axis."""
import json
import logging

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.axes import axis_shift
from filterdb.database import read_layers, read_models, unique_models
from filterdb.runner import run_step
from filterdb.shift import read_histograms, shift_table


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    models, layers = read_models(snakemake.input.models), read_layers(snakemake.input.layers)
    if snakemake.params.exclude_duplicates:  # a bit-identical copy would count its filters twice
        keep = unique_models(models)
        left_out = sorted(set(models["model"]) - set(keep))
        if left_out:
            logging.info("left out (bit-identical to another model): %s", ", ".join(left_out))
        models, layers = models[models["model"].isin(keep)], layers[layers["model"].isin(keep)]
    histograms = {}
    for path in snakemake.input.histograms:
        model = pq.read_schema(path).metadata[io.MODEL_KEY].decode()
        if model in set(models["model"]):
            histograms[model] = read_histograms(path)
    matrix, groups = axis_shift(
        models,
        layers,
        histograms,
        snakemake.params.axis,
        evr,
        edges,
        snakemake.params.eps,
        snakemake.params.min_group_filters,
        name=snakemake.wildcards.axis,
    )
    io.write_text_atomic(snakemake.output.matrix, matrix.to_csv(sep="\t", float_format="%.6g"))  # for people
    io.write_table(shift_table(matrix), snakemake.output.table, io.file_metadata())  # full precision
    io.write_text_atomic(snakemake.output.groups, groups.to_csv(sep="\t", index=False))


run_step(snakemake, step)
