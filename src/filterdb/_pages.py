"""A fast path for one thing: the float values of the ``kernel`` column of a row group.

pyarrow decodes a fixed_size_list column through its generic nested-column reader,
which decodes a repetition and a definition level for each of the nine values of every
filter: about half the cost of reading a filters file. Our kernel column has no nulls
and exactly nine values per row, so its values are simply the PLAIN float32 payload of
its data pages, in order. This module walks the pages (Thrift compact page headers),
decompresses each (Snappy with ``kernels.snappy_into``, other codecs with Arrow's) and
slices the values out behind the levels.

It answers None whenever anything is not as expected (a dictionary page, another
encoding or codec, a null, a count that does not add up, a page whose CRC does not
match), and the caller then reads the row group with pyarrow, which verifies the page
checksums and reports the damage. Tests compare it with pyarrow on files of every codec and page
layout the writer can produce.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import kernels

_CODECS = {"UNCOMPRESSED": None, "ZSTD": "zstd", "SNAPPY": "snappy", "GZIP": "gzip", "LZ4_RAW": "lz4_raw", "BROTLI": "brotli"}
_PLAIN, _RLE = 0, 3
_DATA_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 2, 3


class _Unexpected(Exception):
    pass


class _Compact:
    """Just enough of Thrift's compact protocol to read a Parquet PageHeader."""

    def __init__(self, data: memoryview, pos: int):
        self.data = data
        self.pos = pos

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def skip(self, kind: int) -> None:
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.pos += 1
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.pos += 8
        elif kind == 8:
            length = self.varint()  # (not ``pos += varint()``: pos would be read first)
            self.pos += length
        elif kind in (9, 10):
            header = self.data[self.pos]
            self.pos += 1
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.skip(element)
        elif kind == 11:
            size = self.varint()
            if size:
                kinds = self.data[self.pos]
                self.pos += 1
                for _ in range(size):
                    self.skip(kinds >> 4)
                    self.skip(kinds & 0x0F)
        elif kind == 12:
            self.struct({})
        else:
            raise _Unexpected(f"thrift type {kind}")

    def struct(self, wanted: dict) -> dict:
        """Read a struct; ``wanted`` maps field id → None (an int) or a nested ``wanted``."""
        out: dict = {}
        field = 0
        while True:
            header = self.data[self.pos]
            self.pos += 1
            if header == 0:
                return out
            kind, delta = header & 0x0F, header >> 4
            field = field + delta if delta else self.zigzag()
            spec = wanted.get(field, False)
            if spec is None and kind in (4, 5, 6):
                out[field] = self.zigzag()
            elif spec is None and kind in (1, 2):
                out[field] = kind == 1
            elif isinstance(spec, dict) and kind == 12:
                out[field] = self.struct(spec)
            else:
                self.skip(kind)


_PAGE_HEADER = {
    1: None,  # type
    2: None,  # uncompressed_page_size
    3: None,  # compressed_page_size
    4: None,  # crc: CRC-32 of the compressed page body, when the writer stored one
    5: {1: None, 2: None, 3: None, 4: None},  # data page: num_values, encoding, def/rep level encodings
    8: {1: None, 2: None, 3: None, 4: None, 5: None, 6: None, 7: None},  # data page v2
}


class KernelPages:
    """Reads the kernel values of one filters file's row groups, a page at a time.

    Each page is read (``pread``) into a buffer reused for every page, so that its
    checksum, its decompression and the copy of its values run on data in cache; a
    Snappy page (the writer's codec for kernels) is decoded into a second reused buffer
    (``kernels.snappy_into``): a codec that returns a fresh buffer per page, or a fresh
    read buffer per row group, costs a page fault per 4 KiB, about as much as all the rest.
    """

    def __init__(self, path):
        self._file = open(path, "rb", buffering=0)
        self._buffers: dict[str, np.ndarray] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._file.close()

    def _buffer(self, slot: str, size: int) -> np.ndarray:
        buffer = self._buffers.get(slot)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[slot] = np.empty(size, np.uint8)
        return buffer[:size]

    def _read(self, size: int, offset: int, slot: str) -> memoryview:
        view = memoryview(self._buffer(slot, size))
        got = os.preadv(self._file.fileno(), [view], offset)
        if got != size:
            raise _Unexpected(f"short read: {got} of {size} bytes")
        return view

    def page(self, pos: int, end: int) -> tuple[dict, memoryview, int]:
        """The header and the (compressed) body of the page at ``pos``, and where the next
        one starts; ``end``: the end of the column chunk."""
        window = min(_HEADER_WINDOW, end - pos)
        while True:
            head = self._read(window, pos, "head")
            reader = _Compact(head, 0)
            try:
                header = reader.struct(_PAGE_HEADER)
                break
            except IndexError:  # a header longer than the window
                if window >= min(end - pos, _MAX_HEADER):
                    raise _Unexpected("a page header runs past the column chunk or Arrow's limit") from None
                window = min(16 * window, end - pos, _MAX_HEADER)
        if not all(isinstance(header.get(k), int) for k in (1, 2, 3)):
            raise _Unexpected("a page header without its type or sizes")
        start, size = pos + reader.pos, header[3]
        if size < 0 or start + size > end:
            raise _Unexpected("a page runs past the column chunk")
        return header, self._read(size, start, "body"), start + size

    def decompress(self, name: str | None, body: memoryview, size: int) -> memoryview:
        """A page body decompressed with the codec ``name`` (None: stored as is)."""
        if not 0 <= size <= _MAX_PAGE:  # the header's size is not covered by the page's CRC
            raise _Unexpected(f"a page's uncompressed size of {size} bytes")
        if name is None:
            return body
        if name == "snappy":
            out = self._buffer("page", size)
            if kernels.snappy_into(body, out) != size:
                raise _Unexpected("a Snappy page does not decode to its size")
            return memoryview(out)
        return memoryview(pa.Codec(name).decompress(body, size))

    def values(
        self, handle: pq.ParquetFile, row_group: int, column: int, out: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The (rows · 9,) float32 values of a kernel column chunk, or None to fall back.

        ``out``: a float32 buffer to fill (its first rows · 9 values) instead of a new array.
        """
        try:
            return _kernel_values(self, handle, row_group, column, out)
        except (_Unexpected, LookupError, ValueError, OSError, RecursionError, pa.ArrowException):
            return None


_HEADER_WINDOW = 1024  # bytes read for a page header (a kernel page's, without statistics: ~30)
_MAX_HEADER = 16 << 20  # Arrow's default limit on a page header
_MAX_PAGE = 256 << 20  # a larger page (pyarrow writes ~1 MiB ones) is left to pyarrow


def _kernel_values(pages, handle, row_group, column, out=None):
    meta = handle.metadata.row_group(row_group)
    chunk = meta.column(column)
    if chunk.dictionary_page_offset is not None or chunk.physical_type != "FLOAT":
        return None
    if chunk.compression not in _CODECS:
        return None
    name = _CODECS[chunk.compression]
    descr = handle.schema.column(column)
    has_rep, has_def = descr.max_repetition_level > 0, descr.max_definition_level > 0
    pos, end = chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size
    expected = 9 * meta.num_rows
    # pages are copied straight into place: no concatenation
    out = np.empty(expected, np.float32) if out is None or out.size < expected else out[:expected]
    count = 0
    while pos < end and count < expected:
        header, body, pos = pages.page(pos, end)
        if 4 in header and kernels.crc32(body) != header[4] & 0xFFFFFFFF:
            return None  # the caller's checked pyarrow read names the damage
        kind = header[1]
        if kind == _DATA_PAGE:
            page = header.get(5) or {}
            if page.get(2) != _PLAIN or (has_rep and page.get(4) != _RLE) or (has_def and page.get(3) != _RLE):
                return None
            data = pages.decompress(name, body, header[2])
            offset = 0
            for present in (has_rep, has_def):  # RLE levels: 4-byte length, then the runs
                if present:
                    offset += 4 + int.from_bytes(data[offset : offset + 4], "little")
            values = data[offset:]
            n = page.get(1)
        elif kind == _DATA_PAGE_V2:
            page = header.get(8) or {}
            if page.get(4) != _PLAIN or page.get(2, 0):
                return None
            levels = page.get(5, 0) + page.get(6, 0)
            payload = body[levels:]
            values = pages.decompress(name, payload, header[2] - levels) if page.get(7, True) else payload
            n = page.get(1)
        elif kind == _DICTIONARY_PAGE:
            return None
        else:  # index pages and others carry no values
            continue
        if n is None or len(values) != 4 * n or count + n > expected:  # a null or an empty list: not our layout
            return None
        out[count : count + n] = np.frombuffer(values, dtype=np.float32)
        count += n
    if count != expected:
        return None
    return out
