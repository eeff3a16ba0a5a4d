# The workflow's own model zoo: data sets (fetched or generated once, checksummed),
# one training job per zoo model (sheet rows with source "train"), their timings, and
# the paper's claims checked on the zoo.
from pathlib import Path

from filterdb.zoo import check_rows, cuda_visible, dataset_of, zoo_models

check_rows(MODEL_ROWS)  # a bad zoo row fails the dry run, naming model and column
ZOO_MODELS = zoo_models(MODEL_ROWS)
ZOO = config["zoo"]
ZOO_GPU = cuda_visible(ZOO["device"])  # without importing torch
# for `rule all` in the Snakefile: the zoo's models, timing table and findings
ZOO_TARGETS = (
    [
        *expand(list(ZOO_FILES.values()), model=ZOO_MODELS),
        "results/zoo/timing.tsv",
        "results/findings.tsv",
    ]
    if ZOO_MODELS
    else []
)


rule dataset:
    output:
        data=f"{CACHE_DIR}/datasets/{{dataset}}.npz",
        record=f"{CACHE_DIR}/datasets/{{dataset}}.json",
    log:
        "results/logs/dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/dataset/{dataset}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cache_dir=lambda wc, output: str(Path(output.data).parent.parent),
        code=script_code("prepare_dataset.py"),
    script:
        "../scripts/prepare_dataset.py"


rule train:
    input:
        data=lambda wc: f"{CACHE_DIR}/datasets/{dataset_of(row_of(wc.model))}.npz",
        record=lambda wc: f"{CACHE_DIR}/datasets/{dataset_of(row_of(wc.model))}.json",
    output:
        **ZOO_FILES,
        # the run's own measurements, kept out of the record (and so out of the database)
        timing="results/benchmarks/train/{model}.json",
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: ZOO["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1 if ZOO_GPU else 0,
    params:
        row=lambda wc: public_row(wc.model),
        cache_dir=lambda wc, input: str(Path(input.data).parent.parent),
        # "auto" resolves on the node that runs the job, so the param does not
        # depend on the host that parses the workflow (no retraining on a cluster)
        device=ZOO["device"],
        code=script_code("train_model.py"),
    script:
        "../scripts/train_model.py"


rule zoo_timing:
    input:
        benchmarks=expand("results/benchmarks/train/{model}.tsv", model=ZOO_MODELS),
        timings=expand("results/benchmarks/train/{model}.json", model=ZOO_MODELS),
        records=expand(ZOO_FILES["record"], model=ZOO_MODELS),
    output:
        report(
            "results/zoo/timing.tsv",
            caption="../report/zoo_timing.rst",
            category="Zoo",
        ),
    log:
        "results/logs/zoo_timing.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=script_code("zoo_timing.py"),
    script:
        "../scripts/zoo_timing.py"


rule findings:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
        histograms=hist_inputs(ZOO_MODELS),
        experiments=lambda wc: EXP_FINDINGS,  # the experiments' conclusions come first
    output:
        report(
            "results/findings.tsv",
            caption="../report/findings.rst",
            category="Findings",
        ),
    log:
        "results/logs/findings.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        histograms=per_model("results/hist/{model}.parquet", ZOO_MODELS),
        eps=config["shift"]["eps"],
        min_group_filters=config["shift"]["min_group_filters"],
        code=script_code("findings.py"),
    script:
        "../scripts/findings.py"
