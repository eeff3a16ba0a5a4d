"""Rule dump: a model's 3×3 kernels into its filters Parquet file."""
import json
import logging

from filterdb.extract import write_filters
from filterdb.runner import run_step
from filterdb.sources import get_source


def step():
    import torch

    torch.set_num_threads(snakemake.threads)  # parallelism comes from jobs, not threads
    row = snakemake.params.row
    with open(snakemake.input.manifest) as handle:
        manifest = json.load(handle)
    loaded = get_source(row["source"]).load(row, manifest)
    info = write_filters(loaded, snakemake.output.filters, on_nonfinite=snakemake.params.on_nonfinite)
    logging.info("model %s: %d layers, %d filters", row["model"], info["n_layers"], info["n_filters"])


run_step(snakemake, step)
