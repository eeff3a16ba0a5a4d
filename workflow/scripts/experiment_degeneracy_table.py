"""Rule exp_degeneracy_table: each checkpoint's degeneracy beside its fine-tuned accuracy and robustness."""
from filterdb.store import write_text_atomic
from filterdb.runner import run_step
from filterdb.zoo.experiments.design import load_design
from filterdb.zoo.experiments.tables import degeneracy_table


def step():
    table = degeneracy_table(
        load_design(snakemake.config), snakemake.input.weights, snakemake.input.finetuned, snakemake.params.cutoffs
    )
    write_text_atomic(snakemake.output[0], table.to_csv(sep="\t", index=False, float_format="%.6g"))


run_step(snakemake, step)
