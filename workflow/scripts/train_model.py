"""Rule train: train one zoo model; weights and record are written atomically."""
from filterdb.runner import run_step
from filterdb.zoo.datasets import load
from filterdb.zoo.train import TrainConfig, train


def step():
    config = TrainConfig.from_row(snakemake.params.row)
    data = load(config.dataset, snakemake.params.cache_dir, prepare_missing=False)
    train(
        config,
        data,
        snakemake.output.weights,
        snakemake.output.record,
        device=None if snakemake.params.device == "auto" else snakemake.params.device,
        threads=snakemake.threads,
        timing_path=snakemake.output.timing,
    )


run_step(snakemake, step)
