"""Rule histograms: per-layer histograms of the basis coefficients of one model."""
import json

import numpy as np

from filterdb import io
from filterdb.basis import basis_from_json
from filterdb.runner import run_step
from filterdb.shift import layer_histograms


def step():
    with open(snakemake.input.basis) as handle:
        basis = basis_from_json(json.load(handle))
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    table = layer_histograms(snakemake.input.filters, basis, edges)
    io.write_table(table, snakemake.output.histograms, io.file_metadata(snakemake.wildcards.model))


run_step(snakemake, step)
