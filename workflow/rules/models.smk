# Fetch (download, verify, or train) each model, then dump its 3×3 kernels.


rule fetch:
    input:
        unpack(fetch_inputs),
    output:
        manifest="results/models/{model}.json",
    log:
        "results/logs/fetch/{model}.log",
    group:
        PER_MODEL_GROUP
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        row=lambda wc: public_row(wc.model),
        cache_dir=CACHE_DIR,
        code=script_code("fetch.py"),
    script:
        "../scripts/fetch.py"


rule dump:
    input:
        manifest="results/models/{model}.json",
    output:
        filters="results/filters/{model}.parquet",
    log:
        "results/logs/dump/{model}.log",
    group:
        PER_MODEL_GROUP
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        row=lambda wc: public_row(wc.model),
        on_nonfinite=config["extract"]["on_nonfinite"],
        code=script_code("dump.py"),
    script:
        "../scripts/dump.py"
