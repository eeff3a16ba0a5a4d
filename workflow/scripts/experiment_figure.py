"""Rule exp_figure: the figure of one experiment (transfer or degeneracy) from its table."""
import pandas as pd

from filterdb.plots.common import save_all
from filterdb.plots.experiments import degeneracy_figure, transfer_figure
from filterdb.runner import run_step


def step():
    table = pd.read_csv(snakemake.input.table, sep="\t")
    draw = transfer_figure if snakemake.wildcards.experiment == "transfer" else degeneracy_figure
    save_all(draw(table, resamples=snakemake.params.resamples), [snakemake.output.pdf, snakemake.output.png])


run_step(snakemake, step)
