"""Rule model (and imported_model): one model's chain in one process. Fetch its files, dump
its 3×3 kernels, write its manifest, then from one read of the filters its layer table,
moment sums and first filters (with a frozen basis, its histograms and joint counts too).
An imported model starts at the statistics."""
import json
import logging
import os

# parallelism comes from jobs, not threads; torch reads these when a source imports it (most
# readers need neither torch nor its 4 s import)
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(snakemake.threads)

from filterdb import store  # noqa: E402
from filterdb.runner import run_step  # noqa: E402
from filterdb.store.files import json_default  # noqa: E402
from filterdb.stats import write_layer_stats  # noqa: E402

log = logging.getLogger("filterdb.rule.model")


def fetch_and_dump(row, filters_path):
    from filterdb.extract import write_filters
    from filterdb.sources import get_source

    source = get_source(row["source"])
    # the rule's named inputs (the zoo's trained weights and record) are the source's keyword arguments
    fetched = source.fetch(row, snakemake.params.cache_dir, **dict(snakemake.input.items()))
    # as the file will hold it (paths as strings), so the load reads what a rerun would
    manifest = json.loads(json.dumps({"model": row["model"], "source": row["source"], **fetched}, default=json_default))
    info = write_filters(source.load(row, manifest), filters_path, on_nonfinite=snakemake.params.on_nonfinite)
    log.info("model %s: %d layers, %d filters", row["model"], info["n_layers"], info["n_filters"])
    # the manifest after the dump: a job killed mid-way leaves no complete-looking file behind
    store.write_json_atomic(snakemake.output.manifest, manifest)


def step():
    row = snakemake.params.row
    if "manifest" in snakemake.output.keys():
        filters = snakemake.output.filters
        fetch_and_dump(row, filters)
    else:
        filters = snakemake.input.filters
    binning = None
    if "histograms" in snakemake.output.keys():  # a frozen basis: its file, as the dry run checked it
        basis, edges, record = store.read_basis_file(snakemake.params.frozen_basis)
        if record["sha256"] != snakemake.params.frozen_sha256:
            raise store.DataError(
                f"config key basis.from: {snakemake.params.frozen_basis} changed since the run was "
                "planned (sha256 differs); run again"
            )
        binning = (basis, edges)
    write_layer_stats(
        filters,
        snakemake.output.layers,
        row["model"],
        snakemake.params.cutoffs,
        moments_path=snakemake.output.moments,
        histograms_path=snakemake.output.get("histograms"),
        binning=binning,
        first_path=snakemake.output.first,
        first_k=snakemake.params.k,
        joint_path=snakemake.output.get("joint"),
    )


run_step(snakemake, step)
