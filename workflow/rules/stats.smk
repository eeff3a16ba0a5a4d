# Per-layer statistics of each model: sparsity, entropy, orthogonality, norms, depth.


rule layer_stats:
    input:
        filters="results/filters/{model}.parquet",
    output:
        layers="results/layers/{model}.parquet",
    params:
        cutoffs=config.get("flags", {}),
        code=code_version("stats", "metrics", "io"),
    log:
        "results/logs/layer_stats/{model}.log",
    benchmark:
        "results/benchmarks/layer_stats/{model}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/layer_stats.py"
