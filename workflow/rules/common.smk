# Config and sheet validation, the model list, paths, and input functions.
import hashlib
import importlib.util
import re
from pathlib import Path

from snakemake.utils import validate

from filterdb.sheet import load_sheets
from filterdb.workflow_inputs import (
    check_config,
    check_sources,
    model_id_pattern,
    sheet_row,
)

# unknown or mistyped keys first, with a "did you mean"; then the schema's defaults
check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
validate(config, "../schemas/config.schema.yaml")

MODEL_ROWS = load_sheets(
    config["sheets"], workflow.source_path("../schemas/models.schema.yaml")
)
check_sources(MODEL_ROWS)
MODELS = sorted(MODEL_ROWS)
if not MODELS:
    raise ValueError(f"config key 'sheets' ({config['sheets']}) lists no models")
AXES = sorted(config["shift"]["axes"])
CACHE_DIR = config.get("cache_dir", "resources/cache")
RANGE_POLICY = config["shift"]["range"]


wildcard_constraints:
    # the id pattern of the sheet schema, not an alternation of every id: Snakemake
    # writes the constraint into every path it expands, so a list of 10,000 ids made
    # a dry run quadratic (352 s); ids not in a sheet are refused by row_of()
    model=model_id_pattern(workflow.source_path("../schemas/models.schema.yaml")),
    axis="|".join(re.escape(a) for a in AXES) if AXES else "(?!)",


def code_version(*modules):
    """A hash of filterdb modules, as a param: editing them reruns the rules that use them."""
    package = Path(importlib.util.find_spec("filterdb").origin).parent
    digest = hashlib.sha256()
    for module in modules:
        paths = sorted((package / module).rglob("*.py")) + [package / f"{module}.py"]
        for path in filter(Path.is_file, paths):  # a module or a subpackage
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def row_of(model):
    """The model's sheet row; an error naming the model when no sheet lists it."""
    return sheet_row(MODEL_ROWS, model, config["sheets"])


def public_row(model):
    """The model's sheet row without bookkeeping keys (a param: editing the row reruns it)."""
    return {k: v for k, v in row_of(model).items() if not k.startswith("_")}


def fetch_inputs(wildcards):
    """Files a model's fetch needs from other rules: the zoo's trained weights."""
    if row_of(wildcards.model)["source"] == "train":
        return {
            "weights": f"results/zoo/{wildcards.model}.safetensors",
            "record": f"results/zoo/{wildcards.model}.json",
        }
    return {}


def per_model(pattern):
    return expand(pattern, model=MODELS)


def per_model_files():
    """Every per-model file the workflow writes. They are targets of `rule all`, so a
    deleted one is rebuilt by the next run, not silently missing from a query."""
    patterns = [
        "results/models/{model}.json",
        "results/filters/{model}.parquet",
        "results/layers/{model}.parquet",
        "results/moments/{model}.npz",
        "results/hist/{model}.parquet",
        "results/figdata/joint/{model}.parquet",
        "results/figdata/first_filters/{model}.parquet",
    ]
    if RANGE_POLICY in ("paper", "per-coefficient"):
        patterns.append("results/basis/range/{model}.json")
    return [path for pattern in patterns for path in per_model(pattern)]


def all_targets():
    return [
        *per_model_files(),
        "results/db/models.parquet",
        "results/db/layers.parquet",
        *expand("results/shift/{axis}.tsv", axis=AXES),
        *FIGURES,
        *ZOO_TARGETS,
    ]
