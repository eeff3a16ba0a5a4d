"""Rule exp_finetune: fine-tune one checkpoint (one seed) on one target at every label budget."""
from filterdb.runner import run_step
from filterdb.zoo.experiments.design import load_design
from filterdb.zoo.experiments.training import finetune


def step():
    design = load_design(snakemake.config)
    finetune(
        design,
        design.checkpoints[snakemake.wildcards.ckpt],
        int(snakemake.wildcards.seed),
        snakemake.wildcards.target,
        snakemake.input.weights,
        list(snakemake.output.weights),
        snakemake.output.record,
        cache_dir=snakemake.params.cache_dir,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )


run_step(snakemake, step)
