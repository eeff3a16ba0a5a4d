"""Rule model_table: results/db/models.parquet."""
from filterdb.database import model_table
from filterdb.store import write_frame
from filterdb.runner import run_step

run_step(
    snakemake,
    lambda: write_frame(
        model_table(snakemake.params.rows, snakemake.params.manifests, snakemake.input.filters), snakemake.output.table
    ),
)
