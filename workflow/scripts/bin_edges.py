"""Rule bin_edges: histogram edges of the nine coefficients over the basis pool, or a fixed range."""
import json
import logging
from pathlib import Path

import numpy as np

from filterdb.database import read_models, unique_models
from filterdb.io import write_json_atomic
from filterdb.runner import run_step
from filterdb.shift import bin_edges, range_edges


def step():
    policy = snakemake.params.range
    if policy in ("paper", "per-coefficient"):
        keep = set(unique_models(read_models(snakemake.input.models))) if snakemake.params.exclude_duplicates else None
        low, high = np.full(9, np.inf), np.full(9, -np.inf)
        for path in snakemake.input.ranges:
            if keep is not None and Path(path).stem not in keep:
                continue  # a bit-identical copy of another model: the same range
            with open(path) as handle:
                part = json.load(handle)
            if part["low"][0] is None:
                continue  # a model without 3×3 filters
            low, high = np.minimum(low, part["low"]), np.maximum(high, part["high"])
        if not np.isfinite(low).all():
            raise ValueError("no model of the basis pool holds any 3×3 filter: there is nothing to histogram")
        edges = range_edges(policy, low, high, int(snakemake.params.bins))
    else:
        edges = range_edges(policy, None, None, int(snakemake.params.bins))
    logging.info("histogram range %s: [%s]", policy if isinstance(policy, str) else "fixed", ", ".join(f"{a:.4g}..{b:.4g}" for a, b in edges[:, [0, -1]]))
    write_json_atomic(snakemake.output.edges, {"policy": policy if isinstance(policy, str) else "fixed", "edges": edges})


run_step(snakemake, step)
