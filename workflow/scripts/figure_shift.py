"""Rule figure_shift: the heatmap of one axis's shift matrix, with the noise floor."""
import json

from filterdb import store
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.noise import noise_sentence
from filterdb.plots.shift import kept_groups, shift_heatmap
from filterdb.runner import run_step


def sizes(table):
    return "; ".join(f"{g}: {m} models, {f:,} filters" for g, m, f in table[["group", "models", "filters"]].itertuples(index=False))


def step():
    # the Parquet matrix; an input naming the TSV beside it (an output of the same job) reads it too
    matrix = store.read_shift(snakemake.input.matrix)
    groups = store.read_shift_groups(snakemake.input.groups)
    with open(snakemake.input.noise) as handle:
        noise = json.load(handle)
    minimum = snakemake.params.min_group_filters
    axis = snakemake.wildcards.axis
    figure = shift_heatmap(matrix, groups, axis, snakemake.params.ordered, minimum, noise.get("value"),
                           snakemake.params.deciles)
    printed = any(len(a.texts) for a in figure.axes)
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    drawn = kept_groups(matrix, groups, minimum)
    if len(drawn) < 2:
        drawn = []  # a placeholder is drawn
    left = groups[~groups["group"].isin(drawn)]
    drawn_filters = int(groups.loc[groups["group"].isin(drawn), "filters"].sum())
    write_notes(snakemake.output.notes, [
        models_line(store.read_models(snakemake.input.models)),
        f"Groups drawn ({len(drawn)} of {len(groups)}, {drawn_filters:,} filters): "
        f"{sizes(groups[groups['group'].isin(drawn)]) or 'none'}.",
        f"**Not drawn** (fewer than {minimum:,} filters, or fewer than two groups to compare): {sizes(left)}."
        if len(left) else f"No group was left out (minimum {minimum:,} filters, config ``shift.min_group_filters``).",
        noise_sentence(noise),
        "" if printed or len(drawn) < 2 else
        f"The values are not printed: at {len(drawn)} groups they would be smaller than 7 pt; they are in "
        f"``results/shift/{axis}.tsv``.",
    ])


run_step(snakemake, step)
