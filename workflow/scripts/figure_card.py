"""Rule model_cards_{bucket}: each model's card, its layer metrics by depth and its
first-layer filters."""
import logging

from filterdb.store import read_layers, write_bucket_index
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.card import model_card
from filterdb.plots.common import save
from filterdb.plots.data import read_first_filters
from filterdb.runner import run_step


def card(row, layers_path, first_path, png):
    layers = read_layers(layers_path)
    kernels = read_first_filters(first_path)
    first = None
    if len(layers):
        shallowest = int(layers.sort_values(["conv_depth_norm", "layer"], kind="stable")["layer"].iloc[0])
        first = kernels.get(shallowest)
        first = None if first is None else first[: snakemake.params.card_filters]
    cutoffs = {**DEFAULT_CUTOFFS, **snakemake.params.cutoffs}
    save(model_card(row["model"], row, layers, first, cutoffs), png)


def step():
    files = zip(snakemake.input.layers, snakemake.params.first, snakemake.output.png)
    for row, (layers_path, first_path, png) in zip(snakemake.params.rows, files):
        logging.info("card of %s", row["model"])
        card(row, layers_path, first_path, png)
    models = [row["model"] for row in snakemake.params.rows]
    write_bucket_index(snakemake.output.index, models, card=snakemake.output.png)


run_step(snakemake, step)
