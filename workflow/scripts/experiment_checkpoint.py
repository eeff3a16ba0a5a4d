"""Rule exp_checkpoint: pre-train, initialise or prune one experiment checkpoint for one seed."""
from filterdb.runner import run_step
from filterdb.zoo.experiments.design import load_design
from filterdb.zoo.experiments.training import make_checkpoint


def step():
    design = load_design(snakemake.config)
    make_checkpoint(
        design,
        design.checkpoints[snakemake.wildcards.ckpt],
        int(snakemake.wildcards.seed),
        snakemake.output.weights,
        snakemake.output.record,
        cache_dir=snakemake.params.cache_dir,
        parent_weights=snakemake.input.get("parent"),
        device=snakemake.params.device,
        threads=snakemake.threads,
    )


run_step(snakemake, step)
