"""The global filter basis: exact 9-component PCA of max-abs-scaled filters from streamed moments.

Map: per model, ``moments(path)`` sums count, Σf and Σffᵀ (float64) over its scaled
filters. Reduce: ``basis_from_moments`` adds the sums of all models and diagonalises
the covariance. Then per model, ``coefficient_range`` gives min/max of every
coefficient, so that histograms share the database-wide range.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from . import io


def scale_filters(kernels: np.ndarray) -> np.ndarray:
    """Each filter divided by its own max |w|, float64; all-zero filters stay zero."""
    w = np.asarray(kernels, dtype=np.float64).reshape(-1, 9)
    peak = np.abs(w).max(axis=1, keepdims=True)
    return np.divide(w, peak, out=np.zeros_like(w), where=peak > 0)


def empty_moments() -> dict[str, np.ndarray]:
    return {"count": np.zeros((), np.int64), "sum": np.zeros(9), "outer": np.zeros((9, 9))}


def add_moments(total: dict, kernels: np.ndarray) -> dict:
    scaled = scale_filters(kernels)
    total["count"] = total["count"] + scaled.shape[0]
    total["sum"] = total["sum"] + scaled.sum(axis=0)
    total["outer"] = total["outer"] + scaled.T @ scaled
    return total


def moments(filters_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Moment sums of one model's scaled filters, streamed layer by layer."""
    total = empty_moments()
    for _, kernels, _ in io.iter_layer_kernels(filters_path):
        add_moments(total, kernels)
    return total


def save_moments(total: dict, path: str | os.PathLike) -> None:
    with io.atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **total)


def load_moments(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in ("count", "sum", "outer")}


def basis_from_moments(parts: Iterable[dict]) -> dict:
    """PCA of the pooled filters: mean (9,), components (9, 9) rows, variance, ratio.

    Components are sorted by explained variance; each one's sign makes its entry of
    largest magnitude positive (the first such entry on ties), so the basis is
    deterministic.
    """
    total = empty_moments()
    for part in parts:
        total = {k: total[k] + part[k] for k in total}
    n = int(total["count"])
    if n < 2:
        raise io.DataError("the database holds fewer than two filters: no basis can be computed")
    mean = total["sum"] / n
    covariance = (total["outer"] - n * np.outer(mean, mean)) / (n - 1)
    covariance = (covariance + covariance.T) / 2
    variance, vectors = np.linalg.eigh(covariance)
    order = np.argsort(variance)[::-1]
    variance = np.clip(variance[order], 0.0, None)
    components = vectors[:, order].T
    pivot = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(9), pivot])
    components *= signs[:, None]
    return {
        "n_filters": n,
        "mean": mean,
        "components": components,
        "explained_variance": variance,
        "explained_variance_ratio": variance / variance.sum(),
    }


def project(kernels: np.ndarray, basis: dict) -> np.ndarray:
    """Coefficients c0…c8 (n, 9) of scaled, centred filters in the basis."""
    return (scale_filters(kernels) - np.asarray(basis["mean"])) @ np.asarray(basis["components"]).T


def coefficient_range(filters_path: str | os.PathLike, basis: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient min and max over one model's filters (inf/−inf when it has none)."""
    low = np.full(9, np.inf)
    high = np.full(9, -np.inf)
    for _, kernels, _ in io.iter_layer_kernels(filters_path):
        coefficients = project(kernels, basis)
        low = np.minimum(low, coefficients.min(axis=0))
        high = np.maximum(high, coefficients.max(axis=0))
    return low, high


def basis_to_json(basis: dict) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in basis.items()}


def basis_from_json(data: dict) -> dict:
    return {k: (np.asarray(v, dtype=np.float64) if isinstance(v, list) else v) for k, v in data.items()}
