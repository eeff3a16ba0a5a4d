"""Rule figure_basis: the eigen-filters with their explained variance."""
import json

from filterdb.plots.basis import basis_figure
from filterdb.plots.common import save
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        basis = json.load(handle)
    for path in snakemake.output:
        save(basis_figure(basis["components"], basis["explained_variance_ratio"], basis["n_filters"]), path)


run_step(snakemake, step)
