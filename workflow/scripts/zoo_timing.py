"""Rule zoo_timing: training time per zoo model (Snakemake benchmarks) and in total."""
from filterdb.store import write_text_atomic
from filterdb.runner import run_step
from filterdb.zoo.train import timing_table


def step():
    table = timing_table(snakemake.input.benchmarks, snakemake.input.timings, snakemake.input.records)
    write_text_atomic(snakemake.output[0], table.to_csv(sep="\t", index=False, float_format="%.2f"))


run_step(snakemake, step)
