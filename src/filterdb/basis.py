"""The global filter basis: exact 9-component PCA of max-abs-scaled filters from streamed moments.

Map: per model, ``moments(path)`` sums count, Σf and Σffᵀ (float64) over its scaled
filters. Reduce: ``basis_from_moments`` adds the sums of all models and diagonalises
the covariance. Then per model, ``coefficient_range`` gives min/max of every
coefficient, so that histograms share the database-wide range. The basis' files
(JSON, frozen basis, moment sums): ``store.artifacts``.
"""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from . import kernels, metrics, store
from .errors import DataError


def scale_filters(kernels: np.ndarray) -> np.ndarray:
    """Each filter divided by its own max |w|, float64; all-zero filters stay zero."""
    w = np.asarray(kernels, dtype=np.float64).reshape(-1, 9)
    peak = np.abs(w).max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = w / peak
    scaled[peak[:, 0] == 0] = 0.0
    return scaled


def empty_moments() -> dict[str, np.ndarray]:
    return metrics.empty_moments()


def add_moments(total: dict, kernels: np.ndarray) -> dict:
    """Add count, Σf and Σffᵀ (float64) of the max-abs-scaled (n, 9) kernels to ``total``."""
    w = metrics._as_kernels(kernels)
    n = w.shape[0]
    if n == 0:
        return total
    raw, scaled = metrics.chunk_blocks(n)
    peak = np.empty(raw.shape[1])
    products = np.zeros((10, 10))
    for start in range(0, n, metrics.CHUNK):
        part = w[start : start + metrics.CHUNK]
        k = part.shape[0]
        x, a, p = raw[:, :k], scaled[:, :k], peak[:k]
        metrics.load_chunk(part, x, a, p)
        metrics.scale_chunk(x[:9], p, a[:9])
        products += a @ a.T  # row 9 (the ones row) gives Σf
    total["count"] = total["count"] + n
    total["sum"] = total["sum"] + products[9, :9]
    total["outer"] = total["outer"] + products[:9, :9]
    return total


def moments(filters_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Moment sums of one model's scaled filters, streamed layer by layer.

    (``stats.scan`` returns the same sums from the statistics pass.)
    """
    total = empty_moments()
    for layer, kernels, _ in store.iter_layer_kernels(filters_path, check_finite=False, transient=True):
        add_moments(total, kernels)
        if not np.isfinite(total["sum"]).all():  # NaN/Inf weights reach the sums
            store.check_finite_kernels(kernels, filters_path, layer)
    return total


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
        raise DataError("the database holds fewer than two filters: no basis can be computed")
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


class Projector:
    """Coefficients of filters in a basis, chunk by chunk, as (9, k) float64 blocks.

    c = V · (f / max|f|) − V · mean for each filter f, V the components (rows), computed
    as one product of [V | −V · mean] (9, 10) with the scaled filters over a row of ones.
    One code path serves ``project``, ``coefficient_range``, the histograms and the one
    pass of ``stats.scan`` (``kernels.project``, in ``project_scaled`` and in the compiled
    pass), so the database range and the histogram bins see bit-identical coefficients.
    """

    def __init__(self, basis: dict):
        components = np.asarray(basis["components"], dtype=np.float64)
        offset = components @ np.asarray(basis["mean"], dtype=np.float64)
        self.matrix = np.ascontiguousarray(np.column_stack([components, -offset]))

    def project_scaled(self, scaled: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Coefficients (9, k), written to ``out``, of scaled filters over a row of ones (10, k).

        In strict IEEE order (``kernels.project``), as the workflow's one pass projects."""
        return kernels.project(self.matrix, scaled, out)

    def chunks(self, kernels: np.ndarray, chunk: int = metrics.CHUNK):
        """Yield (start, coefficients (9, k)); the buffer is reused between chunks.

        Two (10, chunk) buffers as in ``metrics.layer_sums``: the transposed filters,
        their scaled copy, then (in the first one again) the product.
        """
        w = metrics._as_kernels(kernels)
        n = w.shape[0]
        raw, scaled = metrics.chunk_blocks(n, chunk)
        peak = np.empty(raw.shape[1])
        for start in range(0, n, chunk):
            part = w[start : start + chunk]
            k = part.shape[0]
            x, a, p = raw[:, :k], scaled[:, :k], peak[:k]
            metrics.load_chunk(part, x, a, p)
            metrics.scale_chunk(x[:9], p, a[:9])
            yield start, self.project_scaled(a, x[:9])


def project(kernels: np.ndarray, basis: dict) -> np.ndarray:
    """Coefficients c0…c8 (n, 9) of scaled, centred filters in the basis."""
    w = metrics._as_kernels(kernels)
    result = np.empty((w.shape[0], 9))
    for start, c in Projector(basis).chunks(w):
        result[start : start + c.shape[1]] = c.T
    return result


def coefficient_range(filters_path: str | os.PathLike, basis: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient min and max over one model's filters (inf/−inf when it has none)."""
    low = np.full(9, np.inf)
    high = np.full(9, -np.inf)
    projector = Projector(basis)
    for layer, kernels, _ in store.iter_layer_kernels(filters_path, check_finite=False, transient=True):
        for _, c in projector.chunks(kernels):
            np.minimum(low, c.min(axis=1), out=low)
            np.maximum(high, c.max(axis=1), out=high)
        if np.isnan(low).any() or np.isnan(high).any():
            store.check_finite_kernels(kernels, filters_path, layer)
    return low, high
