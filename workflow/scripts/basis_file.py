"""Rule basis_file: the basis and its histogram edges as one versioned artifact (basis.from)."""
from filterdb import store
from filterdb.runner import run_step


def step():
    edges, policy = store.read_bin_edges(snakemake.input.edges), store.read_range_policy(snakemake.input.edges)
    store.write_json_atomic(snakemake.output.basis_file, store.basis_file(store.read_basis(snakemake.input.basis), edges, policy))


run_step(snakemake, step)
