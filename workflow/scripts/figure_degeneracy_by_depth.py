"""Rule figure_degeneracy_by_depth: sparsity and H/TH against depth, per family."""
from filterdb.database import layers_with_models, read_layers, read_models
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.degeneracy import degeneracy_by_depth
from filterdb.runner import run_step


def step():
    models = read_models(snakemake.input.models)
    layers = layers_with_models(read_layers(snakemake.input.layers), models)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    save_all(degeneracy_by_depth(layers, cutoffs, snakemake.params.hue), [snakemake.output.pdf, snakemake.output.png])
    write_notes(snakemake.output.notes, [
        models_line(models),
        f"{len(layers):,} layers; cut-offs (config ``flags``): sparse at sparsity ≥ {cutoffs['sparse_min']:g}, "
        f"collapsed at H/TH ≤ {cutoffs['collapsed_max']:g}, random-like at H/TH > {cutoffs['random_like_min']:g}.",
    ])


run_step(snakemake, step)
