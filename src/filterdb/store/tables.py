"""The Parquet data contract (schema version 1): one home for columns, metadata and I/O.

Every table is written atomically (temporary file in the same folder, fsync, rename),
so a killed job never leaves a file that a later step could read as complete, and
deterministically (same table, same bytes).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import _pages, _writer

SCHEMA_VERSION = "1"
SCHEMA_KEY = b"filterdb.schema"
MODEL_KEY = b"filterdb.model"
MODEL_INFO_KEY = b"filterdb.model_info"  # JSON: dump facts (precision, bn_folded, ...)
LAYERS_KEY = b"filterdb.layers"  # JSON: per-layer facts of the dump, one dict per layer

FILTER_SCHEMA = pa.schema(
    [
        pa.field("layer", pa.int32(), nullable=False),
        pa.field("out_ch", pa.int32(), nullable=False),
        pa.field("in_ch", pa.int32(), nullable=False),
        pa.field("kernel", pa.list_(pa.float32(), 9), nullable=False),
    ]
)

ROW_GROUP_SIZE = 1 << 20  # filters per row group: ~40 MB, bounded memory on read


class SchemaError(ValueError):
    """A Parquet file does not follow the data contract; the message names file and column."""


class DataError(ValueError):
    """The data in a file cannot be analysed (NaN filters, empty histograms, ...)."""


def _temporary_beside(path: Path, suffix: str) -> Path:
    """Create ``.{name}.{8 hex}{suffix}`` beside ``path``, with the umask's permissions."""
    for _ in range(100):
        tmp = path.parent.absolute() / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path}: no free temporary name beside it")


def _remove_dead_temporaries(path: Path, suffix: str) -> None:
    """Delete temporaries of ``path`` left by a writer that was killed (SIGKILL, power loss).

    One job writes a given output at a time, so any such file is dead; the exact name
    pattern keeps other outputs' temporaries (even ``{name}.x.parquet``'s) out of it.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}{re.escape(suffix)}")
    for stale in path.parent.glob(f".{path.name[:1]}*"):
        if pattern.fullmatch(stale.name):
            stale.unlink(missing_ok=True)


class WriteError(OSError):
    """An output could not be written (full disk, file too large, read-only folder); names the file."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28] " prefix
        return str(self.strerror)


# errors of the file system, not of the data: the message must name the file written
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}
_WRITE_HINTS = {
    errno.ENOSPC: "free space on its file system and run again",
    errno.EDQUOT: "free space within your quota and run again",
    errno.EFBIG: "the file system limits the size of one file; write results/ to another file system",
    errno.EACCES: "the folder is not writable: check its permissions",
    errno.EPERM: "the folder is not writable: check its permissions",
    errno.EROFS: "the file system is read-only: write results/ to another one",
}


def write_error(path: Path, exc: OSError) -> OSError:
    """``exc`` as a WriteError naming ``path`` when the file system refused a write, else ``exc``.

    pyarrow raises OSError without an errno; its message carries the C library's text.
    """
    code = exc.errno if exc.errno in _WRITE_ERRNOS else next(
        (e for e in _WRITE_ERRNOS if os.strerror(e) in str(exc)), None
    )
    if code is None:
        return exc
    return WriteError(code, f"cannot write {path}: {os.strerror(code)}; {_WRITE_HINTS[code]}")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A write the file system refuses (full disk, file too large, read-only folder) is a
    WriteError naming ``path``; no temporary file is left.
    """
    path = Path(path)
    suffix = suffix or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temporaries(path, suffix)
        tmp_path = _temporary_beside(path, suffix)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield tmp_path
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        error = write_error(path, exc)
        if error is exc:
            raise
        raise error from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


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


def file_metadata(model: str | None = None, **json_values: Any) -> dict[bytes, bytes]:
    """Key-value metadata of a filterdb Parquet file."""
    meta = {SCHEMA_KEY: SCHEMA_VERSION.encode()}
    if model is not None:
        meta[MODEL_KEY] = model.encode()
    for key, value in json_values.items():
        meta[f"filterdb.{key}".encode()] = json.dumps(
            value, sort_keys=True, default=_json_default
        ).encode()
    return meta


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


def _writer_options(schema: pa.Schema) -> dict[str, Any]:
    """Parquet writer options shared by ``write_table`` and ``write_stream`` (same bytes)."""
    return dict(
        compression=compression_for(schema),
        use_dictionary=False,
        write_statistics=["layer"] if "layer" in schema.names else True,
        write_page_checksum=True,  # bit rot is an error on read, not different weights
    )


def write_table(table: pa.Table, path: str | os.PathLike, metadata: Mapping[bytes, bytes]) -> None:
    """Write ``table`` atomically and deterministically with filterdb metadata."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_path(path, suffix=".parquet") as tmp:
        if _writer.supports(table):
            # a filters table: our own writer, the layout and options below at ~1/3 of the CPU
            _writer.write(table, tmp, ROW_GROUP_SIZE, compression_for(table.schema))
        else:
            pq.write_table(table, tmp, row_group_size=ROW_GROUP_SIZE, **_writer_options(table.schema))


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
    Returns the number of rows written.
    """
    schema = schema.with_metadata({**(schema.metadata or {}), **metadata})
    fast = _writer.supports_schema(schema)  # a filters file: our writer, as in write_table
    if final_metadata is not None and not fast:
        raise ValueError("write_stream: final_metadata is supported for filters files only")
    rows = 0
    with atomic_path(path, suffix=".parquet") as tmp:
        with open(tmp, "wb") if fast else pq.ParquetWriter(tmp, schema, **_writer_options(schema)) as handle:
            writer = _writer.Writer(handle, schema, compression_for(schema)) if fast else None

            def write_row_group(table: pa.Table) -> None:
                if writer is None:
                    handle.write_table(table, row_group_size=ROW_GROUP_SIZE)
                elif _writer.supports(table):
                    writer.write_row_group(table)
                else:  # a null: it would be read as NaN, and fail every analysis
                    raise DataError(f"{path}: the filters to write have null values")

            pending: list[pa.Table] = []
            pending_rows = 0
            for table in tables:
                pending.append(table.cast(schema.remove_metadata()) if not table.schema.equals(schema, check_metadata=False) else table)
                pending_rows += table.num_rows
                while pending_rows >= ROW_GROUP_SIZE:
                    whole = pa.concat_tables(pending)
                    write_row_group(whole.slice(0, ROW_GROUP_SIZE).combine_chunks())
                    rest = whole.slice(ROW_GROUP_SIZE)
                    pending, pending_rows = [rest], rest.num_rows
                    rows += ROW_GROUP_SIZE
            if pending_rows:
                write_row_group(pa.concat_tables(pending).combine_chunks())
                rows += pending_rows
            if writer is not None:
                late = dict(final_metadata()) if final_metadata is not None else {}
                writer.schema = writer.schema.with_metadata({**writer.schema.metadata, **late})
                writer.close()
    return rows


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


def json_meta(meta: Mapping[bytes, bytes], key: bytes, default: Any = None) -> Any:
    raw = meta.get(key)
    return default if raw is None else json.loads(raw)


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
        layers = _column_numpy(small.column(0))
        extra = {c: _column_numpy(small.column(1 + i)) for i, c in enumerate(columns)}
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


def _column_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as numpy, straight from its buffer where it has no nulls: Arrow's
    ``to_numpy`` imports pandas on its first call (~0.3 s, in every per-model job)."""
    array = column.combine_chunks()
    dtype = _NUMPY_OF.get(array.type)
    if dtype is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    return _writer.primitive_values(array, dtype)


def check_finite_kernels(kernels: np.ndarray, path, layer) -> None:
    """Raise DataError naming file and layer when any weight is NaN or Inf."""
    if not np.isfinite(kernels).all():
        bad = int((~np.isfinite(kernels)).any(axis=1).sum())
        raise DataError(
            f"{path}: layer {layer} has {bad} filters with NaN or Inf weights; "
            "exclude the layer at dump time (extract.on_nonfinite: exclude) or fix the source"
        )


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
