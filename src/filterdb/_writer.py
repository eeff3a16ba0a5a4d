"""A Parquet writer for one table layout only: the filters table (``io.FILTER_SCHEMA``).

pyarrow writes the kernel column, a fixed_size_list<float32>[9], through its generic
nested-column writer, which computes and encodes a repetition and a definition level
for each of the nine values of every filter: ~100 ns per filter, where np.save of the
same weights costs ~11. For our layout (no nulls, nine values a row) those levels are the
same for every row, so a page's level bytes depend only on its number of rows, and its
values are the raw float32 bytes. This module is the mirror of ``_pages`` (the reader):
it writes the pages and the footer itself, in the layout pyarrow gives this table:

* data pages v1, PLAIN values, levels RLE/bit-packed with a 4-byte length;
* at most 20,000 rows a page (pyarrow's default ``max_rows_per_page``; 20,000 filters are
  720 kB of values, under its 1 MB ``data_page_size``), cut per row group as pyarrow does;
* pages compressed by Arrow's own codecs (``pa.Codec``, at their default level, as the
  Parquet writer uses them), each with the CRC-32 of its compressed body;
* min/max statistics for ``layer`` only (chunk and page), as ``io._writer_options`` asks;
* the same Parquet schema, and the same key-value metadata, ``ARROW:schema`` included:
  pyarrow's own IPC serialisation of the table's schema, base64-encoded, so Arrow readers
  get the same Arrow schema back (the nullable list item, the field order, the metadata).

``supports`` says whether a table has exactly that layout; the caller keeps pyarrow's
writer for everything else. Same table, same bytes: nothing here depends on time or
on the machine, except ``created_by``, which names this writer and its version.
"""

from __future__ import annotations

import base64
import functools
import os
import zlib
from typing import BinaryIO, Mapping

import numpy as np
import pyarrow as pa

from . import __version__

PAGE_ROWS = 20_000
CREATED_BY = f"filterdb version {__version__} (filters writer)".encode()

# Parquet enums (parquet.thrift)
_INT32, _FLOAT = 1, 4  # Type
_REQUIRED, _OPTIONAL, _REPEATED = 0, 1, 2  # FieldRepetitionType
_PLAIN, _RLE = 0, 3  # Encoding
_CONVERTED_LIST = 3  # ConvertedType
_DATA_PAGE = 0  # PageType
_CODECS = {"uncompressed": 0, "snappy": 1, "gzip": 2, "brotli": 4, "zstd": 6, "lz4_raw": 7}

# Thrift compact protocol types
_TRUE, _I32, _I64, _BINARY, _LIST, _STRUCT = 1, 5, 6, 8, 9, 12

_INT_COLUMNS = ("layer", "out_ch", "in_ch")
_KERNEL_PATH = "kernel.list.element"  # the Parquet leaf of the kernel column
# Levels of the kernel leaf: required kernel > repeated list > optional element
_MAX_DEF = 2
_ROW_REP = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1], np.uint8)  # a new row, then 8 more values of it


def supports_schema(schema: pa.Schema) -> bool:
    """Whether ``schema`` is the layout this writer encodes (else use pyarrow)."""
    if schema.names != [*_INT_COLUMNS, "kernel"] or b"ARROW:schema" in (schema.metadata or {}):
        return False
    if any(field.nullable or field.metadata for field in schema):
        return False
    if not all(schema.field(name).type == pa.int32() for name in _INT_COLUMNS):
        return False
    kernel = schema.field("kernel").type
    return (
        pa.types.is_fixed_size_list(kernel)
        and kernel.list_size == 9
        and kernel.value_type == pa.float32()
        and kernel.value_field.nullable  # the Parquet schema below has an optional element
        and not kernel.value_field.metadata
    )


def supports(table: pa.Table) -> bool:
    """Whether this writer gives ``table`` the file pyarrow would: its layout, and no nulls.

    A null weight needs a definition level below the maximum: not our constant levels.
    """
    return (
        supports_schema(table.schema)
        and not any(column.null_count for column in table.columns)
        # (a null anywhere in a chunk's values, even outside a slice of it, leaves it to pyarrow)
        and all(chunk.values.null_count == 0 for chunk in table.column("kernel").chunks)
    )


def write(table: pa.Table, path: str | os.PathLike, row_group_size: int, codecs: Mapping[str, str]) -> None:
    """Write ``table`` (``supports(table)`` must hold) to ``path`` as ``pq.write_table``
    would: row groups of ``row_group_size`` rows, one empty one for no rows (the same
    (table, path) arguments first, so a test hook on one fits the other).
    ``codecs``: Parquet column path → codec name, as ``io.compression_for`` gives them.
    """
    with open(path, "wb") as file:
        writer = Writer(file, table.schema, codecs)
        for start in range(0, max(table.num_rows, 1), row_group_size):
            writer.write_row_group(table.slice(start, row_group_size))
        writer.close()


class Writer:
    """A filters file written row group by row group (``pq.ParquetWriter``'s role);
    ``close`` writes the footer. ``schema`` (with the file's metadata) must pass
    ``supports_schema``, and every row group ``supports``."""

    def __init__(self, file: BinaryIO, schema: pa.Schema, codecs: Mapping[str, str]):
        self.out = _Output(file)
        self.schema, self.codecs = schema, codecs
        self.row_groups: list = []
        self.rows = 0
        # one buffer for every kernel page: levels, then values (the codec takes one input)
        self.buffer = np.empty(len(_levels(PAGE_ROWS)) + 36 * PAGE_ROWS, np.uint8)
        self.out.write(b"PAR1")

    def write_row_group(self, table: pa.Table) -> None:
        n = table.num_rows
        chunks = []
        for name in _INT_COLUMNS:
            parts = [primitive_values(chunk, np.int32) for chunk in table.column(name).chunks]
            values = parts[0] if len(parts) == 1 else np.concatenate([np.empty(0, np.int32), *parts])
            column = _Column(self.out, _INT32, [name], self.codecs[name])
            for a in range(0, n, PAGE_ROWS):
                page = values[a : a + PAGE_ROWS]
                column.page(page, len(page), _stats(page.min(), page.max()) if name == "layer" else _struct())
            chunks.append(column.chunk(stats=_stats(values.min(), values.max()) if name == "layer" and n else None))
        kernel = _Kernel(table.column("kernel"), self.buffer)
        column = _Column(self.out, _FLOAT, _KERNEL_PATH.split("."), self.codecs[_KERNEL_PATH])
        for a in range(0, n, PAGE_ROWS):
            b = min(a + PAGE_ROWS, n)
            column.page(kernel.page(a, b), 9 * (b - a), _struct())
        # level histograms (SizeStatistics), as pyarrow writes them for a nested leaf
        sizes = _struct((2, _LIST, (_I64, [n, 8 * n])), (3, _LIST, (_I64, [0] * _MAX_DEF + [9 * n]))) if n else None
        chunks.append(column.chunk(sizes=sizes))
        self.row_groups.append((chunks, n))
        self.rows += n

    def close(self) -> None:
        self.out.write_footer(_footer(self.schema, self.rows, self.row_groups))


class _Kernel:
    """The kernel values of a (chunked) column, copied page by page behind the page's levels."""

    def __init__(self, column: pa.ChunkedArray, buffer: np.ndarray):
        self.chunks = [primitive_values(chunk.values, np.float32)[9 * chunk.offset : 9 * (chunk.offset + len(chunk))].view(np.uint8) for chunk in column.chunks]
        self.starts = np.cumsum([0] + [len(chunk) // 36 for chunk in self.chunks])
        self.buffer = buffer

    def page(self, a: int, b: int) -> np.ndarray:
        levels = _levels(b - a)
        body = self.buffer[: len(levels) + 36 * (b - a)]
        body[: len(levels)] = np.frombuffer(levels, np.uint8)
        at = len(levels)
        i = int(np.searchsorted(self.starts, a, "right")) - 1
        while a < b:
            take = min(b, int(self.starts[i + 1])) - a
            offset = 36 * (a - int(self.starts[i]))
            body[at : at + 36 * take] = self.chunks[i][offset : offset + 36 * take]
            at += 36 * take
            a += take
            i += 1
        return body


def primitive_values(array: pa.Array, dtype: type) -> np.ndarray:
    """The values of a primitive array without nulls, read from its data buffer.

    (``ChunkedArray.to_numpy`` and ``flatten`` would import pandas and pyarrow.compute:
    ~0.2 s CPU in a fresh process, the cost of writing a million filters.)
    """
    if len(array) == 0:  # (its data buffer may be absent)
        return np.empty(0, dtype)
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(array.buffers()[1], dtype, count=len(array), offset=itemsize * array.offset)


@functools.lru_cache(maxsize=8)
def _levels(rows: int) -> bytes:
    """Repetition then definition levels of ``rows`` kernel rows, each with its 4-byte length.

    Repetition (bit width 1): one bit-packed run of the 9-periodic pattern, its last group
    of 8 zero-padded (the reader stops at the page's value count). Definition (bit width
    2, all at the maximum: no nulls): one RLE run.
    """
    rep = np.packbits(np.tile(_ROW_REP, rows), bitorder="little").tobytes()
    rep = _varint(len(rep) << 1 | 1) + rep  # a bit-packed run of len(rep) groups of 8 values
    dfn = _varint(9 * rows << 1) + bytes([_MAX_DEF])  # an RLE run: count, then the value in 1 byte
    return b"".join(len(run).to_bytes(4, "little") + run for run in (rep, dfn))


class _Output:
    def __init__(self, file: BinaryIO):
        self.file = file
        self.pos = 0

    def write(self, data) -> None:
        self.file.write(data)
        self.pos += memoryview(data).nbytes

    def write_footer(self, footer: bytes) -> None:
        self.write(footer)
        self.write(len(footer).to_bytes(4, "little") + b"PAR1")


class _Column:
    """One column chunk: its pages as they are written, then its ColumnMetaData."""

    def __init__(self, out: _Output, kind: int, path: list[str], codec: str):
        self.out, self.kind, self.path = out, kind, path
        self.codec_id = _CODECS[codec]
        self.codec = pa.Codec(codec) if codec != "uncompressed" else None
        self.first = None
        self.pages = self.values = self.compressed = self.uncompressed = 0

    def page(self, body: np.ndarray, num_values: int, stats: bytes) -> None:
        data = self.codec.compress(body) if self.codec is not None else body
        size = memoryview(data).nbytes
        crc = zlib.crc32(data)
        header = _struct(
            (1, _I32, _DATA_PAGE),
            (2, _I32, body.nbytes),
            (3, _I32, size),
            (4, _I32, crc - (1 << 32) if crc >= 1 << 31 else crc),  # Thrift i32: signed
            (5, _STRUCT, _struct((1, _I32, num_values), (2, _I32, _PLAIN), (3, _I32, _RLE), (4, _I32, _RLE), (5, _STRUCT, stats))),
        )
        if self.first is None:
            self.first = self.out.pos
        self.out.write(header)
        self.out.write(data)
        self.pages += 1
        self.values += num_values
        self.compressed += len(header) + size
        self.uncompressed += len(header) + body.nbytes

    def chunk(self, stats: bytes | None = None, sizes: bytes | None = None) -> tuple[bytes, int, int, int]:
        """(ColumnChunk, first page offset, uncompressed and compressed sizes)."""
        written = self.pages > 0
        meta = _struct(
            (1, _I32, self.kind),
            (2, _LIST, (_I32, [_RLE, _PLAIN] if written else [_RLE])),  # what pyarrow lists
            (3, _LIST, (_BINARY, [p.encode() for p in self.path])),
            (4, _I32, self.codec_id),
            (5, _I64, self.values),
            (6, _I64, self.uncompressed),
            (7, _I64, self.compressed),
            (9, _I64, self.first or 0),  # an empty chunk points at 0, as pyarrow's does
            (12, _STRUCT, stats),
            (13, _LIST, (_STRUCT, [_struct((1, _I32, _DATA_PAGE), (2, _I32, _PLAIN), (3, _I32, self.pages))] if written else [])),
            (16, _STRUCT, sizes),
        )
        return _struct((2, _I64, 0), (3, _STRUCT, meta)), self.first or 0, self.uncompressed, self.compressed


def _stats(low, high) -> bytes:
    """Statistics of int32 values: exact min/max (and the deprecated fields), no nulls."""
    low, high = (int(v).to_bytes(4, "little", signed=True) for v in (low, high))
    return _struct(
        (1, _BINARY, high), (2, _BINARY, low), (3, _I64, 0), (5, _BINARY, high), (6, _BINARY, low), (7, _TRUE, True), (8, _TRUE, True)
    )


def _footer(schema: pa.Schema, rows: int, row_groups: list) -> bytes:
    groups = [
        _struct(
            (1, _LIST, (_STRUCT, [c[0] for c in chunks])),
            (2, _I64, sum(c[2] for c in chunks)),
            (3, _I64, n),
            (5, _I64, chunks[0][1]),
            (6, _I64, sum(c[3] for c in chunks)),
        )
        for chunks, n in row_groups
    ]
    meta = dict(schema.metadata or {})
    meta[b"ARROW:schema"] = base64.b64encode(schema.serialize())  # what pyarrow stores
    pairs = [_struct((1, _BINARY, k), (2, _BINARY, v)) for k, v in meta.items()]
    column_order = _struct((1, _STRUCT, _struct()))  # TypeDefinedOrder
    return _struct(
        (1, _I32, 2),
        (2, _LIST, (_STRUCT, _schema_elements())),
        (3, _I64, rows),
        (4, _LIST, (_STRUCT, groups)),
        (5, _LIST, (_STRUCT, pairs)),
        (6, _BINARY, CREATED_BY),
        (7, _LIST, (_STRUCT, [column_order] * 4)),
    )


def _schema_elements() -> list[bytes]:
    """The Parquet schema pyarrow gives FILTER_SCHEMA (a compliant three-level list)."""
    return [
        _struct((3, _I32, _REQUIRED), (4, _BINARY, b"schema"), (5, _I32, 4)),
        *[_struct((1, _I32, _INT32), (3, _I32, _REQUIRED), (4, _BINARY, name.encode())) for name in _INT_COLUMNS],
        _struct(
            (3, _I32, _REQUIRED),
            (4, _BINARY, b"kernel"),
            (5, _I32, 1),
            (6, _I32, _CONVERTED_LIST),
            (10, _STRUCT, _struct((3, _STRUCT, _struct()))),  # LogicalType: LIST
        ),
        _struct((3, _I32, _REPEATED), (4, _BINARY, b"list"), (5, _I32, 1)),
        _struct((1, _I32, _FLOAT), (3, _I32, _OPTIONAL), (4, _BINARY, b"element")),
    ]


# -- Thrift compact protocol: just what the structs above need --------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint(n << 1 ^ n >> 63)


def _struct(*fields) -> bytes:
    """A struct from (field id, type, value) in increasing id order; a None value is absent.

    Values: ints for _I32/_I64, bytes for _BINARY, encoded structs for _STRUCT,
    (element type, items) for _LIST, a bool for _TRUE (booleans live in the field header).
    """
    out = bytearray()
    last = 0
    for field, kind, value in fields:
        if value is None:
            continue
        assert 0 < field - last < 16
        out.append((field - last) << 4 | (kind if kind != _TRUE else 1 if value else 2))
        last = field
        if kind != _TRUE:
            out += _value(kind, value)
    out.append(0)
    return bytes(out)


def _value(kind: int, value) -> bytes:
    if kind in (_I32, _I64):
        return _zigzag(value)
    if kind == _BINARY:
        return _varint(len(value)) + value
    if kind == _STRUCT:
        return value
    element, items = value  # a list
    head = bytes([len(items) << 4 | element]) if len(items) < 15 else bytes([0xF0 | element]) + _varint(len(items))
    return head + b"".join(_value(element, item) for item in items)
