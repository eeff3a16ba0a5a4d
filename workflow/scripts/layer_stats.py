"""Rule layer_stats: per-layer metrics and moment sums of one model (with a frozen basis,
its shift histograms too), in one read."""
import json

import numpy as np

from filterdb.basis import basis_from_json
from filterdb.runner import run_step
from filterdb.stats import write_layer_stats


def step():
    binning = None
    if "histograms" in snakemake.output.keys():
        with open(snakemake.input.basis) as handle:
            basis = basis_from_json(json.load(handle))
        with open(snakemake.input.edges) as handle:
            binning = (basis, np.asarray(json.load(handle)["edges"], dtype=np.float64))
    write_layer_stats(
        snakemake.input.filters,
        snakemake.output.layers,
        snakemake.wildcards.model,
        snakemake.params.cutoffs,
        moments_path=snakemake.output.moments,
        histograms_path=snakemake.output.get("histograms"),
        binning=binning,
    )


run_step(snakemake, step)
