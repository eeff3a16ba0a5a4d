"""Rule layer_stats: per-layer metrics and moment sums of one model, in one read."""
from filterdb.runner import run_step
from filterdb.stats import write_layer_stats


def step():
    write_layer_stats(
        snakemake.input.filters,
        snakemake.output.layers,
        snakemake.wildcards.model,
        snakemake.params.cutoffs,
        moments_path=snakemake.output.moments,
    )


run_step(snakemake, step)
