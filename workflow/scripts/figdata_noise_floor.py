"""Rule noise_floor: the largest D between replicate seeds (or between random halves of
the database's layers when there are no replicates), for the shift maps."""
import json

from filterdb import store
from filterdb.plots.noise import noise_floor
from filterdb.runner import run_step


def step():
    evr = store.read_basis(snakemake.input.basis)["explained_variance_ratio"]
    edges = store.read_bin_edges(snakemake.input.edges)
    files = store.histogram_files(snakemake.params.histograms)
    record = noise_floor(files, snakemake.params.sets, evr, edges, snakemake.params.eps)
    store.write_text_atomic(snakemake.output.noise, json.dumps(record, indent=1, sort_keys=True) + "\n")


run_step(snakemake, step)
