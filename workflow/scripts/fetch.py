"""Rule fetch: bring a model's files here and write its manifest."""
from filterdb.store import write_json_atomic
from filterdb.runner import run_step
from filterdb.sources import get_source


def step():
    row = snakemake.params.row
    # the rule's named inputs (the zoo's trained weights and record) are the source's keyword arguments
    manifest = get_source(row["source"]).fetch(row, snakemake.params.cache_dir, **dict(snakemake.input.items()))
    write_json_atomic(snakemake.output.manifest, {"model": row["model"], "source": row["source"], **manifest})


run_step(snakemake, step)
