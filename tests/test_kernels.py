"""The compiled pass (filterdb.kernels) against the numpy reference and the plain rules."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from test_shift import reference_counts

from filterdb import basis, kernels, metrics, shift


def layer(n: int, seed: int, dtype=np.float32) -> np.ndarray:
    """n filters: normal, with zero, sparse (tiny) and large-scale filters mixed in."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, 9))
    w[rng.random(n) < 0.1] = 0.0
    w[rng.random(n) < 0.1] *= 1e-4
    w[rng.random(n) < 0.05] *= 1e3
    return w.astype(dtype)


def covariance(sums: metrics.LayerSums) -> np.ndarray:
    d = sums.sum / sums.n
    return sums.scatter - sums.n * np.outer(d, d)


@pytest.mark.parametrize("n", [1, 2, 255, 256, 257, 1000, 8193, 20000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_sums_equal_the_numpy_pass(n, dtype):
    w = layer(n, n, dtype)
    got_moments, expected_moments = metrics.empty_moments(), metrics.empty_moments()
    got = kernels.layer_sums(w, got_moments)
    expected = metrics.layer_sums(w, expected_moments)
    assert np.array_equal(got.peak, expected.peak)  # a max is exact
    assert np.array_equal(got.shift, expected.shift)
    assert got.l1 == pytest.approx(expected.l1, rel=1e-12)
    assert got.l2 == pytest.approx(expected.l2, rel=1e-12)
    scale = np.abs(expected.scatter).max() + 1e-300
    assert np.allclose(got.sum, expected.sum, rtol=1e-10, atol=1e-12 * np.sqrt(scale * max(n, 1)))
    assert np.allclose(covariance(got), covariance(expected), rtol=1e-10, atol=1e-12 * scale)
    assert got_moments["count"] == expected_moments["count"] == n
    assert np.allclose(got_moments["sum"], expected_moments["sum"], rtol=1e-12, atol=1e-9)
    assert np.allclose(got_moments["outer"], expected_moments["outer"], rtol=1e-12, atol=1e-9)
    assert np.array_equal(got_moments["outer"], got_moments["outer"].T)


def test_no_filters_and_no_moments():
    empty = kernels.layer_sums(np.zeros((0, 9), np.float32))
    assert empty.n == 0 and empty.l1 == 0.0 and not empty.scatter.any()
    zeros = kernels.layer_sums(np.zeros((300, 9), np.float32), metrics.empty_moments())
    assert not zeros.peak.any() and not zeros.moments["outer"].any() and zeros.moments["count"] == 300


def test_a_nan_weight_reaches_the_sums():
    w = layer(600, 1)
    w[300, 4] = np.nan
    sums = kernels.layer_sums(w, metrics.empty_moments())
    assert np.isnan(sums.l1) and np.isnan(sums.moments["outer"]).any()


def test_layer_metrics_from_either_pass_agree():
    w = layer(4096, 5)
    expected = metrics.layer_metrics(w, 64, sums=metrics.layer_sums(w))  # the numpy reference
    got = metrics.layer_metrics(w, 64)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-14), key


def test_projection_equals_the_matrix_product():
    """Strict-order coefficients against a BLAS product (a different summation order)."""
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((9, 10))
    a = np.ones((10, 777))
    a[:9] = rng.uniform(-1, 1, (9, 777))
    got = kernels.project(matrix, a, np.empty((9, 777)))
    assert np.allclose(got, matrix @ a, rtol=0, atol=1e-14)
    # a view of a wider buffer (Projector.chunks' last chunk) gives the same bits
    wide = np.ones((10, 1000))
    wide[:, :777] = a
    assert np.array_equal(kernels.project(matrix, wide[:, :777], np.empty((10, 1000))[:9, :777]), got)


def binning_case(n: int = 5000):
    w = layer(n, 4)
    moments = metrics.empty_moments()
    metrics.layer_sums(w, moments)
    b = basis.basis_from_moments([moments])
    coefficients = basis.project(w, b)
    return w, b, coefficients


@pytest.mark.parametrize("narrow", [1.0, 0.6])
def test_counts_and_joint_counts_follow_the_plain_rule(narrow):
    """Counts of the pass equal the plain binning rule over basis.project's coefficients,
    with the range exactly at the data's extremes (both in a bin) or narrower (some out)."""
    w, b, coefficients = binning_case()
    low, high = coefficients.min(axis=0), coefficients.max(axis=0)
    edges = shift.bin_edges(low * narrow, high * narrow, 30)
    binner = shift.Binner(edges)
    joint = shift.JointCounter(edges, (2, 5))
    counts = shift.LayerCounts(binner, joint, basis.Projector(b))
    kernels.layer_sums(w, None, counts)
    assert np.array_equal(counts.counts, reference_counts(coefficients, edges))
    assert (counts.counts.sum(axis=1) == len(w)).all() == (narrow == 1.0)
    x, y = coefficients[:, 2], coefficients[:, 5]
    ex, ey = edges[2], edges[5]
    inside = (x >= ex[0]) & (x <= ex[-1]) & (y >= ey[0]) & (y <= ey[-1])
    plain, _, _ = np.histogram2d(x[inside], y[inside], bins=[ex, ey])
    assert np.array_equal(joint.counts, plain.astype(np.int64))


def test_bin_rule_at_the_edges():
    """The compiled bins of values on every edge, next to it, NaN and ±inf, as the plain rule.

    With the identity basis (mean 0) a filter's coefficients are its scaled weights, and a
    filter whose c8 is 1.0 (its peak) keeps its other weights exactly: c0…c7 carry the test
    values, c8 sits on its range's high edge (the closed last bin).
    """
    rng = np.random.default_rng(3)
    edges = shift.bin_edges(-rng.uniform(0.3, 0.9, 9), rng.uniform(0.3, 0.9, 9), 70)
    edges[8] = np.linspace(0.5, 1.0, 71)
    values = np.concatenate([
        rng.uniform(edges[:, 0], edges[:, -1], (500, 9)), edges.T, np.nextafter(edges.T, np.inf),
        np.nextafter(edges.T, -np.inf), np.full((1, 9), np.nan), np.full((1, 9), np.inf), np.full((1, 9), -np.inf),
    ])  # fmt: skip
    values[:, 8] = 1.0
    identity = {"components": np.eye(9), "mean": np.zeros(9)}
    counts = shift.LayerCounts(shift.Binner(edges), None, basis.Projector(identity))
    kernels.layer_sums(values, None, counts)
    assert np.array_equal(counts.counts, reference_counts(basis.scale_filters(values), edges))
    assert counts.counts[8, -1] == len(values) - 3  # the NaN and ±inf rows: NaN coefficients


BITS = """
import hashlib, sys
import numpy as np
from filterdb import basis, kernels, metrics, shift
sys.path.insert(0, sys.argv[1])
from test_kernels import binning_case
w, b, coefficients = binning_case(5003)  # a last block of 139 filters: padded lanes
digest = hashlib.sha256()
for dtype in (np.float32, np.float64):
    moments = metrics.empty_moments()
    edges = shift.bin_edges(coefficients.min(axis=0), coefficients.max(axis=0), 30)
    counts = shift.LayerCounts(shift.Binner(edges), shift.JointCounter(edges), basis.Projector(b))
    sums = kernels.layer_sums(w.astype(dtype), moments, counts)
    for part in (sums.peak, sums.sum, sums.scatter, np.array([sums.l1, sums.l2]), moments["sum"], moments["outer"],
                 counts.counts, counts.joint.counts, basis.project(w.astype(dtype), b)):
        digest.update(np.ascontiguousarray(part).tobytes())
print(kernels.build(), digest.hexdigest())
"""


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            return {flag for line in handle if line.startswith("flags") for flag in line.split(":")[1].split()}
    except OSError:
        return set()


def test_every_build_gives_the_same_bits():
    """Every sum, count and coefficient of the pass, float32 and float64 weights, bit for bit,
    from the AVX-512, the AVX2 and the baseline build (those this CPU runs)."""
    def run(build: str) -> list[str]:
        env = {**os.environ, "FILTERDB_PASS_BUILD": build}
        done = subprocess.run([sys.executable, "-c", BITS, os.path.dirname(__file__)], env=env,
                              capture_output=True, text=True, check=True)
        return done.stdout.split()

    runs = {build: run(build) for build in kernels.BUILDS}
    assert runs["baseline"][0] == "baseline"
    flags = cpu_flags()
    if {"avx512f", "avx512dq", "avx512vl", "avx512bw"} <= flags:
        assert runs["avx512"][0] == "avx512"  # not a silent fallback
    if "avx2" in flags:
        assert runs["avx2"][0] == "avx2"
    ran = {got[0]: got[1] for got in runs.values()}  # a build the CPU lacks runs the one below
    if len(ran) == 1:
        pytest.skip("this machine runs the baseline build only")
    assert len(set(ran.values())) == 1, ran


def test_an_unbuilt_pass_says_how_to_build_it(monkeypatch):
    monkeypatch.setattr(kernels.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"_pass\.c\) is not built: install the package with `pip install -e \.`"):
        kernels._load()


@pytest.mark.parametrize("offset", [0, 1, 7])
def test_crc32_equals_zlib(offset):
    """The compiled CRC (carry-less folding from 64 bytes on, the byte table below that and
    for the tail) against zlib on every length up to 300, unaligned starts, any prior value."""
    import zlib

    rng = np.random.default_rng(offset)
    data = rng.integers(0, 256, 300 + offset + (1 << 16), dtype=np.uint8).tobytes()
    lengths = [*range(301), 4095, 4096, 4097, 1 << 16]
    for n in lengths:
        view = memoryview(data)[offset : offset + n]
        value = int(rng.integers(0, 2**32))
        expected = zlib.crc32(view, value)
        assert kernels.crc32(view, value) == expected, n
        raw = np.frombuffer(view, np.uint8)
        assert kernels._LIBRARY.fdb_crc32(raw.ctypes.data, n, value) == expected, n


def test_crc32_of_a_flipped_bit_differs():
    data = bytearray(np.random.default_rng(3).integers(0, 256, 1 << 12, dtype=np.uint8).tobytes())
    before = kernels.crc32(data)
    for bit in (0, 9, 8 * 1000 + 3, 8 * len(data) - 1):
        data[bit // 8] ^= 1 << (bit % 8)
        assert kernels.crc32(data) != before
        data[bit // 8] ^= 1 << (bit % 8)
    assert kernels.crc32(data) == before


@pytest.mark.parametrize("c", [1, 2, 7, 64])
def test_gram_abs_sums_equal_numpy(c):
    """Orthogonality's reduction against numpy in float64 over the whole symmetric matrix;
    the upper triangle is never read (filled with NaN here)."""
    rng = np.random.default_rng(c)
    rows = rng.standard_normal((c, 27)).astype(np.float32)
    gram = rows @ rows.T
    weights = rng.uniform(0.1, 2.0, c)
    weights[0] = 0.0  # a zero channel's weight
    full = gram.astype(np.float64)
    expected_total = weights @ np.abs(full) @ weights
    upper = np.triu_indices(c, 1)
    gram[upper] = np.nan
    total, diagonal = kernels.gram_abs_sums(gram, weights)
    assert total == pytest.approx(expected_total, rel=1e-14)
    assert np.allclose(diagonal, np.diagonal(full) * weights**2, rtol=1e-15, atol=0)


def snappy_literal(data: bytes) -> bytes:
    """A raw Snappy block of one literal, its length in the tag (< 61) or in 1–4 bytes after it."""
    n = len(data) - 1
    if n < 60:
        tag = bytes([n << 2])
    else:
        size = (n.bit_length() + 7) // 8
        tag = bytes([(59 + size) << 2]) + n.to_bytes(size, "little")
    return varint(len(data)) + tag + data


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def test_snappy_decodes_what_arrow_encodes_and_rejects_the_rest():
    import pyarrow as pa

    codec = pa.Codec("snappy")
    rng = np.random.default_rng(7)
    blocks = [b"", b"x", b"ab" * 5000, bytes(range(256)) * 300, rng.standard_normal(50_000).astype(np.float32).tobytes(),
              np.tile(np.array([0, 1, 1, 1, 1, 1, 1, 1, 1], np.uint8), 2000).tobytes()]  # fmt: skip
    blocks += [rng.integers(0, 3, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 400, 40)]
    for data in blocks:
        packed = codec.compress(data, asbytes=True)
        out = np.empty(len(data), np.uint8)
        assert kernels.snappy_into(packed, out) == len(data) and out.tobytes() == data
        if data:
            assert kernels.snappy_into(packed, np.empty(len(data) - 1, np.uint8)) == -1  # larger than out
            for cut in (1, len(packed) // 2):  # truncated: never a different block of the right size
                got = kernels.snappy_into(packed[:-cut], out)
                assert got == -1 or (got == len(data) and out.tobytes() == data)
    # the literal lengths of tags 60–63 (1–4 length bytes), which Arrow's encoder does not write for these sizes
    for size in (1, 60, 61, 300, 70_000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        out = np.empty(size, np.uint8)
        assert kernels.snappy_into(snappy_literal(data), out) == size and out.tobytes() == data
    four = b"abcd"  # a copy with a 4-byte offset (tag 3), 8 bytes back 4
    assert kernels.snappy_into(varint(12) + bytes([3 << 2]) + four + bytes([(8 - 1) << 2 | 3]) + (4).to_bytes(4, "little"),
                               out := np.empty(12, np.uint8)) == 12 and out.tobytes() == b"abcd" * 3
    # offsets before the start, a zero offset, a copy past the size: damaged
    assert kernels.snappy_into(varint(8) + bytes([3 << 2]) + four + bytes([(4 - 1) << 2 | 2]) + (5).to_bytes(2, "little"), out) == -1
    assert kernels.snappy_into(varint(8) + bytes([3 << 2]) + four + bytes([(4 - 1) << 2 | 2]) + (0).to_bytes(2, "little"), out) == -1
    assert kernels.snappy_into(varint(6) + bytes([3 << 2]) + four + bytes([(4 - 1) << 2 | 2]) + (4).to_bytes(2, "little"), out) == -1
    junk = [rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(1, 80, 3000)]
    assert all(kernels.snappy_into(j, np.empty(1000, np.uint8)) in range(-1, 1001) for j in junk)
