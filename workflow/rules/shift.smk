# The global basis (map: moment sums per model, written by each model job; reduce: PCA),
# per-layer coefficient histograms over the pool's range (and, in the same pass, the c0–c1
# joint counts of the joint figure), and a shift matrix per configured axis (one job). With
# `basis.from` (a frozen basis file) there is no basis, range or histogram job:
# each model's job writes its histograms and joint counts in its one read.


if FROZEN_BASIS:

    rule frozen_basis:
        input:
            frozen=FROZEN_BASIS,
        output:
            basis="results/basis/basis.json",
            edges="results/basis/bin_edges.json",
        log:
            "results/logs/frozen_basis.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            code=script_code("frozen_basis.py"),
        script:
            "../scripts/frozen_basis.py"

else:

    rule basis:
        input:
            moments=per_model("results/moments/{model}.npz", BASIS_POOL),
            models="results/db/models.parquet",
        output:
            basis="results/basis/basis.json",
        log:
            "results/logs/basis.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            exclude_duplicates=BASIS["exclude_duplicates"],
            code=script_code("basis.py"),
        script:
            "../scripts/basis.py"

    # Per-model jobs read one-input copies of the basis and the edges: building the DAG,
    # Snakemake compares each consumer's file with every input of its producer, which for
    # a reduce step over N models is N comparisons per consumer, N² in all.
    localrules:
        per_model_copy,

    rule per_model_copy:
        input:
            "results/basis/{name}.json",
        output:
            "results/basis/per_model/{name}.json",
        log:
            "results/logs/per_model_copy/{name}.log",
        wildcard_constraints:
            name="basis|bin_edges",
        run:
            shutil.copyfile(input[0], output[0])

    # one job per bucket of models (common.smk): a range pass is a second or less per model
    for _bucket, _members in model_buckets(BASIS_POOL).items():

        rule:
            name:
                f"model_range_{_bucket}"
            input:
                models="results/db/models.parquet",  # after every model job: see common.smk
                basis="results/basis/per_model/basis.json",
            output:
                index=bucket_index("range", _bucket),  # first: see common.smk
                range=per_model("results/basis/range/{model}.json", _members),
            log:
                f"results/logs/model_range/{_bucket}.log",
            conda:
                "../../envs/filterdb.yaml"
            threads: 1
            resources:
                mem_mb=8000,  # one model at a time: the largest model's pass
                runtime=30 + 10 * len(_members),
            params:
                models=_members,
                filters=[filters_path(m) for m in _members],
                code=script_code("model_range.py"),
            script:
                "../scripts/model_range.py"

    rule bin_edges:
        input:
            ranges=bucket_indexes("range", BASIS_POOL) if RANGE_FILES else [],
            models="results/db/models.parquet",
        output:
            edges="results/basis/bin_edges.json",
        log:
            "results/logs/bin_edges.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            ranges=RANGE_FILES,
            bins=config["shift"]["bins"],
            range=RANGE_POLICY,
            exclude_duplicates=BASIS["exclude_duplicates"],
            code=script_code("bin_edges.py"),
        script:
            "../scripts/bin_edges.py"

    for _bucket, _members in model_buckets(MODELS).items():

        rule:
            name:
                f"histograms_{_bucket}"
            input:
                models="results/db/models.parquet",  # after every model job: see common.smk
                basis="results/basis/per_model/basis.json",
                edges="results/basis/per_model/bin_edges.json",
            output:
                index=bucket_index("histograms", _bucket),  # first: see common.smk
                histograms=per_model("results/hist/{model}.parquet", _members),
                joint=per_model("results/figdata/joint/{model}.parquet", _members),
            log:
                f"results/logs/histograms/{_bucket}.log",
            conda:
                "../../envs/filterdb.yaml"
            threads: 1
            resources:
                mem_mb=8000,  # one model at a time: the largest model's pass
                runtime=30 + 10 * len(_members),
            params:
                models=_members,
                filters=[filters_path(m) for m in _members],
                code=script_code("histograms.py"),
            script:
                "../scripts/histograms.py"

    rule basis_file:
        input:
            basis="results/basis/basis.json",
            edges="results/basis/bin_edges.json",
        output:
            basis_file="results/basis/basis_file.json",
        log:
            "results/logs/basis_file.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            code=script_code("basis_file.py"),
        script:
            "../scripts/basis_file.py"


# one job for every axis: each shift job reads every model's histograms, and one job per
# axis made each histogram file an input of every axis (9 × N inputs to plan)
rule shift:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
        histograms=hist_inputs(MODELS),
    output:
        matrix=expand("results/shift/{axis}.tsv", axis=AXES),
        table=expand("results/shift/{axis}.parquet", axis=AXES),
        groups=expand("results/shift/{axis}.groups.tsv", axis=AXES),
    log:
        "results/logs/shift.log",
    benchmark:
        "results/benchmarks/shift.tsv"
    priority: 10  # the start of the longest chain after a model is added (then figure_shift)
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        histograms=per_model("results/hist/{model}.parquet"),
        axes=AXES,
        # `ordered` is the figure's business: changing it redraws, it does not recompute
        settings=[
            {k: v for k, v in config["shift"]["axes"][a].items() if k != "ordered"}
            for a in AXES
        ],
        eps=config["shift"]["eps"],
        min_group_filters=config["shift"]["min_group_filters"],
        exclude_duplicates=BASIS["exclude_duplicates"],
        code=script_code("shift.py"),
    script:
        "../scripts/shift.py"
