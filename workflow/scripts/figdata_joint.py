"""Rule joint_counts: the 2-D histogram of coefficients c0 and c1 of one model."""
from filterdb import store
from filterdb.plots.data import joint_counts
from filterdb.runner import run_step


def step():
    basis, edges = store.read_basis(snakemake.input.basis), store.read_bin_edges(snakemake.input.edges)
    counts = joint_counts(snakemake.input.filters, basis, edges, (0, 1))
    store.write_table(store.joint_table(counts), snakemake.output.joint, store.file_metadata(snakemake.wildcards.model))


run_step(snakemake, step)
