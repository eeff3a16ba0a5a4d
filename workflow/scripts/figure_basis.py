"""Rule figure_basis: the eigen-filters with their explained variance."""
import json

from filterdb.database import read_models
from filterdb.plots.basis import basis_figure
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.runner import run_step


def step():
    with open(snakemake.input.basis) as handle:
        basis = json.load(handle)
    figure = basis_figure(basis["components"], basis["explained_variance_ratio"], basis["n_filters"])
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    ratio = basis["explained_variance_ratio"]
    write_notes(snakemake.output.notes, [
        models_line(read_models(snakemake.input.models)),
        f"{basis['n_filters']:,} filters. The first three components explain "
        f"{100 * sum(ratio[:3]):.1f} % of the variance (nine equal shares would give 33.3 %).",
    ])


run_step(snakemake, step)
