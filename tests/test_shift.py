"""Histograms and the shift D: against np.histogram and scipy.stats.entropy, properties,
streamed against in-memory, grouping along any axis, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import synthetic_db as synthetic
from filterdb import basis, shift, stats, store
from filterdb.shift import FLOAT32_EPS, bin_edges, densities, histogram_counts, shift_matrix

MODELS = {  # model: (layer shapes, distribution group, task)
    "a": ([(16, 8), (32, 16), (8, 8)], 0, "classification"),
    "b": ([(8, 8), (48, 32)], 1, "segmentation"),
    "c": ([(24, 24), (16, 4)], 2, "classification"),
    "d": ([(32, 32)], 1, "detection"),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    root = tmp_path_factory.mktemp("db")
    for model, (shapes, group, _) in MODELS.items():
        synthetic.write_model(root / f"{model}.parquet", model, shapes, seed=11, group=group, sparse_share=0.05)
    paths = {m: root / f"{m}.parquet" for m in MODELS}
    b = basis.basis_from_moments(basis.moments(p) for p in paths.values())
    ranges = [basis.coefficient_range(p, b) for p in paths.values()]
    low = np.min([r[0] for r in ranges], axis=0)
    high = np.max([r[1] for r in ranges], axis=0)
    edges = bin_edges(low, high, 70)
    for model, path in paths.items():
        store.write_table(store.histograms_table(*shift.model_histograms(path, b, edges)), root / f"{model}.hist.parquet", store.file_metadata(model))
    layers = pd.concat([synthetic.layer_stats(p, m) for m, p in paths.items()], ignore_index=True)
    layers["task"] = layers["model"].map({m: v[2] for m, v in MODELS.items()})
    histograms = {m: store.read_histograms(root / f"{m}.hist.parquet") for m in MODELS}
    return {"paths": paths, "basis": b, "edges": edges, "layers": layers, "histograms": histograms}


def d_scipy(p_counts, q_counts, evr, edges, eps=FLOAT32_EPS):
    """D with scipy.stats.entropy (KL in nats, which renormalises) on np.histogram-style
    densities (counts / (n · bin width)) whose empty bins hold eps."""
    total = 0.0
    for i in range(9):
        width = np.diff(edges[i])
        p = p_counts[i] / (p_counts[i].sum() * width)
        q = q_counts[i] / (q_counts[i].sum() * width)
        p = np.where(p == 0, eps, p)
        q = np.where(q == 0, eps, q)
        total += evr[i] * (scipy.stats.entropy(p, q) + scipy.stats.entropy(q, p))
    return total


def in_memory_group_counts(database, groups, bins=70):
    """The reference method: every filter in memory, direct projection, its own database-wide
    range, np.histogram."""
    b = database["basis"]
    coefficients = {}
    for model, path in database["paths"].items():
        kernels = np.concatenate([k for _, k, _ in store.iter_layer_kernels(path)]).astype(np.float64)
        peak = np.abs(kernels).max(axis=1, keepdims=True)
        scaled = np.where(peak > 0, kernels / np.where(peak > 0, peak, 1), 0.0)
        coefficients[model] = (scaled - b["mean"]) @ b["components"].T
    everything = np.concatenate(list(coefficients.values()))
    low, high = everything.min(axis=0), everything.max(axis=0)
    out = {}
    for name, models in groups.items():
        c = np.concatenate([coefficients[m] for m in models])
        out[name] = np.stack([np.histogram(c[:, i], bins=bins, range=(low[i], high[i]))[0] for i in range(9)])
    return out


def test_histogram_counts_equal_numpy():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((20_000, 9)) * np.arange(1, 10)
    edges = bin_edges(values.min(axis=0), values.max(axis=0), 70)
    counts = histogram_counts(values, edges)
    for i in range(9):
        assert np.array_equal(counts[i], np.histogram(values[:, i], bins=edges[i])[0])
    # a fixed range: values outside (and NaN) are not counted, as in np.histogram
    fixed = bin_edges(np.full(9, -1.0), np.full(9, 1.0), 7)
    values[0, 0] = np.nan
    counts = histogram_counts(values, fixed)
    for i in range(9):
        assert np.array_equal(counts[i], np.histogram(values[:, i], bins=7, range=(-1, 1))[0])


def test_streamed_shift_equals_in_memory(database):
    groups = {"classification": ["a", "c"], "segmentation": ["b"], "detection": ["d"]}
    sums, sizes = shift.group_histograms(database["layers"], database["histograms"], "task")
    reference = in_memory_group_counts(database, groups)
    for name in groups:
        assert np.array_equal(sums[name], reference[name]), name
    evr = database["basis"]["explained_variance_ratio"]
    matrix = shift_matrix(sums, evr, database["edges"])
    for p in groups:
        for q in groups:
            expected = 0.0 if p == q else d_scipy(reference[p], reference[q], evr, database["edges"])
            assert matrix.loc[p, q] == pytest.approx(expected, abs=1e-9, rel=1e-9)
    assert sizes.set_index("group").loc["classification", "filters"] == sum(
        s[0] * s[1] for m in ("a", "c") for s in MODELS[m][0]
    )


def test_histograms_invariant_to_filter_order_and_file_chunks(database, tmp_path):
    path = database["paths"]["b"]
    kernels = [k for _, k, _ in store.iter_layer_kernels(path)]
    shapes = MODELS["b"][0]
    rng = np.random.default_rng(1)
    shuffled = [k[rng.permutation(len(k))] for k in kernels]
    synthetic.write_model(tmp_path / "s.parquet", "b", shapes, kernels=shuffled)
    original = shift.model_histograms(path, database["basis"], database["edges"])
    permuted = shift.model_histograms(tmp_path / "s.parquet", database["basis"], database["edges"])
    assert all(np.array_equal(x, y) for x, y in zip(original, permuted))
    # the same rows cut into many row groups
    table = store.open_filters(path).read()
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "chunked.parquet", row_group_size=37)
    chunked = shift.model_histograms(tmp_path / "chunked.parquet", database["basis"], database["edges"])
    assert all(np.array_equal(x, y) for x, y in zip(original, chunked))
    a, _ = synthetic.scan_filters(path, "b")
    b, _ = synthetic.scan_filters(tmp_path / "chunked.parquet", "b")
    pd.testing.assert_frame_equal(a, b)


def test_histogram_file_round_trip(database, tmp_path):
    layers, sizes, counts = shift.model_histograms(database["paths"]["a"], database["basis"], database["edges"])
    store.write_table(store.histograms_table(layers, sizes, counts), tmp_path / "h.parquet", store.file_metadata("a"))
    ids, back = store.read_histograms(tmp_path / "h.parquet")
    assert np.array_equal(ids, layers) and np.array_equal(back, counts)
    assert (counts.sum(axis=2) == sizes[:, None]).all()  # database range: every filter counted


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.integers(1, 5),
    bins=st.integers(2, 30),
    sparse=st.floats(0, 0.9),
)
def test_d_properties(seed, groups, bins, sparse):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 50, size=(groups, 9, bins))
    counts[rng.random(counts.shape) < sparse] = 0
    counts[:, :, 0] += 1  # no group is empty
    evr = rng.dirichlet(np.ones(9))
    edges = bin_edges(rng.normal(size=9), rng.normal(size=9) + rng.uniform(0.01, 10, size=9) ** 2, bins)
    names = [f"g{i}" for i in range(groups)]
    matrix = shift_matrix(dict(zip(names, counts)), evr, edges).to_numpy()
    assert (matrix >= 0).all()
    assert np.array_equal(np.diag(matrix), np.zeros(groups))
    assert np.array_equal(matrix, matrix.T)
    for a in range(groups):
        for b in range(a + 1, groups):
            assert matrix[a, b] == pytest.approx(d_scipy(counts[a], counts[b], evr, edges), rel=1e-9, abs=1e-12)
    # D(P, P) = 0 for the same distribution given by other counts (scaled)
    twice = shift_matrix({"x": counts[0], "y": 3 * counts[0]}, evr, edges).to_numpy()
    assert twice[0, 1] == pytest.approx(0.0, abs=1e-12)


def test_densities_fill_empty_bins_with_eps_in_the_density():
    unit = bin_edges(np.zeros(9), np.full(9, 3.0), 3)  # bins of width 1: density = counts / n
    p = densities(np.array([[0, 2, 2]] * 9), unit)
    assert p[0, 0] == pytest.approx(FLOAT32_EPS / (1 + FLOAT32_EPS))
    assert np.allclose(p.sum(axis=-1), 1.0)
    # bins of width 0.1: the density is [0, 5, 5], so eps weighs 10 times less than in counts / n
    narrow = bin_edges(np.zeros(9), np.full(9, 0.3), 3)
    assert densities(np.array([[0, 2, 2]] * 9), narrow)[0, 0] == pytest.approx(FLOAT32_EPS / (10 + FLOAT32_EPS))
    with pytest.raises(store.DataError, match=r"empty.*group\(s\): b"):
        shift_matrix({"a": np.ones((9, 3)), "b": np.zeros((9, 3))}, np.full(9, 1 / 9), unit)


def test_axes_combinations_and_filters(database):
    layers, histograms = database["layers"], database["histograms"]
    sums, sizes = shift.group_histograms(layers, histograms, ["task", "depth_decile"])
    assert "classification / 0" in sums and "detection / 0" in sums
    first, _ = shift.group_histograms(layers, histograms, "task", where={"depth_decile": 0})
    assert sorted(first) == ["classification", "detection", "segmentation"]
    assert sum(c.sum() for c in first.values()) == 9 * layers.loc[layers["depth_decile"] == 0, "n_filters"].sum()
    # a new axis reuses the stored histograms: per-model sums equal the model's total
    by_model, _ = shift.group_histograms(layers, histograms, "model")
    for model, (_, counts) in histograms.items():
        assert np.array_equal(by_model[model], counts.sum(axis=0))


def test_axis_errors_and_small_groups(database):
    layers, histograms = database["layers"], database["histograms"]
    with pytest.raises(KeyError, match="'colour' is not a column.*known columns: .*task"):
        shift.group_histograms(layers, histograms, "colour")
    with pytest.raises(KeyError, match="filter column 'nope'"):
        shift.group_histograms(layers, histograms, "task", where={"nope": 1})
    sums, sizes = shift.group_histograms(layers, histograms, "task", min_filters=1100)
    assert sizes.set_index("group").loc["detection", "status"] == "too small"  # 1024 filters
    assert "detection" not in sums and "classification" in sums
    partial = {m: h for m, h in histograms.items() if m != "d"}
    with pytest.raises(store.DataError, match=r"d \(no histogram file\)"):
        shift.group_histograms(layers, partial, "task")


def test_layer_with_empty_histogram(database):
    far = bin_edges(np.full(9, 100.0), np.full(9, 101.0), 70)
    with pytest.raises(store.DataError, match=r"a\.parquet: layer 0: the histogram of coefficient\(s\) c0, .* is empty"):
        shift.model_histograms(database["paths"]["a"], database["basis"], far)
    counts = synthetic.histograms_keeping_empty(database["paths"]["a"], database["basis"], far).column("counts")
    assert pa.compute.sum(counts.combine_chunks().flatten()).as_py() == 0


@settings(max_examples=8, deadline=None)
@given(row_group=st.integers(1, 3000), chunk=st.integers(50, 5000))
def test_results_invariant_to_file_chunks_and_processing_chunks(database, tmp_path_factory, row_group, chunk):
    """Splitting a model's file into row groups, or its layers into processing chunks,
    changes no histogram count and no statistic beyond round-off."""
    import pyarrow.parquet as pq

    from filterdb import metrics

    path = database["paths"]["a"]
    other = tmp_path_factory.mktemp("chunks") / "a.parquet"
    pq.write_table(store.open_filters(path).read(), other, row_group_size=row_group)
    expected = shift.model_histograms(path, database["basis"], database["edges"])
    got = shift.model_histograms(other, database["basis"], database["edges"])
    assert all(np.array_equal(x, y) for x, y in zip(expected, got))
    frame, _ = synthetic.scan_filters(path, "a")
    again, _ = synthetic.scan_filters(other, "a")
    pd.testing.assert_frame_equal(frame, again)
    for _, kernels, _ in store.iter_layer_kernels(other):
        sums = metrics.layer_sums(kernels, metrics.empty_moments(), chunk=chunk)
        reference = metrics.layer_sums(kernels, metrics.empty_moments())
        def covariance(x):  # the shift (a pilot mean) depends on the chunk; the covariance does not
            d = x.sum / x.n
            return x.scatter - x.n * np.outer(d, d)

        assert np.allclose(covariance(sums), covariance(reference), rtol=1e-10, atol=1e-12)
        assert np.allclose(sums.moments["outer"], reference.moments["outer"], rtol=1e-12, atol=1e-15)
        assert sums.l1 == pytest.approx(reference.l1, rel=1e-12)


def test_nan_reaches_range_and_histograms_as_an_error(database, tmp_path):
    kernels = [k.copy() for _, k, _ in store.iter_layer_kernels(database["paths"]["d"])]
    kernels[0][3, 3] = np.nan
    synthetic.write_model(tmp_path / "nan.parquet", "d", MODELS["d"][0], kernels=kernels)
    with pytest.raises(store.DataError, match=r"nan\.parquet: layer 0 has 1 filters with NaN"):
        basis.coefficient_range(tmp_path / "nan.parquet", database["basis"])
    with pytest.raises(store.DataError, match=r"nan\.parquet: layer 0 has 1 filters with NaN"):
        shift.model_histograms(tmp_path / "nan.parquet", database["basis"], database["edges"])


def reference_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The binning rule written out plainly: bin ⌊(c − low) · bins / (high − low)⌋ in float64,
    truncated, the last bin closed, values outside [low, high] (and NaN) not counted."""
    bins = edges.shape[1] - 1
    out = np.zeros((9, bins), np.int64)
    for i in range(9):
        low, high = edges[i, 0], edges[i, -1]
        c = values[:, i]
        kept = c[(c >= low) & (c <= high)]
        index = np.minimum(((kept - low) * (bins / (high - low))).astype(np.intp), bins - 1)
        out[i] = np.bincount(index, minlength=bins)
    return out


def test_binner_edge_cases_bin_by_the_plain_rule():
    rng = np.random.default_rng(3)
    edges = bin_edges(-rng.uniform(0.5, 3, 9), rng.uniform(0.5, 3, 9), 70)
    low, high = edges[:, 0], edges[:, -1]
    parts = [
        rng.uniform(low, high, (5000, 9)),  # inside
        edges.T,  # every edge exactly: the first in bin 0, the last in the last bin
        np.nextafter(edges.T, np.inf),
        np.nextafter(edges.T, -np.inf),  # just below low and just above high: not counted
        np.nextafter(edges[:, -1:].T, np.inf),
        np.zeros((3, 9)),
        np.full((1, 9), np.nan),
        np.full((1, 9), np.inf),
        np.full((1, 9), -np.inf),
    ]
    inside = parts[0].copy()
    inside[:71] = edges.T  # edges only, no value outside: the unmasked path
    for values in (inside, np.concatenate(parts)):
        expected = reference_counts(values, edges)
        assert np.array_equal(histogram_counts(values, edges), expected)
        # the same values cut into chunks of every remainder
        binner = shift.Binner(edges)
        counts = np.zeros((9, 70), np.int64)
        for start in range(0, len(values), 997):
            binner.add(counts, np.array(values[start : start + 997].T, order="C"))
        assert np.array_equal(counts, expected)
    top = histogram_counts(edges[:, -1:].T, edges)  # high itself: in the last bin
    assert top[:, -1].tolist() == [1] * 9 and top.sum() == 9


def test_range_is_the_exact_extreme_of_the_projection_and_fills_the_histograms(database, tmp_path):
    """coefficient_range is bit-identical to the extremes of the projected coefficients,
    with all-zero filters (and −0.0 weights) in."""
    kernels = [k.copy() for _, k, _ in store.iter_layer_kernels(database["paths"]["a"])]
    kernels[0][:5] = 0.0
    kernels[1][:3] = -0.0
    kernels[1][3, :4] = -0.0
    synthetic.write_model(tmp_path / "z.parquet", "a", MODELS["a"][0], kernels=kernels)
    b = database["basis"]
    low, high = basis.coefficient_range(tmp_path / "z.parquet", b)
    coefficients = basis.project(np.concatenate(kernels), b)
    assert low.tobytes() == coefficients.min(axis=0).tobytes()
    assert high.tobytes() == coefficients.max(axis=0).tobytes()
    edges = bin_edges(low, high, 70)
    layers, sizes, counts = shift.model_histograms(tmp_path / "z.parquet", b, edges)
    assert (counts.sum(axis=2) == sizes[:, None]).all()  # the max lands in the last bin
    assert np.array_equal(counts.sum(axis=0), reference_counts(coefficients, edges))


def test_per_model_steps_do_not_import_pandas(tmp_path):
    """pandas costs ~0.3 s of start-up in each of the hundreds of per-model jobs."""
    script = f"""
import sys, numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from filterdb import basis, runner, shift, stats, store
import synthetic_db as synthetic
path = {str(tmp_path / "m.parquet")!r}
synthetic.write_model(path, "m", [(8, 4), (6, 8)], seed=3)
stats.write_layer_stats(path, {str(tmp_path / "l.parquet")!r}, "m", moments_path={str(tmp_path / "m.npz")!r})
b = basis.basis_from_moments([basis.moments(path)])
low, high = basis.coefficient_range(path, b)
store.histograms_table(*shift.model_histograms(path, b, shift.bin_edges(low, high, 70)))
print(sorted(m for m in sys.modules if m.split(".")[0] == "pandas")[:3])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_range_policies():
    low, high = np.arange(9.0) - 10, np.arange(9.0) + 1
    paper = shift.range_edges("paper", low, high, 70)
    assert (paper[:, 0] == -10).all() and (paper[:, -1] == 9).all()  # one range for all nine
    per = shift.range_edges("per-coefficient", low, high, 70)
    assert np.array_equal(per[:, 0], low) and np.array_equal(per[:, -1], high)
    fixed = shift.range_edges([-3, 3], None, None, 6)
    assert np.array_equal(fixed, np.tile(np.linspace(-3, 3, 7), (9, 1)))
    with pytest.raises(ValueError, match=r"config key shift.range: \[3, -3\] is not a range"):
        shift.range_edges([3, -3], None, None, 6)
    pairs = [[-1, 1]] * 9
    pairs[4] = [2, 2]
    with pytest.raises(ValueError, match=r"config key shift.range: pair 4 \[2, 2\] is not a range"):
        shift.range_edges(pairs, None, None, 6)
    with pytest.raises(ValueError, match=r"'database' is not paper, per-coefficient"):
        shift.range_edges("database", low, high, 6)
