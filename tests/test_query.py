"""results/filters/*.parquet is one table for DuckDB, Polars and pyarrow.dataset."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pytest

import synthetic_db as synthetic
from filterdb import store

MODELS = {"alpha": [(8, 4), (16, 8)], "beta": [(4, 4)], "gamma": [(12, 6), (6, 6), (3, 3)]}


@pytest.fixture(scope="module")
def filters_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("results") / "filters"
    for seed, (model, shapes) in enumerate(MODELS.items()):
        synthetic.write_model(root / f"{model}.parquet", model, shapes, seed=seed, group=seed)
    return root


def expected_counts():
    return {(m, layer): cout * cin for m, shapes in MODELS.items() for layer, (cout, cin) in enumerate(shapes)}


def expected_peak(filters_dir):
    return {m: max(float(np.abs(k).max()) for _, k, _ in store.iter_layer_kernels(filters_dir / f"{m}.parquet")) for m in MODELS}


def test_duckdb_reads_all_models_as_one_table(filters_dir):
    duckdb = pytest.importorskip("duckdb")
    query = f"""
        SELECT regexp_extract(filename, '([^/]+)\\.parquet$', 1) AS model, layer,
               count(*) AS n_filters, max(greatest(list_max(kernel), -list_min(kernel))) AS peak
        FROM read_parquet('{filters_dir}/*.parquet', filename = true)
        GROUP BY ALL ORDER BY model, layer
    """
    rows = duckdb.sql(query).fetchall()
    assert {(m, layer): n for m, layer, n, _ in rows} == expected_counts()
    peaks = expected_peak(filters_dir)
    for model in MODELS:
        assert max(p for m, _, _, p in rows if m == model) == pytest.approx(peaks[model], rel=1e-7)


def test_polars_reads_all_models_as_one_table(filters_dir):
    pl = pytest.importorskip("polars")
    frame = (
        pl.scan_parquet(str(filters_dir / "*.parquet"), include_file_paths="path")
        .with_columns(pl.col("path").str.extract(r"([^/]+)\.parquet$").alias("model"))
        .group_by("model", "layer")
        .agg(pl.len().alias("n_filters"))
        .collect()
    )
    assert {(r["model"], r["layer"]): r["n_filters"] for r in frame.iter_rows(named=True)} == expected_counts()


def test_pyarrow_dataset_reads_all_models_as_one_table(filters_dir):
    dataset = ds.dataset(filters_dir, format="parquet")
    table = dataset.to_table(columns=["layer", "kernel"])  # one table over every model
    assert table.num_rows == sum(expected_counts().values())
    kernels = table.column("kernel").combine_chunks().flatten().to_numpy()
    assert kernels.shape == (9 * table.num_rows,) and kernels.dtype == np.float32
    counts = {}
    for fragment in dataset.get_fragments():  # the model is the file name
        model = fragment.path.rsplit("/", 1)[-1].removesuffix(".parquet")
        layers, sizes = np.unique(fragment.to_table(columns=["layer"]).column("layer").to_numpy(), return_counts=True)
        counts.update({(model, int(layer)): int(n) for layer, n in zip(layers, sizes)})
    assert counts == expected_counts()
