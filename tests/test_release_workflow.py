"""The paper's release through the workflow: a synthetic dataset.h5 in the release's layout,
`filterdb import-hdf5`, then the printed snakemake command; the shift matrices are checked
against an emulation of the authors' notebook written here (scikit-learn PCA, np.histogram
with one shared range and density=True, eps in the density, scipy's KL)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

h5py = pytest.importorskip("h5py")
pytest.importorskip("tables")
sklearn_decomposition = pytest.importorskip("sklearn.decomposition")

from filterdb.store import read_shift as read_shift_table  # noqa: E402
from workflow_helpers import SNAKEMAKE, ROOT  # noqa: E402

EPS = np.finfo(np.float32).eps
# model_id: (name, task, visual category, scale of a structured component, layers (out, in))
MODELS = {
    1: ("nat_a", "Classification", "natural", 1.0, [(16, 8), (32, 16), (32, 32)]),
    2: ("nat_b", "Classification", "natural", 1.2, [(16, 16), (32, 32), (64, 16)]),
    4: ("med_a", "Segmentation", "medical", 3.0, [(16, 8), (32, 32), (32, 32)]),
    5: ("astro_a", "Segmentation", "astronomy", 0.2, [(32, 8), (32, 32), (48, 32)]),
    6: ("nat_b_copy", "Classification", "natural", None, None),  # bit-identical to nat_b
}


def layer_filters(rng, scale, n):
    """Filters with a category-specific structure: a smooth blob plus noise."""
    blob = np.outer([1, 2, 1], [1, 2, 1]).reshape(9) / 4.0
    return (rng.standard_normal((n, 9)) + scale * rng.standard_normal((n, 1)) * blob).astype(np.float32)


def write_release(path):
    """dataset.h5 (inclusive filter_ids ends, as the release writes them) and the layers' facts."""
    rng = np.random.default_rng(3)
    rows, blocks, cursor, layers = [], [], 0, []
    for model_id, (name, task, category, scale, shapes) in MODELS.items():
        source = MODELS[2] if shapes is None else None
        own = []
        for depth, (cout, cin) in enumerate(shapes or source[4]):
            n = cout * cin
            block = blocks[[i for i, l in enumerate(layers) if l["model"] == "nat_b"][depth]] if source else layer_filters(rng, scale, n)
            blocks.append(block)
            depth_norm = depth / 2
            rows.append({"model_id": model_id, "conv_depth": depth, "conv_depth_norm": depth_norm,
                         "filter_ids": f"{cursor}:{cursor + n - 1}", "model": name, "Name": name.split("_")[0],
                         "Task": task, "Visual Category": category, "Training-Dataset": f"{category} set",
                         "Precision": "float32", "in_channels": cin, "out_channels": cout,
                         "layer_id": f"/l{depth}/Conv"})  # fmt: skip
            layers.append({"model": name, "start": cursor, "stop": cursor + n, "task": task, "visual_category": category,
                           "depth_decile": max(int(np.ceil(depth_norm * 10)) - 1, 0)})  # fmt: skip
            cursor += n
    meta = pd.DataFrame(rows).set_index(["model_id", "conv_depth", "conv_depth_norm", "layer_id"])
    meta.to_hdf(path, key="meta", format="table")
    filters = np.concatenate(blocks).reshape(-1, 3, 3)
    with h5py.File(path, "a") as handle:
        handle.create_dataset("filters", data=filters, chunks=True)
    return filters.reshape(-1, 9), pd.DataFrame(layers)


def notebook_shift(filters, layers, column, min_filters=1000, bins=70):
    """The authors' method, step by step, on every filter in memory (float64 throughout)."""
    layers = layers[layers["model"] != "nat_b_copy"]  # the workflow leaves duplicates out by default
    pool = np.concatenate([filters[a:b] for a, b in zip(layers["start"], layers["stop"])]).astype(np.float64)
    peak = np.abs(pool).max(axis=1, keepdims=True)
    scaled = np.divide(pool, peak, out=np.zeros_like(pool), where=peak > 0)
    pca = sklearn_decomposition.PCA(n_components=9, svd_solver="full").fit(scaled)
    components = pca.components_.copy()
    # scikit-learn's sign convention (1.5+): each component's largest |loading| positive
    pivot = np.abs(components).argmax(axis=1)
    components *= np.sign(components[np.arange(9), pivot])[:, None]
    coefficients = (scaled - pca.mean_) @ components.T
    value_range = (coefficients.min(), coefficients.max())  # ONE range for all nine
    groups, offset = {}, 0
    for row in layers.itertuples():
        n = row.stop - row.start
        groups.setdefault(str(getattr(row, column)), []).append(coefficients[offset : offset + n])
        offset += n
    hists = {}
    for name, parts in sorted(groups.items()):
        c = np.concatenate(parts)
        if len(c) < min_filters:
            continue
        h = []
        for i in range(9):
            density = np.histogram(c[:, i], bins=bins, range=value_range, density=True)[0]
            density[density == 0] = EPS
            h.append(density / density.sum())
        hists[name] = h
    names = list(hists)
    d = np.zeros((len(names), len(names)))
    for a, p in enumerate(names):
        for b, q in enumerate(names):
            d[a, b] = sum(pca.explained_variance_ratio_[i] * (scipy.stats.entropy(hists[p][i], hists[q][i])
                                                            + scipy.stats.entropy(hists[q][i], hists[p][i])) for i in range(9))  # fmt: skip
    return pd.DataFrame(d, index=names, columns=names)


@pytest.mark.slow
def test_release_import_and_study_match_the_notebook(tmp_path):
    filters, layers = write_release(tmp_path / "dataset.h5")
    out = tmp_path / "release"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "filterdb") if (ROOT / ".venv" / "bin" / "filterdb").exists() else sys.executable,
         *([] if (ROOT / ".venv" / "bin" / "filterdb").exists() else ["-m", "filterdb.cli"]),
         "import-hdf5", str(tmp_path / "dataset.h5"), str(out), "--quiet"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    command = shlex.split(result.stdout.strip().splitlines()[-1])
    assert command[0] == "snakemake" and command[-3:] == ["--cores", "8", "all"]
    run = subprocess.run([SNAKEMAKE, *command[1:-3], "--cores", "2", "all"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-6000:]
    # every figure and table of the study, inside the import folder
    assert (out / "results" / "db" / "models.parquet").is_file()
    assert len(list((out / "results" / "figures").glob("shift_*.png"))) >= 4
    models = pd.read_parquet(out / "results" / "db" / "models.parquet").set_index("model")
    assert models.loc["nat_b_copy", "duplicate_of"] == "nat_b" and pd.isna(models.loc["nat_b", "duplicate_of"])
    assert not (out / "results" / "filters").exists()  # imported: no dump
    worst = 0.0
    for axis in ("task", "visual_category", "depth_decile"):
        got = read_shift_table(out / "results" / "shift" / f"{axis}.parquet")
        expected = notebook_shift(filters, layers, axis)
        assert sorted(got.index) == sorted(expected.index), axis
        difference = np.abs(got.loc[expected.index, expected.columns].to_numpy() - expected.to_numpy()).max()
        worst = max(worst, difference)
        assert expected.to_numpy().max() > 1e-3  # the groups do differ: the comparison means something
    print(f"largest |D(workflow) - D(notebook)| over task, visual_category, depth_decile: {worst:.3g}")
    assert worst < 1e-9
