"""Rules exp_checkpoint_{number}: pre-train, initialise or prune one experiment checkpoint
for one seed, then fine-tune it on each of its targets at every label budget."""
import logging

from filterdb.runner import run_step
from filterdb.zoo.experiments.design import load_design
from filterdb.zoo.experiments.training import finetune, make_checkpoint


def step():
    design = load_design(snakemake.config)
    checkpoint = design.checkpoints[snakemake.params.checkpoint]
    seed = int(snakemake.wildcards.seed)
    # the cache folder is the config's (the targets' data files lie under it)
    options = {"cache_dir": snakemake.config["cache_dir"], "device": snakemake.params.device, "threads": snakemake.threads}
    make_checkpoint(design, checkpoint, seed, snakemake.output.weights, snakemake.output.record,
                    parent_weights=snakemake.input.get("parent"), **options)  # fmt: skip
    per_target = len(design.budgets)
    weights = list(snakemake.output.finetuned_weights)
    for i, (target, record) in enumerate(zip(snakemake.params.targets, snakemake.output.finetuned)):
        logging.info("fine-tuning %s (seed %d) on %s", checkpoint.name, seed, target)
        finetune(design, checkpoint, seed, target, snakemake.output.weights,
                 weights[i * per_target : (i + 1) * per_target], record, **options)  # fmt: skip


run_step(snakemake, step)
