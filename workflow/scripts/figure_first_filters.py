"""Rule figure_first_filters: the first filters of every layer of the chosen model."""
from filterdb.store import read_layers
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import read_first_filters
from filterdb.plots.filters import first_filters_figure
from filterdb.runner import run_step


def step():
    model = snakemake.params.model
    layers = read_layers(snakemake.input.layers)
    kernels = read_first_filters(snakemake.input.first)
    per_layer = snakemake.params.per_layer
    figure = first_filters_figure(layers, {k: v[:per_layer] for k, v in kernels.items()}, model, per_layer)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    write_notes(snakemake.output.notes, [
        f"Model ``{model}`` (config key ``figures.first_filters_model``): {len(layers)} 3×3 layers, "
        f"{int(layers['n_filters'].sum()):,} filters; mean sparsity {layers['sparsity'].mean():.3f}, "
        f"mean H/TH {layers['entropy_ratio'].mean():.3f}." if len(layers) else f"Model ``{model}`` has no 3×3 layers.",
    ])


run_step(snakemake, step)
