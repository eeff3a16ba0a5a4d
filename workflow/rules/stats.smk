# Per-layer statistics of each model (sparsity, entropy, orthogonality, norms, depth)
# and, from the same read of its filters, the moment sums of the basis map step and the
# first filters of each layer (first-filters figure, model cards); with a frozen basis
# (`basis.from`), its shift histograms and c0–c1 joint counts too.


rule layer_stats:
    input:
        unpack(frozen_basis_inputs),
        filters=filters_input,
    output:
        **layer_stats_outputs(),
    log:
        "results/logs/layer_stats/{model}.log",
    group:
        PER_MODEL_GROUP
    conda:
        "../../envs/filterdb.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cutoffs=config["flags"],
        k=KEPT_PER_LAYER,
        code=script_code("layer_stats.py"),
    script:
        "../scripts/layer_stats.py"
