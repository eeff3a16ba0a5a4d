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
from .shift import group_histograms, shift_matrix

log = logging.getLogger(__name__)


def axis_shift(
    models: pd.DataFrame,
    layers: pd.DataFrame,
    histograms: Mapping[str, tuple[np.ndarray, np.ndarray]],
    axis: Mapping,
    evr: np.ndarray,
    edges: np.ndarray,
    eps: float,
    min_group_filters: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(D matrix between the groups kept, table of every group with its size and status).

    Groups with fewer than ``min_group_filters`` filters are left out of the matrix and
    listed with status ``too small``. Models without 3×3 filters hold no layers, so they
    are absent from every group; they are logged.
    """
    empty = models.loc[models["n_filters"] == 0, "model"].tolist()
    if empty:
        log.warning("left out of the shift analysis (no 3×3 filters): %s", ", ".join(empty))
    joined = layers_with_models(layers, models)
    column = axis["column"]
    sums, sizes = group_histograms(
        joined, dict(histograms), column, axis.get("where"), min_filters=min_group_filters
    )
    small = sizes.loc[sizes["status"] == "too small", "group"].tolist()
    if small:
        log.warning("axis %r: groups below %d filters left out: %s", column, min_group_filters, ", ".join(small))
    kept = [g for g in sizes.loc[sizes["status"] == "kept", "group"] if g in sums]
    matrix = shift_matrix({g: sums[g] for g in kept}, evr, edges, eps)
    return matrix, sizes
