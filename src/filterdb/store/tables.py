"""Parquet tables of the data contract (schema version 1): metadata, options, the tables'
schemas, and their reads and writes.

Every table is written atomically (``files.atomic_path``) and deterministically (same
table, same bytes) by pyarrow, with the options below; every read checks the schema
version and names the file and column that break the contract.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError, SchemaError
from .files import atomic_path, json_default

SCHEMA_VERSION = "1"
SCHEMA_KEY = b"filterdb.schema"
MODEL_KEY = b"filterdb.model"
MODEL_INFO_KEY = b"filterdb.model_info"  # JSON: dump facts (precision, bn_folded, ...)
LAYERS_KEY = b"filterdb.layers"  # JSON: per-layer facts of the dump, one dict per layer

ROW_GROUP_SIZE = 1 << 20  # rows per row group: a filters file's ~40 MB, bounded memory on read

# -- the tables' schemas -------------------------------------------------------------

MODEL_COLUMNS = [
    "model", "source", "reference", "architecture", "family", "task", "visual_category",
    "training_dataset", "pretrained", "trained", "precision", "stored_precision", "bn_folded", "n_convs",
    "n_layers", "n_filters", "n_excluded_layers", "depth_source", "filters_sha256", "duplicate_of",
]  # fmt: skip
"""The first columns of ``results/db/models.parquet``, in order; sheet columns follow, sorted."""

LAYER_COLUMNS = [
    "model", "layer", "name", "in_channels", "out_channels", "groups", "stride", "dilation",
    "n_filters", "conv_depth", "conv_depth_norm", "depth_decile", "depth_source",
    "sparsity", "variance_entropy", "randomness_threshold", "entropy_ratio", "clean_entropy",
    "n_clean", "orthogonality", "l1_mean", "l2_mean", "abs_max",
    "flag_sparse", "flag_collapsed", "flag_random_like",
]  # fmt: skip
"""The columns of ``results/layers/{model}.parquet`` (and ``results/db/layers.parquet``)."""

LAYER_DTYPES = {
    "model": "string", "layer": "int32", "name": "string", "in_channels": "int32",
    "out_channels": "int32", "groups": "int32", "stride": "int32", "dilation": "int32",
    "n_filters": "int64", "conv_depth": "int32", "conv_depth_norm": "float64",
    "depth_decile": "int32", "depth_source": "string", "n_clean": "int64",
    "flag_sparse": "bool", "flag_collapsed": "bool", "flag_random_like": "bool",
}  # fmt: skip
"""pandas dtypes of the layer columns that are not float64."""

_ARROW_OF = {"string": pa.large_string(), "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
LAYER_SCHEMA = pa.schema([pa.field(c, _ARROW_OF[LAYER_DTYPES.get(c, "float64")]) for c in LAYER_COLUMNS])


# -- metadata ------------------------------------------------------------------------


def file_metadata(model: str | None = None, **json_values: Any) -> dict[bytes, bytes]:
    """Key-value metadata of a filterdb Parquet file."""
    meta = {SCHEMA_KEY: SCHEMA_VERSION.encode()}
    if model is not None:
        meta[MODEL_KEY] = model.encode()
    for key, value in json_values.items():
        meta[f"filterdb.{key}".encode()] = json.dumps(value, sort_keys=True, default=json_default).encode()
    return meta


def json_meta(meta: Mapping[bytes, bytes], key: bytes, default: Any = None) -> Any:
    raw = meta.get(key)
    return default if raw is None else json.loads(raw)


def check_version(path: str | os.PathLike, schema: pa.Schema) -> dict[bytes, bytes]:
    meta = schema.metadata or {}
    version = meta.get(SCHEMA_KEY)
    if version is None:
        raise SchemaError(f"{path}: not a filterdb file (no 'filterdb.schema' metadata)")
    if version.decode() != SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: schema version {version.decode()!r}, this filterdb reads version "
            f"{SCHEMA_VERSION!r}; rebuild the file with this version"
        )
    return meta


# -- writing -------------------------------------------------------------------------


def compression_for(schema: pa.Schema) -> str | dict[str, str]:
    """zstd everywhere, except the kernel values of a filters file: snappy.

    Filter weights are nearly incompressible (zstd saves ~10 %), and zstd decoding of
    them was half the cost of every pass over a filters file: snappy reads ~2× and
    writes ~1.5× faster for ~10 % more disk (docs/benchmarks.md).
    """
    if "kernel" not in schema.names:
        return "zstd"
    codecs = {f.name: "zstd" for f in schema if f.name != "kernel"}
    codecs["kernel.list.element"] = "snappy"  # the Parquet leaf of a fixed_size_list column
    return codecs


def writer_options(schema: pa.Schema) -> dict[str, Any]:
    """Parquet writer options shared by ``write_table`` and ``write_stream`` (same bytes).

    Data pages v1 with PLAIN values and no dictionary: the layout the page reader
    (``_pages``) reads; min/max statistics of ``layer`` let readers prune row groups.
    """
    return dict(
        compression=compression_for(schema),
        use_dictionary=False,
        write_statistics=["layer"] if "layer" in schema.names else True,
        data_page_version="1.0",
        write_page_checksum=True,  # bit rot is an error on read, not different weights
    )


def write_table(table: pa.Table, path: str | os.PathLike, metadata: Mapping[bytes, bytes]) -> None:
    """Write ``table`` atomically and deterministically with filterdb metadata, in row
    groups of ROW_GROUP_SIZE rows."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_SIZE, **writer_options(table.schema))


def write_stream(
    tables: Iterable[pa.Table],
    path: str | os.PathLike,
    schema: pa.Schema,
    metadata: Mapping[bytes, bytes],
    final_metadata: Callable[[], Mapping[bytes, bytes]] | None = None,
) -> int:
    """Write a stream of tables as one file, atomically, with ``write_table``'s options.

    Memory holds one incoming table plus one row group: a file of any size is written
    with bounded memory. Incoming tables are re-cut into row groups of ROW_GROUP_SIZE
    rows, so the file has the same row groups (and bytes) as ``write_table`` would give.
    ``final_metadata``: called once the stream is consumed, its entries replace those
    of ``metadata`` in the footer (facts known only at the end, e.g. a digest of the rows).
    A null in a filters table's kernels is a DataError naming the file (it would be read
    as NaN and fail every analysis). Returns the number of rows written.
    """
    schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    bare = schema.remove_metadata()
    filters = "kernel" in schema.names
    rows = 0
    with atomic_path(path, suffix=".parquet") as tmp:
        with pq.ParquetWriter(tmp, schema, **writer_options(schema)) as writer:

            def write_row_group(table: pa.Table) -> None:
                if filters and has_nulls(table):
                    raise DataError(f"{path}: the filters to write have null values")
                writer.write_table(table, row_group_size=ROW_GROUP_SIZE)

            pending: list[pa.Table] = []
            pending_rows = 0
            for table in tables:
                pending.append(table if table.schema.equals(bare, check_metadata=False) else table.cast(bare))
                pending_rows += table.num_rows
                while pending_rows >= ROW_GROUP_SIZE:
                    whole = pa.concat_tables(pending)
                    write_row_group(whole.slice(0, ROW_GROUP_SIZE).combine_chunks())
                    rest = whole.slice(ROW_GROUP_SIZE)
                    pending, pending_rows = [rest], rest.num_rows
                    rows += ROW_GROUP_SIZE
            if pending_rows or not rows:  # no rows: one empty row group, as write_table gives
                write_row_group(pa.concat_tables(pending).combine_chunks() if pending else bare.empty_table())
                rows += pending_rows
            if final_metadata is not None:
                late = dict(final_metadata())
                # Arrow readers take the schema's metadata from ARROW:schema (pyarrow's own
                # serialisation of the schema, written when the file was opened): replace it too
                final = schema.with_metadata({**schema.metadata, **late})
                writer.add_key_value_metadata({**late, b"ARROW:schema": base64.b64encode(final.serialize().to_pybytes())})
    return rows


def has_nulls(table: pa.Table) -> bool:
    """Whether a filters table holds a null: in a column, or among the kernels' values
    (anywhere in a chunk's values, even outside a slice of it)."""
    return any(column.null_count for column in table.columns) or any(
        chunk.values.null_count for chunk in table.column("kernel").chunks
    )


_NUMPY_OF = {pa.int32(): np.int32, pa.int64(): np.int64, pa.float32(): np.float32, pa.float64(): np.float64}


def numpy_array(values: Any, dtype: type, arrow_type: pa.DataType) -> pa.Array:
    """A 1-D Arrow array over a numpy array of ``dtype``, zero-copy where it is contiguous.

    ``pa.array`` on a numpy array imports pandas on its first call (~0.2 s CPU, more than
    writing a million filters); building from the buffer does not. Other inputs go
    through ``pa.array`` and its checked conversion, as before.
    """
    if not isinstance(values, np.ndarray) or values.dtype != dtype:
        return pa.array(values, arrow_type)
    values = np.ascontiguousarray(values).reshape(-1)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def arrow_column(values: Sequence, arrow_type: pa.DataType) -> pa.Array:
    """A column without nulls from Python values or numpy, built from buffers: ``pa.array``
    imports pandas on its first call (~0.3 s, in every per-model job). Strings, bools,
    ints and floats; anything else (or a None) goes through ``pa.array``."""
    if any(v is None for v in values):
        return pa.array(list(values), arrow_type)
    if pa.types.is_large_string(arrow_type) or pa.types.is_string(arrow_type):
        data = [str(v).encode() for v in values]
        offsets = np.zeros(len(data) + 1, np.int64 if pa.types.is_large_string(arrow_type) else np.int32)
        np.cumsum([len(d) for d in data], out=offsets[1:])
        return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])
    if pa.types.is_boolean(arrow_type):
        bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
        return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(bits)])
    dtype = _NUMPY_OF.get(arrow_type)
    if dtype is None:
        return pa.array(list(values), arrow_type)
    return numpy_array(np.asarray(values, dtype=dtype), dtype, arrow_type)


def primitive_values(array: pa.Array, dtype: type) -> np.ndarray:
    """The values of a primitive array without nulls, read from its data buffer.

    (``ChunkedArray.to_numpy`` and ``flatten`` would import pandas and pyarrow.compute:
    ~0.2 s CPU in a fresh process, the cost of writing a million filters.)
    """
    if len(array) == 0:  # (its data buffer may be absent)
        return np.empty(0, dtype)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype, count=len(array), offset=itemsize * array.offset)


def column_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as numpy, straight from its buffer where it has no nulls: Arrow's
    ``to_numpy`` imports pandas on its first call (~0.3 s, in every per-model job)."""
    array = column.combine_chunks()
    dtype = _NUMPY_OF.get(array.type)
    if dtype is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    return primitive_values(array, dtype)


# -- reading -------------------------------------------------------------------------


def read_schema(path: str | os.PathLike) -> pa.Schema:
    """The Arrow schema of a filterdb Parquet file, after a version check."""
    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise SchemaError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
    check_version(path, schema)
    return schema


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pa.Table:
    """Read a small filterdb table (layers, models, histograms) with a version check."""
    schema = read_schema(path)
    if columns:
        for column in columns:
            if column not in schema.names:
                raise SchemaError(f"{path}: column {column!r} is missing")
    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except OSError as exc:
        raise DataError(f"{path}: damaged ({exc}); delete the file and rebuild it") from exc


def model_id_of(path: str | os.PathLike, default: str | None = None) -> str:
    """The model id in a per-model file's metadata (filters, layers, histograms, figure data).

    ``default``: the id of a file without one; without a default that is a SchemaError.
    """
    model = read_schema(path).metadata.get(MODEL_KEY)
    if model is not None:
        return model.decode()
    if default is None:
        raise SchemaError(f"{path}: no model id in its metadata ('filterdb.model'); rebuild the file")
    return default


# -- the database's model and layer tables ----------------------------------------------


def write_frame(frame, path: str | os.PathLike, model: str | None = None) -> None:
    """A pandas table (the model or layer table) as a filterdb Parquet file."""
    write_table(pa.Table.from_pandas(frame, preserve_index=False), path, file_metadata(model))


def read_frame(path: str | os.PathLike, columns: list[str] | None = None):
    """A filterdb table (models, layers) as a pandas DataFrame."""
    return read_table(path, columns).to_pandas()


def read_models(path: str | os.PathLike):
    """``results/db/models.parquet`` as a DataFrame."""
    return read_frame(path)


def read_layers(path: str | os.PathLike):
    """``results/db/layers.parquet`` (or one model's layer table) as a DataFrame."""
    return read_frame(path)


def concat_layer_tables(paths: Iterable[str | os.PathLike]) -> pa.Table:
    """Per-model layer tables as one table (small: one row per layer), without their metadata."""
    tables = [read_table(p).replace_schema_metadata(None) for p in paths]
    return pa.concat_tables(tables, promote_options="default")
