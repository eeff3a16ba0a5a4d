"""The dedicated filters writer (_writer): its files read as pyarrow's own, in every reader.

Each file is written twice, by io.write_table (our writer) and by pyarrow's Parquet writer
with the same options (the reference), and the two are compared through pyarrow, the fast
page reader, DuckDB and Polars.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from filterdb import _pages, _writer, io

META = io.file_metadata("m", model_info={"precision": "float32"}, layers=[{"layer": 0}])


def reference_write(table, path, metadata=META):
    """What io.write_table wrote before _writer: pyarrow with the same options."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, path, row_group_size=io.ROW_GROUP_SIZE, **io._writer_options(table.schema))


def make_table(sizes, seed=0, chunked=True):
    """A filters table with layers of ``sizes`` filters; kernels one chunk per layer, or one array."""
    rng = np.random.default_rng(seed)
    kernels = [rng.standard_normal((n, 9)).astype(np.float32) for n in sizes]
    layer = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    n = len(layer)
    out_ch = (np.arange(n) // 7).astype(np.int32)
    in_ch = (np.arange(n) % 7).astype(np.int32)
    both = kernels if chunked else (np.concatenate(kernels) if kernels else np.zeros((0, 9), np.float32))
    return io.filters_table(layer, out_ch, in_ch, both), np.concatenate(kernels) if kernels else np.zeros((0, 9), np.float32)


def write_both(tmp_path, table):
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "pyarrow.parquet"
    assert _writer.supports(table.replace_schema_metadata(META))
    io.write_table(table, ours, META)
    reference_write(table, theirs)
    return ours, theirs


def page_bodies(path, column):
    """(offset, size) of the body of every data page of ``column`` in every row group."""
    handle = pq.ParquetFile(path)
    raw = memoryview(path.read_bytes())
    out = []
    for group in range(handle.num_row_groups):
        chunk = handle.metadata.row_group(group).column(column)
        pos, end = chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size
        while pos < end:
            reader = _pages._Compact(raw, pos)
            header = reader.struct(_pages._PAGE_HEADER)
            out.append((reader.pos, header[3]))
            pos = reader.pos + header[3]
    return out


SHAPES = {
    "empty": [],
    "one row": [1],
    "one layer, several pages": [45_001],
    "many small layers": [3, 1, 64, 9, 27, 2],
    "pages across layers": [15_000, 15_000, 15_000, 1],
}


def assert_same_file_contents(ours, theirs):
    a, b = pq.read_table(ours), pq.read_table(theirs)
    assert a.schema.equals(b.schema, check_metadata=True)
    assert a.equals(b, check_metadata=True)
    checked = pq.ParquetFile(ours, page_checksum_verification=True).read()
    assert checked.equals(b, check_metadata=True)
    # the same Arrow schema and key-value metadata (ARROW:schema byte for byte)
    ma, mb = pq.ParquetFile(ours).metadata, pq.ParquetFile(theirs).metadata
    assert ma.metadata == mb.metadata
    assert list(ma.metadata) == list(mb.metadata)
    assert pq.ParquetFile(ours).schema.equals(pq.ParquetFile(theirs).schema)
    # the same row groups, codecs, encodings and statistics as pyarrow's
    assert (ma.num_rows, ma.num_row_groups) == (mb.num_rows, mb.num_row_groups)
    for g in range(ma.num_row_groups):
        ga, gb = ma.row_group(g), mb.row_group(g)
        assert ga.num_rows == gb.num_rows
        for c in range(ga.num_columns):
            ca, cb = ga.column(c), gb.column(c)
            for attribute in ("path_in_schema", "physical_type", "num_values", "compression", "encodings", "has_dictionary_page", "is_stats_set"):
                assert getattr(ca, attribute) == getattr(cb, attribute), (g, c, attribute)
            if ca.is_stats_set:
                assert ca.statistics.equals(cb.statistics)
            if c < 3:  # int pages: the same bytes as pyarrow's (same codec, level, layout)
                assert ca.total_compressed_size == cb.total_compressed_size


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("chunked", [True, False], ids=["chunk per layer", "one array"])
def test_same_table_as_pyarrow(tmp_path, shape, chunked):
    table, _ = make_table(SHAPES[shape], seed=len(shape), chunked=chunked)
    assert_same_file_contents(*write_both(tmp_path, table))


def test_layers_spanning_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "ROW_GROUP_SIZE", 25_000)
    table, kernels = make_table([30_000, 7, 40_000, 29_993, 5], seed=3)
    ours, theirs = write_both(tmp_path, table)
    assert pq.ParquetFile(ours).num_row_groups == 5
    assert_same_file_contents(ours, theirs)
    # row groups pruned on the layer statistics: the same rows as from pyarrow's file
    for layer in (1, 2, 4):
        got = [ds.dataset(p).to_table(filter=ds.field("layer") == layer) for p in (ours, theirs)]
        assert got[0].num_rows == [30_000, 7, 40_000, 29_993, 5][layer] and got[0].equals(got[1])
    assert_fast_reads(ours, kernels, [30_000, 7, 40_000, 29_993, 5])


def test_two_million_rows(tmp_path):
    sizes = [300_000, 1_000_000, 700_000]
    table, kernels = make_table(sizes, seed=4)
    ours, theirs = write_both(tmp_path, table)
    assert pq.ParquetFile(ours).num_row_groups == 2
    assert_same_file_contents(ours, theirs)
    assert_fast_reads(ours, kernels, sizes)


def test_sliced_table(tmp_path):
    table, _ = make_table([500, 300, 200], seed=5)
    assert_same_file_contents(*write_both(tmp_path, table.slice(123, 700)))


def assert_fast_reads(path, kernels, sizes):
    """iter_layer_kernels reads every row group through the page reader, and right."""
    handle = pq.ParquetFile(path)
    leaf = 3
    with _pages.KernelPages(path) as pages:
        for group in range(handle.num_row_groups):
            assert pages.values(handle, group, leaf) is not None, group
    starts = np.cumsum([0, *sizes])
    nonempty = [i for i, n in enumerate(sizes) if n]
    got = list(io.iter_layer_kernels(path, ("out_ch", "in_ch")))
    assert [layer for layer, _, _ in got] == nonempty
    for layer, block, extra in got:
        assert np.array_equal(block, kernels[starts[layer] : starts[layer + 1]])
        assert len(extra["out_ch"]) == len(block)


def test_fast_page_reader_and_metadata(tmp_path, monkeypatch):
    sizes = [20_000, 3, 45_000, 11]
    table, kernels = make_table(sizes, seed=6)
    ours, _ = write_both(tmp_path, table)
    calls = []
    original = _pages.KernelPages.values

    def spy(self, *args, **kwargs):
        calls.append(original(self, *args, **kwargs) is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_pages.KernelPages, "values", spy)
    assert_fast_reads(ours, kernels, sizes)
    assert calls and all(calls)  # no fall back to pyarrow
    meta = io.open_filters(ours).schema_arrow.metadata  # as written (filters_metadata also checks the facts)
    info, layers = io.json_meta(meta, io.MODEL_INFO_KEY), io.json_meta(meta, io.LAYERS_KEY)
    assert info == {"precision": "float32"} and layers == [{"layer": 0}]
    assert io.open_filters(ours).metadata.num_rows == sum(sizes)


def test_a_flipped_byte_in_a_kernel_page_fails_the_checked_read(tmp_path):
    table, _ = make_table([30_000, 5], seed=7)
    ours, _ = write_both(tmp_path, table)
    pages = page_bodies(ours, 3)
    assert len(pages) == 2
    raw = bytearray(ours.read_bytes())
    for offset, size in pages:
        damaged = tmp_path / f"damaged_{offset}.parquet"
        copy = bytearray(raw)
        copy[offset + size // 2] ^= 0x10
        damaged.write_bytes(bytes(copy))
        with pytest.raises(OSError, match="CRC"):
            pq.ParquetFile(damaged, page_checksum_verification=True).read()
        with pytest.raises(io.DataError, match="damaged"):
            list(io.iter_layer_kernels(damaged))


def test_deterministic(tmp_path):
    table, _ = make_table([1000, 20_001, 3], seed=8)
    io.write_table(table, tmp_path / "a.parquet", META)
    io.write_table(table, tmp_path / "b.parquet", META)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_levels_are_valid_for_every_page_size():
    """A page of any number of rows: the hybrid runs decode to 0,1,…,1 and all-max."""
    for rows in (1, 2, 7, 8, 9, 15, 16, 17, 20_000):
        raw = _writer._levels(rows)
        n = 9 * rows
        length = int.from_bytes(raw[:4], "little")
        run = raw[4 : 4 + length]
        header, at = 0, 0
        for shift in range(0, 35, 7):
            header |= (run[at] & 0x7F) << shift
            at += 1
            if not run[at - 1] & 0x80:
                break
        assert header & 1 and (header >> 1) == -(-n // 8) == len(run) - at  # one bit-packed run
        bits = np.unpackbits(np.frombuffer(run[at:], np.uint8), bitorder="little")
        assert np.array_equal(bits[:n], np.tile([0, 1, 1, 1, 1, 1, 1, 1, 1], rows))
        assert not bits[n:].any()
        rest = raw[4 + length :]
        assert int.from_bytes(rest[:4], "little") == len(rest) - 4 and rest[-1] == 2


def test_other_tables_keep_pyarrow(tmp_path):
    # a null weight, a non-nullable item, extra columns: pyarrow writes them
    values = pa.array([1.0] * 8 + [None] + [2.0] * 9, pa.float32())
    kernel = pa.FixedSizeListArray.from_arrays(values, 9)
    ints = pa.array([0, 0], pa.int32())
    with_null = pa.table([ints, ints, ints, kernel], schema=io.FILTER_SCHEMA)
    required = pa.schema([*io.FILTER_SCHEMA][:3] + [pa.field("kernel", pa.list_(pa.field("item", pa.float32(), nullable=False), 9), nullable=False)])
    no_null = pa.FixedSizeListArray.from_arrays(pa.array([1.0] * 18, pa.float32()), type=required.field("kernel").type)
    for table in (
        with_null,
        pa.table([ints, ints, ints, no_null], schema=required),
        make_table([3])[0].append_column("extra", pa.array([1.0, 2.0, 3.0])),
        pa.table({"layer": ints}),
    ):
        assert not _writer.supports(table)
        io.write_table(table, tmp_path / "ours.parquet", META)
        reference_write(table, tmp_path / "pyarrow.parquet")
        assert (tmp_path / "ours.parquet").read_bytes() == (tmp_path / "pyarrow.parquet").read_bytes()


def _duckdb_rows(duckdb, path):
    return duckdb.sql(
        f"SELECT layer, out_ch, in_ch, kernel FROM read_parquet('{path}') ORDER BY layer, out_ch, in_ch"
    ).fetchall()


@pytest.mark.parametrize("shape", ["empty", "one row", "pages across layers"])
def test_duckdb_reads_ours_as_pyarrows(tmp_path, shape):
    duckdb = pytest.importorskip("duckdb")
    ours, theirs = write_both(tmp_path, make_table(SHAPES[shape], seed=9)[0])
    assert _duckdb_rows(duckdb, ours) == _duckdb_rows(duckdb, theirs)
    query = "SELECT layer, count(*), sum(list_sum(kernel)), min(list_min(kernel)) FROM read_parquet('{}') WHERE layer >= 1 GROUP BY layer ORDER BY layer"
    assert duckdb.sql(query.format(ours)).fetchall() == duckdb.sql(query.format(theirs)).fetchall()
    describe = "DESCRIBE SELECT * FROM read_parquet('{}')"
    assert duckdb.sql(describe.format(ours)).fetchall() == duckdb.sql(describe.format(theirs)).fetchall()


@pytest.mark.parametrize("shape", ["empty", "one row", "pages across layers"])
def test_polars_reads_ours_as_pyarrows(tmp_path, shape):
    pl = pytest.importorskip("polars")
    ours, theirs = write_both(tmp_path, make_table(SHAPES[shape], seed=10)[0])
    a, b = pl.read_parquet(ours), pl.read_parquet(theirs)
    assert a.schema == b.schema and a.equals(b)
    lazy = lambda p: pl.scan_parquet(p).filter(pl.col("layer") >= 1).group_by("layer").agg(pl.len()).sort("layer").collect()
    assert lazy(ours).equals(lazy(theirs))


def stream_of(table, sizes):
    start = 0
    for size in sizes:
        yield table.slice(start, size)
        start += size


@pytest.mark.parametrize("total", [0, 1, 60_005])
def test_write_stream_reads_as_pyarrows_and_as_write_table(tmp_path, monkeypatch, total):
    monkeypatch.setattr(io, "ROW_GROUP_SIZE", 25_000)
    table, _ = make_table([total // 3, total - total // 3], seed=11)
    pieces = [7, 30_000, 20_000, total] if total else []
    io.write_stream(stream_of(table, pieces), tmp_path / "ours.parquet", io.FILTER_SCHEMA, META)
    if total:  # the same bytes as write_table (which writes an empty row group for no rows, as pyarrow)
        io.write_table(table, tmp_path / "table.parquet", META)
        assert (tmp_path / "ours.parquet").read_bytes() == (tmp_path / "table.parquet").read_bytes()
    monkeypatch.setattr(_writer, "supports_schema", lambda schema: False)
    io.write_stream(stream_of(table, pieces), tmp_path / "pyarrow.parquet", io.FILTER_SCHEMA, META)
    assert_same_file_contents(tmp_path / "ours.parquet", tmp_path / "pyarrow.parquet")


def test_write_stream_refuses_a_null_weight(tmp_path):
    values = pa.array([1.0] * 8 + [None], pa.float32())
    ints = pa.array([0], pa.int32())
    table = pa.table([ints, ints, ints, pa.FixedSizeListArray.from_arrays(values, 9)], schema=io.FILTER_SCHEMA)
    with pytest.raises(io.DataError, match=r"bad\.parquet: the filters to write have null values"):
        io.write_stream([table], tmp_path / "bad.parquet", io.FILTER_SCHEMA, META)
    assert not list(tmp_path.iterdir())


def test_table_without_chunks(tmp_path):
    assert_same_file_contents(*write_both(tmp_path, pa.Table.from_batches([], schema=io.FILTER_SCHEMA)))
