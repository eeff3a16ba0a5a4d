"""Rule figure_joint: the joint density of coefficients c0 and c1 over the whole database."""
import numpy as np

from filterdb import store
from filterdb.plots.coefficients import joint_density
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.runner import run_step


def step():
    evr = store.read_basis(snakemake.input.basis)["explained_variance_ratio"]
    edges = store.read_bin_edges(snakemake.input.edges)
    bins = edges.shape[1] - 1
    total = np.zeros((bins, bins), np.int64)
    used = []
    for path in snakemake.params.joint:
        counts = store.read_joint(path, bins)
        if counts.sum():
            used.append(store.model_id_of(path))
        total += counts
    save_all(joint_density(edges[0], edges[1], total, evr), [snakemake.output.pdf, snakemake.output.png])
    write_notes(snakemake.output.notes, [
        models_line(store.read_models(snakemake.input.models), used),
        f"{int(total.sum()):,} filters in {bins}×{bins} bins over the database-wide range of c0 and c1; "
        f"{int((total > 0).sum()):,} bins hold filters.",
    ])


run_step(snakemake, step)
