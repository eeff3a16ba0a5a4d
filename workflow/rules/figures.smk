# Figures of the study; each one is a file target that rebuilds alone.

FIGURES = [
    "results/figures/basis.pdf",
    "results/figures/degeneracy_by_depth.pdf",
    *expand("results/figures/shift_{axis}.pdf", axis=AXES),
]


rule figure_basis:
    input:
        basis="results/basis/basis.json",
    output:
        pdf=report("results/figures/basis.pdf", caption="../report/basis.rst", category="Basis"),
        png="results/figures/basis.png",
    params:
        code=code_version("plots"),
    log:
        "results/logs/figures/basis.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/figure_basis.py"


rule figure_shift:
    input:
        matrix="results/shift/{axis}.tsv",
        groups="results/shift/{axis}.groups.tsv",
    output:
        pdf=report(
            "results/figures/shift_{axis}.pdf",
            caption="../report/shift.rst",
            category="Shift",
            labels={"axis": "{axis}"},
        ),
        png="results/figures/shift_{axis}.png",
    params:
        ordered=lambda wc: config["shift"]["axes"][wc.axis]["column"] in ("depth_decile", "conv_depth"),
        code=code_version("plots"),
    log:
        "results/logs/figures/shift_{axis}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/figure_shift.py"


rule figure_degeneracy_by_depth:
    input:
        layers="results/db/layers.parquet",
    output:
        pdf=report(
            "results/figures/degeneracy_by_depth.pdf",
            caption="../report/degeneracy_by_depth.rst",
            category="Degeneracy",
        ),
        png="results/figures/degeneracy_by_depth.png",
    params:
        cutoffs=config.get("flags", {}),
        code=code_version("plots"),
    log:
        "results/logs/figures/degeneracy_by_depth.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/filterdb.yaml"
    script:
        "../scripts/figure_degeneracy_by_depth.py"
