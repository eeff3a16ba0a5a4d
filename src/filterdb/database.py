"""The database's model and layer tables, reduced from per-model files."""

from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

import pandas as pd
import pyarrow as pa

from . import io

MODEL_COLUMNS = [
    "model", "source", "reference", "architecture", "family", "task", "visual_category",
    "training_dataset", "pretrained", "precision", "stored_precision", "bn_folded", "n_convs", "n_layers",
    "n_filters", "n_excluded_layers", "depth_source",
]  # fmt: skip


def model_row(row: Mapping, manifest: Mapping, info: Mapping) -> dict:
    """One model's row: sheet columns, then dump facts, then the source's model columns."""
    record = {k: v for k, v in row.items() if not str(k).startswith("_")}
    # the dtype the weights were stored in; a sheet's own `precision` cell is kept as written
    record.setdefault("precision", info.get("precision"))
    record.update(
        stored_precision=info.get("precision"),
        bn_folded=bool(info.get("bn_folded", False)),
        n_convs=int(info.get("n_convs", 0)),
        n_layers=int(info.get("n_layers", 0)),
        n_filters=int(info.get("n_filters", 0)),
        n_excluded_layers=len(info.get("excluded_layers", [])),
        depth_source=info.get("depth_source"),
        source_detail=json.dumps(info.get("source_detail", {}), sort_keys=True),
    )
    record.update(manifest.get("model_columns", {}))
    return record


def model_table(rows: Iterable[Mapping], manifests: Iterable[str], filters: Iterable[str]) -> pd.DataFrame:
    records = []
    for row, manifest_path, filters_path in zip(rows, manifests, filters):
        with open(manifest_path) as handle:
            manifest = json.load(handle)
        info, _ = io.filters_metadata(filters_path)
        records.append(model_row(row, manifest, info))
    frame = pd.DataFrame.from_records(records)
    ordered = [c for c in MODEL_COLUMNS if c in frame.columns]
    frame = frame[ordered + sorted(c for c in frame.columns if c not in ordered)]
    frame["pretrained"] = frame["pretrained"].astype(bool)
    for column in frame.columns:  # mixed-type columns from heterogeneous sheets become text
        if frame[column].dtype == object and frame[column].map(type).nunique() > 1:
            frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    return frame.sort_values("model", kind="stable").reset_index(drop=True)


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    io.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, io.file_metadata())


def layer_table(paths: Iterable[str]) -> pa.Table:
    """Concatenate per-model layer tables (small: one row per layer)."""
    tables = [io.read_table(p) for p in paths]
    tables = [t.replace_schema_metadata(None) for t in tables]
    return pa.concat_tables(tables, promote_options="default")


def read_models(path: str | os.PathLike) -> pd.DataFrame:
    return io.read_table(path).to_pandas()


def read_layers(path: str | os.PathLike) -> pd.DataFrame:
    return io.read_table(path).to_pandas()


def layers_with_models(layers: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Layer rows joined with their model's columns, so any column can be a shift axis."""
    model_columns = [c for c in models.columns if c not in layers.columns or c == "model"]
    return layers.merge(models[model_columns], on="model", how="left", validate="many_to_one")



