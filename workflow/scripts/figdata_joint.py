"""Rule joint_counts: the 2-D histogram of coefficients c0 and c1 of one model."""
import json

import numpy as np

from filterdb import io
from filterdb.basis import basis_from_json
from filterdb.plots.data import joint_counts, joint_table
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        basis = basis_from_json(json.load(handle))
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    counts = joint_counts(snakemake.input.filters, basis, edges, (0, 1))
    io.write_table(joint_table(counts), snakemake.output.joint, io.file_metadata(snakemake.wildcards.model))


run_step(snakemake, step)
