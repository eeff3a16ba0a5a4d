"""Rule figure_basis: the eigen-filters with their explained variance, globally and for
one subset of the database (config figures.basis_subset), from the subset's moment sums."""
import numpy as np

from filterdb import store
from filterdb.basis import basis_from_moments
from filterdb.errors import DataError
from filterdb.plots.basis import basis_figure
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import model_names, models_line
from filterdb.runner import run_step


def frozen_line(pool):
    """The notes' first line with a frozen basis (config basis.from): the models it was fitted on."""
    if not pool:
        return "A frozen basis (config ``basis.from``); its file does not name the models it was fitted on."
    return f"A frozen basis (config ``basis.from``), fitted on {len(pool)} models: {model_names(pool)}."


def step():
    basis = store.read_basis(snakemake.input.basis)
    spec = snakemake.params.subset
    label = f"{spec['column']} = {spec['value']}"
    try:
        subset = basis_from_moments(store.load_moments(path) for path in snakemake.input.subset)
    except DataError:  # fewer than two filters in the subset: drawn as a note, not a row
        subset = {"n_filters": 0, "components": np.full((9, 9), np.nan), "explained_variance_ratio": np.full(9, np.nan)}
    figure = basis_figure(basis["components"], basis["explained_variance_ratio"], basis["n_filters"], {
        "label": label, "components": subset["components"], "ratio": subset["explained_variance_ratio"],
        "n_filters": subset["n_filters"]})
    save_all(figure, [snakemake.output.pdf, snakemake.output.png])
    ratio = basis["explained_variance_ratio"]
    write_notes(snakemake.output.notes, [
        models_line(store.read_models(snakemake.input.models)) if snakemake.input.models else
        frozen_line(basis.get("models") or []),
        f"Global basis: {basis['n_filters']:,} filters (the basis pool). The first three components explain "
        f"{100 * sum(ratio[:3]):.1f} % of the variance (nine equal shares would give 33.3 %).",
        f"Second row: the basis of the subset {label} (config ``figures.basis_subset``), "
        f"{len(snakemake.input.subset)} models, {int(subset['n_filters']):,} filters, computed from their own "
        "moment sums; "
        + (f"its first three components explain {100 * sum(subset['explained_variance_ratio'][:3]):.1f} %."
           if subset["n_filters"] >= 2 else "too few filters for a basis."),
    ])


run_step(snakemake, step)
