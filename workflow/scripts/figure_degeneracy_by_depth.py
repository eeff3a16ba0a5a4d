"""Rule figure_degeneracy_by_depth: sparsity and H/TH against depth, one panel per group."""
from filterdb.database import layers_with_models
from filterdb.store import read_layers, read_models
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.degeneracy import degeneracy_by_depth
from filterdb.plots.style import pooled_line, rank_groups
from filterdb.runner import run_step


def step():
    models = read_models(snakemake.input.models)
    layers = layers_with_models(read_layers(snakemake.input.layers), models)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    panels, top = snakemake.params.panels, snakemake.params.top_groups
    save_all(degeneracy_by_depth(layers, cutoffs, panels, top), [snakemake.output.pdf, snakemake.output.png])
    lines = [
        models_line(models),
        f"{len(layers):,} layers, {int(layers['n_filters'].sum()):,} filters; one panel per ``{panels}`` "
        "(config ``figures.depth_panels``); no group is left out.",
        f"Cut-offs (config ``flags``): sparse at sparsity ≥ {cutoffs['sparse_min']:g}, "
        f"collapsed at H/TH ≤ {cutoffs['collapsed_max']:g}, random-like at H/TH > {cutoffs['random_like_min']:g}.",
    ]
    if len(layers):
        lines.append(pooled_line(rank_groups(layers, panels, top)))
    write_notes(snakemake.output.notes, lines)


run_step(snakemake, step)
