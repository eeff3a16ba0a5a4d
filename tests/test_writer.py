"""Filters files as the store writes them (pyarrow, the contract's options): the same table
back in every reader (pyarrow, the page reader, DuckDB, Polars), row groups suited to
streaming, page checksums that catch a flipped byte, and the same bytes every time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from filterdb import _pages, store
from filterdb.extract import write_filters
from filterdb.model import ConvLayer, LoadedModel

META = store.file_metadata("m", model_info={"precision": "float32"}, layers=[{"layer": 0}])


def make_table(sizes, seed=0, chunked=True):
    """A filters table with layers of ``sizes`` filters; kernels one chunk per layer, or one array."""
    rng = np.random.default_rng(seed)
    kernels = [rng.standard_normal((n, 9)).astype(np.float32) for n in sizes]
    layer = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    n = len(layer)
    out_ch = (np.arange(n) // 7).astype(np.int32)
    in_ch = (np.arange(n) % 7).astype(np.int32)
    both = kernels if chunked else (np.concatenate(kernels) if kernels else np.zeros((0, 9), np.float32))
    return store.filters_table(layer, out_ch, in_ch, both), np.concatenate(kernels) if kernels else np.zeros((0, 9), np.float32)


def write(tmp_path, table, name="f.parquet"):
    path = tmp_path / name
    store.write_table(table, path, META)
    return path


def page_headers(path, column):
    """(body offset, header) of every page of ``column`` in every row group."""
    handle = pq.ParquetFile(path)
    raw = memoryview(path.read_bytes())
    out = []
    for group in range(handle.num_row_groups):
        chunk = handle.metadata.row_group(group).column(column)
        pos, end = chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size
        while pos < end:
            reader = _pages._Compact(raw, pos)
            header = reader.struct(_pages._PAGE_HEADER)
            out.append((reader.pos, header))
            pos = reader.pos + header[3]
    return out


SHAPES = {
    "empty": [],
    "one row": [1],
    "one layer, several pages": [45_001],
    "many small layers": [3, 1, 64, 9, 27, 2],
    "pages across layers": [15_000, 15_000, 15_000, 1],
}


def same_types(back, schema):
    """``back`` with the list item named as in ``schema`` (Parquet readers name it ``element``)."""
    assert back.schema.names == schema.names
    for name in schema.names:
        assert store.filters._same_type(back.schema.field(name).type, schema.field(name).type), name
    return back.cast(schema.with_metadata(back.schema.metadata))


def assert_contract(path, table):
    """The file holds ``table`` with the contract's schema, metadata and layout."""
    back = same_types(pq.ParquetFile(path, page_checksum_verification=True).read(), table.schema)
    assert back.schema.equals(table.schema.with_metadata({**(table.schema.metadata or {}), **META}), check_metadata=True)
    assert back.equals(table.replace_schema_metadata(back.schema.metadata))
    meta = pq.ParquetFile(path).metadata
    assert all(key in meta.metadata for key in (*META, b"ARROW:schema"))
    assert meta.num_rows == table.num_rows
    assert meta.num_row_groups == max(1, -(-table.num_rows // store.tables.ROW_GROUP_SIZE))
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            assert column.compression == ("SNAPPY" if column.path_in_schema.startswith("kernel") else "ZSTD")
            assert not column.has_dictionary_page and ("PLAIN" in column.encodings or not group.num_rows)
            assert column.is_stats_set == (column.path_in_schema == "layer" and group.num_rows > 0)
        if group.num_rows:
            stats = group.column(0).statistics
            layers = back.column("layer").to_numpy()[g * store.tables.ROW_GROUP_SIZE :][: group.num_rows]
            assert (stats.min, stats.max) == (layers.min(), layers.max())
    for _, header in page_headers(path, 3):  # the kernel pages: v1, PLAIN, a CRC each
        assert header[1] == _pages._DATA_PAGE and header[5][2] == _pages._PLAIN and 4 in header


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
@pytest.mark.parametrize("chunked", [True, False], ids=["chunk per layer", "one array"])
def test_same_table_back_in_the_contracts_layout(tmp_path, shape, chunked):
    table, kernels = make_table(SHAPES[shape], seed=len(shape), chunked=chunked)
    path = write(tmp_path, table)
    assert_contract(path, table)
    assert_fast_reads(path, kernels, SHAPES[shape])


def test_layers_spanning_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(store.tables, "ROW_GROUP_SIZE", 25_000)
    sizes = [30_000, 7, 40_000, 29_993, 5]
    table, kernels = make_table(sizes, seed=3)
    path = write(tmp_path, table)
    assert pq.ParquetFile(path).num_row_groups == 5
    assert_contract(path, table)
    # row groups pruned on the layer statistics: the layer's rows, and only them
    for layer in (1, 2, 4):
        got = ds.dataset(path).to_table(filter=ds.field("layer") == layer)
        assert got.num_rows == sizes[layer]
        assert got.column("kernel").combine_chunks().equals(
            table.filter(pa.compute.equal(table.column("layer"), layer)).column("kernel").combine_chunks()
        )
    assert_fast_reads(path, kernels, sizes)


def test_two_million_rows(tmp_path):
    sizes = [300_000, 1_000_000, 700_000]
    table, kernels = make_table(sizes, seed=4)
    path = write(tmp_path, table)
    assert pq.ParquetFile(path).num_row_groups == 2
    assert_contract(path, table)
    assert_fast_reads(path, kernels, sizes)


def test_sliced_table(tmp_path):
    table, kernels = make_table([500, 300, 200], seed=5)
    path = write(tmp_path, table.slice(123, 700))
    assert_contract(path, table.slice(123, 700))
    assert np.array_equal(pq.read_table(path).column("kernel").combine_chunks().flatten().to_numpy(), kernels[123:823].reshape(-1))


def assert_fast_reads(path, kernels, sizes):
    """iter_layer_kernels reads every row group through the page reader, and right."""
    handle = pq.ParquetFile(path)
    leaf = 3
    with _pages.KernelPages(path) as pages:
        for group in range(handle.num_row_groups):
            if handle.metadata.row_group(group).num_rows:
                assert pages.values(handle, group, leaf) is not None, group
    starts = np.cumsum([0, *sizes])
    nonempty = [i for i, n in enumerate(sizes) if n]
    got = list(store.iter_layer_kernels(path, ("out_ch", "in_ch")))
    assert [layer for layer, _, _ in got] == nonempty
    for layer, block, extra in got:
        assert np.array_equal(block, kernels[starts[layer] : starts[layer + 1]])
        assert len(extra["out_ch"]) == len(block)


def test_fast_page_reader_and_metadata(tmp_path, monkeypatch):
    sizes = [20_000, 3, 45_000, 11]
    table, kernels = make_table(sizes, seed=6)
    path = write(tmp_path, table)
    calls = []
    original = _pages.KernelPages.values

    def spy(self, *args, **kwargs):
        calls.append(original(self, *args, **kwargs) is not None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_pages.KernelPages, "values", spy)
    assert_fast_reads(path, kernels, sizes)
    assert calls and all(calls)  # no fall back to pyarrow
    meta = store.open_filters(path).schema_arrow.metadata  # as written (filters_metadata also checks the facts)
    info, layers = store.json_meta(meta, store.MODEL_INFO_KEY), store.json_meta(meta, store.LAYERS_KEY)
    assert info == {"precision": "float32"} and layers == [{"layer": 0}]
    assert store.open_filters(path).metadata.num_rows == sum(sizes)


def test_a_flipped_byte_in_a_kernel_page_fails_the_checked_read(tmp_path):
    table, _ = make_table([30_000, 5], seed=7)
    path = write(tmp_path, table)
    pages = page_headers(path, 3)
    assert len(pages) == 2
    raw = bytearray(path.read_bytes())
    for offset, header in pages:
        damaged = tmp_path / f"damaged_{offset}.parquet"
        copy = bytearray(raw)
        copy[offset + header[3] // 2] ^= 0x10
        damaged.write_bytes(bytes(copy))
        with pytest.raises(OSError, match="CRC"):
            pq.ParquetFile(damaged, page_checksum_verification=True).read()
        handle = pq.ParquetFile(damaged)
        with _pages.KernelPages(damaged) as reader:  # the page reader checks the CRC, and leaves it to pyarrow
            assert reader.values(handle, 0, 3) is None
        with pytest.raises(store.DataError, match="damaged"):
            list(store.iter_layer_kernels(damaged))


def test_deterministic(tmp_path):
    table, _ = make_table([1000, 20_001, 3], seed=8)
    store.write_table(table, tmp_path / "a.parquet", META)
    store.write_table(table, tmp_path / "b.parquet", META)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_every_page_has_a_checksum(tmp_path):
    """Every page of every column carries the CRC-32 of its body (the reader's bit-rot check)."""
    table, _ = make_table([20_001, 17, 3], seed=12)
    path = write(tmp_path, table)
    raw = memoryview(path.read_bytes())
    for column in range(4):
        pages = page_headers(path, column)
        assert pages
        for offset, header in pages:
            import zlib

            assert zlib.crc32(raw[offset : offset + header[3]]) == header[4] & 0xFFFFFFFF


def test_other_tables_are_written_as_given(tmp_path):
    # a null weight, a non-nullable item, extra columns: the same table back
    values = pa.array([1.0] * 8 + [None] + [2.0] * 9, pa.float32())
    kernel = pa.FixedSizeListArray.from_arrays(values, 9)
    ints = pa.array([0, 0], pa.int32())
    with_null = pa.table([ints, ints, ints, kernel], schema=store.FILTER_SCHEMA)
    required = pa.schema([*store.FILTER_SCHEMA][:3] + [pa.field("kernel", pa.list_(pa.field("item", pa.float32(), nullable=False), 9), nullable=False)])
    no_null = pa.FixedSizeListArray.from_arrays(pa.array([1.0] * 18, pa.float32()), type=required.field("kernel").type)
    for table in (
        with_null,
        pa.table([ints, ints, ints, no_null], schema=required),
        make_table([3])[0].append_column("extra", pa.array([1.0, 2.0, 3.0])),
        pa.table({"layer": ints}),
    ):
        store.write_table(table, tmp_path / "t.parquet", META)
        back = same_types(pq.read_table(tmp_path / "t.parquet"), table.schema)
        assert back.equals(table.replace_schema_metadata(back.schema.metadata))


def _duckdb_rows(duckdb, path):
    return duckdb.sql(
        f"SELECT layer, out_ch, in_ch, kernel FROM read_parquet('{path}') ORDER BY layer, out_ch, in_ch"
    ).fetchall()


def _table_rows(table):
    rows = zip(*(table.column(c).to_pylist() for c in ("layer", "out_ch", "in_ch", "kernel")))
    return sorted((layer, out, cin, [float(v) for v in kernel]) for layer, out, cin, kernel in rows)


@pytest.mark.parametrize("shape", ["empty", "one row", "pages across layers"])
def test_duckdb_reads_the_table(tmp_path, shape):
    duckdb = pytest.importorskip("duckdb")
    table = make_table(SHAPES[shape], seed=9)[0]
    path = write(tmp_path, table)
    assert [(a, b, c, list(d)) for a, b, c, d in _duckdb_rows(duckdb, path)] == _table_rows(table)
    query = f"SELECT layer, count(*) FROM read_parquet('{path}') WHERE layer >= 1 GROUP BY layer ORDER BY layer"
    expected = [(i, n) for i, n in enumerate(SHAPES[shape]) if i >= 1 and n]
    assert duckdb.sql(query).fetchall() == expected
    describe = dict((row[0], row[1]) for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall())
    # a Parquet LIST: DuckDB reads it as a list (nine values a row, above), not from ARROW:schema
    assert describe == {"layer": "INTEGER", "out_ch": "INTEGER", "in_ch": "INTEGER", "kernel": "FLOAT[]"}


@pytest.mark.parametrize("shape", ["empty", "one row", "pages across layers"])
def test_polars_reads_the_table(tmp_path, shape):
    pl = pytest.importorskip("polars")
    table = make_table(SHAPES[shape], seed=10)[0]
    path = write(tmp_path, table)
    frame = pl.read_parquet(path)
    assert frame.schema == {"layer": pl.Int32, "out_ch": pl.Int32, "in_ch": pl.Int32, "kernel": pl.Array(pl.Float32, 9)}
    assert frame.equals(pl.from_arrow(table))
    lazy = pl.scan_parquet(path).filter(pl.col("layer") >= 1).group_by("layer").agg(pl.len()).sort("layer").collect()
    assert list(zip(*lazy.to_dict(as_series=False).values())) == [(i, n) for i, n in enumerate(SHAPES[shape]) if i >= 1 and n]


def test_a_dumped_file_reads_the_same_in_pyarrow_duckdb_and_polars(tmp_path):
    """The dump's own writer (``extract.write_filters``): one table in all three readers."""
    duckdb, pl = pytest.importorskip("duckdb"), pytest.importorskip("polars")
    rng = np.random.default_rng(13)
    convs = [
        ConvLayer("stem", rng.normal(size=(8, 3, 3, 3)).astype(np.float32), distance=1),
        ConvLayer("pointwise", rng.normal(size=(8, 8, 1, 1)).astype(np.float32), distance=2),
        ConvLayer("grouped", rng.normal(size=(16, 4, 3, 3)).astype(np.float32), groups=2, distance=3),
    ]
    path = tmp_path / "dumped.parquet"
    write_filters(LoadedModel("dumped", convs), path)
    arrow = pq.read_table(path)
    assert arrow.num_rows == 8 * 3 + 16 * 4
    rows = _table_rows(arrow)
    assert [(a, b, c, list(d)) for a, b, c, d in _duckdb_rows(duckdb, path)] == rows
    assert _table_rows(pl.read_parquet(path).to_arrow()) == rows
    # and the values are the weights, as the page reader gives them
    kernels = np.concatenate([k for _, k, _ in store.iter_layer_kernels(path)])
    assert np.array_equal(kernels, np.array([r[3] for r in rows], np.float32))


def stream_of(table, sizes):
    start = 0
    for size in sizes:
        yield table.slice(start, size)
        start += size


@pytest.mark.parametrize("total", [0, 1, 60_005])
def test_write_stream_is_write_table(tmp_path, monkeypatch, total):
    monkeypatch.setattr(store.tables, "ROW_GROUP_SIZE", 25_000)
    table, kernels = make_table([total // 3, total - total // 3], seed=11)
    pieces = [7, 30_000, 20_000, total] if total else []
    rows = store.write_stream(stream_of(table, pieces), tmp_path / "stream.parquet", store.FILTER_SCHEMA, META)
    assert rows == total
    store.write_table(table, tmp_path / "table.parquet", META)
    assert (tmp_path / "stream.parquet").read_bytes() == (tmp_path / "table.parquet").read_bytes()
    assert_contract(tmp_path / "stream.parquet", table)


def test_write_stream_final_metadata_replaces_the_first(tmp_path):
    table, _ = make_table([5, 6], seed=14)
    late = store.file_metadata("m", model_info={"precision": "float32", "filters_sha256": "abc"})
    store.write_stream([table], tmp_path / "s.parquet", store.FILTER_SCHEMA, META, final_metadata=lambda: late)
    meta = store.read_schema(tmp_path / "s.parquet").metadata
    assert store.json_meta(meta, store.MODEL_INFO_KEY) == {"precision": "float32", "filters_sha256": "abc"}
    assert store.json_meta(meta, store.LAYERS_KEY) == [{"layer": 0}]
    footer = pq.ParquetFile(tmp_path / "s.parquet").metadata.metadata
    assert footer[store.MODEL_INFO_KEY] == late[store.MODEL_INFO_KEY]


def test_write_stream_refuses_a_null_weight(tmp_path):
    values = pa.array([1.0] * 8 + [None], pa.float32())
    ints = pa.array([0], pa.int32())
    table = pa.table([ints, ints, ints, pa.FixedSizeListArray.from_arrays(values, 9)], schema=store.FILTER_SCHEMA)
    with pytest.raises(store.DataError, match=r"bad\.parquet: the filters to write have null values"):
        store.write_stream([table], tmp_path / "bad.parquet", store.FILTER_SCHEMA, META)
    assert not list(tmp_path.iterdir())


def test_table_without_chunks(tmp_path):
    table = pa.Table.from_batches([], schema=store.FILTER_SCHEMA)
    assert_contract(write(tmp_path, table), table)
