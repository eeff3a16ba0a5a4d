"""Every plotting function on a small synthetic database: a non-empty image of the expected
size, an explanatory placeholder where there is nothing to compare, same bytes twice,
and tick labels that do not overlap for 20+ groups."""

from __future__ import annotations

import io as stdio
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts
from PIL import Image

from filterdb import io
from filterdb.basis import add_moments, basis_from_moments, empty_moments, project
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.basis import basis_figure
from filterdb.plots.card import model_card
from filterdb.plots.coefficients import coefficient_densities, joint_density
from filterdb.plots.common import placeholder, plt, save, save_all
from filterdb.plots.data import first_filters, joint_counts, models_line, read_first_filters, read_joint
from filterdb.plots.degeneracy import degeneracy_by_depth, degenerated_models, model_flag_shares
from filterdb.plots.filters import filter_mosaic, first_filters_figure
from filterdb.plots.groups import group_comparison
from filterdb.plots.shift import kept_groups, order_groups, shift_heatmap, shift_summary
from filterdb.plots.summary import database_summary, html_table
from filterdb.shift import bin_edges, histogram_counts, shift_matrix

BINS = 20
FAMILIES = ["ResNet", "VGG", "MobileNet"]
CATEGORIES = ["natural", "medical", "faces"]


# --- a small synthetic database ---------------------------------------------------------


@pytest.fixture(scope="module")
def db():
    """Models, layers, per-layer coefficient histograms, a basis and first filters."""
    rng = np.random.default_rng(7)
    models, layers, kernels, hist = [], [], {}, {}
    total = empty_moments()
    for m in range(6):
        name = f"m{m}"
        n_layers = 5 + m % 3
        models.append({"model": name, "family": FAMILIES[m % 3], "visual_category": CATEGORIES[m % 3],
                       "task": "classification", "source": "timm" if m < 4 else "train", "precision": "fp32",
                       "training_dataset": "none", "n_filters": 0})
        for layer in range(n_layers):
            n = 16 * (layer + 1)
            w = rng.normal(size=(n, 9)) * (0.3 if m % 2 else 1.0)
            w[: int(n * 0.1 * layer)] *= 1e-4  # deeper: more near-zero filters
            kernels[(name, layer)] = w.astype(np.float32)
            add_moments(total, w)
            depth = layer / (n_layers - 1)
            sparsity = 0.1 * layer * (m % 2)
            layers.append({"model": name, "layer": layer, "name": f"block{layer}.conv", "n_filters": n,
                           "conv_depth_norm": depth, "depth_decile": min(int(depth * 10), 9),
                           "sparsity": sparsity, "entropy_ratio": 1.0 - 0.12 * layer * (m % 2),
                           "orthogonality": 0.9 - 0.05 * layer, "abs_max": float(np.abs(w).max())})
        models[-1]["n_filters"] = sum(r["n_filters"] for r in layers if r["model"] == name)
    models.append({"model": "no_convs", "family": "ConvNeXt", "visual_category": "natural", "task": "classification",
                   "source": "timm", "precision": "fp32", "training_dataset": "none", "n_filters": 0})
    models = pd.DataFrame(models)
    layers = pd.DataFrame(layers)
    layers["flag_sparse"] = layers["sparsity"] >= 0.5
    layers["flag_collapsed"] = layers["entropy_ratio"] <= 0.5
    layers["flag_random_like"] = layers["entropy_ratio"] > 1.0 - 1e-9
    basis = basis_from_moments([total])
    coefficients = {key: project(w, basis) for key, w in kernels.items()}
    everything = np.concatenate(list(coefficients.values()))
    edges = bin_edges(everything.min(axis=0), everything.max(axis=0), BINS)
    for (name, layer), c in coefficients.items():
        hist[(name, layer)] = histogram_counts(c, edges)
    return {"models": models, "layers": layers, "kernels": kernels, "hist": hist, "basis": basis, "edges": edges,
            "coefficients": coefficients}


def joined(db):
    return db["layers"].merge(db["models"].drop(columns="n_filters"), on="model")


def group_counts(db, column):
    table = joined(db)
    sums = {}
    for row in table.itertuples(index=False):
        key = str(getattr(row, column))
        sums[key] = sums.get(key, 0) + db["hist"][(row.model, row.layer)]
    sizes = table.assign(group=table[column].astype(str)).groupby("group").agg(
        models=("model", "nunique"), filters=("n_filters", "sum")).reset_index()
    return sums, sizes


def render(figure, suffix=".png"):
    """Bytes of the figure saved through the workflow's own save()."""
    buffer = stdio.BytesIO()
    figure.savefig(buffer, format=suffix.lstrip("."), bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def check_image(tmp_path, figure, min_size=(300, 150), max_size=(3000, 6500), name="figure.png"):
    """Save through save(); the PNG has a plausible report size and is not blank."""
    path = tmp_path / name
    save(figure, path)
    image = Image.open(path).convert("L")
    width, height = image.size
    assert min_size[0] <= width <= max_size[0] and min_size[1] <= height <= max_size[1], image.size
    pixels = np.asarray(image)
    assert (pixels < 200).mean() > 0.005, "the image is (almost) blank"
    return image


def texts_of(figure) -> str:
    return " ".join(t.get_text() for t in figure.findobj(plt.Text))


def assert_placeholder(figure, *phrases):
    text = texts_of(figure)
    for phrase in phrases:
        assert phrase in text, text
    assert all(not a.axison for a in figure.axes), "a placeholder draws no axes"
    plt.close(figure)


def assert_no_overlap(figure, which="x"):
    """Tick labels of every axis of the figure do not overlap each other."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes:
        labels = axis.get_xticklabels() if which == "x" else axis.get_yticklabels()
        boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
        for a, b in zip(boxes, boxes[1:]):
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            assert overlap_x <= 0.5 or overlap_y <= 0.5, f"tick labels overlap on {axis.get_title()!r}"


# --- each figure on the synthetic database ----------------------------------------------


def test_basis_figure(tmp_path, db):
    basis = db["basis"]
    figure = basis_figure(basis["components"], basis["explained_variance_ratio"], basis["n_filters"])
    images = [a.images[0] for a in figure.axes if a.images]
    assert len(images) == 9
    assert all(im.get_clim() == (-1, 1) for im in images), "symmetric colour range ±1"
    assert "%" in texts_of(figure)
    check_image(tmp_path, figure, min_size=(1000, 200))


def test_basis_figure_without_basis_is_a_placeholder():
    assert_placeholder(basis_figure(np.full((9, 9), np.nan), np.full(9, np.nan), 0), "fewer than two filters")


def test_coefficient_densities(tmp_path, db):
    counts, sizes = group_counts(db, "visual_category")
    figure = coefficient_densities(db["edges"], counts, sizes, db["basis"]["explained_variance_ratio"],
                                   "visual_category", left_out=["tiny"])
    assert len(figure.axes) == 9
    for i, axis in enumerate(figure.axes):  # one shared range per coefficient: the bin edges
        assert axis.get_xlim() == pytest.approx((db["edges"][i, 0], db["edges"][i, -1]))
        assert len(axis.lines) == len(CATEGORIES)
    assert "tiny" in texts_of(figure)
    check_image(tmp_path, figure, min_size=(1200, 900))


def test_coefficient_densities_integrate_to_one(db):
    counts, sizes = group_counts(db, "visual_category")
    figure = coefficient_densities(db["edges"], counts, sizes, db["basis"]["explained_variance_ratio"], "x")
    line = figure.axes[0].lines[0]
    width = np.diff(db["edges"][0])
    assert np.sum(line.get_ydata() * width) == pytest.approx(1.0)
    plt.close(figure)


def test_coefficient_densities_without_filters_is_a_placeholder(db):
    sizes = pd.DataFrame(columns=["group", "models", "filters"])
    assert_placeholder(coefficient_densities(db["edges"], {}, sizes, np.ones(9) / 9, "task"), "No filters")


def test_joint_density(tmp_path, db):
    counts = np.zeros((BINS, BINS), np.int64)
    counts[3:8, 5:9] = np.arange(20).reshape(5, 4)
    figure = joint_density(db["edges"][0], db["edges"][1], counts, db["basis"]["explained_variance_ratio"])
    mesh = figure.axes[0].collections[0]
    assert type(mesh.norm).__name__ == "LogNorm"
    assert "log" in figure.axes[1].get_ylabel()  # the colour bar names its quantity and scale
    check_image(tmp_path, figure, min_size=(600, 500))
    assert_placeholder(joint_density(db["edges"][0], db["edges"][1], np.zeros((BINS, BINS))), "empty")


def shift_inputs(db, column):
    counts, sizes = group_counts(db, column)
    matrix = shift_matrix(counts, db["basis"]["explained_variance_ratio"], db["edges"])
    sizes["status"] = "kept"
    return matrix, sizes


def test_shift_heatmap_orders_by_mean_shift_and_labels_sizes(tmp_path, db):
    matrix, sizes = shift_inputs(db, "family")
    figure = shift_heatmap(matrix, sizes, "family")
    axis = figure.axes[0]
    labels = [t.get_text() for t in axis.get_yticklabels()]
    expected = list(matrix.mean(axis=1).sort_values().index)
    assert [label.split(" (")[0] for label in labels] == expected
    assert all(" m, " in label and " f)" in label for label in labels)
    annotations = [t.get_text() for t in axis.texts]
    assert len(annotations) == len(matrix) ** 2
    assert "shift D" in figure.axes[1].get_ylabel()
    check_image(tmp_path, figure)


def test_shift_heatmap_depth_keeps_its_order_and_names_left_out_groups(db):
    matrix, sizes = shift_inputs(db, "depth_decile")
    sizes.loc[sizes["group"] == "0", "filters"] = 5
    figure = shift_heatmap(matrix, sizes, "depth_decile", ordered=True, min_group_filters=10)
    labels = [t.get_text().split(" (")[0] for t in figure.axes[0].get_yticklabels()]
    assert labels == sorted(labels, key=float) and "0" not in labels
    assert "Left out (too small): 0" in texts_of(figure)
    plt.close(figure)


def test_order_groups_numeric_axis_order():
    names = ["10", "2", "1"]
    matrix = pd.DataFrame(np.zeros((3, 3)), index=names, columns=names)
    assert order_groups(matrix, ordered=True) == ["1", "2", "10"]


def test_shift_heatmap_with_one_group_is_a_placeholder(db):
    matrix, sizes = shift_inputs(db, "task")
    assert len(matrix) == 1
    small = pd.concat([sizes, pd.DataFrame([{"group": "segmentation", "models": 1, "filters": 3, "status": "too small"}])])
    figure = shift_heatmap(matrix, small, "task")
    assert_placeholder(figure, "fewer than two groups", "segmentation")


def test_shift_heatmap_with_25_groups_has_readable_labels(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"a rather long group name {i}" for i in range(25)]
    values = rng.uniform(0, 2, (25, 25))
    values = (values + values.T) / 2
    np.fill_diagonal(values, 0)
    sizes = pd.DataFrame({"group": names, "models": 3, "filters": 10_000, "status": "kept"})
    figure = shift_heatmap(pd.DataFrame(values, index=names, columns=names), sizes, "many")
    assert_no_overlap(figure, "x")
    assert_no_overlap(figure, "y")
    check_image(tmp_path, figure, min_size=(1000, 1000))


def test_shift_summary(tmp_path, db):
    matrices = {c: shift_inputs(db, c)[0] for c in ("family", "visual_category", "depth_decile", "task")}
    figure = shift_summary(matrices)
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert len(labels) == 3 and not any(label.startswith("task") for label in labels)
    assert "task" in texts_of(figure)  # named as not drawn
    medians = [np.median(matrices[label.split("\n")[0]].to_numpy()[np.triu_indices(len(matrices[label.split("\n")[0]]), 1)])
               for label in labels]
    assert medians == sorted(medians, reverse=True)
    check_image(tmp_path, figure)


def test_shift_summary_with_22_axes_has_readable_labels():
    rng = np.random.default_rng(2)
    matrices = {}
    for i in range(22):
        values = rng.uniform(0, 1, (3, 3))
        values = (values + values.T) / 2
        np.fill_diagonal(values, 0)
        matrices[f"visual_category_depth_{i}"] = pd.DataFrame(values, index=list("abc"), columns=list("abc"))
    assert_no_overlap(shift_summary(matrices), "x")


def test_shift_summary_without_pairs_is_a_placeholder():
    one = pd.DataFrame([[0.0]], index=["a"], columns=["a"])
    assert_placeholder(shift_summary({"task": one, "source": one}), "No axis has two or more groups")


def test_first_filters_figure(tmp_path, db):
    layers = db["layers"][db["layers"]["model"] == "m1"]
    kernels = {layer: db["kernels"][("m1", layer)][:32] for layer in layers["layer"]}
    figure = first_filters_figure(layers, kernels, "m1", 32)
    image = figure.axes[0].images[0].get_array()
    assert image.shape == (len(layers) * 4 - 1, 32 * 4 - 1)  # one row of filters per layer
    assert np.nanmax(np.abs(image)) <= 1.0 + 1e-6  # weight / layer max |w|
    check_image(tmp_path, figure, min_size=(1200, 300))


def test_first_filters_figure_without_layers_is_a_placeholder(db):
    empty = db["layers"].iloc[0:0]
    assert_placeholder(first_filters_figure(empty, {}, "no_convs"), "no 3×3 convolution layers")


def test_filter_mosaic_places_filters_on_the_layer_scale():
    kernels = np.arange(18, dtype=np.float64).reshape(2, 9)
    image = filter_mosaic(kernels, 17.0, columns=3)
    assert image.shape == (3, 11)
    assert image[0, 0] == 0 and image[2, 2] == pytest.approx(8 / 17) and image[2, 6] == 1.0
    assert np.isnan(image[:, 3]).all() and np.isnan(image[:, 8:]).all()  # gap and the empty slot


def test_degeneracy_by_depth(tmp_path, db):
    figure = degeneracy_by_depth(joined(db), DEFAULT_CUTOFFS, "family")
    left, right = figure.axes[:2]
    assert any(line.get_ydata()[0] == DEFAULT_CUTOFFS["sparse_min"] for line in left.lines)
    assert {DEFAULT_CUTOFFS["collapsed_max"], DEFAULT_CUTOFFS["random_like_min"]} <= {
        line.get_ydata()[0] for line in right.lines}
    assert "sparsity" in left.get_ylabel() and "TH" in right.get_ylabel()
    check_image(tmp_path, figure, min_size=(1200, 400))
    assert_placeholder(degeneracy_by_depth(joined(db).iloc[0:0], DEFAULT_CUTOFFS), "No 3×3 layers")


def test_degenerated_models_ranks_the_worst_first(tmp_path, db):
    shares = model_flag_shares(db["layers"])
    assert shares["degenerated"].is_monotonic_decreasing
    figure = degenerated_models(db["layers"], top=4, models=db["models"])
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(labels) == 4 and labels[0].startswith(f"1. {shares.index[0]}")
    text = texts_of(figure)
    assert "2 more not shown" in text and "no_convs" in text
    check_image(tmp_path, figure)
    assert_placeholder(degenerated_models(db["layers"].iloc[0:0]), "No 3×3 layers")


def test_group_comparison(tmp_path, db):
    figure = group_comparison(joined(db), "zoo_vs_wild", "source", DEFAULT_CUTOFFS, values=["train", "timm"])
    labels = [t.get_text().split(" (")[0] for t in figure.axes[0].get_xticklabels()]
    assert labels == ["train", "timm"]  # the configured order
    check_image(tmp_path, figure, min_size=(1200, 900))


def test_group_comparison_with_one_group_is_a_placeholder(db):
    figure = group_comparison(joined(db), "quantised", "precision", DEFAULT_CUTOFFS)
    assert_placeholder(figure, "needs at least two groups", "fp32")


def test_group_comparison_leaves_out_small_groups(db):
    sizes = joined(db).groupby("family")["n_filters"].sum().sort_values()
    assert sizes.iloc[0] < sizes.iloc[1]
    figure = group_comparison(joined(db), "fam", "family", DEFAULT_CUTOFFS, min_group_filters=int(sizes.iloc[0]) + 1)
    text = texts_of(figure)
    plt.close(figure)
    assert f"left out, too small: {sizes.index[0]}" in text


def test_group_comparison_unknown_column_names_the_config_key(db):
    with pytest.raises(KeyError, match="figures.group_comparison"):
        group_comparison(joined(db), "x", "no_such_column", DEFAULT_CUTOFFS)


def test_group_comparison_with_22_groups_has_readable_labels(db):
    table = joined(db)
    table = table.assign(bucket=[f"bucket number {i % 22}" for i in range(len(table))])
    assert_no_overlap(group_comparison(table, "many", "bucket", DEFAULT_CUTOFFS), "x")


def test_model_card(tmp_path, db):
    layers = db["layers"][db["layers"]["model"] == "m1"]
    row = db["models"].set_index("model").loc["m1"].to_dict()
    figure = model_card("m1", row, layers, db["kernels"][("m1", 0)][:64], DEFAULT_CUTOFFS)
    assert "m1" in texts_of(figure) and len(figure.axes) >= 4
    check_image(tmp_path, figure, min_size=(1200, 350), max_size=(2000, 800))


def test_model_card_without_layers_is_a_placeholder(db):
    row = db["models"].set_index("model").loc["no_convs"].to_dict()
    assert_placeholder(model_card("no_convs", row, db["layers"].iloc[0:0], None, DEFAULT_CUTOFFS), "no 3×3")


def test_placeholder_is_a_non_empty_image(tmp_path):
    check_image(tmp_path, placeholder("Nothing to compare: one group."), min_size=(200, 100))


# --- reproducible files -------------------------------------------------------------------


def test_same_figure_same_bytes(tmp_path, db):
    for run in (1, 2):
        matrix, sizes = shift_inputs(db, "family")
        save_all(shift_heatmap(matrix, sizes, "family"), [tmp_path / f"{run}.pdf", tmp_path / f"{run}.png"])
    assert (tmp_path / "1.pdf").read_bytes() == (tmp_path / "2.pdf").read_bytes()
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "2.png").read_bytes()
    assert b"CreationDate" not in (tmp_path / "1.pdf").read_bytes()


def test_same_bytes_across_processes(tmp_path):
    """Two interpreters (different hash seeds, different times) write identical PDF and PNG."""
    script = textwrap.dedent(f"""
        import sys, numpy as np
        from filterdb.plots.basis import basis_figure
        from filterdb.plots.common import save_all
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
        save_all(basis_figure(q, np.linspace(0.2, 0.02, 9), 12345),
                 [sys.argv[1] + ".pdf", sys.argv[1] + ".png"])
    """)
    for run, seed in ((1, "1"), (2, "2")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / str(run))], check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
    for suffix in (".pdf", ".png"):
        assert (tmp_path / f"1{suffix}").read_bytes() == (tmp_path / f"2{suffix}").read_bytes(), suffix


# --- per-model figure data ----------------------------------------------------------------


def write_filters(path, db, model):
    layer_ids = [layer for (m, layer) in db["kernels"] if m == model]
    kernels = np.concatenate([db["kernels"][(model, layer)] for layer in layer_ids])
    layer = np.concatenate([np.full(len(db["kernels"][(model, i)]), i) for i in layer_ids])
    out_ch = np.concatenate([np.arange(len(db["kernels"][(model, i)])) // 4 for i in layer_ids])
    in_ch = np.concatenate([np.arange(len(db["kernels"][(model, i)])) % 4 for i in layer_ids])
    io.write_table(io.filters_table(layer, out_ch, in_ch, kernels), path, io.file_metadata(model))
    return layer_ids


def test_first_filters_keeps_the_first_k_of_every_layer(tmp_path, db):
    layer_ids = write_filters(tmp_path / "m2.parquet", db, "m2")
    io.write_table(first_filters(tmp_path / "m2.parquet", 20), tmp_path / "first.parquet", io.file_metadata("m2"))
    kept = read_first_filters(tmp_path / "first.parquet")
    assert sorted(kept) == layer_ids
    for layer in layer_ids:
        np.testing.assert_array_equal(kept[layer], db["kernels"][("m2", layer)][:20])


def test_joint_counts_match_numpy_histogram2d(tmp_path, db):
    write_filters(tmp_path / "m3.parquet", db, "m3")
    counts = joint_counts(tmp_path / "m3.parquet", db["basis"], db["edges"])
    c = np.concatenate([db["coefficients"][key] for key in db["coefficients"] if key[0] == "m3"])
    expected, _, _ = np.histogram2d(c[:, 0], c[:, 1], bins=[db["edges"][0], db["edges"][1]])
    assert counts.sum() == len(c)
    assert np.abs(counts - expected).sum() <= 2  # np.histogram2d corrects edge round-off; we do not
    path = tmp_path / "joint.parquet"
    from filterdb.plots.data import joint_table
    io.write_table(joint_table(counts), path, io.file_metadata("m3"))
    np.testing.assert_array_equal(read_joint(path, BINS), counts)


def test_joint_counts_marginal_equals_the_stored_1d_histogram(tmp_path, db):
    write_filters(tmp_path / "m4.parquet", db, "m4")
    counts = joint_counts(tmp_path / "m4.parquet", db["basis"], db["edges"])
    one_d = sum(db["hist"][key] for key in db["hist"] if key[0] == "m4")
    np.testing.assert_array_equal(counts.sum(axis=1), one_d[0])
    np.testing.assert_array_equal(counts.sum(axis=0), one_d[1])


# --- the report's opening page and tables -------------------------------------------------


def test_database_summary_is_valid_rst_with_the_sizes(db):
    findings = pd.DataFrame({"finding": ["deeper layers are sparser"], "evidence": ["ρ = 0.8"]})
    text = database_summary(db["models"], db["layers"], findings, "none")
    html = publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})["body"]
    n_filters = int(db["models"]["n_filters"].sum())
    assert f"{len(db['models']):,} models" in html and f"{n_filters:,} filters" in html
    assert "Size by source" in html and "deeper layers are sparser" in html
    assert html.count("<table") == 4  # source, task, visual category, findings


def test_database_summary_without_findings_says_why(db):
    text = database_summary(db["models"], db["layers"], None, "No findings table in this workflow.")
    assert "No findings table in this workflow." in text


def test_models_line_names_the_models(db):
    line = models_line(db["models"])
    assert "Drawn from 6 of the database's 7 models" in line and "no_convs" in line


def test_html_table_escapes_and_counts_rows(db):
    page = html_table(pd.DataFrame({"model": ["<b>x</b>"], "v": [0.123456]}), "T")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "0.1235" in page and "1 rows" in page


def test_kept_groups_follow_the_matrix_order_and_the_minimum():
    matrix = pd.DataFrame(np.zeros((3, 3)), index=["b", "a", "7"], columns=["b", "a", "7"])
    groups = pd.DataFrame({"group": ["a", "b", 7], "models": [1, 1, 1], "filters": [500, 2_000, 1_000]})
    assert kept_groups(matrix, groups, 1_000) == ["b", "7"]
    assert kept_groups(matrix, groups, None) == ["b", "a", "7"]
    assert kept_groups(matrix, groups, 5_000) == []
