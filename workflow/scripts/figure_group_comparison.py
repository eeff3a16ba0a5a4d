"""Rule figure_group_comparison: layer entropy and sparsity for user-chosen groups."""
from filterdb.database import layers_with_models, read_layers, read_models
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.groups import group_comparison, select_groups
from filterdb.runner import run_step


def step():
    models = read_models(snakemake.input.models)
    joined = layers_with_models(read_layers(snakemake.input.layers), models)
    spec = dict(snakemake.params.spec)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    name = snakemake.wildcards.comparison
    figure = group_comparison(joined, name, spec["column"], cutoffs, spec.get("values"), spec.get("where"),
                              snakemake.params.min_group_filters)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    selected, order = select_groups(joined, spec["column"], spec.get("values"), spec.get("where"))
    sizes = selected.groupby("_group").agg(models=("model", "nunique"), filters=("n_filters", "sum"))
    write_notes(snakemake.output.notes, [
        models_line(models, selected["model"].unique()),
        f"Comparison ``{name}`` (config ``figures.group_comparison``): column ``{spec['column']}``"
        + (f", restricted to {spec['where']}" if spec.get("where") else "") + "; groups: "
        + ", ".join(f"{g} ({sizes.loc[g, 'models']} models, {sizes.loc[g, 'filters']:,} filters)" for g in order)
        + f". Groups under {snakemake.params.min_group_filters:,} filters are left out.",
    ])


run_step(snakemake, step)
