"""Per-layer statistics: ``results/filters/{model}.parquet`` → ``results/layers/{model}.parquet``."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from . import io
from .basis import Projector, save_moments
from .metrics import DEFAULT_CUTOFFS, empty_moments, layer_flags, layer_metrics
from .shift import Binner, histograms_table, layer_counts, stack_histograms

DECILE_EDGES = np.linspace(0.0, 1.0, 11)

LAYER_COLUMNS = [
    "model", "layer", "name", "in_channels", "out_channels", "groups", "stride", "dilation",
    "n_filters", "conv_depth", "conv_depth_norm", "depth_decile", "depth_source",
    "sparsity", "variance_entropy", "randomness_threshold", "entropy_ratio", "clean_entropy",
    "n_clean", "orthogonality", "l1_mean", "l2_mean", "abs_max",
    "flag_sparse", "flag_collapsed", "flag_random_like",
]  # fmt: skip


def depth_decile(conv_depth_norm: np.ndarray) -> np.ndarray:
    """Decile index 0…9 of normalised depth; edges 0, 0.1, …, 1.0, lowest edge included."""
    x = np.asarray(conv_depth_norm, dtype=np.float64)
    return np.clip(np.searchsorted(DECILE_EDGES, x, side="left") - 1, 0, 9).astype(np.int32)


def scan_table(
    filters_path: str | os.PathLike, model: str, cutoffs: dict | None = None
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """One read of a filters file: (per-layer table, see LAYER_SCHEMA; moment sums).

    The moment sums are those of ``basis.moments`` (count, Σf, Σffᵀ of the max-abs-scaled
    filters), computed in the same streamed pass, so statistics and the basis map step
    cost one read of the file. Memory: the largest layer plus one row group.
    """
    table, total, _ = scan(filters_path, model, cutoffs)
    return table, total


def scan(filters_path: str | os.PathLike, model: str, cutoffs: dict | None = None, binning: tuple | None = None):
    """``scan_table``, and with ``binning`` = (basis, edges) of a frozen basis the model's
    shift histograms from the same read: (table, moment sums, (layer ids, sizes, counts)
    as ``shift.model_histograms`` gives them, or None)."""
    cutoffs = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if binning is not None:
        projector, binner = Projector(binning[0]), Binner(binning[1])
        hist_layers, hist_sizes, hist_counts = [], [], []
    _, facts = io.filters_metadata(filters_path)
    rows = []
    seen = set()
    total = empty_moments()
    for layer, kernels, _ in io.iter_layer_kernels(filters_path, check_finite=False, transient=True):
        if not 0 <= layer < len(facts):
            raise io.DataError(
                f"{filters_path}: rows of layer {layer}, but the file's metadata describes "
                f"{len(facts)} layers; rebuild the model's dump"
            )
        fact = facts[layer]
        if kernels.shape[0] != fact["n_filters"]:
            raise io.DataError(
                f"{filters_path}: layer {layer} holds {kernels.shape[0]} filters, "
                f"its metadata says {fact['n_filters']}; rebuild the model's dump"
            )
        metrics = layer_metrics(kernels, fact["out_channels"], moments=total)
        if not np.isfinite(metrics["l1_mean"]):  # a NaN or Inf weight reaches every sum
            io.check_finite_kernels(kernels, filters_path, layer)
        rows.append({"model": model, **fact, **metrics, **layer_flags(metrics, cutoffs, fact["n_filters"])})
        seen.add(layer)
        if binning is not None:
            hist_counts.append(layer_counts(kernels, projector, binner, filters_path, layer))
            hist_layers.append(layer)
            hist_sizes.append(kernels.shape[0])
    if len(seen) != len(facts):
        raise io.DataError(f"{filters_path}: layers {sorted(set(range(len(facts))) - seen)} hold no filters")
    columns = {c: [row[c] for row in rows] for c in LAYER_SCHEMA.names if c != "depth_decile"}
    columns["depth_decile"] = depth_decile(np.asarray(columns["conv_depth_norm"], dtype=np.float64))
    # built from buffers, not pa.array or pandas: either import costs a job ~0.3 s
    table = pa.table([io.arrow_column(columns[f.name], f.type) for f in LAYER_SCHEMA], schema=LAYER_SCHEMA)
    if binning is None:
        return table, total, None
    return table, total, stack_histograms(hist_layers, hist_sizes, hist_counts, binner.bins)


def scan_filters(filters_path: str | os.PathLike, model: str, cutoffs: dict | None = None):
    """``scan_table`` with the layer table as a pandas DataFrame."""
    table, total = scan_table(filters_path, model, cutoffs)
    return table.to_pandas().astype(_LAYER_DTYPES), total


def layer_stats(filters_path: str | os.PathLike, model: str, cutoffs: dict | None = None):
    """One row per 3×3 layer of a filters file: its facts and metrics (see LAYER_SCHEMA)."""
    return scan_filters(filters_path, model, cutoffs)[0]


_LAYER_DTYPES = {
    "model": "string", "layer": "int32", "name": "string", "in_channels": "int32",
    "out_channels": "int32", "groups": "int32", "stride": "int32", "dilation": "int32",
    "n_filters": "int64", "conv_depth": "int32", "conv_depth_norm": "float64",
    "depth_decile": "int32", "depth_source": "string", "n_clean": "int64",
    "flag_sparse": "bool", "flag_collapsed": "bool", "flag_random_like": "bool",
}  # fmt: skip
_ARROW_OF = {"string": pa.large_string(), "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
LAYER_SCHEMA = pa.schema([pa.field(c, _ARROW_OF[_LAYER_DTYPES.get(c, "float64")]) for c in LAYER_COLUMNS])


def write_layer_stats(
    filters_path, out_path, model: str, cutoffs: dict | None = None, *, moments_path=None,
    histograms_path=None, binning: tuple | None = None,
) -> pa.Table:
    """Write the layer table of one model; with ``moments_path``, its moment sums too, and
    with ``histograms_path`` and ``binning`` = (basis, edges), its shift histograms: one read."""
    table, total, histograms = scan(filters_path, model, cutoffs, binning if histograms_path else None)
    io.write_table(table, out_path, io.file_metadata(model))
    if moments_path is not None:
        save_moments(total, moments_path)
    if histograms_path is not None:
        io.write_table(histograms_table(*histograms), histograms_path, io.file_metadata(model))
    return table
