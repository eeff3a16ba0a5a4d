# Figures: settings from config key `figures`, the list of figure targets, and helpers
# for workflow/rules/figures.smk (kept apart: the linter wants rules and functions apart).
from filterdb.plots.noise import replicate_sets

FIG = config["figures"]
# the default model of the first-filters figure: the first row of the first sheet
FIRST_SHEET_MODEL = next(iter(MODEL_ROWS))
FIRST_FILTERS_MODEL = FIG["first_filters_model"] or FIRST_SHEET_MODEL
if FIRST_FILTERS_MODEL not in MODELS:
    raise ValueError(
        f"config key figures.first_filters_model: {FIRST_FILTERS_MODEL!r} is not a model of the sheets "
        f"{config['sheets']}; pick one of: {', '.join(MODELS)}"
    )
COMPARISONS = sorted(FIG["group_comparison"])
TOP_GROUPS = FIG["top_groups"]
# replicates (same sheet row but for the seed) give the shift maps' noise floor
REPLICATE_SETS = replicate_sets(MODEL_ROWS)
# default: the visual category with the most models
_CATEGORIES = sorted(str(r.get("visual_category", "")) for r in MODEL_ROWS.values())
BASIS_SUBSET = FIG.get("basis_subset") or {
    "column": "visual_category",
    "value": min(_CATEGORIES, key=lambda c: (-_CATEGORIES.count(c), c)),
}
BASIS_SUBSET_MODELS = sorted(
    m
    for m, row in MODEL_ROWS.items()
    if str(row.get(BASIS_SUBSET["column"], "")) == str(BASIS_SUBSET["value"])
)
if not BASIS_SUBSET_MODELS:
    _values = sorted(
        {str(r.get(BASIS_SUBSET["column"], "")) for r in MODEL_ROWS.values()}
    )
    raise ValueError(
        f"config key figures.basis_subset: no model of the sheets has {BASIS_SUBSET['column']} = "
        f"{BASIS_SUBSET['value']!r}; values there: {', '.join(_values)}"
    )


def figure_set(names):
    """The files of several figures of one kind drawn by one job, in the order of ``names``:
    each figure's PDF, PNG, notes and caption (a dict each; the job's ``params.figures``).
    """
    return [
        {
            "pdf": f"results/figures/{name}.pdf",
            "png": f"results/figures/{name}.png",
            "notes": f"results/figures/{name}.notes.rst",
            "caption": f"results/figures/{name}.caption.rst",
        }
        for name in names
    ]


SHIFT_FIGURES = figure_set(expand("shift_{axis}", axis=AXES))
SHIFT_SUMMARY = figure_set(["shift_summary"])
COMPARISON_FIGURES = figure_set(expand("groups_{comparison}", comparison=COMPARISONS))

# the report's opening page includes it (workflow/report/workflow.rst)
SUMMARY_RST = "results/report/summary.rst"


FIGURE_NAMES = [
    "basis",
    "coefficients",
    "joint_c0_c1",
    *expand("shift_{axis}", axis=AXES),
    "shift_summary",
    "first_filters",
    "degeneracy_by_depth",
    "degenerated_models",
    *expand("groups_{comparison}", comparison=COMPARISONS),
]
# every output is a target: the PNG and the caption notes too (Snakemake checks only requested outputs)
FIGURES = [
    *expand(
        "results/figures/{name}.{ext}",
        name=FIGURE_NAMES,
        ext=["pdf", "png", "notes.rst"],
    ),
    *(f["caption"] for f in SHIFT_FIGURES + SHIFT_SUMMARY + COMPARISON_FIGURES),
    *bucket_indexes("cards", MODELS),  # the cards: one index per bucket (common.smk)
    SUMMARY_RST,
    "results/report/sizes.html",
    "results/report/models.html",
    "results/report/layers.html",
]


def figure_outputs(name, caption, category, subcategory=None, labels=None):
    """PDF, PNG (in the report: shown inline at report size), and the caption notes the
    report includes below the caption."""
    return {
        "pdf": f"results/figures/{name}.pdf",
        "png": report(
            f"results/figures/{name}.png",
            caption=f"../report/{caption}.rst",
            category=category,
            subcategory=subcategory,
            labels=labels,
        ),
        "notes": f"results/figures/{name}.notes.rst",
    }


def figure_set_outputs(figures, category, labels):
    """The outputs of a ``figure_set``, the PNGs in the report with their labels. Snakemake
    renders a report caption with its job's outputs, not with the file it captions, so a
    caption shared by the set could not name each figure's notes: the job writes each
    figure's caption (``plots.common.write_caption``) and its PNG points at that file, by an
    absolute path (a caption path is otherwise read from the rules folder)."""
    outputs = []
    for files, label in zip(figures, labels):
        png = report(
            files["png"],
            caption=os.path.abspath(files["caption"]),
            category=category,
            labels=label,
        )
        outputs += [files["pdf"], png, files["notes"], files["caption"]]
    return outputs


def caption_template(caption):
    """The text of a caption template (workflow/report): a param of a figure set's job,
    which renders it for each figure (editing it reruns the job)."""
    return (SCRIPTS.parent / "report" / f"{caption}.rst").read_text()


def card_labels(model):
    """A card's labels in the report: what its caption would say of the model (a job draws
    the cards of a bucket of models, and a caption is one text for all its outputs)."""
    row = MODEL_ROWS[model]
    keys = ("family", "task", "visual_category", "training_dataset")
    return {"model": model, **{key: str(row.get(key, "")) for key in keys}}


# the noise floor's histograms: the replicates', or every model's when there are none (random halves)
NOISE_FLOOR_MODELS = sorted({m for s in REPLICATE_SETS for m in s}) or MODELS


def findings_input(wildcards):
    """The findings table, where the config has zoo models to draw it from (workflow/rules/zoo.smk)."""
    return {"findings": "results/findings.tsv"} if ZOO_MODELS else {}
