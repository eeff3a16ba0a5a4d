"""Measures on checkpoints: degeneracy with the workflow's own metrics, D between filter sets
with its own basis and shift functions, and Spearman's ρ with a bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import basis as filter_basis
from ... import metrics, shift
from .pruning import is_conv3x3


def conv_weights(state: dict) -> list[tuple[str, np.ndarray]]:
    """(name, weight (out, in, 3, 3) float32) of every 3×3 conv layer of a state dict, in order."""
    return [(name, t.detach().cpu().numpy().astype(np.float32)) for name, t in state.items() if is_conv3x3(name, t)]


def degeneracy(state: dict, cutoffs: dict | None = None) -> dict[str, float]:
    """Degeneracy of a checkpoint from its 3×3 layers, with ``metrics.layer_metrics`` and
    ``metrics.layer_flags`` (cut-offs: the config's ``flags``).

    - ``sparse_filter_share``: sparse filters / all filters
    - ``sparse_layer_share``, ``collapsed_layer_share``, ``random_like_layer_share``: flagged layers / layers
    - ``mean_entropy_ratio``, ``mean_orthogonality``: means over layers
    - ``degenerated_filter_share``: filters that are sparse or lie in a collapsed or random-like
      layer / all filters (the paper's three kinds of degeneration in one number)
    """
    cutoffs = {**metrics.DEFAULT_CUTOFFS, **(cutoffs or {})}
    min_filters = int(cutoffs.get("random_like_min_filters", 0))
    rows = []
    for _, weight in conv_weights(state):
        filters = weight.reshape(-1, 9)
        values = metrics.layer_metrics(filters, weight.shape[0])
        flags = metrics.layer_flags(values, cutoffs)
        random_like = flags["flag_random_like"] and len(filters) >= min_filters
        n_sparse = int(round(values["sparsity"] * len(filters)))
        degenerated = len(filters) if (flags["flag_collapsed"] or random_like) else n_sparse
        rows.append((len(filters), n_sparse, degenerated, flags["flag_sparse"], flags["flag_collapsed"], random_like,
                     values["entropy_ratio"], values["orthogonality"]))  # fmt: skip
    if not rows:
        raise ValueError("the checkpoint has no 3×3 convolution")
    n, sparse, degenerated, f_sparse, f_collapsed, f_random, ratio, ortho = map(np.asarray, zip(*rows))
    return {
        "layers": int(len(rows)),
        "filters": int(n.sum()),
        "sparse_filter_share": float(sparse.sum() / n.sum()),
        "sparse_layer_share": float(f_sparse.mean()),
        "collapsed_layer_share": float(f_collapsed.mean()),
        "random_like_layer_share": float(f_random.mean()),
        "degenerated_filter_share": float(degenerated.sum() / n.sum()),
        "mean_entropy_ratio": float(np.nanmean(ratio.astype(float))),
        "mean_orthogonality": float(np.nanmean(ortho.astype(float))),
    }


def filter_distances(
    filters: dict[str, np.ndarray], bins: int = 70, eps: float = shift.FLOAT32_EPS, pool: list[str] | None = None
) -> pd.DataFrame:
    """D between every pair of filter sets, as the shift analysis computes it.

    filters: name → (n, 9) kernels; pool: the sets the basis and range are fitted on
    (default all; the workflow leaves untrained models out). The basis is the PCA of the
    pool's max-abs-scaled filters (``basis.add_moments``, ``basis.basis_from_moments``); one
    range, the min and max over all nine coefficients of the pool, is shared by all
    coefficients (values outside it are not counted, as in the workflow); histograms
    ``shift.histogram_counts``; D ``shift.shift_matrix`` (eps in the density).
    """
    names = list(filters)
    pool = names if pool is None else list(pool)
    total = filter_basis.empty_moments()
    for name in pool:
        filter_basis.add_moments(total, filters[name])
    fitted = filter_basis.basis_from_moments([total])
    coefficients = {name: filter_basis.project(filters[name], fitted) for name in names}
    low = min(float(coefficients[name].min()) for name in pool)
    high = max(float(coefficients[name].max()) for name in pool)
    edges = shift.bin_edges(np.full(9, low), np.full(9, high), bins)
    counts = {name: shift.histogram_counts(coefficients[name], edges) for name in names}
    return shift.shift_matrix(counts, fitted["explained_variance_ratio"], edges, eps)


def spearman(x, y) -> float:
    """Spearman's ρ (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, float), np.asarray(y, float)
    return _pearson_rows(rankdata(x)[None], rankdata(y)[None])[0]


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)


def spearman_interval(x, y, resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(ρ, low, high): Spearman's ρ and its percentile bootstrap interval over points
    resampled with replacement (seeded; resamples where a side is constant are dropped)."""
    from scipy.stats import rankdata

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan"), float("nan"), float("nan")
    rho = spearman(x, y)
    pick = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    values = _pearson_rows(rankdata(x[pick], axis=1), rankdata(y[pick], axis=1))
    values = values[np.isfinite(values)]
    if not len(values):
        return rho, float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return rho, float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def mean_interval(values, resamples: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile bootstrap interval."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan"), float("nan")
    pick = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    means = values[pick].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(values.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def verdict(low: float, high: float, expected_sign: int) -> str:
    """yes: the interval lies on the expected side of 0; no: on the other; inconclusive: it spans 0."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "untestable"
    if low > 0 or high < 0:
        return "yes" if (low > 0) == (expected_sign > 0) else "no"
    return "inconclusive"
