"""The Parquet contract on read: schema checks that name file and column, streaming by layer."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synthetic_db as synthetic
from filterdb import store


def write_raw(path, table, version=store.SCHEMA_VERSION, row_group_size=store.tables.ROW_GROUP_SIZE):
    meta = {store.SCHEMA_KEY: version.encode(), store.MODEL_KEY: b"m"}
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=row_group_size)


def small_table(n_per_layer=(5, 7, 3), seed=0):
    rng = np.random.default_rng(seed)
    layer = np.repeat(np.arange(len(n_per_layer), dtype=np.int32), n_per_layer)
    n = len(layer)
    kernels = rng.standard_normal((n, 9)).astype(np.float32)
    return store.filters_table(layer, np.zeros(n, np.int32), np.arange(n, dtype=np.int32), kernels), kernels


def test_wrong_version_names_the_file(tmp_path):
    table, _ = small_table()
    write_raw(tmp_path / "old.parquet", table, version="0")
    with pytest.raises(store.SchemaError, match=r"old\.parquet.*schema version '0'"):
        store.open_filters(tmp_path / "old.parquet")
    with pytest.raises(store.SchemaError, match=r"old\.parquet"):
        store.read_table(tmp_path / "old.parquet")


def test_missing_metadata_and_missing_or_mistyped_column(tmp_path):
    table, _ = small_table()
    pq.write_table(table, tmp_path / "plain.parquet")
    with pytest.raises(store.SchemaError, match=r"plain\.parquet.*not a filterdb file"):
        store.open_filters(tmp_path / "plain.parquet")
    write_raw(tmp_path / "nocol.parquet", table.drop_columns(["in_ch"]))
    with pytest.raises(store.SchemaError, match=r"nocol\.parquet: column 'in_ch' is missing"):
        store.open_filters(tmp_path / "nocol.parquet")
    flat = pa.table({"layer": pa.array([0], pa.int32()), "out_ch": pa.array([0], pa.int32()),
                     "in_ch": pa.array([0], pa.int32()), "kernel": pa.array([[1.0] * 9], pa.list_(pa.float64()))})  # fmt: skip
    write_raw(tmp_path / "typed.parquet", flat)
    with pytest.raises(store.SchemaError, match=r"typed\.parquet: column 'kernel' has type"):
        store.open_filters(tmp_path / "typed.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(store.SchemaError, match=r"junk\.parquet: not a readable Parquet file"):
        store.open_filters(tmp_path / "junk.parquet")
    write_raw(tmp_path / "ok.parquet", table)
    with pytest.raises(store.SchemaError, match=r"ok\.parquet: column 'nope' is missing"):
        store.read_table(tmp_path / "ok.parquet", ["nope"])


@pytest.mark.parametrize("row_group_size", [1, 4, 6, 1000])
def test_layers_stream_whole_whatever_the_row_groups(tmp_path, row_group_size):
    table, kernels = small_table((5, 7, 3, 11))
    write_raw(tmp_path / "f.parquet", table, row_group_size=row_group_size)
    seen = list(store.iter_layer_kernels(tmp_path / "f.parquet", columns=("in_ch",)))
    assert [layer for layer, _, _ in seen] == [0, 1, 2, 3]
    assert np.array_equal(np.concatenate([k for _, k, _ in seen]), kernels)
    assert np.array_equal(np.concatenate([e["in_ch"] for _, _, e in seen]), np.arange(26))


def test_batches_that_cut_layers_keep_the_right_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(store.tables, "ROW_GROUP_SIZE", 4)  # batches of 4 rows, sliced by pyarrow
    table, kernels = small_table((5, 7, 3, 11), seed=1)
    write_raw(tmp_path / "f.parquet", table, row_group_size=3)
    got = np.concatenate([k for _, k, _ in store.iter_layer_kernels(tmp_path / "f.parquet")])
    assert np.array_equal(got, kernels)


def test_unsorted_rows_and_nonfinite_weights_are_errors(tmp_path):
    table, kernels = small_table((2, 2))
    shuffled = table.take([0, 2, 1, 3])
    write_raw(tmp_path / "shuffled.parquet", shuffled)
    with pytest.raises(store.DataError, match=r"shuffled\.parquet: the rows of layer 0 are not contiguous"):
        list(store.iter_layer_kernels(tmp_path / "shuffled.parquet"))
    kernels[3, 4] = np.nan
    layer = np.array([0, 0, 1, 1], np.int32)
    write_raw(tmp_path / "nan.parquet", store.filters_table(layer, layer, layer, kernels))
    with pytest.raises(store.DataError, match=r"nan\.parquet: layer 1 has 1 filters with NaN"):
        list(store.iter_layer_kernels(tmp_path / "nan.parquet"))
    assert len(list(store.iter_layer_kernels(tmp_path / "nan.parquet", check_finite=False))) == 2


def test_write_is_deterministic_and_atomic(tmp_path):
    a = synthetic.write_model(tmp_path / "a.parquet", "m", [(4, 3), (2, 2)], seed=1)
    b = synthetic.write_model(tmp_path / "b.parquet", "m", [(4, 3), (2, 2)], seed=1)
    assert a == b
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    with pytest.raises(RuntimeError):
        with store.atomic_path(tmp_path / "c.parquet") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet"]
    info, facts = store.filters_metadata(tmp_path / "a.parquet")
    assert info["n_filters"] == 16 and [f["n_filters"] for f in facts] == [12, 4]


def test_dead_temporaries_of_an_output_are_removed_by_its_next_write(tmp_path):
    target = tmp_path / "m.parquet"
    dead = tmp_path / ".m.parquet.0123abcd.parquet"  # as left by a writer killed mid-write
    other = tmp_path / ".m.parquet.x.parquet.0123abcd.parquet"  # another output's temporary
    foreign = tmp_path / ".m.parquet.notes"
    for path in (dead, other, foreign):
        path.write_bytes(b"partial")
    with store.atomic_path(target, suffix=".parquet") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".m.parquet.") and tmp.exists()
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists() and other.exists() and foreign.exists()


@pytest.mark.parametrize("compression", ["zstd", "none", "snappy", "gzip", "lz4", "brotli"])
@pytest.mark.parametrize("data_page_version", ["1.0", "2.0"])
@pytest.mark.parametrize("nullable_item", [True, False])
@pytest.mark.parametrize("header_window", [1024, 8])  # 8 bytes: every header needs the retry
def test_fast_page_reader_equals_pyarrow(tmp_path, monkeypatch, compression, data_page_version, nullable_item,
                                         header_window):
    from filterdb import _pages

    monkeypatch.setattr(_pages, "_HEADER_WINDOW", header_window)

    rng = np.random.default_rng(5)
    n = 20_011
    kernels = rng.standard_normal((n, 9)).astype(np.float32)
    item = pa.field("item", pa.float32(), nullable=nullable_item)
    kernel = pa.FixedSizeListArray.from_arrays(pa.array(kernels.reshape(-1)), type=pa.list_(item, 9))
    layer = np.repeat(np.arange(3, dtype=np.int32), [7_000, 3, n - 7_003])
    table = pa.table({"layer": layer, "out_ch": layer, "in_ch": layer, "kernel": kernel})
    meta = {store.SCHEMA_KEY: store.SCHEMA_VERSION.encode()}
    path = tmp_path / "f.parquet"
    pq.write_table(table.replace_schema_metadata(meta), path, compression=compression, row_group_size=8_192,
                   data_page_size=10_000, data_page_version=data_page_version, use_dictionary=False)  # fmt: skip
    handle = pq.ParquetFile(path)
    with _pages.KernelPages(path) as pages:  # one reused read buffer for all row groups
        kept = [pages.values(handle, group, 3) for group in range(handle.num_row_groups)]
    for group, values in enumerate(kept):  # checked after all were read: none overwritten
        expected = handle.read_row_group(group, columns=["kernel"]).column(0).combine_chunks().flatten().to_numpy()
        if compression != "lz4":  # LZ4 (framed, legacy) is left to pyarrow
            assert values is not None
        if values is not None:
            assert np.array_equal(values, expected)
    got = np.concatenate([k for _, k, _ in store.iter_layer_kernels(path, check_finite=False)])
    assert np.array_equal(got, kernels)


@pytest.mark.parametrize("fast", [True, False])
def test_transient_layers_equal_owned_layers(tmp_path, fast):
    """One reused row-group buffer: every layer, consumed before the next, is unchanged,
    including layers that span three row groups and row groups that hold several layers."""
    rng = np.random.default_rng(9)
    sizes = [5, 2_500, 7, 6_000, 1_000, 3]
    kernels = rng.standard_normal((sum(sizes), 9)).astype(np.float32)
    layer = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    table = store.filters_table(layer, layer, layer, kernels)
    path = tmp_path / "t.parquet"
    pq.write_table(table.replace_schema_metadata({store.SCHEMA_KEY: store.SCHEMA_VERSION.encode()}), path,
                   row_group_size=2_048, data_page_size=4_000, use_dictionary=False)  # fmt: skip
    assert pq.ParquetFile(path).num_row_groups == 5
    owned = [(i, k.copy()) for i, k, _ in store.iter_layer_kernels(path, fast=fast)]
    seen = []
    for i, k, _ in store.iter_layer_kernels(path, fast=fast, transient=True):
        seen.append((i, hashlib.sha256(k.tobytes()).hexdigest()))
    assert seen == [(i, hashlib.sha256(k.tobytes()).hexdigest()) for i, k in owned]
    assert np.array_equal(np.concatenate([k for _, k in owned]), kernels)


def test_fast_page_reader_falls_back_on_a_damaged_snappy_page(tmp_path):
    """A Snappy page whose stream does not decode to its size (no CRC to catch it first):
    the page reader answers None, and the pyarrow read behind it names the damage."""
    from filterdb import _pages

    kernels = np.random.default_rng(2).standard_normal((3_000, 9)).astype(np.float32)
    layer = np.zeros(len(kernels), np.int32)
    table = store.filters_table(layer, layer, layer, kernels)
    path = tmp_path / "f.parquet"
    pq.write_table(table.replace_schema_metadata({store.SCHEMA_KEY: store.SCHEMA_VERSION.encode()}), path,
                   compression="snappy", use_dictionary=False, write_page_checksum=False)  # fmt: skip
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(3)
    data = bytearray(path.read_bytes())
    reader = _pages._Compact(memoryview(bytes(data)), chunk.data_page_offset)
    reader.struct(_pages._PAGE_HEADER)
    data[reader.pos] ^= 0x01  # the stream's size preamble, one off
    path.write_bytes(bytes(data))
    with _pages.KernelPages(path) as pages:
        assert pages.values(pq.ParquetFile(path), 0, 3) is None


def test_a_page_size_out_of_range_is_not_decoded(tmp_path):
    """A header's uncompressed size is not covered by the page's CRC: a negative one must not
    hand back the previous page's bytes from the reused buffer."""
    import pyarrow as pa

    from filterdb import _pages

    path = tmp_path / "x.bin"
    path.write_bytes(b"")
    packed = memoryview(pa.Codec("snappy").compress(b"0123456789" * 100, asbytes=True))
    with _pages.KernelPages(path) as pages:
        assert bytes(pages.decompress("snappy", packed, 1000)) == b"0123456789" * 100
        for size in (-1, -1000, _pages._MAX_PAGE + 1):
            with pytest.raises(_pages._Unexpected, match="uncompressed size"):
                pages.decompress("snappy", packed, size)


def test_fast_page_reader_falls_back_on_nulls_and_dictionaries(tmp_path):
    from filterdb import _pages

    values = pa.array([1.0] * 17 + [None] + [2.0] * 18, pa.float32())
    kernel = pa.FixedSizeListArray.from_arrays(values, 9)
    table = pa.table({"layer": pa.array([0] * 4, pa.int32()), "out_ch": pa.array([0] * 4, pa.int32()),
                      "in_ch": pa.array([0] * 4, pa.int32()), "kernel": kernel})  # fmt: skip
    meta = {store.SCHEMA_KEY: store.SCHEMA_VERSION.encode()}
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "n.parquet", use_dictionary=False)
    handle = pq.ParquetFile(tmp_path / "n.parquet")
    with _pages.KernelPages(tmp_path / "n.parquet") as pages:
        assert pages.values(handle, 0, 3) is None
    with pytest.raises(store.DataError, match="layer 0 has 1 filters with NaN"):
        list(store.iter_layer_kernels(tmp_path / "n.parquet"))
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "d.parquet", use_dictionary=True)
    handle = pq.ParquetFile(tmp_path / "d.parquet")
    with _pages.KernelPages(tmp_path / "d.parquet") as pages:
        assert pages.values(handle, 0, 3) is None


@pytest.mark.parametrize(
    "values, arrow_type",
    [
        (["resnet18", "ünïcode", ""], pa.large_string()),
        (["a", "bc"], pa.string()),
        ([True, False, True, True, False, False, True, False, True], pa.bool_()),
        ([1, -2, 2**31 - 1], pa.int32()),
        ([2**40, 0], pa.int64()),
        ([0.5, float("nan"), -float("inf")], pa.float64()),
        (["x", None], pa.large_string()),
        ([], pa.float64()),
    ],
)
def test_arrow_column_equals_pa_array(values, arrow_type):
    built = store.arrow_column(values, arrow_type)
    assert built.type == arrow_type
    built.validate(full=True)
    assert built.to_pylist() == pa.array(values, arrow_type).to_pylist() or (
        arrow_type == pa.float64() and np.array_equal(built.to_numpy(), np.asarray(values), equal_nan=True)
    )
