"""Rule first_filters: the first k filters of every layer of one model."""
from filterdb import store
from filterdb.plots.data import first_filters
from filterdb.runner import run_step


def step():
    table = first_filters(snakemake.input.filters, snakemake.params.k)
    store.write_table(table, snakemake.output.first, store.file_metadata(snakemake.wildcards.model))


run_step(snakemake, step)
