"""Rule basis: the global PCA basis from all models' moment sums."""
import logging

from filterdb.basis import basis_from_moments, basis_to_json, load_moments
from filterdb.io import write_json_atomic
from filterdb.runner import run_step


def step():
    basis = basis_from_moments(load_moments(p) for p in snakemake.input.moments)
    logging.info("basis of %d filters; explained variance ratio %s", basis["n_filters"], basis["explained_variance_ratio"].round(4))
    write_json_atomic(snakemake.output.basis, basis_to_json(basis))


run_step(snakemake, step)
