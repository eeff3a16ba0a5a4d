"""Rule basis: the PCA basis from the moment sums of the basis pool (duplicates left out)."""
import logging
from pathlib import Path

from filterdb.basis import basis_from_moments, basis_to_json, load_moments
from filterdb.database import read_models, unique_models
from filterdb.io import write_json_atomic
from filterdb.runner import run_step


def step():
    paths = {Path(p).stem: p for p in snakemake.input.moments}
    keep = set(unique_models(read_models(snakemake.input.models))) if snakemake.params.exclude_duplicates else set(paths)
    pool = sorted(m for m in paths if m in keep)
    left_out = sorted(set(paths) - set(pool))
    if left_out:
        logging.info("left out of the basis (bit-identical to another model): %s", ", ".join(left_out))
    basis = basis_from_moments(load_moments(paths[m]) for m in pool)
    basis["models"] = pool
    logging.info("basis of %d filters from %d models; explained variance ratio %s", basis["n_filters"], len(pool), basis["explained_variance_ratio"].round(4))
    write_json_atomic(snakemake.output.basis, basis_to_json(basis))


run_step(snakemake, step)
