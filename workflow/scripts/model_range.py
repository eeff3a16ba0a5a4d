"""Rule model_range_{bucket}: min and max of each basis coefficient over each model's filters."""
import logging

from filterdb import store
from filterdb.basis import coefficient_range
from filterdb.runner import run_step


def step():
    basis = store.read_basis(snakemake.input.basis)
    for model, filters, out in zip(snakemake.params.models, snakemake.params.filters, snakemake.output.range):
        logging.info("model %s", model)
        low, high = coefficient_range(filters, basis)
        store.write_range(out, low, high)
    store.write_bucket_index(snakemake.output.index, snakemake.params.models, range=snakemake.output.range)


run_step(snakemake, step)
