"""Rule model_card: one model's layer metrics by depth and its first-layer filters."""
from filterdb.store import read_layers
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.card import model_card
from filterdb.plots.common import save
from filterdb.plots.data import read_first_filters
from filterdb.runner import run_step


def step():
    layers = read_layers(snakemake.input.layers)
    kernels = read_first_filters(snakemake.input.first)
    first = None
    if len(layers):
        shallowest = int(layers.sort_values(["conv_depth_norm", "layer"], kind="stable")["layer"].iloc[0])
        first = kernels.get(shallowest)
        first = None if first is None else first[: snakemake.params.card_filters]
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    save(model_card(snakemake.wildcards.model, snakemake.params.row, layers, first, cutoffs), snakemake.output.png)


run_step(snakemake, step)
