"""Rule figure_degenerated_models: per model, the share of flagged layers, ranked."""
from filterdb.store import read_layers, read_models
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.common import save_all, write_notes
from filterdb.plots.data import models_line
from filterdb.plots.degeneracy import degenerated_models, model_flag_shares
from filterdb.runner import run_step


def step():
    models = read_models(snakemake.input.models)
    layers = read_layers(snakemake.input.layers)
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    top = snakemake.params.top
    save_all(degenerated_models(layers, top, models), [snakemake.output.pdf, snakemake.output.png])
    lines = [models_line(models)]
    if len(layers):
        shares = model_flag_shares(layers)
        worst = shares[shares["degenerated"] > 0].head(5)
        lines.append(
            "Most degenerated: " + ", ".join(f"``{m}`` ({100 * s:.0f} %)" for m, s in worst["degenerated"].items())
            + "." if len(worst) else "No model has a sparse or collapsed layer."
        )
    lines.append(f"Cut-offs (config ``flags``): sparsity ≥ {cutoffs['sparse_min']:g}, H/TH ≤ {cutoffs['collapsed_max']:g}, "
                 f"H/TH > {cutoffs['random_like_min']:g}; at most {top} models drawn (``figures.degenerated_top``).")
    write_notes(snakemake.output.notes, lines)


run_step(snakemake, step)
