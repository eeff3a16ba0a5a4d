"""Rule shift: the D matrix between the groups of one axis."""
import json

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.axes import axis_shift
from filterdb.database import read_layers, read_models
from filterdb.runner import run_step
from filterdb.shift import read_histograms


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    histograms = {}
    for path in snakemake.input.histograms:
        histograms[pq.read_schema(path).metadata[io.MODEL_KEY].decode()] = read_histograms(path)
    matrix, groups = axis_shift(
        read_models(snakemake.input.models),
        read_layers(snakemake.input.layers),
        histograms,
        snakemake.params.axis,
        evr,
        snakemake.params.eps,
        snakemake.params.min_group_filters,
        name=snakemake.wildcards.axis,
    )
    io.write_text_atomic(snakemake.output.matrix, matrix.to_csv(sep="\t", float_format="%.6g"))
    io.write_text_atomic(snakemake.output.groups, groups.to_csv(sep="\t", index=False))


run_step(snakemake, step)
