"""Per-layer filter metrics of Gavrikov & Keuper (CVPR 2022); one home for their definitions.

Every public function takes the raw filters of one 3×3 conv layer as an array of shape
(n, 9) (row-major kernels, as trained) and returns a float. Arithmetic is float64.

``layer_metrics`` computes all of them from one streamed pass over the layer that keeps
only sums (scatter matrices, norms, per-filter max |w|) and also accumulates the moment
sums of the max-abs-scaled filters (the basis map step), so one read of a model feeds
both its statistics and its moments. The pass is compiled (``kernels.layer_sums``);
``layer_sums`` here is the same pass in numpy, chunks of ``CHUNK`` filters transposed
to (9, k) float64, and is its reference in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPARSITY_RELATIVE_THRESHOLD = 0.01
MAX_ENTROPY = float(np.log10(9))  # ≈ 0.954, nine equal variance components

# Randomness threshold TH(n), a logistic fit (in log2 n) to the variance entropy of
# n random normal 3×3 filters; the constants are those of the paper's authors.
_TH_SCALE = 1.2618047
_TH_SLOPE = 0.88767525
_TH_CENTRE = 2.30436435
_TH_OFFSET = 0.31050834

CHUNK = 8192  # filters per chunk: a (9, CHUNK) float64 block stays in L2 cache


def _as_filters(filters: np.ndarray) -> np.ndarray:
    array = np.asarray(filters)
    if array.ndim != 2 or array.shape[1] != 9:
        array = array.reshape(-1, 9)
    return array.astype(np.float64, copy=False)


def _as_kernels(filters: np.ndarray) -> np.ndarray:
    """(n, 9) view of the filters in their own float dtype (float32 stays float32)."""
    array = np.asarray(filters)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[1] != 9:
        array = array.reshape(-1, 9)
    return array


def iter_chunks(kernels: np.ndarray, chunk: int = CHUNK):
    """Yield (start, xt): each chunk of (n, 9) kernels as a (9, k) float64 array.

    The buffer is reused between chunks: consume it before the next one.
    """
    n = kernels.shape[0]
    buffer = np.empty((9, min(chunk, max(n, 1))))
    for start in range(0, n, chunk):
        part = kernels[start : start + chunk]
        xt = buffer[:, : part.shape[0]]
        np.copyto(xt, part.T)
        yield start, xt


def scale_chunk(xt: np.ndarray, peak: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = xt / peak column-wise (each filter by its own max |w|); zero filters stay zero."""
    # one reduction instead of a mask and any(): false for a zero and for a NaN peak; an
    # empty chunk gives inf
    if np.minimum.reduce(peak, axis=None, initial=np.inf) > 0:
        return np.divide(xt, peak, out=out)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(xt, peak, out=out)  # NaN peaks (NaN weights) stay NaN and reach the sums
    out[:, peak == 0] = 0.0
    return out


def chunk_blocks(n: int, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """Two (10, min(chunk, n)) float64 buffers for a chunked pass over n filters, ``raw``
    and ``scaled``, whose row 9 holds ones: a product with such a block then also gives
    its row sums (and the count), so no separate sum passes."""
    width = min(chunk, max(n, 1))
    return np.ones((10, width)), np.ones((10, width))


def load_chunk(part: np.ndarray, raw: np.ndarray, scaled: np.ndarray, peak: np.ndarray) -> None:
    """raw[:9] = the (k, 9) chunk transposed, float64; scaled[:9] = |raw[:9]|; peak (k,) =
    each filter's max |w|. ``scale_chunk(raw[:9], peak, scaled[:9])`` then scales it.

    Every pass that scales filters (moments, projection, the one pass) goes through these
    two functions, so all of them see bit-identical scaled filters.
    """
    np.copyto(raw[:9], part.T)
    np.absolute(raw[:9], out=scaled[:9])
    np.maximum.reduce(scaled[:9], axis=0, out=peak)  # the ufunc: np.max's wrapper costs ~3 µs a call


def empty_moments() -> dict[str, np.ndarray]:
    """Moment sums of no filters: count, Σf (9,), Σffᵀ (9, 9), float64."""
    return {"count": np.zeros((), np.int64), "sum": np.zeros(9), "outer": np.zeros((9, 9))}


@dataclass
class LayerSums:
    """Sums over one layer's filters, from one streamed pass (see ``layer_sums``).

    Scatter and sum are of the filters minus ``shift`` (a pilot mean, which keeps the
    centring exact in float64); ``peak`` is each filter's max |w|.
    """

    n: int
    peak: np.ndarray
    shift: np.ndarray
    sum: np.ndarray
    scatter: np.ndarray
    l1: float
    l2: float
    moments: dict = field(default_factory=empty_moments)


def layer_sums(filters: np.ndarray, moments: dict | None = None, chunk: int = CHUNK) -> LayerSums:
    """One pass over a layer's (n, 9) filters: the sums every per-layer metric needs.

    ``moments``: a dict from ``empty_moments`` to which the moment sums of the
    max-abs-scaled filters are added in place (the basis map step); None skips them.
    The workflow's pass runs the compiled ``kernels.layer_sums`` (same sums); this one
    needs numpy alone and is its reference.
    """
    w = _as_kernels(filters)
    n = w.shape[0]
    peak = np.empty(n)
    shift = w[: min(n, chunk)].mean(axis=0, dtype=np.float64) if n else np.zeros(9)
    raw, scaled = chunk_blocks(n, chunk)
    column = np.empty(raw.shape[1])
    shifted_gram = np.zeros((10, 10))
    scaled_gram = np.zeros((10, 10))
    l1 = 0.0
    l2 = 0.0
    for start in range(0, n, chunk):
        part = w[start : start + chunk]
        k = part.shape[0]
        x, a, p = raw[:, :k], scaled[:, :k], peak[start : start + k]
        load_chunk(part, x, a, p)
        l1 += float(np.add.reduce(a[:9], axis=None))
        q = np.einsum("ij,ij->j", x[:9], x[:9], out=column[:k])
        np.sqrt(q, out=q)
        l2 += float(np.add.reduce(q))
        if moments is not None:
            scale_chunk(x[:9], p, a[:9])
            scaled_gram += a @ a.T  # BLAS syrk: half the products of a gemm
        x[:9] -= shift[:, None]
        shifted_gram += x @ x.T
    total = shifted_gram[9, :9].copy()
    scatter = shifted_gram[:9, :9].copy()
    if moments is not None:
        moments["count"] = moments["count"] + n
        moments["sum"] = moments["sum"] + scaled_gram[9, :9]
        moments["outer"] = moments["outer"] + scaled_gram[:9, :9]
    return LayerSums(n, peak, shift, total, scatter, l1, l2, moments if moments is not None else empty_moments())


def sparse_mask(filters: np.ndarray) -> np.ndarray:
    """Boolean (n,): filters whose nine |w| all lie below 1 % of the layer's max |w|.

    An all-zero layer counts as entirely sparse.
    """
    abs_max = np.abs(np.asarray(filters).reshape(-1, 9)).max(axis=1)
    return _sparse_from_peak(abs_max)


def _sparse_from_peak(peak: np.ndarray) -> np.ndarray:
    threshold = SPARSITY_RELATIVE_THRESHOLD * (peak.max() if peak.size else 0.0)
    return (peak < threshold) | (peak == 0)


def sparsity(filters: np.ndarray) -> float:
    """Share of sparse filters in the layer, in [0, 1]."""
    mask = sparse_mask(np.asarray(filters).reshape(-1, 9))
    return float(mask.mean()) if mask.size else float("nan")


def entropy_from_covariance(covariance: np.ndarray) -> float:
    """Variance entropy (log10) of a 9×9 covariance matrix; 0 when it holds no variance.

    NaN when the matrix is not finite (NaN or Inf weights).
    """
    if not np.isfinite(covariance).all():
        return float("nan")
    eigenvalues = np.clip(np.linalg.eigvalsh((covariance + covariance.T) / 2), 0.0, None)
    total = eigenvalues.sum()
    if total <= 0 or not np.isfinite(total):
        return 0.0
    p = eigenvalues / total
    p = p[p > 0]
    return float(-(p * np.log10(p)).sum())


def _entropy_from_sums(n: int, total: np.ndarray, scatter: np.ndarray) -> float:
    """Variance entropy from shifted sums: Σ(x−K) and Σ(x−K)(x−K)ᵀ over n filters."""
    if n < 2:
        return float("nan")
    d = total / n
    covariance = (scatter - n * np.outer(d, d)) / (n - 1)
    return entropy_from_covariance(covariance)


def _shifted_sums(w: np.ndarray, shift: np.ndarray, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
    total = np.zeros(9)
    scatter = np.zeros((9, 9))
    for _, xt in iter_chunks(w, chunk):
        xt -= shift[:, None]
        scatter += xt @ xt.T
        total += xt.sum(axis=1)
    return total, scatter


def variance_entropy(filters: np.ndarray) -> float:
    """Entropy (log10) of the distribution of variance over the 9 principal directions.

    λ = s² / (n − 1) for the singular values s of the centred filters; p = λ / Σλ;
    H = −Σ p log10 p, in [0, log10 9]. Filters with no variance at all (identical
    filters) give 0. Fewer than two filters give NaN.
    """
    w = _as_kernels(filters)
    n = w.shape[0]
    if n < 2:
        return float("nan")
    shift = w[: min(n, CHUNK)].mean(axis=0, dtype=np.float64)
    total, scatter = _shifted_sums(w, shift)
    return _entropy_from_sums(n, total, scatter)


def randomness_threshold(n: int | np.ndarray) -> float | np.ndarray:
    """TH(n): variance entropy above which a layer of n filters is indistinguishable from random."""
    log2n = np.log2(np.asarray(n, dtype=np.float64))
    value = _TH_SCALE / (1.0 + np.exp(-_TH_SLOPE * (log2n - _TH_CENTRE))) - _TH_OFFSET
    return float(value) if np.ndim(value) == 0 else value


def orthogonality(weight: np.ndarray, filter_peaks: np.ndarray | None = None) -> float:
    """1 − mean |off-diagonal| of the Gram matrix of L2-normalised output channels.

    weight: (out_channels, in_channels_per_group, 3, 3) or (out_channels, m). 1 for an
    orthonormal set, 0 when all channels are parallel. NaN for a single channel.
    A zero channel is a zero row of the normalised matrix: its diagonal entry of G is 0,
    so |G − I| counts 1 for it. Cost: c² · m / 2 multiply-adds, the one metric whose cost
    per filter grows with the layer's width; so the Gram is a float32 product (twice
    the speed of float64, within ORTHOGONALITY_TOLERANCE of it), normalised in float64.
    ``filter_peaks``: each 3×3 filter's max |w| (n,), from ``layer_sums``, saves a pass.
    """
    w = np.asarray(weight)
    c = w.shape[0]
    if c < 2:
        return float("nan")
    flat = np.ascontiguousarray(w.reshape(c, -1), dtype=np.float32)  # float32 input: no copy
    if filter_peaks is None:
        peaks = np.abs(flat).max(axis=1)
    else:
        peaks = np.asarray(filter_peaks).reshape(c, -1).max(axis=1)
    nonzero = peaks[peaks > 0]
    if nonzero.size and not (2.0**-50 <= nonzero.min() and nonzero.max() <= 2.0**50):
        # squares of such rows under- or overflow float32: normalise the rows first
        return _orthogonality_of_normalised_rows(flat)
    # the raw rows' Gram, then cosines g_ij / √(g_ii g_jj): each channel's norm comes from
    # the same float32 sums as its products, so near-parallel channels' rounding cancels
    gram = flat @ flat.T
    norms = np.sqrt(np.diagonal(gram).astype(np.float64))
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return _one_minus_mean_off_identity(gram, inverse)


def _orthogonality_of_normalised_rows(flat: np.ndarray) -> float:
    # normalised in float64: 1 / norm of a channel that peaks below 2**-126 (a float32
    # denormal) overflows float32; the unit rows then fit float32 for the Gram
    rows = flat.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    rows *= inverse[:, None]  # zero rows stay zero
    unit = rows.astype(np.float32)
    return _one_minus_mean_off_identity(unit @ unit.T)


def _one_minus_mean_off_identity(gram: np.ndarray, inverse: np.ndarray | None = None) -> float:
    """1 − mean |G − I| over the off-diagonal entries of G = D · gram · D, D = diag(inverse)
    (the identity when None), from the float32 ``gram``'s lower triangle, summed in float64."""
    from .kernels import gram_abs_sums  # compiled: no float64 copy of the c × c matrix

    c = gram.shape[0]
    weights = np.ones(c) if inverse is None else inverse
    # Σ|G| = wᵀ |gram| w, and G's diagonal
    total, diagonal = gram_abs_sums(gram, weights)
    # |G − I| summed: |G| over all entries, with each diagonal |g_ii| replaced by |g_ii − 1|
    off = total - np.abs(diagonal).sum() + np.abs(diagonal - 1.0).sum()
    return float(1.0 - off / (c * (c - 1)))


# Bound on the difference from the same metric with a float64 Gram. Largest seen: 3e-7,
# on a layer whose channels are all nearly parallel (|G| ≈ 0.9 everywhere: rounding of
# same-sign float32 sums); below 5e-8 on random, low-rank, mixed-scale, 1e-25- and
# 1e20-scale layers up to 512 × 18432 (tests/test_metrics.py).
ORTHOGONALITY_TOLERANCE = 1e-6


def layer_metrics(
    filters: np.ndarray, out_channels: int, *, moments: dict | None = None, sums: LayerSums | None = None
) -> dict[str, float]:
    """All per-layer metrics of one layer's (n, 9) filters, ordered (out_ch, in_ch).

    ``moments``: optional dict from ``empty_moments``; the moment sums of the layer's
    max-abs-scaled filters are added to it in place (same pass, no second read).
    ``sums``: the layer's sums when a pass has taken them already; ``moments`` is then
    ignored. Else the compiled ``kernels.layer_sums`` takes them, as the workflow's pass
    does, so ``filterdb inspect`` and the database agree to the bit.
    """
    w = _as_kernels(filters)
    n = w.shape[0]
    if n == 0:
        return {
            "sparsity": float("nan"), "variance_entropy": float("nan"),
            "randomness_threshold": float("nan"), "entropy_ratio": float("nan"),
            "clean_entropy": float("nan"), "n_clean": 0, "orthogonality": float("nan"),
            "l1_mean": float("nan"), "l2_mean": float("nan"), "abs_max": float("nan"),
        }  # fmt: skip
    if sums is None:
        from .kernels import layer_sums as compiled_sums  # the compiled pass; layer_sums below is its reference

        sums = compiled_sums(w, moments)
    mask = _sparse_from_peak(sums.peak)
    n_sparse = int(np.count_nonzero(mask))
    entropy = _entropy_from_sums(n, sums.sum, sums.scatter)
    threshold = randomness_threshold(n)
    n_clean = n - n_sparse
    if n_sparse == 0:
        clean_entropy = entropy
    elif n_sparse <= n // 2:
        # clean = all − sparse: the sparse filters are the smaller set to gather
        s_total, s_scatter = _shifted_sums(w[mask], sums.shift)
        clean_entropy = _entropy_from_sums(n_clean, sums.sum - s_total, sums.scatter - s_scatter)
    else:
        c_total, c_scatter = _shifted_sums(w[~mask], sums.shift)
        clean_entropy = _entropy_from_sums(n_clean, c_total, c_scatter)
    return {
        "sparsity": n_sparse / n,
        "variance_entropy": entropy,
        "randomness_threshold": threshold,
        "entropy_ratio": entropy / threshold if n >= 2 else float("nan"),
        "clean_entropy": clean_entropy,
        "n_clean": int(n_clean),
        "orthogonality": orthogonality(w.reshape(out_channels, -1), sums.peak),
        "l1_mean": sums.l1 / n,
        "l2_mean": sums.l2 / n,
        "abs_max": float(sums.peak.max()),
    }


def layer_flags(metrics: dict[str, float], cutoffs: dict[str, float], n_filters: int | None = None) -> dict[str, bool]:
    """Degeneracy flags of one layer from its metrics and the configured cut-offs.

    cutoffs: ``sparse_min`` (sparsity at or above it: sparse layer), ``collapsed_max``
    (H/TH at or below it: collapsed), ``random_like_min`` (H/TH above it: random-like),
    ``random_like_min_filters`` (a layer of fewer filters, ``n_filters``, is never
    random-like: see RANDOM_LIKE_MIN_FILTERS).
    """
    ratio = metrics["entropy_ratio"]
    large_enough = n_filters is None or n_filters >= cutoffs.get("random_like_min_filters", RANDOM_LIKE_MIN_FILTERS)
    return {
        "flag_sparse": bool(metrics["sparsity"] >= cutoffs["sparse_min"]),
        "flag_collapsed": bool(np.isfinite(ratio) and ratio <= cutoffs["collapsed_max"]),
        "flag_random_like": bool(large_enough and np.isfinite(ratio) and ratio > cutoffs["random_like_min"]),
    }


# The smallest layer (in filters, a power of two) at which H/TH of random normal filters lies
# within 1 ± 0.05 at its mean ± 2 sd: there TH(n) is an unbiased, tight reference, so H/TH > 1
# separates random-like from healthy (≈ 0.9) layers. Measured (1,000 seeds per n): mean ± sd
# 1.303 ± 0.071 at n = 8, 1.129 ± 0.033 at 16, 1.048 ± 0.015 at 32, 1.017 ± 0.007 at 64;
# below 64 every random layer, and many healthy ones, exceed 1 (tests/test_metrics.py).
RANDOM_LIKE_MIN_FILTERS = 64

DEFAULT_CUTOFFS = {
    "sparse_min": 0.5, "collapsed_max": 0.5, "random_like_min": 1.0,
    "random_like_min_filters": RANDOM_LIKE_MIN_FILTERS,
}  # fmt: skip
