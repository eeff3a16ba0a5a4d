"""The workflow's one read of a layer, compiled (``_pass.c``, built by ``pip install``).

``metrics.layer_sums`` (numpy, chunks of 8192 filters) is the reference. Every metric
(``metrics.layer_metrics``: the workflow's statistics pass, ``filterdb inspect``) takes
its sums from ``layer_sums`` here: the same sums from blocks of 256 filters that stay in
L1 cache, each filter loaded once for its norms, its scaled copy, both scatter matrices and,
with a frozen basis, its coefficients and their bins (``benchmarks/engine.py``).

Rounding: the C code is built without fused multiply-add or fast-math, so each value is
computed in the order written there, on any x86-64 (an AVX2 and a baseline build, picked
at run time) and any compiler. Sums (norms, scatters, moments) are taken in another order
than numpy's, so they agree with the reference to ~1e-15 relative, not bit for bit. The
coefficients and their bins come from ``project``'s fixed order, which
``basis.Projector`` uses too: a build's coefficient range and the bins of any later pass
see bit-identical coefficients.
"""

from __future__ import annotations

import ctypes
import importlib.util
import zlib

import numpy as np

from .metrics import CHUNK, LayerSums, _as_kernels, empty_moments

_P = ctypes.c_void_p
_I = ctypes.c_int64


def _load() -> ctypes.CDLL:
    spec = importlib.util.find_spec("filterdb._pass")
    if spec is None or not spec.origin:
        raise ImportError(
            "filterdb's compiled pass (src/filterdb/_pass.c) is not built: install the package "
            "with `pip install -e .` (needs a C compiler)"
        )
    library = ctypes.CDLL(spec.origin)
    arguments = [_P, _I, _P, _P, ctypes.c_int, _P, ctypes.c_int, _P, _P, _P, _I, _P, _P, ctypes.c_int, ctypes.c_int, _P]
    for name in ("fdb_pass_f32", "fdb_pass_f64"):
        getattr(library, name).argtypes = arguments
        getattr(library, name).restype = None
    library.fdb_project.argtypes = [_P, _P, _I, _P, _I, _I]
    library.fdb_project.restype = None
    library.fdb_build.restype = ctypes.c_int
    library.fdb_crc32.argtypes = [_P, _I, ctypes.c_uint32]
    library.fdb_crc32.restype = ctypes.c_uint32
    library.fdb_uses_pclmul.restype = ctypes.c_int
    library.fdb_gram_abs.argtypes = [_P, _I, _P, _P, _P]
    library.fdb_gram_abs.restype = None
    library.fdb_snappy.argtypes = [_P, _I, _P, _I]
    library.fdb_snappy.restype = _I
    library.fdb_out_size.restype = ctypes.c_int
    return library


_LIBRARY = _load()
_OUT_SIZE = _LIBRARY.fdb_out_size()  # l1, l2, the shifted and the scaled 10 × 10 Gram
_NO_COUNTS = np.zeros((9, 1), np.int64)


BUILDS = ("baseline", "avx2", "avx512")


def build() -> str:
    """Which build of the pass runs: ``avx512``, ``avx2`` or ``baseline`` (x86-64 or generic
    C); the best the CPU has, capped by ``FILTERDB_PASS_BUILD=baseline|avx2``. Every build
    gives the same bits."""
    return BUILDS[_LIBRARY.fdb_build()]


def crc32(data, value: int = 0) -> int:
    """``zlib.crc32(data, value)`` of a bytes-like object, with carry-less multiplies where
    the CPU has them (several times zlib's speed: the check of every page of a filters file)."""
    view = np.frombuffer(data, np.uint8)
    return int(_LIBRARY.fdb_crc32(view.ctypes.data, view.size, value & 0xFFFFFFFF))


if not _LIBRARY.fdb_uses_pclmul():
    crc32 = zlib.crc32  # noqa: F811 (zlib's tables beat a byte-at-a-time one)


def snappy_into(data, out: np.ndarray) -> int:
    """Decode a raw Snappy block (Parquet's SNAPPY pages) into the uint8 array ``out``;
    returns the decoded size, or -1 when the block is damaged or larger than ``out``."""
    view = np.frombuffer(data, np.uint8)
    if out.dtype != np.uint8 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("kernels.snappy_into: out must be a writeable contiguous uint8 array")
    return int(_LIBRARY.fdb_snappy(view.ctypes.data, view.size, out.ctypes.data, out.size))


def gram_abs_sums(gram: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Σ_ij |g_ij| w_i w_j and the diagonal g_ii w_i² of a symmetric float32 Gram matrix
    (only its lower triangle is read), in float64: orthogonality's reduction."""
    gram = np.ascontiguousarray(gram, dtype=np.float32)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    c = gram.shape[0]
    if gram.shape != (c, c) or weights.shape != (c,):
        raise ValueError(f"kernels.gram_abs_sums: shapes {gram.shape} and {weights.shape}")
    total, diagonal = ctypes.c_double(), np.empty(c)
    _LIBRARY.fdb_gram_abs(gram.ctypes.data, c, weights.ctypes.data, ctypes.byref(total), diagonal.ctypes.data)
    return total.value, diagonal


def project(matrix: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (9, k) = matrix (9, 10) · a (10, k), in the fixed order of ``_pass.c``:
    coefficients of scaled filters over a row of ones (``basis.Projector.project_scaled``).
    ``a`` and ``out`` may be column slices of wider C-ordered buffers."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    for array in (a, out):
        if array.dtype != np.float64 or array.strides[1] != 8:
            raise ValueError("kernels.project: a and out must be float64 with contiguous rows")
    if a.shape[0] != 10 or out.shape[0] != 9 or a.shape[1] != out.shape[1]:
        raise ValueError(f"kernels.project: shapes {a.shape} and {out.shape}, need (10, k) and (9, k)")
    _LIBRARY.fdb_project(matrix.ctypes.data, a.ctypes.data, a.strides[0] // 8, out.ctypes.data, out.strides[0] // 8, a.shape[1])
    return out


def _mirror(lower: np.ndarray) -> np.ndarray:
    return np.tril(lower) + np.tril(lower, -1).T


def layer_sums(filters: np.ndarray, moments: dict | None = None, counts=None):
    """``metrics.layer_sums`` compiled: a ``metrics.LayerSums`` of the (n, 9) filters.

    ``moments``: a dict from ``metrics.empty_moments``, the scaled filters' moment sums
    added in place. ``counts``: a ``shift.LayerCounts`` with a projector (a frozen basis):
    the filters' coefficients are counted into it (and into its joint counter) in the
    same pass.
    """
    w = np.ascontiguousarray(_as_kernels(filters))
    n = w.shape[0]
    shift = w[: min(n, CHUNK)].mean(axis=0, dtype=np.float64) if n else np.zeros(9)
    peak = np.empty(n)
    out = np.zeros(_OUT_SIZE)
    if counts is not None:
        binner, joint = counts.binner, counts.joint
        if joint is not None and joint.bins != binner.bins:
            raise ValueError("layer_sums: the joint counts need the 1-D histograms' bins")
        matrix = np.ascontiguousarray(counts.projector.matrix)
        rows = [np.ascontiguousarray(r[:, 0]) for r in (binner.low, binner.high, binner.norm)]
        target, bins = counts.counts, binner.bins
        joint_counts = joint.counts.ctypes.data if joint is not None else None
        jx, jy = joint.pair if joint is not None else (0, 0)
        binned = (matrix.ctypes.data, 1, *(r.ctypes.data for r in rows), bins, target.ctypes.data, joint_counts, jx, jy)
    else:
        binned = (None, 0, None, None, None, 1, _NO_COUNTS.ctypes.data, None, 0, 0)
    run = _LIBRARY.fdb_pass_f32 if w.dtype == np.float32 else _LIBRARY.fdb_pass_f64
    run(w.ctypes.data, n, shift.ctypes.data, peak.ctypes.data, int(moments is not None), *binned, out.ctypes.data)
    l1, l2 = out[0], out[1]
    shifted, scaled = out[2:102].reshape(10, 10), out[102:].reshape(10, 10)
    shifted = _mirror(shifted)
    if moments is not None:
        scaled = _mirror(scaled)
        moments["count"] = moments["count"] + n
        moments["sum"] = moments["sum"] + scaled[9, :9]
        moments["outer"] = moments["outer"] + scaled[:9, :9]
    return LayerSums(
        n, peak, shift, shifted[9, :9].copy(), shifted[:9, :9].copy(), float(l1), float(l2),
        moments if moments is not None else empty_moments(),
    )  # fmt: skip
