"""The basis: streamed moment sums against in-memory PCA (scikit-learn), signs, projection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

import synthetic_db as synthetic
from filterdb import basis, store

MODELS = {
    "a": ([(16, 8), (32, 16)], 0),
    "b": ([(8, 8), (64, 32), (4, 4)], 1),
    "c": ([(24, 24)], 2),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    root = tmp_path_factory.mktemp("db")
    paths = {}
    for model, (shapes, group) in MODELS.items():
        paths[model] = root / f"{model}.parquet"
        synthetic.write_model(paths[model], model, shapes, seed=7, group=group, sparse_share=0.05)
    return paths


def all_kernels(paths) -> np.ndarray:
    return np.concatenate([k for p in paths.values() for _, k, _ in store.iter_layer_kernels(p)]).astype(np.float64)


def in_memory_scaled(kernels: np.ndarray) -> np.ndarray:
    peak = np.abs(kernels).max(axis=1, keepdims=True)
    return np.where(peak > 0, kernels / np.where(peak > 0, peak, 1), 0.0)


def test_streamed_basis_equals_in_memory_pca(database):
    streamed = basis.basis_from_moments(basis.moments(p) for p in database.values())
    scaled = in_memory_scaled(all_kernels(database))
    pca = PCA(n_components=9, svd_solver="full").fit(scaled)
    assert streamed["n_filters"] == len(scaled)
    assert np.allclose(streamed["mean"], pca.mean_, rtol=0, atol=1e-12)
    assert np.allclose(streamed["explained_variance"], pca.explained_variance_, rtol=1e-9, atol=1e-12)
    assert np.allclose(streamed["explained_variance_ratio"], pca.explained_variance_ratio_, rtol=1e-9, atol=1e-12)
    # same directions up to sign; our signs: largest-magnitude entry positive
    signs = np.sign((streamed["components"] * pca.components_).sum(axis=1))
    assert np.allclose(streamed["components"], signs[:, None] * pca.components_, atol=1e-9)
    pivot = np.argmax(np.abs(streamed["components"]), axis=1)
    assert (streamed["components"][np.arange(9), pivot] > 0).all()


def test_basis_does_not_depend_on_model_order_or_split(database):
    parts = [basis.moments(p) for p in database.values()]
    one = basis.basis_from_moments(parts)
    other = basis.basis_from_moments(parts[::-1])
    assert np.allclose(one["components"], other["components"], atol=1e-12)
    whole = basis.add_moments(basis.empty_moments(), all_kernels(database))
    assert np.allclose(whole["outer"], sum(p["outer"] for p in parts), rtol=1e-12)


def test_projection_and_range_against_direct_formula(database):
    b = basis.basis_from_moments(basis.moments(p) for p in database.values())
    kernels = all_kernels(database)
    direct = (in_memory_scaled(kernels) - b["mean"]) @ b["components"].T
    assert np.allclose(basis.project(kernels, b), direct, rtol=0, atol=1e-12)
    low = np.min([basis.coefficient_range(p, b)[0] for p in database.values()], axis=0)
    high = np.max([basis.coefficient_range(p, b)[1] for p in database.values()], axis=0)
    assert np.allclose(low, direct.min(axis=0), atol=1e-12)
    assert np.allclose(high, direct.max(axis=0), atol=1e-12)
    # the coefficients are uncorrelated, with the basis' variances
    assert np.allclose(np.cov(direct.T), np.diag(b["explained_variance"]), atol=1e-9)


def test_zero_filters_stay_zero_and_serialisation_round_trips(tmp_path, database):
    kernels = np.zeros((3, 9))
    kernels[1] = np.arange(9) - 4.0
    scaled = basis.scale_filters(kernels)
    assert np.array_equal(scaled[0], np.zeros(9)) and np.abs(scaled[1]).max() == 1.0
    total = basis.moments(database["a"])
    store.save_moments(total, tmp_path / "m.npz")
    loaded = store.load_moments(tmp_path / "m.npz")
    assert all(np.array_equal(loaded[k], total[k]) for k in total)
    b = basis.basis_from_moments([total])
    back = store.basis_from_json(json.loads(json.dumps(store.basis_to_json(b))))
    assert np.array_equal(back["components"], b["components"]) and back["n_filters"] == b["n_filters"]


def test_too_few_filters():
    with pytest.raises(store.DataError, match="fewer than two filters"):
        basis.basis_from_moments([basis.add_moments(basis.empty_moments(), np.ones((1, 9)))])
