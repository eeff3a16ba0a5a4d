# Figures of the study and the report's tables; each figure is a file target that
# rebuilds alone (`snakemake results/figures/NAME.pdf`). Database-wide figures read only
# small reductions (tables, histograms, shift matrices, per-model figure data); the
# per-model figure data (results/figdata/first_filters, results/figdata/joint) is written
# by each model's job and the histogram pass (workflow/rules/models.smk, shift.smk).


include: "figures_common.smk"


rule noise_floor:
    input:
        histograms=hist_inputs(NOISE_FLOOR_MODELS),
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
    output:
        noise="results/figdata/noise_floor.json",
    log:
        "results/logs/figdata/noise_floor.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        histograms=per_model("results/hist/{model}.parquet", NOISE_FLOOR_MODELS),
        sets=REPLICATE_SETS,
        eps=config["shift"]["eps"],
        code=script_code("figdata_noise_floor.py"),
    script:
        "../scripts/figdata_noise_floor.py"


# --- database-wide figures ----------------------------------------------------------------


rule figure_basis:
    input:
        basis="results/basis/basis.json",
        # a frozen basis names its own pool: adding a model leaves this figure alone
        models=[] if FROZEN_BASIS else "results/db/models.parquet",
        subset=expand("results/moments/{model}.npz", model=BASIS_SUBSET_MODELS),
    output:
        **figure_outputs("basis", "basis", "1. Basis and coefficients"),
    log:
        "results/logs/figures/basis.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        subset=BASIS_SUBSET,
        code=script_code("figure_basis.py"),
    script:
        "../scripts/figure_basis.py"


rule figure_coefficients:
    input:
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        histograms=hist_inputs(MODELS),
    output:
        **figure_outputs("coefficients", "coefficients", "1. Basis and coefficients"),
    log:
        "results/logs/figures/coefficients.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        histograms=per_model("results/hist/{model}.parquet"),
        hue=FIG["coefficient_hue"],
        min_group_filters=config["shift"]["min_group_filters"],
        top_groups=TOP_GROUPS,
        code=script_code("figure_coefficients.py"),
    script:
        "../scripts/figure_coefficients.py"


rule figure_joint:
    input:
        basis="results/basis/basis.json",
        edges="results/basis/bin_edges.json",
        models="results/db/models.parquet",
        joint=hist_inputs(MODELS),
    output:
        **figure_outputs("joint_c0_c1", "joint", "1. Basis and coefficients"),
    log:
        "results/logs/figures/joint_c0_c1.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        joint=per_model("results/figdata/joint/{model}.parquet"),
        code=script_code("figure_joint.py"),
    script:
        "../scripts/figure_joint.py"


# one job for every axis and the summary beside them: a figure takes ~1–2 s to draw and save
# after ~1 s of imports; first among the jobs ready, as the longest job after a model is added
rule figure_shift:
    input:
        matrices=expand("results/shift/{axis}.parquet", axis=AXES),
        groups=expand("results/shift/{axis}.groups.tsv", axis=AXES),
        models="results/db/models.parquet",
        noise="results/figdata/noise_floor.json",
    output:
        figure_set_outputs(
            SHIFT_FIGURES + SHIFT_SUMMARY,
            "2. Shift",
            [*({"axis": a} for a in AXES), {"axis": "all, side by side"}],
        ),
    log:
        "results/logs/figures/shift.log",
    priority: 10
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        axes=AXES,
        figures=SHIFT_FIGURES,
        ordered=[config["shift"]["axes"][a]["ordered"] for a in AXES],
        deciles=[config["shift"]["axes"][a]["column"] == "depth_decile" for a in AXES],
        min_group_filters=config["shift"]["min_group_filters"],
        summary=SHIFT_SUMMARY[0],
        caption=lambda wildcards: caption_template("shift"),  # a function: the text holds braces
        summary_caption=lambda wildcards: caption_template("shift_summary"),
        code=script_code("figure_shift.py"),
    script:
        "../scripts/figure_shift.py"


rule figure_first_filters:
    input:
        first=f"results/figdata/first_filters/{FIRST_FILTERS_MODEL}.parquet",
        layers=f"results/layers/{FIRST_FILTERS_MODEL}.parquet",
    output:
        **figure_outputs("first_filters", "first_filters", "3. Degeneracy"),
    log:
        "results/logs/figures/first_filters.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        model=FIRST_FILTERS_MODEL,
        per_layer=FIG["filters_per_layer"],
        code=script_code("figure_first_filters.py"),
    script:
        "../scripts/figure_first_filters.py"


rule figure_degeneracy_by_depth:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
    output:
        **figure_outputs("degeneracy_by_depth", "degeneracy_by_depth", "3. Degeneracy"),
    log:
        "results/logs/figures/degeneracy_by_depth.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cutoffs=config["flags"],
        panels=FIG["depth_panels"],
        top_groups=TOP_GROUPS,
        code=script_code("figure_degeneracy_by_depth.py"),
    script:
        "../scripts/figure_degeneracy_by_depth.py"


rule figure_degenerated_models:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
    output:
        **figure_outputs("degenerated_models", "degenerated_models", "3. Degeneracy"),
    log:
        "results/logs/figures/degenerated_models.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cutoffs=config["flags"],
        top=FIG["degenerated_top"],
        code=script_code("figure_degenerated_models.py"),
    script:
        "../scripts/figure_degenerated_models.py"


# one job for every comparison, as for the shift figures
rule figure_group_comparison:
    input:
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
    output:
        figure_set_outputs(
            COMPARISON_FIGURES,
            "4. Group comparison",
            [{"comparison": c} for c in COMPARISONS],
        ),
    log:
        "results/logs/figures/groups.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        comparisons=COMPARISONS,
        figures=COMPARISON_FIGURES,
        specs=[FIG["group_comparison"][c] for c in COMPARISONS],
        cutoffs=config["flags"],
        min_group_filters=config["shift"]["min_group_filters"],
        top_groups=TOP_GROUPS,
        caption=lambda wildcards: caption_template("group_comparison"),  # a function: the text holds braces
        code=script_code("figure_group_comparison.py"),
    script:
        "../scripts/figure_group_comparison.py"


# --- per-model cards ----------------------------------------------------------------------


# one job per bucket of models (common.smk): a card takes ~1 s to draw after ~2 s of
# imports; naming one card's file redraws the few cards of its bucket, nothing else. The
# first filters come from the job that writes the layer table: a param, not a second input.
for _bucket, _members in model_buckets(MODELS).items():

    rule:
        name:
            f"model_cards_{_bucket}"
        input:
            layers=per_model("results/layers/{model}.parquet", _members),
        output:
            index=bucket_index("cards", _bucket),  # first: see common.smk
            png=[
                report(
                    f"results/cards/{m}.png",
                    caption="../report/model_card.rst",
                    category="5. Model cards",
                    subcategory=str(MODEL_ROWS[m].get("family", "")),
                    labels=card_labels(m),
                )
                for m in _members
            ],
        log:
            f"results/logs/cards/{_bucket}.log",
        conda:
            "../../envs/filterdb.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5 + len(_members),
        params:
            rows=[public_row(m) for m in _members],
            first=per_model("results/figdata/first_filters/{model}.parquet", _members),
            cutoffs=config["flags"],
            card_filters=FIG["card_filters"],
            code=script_code("figure_card.py"),
        script:
            "../scripts/figure_card.py"


# --- the report's opening page and tables -------------------------------------------------


rule report_summary:
    input:
        unpack(findings_input),
        models="results/db/models.parquet",
        layers="results/db/layers.parquet",
        basis_file=FROZEN_BASIS or "results/basis/basis_file.json",
    output:
        summary=SUMMARY_RST,
        sizes=report(
            "results/report/sizes.html",
            caption="../report/sizes_table.rst",
            category="6. Tables",
            labels={"table": "size by source, task, category"},
        ),
        models=report(
            "results/report/models.html",
            caption="../report/models_table.rst",
            category="6. Tables",
            labels={"table": "models"},
        ),
        layers=report(
            "results/report/layers.html",
            caption="../report/layers_table.rst",
            category="6. Tables",
            labels={"table": "layers"},
        ),
    log:
        "results/logs/report_summary.log",
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        frozen_from=FROZEN_BASIS or None,
        code=script_code("report_summary.py"),
    script:
        "../scripts/report_summary.py"
