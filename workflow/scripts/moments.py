"""Rule moments: streamed moment sums of one model's max-abs-scaled filters."""
from filterdb.basis import moments, save_moments
from filterdb.runner import run_step

run_step(snakemake, lambda: save_moments(moments(snakemake.input.filters), snakemake.output.moments))
