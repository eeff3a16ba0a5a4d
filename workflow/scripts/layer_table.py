"""Rule layer_table: results/db/layers.parquet."""
from filterdb import io
from filterdb.database import layer_table
from filterdb.runner import run_step

run_step(snakemake, lambda: io.write_table(layer_table(snakemake.input.layers), snakemake.output.table, io.file_metadata()))
