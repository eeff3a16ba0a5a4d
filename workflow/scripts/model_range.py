"""Rule model_range: min and max of each basis coefficient over one model's filters."""
from filterdb import store
from filterdb.basis import coefficient_range
from filterdb.runner import run_step


def step():
    low, high = coefficient_range(snakemake.input.filters, store.read_basis(snakemake.input.basis))
    store.write_range(snakemake.output.range, low, high)


run_step(snakemake, step)
