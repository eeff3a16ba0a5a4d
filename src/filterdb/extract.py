"""Dump: a loaded model's 3×3 kernels into ``results/filters/{model}.parquet``.

Depth is ranked over every conv of the model (any kernel size); only 3×3 kernels are
written. Layer facts (name, shape, depth) travel in the file's metadata, so a filters
file describes itself and the statistics step needs nothing else.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from .errors import SourceError
from .model import ConvLayer, LoadedModel

log = logging.getLogger(__name__)


def depth_ranks(distances: list[int]) -> tuple[list[int], int]:
    """Rank of each distance among the distinct distances, and the number of distinct ones."""
    distinct = sorted(set(distances))
    rank = {d: i for i, d in enumerate(distinct)}
    return [rank[d] for d in distances], len(distinct)


def check_conv(model: str, conv: ConvLayer) -> None:
    """A conv layer any reader built must be one: 4-D float weights, groups that divide it.

    Integer weights without their scale are quantised codes, not weights: analysing them
    as weights would give every metric a wrong value, so they are refused here, for
    every reader (readers dequantise when the file stores the scale).
    """
    weight = np.asarray(conv.weight)
    where = f"model {model!r}: layer {conv.name!r}"
    if weight.ndim != 4:
        raise SourceError(
            f"{where}: weight of shape {list(weight.shape)}, expected 4-D (out, in/groups, kh, kw)"
        )
    if not np.issubdtype(weight.dtype, np.floating):
        raise SourceError(
            f"{where}: weights stored as {weight.dtype} with no scale; these are quantised codes, not "
            "weights. Dequantise them (weights = scale × (codes − zero point)) before adding the model"
        )
    groups = conv.groups
    if not isinstance(groups, (int, np.integer)) or groups < 1 or weight.shape[0] % groups:
        raise SourceError(
            f"{where}: groups={groups!r} does not fit {weight.shape[0]} output channels "
            "(a convolution has at least one group, and the groups divide its output channels)"
        )


def plan_layers(loaded: LoadedModel, on_nonfinite: str = "error") -> tuple[list[dict], list[np.ndarray], list[dict]]:
    """The 3×3 layers of a model: their facts, their (n, 9) float32 kernels, and exclusions.

    on_nonfinite: "error" raises a SourceError naming the model and layer; "exclude"
    drops the layer and records it with its count of non-finite filters.
    """
    ranks, count = depth_ranks([c.distance for c in loaded.convs])
    facts: list[dict] = []
    kernels: list[np.ndarray] = []
    excluded: list[dict] = []
    for conv, rank in zip(loaded.convs, ranks):
        check_conv(loaded.model, conv)
        if conv.kernel_size != (3, 3):
            continue
        weight = np.asarray(conv.weight, dtype=np.float32)
        flat = weight.reshape(-1, 9)
        # one flat pass (~2 ns/filter); the per-filter count (~18 ns/filter) only for a bad layer
        if not np.isfinite(flat).all():
            bad = int((~np.isfinite(flat).all(axis=1)).sum())
            if on_nonfinite != "exclude":
                raise SourceError(
                    f"model {loaded.model!r}: layer {conv.name!r} has {bad} filters with NaN or "
                    "Inf weights; fix the checkpoint or set extract.on_nonfinite: exclude"
                )
            log.warning("model %s: layer %s excluded: %d non-finite filters", loaded.model, conv.name, bad)
            excluded.append({"name": conv.name, "nonfinite_filters": bad, "n_filters": int(flat.shape[0])})
            continue
        facts.append(
            {
                "layer": len(facts),
                "name": conv.name,
                "in_channels": conv.in_channels,
                "out_channels": conv.out_channels,
                "groups": int(conv.groups),
                "stride": int(conv.stride[0]),
                "dilation": int(conv.dilation[0]),
                "n_filters": int(flat.shape[0]),
                "conv_depth": int(rank),
                "conv_depth_norm": float(rank / (count - 1)) if count > 1 else 0.0,
                "depth_source": loaded.depth_source,
            }
        )
        kernels.append(flat)
    return facts, kernels, excluded


def model_info(loaded: LoadedModel, facts: list[dict], excluded: list[dict]) -> dict[str, Any]:
    return {
        "precision": loaded.precision,
        "bn_folded": bool(loaded.bn_folded),
        "n_convs": len(loaded.convs),
        "n_layers": len(facts),
        "n_filters": int(sum(f["n_filters"] for f in facts)),
        "excluded_layers": excluded,
        "depth_source": loaded.depth_source,
        "source_detail": dict(loaded.source_detail),
    }


def write_filters(loaded: LoadedModel, path: str | os.PathLike, on_nonfinite: str = "error") -> dict[str, Any]:
    """Write the model's filters file; returns the model info stored in its metadata."""
    from . import store  # here, not at import: pyarrow costs `filterdb inspect` more than its metrics

    facts, kernels, excluded = plan_layers(loaded, on_nonfinite)
    info = model_info(loaded, facts, excluded)
    info["filters_sha256"] = store.FiltersDigest().layers(kernels).hexdigest()
    if info["n_filters"] == 0:
        log.warning("model %s has no 3×3 convolutions: it stays in the model table with 0 filters", loaded.model)
    sizes = [k.shape[0] for k in kernels]
    layer = np.repeat(np.arange(len(kernels), dtype=np.int32), sizes)
    out_ch, in_ch = [], []
    for fact in facts:
        per_group = fact["in_channels"] // fact["groups"]
        out_ch.append(np.repeat(np.arange(fact["out_channels"], dtype=np.int32), per_group))
        in_ch.append(np.tile(np.arange(per_group, dtype=np.int32), fact["out_channels"]))
    empty = np.zeros(0, np.int32)
    table = store.filters_table(
        layer,
        np.concatenate(out_ch) if out_ch else empty,
        np.concatenate(in_ch) if in_ch else empty,
        kernels,  # one chunk per layer, not copied into one array: the file's bytes are the same
    )
    store.write_table(table, path, store.file_metadata(loaded.model, model_info=info, layers=facts))
    return info
