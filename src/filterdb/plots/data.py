"""Small per-model figure inputs, streamed from one model's filters file.

- ``first_filters``: the first k filters of every layer (for the first-filters figure and
  the model cards), in the filters schema.
- ``joint_counts``: the 2-D histogram of coefficients c0 and c1 over the database-wide
  bin edges (for the joint density), stored sparse as (i, j, count) rows.
Both are Parquet, deterministic (same inputs, same bytes); the joint counts' table and
reader are ``store.joint_table`` and ``store.read_joint``. The workflow writes both in
passes it makes anyway (``stats.FirstFilters`` in layer_stats, ``shift.JointCounter`` in
the histogram pass); these functions are the stand-alone reads, equal value for value.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import store
from ..basis import project


def first_filters(filters_path: str | os.PathLike, k: int) -> pa.Table:
    """The first ``k`` filters (stored order) of every layer, as a filters table."""
    layer, out_ch, in_ch, kernels = [], [], [], []
    for index, weights, extra in store.iter_layer_kernels(filters_path, columns=("out_ch", "in_ch")):
        n = min(k, len(weights))
        layer.append(np.full(n, index, np.int32))
        out_ch.append(extra["out_ch"][:n])
        in_ch.append(extra["in_ch"][:n])
        kernels.append(weights[:n])
    if not layer:
        return store.filters_table(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, 9)))
    return store.filters_table(np.concatenate(layer), np.concatenate(out_ch), np.concatenate(in_ch), np.concatenate(kernels))


def read_first_filters(path: str | os.PathLike) -> dict[int, np.ndarray]:
    """layer → (k, 9) float32 first filters, from a ``first_filters`` file."""
    return {layer: kernels for layer, kernels, _ in store.iter_layer_kernels(path)}


def joint_counts(filters_path: str | os.PathLike, basis: dict, edges: np.ndarray, pair: Sequence[int] = (0, 1)) -> np.ndarray:
    """(bins, bins) counts of coefficient pair (x, y) over the shared edges (9, bins + 1).

    Bin semantics as ``shift.histogram_counts`` (last bin closed); filters outside the
    range in either coefficient are not counted.
    """
    x, y = pair
    pair_edges = np.asarray(edges, dtype=np.float64)[[x, y]]
    bins = pair_edges.shape[1] - 1
    total = np.zeros((bins, bins), np.int64)
    for _, kernels, _ in store.iter_layer_kernels(filters_path):
        coefficients = project(kernels, basis)[:, [x, y]]
        index = np.stack([_bin_index(coefficients[:, c], pair_edges[c]) for c in range(2)], axis=1)
        inside = (index >= 0).all(axis=1)
        flat = index[inside, 0] * bins + index[inside, 1]
        total += np.bincount(flat, minlength=bins * bins).reshape(bins, bins)
    return total


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value, −1 outside [edges[0], edges[-1]]; equal-width bins, the last one
    closed (the rule of the 1-D histograms, ``shift.Binner``)."""
    bins = len(edges) - 1
    low, high = edges[0], edges[-1]
    index = np.minimum(np.floor((values - low) * (bins / (high - low))), bins - 1)
    inside = (values >= low) & (values <= high)
    return np.where(inside, index, -1).astype(np.int64)


def model_names(names: Sequence[str], limit: int = 25) -> str:
    """The first ``limit`` model ids as literals, and how many more."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(f"``{m}``" for m in names[:limit]) + more


def models_line(models: pd.DataFrame, used: Sequence[str] | None = None, limit: int = 25) -> str:
    """Caption sentence: which models a database-wide figure is drawn from."""
    with_filters = sorted(models.loc[models["n_filters"] > 0, "model"]) if used is None else sorted(used)
    without = sorted(set(models["model"]) - set(with_filters))
    line = f"Drawn from {len(with_filters)} of the database's {len(models)} models: {model_names(with_filters, limit)}."
    if without:
        line += f" Not in it (no 3×3 filters or not selected): {', '.join(f'``{m}``' for m in without[:limit])}."
    return line
