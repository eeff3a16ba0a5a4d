"""Rule report_summary: the report's opening page (database size, findings, in short lines
that leave the rule graph its space) and its table pages."""
import pandas as pd

from filterdb import store
from filterdb.plots.summary import basis_line, database_summary, html_table, size_tables
from filterdb.runner import run_step


def step():
    models = store.read_models(snakemake.input.models)
    layers = store.read_layers(snakemake.input.layers)
    findings = None
    if hasattr(snakemake.input, "findings"):
        findings = pd.read_csv(snakemake.input.findings, sep="\t")
        note = "The findings table is empty."
    else:
        note = ("No findings table: the config has no zoo models (rows with ``source: train``), "
                "so ``results/findings.tsv`` is not built.")
    _, _, record = store.read_basis_file(snakemake.input.basis_file)
    basis = basis_line(record, snakemake.params.frozen_from)
    store.write_text_atomic(snakemake.output.summary, database_summary(models, layers, findings, note, basis=basis))
    store.write_text_atomic(snakemake.output.sizes, size_tables(models, layers))
    store.write_text_atomic(snakemake.output.models, html_table(models, "Models of the database (results/db/models.parquet)"))
    store.write_text_atomic(snakemake.output.layers, html_table(layers, "3×3 layers of the database (results/db/layers.parquet)"))


run_step(snakemake, step)
