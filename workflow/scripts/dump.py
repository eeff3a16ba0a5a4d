"""Rule dump: a model's 3×3 kernels into its filters Parquet file."""
import json
import logging
import os

# parallelism comes from jobs, not threads; torch reads these when a source imports it (most
# readers need neither torch nor its 4 s import)
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(snakemake.threads)

from filterdb.extract import write_filters  # noqa: E402
from filterdb.runner import run_step  # noqa: E402
from filterdb.sources import get_source  # noqa: E402


def step():
    row = snakemake.params.row
    with open(snakemake.input.manifest) as handle:
        manifest = json.load(handle)
    loaded = get_source(row["source"]).load(row, manifest)
    info = write_filters(loaded, snakemake.output.filters, on_nonfinite=snakemake.params.on_nonfinite)
    logging.info("model %s: %d layers, %d filters", row["model"], info["n_layers"], info["n_filters"])


run_step(snakemake, step)
