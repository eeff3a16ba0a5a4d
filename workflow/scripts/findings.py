"""Rule findings: the paper's claims checked on the zoo, one row a claim."""
import pandas as pd

from filterdb import store
from filterdb.runner import run_step
from filterdb.zoo.findings import findings, with_experiments


def step():
    table = findings(
        store.read_models(snakemake.input.models),
        store.read_layers(snakemake.input.layers),
        store.histogram_files(snakemake.params.histograms),
        store.read_basis(snakemake.input.basis)["explained_variance_ratio"],
        store.read_bin_edges(snakemake.input.edges),
        snakemake.params.eps,
        snakemake.params.min_group_filters,
    )
    table = with_experiments(table, [pd.read_csv(path, sep="\t") for path in snakemake.input.experiments])
    store.write_text_atomic(snakemake.output[0], table.to_csv(sep="\t", index=False, float_format="%.6g"))


run_step(snakemake, step)
