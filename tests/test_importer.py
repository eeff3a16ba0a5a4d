"""Import of the paper's HDF5 release, on files written here in that layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("tables")

import synthetic_db as synthetic  # noqa: E402
from filterdb import store  # noqa: E402
from filterdb.importer import HDF5LayoutError, import_hdf5  # noqa: E402

# model_id: (model string, Name, Task, Visual Category, [(out, in), ...])
MODELS = {
    3: ("resnet_tiny_imagenet_11", "ResNet", "Classification", "natural", [(4, 3), (8, 4), (8, 8)]),
    7: ("unet_cells_9", "U-Net", "Segmentation", "microscopy", [(6, 1), (6, 6)]),
    9: ("dw net", "MobileNet", "Classification", "natural", [(5, 5)]),  # depthwise below
}


def write_release(path, exclusive=False, dtype=np.float32, shape9=False, version="1.0.0", extra_rows=0, seed=0):
    """A dataset.h5 in the release's layout; returns the filter array and the meta frame."""
    rng = np.random.default_rng(seed)
    rows, blocks, cursor = [], [], 0
    for model_id, (name, arch, task, category, layers) in MODELS.items():
        for depth, (cout, cin) in enumerate(layers):
            n = cout * cin if model_id != 9 else cout  # model 9: depthwise, one filter per channel
            blocks.append(rng.standard_normal((n, 3, 3)).astype(dtype))
            end = cursor + n if exclusive else cursor + n - 1
            row = {
                "model_id": model_id, "conv_depth": depth, "conv_depth_norm": depth / max(len(layers) - 1, 1),
                "filter_ids": f"{cursor}:{end}", "model": name, "Name": arch, "Task": task,
                "Visual Category": category, "Training-Dataset": "somewhere",
                "Pretraining-Dataset": "ImageNet" if model_id == 3 else np.nan,
                "Precision": "float32", "Training": "normal", "in_channels": cin, "out_channels": cout,
                "producer": "pytorch 1.8", "(3, 3) filters": n, "op_set": 11,
            }  # fmt: skip
            if version == "1.0.0":
                row["layer_id"] = f"/layer{depth}/Conv"
            rows.append(row)
            cursor += n
    filters = np.concatenate(blocks + [rng.standard_normal((extra_rows, 3, 3)).astype(dtype)])
    meta = pd.DataFrame(rows)
    index = ["model_id", "conv_depth", "conv_depth_norm"] + (["layer_id"] if version == "1.0.0" else [])
    meta.set_index(index).to_hdf(path, key="meta", format="table")
    with h5py.File(path, "a") as handle:
        handle.create_dataset("filters", data=filters.reshape(-1, 9) if shape9 else filters, chunks=True)
    return filters.reshape(-1, 9), meta


def read_kernels(path):
    return np.concatenate([k for _, k, _ in store.iter_layer_kernels(path)])


@pytest.mark.parametrize("exclusive", [False, True])
def test_import_round_trip(tmp_path, exclusive):
    filters, meta = write_release(tmp_path / "dataset.h5", exclusive=exclusive)
    summary = import_hdf5(tmp_path / "dataset.h5", tmp_path / "out", chunk_filters=7, progress=False)
    assert summary["filter_ids"] == ("exclusive" if exclusive else "inclusive")
    assert summary["models"] == 3 and summary["filters"] == len(filters)
    assert json.loads((tmp_path / "out" / "import.json").read_text())["filter_ids"] == summary["filter_ids"]
    sheet = pd.read_csv(tmp_path / "out" / "config" / "models.tsv", sep="\t", skiprows=1)  # a comment line
    assert sorted(sheet["model"]) == ["dw_net", "resnet_tiny_imagenet_11", "unet_cells_9"]
    row = sheet.set_index("model").loc["resnet_tiny_imagenet_11"]
    assert (row["source"], row["task"], row["visual_category"], row["architecture"]) == (
        "parquet", "Classification", "natural", "ResNet",
    )  # fmt: skip
    assert bool(row["pretrained"]) and not bool(sheet.set_index("model").loc["unet_cells_9", "pretrained"])
    assert {"producer", "op_set", "training", "pretraining_dataset"} <= set(sheet.columns)  # unknown columns kept
    # every layer's rows, bit for bit, in the layer order of conv_depth
    cursor = 0
    for model_id, (name, *_rest, layers) in MODELS.items():
        model = sheet.loc[sheet["model_id"] == model_id, "model"].item()
        path = tmp_path / "out" / "filters" / f"{model}.parquet"
        got = read_kernels(path)
        assert np.array_equal(got, filters[cursor : cursor + len(got)])
        cursor += len(got)
        info, facts = store.filters_metadata(path)
        assert info["source_detail"]["filter_ids"] == summary["filter_ids"]
        assert [f["n_filters"] for f in facts] == [
            (cout * cin if model_id != 9 else cout) for cout, cin in layers
        ]
        frame = synthetic.layer_stats(path, model)  # the rest of the workflow reads it unchanged
        assert len(frame) == len(layers) and frame["orthogonality"].notna().all()
    _, facts = store.filters_metadata(tmp_path / "out" / "filters" / "dw_net.parquet")
    assert facts[0]["groups"] == 5 and facts[0]["name"] == "/layer0/Conv"


def test_chunk_size_does_not_change_the_files(tmp_path):
    write_release(tmp_path / "dataset.h5", version="0.1.0", shape9=True, dtype=np.float64)
    import_hdf5(tmp_path / "dataset.h5", tmp_path / "a", chunk_filters=5, progress=False)
    summary = import_hdf5(tmp_path / "dataset.h5", tmp_path / "b", chunk_filters=1 << 20, progress=False)
    assert summary["source_dtype"] == "float64"
    for path in sorted((tmp_path / "a" / "filters").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / "filters" / path.name).read_bytes()
    _, facts = store.filters_metadata(tmp_path / "a" / "filters" / "unet_cells_9.parquet")
    assert facts[1]["name"] == "conv_depth_1"  # v0.1.0 has no layer_id


def test_unassigned_rows_are_reported(tmp_path):
    write_release(tmp_path / "dataset.h5", extra_rows=4)
    summary = import_hdf5(tmp_path / "dataset.h5", tmp_path / "out", progress=False)
    assert summary["rows_in_no_layer"] == 4 and summary["filter_ids"] == "inclusive"


def rewrite_meta(path, edit):
    meta = pd.read_hdf(path, "meta")
    meta = edit(meta.reset_index())
    meta.set_index(["model_id", "conv_depth", "conv_depth_norm"]).to_hdf(path, key="meta", format="table")


def test_overlapping_and_out_of_range_ids_are_errors(tmp_path):
    write_release(tmp_path / "o.h5", version="0.1.0")
    rewrite_meta(tmp_path / "o.h5", lambda m: m.assign(filter_ids=m["filter_ids"].where(m.index != 1, "5:40")))
    with pytest.raises(HDF5LayoutError, match=r"o\.h5: filter ids overlap: model_id 3"):
        import_hdf5(tmp_path / "o.h5", tmp_path / "out", progress=False)
    write_release(tmp_path / "p.h5", version="0.1.0")
    total = sum(c * i if m != 9 else c for m, v in MODELS.items() for c, i in v[4])
    rewrite_meta(tmp_path / "p.h5", lambda m: m.assign(filter_ids=m["filter_ids"].where(m.index != len(m) - 1, f"{total - 5}:{total + 10}")))
    with pytest.raises(HDF5LayoutError, match=r"p\.h5: model_id 9: filter_ids .* runs past the filter array, which has"):
        import_hdf5(tmp_path / "p.h5", tmp_path / "out", progress=False)
    write_release(tmp_path / "q.h5", version="0.1.0")
    rewrite_meta(tmp_path / "q.h5", lambda m: m.assign(filter_ids=m["filter_ids"].where(m.index != 0, "zero")))
    with pytest.raises(HDF5LayoutError, match=r"q\.h5: /meta row of model_id 3: filter_ids 'zero'"):
        import_hdf5(tmp_path / "q.h5", tmp_path / "out", progress=False)


def test_nonfinite_filters(tmp_path):
    write_release(tmp_path / "n.h5")
    with h5py.File(tmp_path / "n.h5", "a") as handle:
        handle["filters"][13, 1, 1] = np.nan  # in model 3, layer 1 (rows 12..43)
    with pytest.raises(store.DataError, match=r"model 'resnet_tiny_imagenet_11': layer '/layer1/Conv' has 1 filters with NaN.*--exclude-nonfinite"):
        import_hdf5(tmp_path / "n.h5", tmp_path / "out", progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # a failed import leaves nothing behind
    import_hdf5(tmp_path / "n.h5", tmp_path / "out", progress=False, on_nonfinite="exclude")
    info, facts = store.filters_metadata(tmp_path / "out" / "filters" / "resnet_tiny_imagenet_11.parquet")
    assert [f["name"] for f in facts] == ["/layer0/Conv", "/layer2/Conv"] and [f["layer"] for f in facts] == [0, 1]
    assert info["excluded_layers"][0]["nonfinite_filters"] == 1


def test_a_failed_import_keeps_the_earlier_one_and_a_new_one_replaces_it(tmp_path):
    write_release(tmp_path / "first.h5")
    import_hdf5(tmp_path / "first.h5", tmp_path / "out", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "filters").iterdir()}
    sheet = (tmp_path / "out" / "config" / "models.tsv").read_bytes()
    write_release(tmp_path / "bad.h5", seed=1)
    with h5py.File(tmp_path / "bad.h5", "a") as handle:
        handle["filters"][-1, 0, 0] = np.inf  # the last model fails, after the others were written
    with pytest.raises(store.DataError, match="dw_net"):
        import_hdf5(tmp_path / "bad.h5", tmp_path / "out", progress=False)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "filters").iterdir()} == before
    assert (tmp_path / "out" / "config" / "models.tsv").read_bytes() == sheet
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []
    # a second release with fewer models: the first one's other model files do not stay
    import_hdf5(tmp_path / "first.h5", tmp_path / "out", progress=False, models=["unet_cells_9"])
    assert sorted(p.name for p in (tmp_path / "out" / "filters").iterdir()) == ["unet_cells_9.parquet"]


def test_unknown_model_is_an_error(tmp_path):
    write_release(tmp_path / "d.h5")
    with pytest.raises(HDF5LayoutError, match=r"--model 'nope' is not a model of the release"):
        import_hdf5(tmp_path / "d.h5", tmp_path / "out", progress=False, models=["nope"])


def test_bit_identical_models_share_a_digest(tmp_path):
    """Two models with the same filters get the same filters_sha256, whatever the chunking;
    the model table marks the second (by id) as a duplicate of the first."""
    from filterdb.database import duplicate_of

    rng = np.random.default_rng(0)
    block = rng.standard_normal((12, 3, 3)).astype(np.float32)
    rows = []
    for model_id, name in ((1, "alpha"), (2, "beta"), (3, "gamma")):
        start = (model_id - 1) * 12
        rows.append({"model_id": model_id, "conv_depth": 0, "conv_depth_norm": 0.0, "filter_ids": f"{start}:{start + 11}",
                     "model": name, "in_channels": 3, "out_channels": 4})  # fmt: skip
    other = block.copy()
    other[5, 1, 1] += 1e-6
    pd.DataFrame(rows).set_index(["model_id", "conv_depth", "conv_depth_norm"]).to_hdf(tmp_path / "d.h5", key="meta", format="table")
    with h5py.File(tmp_path / "d.h5", "a") as handle:
        handle.create_dataset("filters", data=np.concatenate([block, block, other]))
    import_hdf5(tmp_path / "d.h5", tmp_path / "out", progress=False, chunk_filters=5)
    digests = {m: store.filters_metadata(tmp_path / "out" / "filters" / f"{m}.parquet")[0]["filters_sha256"] for m in ("alpha", "beta", "gamma")}
    assert digests["alpha"] == digests["beta"] != digests["gamma"]
    assert digests["alpha"] == store.FiltersDigest().layers([block.reshape(-1, 9)]).hexdigest()
    models = pd.Series(["gamma", "beta", "alpha"])
    marked = duplicate_of(models, models.map(digests), pd.Series([12, 12, 12]))
    assert marked.tolist() == [None, "alpha", None]


def test_cli_prints_the_workflow_command_last(tmp_path, capsys):
    from filterdb.cli import main

    write_release(tmp_path / "d.h5")
    assert main(["import-hdf5", str(tmp_path / "d.h5"), str(tmp_path / "out"), "--quiet", "--chunk-filters", "7",
                 "--model", "dw_net", "--exclude-nonfinite"]) == 0  # fmt: skip
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("snakemake -s ") and last.endswith(f"-d {tmp_path / 'out'} --cores 8 all")
    assert sorted(p.name for p in (tmp_path / "out" / "filters").iterdir()) == ["dw_net.parquet"]


def test_missing_h5py_is_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from filterdb.cli import main

    write_release(tmp_path / "d.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    assert main(["import-hdf5", str(tmp_path / "d.h5"), str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'filterdb[hdf5]'" in err and "h5py" in err


def test_release_categories_map_onto_the_sheet_vocabulary():
    from filterdb.importer import category_of, sheet_vocabulary

    vocabulary = sheet_vocabulary()
    assert category_of("Natural", vocabulary) == "natural"
    assert category_of("medical (x-ray)", vocabulary) == "medical"
    assert category_of("Medical CT", vocabulary) == "medical"
    assert category_of("cells", vocabulary) == "microscopy"
    assert category_of("objects", vocabulary) == "natural"
    assert category_of("something new", vocabulary) == "unknown"


def test_imported_sheet_keeps_the_release_category(tmp_path):
    write_release(tmp_path / "dataset.h5")
    import_hdf5(tmp_path / "dataset.h5", tmp_path / "out", progress=False)
    from filterdb.sheet import load_sheets

    rows = load_sheets([tmp_path / "out" / "config" / "models.tsv"])  # valid against the sheet schema
    assert rows["unet_cells_9"]["visual_category"] == "microscopy"
    assert rows["unet_cells_9"]["release_visual_category"] == "microscopy"
    config = (tmp_path / "out" / "config" / "config.yaml").read_text()
    assert "release_visual_category" in config


def test_layers_at_one_depth_without_layer_id_get_unique_names(tmp_path):
    """Release v0.1.0 has no layer_id: two convs at one depth (branches) must still be two layers."""
    rows = [{"model_id": 1, "conv_depth": d, "conv_depth_norm": d / 1, "filter_ids": f"{a}:{b}", "model": "branchy",
             "in_channels": 2, "out_channels": 2} for d, a, b in ((0, 0, 3), (1, 4, 7), (1, 8, 11))]  # fmt: skip
    pd.DataFrame(rows).set_index(["model_id", "conv_depth", "conv_depth_norm"]).to_hdf(tmp_path / "b.h5", key="meta", format="table")
    with h5py.File(tmp_path / "b.h5", "a") as handle:
        handle.create_dataset("filters", data=np.random.default_rng(0).standard_normal((12, 3, 3)).astype(np.float32))
    import_hdf5(tmp_path / "b.h5", tmp_path / "out", progress=False)
    _, facts = store.filters_metadata(tmp_path / "out" / "filters" / "branchy.parquet")
    assert [f["name"] for f in facts] == ["conv_depth_0", "conv_depth_1_layer1", "conv_depth_1_layer2"]
