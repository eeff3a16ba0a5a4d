"""The database's model table, reduced from per-model files, and the joins and choices over it
(duplicates, layers with their model's columns). Its schema and I/O: ``store.tables``."""

from __future__ import annotations

import json
import os
from typing import Iterable, Mapping

import pandas as pd

from .sheet import is_trained
from .store import MODEL_COLUMNS, filters_metadata


def model_row(row: Mapping, manifest: Mapping, info: Mapping) -> dict:
    """One model's row: sheet columns, then dump facts, then the source's model columns."""
    record = {k: v for k, v in row.items() if not str(k).startswith("_")}
    # the dtype the weights were stored in; a sheet's own `precision` cell is kept as written
    record.setdefault("precision", info.get("precision"))
    record.update(
        trained=is_trained(row),
        filters_sha256=info.get("filters_sha256"),
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
    """The model table: one row per sheet row, with ``filters`` (one file per row, same order).

    manifests: the fetch manifests (``{model}.json``) of the rows that were fetched;
    imported rows (filters file given) have none.
    """
    by_model = {os.path.splitext(os.path.basename(p))[0]: p for p in manifests}
    records = []
    for row, filters_path in zip(rows, filters):
        manifest = {}
        if row["model"] in by_model:
            with open(by_model[row["model"]]) as handle:
                manifest = json.load(handle)
        info, _ = filters_metadata(filters_path)
        records.append(model_row(row, manifest, info))
    frame = pd.DataFrame.from_records(records)
    frame["duplicate_of"] = duplicate_of(frame["model"], frame["filters_sha256"], frame["n_filters"])
    ordered = [c for c in MODEL_COLUMNS if c in frame.columns]
    frame = frame[ordered + sorted(c for c in frame.columns if c not in ordered)]
    frame["pretrained"] = frame["pretrained"].astype(bool)
    for column in frame.columns:  # mixed-type columns from heterogeneous sheets become text
        if frame[column].dtype == object and frame[column].map(type).nunique() > 1:
            frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    return frame.sort_values("model", kind="stable").reset_index(drop=True)


def duplicate_of(models: pd.Series, digests: pd.Series, n_filters: pd.Series) -> pd.Series:
    """For each model, the first model (by id) with bit-identical filters, else None.

    Models without 3×3 filters, or without a digest (files written before it), are never
    duplicates.
    """
    first: dict[str, str] = {}
    result = []
    for model, digest, n in sorted(zip(models, digests, n_filters), key=lambda t: t[0]):
        if not isinstance(digest, str) or not n:
            result.append((model, None))
            continue
        result.append((model, first.get(digest)))
        first.setdefault(digest, model)
    mapping = dict(result)
    return pd.Series([mapping[m] for m in models], index=models.index, dtype=object)


def unique_models(models: pd.DataFrame) -> list[str]:
    """Ids of the models that are not a duplicate of another (see ``duplicate_of``)."""
    if "duplicate_of" not in models.columns:
        return models["model"].tolist()
    return models.loc[models["duplicate_of"].isna(), "model"].tolist()


def layers_with_models(layers: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Layer rows joined with their model's columns, so any column can be a shift axis."""
    model_columns = [c for c in models.columns if c not in layers.columns or c == "model"]
    return layers.merge(models[model_columns], on="model", how="left", validate="many_to_one")



