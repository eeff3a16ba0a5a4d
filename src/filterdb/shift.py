"""Distribution shifts: per-layer coefficient histograms, summed into groups, compared by D.

D(P, Q) = Σᵢ evrᵢ · [KL(Pᵢ‖Qᵢ) + KL(Qᵢ‖Pᵢ)] over the nine coefficients i, natural log,
on np.histogram densities whose empty bins are set to ``eps`` and which are then
renormalised (the authors' notebook, step by step: see ``densities``).
Groups are sums of layer histograms, so any grouping of layers costs no new pass over
the filters.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from . import store
from .basis import Projector
from .errors import ColumnError, ConfigError, DataError
from .metrics import CHUNK

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7


def range_edges(policy, low: np.ndarray | None, high: np.ndarray | None, bins: int) -> np.ndarray:
    """(9, bins + 1) edges of the shift histograms for a ``shift.range`` policy.

    "paper": one range, the min and max over all nine coefficients' ``low``/``high``
    (the authors' method: every coefficient binned over the same interval);
    "per-coefficient": each coefficient its own [low_i, high_i]; a fixed range: one
    [low, high] pair for all nine, or nine pairs (``low``/``high`` unused). A fixed
    pair with low >= high is an error naming the config key.
    """
    if isinstance(policy, str):
        if policy not in ("paper", "per-coefficient"):
            raise ConfigError(f"config key shift.range: {policy!r} is not paper, per-coefficient or [low, high] pair(s)")
        low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
        if policy == "paper":
            low, high = np.full(9, low.min()), np.full(9, high.max())
        return bin_edges(low, high, bins)
    pairs = np.asarray(policy, dtype=np.float64).reshape(-1, 2)
    bad = np.flatnonzero(~(pairs[:, 0] < pairs[:, 1]))
    if bad.size:
        at = f"pair {bad[0]} " if len(pairs) > 1 else ""
        raise ConfigError(
            f"config key shift.range: {at}[{pairs[bad[0], 0]:g}, {pairs[bad[0], 1]:g}] is not a range "
            "(low must be below high)"
        )
    low, high = np.broadcast_to(pairs, (9, 2)).T
    return bin_edges(low, high, bins)


def pooled_edges(policy, ranges, bins: int) -> np.ndarray:
    """(9, bins + 1) edges for a ``shift.range`` policy, from the basis pool's per-model
    coefficient ranges: (low (9,), high (9,)) each, or None for a model without filters
    (``store.read_range``). A fixed range needs none."""
    if not isinstance(policy, str):
        return range_edges(policy, None, None, bins)
    present = [r for r in ranges if r is not None]
    if not present:
        raise DataError("no model of the basis pool holds any 3×3 filter: there is nothing to histogram")
    low = np.min([r[0] for r in present], axis=0)
    high = np.max([r[1] for r in present], axis=0)
    return range_edges(policy, low, high, bins)


def bin_edges(low: np.ndarray, high: np.ndarray, bins: int) -> np.ndarray:
    """(9, bins + 1) edges; a coefficient with zero range gets a unit-width range around it."""
    low = np.asarray(low, np.float64)
    high = np.asarray(high, np.float64)
    flat = high <= low
    high = np.where(flat, low + 0.5, high)
    low = np.where(flat, low - 0.5, low)
    return np.linspace(low, high, bins + 1, axis=1)


# Adding 2**52 to an integer-valued float64 below 2**52 is exact, and the sum's bit pattern is
# MAGIC_BITS plus the integer: a bin index from a float without a float → int64 cast pass.
MAGIC = 2.0**52
MAGIC_BITS = int(np.array(MAGIC).view(np.int64))


class Binner:
    """Equal-width bins per coefficient, counted chunk by chunk into a (9, bins) int64 array.

    A value c of coefficient i falls in bin ⌊(c − low_i) · bins / (high_i − low_i)⌋, the
    last bin closed at high_i; values outside [low_i, high_i] are not counted. This is
    np.histogram's rule for equal bins, without its correction for values within one
    rounding error of an inner edge (irrelevant to densities, and it would double the cost).

    Counting: coefficient i's bin b is counted at i·(bins + 1) + b of one bincount, so the
    index ⌊·⌋ = bins of a value exactly at high_i (and no value inside the range gets more:
    (c − low) ≤ (high − low) and the product with bins/(high − low) rounds to at most
    bins + one ulp) has its own slot, added to the last bin afterwards: no clamping pass.
    """

    def __init__(self, edges: np.ndarray):
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 2 or edges.shape[0] != 9 or edges.shape[1] < 2:
            raise DataError(f"bin edges must have shape (9, bins + 1), got {edges.shape}")
        self.bins = edges.shape[1] - 1
        self.low = edges[:, :1].copy()
        self.high = edges[:, -1:].copy()
        if not (self.high > self.low).all():
            raise DataError("bin edges: each coefficient's range must have high > low")
        self.norm = self.bins / (self.high - self.low)
        if not np.isfinite(self.norm).all():
            raise DataError("bin edges: a coefficient's range is too narrow for its number of bins")
        self.width = self.bins + 1  # slots per coefficient in the bincount: bins 0 … bins
        self.magic = MAGIC + (np.arange(9, dtype=np.float64) * self.width)[:, None]
        self._margins = np.empty(18)  # scratch of add()
        self._low_row, self._high_row = self.low[:, 0], self.high[:, 0]

    def add(self, counts: np.ndarray, coefficients: np.ndarray) -> bool:
        """Add the (9, k) coefficients to counts (9, bins) in place; coefficients are overwritten.

        Returns False when a coefficient is NaN (NaN is not counted), else True.
        """
        k = coefficients.shape[1]
        if k == 0:
            return True
        # all inside ⇔ min(lowest − low, high − highest) ≥ 0 (the sign of a difference is
        # exact); a NaN coefficient makes that min NaN, so it takes the masked path too.
        # One small reduction instead of eight numpy calls (each costs µs).
        margins = self._margins
        np.subtract(np.minimum.reduce(coefficients, axis=1), self._low_row, out=margins[:9])
        np.subtract(self._high_row, np.maximum.reduce(coefficients, axis=1), out=margins[9:])
        inside = None
        finite = True
        if not np.minimum.reduce(margins) >= 0:
            finite = not np.isnan(margins).any()
            inside = (coefficients >= self.low) & (coefficients <= self.high)
        coefficients -= self.low
        coefficients *= self.norm
        # values inside the range are now in [0, bins]: floor = trunc, and + magic is exact;
        # values outside (NaN, inf, negative) give garbage indices, masked out below
        np.floor(coefficients, out=coefficients)
        coefficients += self.magic
        index = coefficients.view(np.int64)
        index -= MAGIC_BITS
        flat = index.reshape(-1) if inside is None else index[inside]
        wide = np.bincount(flat, minlength=9 * self.width).reshape(9, self.width)
        counts += wide[:, : self.bins]
        counts[:, -1] += wide[:, -1]
        return finite


def histogram_counts(coefficients: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts (9, bins) of each coefficient column of (n, 9) coefficients (see ``Binner``)."""
    binner = Binner(edges)
    counts = np.zeros((9, binner.bins), np.int64)
    values = np.asarray(coefficients, dtype=np.float64).reshape(-1, 9)
    for start in range(0, values.shape[0], CHUNK):
        binner.add(counts, np.array(values[start : start + CHUNK].T, dtype=np.float64, order="C"))
    return counts


class JointCounter:
    """The 2-D histogram (bins, bins) of one coefficient pair (x, y) over the shared edges
    (9, bins + 1), counted chunk by chunk: the counts of ``plots.data.joint_counts``, taken
    in the pass that counts the 1-D histograms (``layer_counts(..., joint=)``).

    Bin rule as ``Binner`` (equal-width bins, the last one closed); a filter outside the
    range in either coefficient is not counted.
    """

    def __init__(self, edges: np.ndarray, pair: tuple[int, int] = (0, 1)):
        self.pair = tuple(pair)
        self.edges = np.asarray(edges, dtype=np.float64)[list(self.pair)]
        self.bins = self.edges.shape[1] - 1
        self.counts = np.zeros((self.bins, self.bins), np.int64)

    def add(self, coefficients: np.ndarray) -> None:
        """Count the (9, k) coefficients (left unchanged)."""
        x, y = self.pair
        ix = bin_index(coefficients[x], self.edges[0])
        iy = bin_index(coefficients[y], self.edges[1])
        inside = (ix >= 0) & (iy >= 0)
        flat = ix[inside] * self.bins + iy[inside]
        self.counts += np.bincount(flat, minlength=self.bins * self.bins).reshape(self.bins, self.bins)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value, −1 outside [edges[0], edges[-1]]; equal-width bins, the last one
    closed (the rule of ``Binner``)."""
    bins = len(edges) - 1
    low, high = edges[0], edges[-1]
    index = np.minimum(np.floor((values - low) * (bins / (high - low))), bins - 1)
    inside = (values >= low) & (values <= high)
    return np.where(inside, index, -1).astype(np.int64)


class LayerCounts:
    """One layer's histograms (9, bins), counted chunk by chunk from its coefficients; with
    ``joint``, its filters are added to the 2-D counts too (same coefficients). With a
    ``projector`` (a frozen basis), ``kernels.layer_sums`` counts into it in its pass."""

    def __init__(self, binner: Binner, joint: JointCounter | None = None, projector: Projector | None = None):
        self.binner, self.joint, self.projector = binner, joint, projector
        self.counts = np.zeros((9, binner.bins), np.int64)

    def add(self, coefficients: np.ndarray) -> bool:
        """Count the (9, k) coefficients (overwritten); False when one is NaN (NaN/Inf weights)."""
        if self.joint is not None:  # before binner.add, which overwrites the coefficients
            self.joint.add(coefficients)
        return self.binner.add(self.counts, coefficients)

    def checked(self, filters_path, layer: int, n_filters: int) -> np.ndarray:
        """The counts; a DataError names the file, layer and coefficient when all the layer's
        filters fall outside a coefficient's range (a fixed range too narrow)."""
        empty = np.flatnonzero(self.counts.sum(axis=1) == 0)
        if empty.size:
            raise DataError(
                f"{filters_path}: layer {layer}: the histogram of coefficient(s) "
                f"{', '.join(f'c{i}' for i in empty)} is empty: all {n_filters} filters fall "
                "outside the histogram range; widen shift.range or use range: paper"
            )
        return self.counts


def layer_counts(
    kernels: np.ndarray, projector: Projector, binner: Binner, filters_path, layer: int,
    joint: JointCounter | None = None,
) -> np.ndarray:
    """Counts (9, bins) of one layer's (n, 9) kernels in the basis of ``projector``; with
    ``joint``, the layer's filters are added to its 2-D counts too (see ``LayerCounts``)."""
    counts = LayerCounts(binner, joint)
    for _, coefficients in projector.chunks(kernels):
        if not counts.add(coefficients):
            store.check_finite_kernels(kernels, filters_path, layer)
    return counts.checked(filters_path, layer, kernels.shape[0])


def model_histograms(
    filters_path: str | os.PathLike, basis: dict, edges: np.ndarray, joint: JointCounter | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layer ids (L,), filters per layer (L,), counts (L, 9, bins)) of one model's filters
    (see ``layer_counts``); with ``joint``, its 2-D counts too, in the same pass."""
    binner = Binner(edges)
    projector = Projector(basis)
    layers, sizes, counts = [], [], []
    for layer, kernels, _ in store.iter_layer_kernels(filters_path, check_finite=False, transient=True):
        counts.append(layer_counts(kernels, projector, binner, filters_path, layer, joint))
        layers.append(layer)
        sizes.append(kernels.shape[0])
    return stack_histograms(layers, sizes, counts, binner.bins)


def stack_histograms(layers: list, sizes: list, counts: list, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stacked = np.stack(counts) if counts else np.zeros((0, 9, bins), np.int64)
    return np.asarray(layers, np.int32), np.asarray(sizes, np.int64), stacked


def bin_widths(edges: np.ndarray) -> np.ndarray:
    """(9,) width of one bin of each coefficient's equal-width bins, from (9, bins + 1) edges."""
    edges = np.asarray(edges, dtype=np.float64)
    return (edges[:, -1] - edges[:, 0]) / (edges.shape[1] - 1)


def densities(
    counts: np.ndarray, edges: np.ndarray, eps: float = FLOAT32_EPS, names: list[str] | None = None
) -> np.ndarray:
    """Counts (..., 9, bins) → probability per bin, as the authors' notebook computes it.

    Per coefficient: the density of ``np.histogram(c, range, bins, density=True)``, i.e.
    counts / (total · bin width); empty bins set to ``eps`` in that density; divided by
    its sum. Because eps lands in the density, the bin width does not drop out: a wider
    range (smaller density values) gives the eps-filled bins more weight. ``edges``:
    (9, bins + 1), the bins the counts were taken over. ``names`` (one per leading
    entry) only serve the error message for an empty histogram.
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=-1, keepdims=True)
    if np.any(totals == 0):
        where = ""
        if names is not None and counts.ndim == 3:
            bad = sorted({names[i] for i in np.flatnonzero((totals[..., 0] == 0).any(axis=-1))})
            where = f" (group(s): {', '.join(bad)})"
        raise DataError(f"a group's histogram is empty: it holds no filters{where}")
    widths = bin_widths(edges)
    if widths.shape != (counts.shape[-2],) or counts.shape[-1] != np.shape(edges)[-1] - 1:
        raise DataError(f"bin edges {np.shape(edges)} do not match histogram counts {counts.shape}")
    density = counts / (totals * widths[:, None])
    density = np.where(density == 0, eps, density)
    return density / density.sum(axis=-1, keepdims=True)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p‖q) along the last axis, natural log; p and q strictly positive."""
    return (p * np.log(p / q)).sum(axis=-1)


def shift_distance(p: np.ndarray, q: np.ndarray, evr: np.ndarray) -> float:
    """D(P, Q) for two (9, bins) probability arrays."""
    return float(np.dot(evr, kl_divergence(p, q) + kl_divergence(q, p)))


def shift_matrix(
    group_counts: dict[str, np.ndarray], evr: np.ndarray, edges: np.ndarray, eps: float = FLOAT32_EPS
) -> pd.DataFrame:
    """Symmetric D matrix between groups, from each group's summed counts (9, bins) over ``edges``.

    D(P, Q) = Σᵢ evrᵢ · [KL(Pᵢ‖Qᵢ) + KL(Qᵢ‖Pᵢ)] = Σᵢ evrᵢ Σ_b (p − q)(log p − log q),
    computed for all pairs at once (see below); D is symmetric, ≥ 0 and 0 on the diagonal.
    """
    import pandas as pd  # here, not at import: the per-model histogram jobs never need it
    names = list(group_counts)
    evr = np.asarray(evr, dtype=np.float64)
    if not names:
        return pd.DataFrame(np.zeros((0, 0)), index=names, columns=names)
    probs = densities(np.stack([group_counts[g] for g in names]), edges, eps, names)  # (G, 9, bins)
    log_p = np.log(probs)
    weighted = (probs * evr[None, :, None]).reshape(len(names), -1)
    # Σᵢ evrᵢ Σ_b (p − q)(log p − log q) = S_p + S_q − C_pq − C_qp, C_pq = Σᵢ evrᵢ Σ_b p log q:
    # one matrix product for all pairs. Round-off can leave −1e-16 where D is 0: clipped.
    cross = weighted @ log_p.reshape(len(names), -1).T  # (G, G)
    own = np.diagonal(cross).copy()
    matrix = own[:, None] + own[None, :] - cross - cross.T
    matrix = np.clip((matrix + matrix.T) / 2, 0.0, None)
    np.fill_diagonal(matrix, 0.0)
    return pd.DataFrame(matrix, index=names, columns=names)


MISSING_GROUP = "NA"
"""The group of a layer whose grouping column has no value (None, NaN): one spelling for
every grouping (shift axes, figures, findings), so no layer drops out of one unseen."""


def group_labels(values: pd.Series) -> pd.Series:
    """Each value as its group's name: the value as text, MISSING_GROUP where it is missing."""
    return values.astype(object).where(values.notna(), MISSING_GROUP).astype(str)


def group_keys(layers: pd.DataFrame, column: str | list[str]) -> pd.Series:
    """The group of each layer row: the column's value as text (``group_labels``), or for
    several columns the values joined by " / " (e.g. ["visual_category", "depth_decile"])."""
    columns = [column] if isinstance(column, str) else list(column)
    parts = [group_labels(layers[c]) for c in columns]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + " / " + part
    return keys


def select_layers(layers: pd.DataFrame, where: dict | None) -> pd.DataFrame:
    """Layers whose columns match ``where``: {column: value or [values]}."""
    selected = layers
    for key, value in (where or {}).items():
        if key not in layers.columns:
            raise ColumnError(
                f"shift axis filter column {key!r} is not a column of the model or layer table; "
                f"known columns: {', '.join(sorted(map(str, layers.columns)))}"
            )
        values = value if isinstance(value, (list, tuple)) else [value]
        selected = selected[selected[key].isin(values)]
    return selected


def group_histograms(
    layers: pd.DataFrame,
    histograms: Mapping[str, tuple[np.ndarray, np.ndarray] | str | os.PathLike],
    column: str | list[str],
    where: dict | None = None,
    *,
    min_filters: int | None = None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Sum layer histograms into groups by ``column`` of the (model-joined) layer table.

    layers: one row per layer with ``model``, ``layer``, ``n_filters`` and the column(s).
    column: one column, or a list of columns whose value combinations are the groups.
    histograms: model → (layer ids, counts (L, 9, bins)), or model → its histogram file
    (``store.histogram_files``), read when its layers are summed: one file in memory at a time.
    where: optional {column: value or [values]} filter applied before grouping.
    min_filters: groups with fewer filters are left out of the sums and marked
    ``too small`` in the ``status`` column of the sizes table (which lists every group).
    Returns group → counts (9, bins), and a table of group sizes (models, layers, filters).
    A selected layer without a stored histogram raises DataError (nothing is dropped unseen).
    """
    for name in [column] if isinstance(column, str) else list(column):
        if name not in layers.columns:
            raise ColumnError(
                f"shift axis column {name!r} is not a column of the model or layer table; "
                f"known columns: {', '.join(sorted(map(str, layers.columns)))}"
            )
    selected = select_layers(layers, where)
    keys = group_keys(selected, column)
    names, codes = np.unique(keys.to_numpy(dtype=str), return_inverse=True) if len(keys) else (np.array([], str), np.zeros(0, np.intp))
    codes = codes.reshape(-1)
    sums = None  # (groups, 9, bins), once the first histograms give the bins
    models = selected["model"].to_numpy()
    layer_ids = selected["layer"].to_numpy()
    missing = []
    order = np.argsort(models, kind="stable")
    bounds = np.flatnonzero(np.r_[True, models[order][1:] != models[order][:-1], True]) if len(order) else []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = order[lo:hi]
        model = models[rows[0]]
        if model not in histograms:
            missing.append(f"{model} (no histogram file)")
            continue
        stored = histograms[model]
        ids, counts = store.read_histograms(stored) if isinstance(stored, (str, os.PathLike)) else stored
        position = np.full(int(max(ids.max(initial=-1), layer_ids[rows].max())) + 1, -1, np.intp)
        position[ids] = np.arange(len(ids))
        found = position[layer_ids[rows]]
        if (found < 0).any():
            missing.append(f"{model} layers {sorted(layer_ids[rows][found < 0].tolist())}")
            continue
        # sum this model's layers per group: sort by group, add runs (np.add.at is slow)
        row_codes = codes[rows]
        by_code = np.argsort(row_codes, kind="stable")
        sorted_codes = row_codes[by_code]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        if sums is None:
            sums = np.zeros((len(names), 9, counts.shape[-1]), np.int64)
        sums[sorted_codes[starts]] += np.add.reduceat(counts[found[by_code]], starts, axis=0)
    if missing:
        raise DataError("layers of the axis without a stored histogram: " + "; ".join(missing))
    sizes = (
        selected.assign(group=keys.to_numpy(dtype=str))
        .groupby("group", sort=True)
        .agg(models=("model", "nunique"), layers=("layer", "size"), filters=("n_filters", "sum"))
        .reset_index()
    )
    if sums is None:
        sums = np.zeros((len(names), 9, 0), np.int64)
    result = {str(name): sums[i] for i, name in enumerate(names)}
    if min_filters is not None:
        sizes["status"] = np.where(sizes["filters"] >= min_filters, "kept", "too small")
        for name in sizes.loc[sizes["status"] == "too small", "group"]:
            result.pop(name, None)
    return result, sizes
