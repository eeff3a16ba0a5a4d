"""Per-layer filter metrics of Gavrikov & Keuper (CVPR 2022); one home for their definitions.

Every function takes the raw filters of one 3×3 conv layer as an array of shape
(n, 9) (row-major kernels, as trained) and returns a float. Arithmetic is float64.
"""

from __future__ import annotations

import numpy as np

SPARSITY_RELATIVE_THRESHOLD = 0.01
MAX_ENTROPY = float(np.log10(9))  # ≈ 0.954, nine equal variance components

# Randomness threshold TH(n), a logistic fit (in log2 n) to the variance entropy of
# n random normal 3×3 filters; the constants are those of the paper's authors.
_TH_SCALE = 1.2618047
_TH_SLOPE = 0.88767525
_TH_CENTRE = 2.30436435
_TH_OFFSET = 0.31050834


def _as_filters(filters: np.ndarray) -> np.ndarray:
    array = np.asarray(filters)
    if array.ndim != 2 or array.shape[1] != 9:
        array = array.reshape(-1, 9)
    return array.astype(np.float64, copy=False)


def sparse_mask(filters: np.ndarray) -> np.ndarray:
    """Boolean (n,): filters whose nine |w| all lie below 1 % of the layer's max |w|.

    An all-zero layer counts as entirely sparse.
    """
    abs_max = np.abs(filters).max(axis=1)
    threshold = SPARSITY_RELATIVE_THRESHOLD * (abs_max.max() if abs_max.size else 0.0)
    return (abs_max < threshold) | (abs_max == 0)


def sparsity(filters: np.ndarray) -> float:
    """Share of sparse filters in the layer, in [0, 1]."""
    mask = sparse_mask(np.asarray(filters).reshape(-1, 9))
    return float(mask.mean()) if mask.size else float("nan")


def variance_entropy(filters: np.ndarray) -> float:
    """Entropy (log10) of the distribution of variance over the 9 principal directions.

    λ = s² / (n − 1) for the singular values s of the centred filters; p = λ / Σλ;
    H = −Σ p log10 p, in [0, log10 9]. Filters with no variance at all (identical
    filters) give 0. Fewer than two filters give NaN.
    """
    w = _as_filters(filters)
    n = w.shape[0]
    if n < 2:
        return float("nan")
    centred = w - w.mean(axis=0)
    # eigenvalues of the scatter matrix are the squared singular values, at 9×9 cost
    eigenvalues = np.clip(np.linalg.eigvalsh(centred.T @ centred), 0.0, None) / (n - 1)
    total = eigenvalues.sum()
    if total <= 0 or not np.isfinite(total):
        return 0.0
    p = eigenvalues / total
    p = p[p > 0]
    return float(-(p * np.log10(p)).sum())


def randomness_threshold(n: int | np.ndarray) -> float | np.ndarray:
    """TH(n): variance entropy above which a layer of n filters is indistinguishable from random."""
    log2n = np.log2(np.asarray(n, dtype=np.float64))
    value = _TH_SCALE / (1.0 + np.exp(-_TH_SLOPE * (log2n - _TH_CENTRE))) - _TH_OFFSET
    return float(value) if np.ndim(value) == 0 else value


def orthogonality(weight: np.ndarray) -> float:
    """1 − mean |off-diagonal| of the Gram matrix of L2-normalised output channels.

    weight: (out_channels, in_channels_per_group, 3, 3) or (out_channels, m). 1 for an
    orthonormal set, 0 when all channels are parallel. NaN for a single channel.
    """
    w = np.asarray(weight, dtype=np.float64)
    c = w.shape[0]
    if c < 2:
        return float("nan")
    flat = w.reshape(c, -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)
    gram = flat @ flat.T
    np.fill_diagonal(gram, 0.0)
    # |G − I| summed: off-diagonals; the diagonal of a zero channel would add 1 each
    zero_channels = int((norms[:, 0] == 0).sum())
    off = np.abs(gram).sum() + zero_channels
    return float(1.0 - off / (c * (c - 1)))


def layer_metrics(filters: np.ndarray, out_channels: int) -> dict[str, float]:
    """All per-layer metrics of one layer's (n, 9) filters, ordered (out_ch, in_ch)."""
    w = np.asarray(filters).reshape(-1, 9)
    n = w.shape[0]
    mask = sparse_mask(w) if n else np.zeros(0, bool)
    entropy = variance_entropy(w)
    threshold = randomness_threshold(n) if n else float("nan")
    clean = w[~mask]
    w64 = w.astype(np.float64, copy=False)
    return {
        "sparsity": float(mask.mean()) if n else float("nan"),
        "variance_entropy": entropy,
        "randomness_threshold": threshold,
        "entropy_ratio": entropy / threshold if n >= 2 else float("nan"),
        "clean_entropy": variance_entropy(clean),
        "n_clean": int(clean.shape[0]),
        "orthogonality": orthogonality(w.reshape(out_channels, -1)) if n else float("nan"),
        "l1_mean": float(np.abs(w64).sum(axis=1).mean()) if n else float("nan"),
        "l2_mean": float(np.sqrt((w64 * w64).sum(axis=1)).mean()) if n else float("nan"),
        "abs_max": float(np.abs(w64).max()) if n else float("nan"),
    }


def layer_flags(metrics: dict[str, float], cutoffs: dict[str, float]) -> dict[str, bool]:
    """Degeneracy flags of one layer from its metrics and the configured cut-offs.

    cutoffs: ``sparse_min`` (sparsity at or above it: sparse layer), ``collapsed_max``
    (H/TH at or below it: collapsed), ``random_like_min`` (H/TH above it: random-like).
    """
    ratio = metrics["entropy_ratio"]
    return {
        "flag_sparse": bool(metrics["sparsity"] >= cutoffs["sparse_min"]),
        "flag_collapsed": bool(np.isfinite(ratio) and ratio <= cutoffs["collapsed_max"]),
        "flag_random_like": bool(np.isfinite(ratio) and ratio > cutoffs["random_like_min"]),
    }


DEFAULT_CUTOFFS = {"sparse_min": 0.5, "collapsed_max": 0.5, "random_like_min": 1.0}
