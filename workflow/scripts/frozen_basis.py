"""Rule frozen_basis: the basis and edges of `basis.from`, checked, as this build's basis."""
import logging

from filterdb import store
from filterdb.runner import run_step


def step():
    basis, edges, record = store.read_basis_file(snakemake.input.frozen)
    logging.info("frozen basis %s (sha256 %s): %s filters of %d models", snakemake.input.frozen, record["sha256"], basis.get("n_filters"), len(basis.get("models", [])))
    store.write_basis(snakemake.output.basis, {**basis, "frozen_from": str(snakemake.input.frozen), "sha256": record["sha256"]})
    store.write_bin_edges(snakemake.output.edges, edges, record.get("range_policy", "fixed"))


run_step(snakemake, step)
