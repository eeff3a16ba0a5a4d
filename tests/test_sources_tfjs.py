"""TF.js reader: models written by the tests from known arrays read back exactly."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from filterdb.readers.tfjs import decode_weights, graph_distances, parse_js_literal, read_tfjs
from filterdb.errors import SourceError

RNG = np.random.default_rng(7)


def encode(name, array, dtype="float32"):
    """(manifest entry, bytes) of one weight stored as float32, float16, uint8 or uint16."""
    array = np.asarray(array, np.float32)
    entry = {"name": name, "shape": list(array.shape), "dtype": "float32"}
    if dtype == "float32":
        return entry, array.astype("<f4").tobytes()
    if dtype == "float16":
        entry["quantization"] = {"dtype": "float16"}
        return entry, array.astype("<f2").tobytes()
    levels = {"uint8": 255, "uint16": 65535}[dtype]
    lo, hi = float(array.min()), float(array.max())
    scale = (hi - lo) / levels
    q = np.round((array - lo) / scale).astype({"uint8": "u1", "uint16": "<u2"}[dtype])
    entry["quantization"] = {"dtype": dtype, "scale": scale, "min": lo}
    return entry, q.tobytes()


def expected(entry, array):
    """What the reader must give back for ``encode``'s output: the stored values, dequantised."""
    quant = entry.get("quantization")
    if not quant:
        return np.asarray(array, np.float32)
    if quant["dtype"] == "float16":
        return np.asarray(array, np.float32).astype(np.float16).astype(np.float32)
    q = np.round((np.asarray(array, np.float32) - quant["min"]) / quant["scale"])
    return (q.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])).astype(np.float32)


def write_shards(folder, weights, shard_size=None):
    """Write weights into shard files; returns the manifest group."""
    entries, blob = [], b""
    for name, array, dtype in weights:
        entry, raw = encode(name, array, dtype)
        entries.append(entry)
        blob += raw
    shard_size = shard_size or len(blob)
    paths = []
    for i in range(0, len(blob), shard_size):
        path = f"group1-shard{i // shard_size + 1}"
        (folder / path).write_bytes(blob[i : i + shard_size])
        paths.append(path)
    return {"paths": paths, "weights": entries}


def keras_layer(cls, name, inbound, **config):
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [[[p, 0, 0, {}] for p in inbound]] if inbound else []}


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "uint16"])
def test_layers_model_reads_back_exactly(tmp_path, dtype):
    conv = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)  # HWIO
    depthwise = RNG.normal(size=(3, 3, 4, 2)).astype(np.float32)  # kh, kw, in, multiplier
    sep_dw = RNG.normal(size=(3, 3, 8, 1)).astype(np.float32)
    sep_pw = RNG.normal(size=(1, 1, 8, 5)).astype(np.float32)
    head = RNG.normal(size=(1, 1, 4, 6)).astype(np.float32)
    layers = [
        keras_layer("InputLayer", "input", [], batch_input_shape=[None, 16, 16, 3]),
        keras_layer("Conv2D", "conv", ["input"], filters=4, kernel_size=[3, 3], strides=[2, 2], dilation_rate=[1, 1]),
        keras_layer("BatchNormalization", "bn", ["conv"]),
        keras_layer("DepthwiseConv2D", "dw", ["bn"], kernel_size=[3, 3], strides=[1, 1], dilation_rate=[2, 2]),
        keras_layer("SeparableConv2D", "sep", ["dw"], filters=5, kernel_size=[3, 3]),
        keras_layer("Conv2D", "side", ["bn"], filters=6, kernel_size=[1, 1]),  # a branch off the stem
    ]
    group = write_shards(tmp_path, [("conv/kernel", conv, dtype), ("dw/depthwise_kernel", depthwise, dtype),
                                    ("sep/depthwise_kernel", sep_dw, dtype), ("sep/pointwise_kernel", sep_pw, dtype),
                                    ("side/kernel", head, dtype)], shard_size=100)
    assert len(group["paths"]) > 1  # several shards, weights straddling them
    model = {"format": "layers-model", "modelTopology": {"keras_version": "2.x", "model_config": {
        "class_name": "Functional", "config": {"name": "m", "layers": layers}}}, "weightsManifest": [group]}
    (tmp_path / "model.json").write_text(json.dumps(model))

    loaded = read_tfjs("m", tmp_path / "model.json", kind="tfjs-layers")
    by_name = {c.name: c for c in loaded.convs}
    e = {entry["name"]: entry for entry in group["weights"]}
    np.testing.assert_array_equal(by_name["conv"].weight, expected(e["conv/kernel"], conv).transpose(3, 2, 0, 1))
    # depthwise: output channel c * multiplier + m holds kernel[:, :, c, m]
    dw = expected(e["dw/depthwise_kernel"], depthwise)
    assert by_name["dw"].weight.shape == (8, 1, 3, 3) and by_name["dw"].groups == 4
    for c in range(4):
        for m in range(2):
            np.testing.assert_array_equal(by_name["dw"].weight[c * 2 + m, 0], dw[:, :, c, m])
    np.testing.assert_array_equal(by_name["sep/pointwise"].weight, expected(e["sep/pointwise_kernel"], sep_pw).transpose(3, 2, 0, 1))
    assert by_name["sep/depthwise"].groups == 8
    assert by_name["conv"].stride == (2, 2) and by_name["dw"].dilation == (2, 2)
    # longest path on the layer graph: conv < dw < sep/depthwise < sep/pointwise; side branch right after bn
    d = {n: c.distance for n, c in by_name.items()}
    assert d["conv"] < d["dw"] < d["sep/depthwise"] < d["sep/pointwise"] and d["side"] == d["dw"]
    label = {"float32": "fp32", "float16": "fp16", "uint8": "uint8-quantised", "uint16": "uint16-quantised"}[dtype]
    assert loaded.precision == label and loaded.bn_folded is False


def test_uint8_dequantisation_is_q_times_scale_plus_min(tmp_path):
    q = np.arange(18, dtype=np.uint8).reshape(3, 3, 2, 1) * 7
    (tmp_path / "w.bin").write_bytes(q.tobytes())
    group = {"paths": ["w.bin"], "weights": [
        {"name": "k", "shape": [3, 3, 2, 1], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -3.0}}]}
    arrays, precision = decode_weights([group], tmp_path)
    np.testing.assert_array_equal(arrays["k"], q.astype(np.float32) * 0.5 - 3.0)
    assert precision["k"] == "uint8-quantised"


def test_unknown_quantisation_dtype_is_refused(tmp_path):
    (tmp_path / "w.bin").write_bytes(bytes(36))
    manifest = [{"paths": ["w.bin"], "weights": [
        {"name": "c/kernel", "shape": [3, 3, 1, 1], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}}]}]
    (tmp_path / "weights_manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match="unknown quantization dtype 'int4'"):
        read_tfjs("q", tmp_path / "weights_manifest.json")


def test_truncated_shard_is_a_clear_error(tmp_path):
    group = write_shards(tmp_path, [("c/kernel", np.ones((3, 3, 2, 2)), "float32")])
    (tmp_path / group["paths"][0]).write_bytes(b"\x00" * 10)
    (tmp_path / "m.json").write_text(json.dumps([group]))
    with pytest.raises(SourceError, match="truncated"):
        read_tfjs("t", tmp_path / "m.json")


def test_graph_model(tmp_path):
    f1 = RNG.normal(size=(3, 3, 3, 8)).astype(np.float32)
    f2 = RNG.normal(size=(3, 3, 8, 1)).astype(np.float32)
    f3 = RNG.normal(size=(1, 1, 8, 4)).astype(np.float32)
    group = write_shards(tmp_path, [("f1", f1, "float16"), ("f2", f2, "float32"), ("f3", f3, "uint8")])
    ints = lambda *v: {"list": {"i": [str(x) for x in v]}}  # noqa: E731
    s = lambda text: {"s": base64.b64encode(text.encode()).decode()}  # noqa: E731
    nodes = [
        {"name": "input", "op": "Placeholder"},
        {"name": "f1", "op": "Const"}, {"name": "f2", "op": "Const"}, {"name": "f3", "op": "Const"},
        {"name": "f1/read", "op": "Identity", "input": ["f1"]},
        {"name": "conv1/bn/FusedBatchNormV3", "op": "_FusedConv2D", "input": ["input", "f1/read"],
         "attr": {"strides": ints(1, 2, 2, 1), "data_format": s("NHWC"), "fused_ops": {"list": {"s": [s("BiasAdd")["s"]]}}}},
        {"name": "relu", "op": "Relu", "input": ["conv1/bn/FusedBatchNormV3"]},
        {"name": "dw", "op": "DepthwiseConv2dNative", "input": ["relu", "f2"], "attr": {"dilations": ints(1, 2, 2, 1)}},
        {"name": "add", "op": "AddV2", "input": ["dw", "relu"]},
        {"name": "pw", "op": "Conv2D", "input": ["add:0", "f3", "^relu"]},
    ]
    model = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": [group]}
    (tmp_path / "model.json").write_text(json.dumps(model))
    loaded = read_tfjs("g", tmp_path / "model.json", kind="tfjs-graph")
    c1, dw, pw = loaded.convs
    np.testing.assert_array_equal(c1.weight, f1.astype(np.float16).astype(np.float32).transpose(3, 2, 0, 1))
    assert dw.groups == 8 and dw.weight.shape == (8, 1, 3, 3) and dw.dilation == (2, 2)
    np.testing.assert_array_equal(dw.weight[:, 0], f2[:, :, :, 0].transpose(2, 0, 1))
    assert c1.stride == (2, 2)
    assert [c.distance for c in loaded.convs] == [1, 3, 5]
    assert loaded.precision == "fp16+fp32+uint8-quantised"
    assert loaded.bn_folded is True  # the conv carries the BN's name: the converter folded it
    assert [c.name for c in loaded.convs] == ["f1", "dw", "pw"]  # a fused conv: its weight's name


def test_fused_conv_is_named_by_its_convolution_not_its_activation(tmp_path):
    kernel = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    group = write_shards(tmp_path, [("model/conv2d/Conv2D_weights", kernel, "float32")])
    s = lambda text: {"s": base64.b64encode(text.encode()).decode()}  # noqa: E731
    nodes = [
        {"name": "input", "op": "Placeholder"},
        {"name": "model/conv2d/Conv2D_weights", "op": "Const"},
        {"name": "model/re_lu/Relu6", "op": "_FusedConv2D", "input": ["input", "model/conv2d/Conv2D_weights"],
         "attr": {"fused_ops": {"list": {"s": [s("BiasAdd")["s"], s("Relu6")["s"]]}}}},
    ]
    model = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": [group]}
    (tmp_path / "model.json").write_text(json.dumps(model))
    (conv,) = read_tfjs("g", tmp_path / "model.json", kind="tfjs-graph").convs
    assert conv.name == "model/conv2d/Conv2D"


def test_graph_distances_collapse_loops():
    nodes = [
        {"name": "x", "op": "Placeholder"},
        {"name": "enter", "op": "Enter", "input": ["x"]},
        {"name": "merge", "op": "Merge", "input": ["enter", "next"]},
        {"name": "body", "op": "Mul", "input": ["merge"]},
        {"name": "next", "op": "NextIteration", "input": ["body"]},
        {"name": "exit", "op": "Exit", "input": ["merge"]},
        {"name": "out", "op": "Relu", "input": ["exit"]},
        {"name": "c", "op": "Const"},
    ]
    d = graph_distances(nodes)
    assert d["x"] == 0 and d["enter"] == 1 and d["merge"] == d["body"] == d["next"] == 2
    assert d["exit"] == 3 and d["out"] == 4 and "c" not in d


def test_js_literals():
    text = "{a:1,'b':\"x\\\"y\",c:[.5,-1e-3,!0,!1,null,void 0],d:{e:-0}, 7:true}"
    assert parse_js_literal(text) == {"a": 1, "b": 'x"y', "c": [0.5, -1e-3, True, False, None, None],
                                      "d": {"e": 0}, "7": True}


def test_js_bundles_read_without_running_them(tmp_path):
    """model.min.js holds the JSON as a JS literal, each shard a base64 string literal."""
    kernel = RNG.normal(size=(3, 3, 2, 3)).astype(np.float32)
    group = write_shards(tmp_path, [("c/kernel", kernel, "uint8")])
    raw = (tmp_path / group["paths"][0]).read_bytes()
    (tmp_path / group["paths"][0]).unlink()
    wrapper = '!function(e){module.exports=e()}(function(){return {1:[function(e,a,n){a.exports=%s},{}]}});'
    (tmp_path / "group1-shard1.min.js").write_text(wrapper % ('"' + base64.b64encode(raw).decode() + '"'))
    q = group["weights"][0]["quantization"]
    literal = (
        "{modelTopology:{keras_version:\"2.2.4\",model_config:{class_name:\"Model\",config:{name:\"m\",layers:["
        "{name:\"in\",class_name:\"InputLayer\",config:{name:\"in\",sparse:!1},inbound_nodes:[]},"
        "{name:\"c\",class_name:\"Conv2D\",config:{name:\"c\",trainable:!0,strides:[1,1],dilation_rate:[1,1]},"
        "inbound_nodes:[[[\"in\",0,0,{}]]]}]}}},"
        f"weightsManifest:[{{paths:[\"group1-shard1\"],weights:[{{name:\"c/kernel\",shape:[3,3,2,3],dtype:\"float32\","
        f"quantization:{{min:{q['min']!r},scale:{q['scale']!r},dtype:\"uint8\"}}}}]}}]}}"
    )
    (tmp_path / "model.min.js").write_text(wrapper % literal)
    loaded = read_tfjs("js", tmp_path / "model.min.js", kind="tfjs-layers")
    np.testing.assert_array_equal(loaded.convs[0].weight, expected(group["weights"][0], kernel).transpose(3, 2, 0, 1))


def test_bare_weights_manifest_with_conv_order(tmp_path):
    weights = [("head/weights", RNG.normal(size=(1, 1, 4, 2)), "float32"),
               ("net/conv0/weights", RNG.normal(size=(3, 3, 3, 4)), "float32"),
               ("net/conv1_depthwise/depthwise_weights", RNG.normal(size=(3, 3, 4, 1)), "uint8")]
    (tmp_path / "m.json").write_text(json.dumps([write_shards(tmp_path, weights)]))
    loaded = read_tfjs("w", tmp_path / "m.json", kind="tfjs-weights", options={"conv_order": ["net/", "head/"]})
    assert [c.name for c in loaded.convs] == ["net/conv0/weights", "net/conv1_depthwise/depthwise_weights", "head/weights"]
    assert [c.groups for c in loaded.convs] == [1, 4, 1]
    assert loaded.depth_source == "execution order"
    with pytest.raises(SourceError, match="is a tfjs-weights file, the sheet says tfjs-graph"):
        read_tfjs("w", tmp_path / "m.json", kind="tfjs-graph")
