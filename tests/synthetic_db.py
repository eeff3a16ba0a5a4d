"""Synthetic filters files in the project's layout, for tests and benchmarks, and the
layer statistics of one file as a DataFrame (what the tests compare).

``write_model`` writes ``{model}.parquet`` exactly as the dump does (same columns, row
order and metadata), with filters drawn from a group's distribution: normal filters
mixed by a group-specific 9×9 matrix, plus a share of near-zero ("sparse") filters.
Generation is vectorised, so a benchmark can write 10⁸ filters in minutes.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pyarrow as pa

from filterdb import basis, shift, stats, store

RESNET_LIKE = [(64, 64)] * 6 + [(128, 128)] * 8 + [(256, 256)] * 12 + [(512, 512)] * 6
"""(out_channels, in_channels) of 32 3×3 layers shaped like ResNet-34's: 2.5 M filters."""


def group_mixing(group: int, seed: int = 0) -> np.ndarray:
    """A 9×9 mixing matrix that gives the filters of one group their own covariance."""
    rng = np.random.default_rng([seed, group])
    return np.eye(9) + 0.6 * rng.standard_normal((9, 9))


def draw_filters(
    rng: np.random.Generator, n: int, mixing: np.ndarray, sparse_share: float = 0.0, scale: float = 0.05
) -> np.ndarray:
    """(n, 9) float32 filters: N(0, I)·mixingᵀ·scale, a share of them shrunk to sparse ones."""
    kernels = rng.standard_normal((n, 9), dtype=np.float32)
    kernels = kernels @ (mixing.T * scale).astype(np.float32)
    if sparse_share > 0:
        sparse = rng.random(n) < sparse_share
        kernels[sparse] *= np.float32(1e-4)
    return np.ascontiguousarray(kernels, dtype=np.float32)


def layer_facts(shapes: Sequence[tuple[int, int]]) -> list[dict]:
    """Dump-style layer facts for layers of the given (out_channels, in_channels)."""
    count = len(shapes)
    return [
        {
            "layer": i,
            "name": f"layer{i}.conv",
            "in_channels": int(cin),
            "out_channels": int(cout),
            "groups": 1,
            "stride": 1,
            "dilation": 1,
            "n_filters": int(cout * cin),
            "conv_depth": i,
            "conv_depth_norm": float(i / (count - 1)) if count > 1 else 0.0,
            "depth_source": "synthetic",
        }
        for i, (cout, cin) in enumerate(shapes)
    ]


def write_model(
    path: str | os.PathLike,
    model: str,
    shapes: Sequence[tuple[int, int]],
    seed: int = 0,
    group: int = 0,
    sparse_share: float = 0.02,
    kernels: Sequence[np.ndarray] | None = None,
) -> dict:
    """Write one synthetic model's filters file; returns its model info.

    kernels: optional (out·in, 9) arrays, one per layer, written instead of drawn ones.
    """
    rng = np.random.default_rng([seed, group])
    facts = layer_facts(shapes)
    mixing = group_mixing(group)
    parts = []
    for i, fact in enumerate(facts):
        if kernels is not None:
            parts.append(np.asarray(kernels[i], dtype=np.float32).reshape(-1, 9))
        else:
            parts.append(draw_filters(rng, fact["n_filters"], mixing, sparse_share))
    sizes = [f["n_filters"] for f in facts]
    layer = np.repeat(np.arange(len(facts), dtype=np.int32), sizes)
    out_ch = np.concatenate(
        [np.repeat(np.arange(f["out_channels"], dtype=np.int32), f["in_channels"]) for f in facts]
    ) if facts else np.zeros(0, np.int32)
    in_ch = np.concatenate(
        [np.tile(np.arange(f["in_channels"], dtype=np.int32), f["out_channels"]) for f in facts]
    ) if facts else np.zeros(0, np.int32)
    table = store.filters_table(layer, out_ch, in_ch, np.concatenate(parts) if parts else np.zeros((0, 9), np.float32))
    info = {
        "precision": "float32",
        "bn_folded": False,
        "n_convs": len(facts),
        "n_layers": len(facts),
        "n_filters": int(sum(sizes)),
        "excluded_layers": [],
        "depth_source": "synthetic",
        "source_detail": {"synthetic_group": int(group), "seed": int(seed)},
    }
    store.write_table(table, path, store.file_metadata(model, model_info=info, layers=facts))
    return info


def scan_table(filters_path, model: str, cutoffs: dict | None = None) -> tuple[pa.Table, dict]:
    """(per-layer table, moment sums) of one filters file: ``stats.scan`` without histograms."""
    table, total, _ = stats.scan(filters_path, model, cutoffs)
    return table, total


def scan_filters(filters_path, model: str, cutoffs: dict | None = None) -> tuple[pd.DataFrame, dict]:
    """``scan_table`` with the layer table as a DataFrame of the contract's dtypes."""
    table, total = scan_table(filters_path, model, cutoffs)
    return table.to_pandas().astype(store.LAYER_DTYPES), total


def layer_stats(filters_path, model: str, cutoffs: dict | None = None) -> pd.DataFrame:
    """One row per 3×3 layer of a filters file: its facts and metrics (``store.LAYER_SCHEMA``)."""
    return scan_filters(filters_path, model, cutoffs)[0]


def histograms_keeping_empty(filters_path, basis_: dict, edges: np.ndarray) -> pa.Table:
    """The histogram table of one model, as ``shift.model_histograms`` counts it, but a layer
    whose filters all fall outside a coefficient's range keeps its empty histogram (the
    workflow refuses it): a database holding a model unlike the basis pool's."""
    projector, binner = basis.Projector(basis_), shift.Binner(edges)
    layers, sizes, counts = [], [], []
    for layer, kernels, _ in store.iter_layer_kernels(filters_path):
        part = np.zeros((9, binner.bins), np.int64)
        for _, coefficients in projector.chunks(kernels):
            binner.add(part, coefficients)
        layers.append(layer)
        sizes.append(kernels.shape[0])
        counts.append(part)
    return store.histograms_table(*shift.stack_histograms(layers, sizes, counts, binner.bins))
