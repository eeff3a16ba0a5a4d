"""Import the paper's published database (one HDF5 file) into filterdb's layout.

The release (Gavrikov & Keuper, CNN Filter DB, v0.1.0 and v1.0.0) holds

- ``/filters`` (``/filter`` in some copies): an N×3×3 or N×9 float array, one filter a row;
- ``/meta``: a pandas (PyTables) table, one row per conv layer, indexed by ``model_id``,
  ``conv_depth``, ``conv_depth_norm`` (and ``layer_id`` in v1.0.0), whose ``filter_ids``
  column holds a ``"start:end"`` string of the layer's rows, and model columns such as
  ``Name``, ``Task``, ``Visual Category`` (``Datatype``), ``Training-Dataset``,
  ``Pretraining-Dataset``, ``Precision``, ``Training``, and per-layer ``in_channels``,
  ``out_channels``.

``import_hdf5`` writes, per model, ``OUT/filters/{model}.parquet`` exactly as the dump
step does (columns, row order, metadata: model info and layer facts), plus the model
sheet ``OUT/config/models.tsv`` (source ``parquet``: the workflow starts at the
per-layer statistics; columns it does not know are kept, in snake_case), the study's
config ``OUT/config/config.yaml``, and ``OUT/import.json`` (what was found, e.g. the
filter-id convention). ``snakemake -s <filterdb>/Snakefile -d OUT --cores N all`` then
builds every figure and table of the study under ``OUT/results``.
Filters are streamed in chunks: memory is bounded by ``chunk_filters`` whatever the
size of the file.

Filter ids: the release writes inclusive ends (``"0:575"`` is 576 filters); the
extraction tool wrote exclusive ends. The convention is detected from the ranges
themselves (adjacent layers, layer sizes from the channel counts, the array's length)
and reported; overlapping ranges and ranges past the array are errors.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import store
from .errors import FilterdbError

log = logging.getLogger(__name__)

# release column → model-sheet column (models.schema.yaml); first match wins
MODEL_COLUMN_MAP = {
    "Name": "architecture",
    "Task": "task",
    "Visual Category": "visual_category",
    "Datatype": "visual_category",
    "Training-Dataset": "training_dataset",
    "Pretraining-Dataset": "pretraining_dataset",
    "Precision": "precision",
    "Training": "training",
    "Family": "family",
    "Architecture": "family",
}
# the release's visual categories → the sheet schema's vocabulary (a value already in it is
# kept); the release's own value stays in `release_visual_category`
CATEGORY_ALIASES = (
    ("medical", "medical"), ("x-ray", "medical"), ("xray", "medical"), ("mri", "medical"), ("ct", "medical"),
    ("ultrasound", "medical"), ("cell", "microscopy"), ("microscop", "microscopy"), ("astro", "astronomy"),
    ("face", "faces"), ("fractal", "fractals"), ("sketch", "sketches"), ("handwrit", "handwriting"),
    ("digit", "handwriting"), ("document", "text/documents"), ("text", "text/documents"),
    ("formula", "text/documents"), ("art", "art"), ("painting", "art"), ("texture", "textures"),
    ("plant", "plants"), ("leaf", "plants"), ("satellite", "satellite"), ("aerial", "satellite"),
    ("entit", "natural"), ("natural", "natural"), ("object", "natural"), ("person", "people"),
    ("people", "people"), ("pedestrian", "people"),
)  # fmt: skip
INDEX_COLUMNS = ("model_id", "conv_depth", "conv_depth_norm", "layer_id")
LAYER_FACT_COLUMNS = ("in_channels", "out_channels", "groups", "stride", "dilation")
MODEL_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.+-]+")


class HDF5LayoutError(FilterdbError, ValueError):
    """The HDF5 file does not follow the release's layout; the message says where."""


def snake_case(name: str) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "_", str(name)).strip("_").lower()
    return text or "column"


def read_meta(h5_path: str | os.PathLike) -> pd.DataFrame:
    """The ``/meta`` table with its index levels as columns (PyTables table, or CSV bytes)."""
    import h5py

    with h5py.File(h5_path, "r") as handle:
        if "meta" not in handle:
            raise HDF5LayoutError(f"{h5_path}: no /meta table (expected the release's layer table)")
        node = handle["meta"]
        raw = node[...] if isinstance(node, h5py.Dataset) else None
    if raw is not None:  # a CSV stored as bytes, as some copies of the release do
        import io

        text = bytes(bytearray(np.asarray(raw).reshape(-1))).decode("utf-8")
        meta = pd.read_csv(io.StringIO(text))
    else:
        meta = pd.read_hdf(h5_path, "meta")
    meta = meta.reset_index()
    meta = meta.drop(columns=[c for c in meta.columns if c == "index" or str(c).startswith("level_")])
    for column in ("model_id", "filter_ids"):
        if column not in meta.columns:
            raise HDF5LayoutError(f"{h5_path}: /meta has no column or index level {column!r}")
    return meta


def parse_ranges(meta: pd.DataFrame, n_rows: int, h5_path) -> tuple[np.ndarray, np.ndarray, str]:
    """(start, stop) half-open row ranges of every layer, and the detected convention."""
    text = meta["filter_ids"].astype(str).str.strip()
    parts = text.str.extract(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
    bad = parts[0].isna()
    if bad.any():
        row = meta.loc[bad].iloc[0]
        raise HDF5LayoutError(
            f"{h5_path}: /meta row of model_id {row['model_id']}: filter_ids {row['filter_ids']!r} "
            "is not a 'start:end' pair"
        )
    start = parts[0].astype(np.int64).to_numpy()
    end = parts[1].astype(np.int64).to_numpy()
    convention = detect_convention(meta, start, end, n_rows)
    stop = end + 1 if convention == "inclusive" else end
    empty = stop <= start
    if empty.any():
        row = meta.loc[empty].iloc[0]
        raise HDF5LayoutError(f"{h5_path}: model_id {row['model_id']}: filter_ids {row['filter_ids']!r} is an empty range")
    past = stop > n_rows
    if past.any():
        row = meta.loc[past].iloc[0]
        raise HDF5LayoutError(
            f"{h5_path}: model_id {row['model_id']}: filter_ids {row['filter_ids']!r} ({convention} end) "
            f"runs past the filter array, which has {n_rows} rows"
        )
    order = np.argsort(start, kind="stable")
    overlap = np.flatnonzero(start[order][1:] < stop[order][:-1])
    if overlap.size:
        a, b = meta.iloc[order[overlap[0]]], meta.iloc[order[overlap[0] + 1]]
        raise HDF5LayoutError(
            f"{h5_path}: filter ids overlap: model_id {a['model_id']} ({a['filter_ids']!r}) and "
            f"model_id {b['model_id']} ({b['filter_ids']!r}) ({convention} ends)"
        )
    return start, stop, convention


def detect_convention(meta: pd.DataFrame, start: np.ndarray, end: np.ndarray, n_rows: int) -> str:
    """"inclusive" or "exclusive" ends, by votes of three independent clues."""
    votes = {"inclusive": 0, "exclusive": 0}
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    if len(s) > 1:  # adjacent layers: next start = end + 1 (inclusive) or = end (exclusive)
        votes["inclusive"] += int((s[1:] == e[:-1] + 1).sum())
        votes["exclusive"] += int((s[1:] == e[:-1]).sum())
    if {"in_channels", "out_channels"} <= set(meta.columns):
        size = pd.to_numeric(meta["in_channels"], errors="coerce") * pd.to_numeric(meta["out_channels"], errors="coerce")
        size = size.to_numpy()
        votes["inclusive"] += int((end - start + 1 == size).sum())
        votes["exclusive"] += int((end - start == size).sum())
    if len(e):
        votes["inclusive"] += 2 * int(e.max() == n_rows - 1)
        votes["exclusive"] += 2 * int(e.max() == n_rows) + 2 * int(e.max() >= n_rows)
    if votes["exclusive"] > votes["inclusive"]:
        return "exclusive"
    return "inclusive"  # the release's documented convention, also on a tie


def model_ids(meta: pd.DataFrame) -> dict[Any, str]:
    """model_id → a unique filterdb model id (the release's ``model`` string when it has one)."""
    names: dict[Any, str] = {}
    taken: set[str] = set()
    for model_id, part in meta.groupby("model_id", sort=True):
        base = None
        for column in ("model", "Name"):
            if column in part.columns and pd.notna(part[column].iloc[0]):
                base = str(part[column].iloc[0])
                break
        name = MODEL_ID_PATTERN.sub("_", base).strip("_.+-") if base else ""
        if not name or not name[0].isalnum():
            name = f"m{model_id}" + (f"_{name}" if name else "")
        if name in taken:
            name = f"{name}_{model_id}"
        taken.add(name)
        names[model_id] = name
    return names


def split_columns(meta: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(model-level columns: constant within every model; layer-level columns)."""
    skip = set(INDEX_COLUMNS) | {"filter_ids"} | set(LAYER_FACT_COLUMNS)
    candidates = [c for c in meta.columns if c not in skip]
    if not candidates:
        return [], []
    distinct = meta.groupby("model_id", sort=False)[candidates].nunique(dropna=False)
    model_level = [c for c in candidates if (distinct[c] <= 1).all()]
    return model_level, [c for c in candidates if c not in model_level]


def _clean(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def sheet_vocabulary() -> list[str]:
    """The visual categories the sheet schema allows."""
    import yaml

    from .sheet import default_schema_path

    with open(default_schema_path()) as handle:
        return yaml.safe_load(handle)["properties"]["visual_category"]["enum"]


def category_of(value: Any, vocabulary: list[str]) -> str:
    """A release's visual category in the sheet vocabulary: itself, an alias, or "unknown"."""
    text = str(value).strip().lower()
    if text in vocabulary:
        return text
    for fragment, category in CATEGORY_ALIASES:
        if re.search(rf"\b{re.escape(fragment)}", text):
            return category
    return "unknown"


def model_row(
    model: str, model_id: Any, first: pd.Series, model_columns: list[str], h5_name: str, vocabulary: list[str]
) -> dict:
    """One row of the model sheet from a model's first /meta row: source ``parquet``, whose
    reference is the imported filters file (relative to the import folder, the workflow's
    working directory)."""
    row: dict[str, Any] = {"model": model, "source": "parquet", "reference": f"filters/{model}.parquet"}
    mapped = set()
    for column, target in MODEL_COLUMN_MAP.items():
        if column in first.index and target not in row and pd.notna(first[column]):
            row[target] = _clean(first[column])
            mapped.add(column)
    if "visual_category" in row:
        row["release_visual_category"] = row["visual_category"]
        row["visual_category"] = category_of(row["visual_category"], vocabulary)
    row.setdefault("architecture", model)
    row.setdefault("family", row["architecture"])
    for required in ("task", "visual_category", "training_dataset"):
        row.setdefault(required, "unknown")
    pretraining = row.get("pretraining_dataset")
    row["pretrained"] = bool(pretraining) and str(pretraining).strip().lower() not in ("", "none", "nan", "-", "no")
    row["model_id"] = _clean(model_id)
    row["release_file"] = h5_name
    if "model" in first.index and pd.notna(first["model"]):
        row["release_model"] = _clean(first["model"])
    for column in model_columns:
        if column in mapped or column in ("model",):
            continue
        key = snake_case(column)
        while key in row:
            key += "_"
        row[key] = _clean(first[column])
    return row


def layer_facts(part: pd.DataFrame, sizes: np.ndarray, layer_columns: list[str]) -> list[dict]:
    """Dump-style facts of one model's layers (rows of ``part`` in layer order)."""
    facts = []
    for index, (record, n) in enumerate(zip(part.to_dict("records"), sizes)):
        get = lambda key, default=None: _clean(record.get(key, default))  # noqa: E731
        cout, cin = get("out_channels"), get("in_channels")
        cout = int(cout) if cout is not None and pd.notna(cout) else None
        cin = int(cin) if cin is not None and pd.notna(cin) else None
        if cout and cin and (cout * cin) % n == 0 and n % cout == 0:
            groups = cout * cin // n  # grouped or depthwise: n = out · in / groups
        else:  # channel counts missing or inconsistent: one "channel" per filter row
            cout, cin, groups = int(n), 1, 1
        depth = get("conv_depth", index)
        depth_norm = get("conv_depth_norm")
        fact = {
            "layer": index,
            "name": str(get("layer_id", f"conv_depth_{depth}")),
            "in_channels": int(cin),
            "out_channels": int(cout),
            "groups": int(get("groups", groups) or groups),
            "stride": int(get("stride", -1) if pd.notna(get("stride", -1)) else -1),
            "dilation": int(get("dilation", -1) if pd.notna(get("dilation", -1)) else -1),
            "n_filters": int(n),
            "conv_depth": int(depth) if depth is not None else index,
            "conv_depth_norm": float(depth_norm) if depth_norm is not None else 0.0,
            "depth_source": "hdf5",
        }
        for column in layer_columns:
            key = snake_case(column)
            if key not in fact:
                fact[key] = _clean(record.get(column))
        facts.append(fact)
    # names must be unique within a model (the filters file's check): layers that share a
    # conv_depth (branches) and have no layer_id get the layer index appended
    names = [f["name"] for f in facts]
    for fact in facts:
        if names.count(fact["name"]) > 1:
            fact["name"] = f"{fact['name']}_layer{fact['layer']}"
    return facts


def _iter_rows(filters, ranges: list[tuple[int, int]], chunk: int):
    """Yield (layer index, first row within the layer, (k, 9) float array) in chunks."""
    for layer, (begin, end) in enumerate(ranges):
        for offset in range(begin, end, chunk):
            block = np.asarray(filters[offset : min(offset + chunk, end)])
            yield layer, offset - begin, block.reshape(block.shape[0], 9)


def _require_h5py():
    try:
        import h5py  # noqa: F401
        import tables  # noqa: F401  (pandas reads the /meta table through PyTables)
    except ImportError as exc:
        raise ImportError(
            f"filterdb import-hdf5 needs h5py and PyTables ({exc.name} is not installed): "
            "pip install 'filterdb[hdf5]'"
        ) from None


def import_hdf5(
    h5_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    chunk_filters: int = 1 << 22,
    progress: bool = True,
    on_nonfinite: str = "error",
    models: list[str] | None = None,
) -> dict:
    """Convert the release's HDF5 file into a workflow folder ``out_dir``.

    Writes ``filters/{model}.parquet`` (as the dump step would), ``config/models.tsv``
    (one ``parquet`` row per model: the workflow schedules no fetch or dump for them),
    ``config/config.yaml`` (the study's analysis on this sheet) and ``import.json``.
    Run the study with ``snakemake -s <filterdb>/Snakefile -d out_dir --cores N all``.

    All of it is written to a staging folder first and moved in place at the end: a
    failed import leaves ``out_dir`` as it was; a new import replaces the filters of an
    earlier one (no stale model files stay behind).
    chunk_filters: filters read from the HDF5 file at a time (memory ≈ 80 bytes each).
    on_nonfinite: "error" (a DataError naming model and layer) or "exclude" (the layer
    is left out and recorded in the model info, as the dump does; costs a second read).
    models: only these model ids (filterdb ids, see models.tsv), for a partial import.
    Returns a summary, also written to ``out_dir/import.json``.
    """
    _require_h5py()
    out = Path(out_dir)
    if not Path(h5_path).is_file():
        raise FileNotFoundError(f"{h5_path}: no such file (the release's dataset.h5)")
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out))
    try:
        summary = _import_into(Path(h5_path), staging, chunk_filters, progress, on_nonfinite, models)
        _replace(staging / "filters", out / "filters")
        (out / "config").mkdir(exist_ok=True)
        for name in ("models.tsv", "config.yaml"):
            os.replace(staging / "config" / name, out / "config" / name)
        os.replace(staging / "import.json", out / "import.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _replace(new: Path, old: Path) -> None:
    """Put folder ``new`` where ``old`` is, removing ``old`` (and what it held) only after."""
    if old.exists():
        aside = old.with_name(f".{old.name}.replaced-{os.getpid()}")
        os.replace(old, aside)
        os.replace(new, old)
        shutil.rmtree(aside)
    else:
        os.replace(new, old)


def workflow_command(out_dir: str | os.PathLike, cores: int = 8) -> str:
    """The snakemake command that runs the study on an imported folder."""
    snakefile = Path(__file__).resolve().parents[2] / "Snakefile"
    where = shlex.quote(str(snakefile)) if snakefile.is_file() else "<filterdb checkout>/Snakefile"
    return f"snakemake -s {where} -d {shlex.quote(str(Path(out_dir).resolve()))} --cores {cores} all"


def study_config(sheet: pd.DataFrame) -> dict:
    """The workflow config of an imported release: its sheet, and the study's axes over the
    columns the release has."""
    axes = {"depth_decile": {"column": "depth_decile", "ordered": True}}
    for column in ("task", "visual_category", "training_dataset", "family", "precision", "pretrained"):
        if column in sheet.columns and sheet[column].nunique(dropna=True) > 0:
            axes[column] = {"column": column}
    if "visual_category" in axes:
        axes["visual_category_first_decile"] = {"column": "visual_category", "where": {"depth_decile": 0}}
    if "release_visual_category" in sheet.columns:  # the release's own, finer categories
        axes["release_visual_category"] = {"column": "release_visual_category"}
    return {
        "sheets": ["config/models.tsv"],
        "shift": {"bins": 70, "range": "paper", "min_group_filters": 1000, "axes": axes},
        "basis": {"pool": "trained", "exclude_duplicates": True},
        "figures": {"group_comparison": {"family": {"column": "family"}}},
    }


def _import_into(h5_path: Path, out: Path, chunk_filters: int, progress: bool, on_nonfinite: str, models) -> dict:
    import h5py

    started = time.perf_counter()
    meta = read_meta(h5_path)
    with h5py.File(h5_path, "r") as handle:
        key = "filters" if "filters" in handle else "filter" if "filter" in handle else None
        if key is None:
            raise HDF5LayoutError(f"{h5_path}: no /filters array")
        filters = handle[key]
        shape = filters.shape
        if not (len(shape) == 3 and shape[1:] == (3, 3)) and not (len(shape) == 2 and shape[1] == 9):
            raise HDF5LayoutError(f"{h5_path}: /{key} has shape {shape}, expected N×3×3 or N×9")
        if filters.dtype not in (np.float32, np.float64):
            raise HDF5LayoutError(f"{h5_path}: /{key} has dtype {filters.dtype}, expected float32 or float64")
        n_rows = int(shape[0])
        source_dtype = str(filters.dtype)
        start, stop, convention = parse_ranges(meta, n_rows, h5_path)
        meta = meta.assign(_start=start, _stop=stop)
        names = model_ids(meta)
        if models is not None:
            unknown = sorted(set(models) - set(names.values()))
            if unknown:
                raise HDF5LayoutError(
                    f"{h5_path}: --model {unknown[0]!r} is not a model of the release; "
                    f"its ids look like: {', '.join(sorted(names.values())[:5])}"
                )
        model_columns, layer_columns = split_columns(meta.drop(columns=["_start", "_stop"]))
        vocabulary = sheet_vocabulary()
        sort_keys = [c for c in ("conv_depth", "layer_id", "_start") if c in meta.columns]
        order = sorted(names, key=lambda m: int(meta.loc[meta["model_id"] == m, "_start"].min()))
        wanted = set(models) if models is not None else None
        rows, summary_models = [], []
        total_filters = 0
        for number, model_id in enumerate(order):
            model = names[model_id]
            if wanted is not None and model not in wanted:
                continue
            part = meta.loc[meta["model_id"] == model_id].sort_values(sort_keys, kind="stable")
            ranges = list(zip(part["_start"].astype(int), part["_stop"].astype(int)))
            sizes = np.array([b - a for a, b in ranges], np.int64)
            facts = layer_facts(part.drop(columns=["_start", "_stop"]), sizes, layer_columns)
            excluded = []
            if on_nonfinite == "exclude":
                keep = []
                for fact, (a, b) in zip(facts, ranges):
                    bad = _count_nonfinite(filters, a, b, chunk_filters)
                    if bad:
                        log.warning("model %s: layer %s excluded: %d non-finite filters", model, fact["name"], bad)
                        excluded.append({"name": fact["name"], "nonfinite_filters": bad, "n_filters": fact["n_filters"]})
                    else:
                        keep.append((fact, (a, b)))
                facts = [dict(f, layer=i) for i, (f, _) in enumerate(keep)]
                ranges = [r for _, r in keep]
            first = part.iloc[0]
            info = {
                "precision": _clean(first["Precision"]) if "Precision" in part.columns else source_dtype,
                "bn_folded": False,
                "n_convs": len(part),
                "n_layers": len(facts),
                "n_filters": int(sum(f["n_filters"] for f in facts)),
                "excluded_layers": excluded,
                "depth_source": "hdf5",
                "source_detail": {
                    "file": h5_path.name,
                    "model_id": _clean(model_id),
                    "filter_ids": convention,
                    "source_dtype": source_dtype,
                },
            }
            digest = store.FiltersDigest()
            tables = _filter_tables(filters, facts, ranges, chunk_filters, model, digest)
            store.write_stream(
                tables,
                out / "filters" / f"{model}.parquet",
                store.FILTER_SCHEMA,
                store.file_metadata(model, model_info=info, layers=facts),
                # the digest of the rows is known once they are written
                final_metadata=lambda: store.file_metadata(model, model_info={**info, "filters_sha256": digest.hexdigest()}),
            )
            rows.append(model_row(model, model_id, first, model_columns, h5_path.name, vocabulary))
            summary_models.append(model)
            total_filters += info["n_filters"]
            if progress:
                elapsed = time.perf_counter() - started
                print(
                    f"[{number + 1}/{len(order)}] {model}: {len(facts)} layers, {info['n_filters']:,} filters "
                    f"({total_filters / max(elapsed, 1e-9) / 1e6:.1f} M filters/s)",
                    file=sys.stderr,
                    flush=True,
                )
    covered = int((stop - start).sum())
    sheet = pd.DataFrame(rows)
    (out / "config").mkdir(parents=True, exist_ok=True)
    store.write_text_atomic(out / "config" / "models.tsv", _sheet_text(sheet, h5_path))
    store.write_text_atomic(out / "config" / "config.yaml", _config_text(study_config(sheet), h5_path))
    summary = {
        "file": str(h5_path),
        "filters_array": key,
        "source_dtype": source_dtype,
        "filter_ids": convention,
        "models": len(summary_models),
        "layers": int(len(meta)),
        "filters": total_filters,
        "rows_in_array": n_rows,
        "rows_in_no_layer": n_rows - covered,
        "model_columns": [snake_case(c) for c in model_columns],
        "layer_columns": [snake_case(c) for c in layer_columns],
        "seconds": round(time.perf_counter() - started, 3),
    }
    if summary["rows_in_no_layer"]:
        log.warning("%s: %d rows of the filter array belong to no layer", h5_path, summary["rows_in_no_layer"])
    store.write_json_atomic(out / "import.json", summary)
    return summary


def _sheet_text(sheet: pd.DataFrame, h5_path: Path) -> str:
    """The model sheet as literal TSV (cells hold no tabs or line breaks)."""
    header = f"# Imported from {h5_path.name} by filterdb import-hdf5; one row a model, source parquet.\n"
    if sheet.empty:
        return header
    text = sheet.astype(object).where(sheet.notna(), "")
    text = text.map(lambda v: re.sub(r"[\t\r\n]+", " ", str(v)))
    lines = ["\t".join(sheet.columns)] + ["\t".join(row) for row in text.itertuples(index=False)]
    return header + "\n".join(lines) + "\n"


def _config_text(config: dict, h5_path: Path) -> str:
    import yaml

    return (
        f"# The study on {h5_path.name}, imported by filterdb import-hdf5 (see the project's README).\n"
        + yaml.safe_dump(config, sort_keys=False)
    )


def _count_nonfinite(filters, begin: int, end: int, chunk: int) -> int:
    bad = 0
    for offset in range(begin, end, chunk):
        block = np.asarray(filters[offset : min(offset + chunk, end)]).reshape(-1, 9)
        bad += int((~np.isfinite(block)).any(axis=1).sum())
    return bad


def _filter_tables(filters, facts, ranges, chunk: int, model: str, digest: store.FiltersDigest):
    """The model's rows as filters tables, chunk by chunk, in (layer, out_ch, in_ch) order;
    each layer's rows are added to ``digest`` on the way."""
    for layer, first_row, block in _iter_rows(filters, ranges, chunk):
        fact = facts[layer]
        if not np.isfinite(block).all():
            raise store.DataError(
                f"model {model!r}: layer {fact['name']!r} has "
                f"{int((~np.isfinite(block)).any(axis=1).sum())} filters with NaN or Inf weights; "
                "rerun with --exclude-nonfinite to leave the layer out"
            )
        if first_row == 0:
            digest.start_layer(fact["n_filters"])
        kernels = block.astype(np.float32, copy=False)
        digest.add(kernels)
        per_out = fact["n_filters"] // fact["out_channels"]
        index = np.arange(first_row, first_row + block.shape[0], dtype=np.int64)
        yield store.filters_table(
            np.full(block.shape[0], layer, np.int32),
            (index // per_out).astype(np.int32),
            (index % per_out).astype(np.int32),
            kernels,
        )
