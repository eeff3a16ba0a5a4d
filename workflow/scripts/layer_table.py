"""Rule layer_table: results/db/layers.parquet."""
from filterdb import store
from filterdb.runner import run_step

run_step(snakemake, lambda: store.write_table(store.concat_layer_tables(snakemake.input.layers), snakemake.output.table, store.file_metadata()))
