"""Filters files, ``results/filters/{model}.parquet``: one row per 3×3 kernel.

Columns ``layer``, ``out_ch``, ``in_ch`` (int32) and ``kernel`` (fixed_size_list<float32>[9]),
rows sorted by layer, in row groups of ``tables.ROW_GROUP_SIZE`` filters; the model id,
its dump facts and its layer facts in the key-value metadata. Written by pyarrow
(``tables.write_table``/``write_stream``); read layer by layer with bounded memory,
through the page reader (``_pages``) where the file allows it, else through pyarrow.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import _pages
from ..errors import DataError, SchemaError
from .tables import LAYERS_KEY, MODEL_INFO_KEY, check_version, column_numpy, json_meta, numpy_array

FILTER_SCHEMA = pa.schema(
    [
        pa.field("layer", pa.int32(), nullable=False),
        pa.field("out_ch", pa.int32(), nullable=False),
        pa.field("in_ch", pa.int32(), nullable=False),
        pa.field("kernel", pa.list_(pa.float32(), 9), nullable=False),
    ]
)


class FiltersDigest:
    """sha256 of a model's filters: each layer's filter count, then its float32 kernels.

    Bit-identical models (same layers, same weights) have the same digest, whatever
    their ids or sources; fed layer by layer, or chunk by chunk within a layer
    (``add``), it gives the same value.
    """

    def __init__(self):
        self._hash = hashlib.sha256()

    def start_layer(self, n_filters: int) -> None:
        self._hash.update(int(n_filters).to_bytes(8, "little"))

    def add(self, kernels: np.ndarray) -> None:
        self._hash.update(np.ascontiguousarray(kernels, dtype=np.float32).reshape(-1, 9).data)

    def layers(self, kernels: Iterable[np.ndarray]) -> "FiltersDigest":
        for block in kernels:
            self.start_layer(len(block))
            self.add(block)
        return self

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def filters_table(
    layer: np.ndarray, out_ch: np.ndarray, in_ch: np.ndarray, kernels: np.ndarray | Sequence[np.ndarray]
) -> pa.Table:
    """The filters table from column arrays; kernels has shape (n, 9), or is a list of such
    arrays (e.g. one per layer), kept as chunks of the kernel column rather than copied
    into one array: the written file is byte for byte the same."""
    if isinstance(kernels, np.ndarray):
        kernels = [kernels]
    chunks = [
        pa.FixedSizeListArray.from_arrays(
            numpy_array(np.ascontiguousarray(k, dtype=np.float32).reshape(-1), np.float32, pa.float32()), 9
        )
        for k in (kernels or [np.zeros((0, 9), np.float32)])
    ]
    return pa.table(
        [
            numpy_array(layer, np.int32, pa.int32()),
            numpy_array(out_ch, np.int32, pa.int32()),
            numpy_array(in_ch, np.int32, pa.int32()),
            pa.chunked_array(chunks, FILTER_SCHEMA.field("kernel").type),
        ],
        schema=FILTER_SCHEMA,
    )


def _same_type(found: pa.DataType, expected: pa.DataType) -> bool:
    """Type equality that ignores the nullability (and name) of a fixed-size list's item."""
    if pa.types.is_fixed_size_list(found) and pa.types.is_fixed_size_list(expected):
        return found.list_size == expected.list_size and found.value_type.equals(expected.value_type)
    return found.equals(expected)


def open_filters(path: str | os.PathLike) -> pq.ParquetFile:
    """Open a filters file and check its schema; errors name the file and the column."""
    try:
        handle = pq.ParquetFile(path, page_checksum_verification=True)
    except Exception as exc:
        raise SchemaError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc}); "
            "delete it and rebuild the model"
        ) from exc
    schema = handle.schema_arrow
    check_version(path, schema)
    for field in FILTER_SCHEMA:
        if field.name not in schema.names:
            raise SchemaError(f"{path}: column {field.name!r} is missing")
        if not _same_type(schema.field(field.name).type, field.type):
            raise SchemaError(
                f"{path}: column {field.name!r} has type {schema.field(field.name).type}, "
                f"expected {field.type}"
            )
    return handle


def filters_metadata(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """(model_info, layers) stored in a filters file's metadata by the dump step.

    The layer facts are checked against each other and the file's row count (see
    ``check_layer_facts``): a file whose metadata was altered is a SchemaError naming it.
    """
    handle = open_filters(path)
    meta = handle.schema_arrow.metadata
    try:
        info, facts = json_meta(meta, MODEL_INFO_KEY, {}), json_meta(meta, LAYERS_KEY, [])
    except ValueError as exc:
        raise SchemaError(
            f"{path}: its layer metadata is not valid JSON ({exc}); delete the file and rebuild the model"
        ) from None
    check_layer_facts(path, info, facts, handle.metadata.num_rows)
    return info, facts


_FACT_KEYS = ("layer", "name", "in_channels", "out_channels", "groups", "n_filters")


def check_layer_facts(path, info: Mapping, facts: Sequence[Mapping], num_rows: int) -> None:
    """Raise SchemaError, naming the file and layer, where the layer facts contradict
    themselves: layer indices 0…n−1, unique names, n_filters = out × in / groups with
    groups dividing both channel counts, and the filters adding up to the file's rows."""
    problem = None
    if not isinstance(info, Mapping) or not isinstance(facts, list):
        problem = "the model info or the layer list has the wrong shape"
    names: dict[str, int] = {}
    for position, fact in enumerate(facts if problem is None else []):
        missing = [k for k in _FACT_KEYS if not isinstance(fact, Mapping) or k not in fact]
        if missing:
            problem = f"layer {position} has no {', '.join(missing)}"
            break
        label = f"layer {position} ({fact['name']!r})"
        numbers = [fact[k] for k in ("layer", "in_channels", "out_channels", "groups", "n_filters")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
            problem = f"{label} has a non-integer count"
        elif fact["layer"] != position:
            problem = f"{label} says it is layer {fact['layer']}"
        elif fact["name"] in names:
            problem = f"layers {names[fact['name']]} and {position} have the same name {fact['name']!r}"
        elif fact["groups"] < 1 or fact["in_channels"] % fact["groups"] or fact["out_channels"] % fact["groups"]:
            problem = (
                f"{label}: groups={fact['groups']} does not divide in_channels={fact['in_channels']} "
                f"and out_channels={fact['out_channels']}"
            )
        elif fact["n_filters"] != fact["out_channels"] * (fact["in_channels"] // fact["groups"]):
            problem = (
                f"{label}: n_filters={fact['n_filters']}, but out_channels × in_channels / groups = "
                f"{fact['out_channels']} × {fact['in_channels']} / {fact['groups']}"
            )
        if problem:
            break
        names[fact["name"]] = position
    if problem is None:
        total = sum(f["n_filters"] for f in facts)
        if total != num_rows:
            problem = f"its layers hold {total} filters in all, but the file has {num_rows} rows"
        elif "n_filters" in info and info["n_filters"] != total:
            problem = f"the model info says {info['n_filters']} filters, its layers {total}"
    if problem:
        raise SchemaError(
            f"{path}: inconsistent layer metadata: {problem}; delete the file and rebuild the model"
        )


def iter_layer_kernels(
    path: str | os.PathLike,
    columns: tuple[str, ...] = (),
    *,
    check_finite: bool = True,
    use_threads: bool = False,
    fast: bool = True,
    transient: bool = False,
) -> Iterator[tuple[int, np.ndarray, dict]]:
    """Stream a filters file layer by layer: (layer, kernels (n, 9) float32, extra columns).

    Rows are stored sorted by layer, so one layer is contiguous; memory is bounded by
    the largest layer plus one row group. Raises DataError naming the file and layer
    for non-finite weights (``check_finite=False`` leaves that check to the caller, who
    can do it for free on sums it computes anyway) and for rows not grouped by layer.
    The file is read one row group at a time; ``fast`` reads the kernel values straight
    from the data pages (``_pages``) where the file allows it, else through pyarrow.
    One job is one core in the workflow, so pyarrow's threads are off by default.

    ``transient``: every row group is read into the same buffer, so a yielded layer is
    valid only until the next one is requested (a pass that reduces each layer as it
    comes). A fresh 36 MB buffer per row group costs ~5 ns per filter in page faults.
    """
    handle = open_filters(path)
    for column in columns:
        if column not in handle.schema_arrow.names:
            raise SchemaError(f"{path}: column {column!r} is missing")
    leaf = next(i for i in range(len(handle.schema)) if handle.schema.column(i).path.split(".")[0] == "kernel")
    with _pages.KernelPages(path) as pages:
        yield from _layers_of_row_groups(
            handle, path, pages if fast else None, leaf, columns, check_finite, use_threads, transient
        )


def _layers_of_row_groups(handle, path, pages, leaf, columns, check_finite, use_threads, transient):
    pending_layer: int | None = None
    pending: list[tuple[np.ndarray, dict]] = []
    done: set[int] = set()

    def flush():
        kernels = np.concatenate([k for k, _ in pending]) if len(pending) > 1 else pending[0][0]
        extra = {c: np.concatenate([e[c] for _, e in pending]) for c in columns}
        if check_finite:
            check_finite_kernels(kernels, path, pending_layer)
        done.add(pending_layer)
        return pending_layer, kernels, extra

    buffer = None
    for group in range(handle.num_row_groups):
        try:
            small = handle.read_row_group(group, columns=["layer", *columns], use_threads=use_threads)
        except (OSError, pa.ArrowException) as exc:  # a page of the layer column whose CRC does not match
            raise DataError(
                f"{path}: row group {group} is damaged ({exc}); delete the file and rebuild the model"
            ) from None
        if small.num_rows == 0:
            continue
        if transient:
            if buffer is None or buffer.size < 9 * small.num_rows:
                buffer = np.empty(9 * small.num_rows, np.float32)
            # a layer that goes on into this row group keeps a copy of its earlier rows
            pending = [(np.array(k), e) for k, e in pending]
        values = pages.values(handle, group, leaf, buffer) if pages is not None else None
        if values is None:  # the general reader; a null weight becomes NaN (and fails the check)
            try:
                column = handle.read_row_group(group, columns=["kernel"], use_threads=use_threads).column(0)
            except OSError as exc:  # a page whose CRC does not match
                raise DataError(
                    f"{path}: row group {group} is damaged ({exc}); delete the file and rebuild the model"
                ) from exc
            values = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
        kernels = values.reshape(-1, 9)
        layers = column_numpy(small.column(0))
        extra = {c: column_numpy(small.column(1 + i)) for i, c in enumerate(columns)}
        cuts = np.flatnonzero(layers[1:] != layers[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(layers)]])
        for start, end in zip(starts, ends):
            layer = int(layers[start])
            if pending_layer is not None and layer != pending_layer:
                yield flush()
                pending = []
            if layer in done:
                raise DataError(
                    f"{path}: the rows of layer {layer} are not contiguous (the file is not "
                    "sorted by layer); rewrite it with the dump or importer"
                )
            pending_layer = layer
            pending.append((kernels[start:end], {c: v[start:end] for c, v in extra.items()}))
    if pending:
        yield flush()


def check_finite_kernels(kernels: np.ndarray, path, layer) -> None:
    """Raise DataError naming file and layer when any weight is NaN or Inf."""
    if not np.isfinite(kernels).all():
        bad = int((~np.isfinite(kernels)).any(axis=1).sum())
        raise DataError(
            f"{path}: layer {layer} has {bad} filters with NaN or Inf weights; "
            "exclude the layer at dump time (extract.on_nonfinite: exclude) or fix the source"
        )
