"""Rule figure_shift: the heatmap of one axis's shift matrix."""
import pandas as pd

from filterdb.plots.common import save
from filterdb.plots.shift import shift_heatmap
from filterdb.runner import run_step


def step():
    matrix = pd.read_csv(snakemake.input.matrix, sep="\t", index_col=0)
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    groups = pd.read_csv(snakemake.input.groups, sep="\t", dtype={"group": str})
    for path in snakemake.output:
        save(shift_heatmap(matrix, groups, snakemake.wildcards.axis, snakemake.params.ordered), path)


run_step(snakemake, step)
