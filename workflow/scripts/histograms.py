"""Rule histograms: per-layer histograms of the basis coefficients of one model."""
from filterdb import store
from filterdb.runner import run_step
from filterdb.shift import model_histograms


def step():
    basis, edges = store.read_basis(snakemake.input.basis), store.read_bin_edges(snakemake.input.edges)
    histograms = model_histograms(snakemake.input.filters, basis, edges)
    store.write_histograms(snakemake.output.histograms, snakemake.wildcards.model, *histograms)


run_step(snakemake, step)
