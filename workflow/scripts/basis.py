"""Rule basis: the PCA basis from the moment sums of the basis pool (duplicates left out)."""
import logging
from pathlib import Path

from filterdb import store
from filterdb.basis import basis_from_moments
from filterdb.database import unique_models
from filterdb.runner import run_step


def step():
    paths = {Path(p).stem: p for p in snakemake.input.moments}
    keep = set(unique_models(store.read_models(snakemake.input.models))) if snakemake.params.exclude_duplicates else set(paths)
    pool = sorted(m for m in paths if m in keep)
    left_out = sorted(set(paths) - set(pool))
    if left_out:
        logging.info("left out of the basis (bit-identical to another model): %s", ", ".join(left_out))
    basis = basis_from_moments(store.load_moments(paths[m]) for m in pool)
    basis["models"] = pool
    logging.info("basis of %d filters from %d models; explained variance ratio %s", basis["n_filters"], len(pool), basis["explained_variance_ratio"].round(4))
    store.write_basis(snakemake.output.basis, basis)


run_step(snakemake, step)
