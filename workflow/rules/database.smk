# The database's model and layer tables: small reductions of per-model files.


# A model's manifest is written by the job that writes its filters file: the filters are the
# input that orders the jobs, the manifests' paths a param (one lookup per model, not two).
rule model_table:
    input:
        filters=[filters_path(m) for m in MODELS],
    output:
        table="results/db/models.parquet",
    log:
        "results/logs/model_table.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        rows=[public_row(m) for m in MODELS],
        manifests=per_model(
            "results/models/{model}.json", [m for m in MODELS if m not in IMPORTED]
        ),
        code=script_code("model_table.py"),
    script:
        "../scripts/model_table.py"


rule layer_table:
    input:
        layers=per_model("results/layers/{model}.parquet"),
    output:
        table="results/db/layers.parquet",
    log:
        "results/logs/layer_table.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=script_code("layer_table.py"),
    script:
        "../scripts/layer_table.py"
