"""The store's artifacts: each one's writer and reader give back what went in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthetic_db as synthetic
from filterdb import shift, store
from filterdb.plots.style import rank_groups


def test_basis_edges_and_range_round_trip(tmp_path):
    basis = {"mean": np.arange(9.0), "components": np.eye(9), "explained_variance": np.ones(9),
             "explained_variance_ratio": np.full(9, 1 / 9), "n_filters": 12, "models": ["a", "b"]}  # fmt: skip
    store.write_basis(tmp_path / "basis.json", basis)
    back = store.read_basis(tmp_path / "basis.json")
    for key in store.BASIS_ARRAYS:
        assert back[key].dtype == np.float64 and np.array_equal(back[key], basis[key])
    assert back["models"] == ["a", "b"] and back["n_filters"] == 12
    edges = shift.range_edges("paper", -np.ones(9), np.ones(9), 70)
    store.write_bin_edges(tmp_path / "edges.json", edges, "paper")
    assert np.array_equal(store.read_bin_edges(tmp_path / "edges.json"), edges)
    assert store.read_range_policy(tmp_path / "edges.json") == "paper"
    store.write_bin_edges(tmp_path / "fixed.json", edges, [-1, 1])
    assert store.read_range_policy(tmp_path / "fixed.json") == "fixed"
    store.write_range(tmp_path / "r.json", -np.arange(9.0), np.arange(9.0))
    low, high = store.read_range(tmp_path / "r.json")
    assert np.array_equal(low, -np.arange(9.0)) and np.array_equal(high, np.arange(9.0))
    store.write_range(tmp_path / "empty.json", np.full(9, np.inf), np.full(9, -np.inf))
    assert store.read_range(tmp_path / "empty.json") is None


def test_bucket_index_lists_each_models_files_and_refuses_a_missing_one(tmp_path):
    files = {m: tmp_path / f"{m}.parquet" for m in ("a", "b")}
    for path in files.values():
        path.write_bytes(b"x")
    index = tmp_path / "buckets" / "07.tsv"
    store.write_bucket_index(index, ["a", "b"], histograms=[str(p) for p in files.values()])
    assert index.read_text().splitlines() == ["model\thistograms", *(f"{m}\t{p}" for m, p in files.items())]
    files["b"].unlink()
    with pytest.raises(store.DataError, match=r"08\.tsv: histograms file .*b\.parquet was not written"):
        store.write_bucket_index(tmp_path / "08.tsv", ["a", "b"], histograms=[str(p) for p in files.values()])
    assert not (tmp_path / "08.tsv").exists()
    with pytest.raises(ValueError, match="1 histograms files for 2 models"):
        store.write_bucket_index(tmp_path / "09.tsv", ["a", "b"], histograms=[str(files["a"])])


def test_pooled_edges_skip_models_without_filters():
    ranges = [None, (np.full(9, -2.0), np.full(9, 1.0)), (np.full(9, -1.0), np.full(9, 3.0))]
    edges = shift.pooled_edges("paper", ranges, 4)
    assert (edges[:, 0] == -2).all() and (edges[:, -1] == 3).all()
    with pytest.raises(store.DataError, match="no model of the basis pool holds any 3×3 filter"):
        shift.pooled_edges("paper", [None], 4)
    assert np.array_equal(shift.pooled_edges([-1, 1], [], 2), np.tile([-1.0, 0.0, 1.0], (9, 1)))


def test_histograms_and_model_ids(tmp_path):
    counts = np.arange(2 * 9 * 3, dtype=np.int64).reshape(2, 9, 3)
    store.write_histograms(tmp_path / "x.parquet", "model-a", [0, 2], [5, 7], counts)
    layers, back = store.read_histograms(tmp_path / "x.parquet")
    assert layers.tolist() == [0, 2] and np.array_equal(back, counts)
    assert store.model_id_of(tmp_path / "x.parquet") == "model-a"
    store.write_table(store.histograms_table(np.zeros(0, np.int32), np.zeros(0), np.zeros((0, 9, 3), np.int64)),
                      tmp_path / "anonymous.parquet", store.file_metadata())  # fmt: skip
    with pytest.raises(store.SchemaError, match=r"anonymous\.parquet: no model id"):
        store.model_id_of(tmp_path / "anonymous.parquet")
    assert store.histogram_files([tmp_path / "x.parquet", tmp_path / "anonymous.parquet"]) == {
        "model-a": str(tmp_path / "x.parquet"), "anonymous": str(tmp_path / "anonymous.parquet")}  # fmt: skip
    store.write_histograms(tmp_path / "y.parquet", "model-a", [0], [1], counts[:1])
    with pytest.raises(store.DataError, match="two histogram files of model 'model-a'"):
        store.histogram_files([tmp_path / "x.parquet", tmp_path / "y.parquet"])


def test_group_sums_from_files_equal_sums_from_memory(tmp_path):
    rng = np.random.default_rng(0)
    layers = pd.DataFrame({"model": ["a", "a", "b", "b", "c"], "layer": [0, 1, 0, 1, 0],
                           "n_filters": [3, 4, 5, 6, 7], "task": ["x", None, "x", np.nan, "y"]})  # fmt: skip
    memory, files = {}, {}
    for model, part in layers.groupby("model"):
        counts = rng.integers(0, 9, size=(len(part), 9, 4))
        memory[model] = (part["layer"].to_numpy(np.int32), counts)
        store.write_histograms(tmp_path / f"{model}.parquet", model, part["layer"], part["n_filters"], counts)
        files[model] = str(tmp_path / f"{model}.parquet")
    a, sizes_a = shift.group_histograms(layers, memory, "task")
    b, sizes_b = shift.group_histograms(layers, store.histogram_files(files.values()), "task")
    assert a.keys() == b.keys() == {"x", "y", shift.MISSING_GROUP}
    assert all(np.array_equal(a[g], b[g]) for g in a)
    assert sizes_a.equals(sizes_b)


def test_missing_values_have_one_group_name_in_shift_and_figures():
    table = pd.DataFrame({"model": ["a", "b", "c", "d"], "n_filters": [1, 2, 3, 4],
                          "category": ["x", None, np.nan, "x"]})  # fmt: skip
    assert shift.group_keys(table, "category").tolist() == ["x", "NA", "NA", "x"]
    groups = rank_groups(table, "category")
    assert set(groups.ranked) == {"x", "NA"} and groups.filters["NA"] == 5
    assert groups.key(table["category"]).tolist() == ["x", "NA", "NA", "x"]


def test_shift_parquet_round_trip(tmp_path):
    names = ["b", "a", "10", "NA"]  # the matrix's order, not sorted; names that look like numbers or NaN stay text
    values = np.random.default_rng(1).random((4, 4))
    matrix = pd.DataFrame((values + values.T) / 2, index=names, columns=names)
    groups = pd.DataFrame({"group": names, "models": [1, 2, 3, 4], "layers": [1, 1, 1, 1],
                           "filters": [10, 20, 30, 40], "status": ["kept"] * 4})  # fmt: skip
    store.write_shift(tmp_path / "x.parquet", matrix, groups, tsv=tmp_path / "x.tsv", groups_tsv=tmp_path / "x.groups.tsv")
    back = store.read_shift(tmp_path / "x.parquet")
    assert back.index.tolist() == names and back.columns.tolist() == names
    assert back.to_numpy().tobytes() == matrix.to_numpy().tobytes()  # full precision
    assert store.read_shift_groups(tmp_path / "x.groups.tsv").equals(groups)
    assert (tmp_path / "x.tsv").read_text().splitlines()[0] == "\tb\ta\t10\tNA"


def test_synthetic_model_is_a_valid_filters_file(tmp_path):
    info = synthetic.write_model(tmp_path / "m.parquet", "m", [(4, 2), (3, 4)], seed=1)
    read_info, facts = store.filters_metadata(tmp_path / "m.parquet")
    assert read_info == info and [f["n_filters"] for f in facts] == [8, 12]
    assert store.model_id_of(tmp_path / "m.parquet") == "m"
