"""Rule bin_edges: histogram edges of the nine coefficients over the basis pool, or a fixed range."""
import logging
from pathlib import Path

from filterdb import store
from filterdb.database import unique_models
from filterdb.runner import run_step
from filterdb.shift import pooled_edges


def step():
    policy = snakemake.params.range
    ranges = []
    if isinstance(policy, str):
        # a bit-identical copy of another model has the same range
        keep = set(unique_models(store.read_models(snakemake.input.models))) if snakemake.params.exclude_duplicates else None
        ranges = [store.read_range(p) for p in snakemake.params.ranges if keep is None or Path(p).stem in keep]
    edges = pooled_edges(policy, ranges, int(snakemake.params.bins))
    logging.info("histogram range %s: [%s]", policy if isinstance(policy, str) else "fixed", ", ".join(f"{a:.4g}..{b:.4g}" for a, b in edges[:, [0, -1]]))
    store.write_bin_edges(snakemake.output.edges, edges, policy)


run_step(snakemake, step)
