# Config and sheet validation, the model list, paths, and input functions.
import os
import re
import shutil
from pathlib import Path

from snakemake.utils import validate

from filterdb.sheet import IMPORTED_SOURCE, is_trained, load_sheets
from filterdb.store import read_basis_file
from filterdb.workflow_code import script_code as _script_code
from filterdb.workflow_scheduler import bound_rescheduling
from filterdb.workflow_inputs import (
    check_config,
    check_sources,
    model_bucket,
    model_buckets,
    model_id_pattern,
    sheet_row,
)

# Snakemake 9 starts a rescheduling timer chain per finished job; keep one (see the module)
bound_rescheduling()

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
BASIS = config["basis"]
# a frozen basis file (results/basis/basis_file.json of an earlier build, or a release's)
FROZEN_BASIS = BASIS.get("from")
# the basis and the histogram range are fitted on this pool (histograms cover every model)
BASIS_POOL = [m for m in MODELS if BASIS["pool"] == "all" or is_trained(MODEL_ROWS[m])]
if not BASIS_POOL:
    raise ValueError(
        "config key basis.pool: 'trained' selects no model (no sheet row is pretrained, packaged, "
        "imported or trained by the zoo); set basis.pool: all to fit the basis on every model"
    )
# models whose filters file exists already (imported, e.g. `filterdb import-hdf5`): no fetch, no dump
IMPORTED = {m for m in MODELS if MODEL_ROWS[m]["source"] == IMPORTED_SOURCE}
for _model in sorted(IMPORTED):
    if not Path(MODEL_ROWS[_model]["reference"]).is_file():
        _row = MODEL_ROWS[_model]
        raise ValueError(
            f"{_row['_sheet']} line {_row['_line']} (model {_model!r}): source parquet: the filters file "
            f"{_row['reference']!r} does not exist (relative to the working directory {Path.cwd()})"
        )
CACHE_DIR = config["cache_dir"]
# filters kept per layer for the first-filters figure and the model cards (their model jobs write them)
KEPT_PER_LAYER = max(
    config["figures"]["filters_per_layer"], config["figures"]["card_filters"]
)
RANGE_POLICY = config["shift"]["range"]
if not isinstance(RANGE_POLICY, str):
    from filterdb.shift import range_edges

    range_edges(RANGE_POLICY, None, None, 2)  # a reversed pair stops the dry run


wildcard_constraints:
    # the id pattern of the sheet schema, not an alternation of every id: Snakemake
    # writes the constraint into every path it expands, so a list of 10,000 ids made
    # a dry run quadratic (352 s); ids not in a sheet are refused by row_of()
    model=model_id_pattern(workflow.source_path("../schemas/models.schema.yaml")),
    # the experiments' seeds; declared here, before any rule: a later global constraint is
    # applied again to every path of every rule declared before it
    seed=r"\d+",


SCRIPTS = Path(workflow.current_basedir).parent / "scripts"
# where envs/filterdb.post-deploy.sh finds the package to install (--sdm conda)
os.environ.update(FILTERDB_WORKFLOW_DIR=str(workflow.basedir))


_SCRIPT_CODES = {}


def script_code(script):
    """A hash of a rule's script and of the filterdb modules it imports, directly or not,
    as a param: editing a module reruns the rules whose scripts import it. Once per script:
    the rules of a bucket of models share theirs."""
    if script not in _SCRIPT_CODES:
        _SCRIPT_CODES[script] = _script_code(SCRIPTS / script)
    return _SCRIPT_CODES[script]


def row_of(model):
    """The model's sheet row; an error naming the model when no sheet lists it."""
    return sheet_row(MODEL_ROWS, model, config["sheets"])


def public_row(model):
    """The model's sheet row without bookkeeping keys (a param: editing the row reruns it)."""
    return {k: v for k, v in row_of(model).items() if not k.startswith("_")}


# a zoo model's weights and training record: the train rule's outputs, its model job's inputs
ZOO_FILES = {
    "weights": "results/zoo/{model}.safetensors",
    "record": "results/zoo/{model}.json",
}


def fetch_inputs(wildcards):
    """Files a model's fetch step needs from other rules (passed to the source by name): the
    zoo's trained weights and record."""
    if row_of(wildcards.model)["source"] == "train":
        return {
            key: path.format(model=wildcards.model) for key, path in ZOO_FILES.items()
        }
    return {}


def per_model(pattern, models=MODELS):
    return expand(pattern, model=models)


# each basis-pool model's coefficient range, where the histogram range is the data's own
RANGE_FILES = (
    per_model("results/basis/range/{model}.json", BASIS_POOL)
    if RANGE_POLICY in ("paper", "per-coefficient") and not FROZEN_BASIS
    else []
)


# Per-model files as inputs cost a large dry run: Snakemake looks up the producer of each
# input file, and finds a bucket job's output by testing the file against each of that
# job's outputs in turn, O(models²) tests (10,000 rows: ~15 s). So a consumer of a bucket
# job's files takes the bucket's index (its job's first output) as input and the files as
# a param; the range and histogram buckets, which wait for the basis (i.e. every model)
# anyway, take the model table (written after every model job) and their filters as a param.
def bucket_index(kind, bucket):
    """The file a bucket job of this kind writes last: one row per model and its files."""
    return f"results/buckets/{kind}/{bucket}.tsv"


def bucket_indexes(kind, models):
    """The indexes of the buckets that hold these models."""
    return [bucket_index(kind, b) for b in sorted({model_bucket(m) for m in models})]


def hist_inputs(models):
    """What a consumer of these models' histograms (or joint counts, written beside them)
    takes as input: the histogram buckets' indexes. With a frozen basis each model's job
    writes them: for every model, the layer table (written after every model job) stands for
    them; for a few (the noise floor's replicates), their files, so that adding another
    model does not rerun that consumer."""
    if not FROZEN_BASIS:
        return bucket_indexes("histograms", models)
    if len(models) == len(MODELS):
        return ["results/db/layers.parquet"]
    return per_model("results/hist/{model}.parquet", models)


def filters_path(model):
    """A model's filters file: the model job's dump, or the imported file a `parquet` row names."""
    if model in IMPORTED:
        return MODEL_ROWS[model]["reference"]
    return f"results/filters/{model}.parquet"


def filters_input(wildcards):
    return filters_path(wildcards.model)


# the imported models' ids, for the rule that serves them (one release, a short list)
IMPORTED_PATTERN = "|".join(re.escape(m) for m in sorted(IMPORTED)) or "(?!)"


# With a frozen basis, a model's job also bins its filters: it reads the basis file itself,
# checked here once (a damaged file stops the dry run), and its sha256 is the job's param,
# not an input: two inputs per model job cost a 10,000-row dry run 8 s of lookups.
FROZEN_SHA256 = read_basis_file(FROZEN_BASIS)[2]["sha256"] if FROZEN_BASIS else None


def model_outputs():
    """A model job's files from its one read of the filters: the layer table, moment sums
    and the first filters of each layer (figures, cards); with a frozen basis, the histograms
    and the c0–c1 joint counts too (else the histogram jobs write those)."""
    outputs = {
        "layers": "results/layers/{model}.parquet",
        "moments": "results/moments/{model}.npz",
        "first": "results/figdata/first_filters/{model}.parquet",
    }
    if FROZEN_BASIS:
        outputs["histograms"] = "results/hist/{model}.parquet"
        outputs["joint"] = "results/figdata/joint/{model}.parquet"
    return outputs


def per_model_files():
    """Every per-model file the workflow writes, and the bucket jobs' indexes."""
    fetched = [m for m in MODELS if m not in IMPORTED]
    patterns = [
        "results/layers/{model}.parquet",
        "results/moments/{model}.npz",
        "results/hist/{model}.parquet",
        "results/figdata/joint/{model}.parquet",
        "results/figdata/first_filters/{model}.parquet",
        "results/cards/{model}.png",
    ]
    files = [path for pattern in patterns for path in per_model(pattern)]
    files += per_model("results/models/{model}.json", fetched)
    files += per_model("results/filters/{model}.parquet", fetched)
    files += bucket_indexes("cards", MODELS)
    if not FROZEN_BASIS:
        files += bucket_indexes("histograms", MODELS)
    if RANGE_FILES:
        files += RANGE_FILES + bucket_indexes("range", BASIS_POOL)
    return files


def deleted_per_model_files():
    """The per-model files missing from a build that has begun: targets of `rule all`, so a
    deleted one is rebuilt by the next run, not silently missing from a query (Snakemake
    plans no job for a missing file that no job it plans asks for, and the tables that read
    it may be up to date). Before a build, none: every per-model job is then planned for
    the tables and figures that read its files, and 7 targets per model would cost a
    10,000-row dry run 30 s of lookups."""
    files = per_model_files()
    missing = [f for f in files if not os.path.exists(f)]
    begun = len(missing) < len(files) or any(
        os.path.exists(f)
        for f in ("results/db/models.parquet", "results/db/layers.parquet")
    )
    return missing if begun else []


def all_targets():
    return [
        *deleted_per_model_files(),
        "results/db/models.parquet",
        "results/db/layers.parquet",
        *([] if FROZEN_BASIS else ["results/basis/basis_file.json"]),
        *expand("results/shift/{axis}.{ext}", axis=AXES, ext=["tsv", "parquet"]),
        *FIGURES,
        *ZOO_TARGETS,
        *EXP_TARGETS,
    ]
