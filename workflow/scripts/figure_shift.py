"""Rule figure_shift: the heatmap of every axis's shift matrix, with the noise floor, and
the spread of pairwise D per axis side by side; one process for all (each figure's
caption is written here, see figure_set_outputs)."""
import json

import pandas as pd

from filterdb import store
from filterdb.plots.common import save_all, write_caption, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.noise import noise_sentence
from filterdb.plots.shift import kept_groups, pairwise_values, shift_heatmap, shift_summary
from filterdb.runner import run_step


def sizes(table):
    return "; ".join(f"{g}: {m} models, {f:,} filters" for g, m, f in table[["group", "models", "filters"]].itertuples(index=False))


def draw(axis, matrix, groups_path, ordered, deciles, files, noise, models):
    groups = store.read_shift_groups(groups_path)
    minimum = snakemake.params.min_group_filters
    figure = shift_heatmap(matrix, groups, axis, ordered, minimum, noise.get("value"), deciles)
    printed = any(len(a.texts) for a in figure.axes)
    save_all(figure, [files["pdf"], files["png"]])
    drawn = kept_groups(matrix, groups, minimum)
    if len(drawn) < 2:
        drawn = []  # a placeholder is drawn
    left = groups[~groups["group"].isin(drawn)]
    drawn_filters = int(groups.loc[groups["group"].isin(drawn), "filters"].sum())
    write_notes(files["notes"], [
        models_line(models),
        f"Groups drawn ({len(drawn)} of {len(groups)}, {drawn_filters:,} filters): "
        f"{sizes(groups[groups['group'].isin(drawn)]) or 'none'}.",
        f"**Not drawn** (fewer than {minimum:,} filters, or fewer than two groups to compare): {sizes(left)}."
        if len(left) else f"No group was left out (minimum {minimum:,} filters, config ``shift.min_group_filters``).",
        noise_sentence(noise),
        "" if printed or len(drawn) < 2 else
        f"The values are not printed: at {len(drawn)} groups they would be smaller than 7 pt; they are in "
        f"``results/shift/{axis}.tsv``.",
    ])
    write_caption(files["caption"], snakemake.params.caption, wildcards={"axis": axis}, output={"notes": files["notes"]})


def summary(matrices, noise, files):
    save_all(shift_summary(matrices, noise.get("value")), [files["pdf"], files["png"]])
    lines = []
    for axis, matrix in sorted(matrices.items()):
        values = pairwise_values(matrix)
        lines.append(f"``{axis}``: {len(matrix)} groups" + (f", median D {pd.Series(values).median():.3g}, "
                                                              f"max {values.max():.3g}" if len(values) else ", no pair"))
    write_notes(files["notes"], [
        "Per axis: " + "; ".join(lines) + ".",
        noise_sentence(noise).replace("red mark on the colour bar", "dashed line"),
    ])
    write_caption(files["caption"], snakemake.params.summary_caption, output={"notes": files["notes"]})


def step():
    with open(snakemake.input.noise) as handle:
        noise = json.load(handle)
    models = store.read_models(snakemake.input.models)
    params = snakemake.params
    # the Parquet matrices, read once for the heatmaps and the summary (an input naming the TSV
    # beside each, an output of the same job, would read it too)
    matrices = {axis: store.read_shift(path) for axis, path in zip(params.axes, snakemake.input.matrices, strict=True)}
    for axis, groups, ordered, deciles, files in zip(
        params.axes, snakemake.input.groups, params.ordered, params.deciles, params.figures, strict=True
    ):
        draw(axis, matrices[axis], groups, ordered, deciles, files, noise, models)
    summary(matrices, noise, params.summary)


run_step(snakemake, step)
