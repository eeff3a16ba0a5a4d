# Config and sheet validation, the model list, paths, and input functions.
import hashlib
import importlib.util
import re
from pathlib import Path

from snakemake.utils import validate

from filterdb.sheet import load_sheets

validate(config, "../schemas/config.schema.yaml")

MODEL_ROWS = load_sheets(
    config["sheets"], workflow.source_path("../schemas/models.schema.yaml")
)
MODELS = sorted(MODEL_ROWS)
if not MODELS:
    raise ValueError(f"config key 'sheets' ({config['sheets']}) lists no models")
AXES = sorted(config["shift"]["axes"])
CACHE_DIR = config.get("cache_dir", "resources/cache")
RANGE_POLICY = config["shift"]["range"]


wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),
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


def public_row(model):
    """The model's sheet row without bookkeeping keys (a param: editing the row reruns it)."""
    return {k: v for k, v in MODEL_ROWS[model].items() if not k.startswith("_")}


def fetch_inputs(wildcards):
    """Files a model's fetch needs from other rules: the zoo's trained weights."""
    if MODEL_ROWS[wildcards.model]["source"] == "train":
        return {
            "weights": f"results/zoo/{wildcards.model}.safetensors",
            "record": f"results/zoo/{wildcards.model}.json",
        }
    return {}


def per_model(pattern):
    return expand(pattern, model=MODELS)


def all_targets():
    return [
        "results/db/models.parquet",
        "results/db/layers.parquet",
        *expand("results/shift/{axis}.tsv", axis=AXES),
        *FIGURES,
        *ZOO_TARGETS,
        *EXP_TARGETS,
    ]
