"""Rule bin_edges: histogram edges per coefficient, database-wide range or a fixed one."""
import json

import numpy as np

from filterdb.io import write_json_atomic
from filterdb.runner import run_step
from filterdb.shift import bin_edges


def step():
    policy = snakemake.params.range
    if policy in ("paper", "per-coefficient"):
        low, high = np.full(9, np.inf), np.full(9, -np.inf)
        for path in snakemake.input.ranges:
            with open(path) as handle:
                part = json.load(handle)
            if part["low"][0] is None:
                continue  # a model without 3×3 filters
            low, high = np.minimum(low, part["low"]), np.maximum(high, part["high"])
        if not np.isfinite(low).all():
            raise ValueError("no model holds any 3×3 filter: there is nothing to histogram")
        if policy == "paper":  # one range shared by all nine coefficients
            low, high = np.full(9, low.min()), np.full(9, high.max())
    else:
        pairs = np.asarray(policy, dtype=float).reshape(-1, 2)
        low, high = np.broadcast_to(pairs, (9, 2)).T
    edges = bin_edges(low, high, int(snakemake.params.bins))
    write_json_atomic(snakemake.output.edges, {"policy": policy if isinstance(policy, str) else "fixed", "edges": edges})


run_step(snakemake, step)
