"""Rule exp_transfer_table: the transfer experiment's rows and its size × variance cells."""
from filterdb.store import write_text_atomic
from filterdb.runner import run_step
from filterdb.zoo.experiments.design import load_design
from filterdb.zoo.experiments.tables import transfer_cells, transfer_table


def step():
    table = transfer_table(
        load_design(snakemake.config),
        snakemake.input.records,
        snakemake.input.weights,
        snakemake.input.finetuned,
        bins=snakemake.params.bins,
        eps=snakemake.params.eps,
    )
    write_text_atomic(snakemake.output.cells, transfer_cells(table).to_csv(sep="\t", index=False, float_format="%.6g"))
    write_text_atomic(snakemake.output.table, table.to_csv(sep="\t", index=False, float_format="%.6g"))


run_step(snakemake, step)
