"""Rule histograms: per-layer histograms of the basis coefficients of one model, and the
2-D counts of coefficients c0 and c1 (the joint figure's data), in one read."""
from filterdb import store
from filterdb.runner import run_step
from filterdb.shift import JointCounter, model_histograms


def step():
    basis, edges = store.read_basis(snakemake.input.basis), store.read_bin_edges(snakemake.input.edges)
    joint = JointCounter(edges, (0, 1))
    histograms = model_histograms(snakemake.input.filters, basis, edges, joint)
    store.write_histograms(snakemake.output.histograms, snakemake.wildcards.model, *histograms)
    metadata = store.file_metadata(snakemake.wildcards.model)
    store.write_table(store.joint_table(joint.counts), snakemake.output.joint, metadata)


run_step(snakemake, step)
