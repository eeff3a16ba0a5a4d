"""Every plotting function on a small synthetic database: a non-empty image of the expected
size, an explanatory placeholder where there is nothing to compare, same bytes twice; and
every figure and card on synthetic databases of 5 and 50 groups, checked from matplotlib's
renderer: no two texts overlap, no text leaves the figure, no text under 7 pt."""

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

from filterdb import store
from filterdb.basis import add_moments, basis_from_moments, empty_moments, project
from filterdb.metrics import DEFAULT_CUTOFFS
from filterdb.plots.basis import basis_figure
from filterdb.plots.card import model_card
from filterdb.plots.coefficients import coefficient_densities, group_densities, joint_density
from filterdb.plots.common import placeholder, plt, save, save_all
from filterdb.plots.data import first_filters, joint_counts, models_line, read_first_filters
from filterdb.plots.degeneracy import degeneracy_by_depth, degenerated_models, model_flag_shares
from filterdb.plots.filters import filter_mosaic, first_filters_figure
from filterdb.plots.groups import group_comparison
from filterdb.plots.noise import replicate_noise, replicate_sets, split_half_noise
from filterdb.plots.shift import decile_label, kept_groups, order_groups, shift_heatmap, shift_summary
from filterdb.plots.style import OTHER, OTHER_COLOUR, PALETTE, rank_groups
from filterdb.plots.summary import database_summary, html_table, size_tables
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


def test_basis_figure_draws_the_subset_basis_beside_the_global_one(db):
    basis = db["basis"]
    figure = basis_figure(basis["components"], basis["explained_variance_ratio"], basis["n_filters"],
                          {"label": "faces", "components": basis["components"][::-1],
                           "ratio": basis["explained_variance_ratio"], "n_filters": 7})
    images = [a.images[0] for a in figure.axes if a.images]
    assert len(images) == 18
    # row 2 holds the subset's components; |cos| with the global one of the same index
    np.testing.assert_array_equal(images[9].get_array(), basis["components"][8].reshape(3, 3))
    text = texts_of(figure)
    assert "faces" in text
    cosine = abs(float(basis["components"][8] @ basis["components"][0]))
    assert f"|cos| {cosine:.2f}" in text
    plt.close(figure)


def test_basis_figure_without_basis_is_a_placeholder():
    assert_placeholder(basis_figure(np.full((9, 9), np.nan), np.full(9, np.nan), 0), "fewer than two filters")


def test_coefficient_densities(tmp_path, db):
    counts, _ = group_counts(db, "visual_category")
    groups = rank_groups(joined(db), "visual_category")
    figure = coefficient_densities(db["edges"], counts, groups, db["basis"]["explained_variance_ratio"],
                                   left_out=["tiny"])
    assert len(figure.axes) == 9 * len(CATEGORIES)  # one row per group, one column per coefficient
    for i, axis in enumerate(figure.axes):  # one shared range per coefficient: the bin edges
        assert axis.get_xlim() == pytest.approx((db["edges"][i % 9, 0], db["edges"][i % 9, -1]))
    labels = [figure.axes[9 * r].get_ylabel().split("\n")[0] for r in range(len(CATEGORIES))]
    assert labels == groups.shown  # largest group first
    assert "tiny" in texts_of(figure)
    check_image(tmp_path, figure, min_size=(1200, 400))


def test_coefficient_densities_integrate_to_one_and_are_drawn(db):
    counts, _ = group_counts(db, "visual_category")
    densities = group_densities(db["edges"], counts)
    for density in densities.values():
        np.testing.assert_allclose((density * np.diff(db["edges"], axis=1)).sum(axis=1), 1.0)
    groups = rank_groups(joined(db), "visual_category")
    figure = coefficient_densities(db["edges"], counts, groups, db["basis"]["explained_variance_ratio"])
    drawn = figure.axes[0].collections[0].get_paths()[0].vertices[:, 1]  # row 1, c0: the largest group
    expected = densities[groups.shown[0]][0]
    assert all(np.isclose(drawn, v).any() for v in expected[expected > 0])
    plt.close(figure)


def test_coefficient_densities_without_filters_is_a_placeholder(db):
    groups = rank_groups(joined(db), "task")
    assert_placeholder(coefficient_densities(db["edges"], {}, groups, np.ones(9) / 9), "No filters")


def test_joint_density(tmp_path, db):
    counts = np.zeros((BINS, BINS), np.int64)
    counts[3:8, 5:9] = np.arange(20).reshape(5, 4)
    figure = joint_density(db["edges"][0], db["edges"][1], counts, db["basis"]["explained_variance_ratio"])
    mesh = figure.axes[0].collections[0]
    assert type(mesh.norm).__name__ == "LogNorm"
    label = figure.axes[1].get_ylabel()  # the colour bar names its quantity and scale
    assert "log" in label and "normalised" in label and "unit²" not in label
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
    assert len(annotations) == len(matrix) ** 2 and all(t.get_fontsize() >= 7 for t in axis.texts)
    assert "shift D" in figure.axes[1].get_ylabel()
    check_image(tmp_path, figure)


def test_shift_heatmap_marks_the_noise_floor_on_the_colour_bar(db):
    matrix, sizes = shift_inputs(db, "family")
    top = float(matrix.to_numpy().max())
    figure = shift_heatmap(matrix, sizes, "family", noise_floor=top / 2)
    bar = figure.axes[1]
    assert [line.get_ydata()[0] for line in bar.lines] == [pytest.approx(top / 2)]
    assert f"noise floor {top / 2:.2g}" in bar.get_ylabel()
    plt.close(figure)
    figure = shift_heatmap(matrix, sizes, "family", noise_floor=top * 2)  # above every cell: the scale stays
    bar = figure.axes[1]
    assert bar.get_ylim()[1] == pytest.approx(top) and "above every cell" in bar.get_ylabel()
    plt.close(figure)


def test_shift_heatmap_prints_no_numbers_where_they_would_be_under_7pt():
    names = [str(i) for i in range(40)]
    values = np.abs(np.subtract.outer(np.arange(40.0), np.arange(40.0))) / 40
    sizes = pd.DataFrame({"group": names, "models": 1, "filters": 5_000, "status": "kept"})
    figure = shift_heatmap(pd.DataFrame(values, index=names, columns=names), sizes, "many")
    assert not figure.axes[0].texts and "too many groups to print values" in texts_of(figure)
    plt.close(figure)


def test_depth_deciles_are_labelled_by_their_interval(db):
    assert [decile_label(g) for g in ("0", "9", "x")] == ["0.0–0.1", "0.9–1.0", "x"]
    matrix, sizes = shift_inputs(db, "depth_decile")
    figure = shift_heatmap(matrix, sizes, "depth_decile", ordered=True, deciles=True)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0].startswith("0.0–0.1 (") and labels[-1].startswith("0.9–1.0 (")
    plt.close(figure)


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
    panels = [a for a in figure.axes if a.get_visible()]
    assert len(panels) == 2 * len(FAMILIES)  # one panel (sparsity over H/TH) per family
    upper, lower = figure.axes[0], figure.axes[len(FAMILIES) if len(FAMILIES) < 4 else 4]
    assert any(line.get_ydata()[0] == DEFAULT_CUTOFFS["sparse_min"] for line in upper.lines)
    assert {DEFAULT_CUTOFFS["collapsed_max"], DEFAULT_CUTOFFS["random_like_min"]} <= {
        line.get_ydata()[0] for line in lower.lines}
    assert "sparsity" in upper.get_ylabel() and "TH" in lower.get_ylabel()
    check_image(tmp_path, figure, min_size=(1200, 400))


def test_degeneracy_by_depth_draws_median_and_quartiles_per_decile(db):
    table = joined(db)
    family = rank_groups(table, "family").shown[0]
    figure = degeneracy_by_depth(table, DEFAULT_CUTOFFS, "family")
    part = table[table["family"] == family]
    decile = np.clip(np.floor(part["conv_depth_norm"] * 10), 0, 9)
    expected = part.groupby(decile)["sparsity"].median()
    median = [line for line in figure.axes[0].lines if len(line.get_xdata()) > 2][0]
    np.testing.assert_allclose(median.get_xdata(), expected.index / 10 + 0.05)
    np.testing.assert_allclose(median.get_ydata(), expected.to_numpy())
    plt.close(figure)
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
    labels = [t.get_text().split("\n")[0] for t in figure.axes[0].get_yticklabels()]
    assert labels == ["train", "timm"]  # the configured order, top to bottom
    check_image(tmp_path, figure, min_size=(1200, 900))


def test_group_comparison_pools_groups_beyond_top_n_as_other(db):
    table = joined(db).assign(bucket=[f"b{i % 6}" for i in range(len(joined(db)))])
    figure = group_comparison(table, "many", "bucket", DEFAULT_CUTOFFS, top_n=3)
    labels = [t.get_text().split("\n")[0] for t in figure.axes[0].get_yticklabels()]
    ranking = rank_groups(table, "bucket", 3)
    assert labels == ranking.shown + [OTHER]
    assert "3 groups" in figure.axes[0].get_yticklabels()[-1].get_text()
    plt.close(figure)


def test_group_comparison_with_one_group_is_a_placeholder(db):
    figure = group_comparison(joined(db), "quantised", "precision", DEFAULT_CUTOFFS)
    assert_placeholder(figure, "needs at least two groups", "fp32")


def test_group_comparison_leaves_out_small_groups(db):
    sizes = joined(db).groupby("family")["n_filters"].sum().sort_values()
    assert sizes.iloc[0] < sizes.iloc[1]
    figure = group_comparison(joined(db), "fam", "family", DEFAULT_CUTOFFS, min_group_filters=int(sizes.iloc[0]) + 1)
    text = texts_of(figure)
    plt.close(figure)
    assert f"left out (under {int(sizes.iloc[0]) + 1:,} filters): {sizes.index[0]}" in text


def test_group_comparison_unknown_column_names_the_config_key(db):
    with pytest.raises(KeyError, match="figures.group_comparison"):
        group_comparison(joined(db), "x", "no_such_column", DEFAULT_CUTOFFS)


def test_group_comparison_with_22_groups_has_readable_labels(db):
    table = joined(db)
    table = table.assign(bucket=[f"bucket number {i % 22}" for i in range(len(table))])
    assert_no_overlap(group_comparison(table, "many", "bucket", DEFAULT_CUTOFFS), "y")


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
    store.write_table(store.filters_table(layer, out_ch, in_ch, kernels), path, store.file_metadata(model))
    return layer_ids


def test_first_filters_keeps_the_first_k_of_every_layer(tmp_path, db):
    layer_ids = write_filters(tmp_path / "m2.parquet", db, "m2")
    store.write_table(first_filters(tmp_path / "m2.parquet", 20), tmp_path / "first.parquet", store.file_metadata("m2"))
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
    from filterdb.store import joint_table
    store.write_table(joint_table(counts), path, store.file_metadata("m3"))
    np.testing.assert_array_equal(store.read_joint(path, BINS), counts)


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
    # no table: the report draws this page in a narrow column beside the rule graph
    assert "<table" not in html and max(len(line) for line in text.splitlines()) < 300


def test_opening_page_names_the_basis_of_the_figures(db, tmp_path):
    from filterdb.plots.summary import basis_line
    from filterdb.store import basis_file, read_basis_file, write_json_atomic

    basis = {"mean": np.zeros(9), "components": np.eye(9), "explained_variance": np.ones(9),
             "explained_variance_ratio": np.full(9, 1 / 9), "n_filters": 12345, "models": ["a", "b", "c"]}  # fmt: skip
    write_json_atomic(tmp_path / "b.json", basis_file(basis, np.tile(np.linspace(-1, 1, 71), (9, 1)), "paper"))
    _, _, record = read_basis_file(tmp_path / "b.json")
    fitted, frozen = basis_line(record, None), basis_line(record, "release/basis_file.json")
    assert fitted.startswith("Basis: fitted here") and "3 models, 12,345 filters" in fitted
    assert record["sha256"][:12] in fitted and "frozen (``release/basis_file.json``)" in frozen
    text = database_summary(db["models"], db["layers"], None, "none", basis=frozen)
    html = publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})["body"]
    assert "release/basis_file.json" in html and record["sha256"][:12] in html


def test_size_tables_page_holds_every_group(db):
    page = size_tables(db["models"], db["layers"])
    assert page.count("<table") == 3 and all(f"<td>{c}</td>" in page for c in CATEGORIES)


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


# --- one style at 5 and at 50 groups: text checked from the renderer -------------------------

MIN_PT = 7.0


def drawn_texts(figure):
    """Every text the renderer draws: tick labels of the ticks inside the view, and every other
    visible, non-empty text (titles, axis labels, legends, annotations, colour bars)."""
    figure.canvas.draw()
    tick_labels, drawn = set(), []
    for axes in figure.get_axes():
        for axis in axes._axis_map.values():
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update({id(tick.label1), id(tick.label2)})
            if axes.get_visible() and axes.axison and axis.get_visible():
                for tick in axis._update_ticks():  # the ticks matplotlib draws
                    drawn += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text().strip()]
    for text in figure.findobj(plt.Text):
        if id(text) in tick_labels or not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        drawn.append(text)
    return drawn


def text_problems(figure, tolerance: float = 1.0) -> list[str]:
    """Texts under 7 pt, texts (partly) outside the figure, and pairs of overlapping texts."""
    texts = drawn_texts(figure)
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    problems = []
    for text, box in boxes:
        if text.get_fontsize() < MIN_PT - 1e-9:
            problems.append(f"{text.get_fontsize():.1f} pt: {text.get_text()[:40]!r}")
        if box.x0 < -tolerance or box.y0 < -tolerance or box.x1 > width + tolerance or box.y1 > height + tolerance:
            problems.append(f"outside the figure: {text.get_text()[:40]!r}")
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            if (min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > tolerance
                    and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > tolerance):
                problems.append(f"overlap: {a.get_text()[:30]!r} / {b.get_text()[:30]!r}")
    return problems


def test_text_check_finds_overlap_small_text_and_clipping():
    figure, axis = plt.subplots(figsize=(3, 2))
    axis.set_title("a title")
    axis.text(0.5, 1.02, "over the title", transform=axis.transAxes, ha="center")
    axis.set_xlabel("tiny", fontsize=5)
    figure.text(0.9, 0.5, "runs off the right edge")
    problems = text_problems(figure)
    plt.close(figure)
    assert any(p.startswith("overlap") and "over the title" in p for p in problems)
    assert any(p.startswith("5.0 pt") for p in problems)
    assert any(p.startswith("outside") and "runs off" in p for p in problems)


def scaled_db(n_groups: int) -> dict:
    """A synthetic database with ``n_groups`` families, categories and (up to 6) sources:
    two models per group, 3–6 layers each, long names on every fourth group."""
    rng = np.random.default_rng(n_groups)
    models, layers, kernels, moments = [], [], {}, {}
    total = empty_moments()
    for m in range(2 * n_groups):
        g = m % n_groups
        name = f"model_{m:03d}_" + "long" * (m % 5)
        models.append({"model": name, "family": f"Family {g} with a long name" if g % 3 == 0 else f"Fam{g}",
                       "visual_category": f"category {g}" + (" (photographs of many things)" if g % 4 == 0 else ""),
                       "task": "classification", "source": f"source{g % 6}", "precision": "fp32",
                       "training_dataset": "none", "n_filters": 0})
        moments[name] = empty_moments()
        n_layers = 3 + m % 4
        for layer in range(n_layers):
            n = 8 * (layer + 1) * (1 + g % 5)
            w = (rng.normal(size=(n, 9)) * (0.3 if g % 2 else 1.0) + (g % 3) * 0.1).astype(np.float32)
            kernels[(name, layer)] = w
            add_moments(total, w)
            add_moments(moments[name], w)
            depth = layer / (n_layers - 1)
            layers.append({"model": name, "layer": layer, "name": f"features.block{layer}.sequential.conv_{layer}/Conv2D",
                           "n_filters": n, "conv_depth_norm": depth, "depth_decile": min(int(depth * 10), 9),
                           "sparsity": rng.uniform(0, 0.7), "entropy_ratio": rng.uniform(0.2, 1.1),
                           "orthogonality": rng.uniform(0.5, 1), "abs_max": float(np.abs(w).max())})
        models[-1]["n_filters"] = sum(r["n_filters"] for r in layers if r["model"] == name)
    models, layers = pd.DataFrame(models), pd.DataFrame(layers)
    layers["flag_sparse"] = layers["sparsity"] >= 0.5
    layers["flag_collapsed"] = layers["entropy_ratio"] <= 0.5
    layers["flag_random_like"] = layers["entropy_ratio"] > 1.0
    basis = basis_from_moments([total])
    coefficients = {key: project(w, basis) for key, w in kernels.items()}
    everything = np.concatenate(list(coefficients.values()))
    edges = bin_edges(np.full(9, everything.min()), np.full(9, everything.max()), BINS)
    hist = {key: histogram_counts(c, edges) for key, c in coefficients.items()}
    return {"models": models, "layers": layers, "kernels": kernels, "hist": hist, "basis": basis, "edges": edges,
            "moments": moments, "coefficients": coefficients}


def every_figure(db):
    """(name, figure) for every figure and a card, drawn as the workflow draws them."""
    models, layers = db["models"], db["layers"]
    table = joined(db)
    basis, evr = db["basis"], db["basis"]["explained_variance_ratio"]
    subset = basis_from_moments([db["moments"][m] for m in models["model"][:3]])
    yield "basis", basis_figure(basis["components"], evr, basis["n_filters"], {
        "label": "visual_category = category 0", "components": subset["components"],
        "ratio": subset["explained_variance_ratio"], "n_filters": subset["n_filters"]})
    groups = rank_groups(table, "visual_category")
    drawn = table.assign(drawn=groups.key(table["visual_category"]))
    sums = {}
    for row in drawn.itertuples(index=False):
        sums[row.drawn] = sums.get(row.drawn, 0) + db["hist"][(row.model, row.layer)]
    yield "coefficients", coefficient_densities(db["edges"], sums, groups, evr, ["a group left out"])
    c = np.concatenate(list(db["coefficients"].values()))
    counts, _, _ = np.histogram2d(c[:, 0], c[:, 1], bins=[db["edges"][0], db["edges"][1]])
    yield "joint_c0_c1", joint_density(db["edges"][0], db["edges"][1], counts, evr)
    matrices = {}
    for column in ("family", "visual_category", "depth_decile"):
        sums, sizes = group_counts(db, column)
        matrices[column] = shift_matrix(sums, evr, db["edges"])
        sizes["status"] = "kept"
        deciles = column == "depth_decile"
        yield f"shift_{column}", shift_heatmap(matrices[column], sizes, column, deciles, None, 0.05, deciles)
    yield "shift_summary", shift_summary(matrices, 0.05)
    model = models["model"].iloc[1]
    own = layers[layers["model"] == model]
    kernels = {layer: db["kernels"][(model, layer)][:32] for layer in own["layer"]}
    yield "first_filters", first_filters_figure(own, kernels, model, 32)
    yield "degeneracy_by_depth", degeneracy_by_depth(table, DEFAULT_CUTOFFS, "visual_category")
    yield "degenerated_models", degenerated_models(layers, 40, models)
    for column in ("family", "source"):
        yield f"groups_{column}", group_comparison(table, column, column, DEFAULT_CUTOFFS, min_group_filters=200)
    yield "groups_precision (a placeholder: one group)", group_comparison(table, "precision", "precision",
                                                                          DEFAULT_CUTOFFS)
    row = models.set_index("model").loc[model].to_dict()
    yield "card", model_card(model, row, own, db["kernels"][(model, 0)][:64], DEFAULT_CUTOFFS)


@pytest.mark.parametrize("n_groups", [5, 50])
def test_every_figure_keeps_its_text_readable(n_groups):
    db = scaled_db(n_groups)
    problems = {}
    for name, figure in every_figure(db):
        found = text_problems(figure)
        plt.close(figure)
        if found:
            problems[name] = found[:5]
    assert not problems, problems


def test_colours_are_fixed_by_rank_and_other_is_grey(db):
    table = joined(db)
    groups = rank_groups(table, "family", top_n=2)
    assert groups.ranked == tuple(table.groupby("family")["n_filters"].sum().sort_values(ascending=False).index)
    assert [groups.colour(g) for g in groups.shown] == list(PALETTE[:2])
    assert groups.drawn == groups.shown + [OTHER] and groups.colour(OTHER) == OTHER_COLOUR
    subset = rank_groups(table[table["family"] != groups.ranked[0]], "family")
    assert rank_groups(table, "family").palette_for(subset.shown)[groups.ranked[1]] == PALETTE[1]  # same everywhere
    with pytest.raises(ValueError, match="figures.top_groups"):
        rank_groups(table, "family", top_n=len(PALETTE) + 1)


def test_palette_is_colour_blind_safe_enough():
    """Every two named colours differ in lightness or hue under simulated deuteranopia
    (Machado et al. 2009, severity 1): a floor on their distance in linear RGB."""
    deuteranopia = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                             [-0.011820, 0.042940, 0.968881]])
    rgb = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in PALETTE])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(linear @ deuteranopia.T, 0, 1)
    distance = np.linalg.norm(seen[:, None] - seen[None], axis=-1)[np.triu_indices(len(PALETTE), 1)]
    assert distance.min() > 0.05


def test_replicates_are_rows_that_differ_only_by_seed():
    rows = {"a": {"model": "a", "arch": "vgg", "seed": 0, "notes": "x", "_line": 3},
            "b": {"model": "b", "arch": "vgg", "seed": 1, "notes": "y", "_line": 4},
            "c": {"model": "c", "arch": "resnet", "seed": 0},
            "d": {"model": "d", "arch": "resnet", "seed": 0, "notes": "same seed: not a replicate"}}
    assert replicate_sets(rows) == [["a", "b"]]


def test_noise_floor_is_zero_for_identical_replicates_and_the_largest_pair(db):
    evr = db["basis"]["explained_variance_ratio"]
    counts = {m: sum(db["hist"][k] for k in db["hist"] if k[0] == m) for m in ("m0", "m1", "m2")}
    value, pairs = replicate_noise({"a": counts["m0"], "b": counts["m0"]}, [["a", "b"]], evr, db["edges"])
    assert value == pytest.approx(0.0, abs=1e-12) and len(pairs) == 1
    value, pairs = replicate_noise(counts, [["m0", "m1", "m2"]], evr, db["edges"])
    expected = shift_matrix(counts, evr, db["edges"]).to_numpy().max()
    assert len(pairs) == 3 and value == pytest.approx(expected)
    halves = split_half_noise([db["hist"][k] for k in sorted(db["hist"])], evr, db["edges"])
    assert halves > 0 and halves == split_half_noise([db["hist"][k] for k in sorted(db["hist"])], evr, db["edges"])
