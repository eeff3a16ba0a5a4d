"""Rule findings: the paper's claims checked on the zoo, one row a claim."""
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from filterdb import io
from filterdb.database import read_layers, read_models
from filterdb.runner import run_step
from filterdb.shift import read_histograms
from filterdb.zoo.findings import findings, with_experiments


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    histograms = {
        pq.read_schema(path).metadata[io.MODEL_KEY].decode(): read_histograms(path)
        for path in snakemake.input.histograms
    }
    table = findings(
        read_models(snakemake.input.models),
        read_layers(snakemake.input.layers),
        histograms,
        evr,
        edges,
        snakemake.params.eps,
        snakemake.params.min_group_filters,
    )
    experiments = [pd.read_csv(path, sep="\t") for path in snakemake.input.experiments]
    table = with_experiments(table, experiments)
    io.write_text_atomic(snakemake.output[0], table.to_csv(sep="\t", index=False, float_format="%.6g"))


run_step(snakemake, step)
