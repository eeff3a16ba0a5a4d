"""Rule figure_degeneracy_by_depth: sparsity and H/TH against depth, per model."""
from filterdb.database import read_layers
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save
from filterdb.plots.degeneracy import degeneracy_by_depth
from filterdb.runner import run_step


def step():
    layers = read_layers(snakemake.input.layers)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    for path in snakemake.output:
        save(degeneracy_by_depth(layers, cutoffs), path)


run_step(snakemake, step)
