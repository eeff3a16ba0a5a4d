"""Per-layer statistics: ``results/filters/{model}.parquet`` → ``results/layers/{model}.parquet``."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from . import kernels as compiled
from . import store
from .basis import Projector
from .metrics import DEFAULT_CUTOFFS, empty_moments, layer_flags, layer_metrics
from .shift import Binner, JointCounter, LayerCounts, stack_histograms
from .store import LAYER_SCHEMA

DECILE_EDGES = np.linspace(0.0, 1.0, 11)


def depth_decile(conv_depth_norm: np.ndarray) -> np.ndarray:
    """Decile index 0…9 of normalised depth; edges 0, 0.1, …, 1.0, lowest edge included."""
    x = np.asarray(conv_depth_norm, dtype=np.float64)
    return np.clip(np.searchsorted(DECILE_EDGES, x, side="left") - 1, 0, 9).astype(np.int32)


class FirstFilters:
    """The first ``k`` filters (stored order) of every layer, collected during a pass over a
    filters file (``scan(..., first=)``); ``table()`` is the table of
    ``plots.data.first_filters``, value for value."""

    columns = ("out_ch", "in_ch")

    def __init__(self, k: int):
        self.k = k
        self.layer, self.out_ch, self.in_ch, self.kernels = [], [], [], []

    def add(self, layer: int, kernels: np.ndarray, extra: dict) -> None:
        n = min(self.k, len(kernels))
        self.layer.append(np.full(n, layer, np.int32))
        # copies: a transient pass reuses its buffers
        self.out_ch.append(np.array(extra["out_ch"][:n]))
        self.in_ch.append(np.array(extra["in_ch"][:n]))
        self.kernels.append(np.array(kernels[:n]))

    def table(self) -> pa.Table:
        if not self.layer:
            return store.filters_table(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, 9)))
        return store.filters_table(
            np.concatenate(self.layer), np.concatenate(self.out_ch), np.concatenate(self.in_ch), np.concatenate(self.kernels)
        )


def scan(
    filters_path: str | os.PathLike, model: str, cutoffs: dict | None = None, binning: tuple | None = None,
    *, first: FirstFilters | None = None, joint: JointCounter | None = None,
):
    """One read of a filters file: (per-layer table, see ``store.LAYER_SCHEMA``; moment sums;
    with ``binning`` = (basis, edges) of a frozen basis, the model's shift histograms as
    (layer ids, sizes, counts), as ``shift.model_histograms`` gives them, else None).
    ``first`` (a ``FirstFilters``) collects the first filters of each layer and ``joint``
    (a ``shift.JointCounter``, with ``binning`` only) counts the 2-D histogram, in the same pass.

    The moment sums are those of ``basis.moments`` (count, Σf, Σffᵀ of the max-abs-scaled
    filters), computed in the same streamed pass, so statistics, the basis map step and
    (with a frozen basis) the histograms cost one read of the file. Memory: the largest
    layer plus one row group.
    """
    cutoffs = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if joint is not None and binning is None:
        raise ValueError("scan: joint counts need binning = (basis, edges)")
    if binning is not None:
        projector, binner = Projector(binning[0]), Binner(binning[1])
        hist_layers, hist_sizes, hist_counts = [], [], []
    _, facts = store.filters_metadata(filters_path)
    rows = []
    seen = set()
    total = empty_moments()
    columns = FirstFilters.columns if first is not None else ()
    for layer, kernels, extra in store.iter_layer_kernels(filters_path, columns, check_finite=False, transient=True):
        if not 0 <= layer < len(facts):
            raise store.DataError(
                f"{filters_path}: rows of layer {layer}, but the file's metadata describes "
                f"{len(facts)} layers; rebuild the model's dump"
            )
        fact = facts[layer]
        if kernels.shape[0] != fact["n_filters"]:
            raise store.DataError(
                f"{filters_path}: layer {layer} holds {kernels.shape[0]} filters, "
                f"its metadata says {fact['n_filters']}; rebuild the model's dump"
            )
        # with a frozen basis, the statistics pass projects and counts the filters it scales
        counts = LayerCounts(binner, joint, projector) if binning is not None else None
        sums = compiled.layer_sums(kernels, total, counts)
        metrics = layer_metrics(kernels, fact["out_channels"], sums=sums)
        if not np.isfinite(metrics["l1_mean"]):  # a NaN or Inf weight reaches every sum
            store.check_finite_kernels(kernels, filters_path, layer)
        rows.append({"model": model, **fact, **metrics, **layer_flags(metrics, cutoffs, fact["n_filters"])})
        seen.add(layer)
        if first is not None:
            first.add(layer, kernels, extra)
        if binning is not None:
            hist_counts.append(counts.checked(filters_path, layer, kernels.shape[0]))
            hist_layers.append(layer)
            hist_sizes.append(kernels.shape[0])
    if len(seen) != len(facts):
        raise store.DataError(f"{filters_path}: layers {sorted(set(range(len(facts))) - seen)} hold no filters")
    columns = {c: [row[c] for row in rows] for c in LAYER_SCHEMA.names if c != "depth_decile"}
    columns["depth_decile"] = depth_decile(np.asarray(columns["conv_depth_norm"], dtype=np.float64))
    # built from buffers, not pa.array or pandas: either import costs a job ~0.3 s
    table = pa.table([store.arrow_column(columns[f.name], f.type) for f in LAYER_SCHEMA], schema=LAYER_SCHEMA)
    if binning is None:
        return table, total, None
    return table, total, stack_histograms(hist_layers, hist_sizes, hist_counts, binner.bins)


def write_layer_stats(
    filters_path, out_path, model: str, cutoffs: dict | None = None, *, moments_path=None,
    histograms_path=None, binning: tuple | None = None, first_path=None, first_k: int | None = None,
    joint_path=None,
) -> pa.Table:
    """Write the layer table of one model; with ``moments_path``, its moment sums too; with
    ``histograms_path`` and ``binning`` = (basis, edges), its shift histograms (and with
    ``joint_path``, the 2-D counts of c0 and c1); with ``first_path`` and ``first_k``, the
    first ``first_k`` filters of each layer: one read."""
    if joint_path is not None and histograms_path is None:
        raise ValueError("write_layer_stats: joint_path needs histograms_path and binning")
    first = FirstFilters(first_k) if first_path is not None else None
    joint = JointCounter(binning[1]) if joint_path is not None else None
    table, total, histograms = scan(
        filters_path, model, cutoffs, binning if histograms_path else None, first=first, joint=joint
    )
    store.write_table(table, out_path, store.file_metadata(model))
    if moments_path is not None:
        store.save_moments(total, moments_path)
    if histograms_path is not None:
        store.write_histograms(histograms_path, model, *histograms)
    if joint_path is not None:
        store.write_table(store.joint_table(joint.counts), joint_path, store.file_metadata(model))
    if first_path is not None:
        store.write_table(first.table(), first_path, store.file_metadata(model))
    return table
