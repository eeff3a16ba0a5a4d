# One job per model: fetch (download, verify, or take the zoo's weights), dump its 3×3
# kernels, then in one read of the filters its per-layer statistics, moment sums and first
# filters (with a frozen basis, its shift histograms and joint counts too). One job, not
# three: each job costs a process start and Snakemake's own bookkeeping, which for a
# 10,000-row sheet made the dry run alone take minutes. The card is a figure, its own job
# (workflow/rules/figures.smk), so that redrawing it rewrites nothing else. On a cluster, a
# zoo model's training and its model job are one group, one Slurm job: the Slurm profile
# assigns the groups (`groups:`), since a local run ignores them and a dry run that plans
# group jobs costs ~1 ms a model.


rule model:
    input:
        unpack(fetch_inputs),
    output:
        **model_outputs(),
        manifest="results/models/{model}.json",
        filters="results/filters/{model}.parquet",
    log:
        "results/logs/model/{model}.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        row=lambda wc: public_row(wc.model),
        cache_dir=CACHE_DIR,
        on_nonfinite=config["extract"]["on_nonfinite"],
        cutoffs=config["flags"],
        k=KEPT_PER_LAYER,
        frozen_basis=FROZEN_BASIS,
        frozen_sha256=FROZEN_SHA256,
        code=script_code("model.py"),
    script:
        "../scripts/model.py"


if IMPORTED:

    # an imported model (a `parquet` row) has its filters file already: no fetch, no dump
    ruleorder: imported_model > model

    rule imported_model:
        input:
            filters=filters_input,
        output:
            **model_outputs(),
        log:
            "results/logs/model/{model}.log",
        wildcard_constraints:
            model=IMPORTED_PATTERN,
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            row=lambda wc: public_row(wc.model),
            cutoffs=config["flags"],
            k=KEPT_PER_LAYER,
            frozen_basis=FROZEN_BASIS,
            frozen_sha256=FROZEN_SHA256,
            code=script_code("model.py"),
        script:
            "../scripts/model.py"
