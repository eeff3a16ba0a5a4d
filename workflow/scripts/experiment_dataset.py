"""Rule exp_dataset: generate one experiment source (fractals-kK, dead-leaves-kK, noise-kK) into the cache."""
from filterdb.runner import run_step
from filterdb.zoo.experiments.data import prepare

run_step(snakemake, lambda: prepare(snakemake.wildcards.dataset, snakemake.params.cache_dir))
