"""Rule basis_file: the basis and its histogram edges as one versioned artifact (basis.from)."""
import json

from filterdb.basis import basis_file, basis_from_json
from filterdb.io import write_json_atomic
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        basis = basis_from_json(json.load(handle))
    with open(snakemake.input.edges) as handle:
        edges = json.load(handle)
    write_json_atomic(snakemake.output.basis_file, basis_file(basis, edges["edges"], edges["policy"]))


run_step(snakemake, step)
