# The database's model and layer tables: small reductions of per-model files.


rule model_table:
    input:
        manifests=per_model("results/models/{model}.json"),
        filters=per_model("results/filters/{model}.parquet"),
    output:
        table="results/db/models.parquet",
    params:
        rows=[public_row(m) for m in MODELS],
        code=code_version("database", "io"),
    log:
        "results/logs/model_table.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/model_table.py"


rule layer_table:
    input:
        layers=per_model("results/layers/{model}.parquet"),
    output:
        table="results/db/layers.parquet",
    params:
        code=code_version("database", "io"),
    log:
        "results/logs/layer_table.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/layer_table.py"
