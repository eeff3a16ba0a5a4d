# The paper's two conclusions tested by experiment (config key `experiments`, design tables
# config/experiments_*.tsv): pre-training data vs transfer, and degeneracy vs fine-tuning
# and robustness. Every checkpoint (per seed) and every fine-tuning (checkpoint × seed ×
# target, all label budgets) is a file target; training resumes from step checkpoints.
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


# One job per checkpoint and seed: make the checkpoint, then fine-tune it on each of its
# targets at every label budget, in one process. A job's start (torch's import) costs about
# as much as one fine-tuning of the reduced design, and a fine-tuning always follows its
# checkpoint. The rules are defined in a loop because each checkpoint has its own targets
# (outputs cannot depend on a wildcard); they are numbered, since a checkpoint's name need
# not be a valid rule name. No `benchmark:`: its sampler reads the job's memory maps every
# 0.5 s for the job's whole life, and the log's last line has the job's CPU and peak memory.
for _number, _made in EXP.numbered_checkpoints():

    rule:
        name:
            f"exp_checkpoint_{_number}"
        input:
            unpack(paths.checkpoint_input_function(EXP, _made.name, CACHE_DIR)),
            targets=[
                f
                for t in _made.targets
                for f in paths.data_files(t, CACHE_DIR).values()
            ],
        output:
            weights=f"{EXP_DIR}/checkpoints/{_made.name}_s{{seed}}.safetensors",
            record=f"{EXP_DIR}/checkpoints/{_made.name}_s{{seed}}.json",
            finetuned=[
                f"{EXP_DIR}/finetuned/{t}/{_made.name}_s{{seed}}.json"
                for t in _made.targets
            ],
            finetuned_weights=[
                f"{EXP_DIR}/finetuned/{t}/{_made.name}_s{{seed}}_n{budget}.safetensors"
                for t in _made.targets
                for budget in EXP.budgets
            ],
        log:
            f"results/logs/experiments/checkpoint/{_made.name}_s{{seed}}.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: ZOO["threads"]
        resources:
            mem_mb=3000,
            runtime=60 + 30 * len(_made.targets),
            gpu=1 if ZOO_GPU else 0,
        params:
            checkpoint=_made.name,
            made=_made.as_dict(),
            targets=list(_made.targets),
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
            device=ZOO["device"],
            code=script_code("experiment_checkpoint.py"),
        script:
            "../scripts/experiment_checkpoint.py"


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
