"""Per-layer metrics against direct formulas (scipy SVD, explicit loops) and properties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from filterdb import metrics
from filterdb.metrics import (
    DEFAULT_CUTOFFS,
    layer_flags,
    layer_metrics,
    orthogonality,
    randomness_threshold,
    sparsity,
    variance_entropy,
)

TOL = metrics.ORTHOGONALITY_TOLERANCE  # orthogonality's Gram is a float32 product


def entropy_svd(w: np.ndarray) -> float:
    """The definition: singular values of the centred filters, λ = s²/(n−1), H in log10."""
    w = np.asarray(w, dtype=np.float64)
    s = scipy.linalg.svd(w - w.mean(axis=0), compute_uv=False)
    lam = s**2 / (len(w) - 1)
    if lam.sum() == 0:
        return 0.0
    p = lam / lam.sum()
    p = p[p > 0]
    return float(-(p * np.log10(p)).sum())


def orthogonality_loop(weight: np.ndarray) -> float:
    c = weight.shape[0]
    flat = weight.reshape(c, -1).astype(np.float64)
    total = 0.0
    for i in range(c):
        ni = np.linalg.norm(flat[i])
        for j in range(c):
            nj = np.linalg.norm(flat[j])
            g = flat[i] @ flat[j] / (ni * nj) if ni > 0 and nj > 0 else 0.0
            total += abs(g - (1.0 if i == j else 0.0))
    return 1.0 - total / (c * (c - 1))


def random_layer(seed: int, out_channels: int, in_channels: int, sparse_share: float = 0.1, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    n = out_channels * in_channels
    w = rng.standard_normal((n, 9)) @ (np.eye(9) + 0.5 * rng.standard_normal((9, 9))) * 0.05 + offset
    w[rng.random(n) < sparse_share] *= 1e-4
    return w.astype(np.float32)


def test_threshold_constants():
    assert randomness_threshold(9) == pytest.approx(0.552, abs=1e-3)
    assert randomness_threshold(64) == pytest.approx(0.906, abs=1e-3)
    assert randomness_threshold(576) == pytest.approx(0.949, abs=1e-3)
    n = np.array([9, 64, 576])
    assert np.allclose(randomness_threshold(n), [randomness_threshold(int(v)) for v in n])


@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_layer_metrics_against_direct_formulas(offset):
    w = random_layer(0, 32, 48, offset=offset)
    m = layer_metrics(w, 32)
    w64 = w.astype(np.float64)
    peak = np.abs(w64).max(axis=1)
    sparse = peak < 0.01 * peak.max()
    assert m["sparsity"] == sparse.mean()
    assert m["variance_entropy"] == pytest.approx(entropy_svd(w64), abs=1e-9)
    assert m["clean_entropy"] == pytest.approx(entropy_svd(w64[~sparse]), abs=1e-9)
    assert m["n_clean"] == (~sparse).sum()
    assert m["randomness_threshold"] == randomness_threshold(len(w))
    assert m["entropy_ratio"] == pytest.approx(m["variance_entropy"] / m["randomness_threshold"], rel=1e-12)
    assert m["orthogonality"] == pytest.approx(orthogonality_loop(w64.reshape(32, -1)), abs=TOL)
    assert m["l1_mean"] == pytest.approx(np.abs(w64).sum(axis=1).mean(), rel=1e-12)
    assert m["l2_mean"] == pytest.approx(np.sqrt((w64**2).sum(axis=1)).mean(), rel=1e-12)
    assert m["abs_max"] == np.abs(w64).max()


def test_mostly_sparse_layer_takes_the_other_clean_path():
    w = random_layer(1, 16, 16, sparse_share=0.8)
    w64 = w.astype(np.float64)
    peak = np.abs(w64).max(axis=1)
    sparse = peak < 0.01 * peak.max()
    assert sparse.mean() > 0.5
    m = layer_metrics(w, 16)
    assert m["clean_entropy"] == pytest.approx(entropy_svd(w64[~sparse]), abs=1e-9)


def test_chunking_does_not_change_results(monkeypatch):
    w = random_layer(2, 64, 40)
    whole = layer_metrics(w, 64)
    monkeypatch.setattr(metrics, "CHUNK", 97)
    monkeypatch.setattr(metrics.layer_sums, "__defaults__", (None, 97))
    chunked = layer_metrics(w, 64)
    for key, value in whole.items():
        assert chunked[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_float32_and_float64_inputs_agree():
    w = random_layer(3, 8, 8)
    a = layer_metrics(w, 8)
    b = layer_metrics(w.astype(np.float64), 8)
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-15), key


def test_entropy_bounds_and_degenerate_layers():
    rng = np.random.default_rng(4)
    isotropic = rng.standard_normal((200_000, 9))
    assert variance_entropy(isotropic) == pytest.approx(metrics.MAX_ENTROPY, abs=1e-3)
    rank_one = np.outer(rng.standard_normal(500), rng.standard_normal(9))
    assert variance_entropy(rank_one) == pytest.approx(0.0, abs=1e-9)
    assert variance_entropy(np.ones((10, 9))) == 0.0
    assert np.isnan(variance_entropy(np.ones((1, 9))))
    assert sparsity(np.zeros((5, 9))) == 1.0


def test_orthogonality_closed_forms():
    q = np.linalg.qr(np.random.default_rng(5).standard_normal((18, 18)))[0]
    assert orthogonality(q[:6].reshape(6, 2, 3, 3)) == pytest.approx(1.0, abs=TOL)
    parallel = np.tile(np.arange(1.0, 19.0), (4, 1))
    assert orthogonality(parallel) == pytest.approx(0.0, abs=TOL)
    with_zero = q[:3].copy()
    with_zero[1] = 0.0
    assert orthogonality(with_zero) == pytest.approx(orthogonality_loop(with_zero), abs=TOL)
    assert np.isnan(orthogonality(q[:1]))


def orthogonality_float64(weight: np.ndarray) -> float:
    """The same definition with a float64 Gram (vectorised; orthogonality_loop is too slow here)."""
    c = weight.shape[0]
    flat = weight.reshape(c, -1).astype(np.float64)
    norms = np.linalg.norm(flat, axis=1)
    flat = np.divide(flat, norms[:, None], out=np.zeros_like(flat), where=norms[:, None] > 0)
    return float(1.0 - np.abs(flat @ flat.T - np.eye(c)).sum() / (c * (c - 1)))


@pytest.mark.parametrize("shape", [(64, 27), (128, 576), (512, 4608)])
@pytest.mark.parametrize("kind", ["normal", "near_parallel", "offset", "rank3", "mixed", "tiny", "huge"])
def test_orthogonality_float32_gram_within_tolerance(shape, kind):
    rng = np.random.default_rng(shape[0] + len(kind))
    c, m = shape
    w = rng.standard_normal((c, m))
    if kind == "near_parallel":  # |G| near 1 everywhere: the largest float32 rounding
        w = rng.standard_normal((c, 1)) * rng.standard_normal((1, m)) + 1e-3 * w
    elif kind == "offset":  # all channels at |cos| ≈ 0.9: same-sign sums, the worst case seen
        w = 0.05 * w + 3.0
    elif kind == "rank3":
        w = rng.standard_normal((c, 3)) @ rng.standard_normal((3, m))
    elif kind == "mixed":  # channels at scales 1 and 1e-4, and zero channels
        w[::3] *= 1e-4
        w[1::5] = 0.0
    elif kind == "tiny":  # squares below float32's range: rows are normalised first
        w = w * 1e-25
    elif kind == "huge":  # squares above float32's range
        w = w * 1e20
    w = w.astype(np.float32)
    assert abs(orthogonality(w) - orthogonality_float64(w)) < TOL


@pytest.mark.parametrize("scale", [2.0**-50, 1e-20, 1e-30, 1e-38, 1e-40])
def test_orthogonality_of_channels_that_peak_far_below_one(scale):
    """A depthwise layer whose channels peak below 2**-50, down to float32 denormals (1e-40):
    finite and within tolerance of float64 on the same stored values (it was NaN)."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((32, 9)) * scale).astype(np.float32)
    w[3] *= 1e-3  # one channel further down, into the denormals at the smallest scales
    value = orthogonality(w.reshape(32, 1, 3, 3))
    assert np.isfinite(value)
    assert abs(value - orthogonality_float64(w)) < TOL


def random_ratio_spread(n: int, seeds: int = 400) -> tuple[float, float]:
    """Mean and sd of H/TH over random normal layers of n filters."""
    rng = np.random.default_rng(n)
    ratios = [variance_entropy(rng.standard_normal((n, 9))) / randomness_threshold(n) for _ in range(seeds)]
    return float(np.mean(ratios)), float(np.std(ratios))


def test_random_like_min_filters_is_where_th_becomes_a_tight_reference():
    """The default minimum is data-driven: at it, random layers' H/TH lies within 1 ± 0.05 at
    mean ± 2 sd; at half of it, not (TH(n) underestimates small random layers' entropy)."""
    n = metrics.RANDOM_LIKE_MIN_FILTERS
    mean, sd = random_ratio_spread(n)
    assert abs(mean - 1) + 2 * sd <= 0.05
    mean, sd = random_ratio_spread(n // 2)
    assert abs(mean - 1) + 2 * sd > 0.05
    ratio = {"sparsity": 0.0, "entropy_ratio": 1.2}
    assert not layer_flags(ratio, DEFAULT_CUTOFFS, n - 1)["flag_random_like"]
    assert layer_flags(ratio, DEFAULT_CUTOFFS, n)["flag_random_like"]
    assert layer_flags(ratio, {**DEFAULT_CUTOFFS, "random_like_min_filters": 8}, 8)["flag_random_like"]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    out_channels=st.integers(2, 12),
    in_channels=st.integers(1, 12),
    offset=st.floats(-1, 1),
)
def test_properties_on_random_layers(seed, out_channels, in_channels, offset):
    w = random_layer(seed, out_channels, in_channels, offset=offset)
    m = layer_metrics(w, out_channels)
    if len(w) >= 2:
        assert m["variance_entropy"] == pytest.approx(entropy_svd(w), abs=1e-9)
        assert -1e-12 <= m["variance_entropy"] <= metrics.MAX_ENTROPY + 1e-12
    # invariance to the order of filters (all but orthogonality, which follows channels)
    order = np.random.default_rng(seed).permutation(len(w))
    shuffled = layer_metrics(w[order], out_channels)
    for key in ("sparsity", "variance_entropy", "clean_entropy", "l1_mean", "l2_mean", "abs_max"):
        assert shuffled[key] == pytest.approx(m[key], rel=1e-9, abs=1e-12, nan_ok=True), key
    # invariance of orthogonality to the order of output channels
    channels = np.random.default_rng(seed + 1).permutation(out_channels)
    permuted = w.reshape(out_channels, in_channels, 9)[channels].reshape(-1, 9)
    assert layer_metrics(permuted, out_channels)["orthogonality"] == pytest.approx(m["orthogonality"], abs=TOL)


def test_moments_from_the_metrics_pass():
    w = random_layer(6, 20, 30)
    total = metrics.empty_moments()
    layer_metrics(w, 20, moments=total)
    w64 = w.astype(np.float64)
    scaled = w64 / np.abs(w64).max(axis=1, keepdims=True)
    assert int(total["count"]) == len(w)
    assert np.allclose(total["sum"], scaled.sum(axis=0), rtol=1e-12, atol=1e-9)
    assert np.allclose(total["outer"], scaled.T @ scaled, rtol=1e-12, atol=1e-9)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nonfinite_weights_reach_the_sums():
    w = random_layer(7, 4, 4)
    w[3, 2] = np.nan
    assert np.isnan(layer_metrics(w, 4)["l1_mean"])
    w[3, 2] = np.inf
    assert not np.isfinite(layer_metrics(w, 4)["l1_mean"])


def test_flags_follow_cutoffs():
    base = {"sparsity": 0.6, "entropy_ratio": 0.3}
    assert layer_flags(base, DEFAULT_CUTOFFS) == {"flag_sparse": True, "flag_collapsed": True, "flag_random_like": False}
    assert layer_flags({"sparsity": 0.1, "entropy_ratio": 1.2}, DEFAULT_CUTOFFS) == {
        "flag_sparse": False, "flag_collapsed": False, "flag_random_like": True,
    }  # fmt: skip
    assert not layer_flags({"sparsity": 0.1, "entropy_ratio": float("nan")}, DEFAULT_CUTOFFS)["flag_collapsed"]
    custom = {"sparse_min": 0.05, "collapsed_max": 0.1, "random_like_min": 1.5}
    assert layer_flags({"sparsity": 0.1, "entropy_ratio": 1.2}, custom)["flag_sparse"]
    assert not layer_flags({"sparsity": 0.1, "entropy_ratio": 1.2}, custom)["flag_random_like"]
