"""Rule dataset: fetch or generate one zoo data set into the cache, checksummed."""
from filterdb.runner import run_step
from filterdb.zoo.datasets import prepare

run_step(snakemake, lambda: prepare(snakemake.wildcards.dataset, snakemake.params.cache_dir))
