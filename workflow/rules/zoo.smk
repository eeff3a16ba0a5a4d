# The workflow's own model zoo: data sets (fetched or generated once, checksummed),
# one training job per zoo model (sheet rows with source "train"), their timings, and
# the paper's claims checked on the zoo.
import os
from pathlib import Path

ZOO_MODELS = [m for m in MODELS if MODEL_ROWS[m]["source"] == "train"]
ZOO = config.get("zoo", {})


def zoo_cuda_visible():
    """CUDA visibility without importing torch (the Snakefile stays torch-free)."""
    setting = str(ZOO.get("device", "auto"))
    if setting != "auto":
        return setting == "cuda"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/dev/nvidiactl").exists() or any(Path("/proc/driver/nvidia/gpus").glob("*"))


ZOO_GPU = zoo_cuda_visible()


def zoo_dataset(model):
    row = MODEL_ROWS[model]
    return row.get("dataset", row["training_dataset"])


def zoo_targets():
    if not ZOO_MODELS:
        return []
    return ["results/zoo/timing.tsv", "results/findings.tsv"]


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
        cache_dir=CACHE_DIR,
        code=code_version("zoo/datasets", "zoo/synthetic"),
    script:
        "../scripts/prepare_dataset.py"


rule train:
    input:
        data=lambda wc: f"{CACHE_DIR}/datasets/{zoo_dataset(wc.model)}.npz",
        record=lambda wc: f"{CACHE_DIR}/datasets/{zoo_dataset(wc.model)}.json",
    output:
        weights="results/zoo/{model}.safetensors",
        record="results/zoo/{model}.json",
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: ZOO.get("threads", 1)
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=1 if ZOO_GPU else 0,
    params:
        row=lambda wc: public_row(wc.model),
        cache_dir=CACHE_DIR,
        device="cuda" if ZOO_GPU else "cpu",
        code=code_version("zoo"),
    script:
        "../scripts/train_model.py"


rule zoo_timing:
    input:
        benchmarks=expand("results/benchmarks/train/{model}.tsv", model=ZOO_MODELS),
        records=expand("results/zoo/{model}.json", model=ZOO_MODELS),
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
    script:
        "../scripts/zoo_timing.py"


rule findings:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        basis="results/basis/basis.json",
        histograms=expand("results/hist/{model}.parquet", model=ZOO_MODELS),
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
        eps=config["shift"].get("eps", 1.1920929e-07),
        code=code_version("zoo/findings", "shift"),
    script:
        "../scripts/findings.py"
