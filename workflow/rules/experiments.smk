# The paper's two conclusions tested by experiment (config key `experiments`, design tables
# config/experiments_*.tsv): pre-training data vs transfer, and degeneracy vs fine-tuning
# and robustness. Every checkpoint (per seed) and every fine-tuning job (checkpoint × seed
# × target, all label budgets) is a file target; training resumes from step checkpoints.
from filterdb.zoo.experiments import paths
from filterdb.zoo.experiments.design import load_design

EXP = load_design(
    config
)  # a bad design table or key fails the dry run, naming file and line
EXP_SETTINGS = EXP.settings
EXP_DIR = paths.RESULTS
EXP_RESULTS = [
    f"{EXP_DIR}/{name}.{ext}"
    for name in ("transfer", "degeneracy")
    if EXP.of(name)
    for ext in ("tsv", "pdf", "png")
]
# for `rule all` in the Snakefile, and the findings rule of zoo.smk
EXP_FINDINGS = [f"{EXP_DIR}/findings.tsv"] if EXP.checkpoints else []
EXP_TARGETS = EXP_RESULTS + EXP_FINDINGS


wildcard_constraints:
    ckpt="|".join(re.escape(c) for c in EXP.checkpoints) or "(?!)",
    seed=r"\d+",
    target="|".join(re.escape(t) for t in EXP.datasets()) or "(?!)",


rule exp_dataset:
    output:
        data=f"{CACHE_DIR}/experiments/datasets/{{dataset}}.npz",
        record=f"{CACHE_DIR}/experiments/datasets/{{dataset}}.json",
    log:
        "results/logs/experiments/dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/experiments/dataset/{dataset}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        cache_dir=lambda wc, output: str(Path(output.data).parents[2]),
        code=script_code("experiment_dataset.py"),
    script:
        "../scripts/experiment_dataset.py"


rule exp_checkpoint:
    input:
        unpack(lambda wc: paths.checkpoint_inputs(EXP, wc.ckpt, wc.seed, CACHE_DIR)),
    output:
        weights=f"{EXP_DIR}/checkpoints/{{ckpt}}_s{{seed}}.safetensors",
        record=f"{EXP_DIR}/checkpoints/{{ckpt}}_s{{seed}}.json",
    log:
        "results/logs/experiments/checkpoint/{ckpt}_s{seed}.log",
    benchmark:
        "results/benchmarks/experiments/checkpoint/{ckpt}_s{seed}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: ZOO["threads"]
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=1 if ZOO_GPU else 0,
    params:
        made=lambda wc: EXP.checkpoints[wc.ckpt].as_dict(),
        settings={
            k: EXP_SETTINGS[k]
            for k in ("architecture", "depth", "image_size", "test_images", "budgets")
        },
        cache_dir=CACHE_DIR,
        device=ZOO["device"],
        code=script_code("experiment_checkpoint.py"),
    script:
        "../scripts/experiment_checkpoint.py"


rule exp_finetune:
    input:
        unpack(lambda wc: paths.data_files(wc.target, CACHE_DIR)),
        weights=f"{EXP_DIR}/checkpoints/{{ckpt}}_s{{seed}}.safetensors",
    output:
        record=f"{EXP_DIR}/finetuned/{{target}}/{{ckpt}}_s{{seed}}.json",
        weights=[
            f"{EXP_DIR}/finetuned/{{target}}/{{ckpt}}_s{{seed}}_n{budget}.safetensors"
            for budget in EXP.budgets
        ],
    log:
        "results/logs/experiments/finetune/{target}/{ckpt}_s{seed}.log",
    benchmark:
        "results/benchmarks/experiments/finetune/{target}/{ckpt}_s{seed}.tsv"
    conda:
        "../../envs/filterdb.yaml"
    threads: ZOO["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=1 if ZOO_GPU else 0,
    params:
        settings={
            k: EXP_SETTINGS[k]
            for k in (
                "architecture",
                "depth",
                "image_size",
                "test_images",
                "budgets",
                "finetune",
                "noise_sigmas",
                "fgsm_eps",
            )
        },
        cache_dir=CACHE_DIR,
        device=ZOO["device"],
        code=script_code("experiment_finetune.py"),
    script:
        "../scripts/experiment_finetune.py"


rule exp_transfer_table:
    input:
        records=paths.checkpoint_files(EXP, "transfer", "json"),
        weights=paths.checkpoint_files(EXP, "transfer", "safetensors"),
        finetuned=paths.finetune_records(EXP, "transfer"),
    output:
        table=report(
            f"{EXP_DIR}/transfer.tsv",
            caption="../report/experiments_transfer.rst",
            category="Experiments",
        ),
        cells=f"{EXP_DIR}/transfer_cells.tsv",
    log:
        "results/logs/experiments/transfer_table.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        bins=config["shift"]["bins"],
        eps=config["shift"]["eps"],
        code=script_code("experiment_transfer_table.py"),
    script:
        "../scripts/experiment_transfer_table.py"


rule exp_degeneracy_table:
    input:
        weights=paths.checkpoint_files(EXP, "degeneracy", "safetensors"),
        finetuned=paths.finetune_records(EXP, "degeneracy"),
    output:
        report(
            f"{EXP_DIR}/degeneracy.tsv",
            caption="../report/experiments_degeneracy.rst",
            category="Experiments",
        ),
    log:
        "results/logs/experiments/degeneracy_table.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        cutoffs=config["flags"],
        code=script_code("experiment_degeneracy_table.py"),
    script:
        "../scripts/experiment_degeneracy_table.py"


rule exp_findings:
    input:
        transfer=[f"{EXP_DIR}/transfer.tsv"] if EXP.of("transfer") else [],
        degeneracy=[f"{EXP_DIR}/degeneracy.tsv"] if EXP.of("degeneracy") else [],
    output:
        f"{EXP_DIR}/findings.tsv",
    log:
        "results/logs/experiments/findings.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        resamples=EXP_SETTINGS["bootstrap"],
        code=script_code("experiment_findings.py"),
    script:
        "../scripts/experiment_findings.py"


rule exp_figure:
    input:
        table=f"{EXP_DIR}/{{experiment}}.tsv",
    output:
        pdf=f"{EXP_DIR}/{{experiment}}.pdf",
        png=report(
            f"{EXP_DIR}/{{experiment}}.png",
            caption="../report/experiments_figure.rst",
            category="Experiments",
        ),
    log:
        "results/logs/experiments/figure_{experiment}.log",
    wildcard_constraints:
        experiment="transfer|degeneracy",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        resamples=EXP_SETTINGS["bootstrap"],
        code=script_code("experiment_figure.py"),
    script:
        "../scripts/experiment_figure.py"
