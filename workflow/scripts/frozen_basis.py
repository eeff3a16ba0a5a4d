"""Rule frozen_basis: the basis and edges of `basis.from`, checked, as this build's basis."""
import logging

from filterdb.basis import basis_to_json, read_basis_file
from filterdb.io import write_json_atomic
from filterdb.runner import run_step


def step():
    basis, edges, record = read_basis_file(snakemake.input.frozen)
    logging.info("frozen basis %s (sha256 %s): %s filters of %d models", snakemake.input.frozen, record["sha256"], basis.get("n_filters"), len(basis.get("models", [])))
    write_json_atomic(snakemake.output.basis, {**basis_to_json(basis), "frozen_from": str(snakemake.input.frozen), "sha256": record["sha256"]})
    write_json_atomic(snakemake.output.edges, {"policy": record.get("range_policy", "fixed"), "edges": edges})


run_step(snakemake, step)
