"""Rule noise_floor: the largest D between replicate seeds (or between random halves of
the database's layers when there are no replicates), for the shift maps."""
import json

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.plots.noise import replicate_noise, split_half_noise
from filterdb.runner import run_step
from filterdb.shift import read_histograms


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    eps = snakemake.params.eps
    per_model, layers = {}, []
    for path in snakemake.input.histograms:  # one model's histograms at a time
        model = pq.read_schema(path).metadata[io.MODEL_KEY].decode()
        _, counts = read_histograms(path)
        if snakemake.params.sets:
            per_model[model] = counts.sum(axis=0)
        else:
            layers.extend(counts)
    value, pairs = replicate_noise(per_model, snakemake.params.sets, evr, edges, eps) if snakemake.params.sets else (None, [])
    if value is not None:
        record = {"value": value, "method": "replicate seeds",
                  "pairs": [{"a": a, "b": b, "D": d} for a, b, d in pairs]}
    else:
        value = split_half_noise(layers, evr, edges, eps)
        record = {"value": value, "method": "random halves of the database's layers (no replicate seeds)",
                  "layers": len(layers), "pairs": []}
    io.write_text_atomic(snakemake.output.noise, json.dumps(record, indent=1, sort_keys=True) + "\n")


run_step(snakemake, step)
