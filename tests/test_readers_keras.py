"""Keras HDF5 files written here with h5py in Keras 3 and Keras 2 layouts, read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from filterdb.readers import read
from filterdb.errors import SourceError

h5py = pytest.importorskip("h5py")
RNG = np.random.default_rng(5)


def add_vars(group, name, *arrays):
    variables = group.create_group("vars")
    variables.attrs["name"] = name
    for i, array in enumerate(arrays):
        variables.create_dataset(str(i), data=array)


def test_keras3_weights_file(tmp_path):
    k1 = RNG.standard_normal((3, 3, 3, 4)).astype(np.float32)
    kd = RNG.standard_normal((3, 3, 4, 1)).astype(np.float32)
    kt = RNG.standard_normal((3, 3, 2, 4)).astype(np.float32)  # h, w, out, in
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        block = f.create_group("block10")  # natural order: after block2
        inner = block.create_group("layers")
        add_vars(inner.create_group("conv2d_transpose"), "up", kt, np.zeros(2))
        add_vars(block, "sequential_1")
        block2 = f.create_group("block2").create_group("layers")
        add_vars(block2.create_group("conv2d"), "c1", k1, np.zeros(4))
        add_vars(block2.create_group("depthwise_conv2d"), "dw", kd)
        add_vars(block2.create_group("batch_normalization"), "bn", np.ones(4), np.zeros(4))
        add_vars(f, "model")
    loaded = read("keras-h5", "k", [path])
    assert [c.name for c in loaded.convs] == ["c1", "dw", "up"]
    c1, dw, up = loaded.convs
    np.testing.assert_array_equal(c1.weight[3, 2], k1[:, :, 2, 3])
    assert dw.groups == 4 and dw.weight.shape == (4, 1, 3, 3)
    np.testing.assert_array_equal(dw.weight[1, 0], kd[:, :, 1, 0])
    assert up.weight.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(up.weight[1, 3], kt[:, :, 1, 3])
    assert loaded.depth_source == "execution order"


def test_keras2_whole_model_graph(tmp_path):
    k1 = RNG.standard_normal((3, 3, 1, 4)).astype(np.float32)
    k2 = RNG.standard_normal((3, 3, 4, 2)).astype(np.float32)
    k3 = RNG.standard_normal((1, 1, 6, 2)).astype(np.float32)
    conv = {"strides": [1, 1], "dilation_rate": [1, 1]}
    layers = [
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
        {"class_name": "Conv2D", "name": "a", "config": {**conv, "name": "a", "strides": [2, 2]},
         "inbound_nodes": [[["in", 0, 0, {}]]]},
        {"class_name": "Conv2D", "name": "b", "config": {**conv, "name": "b"}, "inbound_nodes": [[["a", 0, 0, {}]]]},
        {"class_name": "Concatenate", "name": "cat", "config": {"name": "cat"},
         "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]},
        {"class_name": "Conv2D", "name": "c", "config": {**conv, "name": "c"}, "inbound_nodes": [[["cat", 0, 0, {}]]]},
    ]
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"layers": layers}})
        weights = f.create_group("model_weights")
        for name, kernel in (("c", k3), ("a", k1), ("b", k2)):
            group = weights.create_group(name).create_group(name)
            group.create_dataset("kernel:0", data=kernel)
            group.create_dataset("bias:0", data=np.zeros(kernel.shape[-1]))
            weights[name].attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
    loaded = read("keras-h5", "k", [path])
    assert [c.name for c in loaded.convs] == ["a", "b", "c"] and loaded.depth_source == "graph"
    a, b, c = loaded.convs
    assert a.distance < b.distance < c.distance and a.stride == (2, 2)
    np.testing.assert_array_equal(b.weight[1, 3], k2[:, :, 3, 1])


def test_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "m.weights.h5"
    with h5py.File(path, "w") as f:
        add_vars(f.create_group("conv2d"), "c", RNG.standard_normal((3, 3, 8, 64)).astype(np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="not a readable Keras HDF5 file") as info:
        read("keras-h5", "k", [path])
    assert "\n" not in str(info.value)
    with h5py.File(path, "w") as f:
        add_vars(f.create_group("dense"), "d", np.ones((4, 2)))
    with pytest.raises(SourceError, match="no 4-D convolution kernel"):
        read("keras-h5", "k", [path])
