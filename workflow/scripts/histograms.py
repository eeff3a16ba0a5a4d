"""Rule histograms_{bucket}: for each model of a bucket, the per-layer histograms of its basis
coefficients and the 2-D counts of coefficients c0 and c1 (the joint figure's data), in one
read of its filters."""
import logging

from filterdb import store
from filterdb.runner import run_step
from filterdb.shift import JointCounter, model_histograms


def step():
    basis, edges = store.read_basis(snakemake.input.basis), store.read_bin_edges(snakemake.input.edges)
    outputs = zip(snakemake.params.filters, snakemake.output.histograms, snakemake.output.joint)
    for model, (filters, histograms_path, joint_path) in zip(snakemake.params.models, outputs):
        logging.info("model %s", model)
        joint = JointCounter(edges, (0, 1))
        histograms = model_histograms(filters, basis, edges, joint)
        store.write_histograms(histograms_path, model, *histograms)
        store.write_table(store.joint_table(joint.counts), joint_path, store.file_metadata(model))
    store.write_bucket_index(snakemake.output.index, snakemake.params.models,
                             histograms=snakemake.output.histograms, joint=snakemake.output.joint)  # fmt: skip


run_step(snakemake, step)
