"""Rule figure_shift: the heatmap of one axis's shift matrix."""
import pandas as pd

from filterdb.plots.common import save_all, write_notes
from filterdb.plots.shift import shift_heatmap
from filterdb.runner import run_step


def step():
    matrix = pd.read_csv(snakemake.input.matrix, sep="\t", index_col=0, dtype={0: str})
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    groups = pd.read_csv(snakemake.input.groups, sep="\t", dtype={"group": str})
    minimum = snakemake.params.min_group_filters
    axis = snakemake.wildcards.axis
    save_all(shift_heatmap(matrix, groups, axis, snakemake.params.ordered, minimum),
             [snakemake.output.pdf, snakemake.output.png])
    drawn = [g for g in matrix.index if groups.set_index("group").loc[g, "filters"] >= minimum]
    left = groups[~groups["group"].isin(drawn)]
    sizes = ", ".join(f"{g} ({m} models, {f:,} filters)" for g, m, f in left[["group", "models", "filters"]].itertuples(index=False))
    write_notes(snakemake.output.notes, [
        f"Groups drawn: {len(drawn)} of {len(groups)}, from {int(groups['models'].max() if len(groups) else 0)} "
        f"or fewer models per group.",
        f"**Left out** (fewer than {minimum:,} filters): {sizes}." if len(left) else
        f"No group was left out (minimum {minimum:,} filters).",
    ])


run_step(snakemake, step)
