"""`filterdb inspect` and the Python API: the numpy safetensors reader, many files, --json/--csv,
--fail-on, --against a database built here with the library's own steps, and a light import."""

from __future__ import annotations

import csv
import io as stdio
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import filterdb
import synthetic_db as synthetic
from filterdb import basis, shift, stats, store
from filterdb.cli import main
from filterdb.metrics import layer_metrics
from filterdb.readers.safetensors_file import infer_groups, natural_key, read_safetensors


def write_safetensors(path, tensors: dict, dtypes: dict | None = None) -> None:
    """A safetensors file written by hand (header length, JSON header, raw little-endian data)."""
    dtypes = dtypes or {}
    header, blobs, offset = {"__metadata__": {"format": "np"}}, [], 0
    for name, array in tensors.items():
        kind = dtypes.get(name, "F32")
        raw = np.ascontiguousarray(array, {"F32": "<f4", "F16": "<f2", "F64": "<f8"}[kind]).tobytes()
        header[name] = {"dtype": kind, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def conv_stack(rng, shapes, scale=0.1) -> dict:
    """{layer{i}.conv.weight: (out, in, 3, 3)} for (out, in) shapes, plus a bias to be ignored."""
    tensors = {f"layer{i}.conv.weight": rng.standard_normal((o, c, 3, 3)).astype(np.float32) * scale
               for i, (o, c) in enumerate(shapes)}  # fmt: skip
    tensors["layer0.conv.bias"] = np.zeros(shapes[0][0], np.float32)
    return tensors


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity (which Python's json writes unless told not to)."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))


# --------------------------------------------------------------------------- the numpy reader

def test_safetensors_reader_reads_what_the_safetensors_library_wrote(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(0)
    tensors = {
        "layer10.conv.weight": torch.randn(8, 4, 3, 3, generator=generator),
        "layer2.conv.weight": torch.randn(4, 4, 3, 3, generator=generator).half(),
        "layer3.conv.weight": torch.randn(4, 4, 3, 3, generator=generator).bfloat16(),
        "layer3.proj.weight": torch.randn(8, 4, 1, 1, generator=generator),
        "layer3.norm.running_var": torch.ones(8),
    }
    save_file(tensors, str(tmp_path / "m.safetensors"))
    loaded = read_safetensors("m", tmp_path / "m.safetensors")
    assert [c.name for c in loaded.convs] == ["layer2.conv", "layer3.conv", "layer3.proj", "layer10.conv"]
    for conv in loaded.convs:
        expected = tensors[conv.name + ".weight"].float().numpy()
        np.testing.assert_array_equal(np.asarray(conv.weight, np.float32), expected)
    assert loaded.precision == "bf16+fp16+fp32"
    assert loaded.depth_source == "name order"


def test_name_order_and_groups_from_shapes():
    names = ["stem.conv", "blocks.10.conv_dw", "blocks.2.conv1", "blocks.2.conv2", "head.conv", "blocks.9.b"]
    assert sorted(names, key=natural_key) == [
        "stem.conv", "blocks.2.conv1", "blocks.2.conv2", "blocks.9.b", "blocks.10.conv_dw", "head.conv"
    ]  # fmt: skip
    # depthwise (c, 1) after the first conv; ResNeXt-style (128 → 128/g with 4 per group) in one module
    modules = ["stem", "l1.0.conv1", "l1.0.conv2", "l1.1.dw", "l2.0.a", "l2.1.b"]
    shapes = [(16, 1, 3, 3), (128, 16, 1, 1), (128, 4, 3, 3), (32, 1, 3, 3), (64, 32, 3, 3), (64, 32, 3, 3)]
    assert infer_groups(modules, shapes) == [1, 1, 32, 32, 1, 1]


def test_truncated_or_foreign_safetensors_files_are_one_line_errors(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    write_safetensors(path, conv_stack(np.random.default_rng(0), [(4, 4)]))
    path.write_bytes(path.read_bytes()[:-10])
    code, _, err = run_cli(["inspect", str(path)], capsys)
    assert code == 1 and "truncated or corrupt" in err and len(err.strip().splitlines()) == 1
    path.write_bytes(b"not a safetensors file at all")
    code, _, err = run_cli(["inspect", str(path)], capsys)
    assert code == 1 and "is not a safetensors file" in err
    code, _, err = run_cli(["inspect", str(tmp_path / "missing.safetensors")], capsys)
    assert code == 1 and "no such checkpoint file" in err


def test_numpy_path_equals_the_timm_graph_path(tmp_path, capsys):
    """Same weights through the numpy reader and through timm's module: same metrics per layer."""
    pytest.importorskip("torch")
    from safetensors.torch import save_file

    from filterdb.sources.timm_source import create

    module = create("x", "resnet10t", pretrained=False, seed=1)
    path = tmp_path / "r.safetensors"
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    plain = run_cli(["inspect", str(path), "--json"], capsys)
    graph = run_cli(["inspect", str(path), "--arch", "resnet10t", "--json"], capsys)
    assert plain[0] == graph[0] == 0
    plain_rows = {r["name"]: r for r in strict_json(plain[1])[0]["layers"]}
    graph_rows = {r["name"]: r for r in strict_json(graph[1])[0]["layers"]}
    assert plain_rows.keys() == graph_rows.keys() and plain_rows
    for name, row in graph_rows.items():
        for key in ("n_filters", "groups", "sparsity", "variance_entropy", "orthogonality"):
            assert plain_rows[name][key] == row[key], (name, key)
        assert plain_rows[name]["stride"] is None and row["stride"] >= 1


def test_safetensors_inspection_imports_neither_torch_nor_timm(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, conv_stack(np.random.default_rng(0), [(8, 3), (16, 8)]))
    code = (
        "import sys\nfrom filterdb.cli import main\n"
        f"assert main(['inspect', {str(path)!r}, '--json']) == 0\n"
        "import filterdb\nframe = filterdb.inspect(sys.argv[1])\nassert len(frame) == 2\n"
        "assert 'torch' not in sys.modules and 'timm' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_import_filterdb_is_light_and_exports_the_api():
    code = (
        "import sys, filterdb\n"
        "assert not [m for m in ('numpy', 'torch', 'timm', 'pandas', 'pyarrow') if m in sys.modules]\n"
        "for name in ('inspect', 'read_filters', 'read_layers'):\n"
        "    assert getattr(filterdb, name).__doc__, name\n"
        "assert 'torch' not in sys.modules and 'timm' not in sys.modules\n"
        "assert set(filterdb.__all__) <= set(dir(filterdb))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


# --------------------------------------------------------------------------- output and flags

def test_json_is_valid_with_nan_as_null_and_zero_layers_are_not_orthogonal(tmp_path, capsys):
    rng = np.random.default_rng(0)
    tensors = conv_stack(rng, [(16, 8), (8, 16), (1, 1)])
    tensors["layer1.conv.weight"][:] = 0.0  # all-zero layer
    write_safetensors(tmp_path / "m.safetensors", tensors)
    code, out, _ = run_cli(["inspect", str(tmp_path / "m.safetensors"), "--json"], capsys)
    assert code == 0
    (model,) = strict_json(out)
    zero, single = model["layers"][1], model["layers"][2]
    assert zero["flag_zero"] and zero["orthogonality"] is None and zero["sparsity"] == 1.0
    assert not model["layers"][0]["flag_zero"] and 0 < model["layers"][0]["orthogonality"] < 1
    assert single["n_filters"] == 1 and single["variance_entropy"] is None and single["orthogonality"] is None
    assert model["summary"]["n_zero"] == 1
    code, out, _ = run_cli(["inspect", str(tmp_path / "m.safetensors")], capsys)
    line = next(x for x in out.splitlines() if "layer1.conv" in x)
    assert line.rstrip().endswith("zero") and "1 all-zero" in out


def test_metrics_match_an_independent_computation(tmp_path):
    rng = np.random.default_rng(3)
    tensors = conv_stack(rng, [(12, 6), (24, 12)])
    write_safetensors(tmp_path / "m.safetensors", tensors)
    frame = filterdb.inspect(tmp_path / "m.safetensors")
    for row in frame.itertuples():
        weight = tensors[f"{row.name}.weight"]
        flat = weight.reshape(-1, 9).astype(np.float64)
        centred = flat - flat.mean(axis=0)
        s = np.linalg.svd(centred, compute_uv=False)
        p = s**2 / (s**2).sum()
        assert row.variance_entropy == pytest.approx(-(p * np.log10(p)).sum(), rel=1e-9)
        unit = weight.reshape(weight.shape[0], -1) / np.linalg.norm(weight.reshape(weight.shape[0], -1), axis=1, keepdims=True)
        c = unit.shape[0]
        expected = 1 - np.abs(unit @ unit.T - np.eye(c)).sum() / (c * (c - 1))
        assert row.orthogonality == pytest.approx(expected, abs=1e-6)
    assert list(frame["depth_decile"]) == [0, 9]
    assert frame.attrs["summary"]["n_layers"] == 2


def test_many_files_one_row_each_and_fail_on(tmp_path, capsys):
    rng = np.random.default_rng(1)
    folder = tmp_path / "ckpts"
    (folder / "sub").mkdir(parents=True)
    write_safetensors(folder / "healthy.safetensors", conv_stack(rng, [(64, 32), (64, 64)]))
    collapsed = conv_stack(rng, [(64, 32), (64, 64)])
    collapsed["layer1.conv.weight"][:] = rng.standard_normal((3, 3)).astype(np.float32)  # identical filters
    write_safetensors(folder / "sub" / "collapsed.safetensors", collapsed)
    (folder / "notes.txt").write_text("not a checkpoint")
    code, out, _ = run_cli(["inspect", str(folder), "--csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(stdio.StringIO(out)))
    assert [r["model"] for r in rows] == ["healthy", "collapsed"]
    assert [r["n_collapsed"] for r in rows] == ["0", "1"]
    code, out, err = run_cli(["inspect", str(folder), "--json", "--fail-on", "sparse,collapsed"], capsys)
    assert code == 1 and "collapsed: 1 collapsed layer(s)" in err and "healthy" not in err
    assert len(strict_json(out)) == 2
    code, _, _ = run_cli(["inspect", str(folder / "healthy.safetensors"), "--fail-on", "sparse,collapsed"], capsys)
    assert code == 0
    code, _, err = run_cli(["inspect", str(folder), "--fail-on", "wobbly"], capsys)
    assert code == 2 and "unknown flag" in err


def test_a_broken_file_among_many_is_reported_and_fails_the_run(tmp_path, capsys):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    write_safetensors(folder / "a.safetensors", conv_stack(np.random.default_rng(0), [(8, 8)]))
    (folder / "b.safetensors").write_bytes(b"\x00" * 4)
    code, out, err = run_cli(["inspect", str(folder), "--json"], capsys)
    assert code == 1 and "b.safetensors" in err
    a, b = strict_json(out)
    assert a["summary"]["n_layers"] == 1 and "error" in b["summary"] and b["summary"]["model"] == "b"
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["inspect", str(tmp_path / "empty")], capsys)
    assert code == 1 and err.startswith(f"filterdb: error: {tmp_path / 'empty'}: is a directory; give a checkpoint file")


def test_onnx_and_tfjs_files_in_one_folder(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    weight = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
        [numpy_helper.from_array(weight, "w")],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), str(tmp_path / "tiny.ONNX"))  # endings in any case
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)  # HWIO
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "group1-shard1of1.bin").write_bytes(kernel.tobytes())
    topology = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
                                            "dilation_rate": [1, 1], "groups": 1}}]}}  # fmt: skip
    manifest = [{"paths": ["group1-shard1of1.bin"], "weights": [{"name": "conv/kernel", "shape": [3, 3, 3, 4], "dtype": "float32"}]}]
    (tmp_path / "web" / "model.json").write_text(json.dumps({"format": "layers-model", "modelTopology": {"model_config": topology}, "weightsManifest": manifest}))
    code, out, err = run_cli(["inspect", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    models = {m["summary"]["model"]: m for m in strict_json(out)}
    assert set(models) == {"tiny", "web"}
    assert models["tiny"]["summary"]["format"] == "onnx" and models["tiny"]["layers"][0]["n_filters"] == 24
    assert models["web"]["summary"]["format"] == "tfjs" and models["web"]["layers"][0]["n_filters"] == 12
    expected = layer_metrics(kernel.transpose(3, 2, 0, 1).reshape(-1, 9), 4)["variance_entropy"]
    assert models["web"]["layers"][0]["variance_entropy"] == pytest.approx(expected)


def test_torch_state_dict_files(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from filterdb import readers

    generator = torch.Generator().manual_seed(4)
    state = {"features.0.weight": torch.randn(8, 3, 3, 3, generator=generator),
             "features.2.weight": torch.randn(16, 8, 3, 3, generator=generator)}  # fmt: skip
    torch.save(state, tmp_path / "net.pt")
    code, out, err = run_cli(["inspect", str(tmp_path / "net.pt"), "--json"], capsys)
    assert code == 0, err
    (model,) = strict_json(out)
    assert [r["n_filters"] for r in model["layers"]] == [24, 128]
    expected = layer_metrics(state["features.2.weight"].numpy().reshape(-1, 9), 16)["variance_entropy"]
    assert model["layers"][1]["variance_entropy"] == pytest.approx(expected) and model["layers"][1]["stride"] is None
    if "torch-pickle" in readers.READERS:  # read without torch: check in a fresh process
        code = f"import sys\nfrom filterdb.cli import main\nassert main(['inspect', {str(tmp_path / 'net.pt')!r}]) == 0\nassert 'torch' not in sys.modules"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]


def test_keras_files_go_to_the_keras_reader(tmp_path, capsys):
    from filterdb import readers

    path = tmp_path / "m.weights.h5"
    if "keras-h5" not in readers.READERS:
        path.write_bytes(b"")
        code, _, err = run_cli(["inspect", str(path)], capsys)
        assert code == 1 and "keras-h5 reader" in err
        return
    h5py = pytest.importorskip("h5py")
    kernel = np.random.default_rng(0).standard_normal((3, 3, 2, 4)).astype(np.float32)
    with h5py.File(path, "w") as handle:
        variables = handle.create_group("layers").create_group("conv2d").create_group("vars")
        variables.attrs["name"] = "c1"
        variables.create_dataset("0", data=kernel)
    code, out, err = run_cli(["inspect", str(path), "--json"], capsys)
    assert code == 0, err
    (model,) = strict_json(out)
    assert model["summary"]["model"] == "m" and model["layers"][0]["n_filters"] == 8
    expected = layer_metrics(kernel.transpose(3, 2, 0, 1).reshape(-1, 9), 4)["variance_entropy"]
    assert model["layers"][0]["variance_entropy"] == pytest.approx(expected)


# --------------------------------------------------------------------------- Python API

def test_api_on_a_module_and_on_a_filters_file(tmp_path):
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 1),
                                 torch.nn.Conv2d(8, 16, 3, stride=2))  # fmt: skip
    frame = filterdb.inspect(module)
    assert list(frame["name"]) == ["0", "3"] and list(frame["stride"]) == [1, 2]
    assert (frame["depth_source"] == "graph").all() and list(frame["conv_depth_norm"]) == [0.0, 1.0]
    kernels = filterdb.read_filters(module)
    np.testing.assert_array_equal(kernels[1], module[3].weight.detach().numpy().reshape(-1, 9))
    np.testing.assert_array_equal(filterdb.read_filters(module, "3"), kernels[1])
    layers = filterdb.read_layers(module)
    assert list(layers["n_filters"]) == [24, 128] and "sparsity" not in layers.columns
    path = tmp_path / "syn.parquet"
    synthetic.write_model(path, "syn", [(8, 4), (16, 8)], seed=0)
    assert list(filterdb.read_layers(path)["n_filters"]) == [32, 128]
    second = filterdb.read_filters(path, 1)
    assert second.shape == (128, 9) and second.dtype == np.float32
    with pytest.raises(KeyError):
        filterdb.read_filters(module, "nope")


# --------------------------------------------------------------------------- --against

DB_MODELS = {  # model: (visual category, distribution group, trained)
    "nat_a": ("natural", 0, True),
    "nat_b": ("natural", 0, True),
    "face_a": ("faces", 1, True),
    "init_a": ("none (initialisation)", 2, False),
}
DB_SHAPES = [(16, 8), (16, 16), (32, 16), (32, 32)]  # 1,920 filters a model, depth norms 0, 1/3, 2/3, 1


@pytest.fixture(scope="module")
def built_db(tmp_path_factory):
    """A results/ folder as the workflow writes it, from the library's own steps."""
    results = tmp_path_factory.mktemp("results")
    for folder in ("filters", "layers", "moments", "db", "basis", "hist"):
        (results / folder).mkdir()
    for seed, (model, (_, group, _)) in enumerate(DB_MODELS.items()):
        synthetic.write_model(results / "filters" / f"{model}.parquet", model, DB_SHAPES, seed=seed, group=group)
        stats.write_layer_stats(results / "filters" / f"{model}.parquet", results / "layers" / f"{model}.parquet",
                                model, moments_path=results / "moments" / f"{model}.npz")  # fmt: skip
    table = store.concat_layer_tables([str(results / "layers" / f"{m}.parquet") for m in DB_MODELS])
    store.write_table(table, results / "db" / "layers.parquet", store.file_metadata())
    models = pd.DataFrame({
        "model": list(DB_MODELS), "visual_category": [v[0] for v in DB_MODELS.values()],
        "trained": [v[2] for v in DB_MODELS.values()], "n_filters": [1920] * len(DB_MODELS),
        "duplicate_of": [None] * len(DB_MODELS),
    })  # fmt: skip
    store.write_frame(models, results / "db" / "models.parquet")
    pool = [m for m, v in DB_MODELS.items() if v[2]]
    b = basis.basis_from_moments(store.load_moments(results / "moments" / f"{m}.npz") for m in pool)
    store.write_json_atomic(results / "basis" / "basis.json", store.basis_to_json({**b, "models": pool}))
    ranges = [basis.coefficient_range(results / "filters" / f"{m}.parquet", b) for m in pool]
    edges = shift.range_edges("paper", np.min([r[0] for r in ranges], 0), np.max([r[1] for r in ranges], 0), 70)
    store.write_json_atomic(results / "basis" / "bin_edges.json", {"policy": "paper", "edges": edges})
    for model in DB_MODELS:
        hist = synthetic.histograms_keeping_empty(results / "filters" / f"{model}.parquet", b, edges)
        store.write_table(hist, results / "hist" / f"{model}.parquet", store.file_metadata(model))
    return results


def checkpoint_of(results, model, path) -> dict:
    """A safetensors file holding a database model's filters; returns {layer name: weight}."""
    tensors = {}
    for (layer, kernels, _), (out, cin) in zip(store.iter_layer_kernels(results / "filters" / f"{model}.parquet"), DB_SHAPES):
        tensors[f"layer{layer}.conv.weight"] = kernels.reshape(out, cin, 3, 3).copy()
    write_safetensors(path, tensors)
    return tensors


def test_against_places_a_copy_of_a_database_model(built_db, tmp_path, capsys):
    tensors = checkpoint_of(built_db, "face_a", tmp_path / "face_copy.safetensors")
    code, out, err = run_cli(["inspect", str(tmp_path / "face_copy.safetensors"), "--against", str(built_db / "db"), "--json"], capsys)
    assert code == 0, err
    (model,) = strict_json(out)
    summary, d = model["summary"], model["shift"]
    # its own category's histograms are its own: D = 0 there, and that category is the nearest
    assert set(d) == {"natural", "faces"} and d["faces"] < 1e-12 < d["natural"]
    assert summary["nearest_group"] == "faces" and summary["outside_range"] == 0.0
    # D to "natural" by an independent route: every filter in memory, np.histogram, scipy's KL
    b = store.basis_from_json(json.loads((built_db / "basis" / "basis.json").read_text()))
    edges = np.asarray(json.loads((built_db / "basis" / "bin_edges.json").read_text())["edges"])

    def counts(kernels):
        k = np.concatenate(kernels).astype(np.float64)
        peak = np.abs(k).max(axis=1, keepdims=True)
        c = (np.where(peak > 0, k / np.where(peak > 0, peak, 1), 0.0) - b["mean"]) @ b["components"].T
        # the range is the pool's min and max: its extreme filters sit on the outer edges, and
        # a BLAS product may round one an ulp outside; further out stays out
        low, high = edges[:, 0], edges[:, -1]
        tol = 1e-12 * (high - low)
        c = np.where((c < low) & (c >= low - tol), low, np.where((c > high) & (c <= high + tol), high, c))
        return np.stack([np.histogram(c[:, i], bins=edges[i])[0] for i in range(9)])

    mine = counts([w.reshape(-1, 9) for w in tensors.values()])
    natural = counts([k for m in ("nat_a", "nat_b") for _, k, _ in store.iter_layer_kernels(built_db / "filters" / f"{m}.parquet")])
    expected = 0.0
    for i in range(9):
        width = np.diff(edges[i])
        p = np.where(mine[i] == 0, shift.FLOAT32_EPS, mine[i] / (mine[i].sum() * width))
        q = np.where(natural[i] == 0, shift.FLOAT32_EPS, natural[i] / (natural[i].sum() * width))
        expected += b["explained_variance_ratio"][i] * (scipy.stats.entropy(p, q) + scipy.stats.entropy(q, p))
    assert d["natural"] == pytest.approx(expected, rel=1e-9)
    # percentiles: among the trained models' layers of the same depth decile (init_a left out)
    layers = pd.read_parquet(built_db / "db" / "layers.parquet")
    layers = layers[layers["model"] != "init_a"]
    for row in model["layers"]:
        same = layers[layers["depth_decile"] == row["depth_decile"]]
        assert row["reference_layers"] == len(same) == 3
        for metric in ("sparsity", "entropy_ratio", "orthogonality"):
            assert row[f"{metric}_pct"] == pytest.approx(scipy.stats.percentileofscore(same[metric], row[metric], kind="mean"))
    assert summary["verdict"].startswith(f"{summary['n_low_entropy_ratio']} of 4 layers below the 5th percentile of H/TH at their depth")
    assert "nearest visual category: faces" in summary["verdict"]


def test_against_flags_a_collapsed_layer_in_the_verdict_and_the_text(built_db, tmp_path, capsys):
    tensors = checkpoint_of(built_db, "nat_a", tmp_path / "nat.safetensors")
    tensors["layer2.conv.weight"] = np.broadcast_to(tensors["layer2.conv.weight"][:1, :1], (32, 16, 3, 3)).copy()
    write_safetensors(tmp_path / "nat.safetensors", tensors)
    frame = filterdb.inspect(tmp_path / "nat.safetensors", against=built_db)  # the results folder works too
    assert frame.loc[2, "entropy_ratio_pct"] == 0.0 and frame.loc[2, "flag_collapsed"]
    assert frame.attrs["summary"]["verdict"].startswith("1 of 4 layers below the 5th percentile of H/TH")
    assert frame.attrs["shift"]["natural"] < frame.attrs["shift"]["faces"]
    code, out, _ = run_cli(["inspect", str(tmp_path / "nat.safetensors"), "--against", str(built_db / "db")], capsys)
    assert code == 0 and "1 of 4 layers below the 5th percentile" in out and "H/TH%" in out
    code, out, _ = run_cli(["inspect", str(tmp_path / "nat.safetensors"), "--against", str(built_db / "db"), "--csv"], capsys)
    (row,) = csv.DictReader(stdio.StringIO(out))
    assert row["nearest_group"] == "natural" and float(row["d[natural]"]) == pytest.approx(frame.attrs["shift"]["natural"])


def test_against_a_folder_that_is_not_a_database(tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, conv_stack(np.random.default_rng(0), [(8, 8)]))
    code, out, err = run_cli(["inspect", str(path), "--against", str(tmp_path)], capsys)
    assert code == 1 and "not a built database" in err and out == ""


def test_inspect_loads_a_file_through_the_file_source_as_the_workflow_would(tmp_path):
    from filterdb.errors import SourceError
    from filterdb.inspection import file_row, inspect_model
    from filterdb.sources import get_source

    path = tmp_path / "m.safetensors"
    write_safetensors(path, conv_stack(np.random.default_rng(4), [(8, 4), (8, 8)]))
    row = file_row("m", path, "safetensors", None)
    assert row == {"model": "m", "source": "file", "reference": str(path), "reader": "safetensors"}
    source = get_source("file")
    manifest = source.fetch(row, None)  # the workflow's fetch: the file's checksum
    loaded = source.load(row, manifest)
    assert manifest["sha256"] == loaded.source_detail["sha256"] and loaded.source_detail["reader"] == "safetensors"
    inspected = inspect_model(str(path))["layers"]
    assert [r["name"] for r in inspected] == [c.name for c in loaded.convs if c.kernel_size == (3, 3)]
    with pytest.raises(SourceError, match=r"^model 'm': unknown reader 'safetensor'; .*Did you mean safetensors"):
        source.fetch({**row, "reader": "safetensor"}, None)
