"""Rule figure_joint: the joint density of coefficients c0 and c1 over the whole database."""
import json

import numpy as np
import pyarrow.parquet as pq

from filterdb import io
from filterdb.database import read_models
from filterdb.plots.coefficients import joint_density
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line, read_joint
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        evr = np.asarray(json.load(handle)["explained_variance_ratio"])
    with open(snakemake.input.edges) as handle:
        edges = np.asarray(json.load(handle)["edges"], dtype=np.float64)
    bins = edges.shape[1] - 1
    total = np.zeros((bins, bins), np.int64)
    used = []
    for path in snakemake.input.joint:
        counts = read_joint(path, bins)
        if counts.sum():
            used.append(pq.read_schema(path).metadata[io.MODEL_KEY].decode())
        total += counts
    save_all(joint_density(edges[0], edges[1], total, evr), [snakemake.output.pdf, snakemake.output.png])
    write_notes(snakemake.output.notes, [
        models_line(read_models(snakemake.input.models), used),
        f"{int(total.sum()):,} filters in {bins}×{bins} bins over the database-wide range of c0 and c1; "
        f"{int((total > 0).sum()):,} bins hold filters.",
    ])


run_step(snakemake, step)
