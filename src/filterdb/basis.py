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

from . import metrics, store
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
    s_total = np.zeros(9)
    s_outer = np.zeros((9, 9))
    work = np.empty((9, min(metrics.CHUNK, n)))
    spare = np.empty_like(work)
    peak = np.empty(min(metrics.CHUNK, n))
    for _, xt in metrics.iter_chunks(w):
        k = xt.shape[1]
        a, p = work[:, :k], peak[:k]
        np.abs(xt, out=a)
        np.max(a, axis=0, out=p)
        metrics.scale_chunk(xt, p, a)
        s_outer += metrics.gram(a, spare)
        s_total += a.sum(axis=1)
    total["count"] = total["count"] + n
    total["sum"] = total["sum"] + s_total
    total["outer"] = total["outer"] + s_outer
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

    c = V · (f / max|f|) − V · mean for each filter f, V the components (rows). One
    code path serves ``project``, ``coefficient_range`` and the histograms, so the
    database range and the histogram bins see bit-identical coefficients.
    """

    def __init__(self, basis: dict):
        self.components = np.ascontiguousarray(basis["components"], dtype=np.float64)
        self.offset = (self.components @ np.asarray(basis["mean"], dtype=np.float64))[:, None]

    def raw_chunks(self, kernels: np.ndarray, chunk: int = metrics.CHUNK):
        """Yield (start, V · (f / max|f|) as (9, k)), the coefficients before ``- offset``.

        Blocks are contiguous (9, k) views of two buffers reused between chunks: the
        transposed filters, then their scaled copy, then (in the first buffer again) the
        product, so that a chunk's working set is two blocks.
        """
        w = metrics._as_kernels(kernels)
        n = w.shape[0]
        size = min(chunk, max(n, 1))
        first = np.empty(9 * size)
        second = np.empty(9 * size)
        peak = np.empty(size)
        for start in range(0, n, chunk):
            part = w[start : start + chunk]
            k = part.shape[0]
            xt = first[: 9 * k].reshape(9, k)
            a = second[: 9 * k].reshape(9, k)
            p = peak[:k]
            np.copyto(xt, part.T)
            np.abs(xt, out=a)
            np.max(a, axis=0, out=p)
            metrics.scale_chunk(xt, p, a)
            np.matmul(self.components, a, out=xt)
            yield start, xt

    def chunks(self, kernels: np.ndarray, chunk: int = metrics.CHUNK):
        """Yield (start, coefficients (9, k)); the buffer is reused between chunks."""
        for start, c in self.raw_chunks(kernels, chunk):
            c -= self.offset
            yield start, c


def project(kernels: np.ndarray, basis: dict) -> np.ndarray:
    """Coefficients c0…c8 (n, 9) of scaled, centred filters in the basis."""
    w = metrics._as_kernels(kernels)
    result = np.empty((w.shape[0], 9))
    for start, c in Projector(basis).chunks(w):
        result[start : start + c.shape[1]] = c.T
    return result


def coefficient_range(filters_path: str | os.PathLike, basis: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient min and max over one model's filters (inf/−inf when it has none).

    The min and max are taken before the offset is subtracted, and the offset is then
    subtracted from them alone: rounding is monotonic, so min(fl(v − o)) = fl(min(v) − o)
    (and the same for max), bit for bit, which spares a pass over the coefficients.
    """
    low = np.full(9, np.inf)
    high = np.full(9, -np.inf)
    projector = Projector(basis)
    for layer, kernels, _ in store.iter_layer_kernels(filters_path, check_finite=False, transient=True):
        for _, v in projector.raw_chunks(kernels):
            np.minimum(low, v.min(axis=1), out=low)
            np.maximum(high, v.max(axis=1), out=high)
        if np.isnan(low).any() or np.isnan(high).any():
            store.check_finite_kernels(kernels, filters_path, layer)
    offset = projector.offset[:, 0]
    return low - offset, high - offset
