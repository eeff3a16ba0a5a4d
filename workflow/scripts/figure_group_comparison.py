"""Rule figure_group_comparison: layer entropy and sparsity for user-chosen groups, every
comparison of the config in one process (each figure's caption is written here, see
figure_set_outputs)."""
from filterdb.database import layers_with_models
from filterdb.store import read_layers, read_models
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save_all, write_caption, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.groups import comparison_groups, group_comparison
from filterdb.plots.style import OTHER
from filterdb.runner import run_step


def draw(name, spec, files, joined, models):
    spec = dict(spec)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    minimum, top = snakemake.params.min_group_filters, snakemake.params.top_groups
    figure = group_comparison(joined, name, spec["column"], cutoffs, spec.get("values"), spec.get("where"),
                              minimum, top)
    save_all(figure, [files["pdf"], files["png"]])
    kept, drawn, left_out, pooled, _ = comparison_groups(joined, spec["column"], spec.get("values"), spec.get("where"),
                                                         minimum, top)
    sizes = kept.groupby("_drawn").agg(models=("model", "nunique"), layers=("layer", "size"),
                                       filters=("n_filters", "sum"))
    write_notes(files["notes"], [
        models_line(models, kept["model"].unique()),
        f"Comparison ``{name}`` (config ``figures.group_comparison``): column ``{spec['column']}``"
        + (f", restricted to {spec['where']}" if spec.get("where") else "") + f"; {len(kept):,} layers, "
        f"{int(kept['n_filters'].sum()):,} filters. Groups drawn: "
        + ", ".join(f"{g} ({sizes.loc[g, 'models']} models, {sizes.loc[g, 'filters']:,} filters)" for g in drawn
                    if g in sizes.index) + ".",
        f"'{OTHER}' pools the {len(pooled)} smaller groups beyond the {top} largest (config ``figures.top_groups``): "
        f"{', '.join(pooled)}." if pooled else "",
        f"Left out (fewer than {minimum:,} filters, config ``shift.min_group_filters``): {', '.join(left_out)}."
        if left_out else f"No group was left out as too small (minimum {minimum:,} filters).",
    ])
    write_caption(files["caption"], snakemake.params.caption, wildcards={"comparison": name},
                  output={"notes": files["notes"]}, params={"spec": spec, "top_groups": top})


def step():
    models = read_models(snakemake.input.models)
    joined = layers_with_models(read_layers(snakemake.input.layers), models)
    params = snakemake.params
    for name, spec, files in zip(params.comparisons, params.specs, params.figures, strict=True):
        draw(name, spec, files, joined, models)


run_step(snakemake, step)
