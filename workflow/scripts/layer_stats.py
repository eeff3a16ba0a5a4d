"""Rule layer_stats: per-layer metrics of one model."""
from filterdb.runner import run_step
from filterdb.stats import write_layer_stats


def step():
    write_layer_stats(snakemake.input.filters, snakemake.output.layers, snakemake.wildcards.model, snakemake.params.cutoffs)


run_step(snakemake, step)
