"""Rule figure_shift: the heatmap of one axis's shift matrix."""
import pandas as pd

from filterdb.database import read_models
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.shift import kept_groups, shift_heatmap
from filterdb.runner import run_step


def sizes(table):
    return "; ".join(f"{g}: {m} models, {f:,} filters" for g, m, f in table[["group", "models", "filters"]].itertuples(index=False))


def step():
    matrix = pd.read_csv(snakemake.input.matrix, sep="\t", index_col=0, dtype={0: str})
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    groups = pd.read_csv(snakemake.input.groups, sep="\t", dtype={"group": str})
    minimum = snakemake.params.min_group_filters
    axis = snakemake.wildcards.axis
    save_all(shift_heatmap(matrix, groups, axis, snakemake.params.ordered, minimum),
             [snakemake.output.pdf, snakemake.output.png])
    drawn = kept_groups(matrix, groups, minimum)
    if len(drawn) < 2:
        drawn = []  # a placeholder is drawn
    left = groups[~groups["group"].isin(drawn)]
    write_notes(snakemake.output.notes, [
        models_line(read_models(snakemake.input.models)),
        f"Groups drawn ({len(drawn)} of {len(groups)}): {sizes(groups[groups['group'].isin(drawn)]) or 'none'}.",
        f"**Not drawn** (fewer than {minimum:,} filters, or fewer than two groups to compare): {sizes(left)}."
        if len(left) else f"No group was left out (minimum {minimum:,} filters, config ``figures.min_group_filters``).",
    ])


run_step(snakemake, step)
