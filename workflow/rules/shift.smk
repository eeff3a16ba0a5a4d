# The global basis (map: moment sums per model, written by each model job; reduce: PCA),
# per-layer coefficient histograms over the pool's range (and, in the same pass, the c0–c1
# joint counts of the joint figure), and one shift matrix per configured axis. With
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

    rule model_range:
        input:
            filters=filters_input,
            basis="results/basis/per_model/basis.json",
        output:
            range="results/basis/range/{model}.json",
        log:
            "results/logs/model_range/{model}.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            code=script_code("model_range.py"),
        script:
            "../scripts/model_range.py"

    rule bin_edges:
        input:
            ranges=(
                per_model("results/basis/range/{model}.json", BASIS_POOL)
                if RANGE_POLICY in ("paper", "per-coefficient")
                else []
            ),
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
            bins=config["shift"]["bins"],
            range=RANGE_POLICY,
            exclude_duplicates=BASIS["exclude_duplicates"],
            code=script_code("bin_edges.py"),
        script:
            "../scripts/bin_edges.py"

    rule histograms:
        input:
            filters=filters_input,
            basis="results/basis/per_model/basis.json",
            edges="results/basis/per_model/bin_edges.json",
        output:
            histograms="results/hist/{model}.parquet",
            joint="results/figdata/joint/{model}.parquet",
        log:
            "results/logs/histograms/{model}.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=60,
        params:
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


rule shift:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
        histograms=per_model("results/hist/{model}.parquet"),
    output:
        matrix="results/shift/{axis}.tsv",
        table="results/shift/{axis}.parquet",
        groups="results/shift/{axis}.groups.tsv",
    log:
        "results/logs/shift/{axis}.log",
    benchmark:
        "results/benchmarks/shift/{axis}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        # `ordered` is the figure's business: changing it redraws, it does not recompute
        axis=lambda wc: {
            k: v for k, v in config["shift"]["axes"][wc.axis].items() if k != "ordered"
        },
        eps=config["shift"]["eps"],
        min_group_filters=config["shift"]["min_group_filters"],
        exclude_duplicates=BASIS["exclude_duplicates"],
        code=script_code("shift.py"),
    script:
        "../scripts/shift.py"
