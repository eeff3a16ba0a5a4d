"""Distribution shifts: per-layer coefficient histograms, summed into groups, compared by D.

D(P, Q) = Σᵢ evrᵢ · [KL(Pᵢ‖Qᵢ) + KL(Qᵢ‖Pᵢ)] over the nine coefficients i, natural log,
on densities whose empty bins are filled with ``eps`` and renormalised.
Groups are sums of layer histograms, so any grouping of layers costs no new pass over
the filters.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa

from . import io
from .basis import project

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7


def bin_edges(low: np.ndarray, high: np.ndarray, bins: int) -> np.ndarray:
    """(9, bins + 1) edges; a coefficient with zero range gets a unit-width range around it."""
    low = np.asarray(low, np.float64)
    high = np.asarray(high, np.float64)
    flat = high <= low
    high = np.where(flat, low + 0.5, high)
    low = np.where(flat, low - 0.5, low)
    return np.linspace(low, high, bins + 1, axis=1)


def histogram_counts(coefficients: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts (9, bins) of each coefficient column, with np.histogram's bin semantics.

    Bins are half-open [a, b) but the last is closed; values outside the range are not
    counted. Vectorised over all coefficients in one bincount.
    """
    n_coef, n_edges = edges.shape
    bins = n_edges - 1
    low, high = edges[:, 0], edges[:, -1]
    index = np.floor((coefficients - low) / (high - low) * bins).astype(np.int64)
    index = np.clip(index, 0, bins - 1)
    # correct float round-off against the actual edges, as np.histogram does
    rows = np.arange(n_coef)
    index -= coefficients < edges[rows, index]
    index += (coefficients >= edges[rows, np.minimum(index + 1, bins)]) & (index < bins - 1)
    inside = (coefficients >= low) & (coefficients <= high)
    flat = (index + rows * bins)[inside]
    return np.bincount(flat, minlength=n_coef * bins).reshape(n_coef, bins)


HIST_SCHEMA = pa.schema([("layer", pa.int32()), ("coefficient", pa.int8()), ("counts", pa.list_(pa.int64()))])


def layer_histograms(filters_path: str | os.PathLike, basis: dict, edges: np.ndarray) -> pa.Table:
    """Histogram table of one model: rows (layer, coefficient, counts[bins])."""
    layers, coefficients_col, counts_col = [], [], []
    for layer, kernels, _ in io.iter_layer_kernels(filters_path):
        counts = histogram_counts(project(kernels, basis), edges)
        layers.extend([layer] * 9)
        coefficients_col.extend(range(9))
        counts_col.extend(counts.tolist())
    return pa.table(
        [pa.array(layers, pa.int32()), pa.array(coefficients_col, pa.int8()), pa.array(counts_col, pa.list_(pa.int64()))],
        schema=HIST_SCHEMA,
    )


def read_histograms(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(layer ids (L,), counts (L, 9, bins)) of one model's histogram file."""
    table = io.read_table(path, ["layer", "coefficient", "counts"])
    if table.num_rows == 0:
        return np.zeros(0, np.int32), np.zeros((0, 9, 0), np.int64)
    layers = table.column("layer").to_numpy()
    counts = np.asarray(table.column("counts").to_pylist(), dtype=np.int64)
    n_layers = len(layers) // 9
    return layers[::9], counts.reshape(n_layers, 9, -1)


def densities(counts: np.ndarray, eps: float = FLOAT32_EPS) -> np.ndarray:
    """Counts (..., 9, bins) → probability per bin with empty bins set to eps, renormalised.

    (Normalising a density over equal-width bins and normalising counts give the same
    probabilities, so bin width drops out.)
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=-1, keepdims=True)
    if np.any(totals == 0):
        raise io.DataError("a group's histogram is empty: it holds no filters")
    p = counts / totals
    p = np.where(p == 0, eps, p)
    return p / p.sum(axis=-1, keepdims=True)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p‖q) along the last axis, natural log; p and q strictly positive."""
    return (p * np.log(p / q)).sum(axis=-1)


def shift_distance(p: np.ndarray, q: np.ndarray, evr: np.ndarray) -> float:
    """D(P, Q) for two (9, bins) probability arrays."""
    return float(np.dot(evr, kl_divergence(p, q) + kl_divergence(q, p)))


def shift_matrix(group_counts: dict[str, np.ndarray], evr: np.ndarray, eps: float = FLOAT32_EPS) -> pd.DataFrame:
    """Symmetric D matrix between groups, from each group's summed counts (9, bins)."""
    names = list(group_counts)
    probs = densities(np.stack([group_counts[g] for g in names]), eps) if names else np.zeros((0, 9, 1))
    log_p = np.log(probs)
    # KL(a‖b) for all pairs at once: Σ p_a (log p_a − log p_b)
    self_term = (probs * log_p).sum(axis=-1)  # (G, 9)
    cross = np.einsum("acb,dcb->adc", probs, log_p)  # (G, G, 9): Σ p_a log p_d
    kl = self_term[:, None, :] - cross
    matrix = ((kl + kl.transpose(1, 0, 2)) * np.asarray(evr)[None, None, :]).sum(axis=-1)
    np.fill_diagonal(matrix, 0.0)
    return pd.DataFrame(matrix, index=names, columns=names)


def group_histograms(
    layers: pd.DataFrame,
    histograms: dict[str, tuple[np.ndarray, np.ndarray]],
    column: str,
    where: dict | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Sum layer histograms into groups by ``column`` of the (model-joined) layer table.

    layers: one row per layer with ``model``, ``layer``, ``n_filters`` and the column.
    histograms: model → (layer ids, counts (L, 9, bins)).
    where: optional {column: value or [values]} filter applied before grouping.
    Returns group → counts (9, bins), and a table of group sizes (models, layers, filters).
    """
    if column not in layers.columns:
        raise KeyError(f"shift axis column {column!r} is not a column of the model or layer table; known: {', '.join(sorted(layers.columns))}")
    selected = layers
    for key, value in (where or {}).items():
        if key not in layers.columns:
            raise KeyError(f"shift axis filter column {key!r} is not a column of the model or layer table")
        values = value if isinstance(value, list) else [value]
        selected = selected[selected[key].isin(values)]
    sums: dict[str, np.ndarray] = {}
    for model, part in selected.groupby("model", sort=True):
        if model not in histograms:
            continue
        layer_ids, counts = histograms[model]
        if len(layer_ids) == 0:
            continue
        position = pd.Series(np.arange(len(layer_ids)), index=layer_ids)
        for group, rows in part.groupby(column, sort=True):
            picked = counts[position.loc[rows["layer"].to_numpy()].to_numpy()].sum(axis=0)
            key = str(group)
            sums[key] = sums[key] + picked if key in sums else picked
    sizes = (
        selected.assign(_group=selected[column].astype(str))
        .groupby("_group")
        .agg(models=("model", "nunique"), layers=("layer", "size"), filters=("n_filters", "sum"))
        .rename_axis("group")
        .reset_index()
    )
    return sums, sizes
