"""Per-layer statistics of a filters file: columns, values, depth deciles, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import synthetic_db as synthetic
from filterdb import basis, metrics, stats, store

SHAPES = [(8, 3), (16, 8), (16, 16), (32, 16)]


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", SHAPES, seed=3, sparse_share=0.2)
    return path


def test_layer_table_columns_and_values(model_file):
    frame = synthetic.layer_stats(model_file, "m")
    assert list(frame.columns) == store.LAYER_COLUMNS
    assert frame["layer"].tolist() == [0, 1, 2, 3]
    kernels = {layer: k for layer, k, _ in store.iter_layer_kernels(model_file)}
    for row in frame.itertuples():
        expected = metrics.layer_metrics(kernels[row.layer], row.out_channels)
        assert row.n_filters == kernels[row.layer].shape[0]
        for key, value in expected.items():
            assert getattr(row, key) == pytest.approx(value, rel=1e-12, nan_ok=True), key
    assert frame["depth_decile"].tolist() == [0, 3, 6, 9]


def test_one_read_gives_stats_and_moments(model_file, tmp_path):
    frame, total = synthetic.scan_filters(model_file, "m")
    alone = basis.moments(model_file)
    assert int(total["count"]) == int(alone["count"]) == frame["n_filters"].sum()
    assert np.allclose(total["outer"], alone["outer"], rtol=1e-13, atol=0)
    stats.write_layer_stats(model_file, tmp_path / "l.parquet", "m", moments_path=tmp_path / "m.npz")
    assert np.array_equal(store.load_moments(tmp_path / "m.npz")["sum"], total["sum"])
    assert pq.read_schema(tmp_path / "l.parquet").metadata[store.MODEL_KEY] == b"m"


def test_depth_deciles_edges():
    x = np.array([0.0, 0.05, 0.1, 0.1000001, 0.5, 0.95, 1.0])
    assert stats.depth_decile(x).tolist() == [0, 0, 0, 1, 4, 9, 9]


def test_flags_use_configured_cutoffs(model_file):
    frame = synthetic.layer_stats(model_file, "m", {"sparse_min": 0.0})
    assert frame["flag_sparse"].all()
    frame = synthetic.layer_stats(model_file, "m", {"random_like_min": 0.0, "random_like_min_filters": 2})
    assert frame["flag_random_like"].all()
    # layers below the minimum size are never random-like, whatever their H/TH
    frame = synthetic.layer_stats(model_file, "m", {"random_like_min": 0.0, "random_like_min_filters": 10**9})
    assert not frame["flag_random_like"].any()


def test_nan_filter_is_an_error_naming_file_and_layer(tmp_path):
    rng = np.random.default_rng(0)
    kernels = [rng.standard_normal((s[0] * s[1], 9)) for s in SHAPES]
    kernels[2][5, 1] = np.nan
    synthetic.write_model(tmp_path / "bad.parquet", "bad", SHAPES, kernels=kernels)
    with pytest.raises(store.DataError, match=r"bad\.parquet: layer 2 has 1 filters with NaN"):
        synthetic.layer_stats(tmp_path / "bad.parquet", "bad")
    with pytest.raises(store.DataError, match=r"bad\.parquet: layer 2"):
        basis.moments(tmp_path / "bad.parquet")


def test_metadata_that_disagrees_with_the_rows(tmp_path, model_file):
    table = pq.read_table(model_file)
    info, facts = store.filters_metadata(model_file)
    facts[1]["n_filters"] += 1
    store.write_table(table, tmp_path / "x.parquet", store.file_metadata("m", model_info=info, layers=facts))
    # caught when the metadata is read: n_filters no longer fits the layer's channels
    with pytest.raises(store.SchemaError, match=r"x\.parquet: inconsistent layer metadata: layer 1 \('layer1.conv'\): n_filters=129"):
        synthetic.layer_stats(tmp_path / "x.parquet", "m")


@pytest.mark.parametrize("k", [1, 5, 20, 1000])
@pytest.mark.parametrize("row_group_size", [None, 37])
def test_first_filters_of_the_stats_pass_equal_the_separate_read(model_file, tmp_path, k, row_group_size):
    """layer_stats writes the first k filters of each layer in its pass over the file: the
    same bytes as plots.data.first_filters (the separate read it replaces), also when a
    layer spans row groups (the pass reuses its buffers)."""
    import pyarrow.parquet as pq

    from filterdb.plots.data import first_filters

    path = model_file
    if row_group_size:
        path = tmp_path / "chunked.parquet"
        pq.write_table(store.open_filters(model_file).read(), path, row_group_size=row_group_size)
    stats.write_layer_stats(path, tmp_path / "l.parquet", "m", first_path=tmp_path / "first.parquet", first_k=k)
    store.write_table(first_filters(path, k), tmp_path / "alone.parquet", store.file_metadata("m"))
    assert (tmp_path / "first.parquet").read_bytes() == (tmp_path / "alone.parquet").read_bytes()
    assert stats.FirstFilters(k).table().num_rows == 0
