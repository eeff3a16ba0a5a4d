"""Shift matrices along one meta-parameter axis, from stored layer histograms.

An axis is ``{"column": name, "where": {column: value or [values]}}`` over the layer
table joined with the model table, so any model or layer column (task,
visual_category, depth_decile, family, precision, …) and any restriction ("visual
category within the first depth decile") is an axis. No pass over the filters.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd

from .database import layers_with_models
from .errors import AxisError
from .shift import group_histograms, shift_matrix

log = logging.getLogger(__name__)


def _kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "number"
    present = values.dropna()
    if len(present) and present.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "boolean"
    return "text"


def _value_kind(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.number)):
        return "number"
    return "text"


def check_where(joined: pd.DataFrame, where: Mapping | None, name: str) -> None:
    """Every ``where`` value has its column's type, and the restriction keeps some layers.

    A text ``"0"`` never equals an integer 0: without this check the axis would select
    nothing and write an empty matrix.
    """
    selected = joined
    for key, value in (where or {}).items():
        if key not in joined.columns:
            raise AxisError(
                f"shift axis {name!r}: where column {key!r} is not a column of the model or layer table; "
                f"known columns: {', '.join(sorted(map(str, joined.columns)))}"
            )
        kind = _kind(joined[key])
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if _value_kind(item) != kind:
                hint = " (write it without quotes)" if isinstance(item, str) else " (quote it)"
                raise AxisError(
                    f"shift axis {name!r}: where {key}: {item!r} is {_value_kind(item)}, "
                    f"but column {key!r} holds {kind} values{hint}"
                )
        values = value if isinstance(value, (list, tuple)) else [value]
        kept = selected[selected[key].isin(values)]
        if kept.empty:
            present = sorted(map(str, selected[key].dropna().unique()))[:20]
            raise AxisError(
                f"shift axis {name!r}: where {key}: {value!r} selects no layer; "
                f"values of {key!r} there: {', '.join(present) or '(none)'}"
            )
        selected = kept


def axis_shift(
    models: pd.DataFrame,
    layers: pd.DataFrame,
    histograms: Mapping[str, tuple[np.ndarray, np.ndarray]],
    axis: Mapping,
    evr: np.ndarray,
    edges: np.ndarray,
    eps: float,
    min_group_filters: int,
    name: str = "?",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(D matrix between the groups kept, table of every group with its size and status).

    Groups with fewer than ``min_group_filters`` filters are left out of the matrix and
    listed with status ``too small``. Models without 3×3 filters hold no layers, so they
    are absent from every group; they are logged. An axis (``name`` in messages) whose
    column is unknown, whose ``where`` selects nothing or compares values of another type
    raises AxisError.
    """
    empty = models.loc[models["n_filters"] == 0, "model"].tolist()
    if empty:
        log.warning("left out of the shift analysis (no 3×3 filters): %s", ", ".join(empty))
    joined = layers_with_models(layers, models)
    column = axis["column"]
    if column not in joined.columns:
        raise AxisError(
            f"shift axis {name!r}: column {column!r} is not a column of the model or layer table; "
            f"known columns: {', '.join(sorted(map(str, joined.columns)))}"
        )
    check_where(joined, axis.get("where"), name)
    sums, sizes = group_histograms(
        joined, dict(histograms), column, axis.get("where"), min_filters=min_group_filters
    )
    small = sizes.loc[sizes["status"] == "too small", "group"].tolist()
    if small:
        log.warning("axis %r: groups below %d filters left out: %s", column, min_group_filters, ", ".join(small))
    kept = [g for g in sizes.loc[sizes["status"] == "kept", "group"] if g in sums]
    matrix = shift_matrix({g: sums[g] for g in kept}, evr, edges, eps)
    return matrix, sizes
