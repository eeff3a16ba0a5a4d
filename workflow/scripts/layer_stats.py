"""Rule layer_stats: per-layer metrics, moment sums and the first filters of each layer of
one model (with a frozen basis, its shift histograms and c0–c1 joint counts too), in one read."""
from filterdb import store
from filterdb.runner import run_step
from filterdb.stats import write_layer_stats


def step():
    binning = None
    if "histograms" in snakemake.output.keys():
        binning = (store.read_basis(snakemake.input.basis), store.read_bin_edges(snakemake.input.edges))
    write_layer_stats(
        snakemake.input.filters,
        snakemake.output.layers,
        snakemake.wildcards.model,
        snakemake.params.cutoffs,
        moments_path=snakemake.output.moments,
        histograms_path=snakemake.output.get("histograms"),
        binning=binning,
        first_path=snakemake.output.first,
        first_k=snakemake.params.k,
        joint_path=snakemake.output.get("joint"),
    )


run_step(snakemake, step)
