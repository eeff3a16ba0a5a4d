"""TensorFlow checkpoint variables, read without TensorFlow, from checkpoints written here.

The writer below follows the formats independently of the reader: a LevelDB table with
prefix-compressed keys, BundleEntryProto values, a data shard, and optionally the object
graph and a ``keras_metadata.pb`` with a functional model's config.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from filterdb.readers import read
from filterdb.errors import SourceError


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value


def block(entries: list[tuple[bytes, bytes]]) -> bytes:
    out, previous = bytearray(), b""
    for key, value in entries:
        shared = 0
        while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
            shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    return bytes(out) + struct.pack("<II", 0, 1)  # one restart point at 0, count 1


def table(entries: dict[bytes, bytes]) -> bytes:
    data = block(sorted(entries.items()))
    trailer = b"\x00" + b"\x00" * 4  # no compression, checksum (not checked)
    meta = block([])
    index = block([(max(entries), varint(0) + varint(len(data)))])
    meta_at = len(data) + 5
    index_at = meta_at + len(meta) + 5
    handles = varint(meta_at) + varint(len(meta)) + varint(index_at) + varint(len(index))
    footer = handles.ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    return data + trailer + meta + trailer + index + trailer + footer


def write_checkpoint(folder, tensors: dict[str, np.ndarray], strings: dict[str, bytes] | None = None):
    """variables.index + variables.data-00000-of-00001 holding float32 tensors and string scalars."""
    folder.mkdir(parents=True, exist_ok=True)
    data, entries = bytearray(), {b"": field(1, 1)}  # header entry: num_shards = 1
    for key, array in tensors.items():
        raw = np.ascontiguousarray(array, "<f4").tobytes()
        shape = b"".join(field(2, field(1, d)) for d in array.shape)
        entries[key.encode()] = field(1, 1) + field(2, shape) + field(4, len(data)) + field(5, len(raw))
        data += raw
    for key, text in (strings or {}).items():
        raw = varint(len(text)) + b"\x00" * 4 + text
        entries[key.encode()] = field(1, 7) + field(2, b"") + field(4, len(data)) + field(5, len(raw))
        data += raw
    (folder / "variables.index").write_bytes(table(entries))
    (folder / "variables.data-00000-of-00001").write_bytes(bytes(data))
    return folder / "variables.index"


RNG = np.random.default_rng(3)


def test_bare_checkpoint_kernels_and_depthwise(tmp_path):
    kernel = RNG.standard_normal((3, 3, 2, 4)).astype(np.float32)  # h, w, in, out
    depthwise = RNG.standard_normal((3, 3, 4, 2)).astype(np.float32)  # h, w, in, multiplier
    index = write_checkpoint(tmp_path / "variables", {
        "block/conv_a/kernel": kernel, "block/conv_a/bias": np.zeros(4, np.float32),
        "block/conv_b/depthwise_kernel": depthwise,
        "block/conv_a/kernel/.OPTIMIZER_SLOT/optimizer/m": kernel,
    })
    loaded = read("tf-variables", "tf", [index])
    a, b = loaded.convs
    assert a.name == "block/conv_a/kernel" and a.weight.shape == (4, 2, 3, 3)
    for o in range(4):
        for i in range(2):
            np.testing.assert_array_equal(a.weight[o, i], kernel[:, :, i, o])
    assert b.groups == 4 and b.weight.shape == (8, 1, 3, 3)
    np.testing.assert_array_equal(b.weight[2 * 3 + 1, 0], depthwise[:, :, 3, 1])
    assert loaded.depth_source == "execution order"


def object_graph(children_of: dict[int, list[tuple[str, int]]], variables: dict[int, tuple[str, str]]) -> bytes:
    nodes = []
    for node in range(max([*children_of, *variables]) + 1):
        body = b"".join(field(1, field(1, cid) + field(2, name)) for name, cid in children_of.get(node, []))
        if node in variables:
            full, key = variables[node]
            body += field(2, field(1, "VARIABLE_VALUE") + field(2, full) + field(3, key))
        nodes.append(field(1, body))
    return b"".join(nodes)


def test_keras_saved_model_graph_depth_and_transposed(tmp_path):
    k1 = RNG.standard_normal((3, 3, 1, 4)).astype(np.float32)
    kt = RNG.standard_normal((3, 3, 2, 4)).astype(np.float32)  # transposed: h, w, out, in
    k2 = RNG.standard_normal((3, 3, 4, 3)).astype(np.float32)
    key = "layer_with_weights-{}/kernel/.ATTRIBUTES/VARIABLE_VALUE".format
    graph = object_graph(
        {0: [("layer-0", 1), ("layer-1", 2), ("layer-2", 3), ("layer-3", 4),
             ("layer_with_weights-0", 2), ("layer_with_weights-1", 3), ("layer_with_weights-2", 4)],
         2: [("kernel", 5)], 3: [("kernel", 6)], 4: [("kernel", 7)]},
        {5: ("c1/kernel", key(0)), 6: ("up/kernel", key(1)), 7: ("c2/kernel", key(2))})
    model = tmp_path / "model"
    index = write_checkpoint(model / "variables", {key(0): k1, key(1): kt, key(2): k2},
                             {"_CHECKPOINTABLE_OBJECT_GRAPH": graph})
    conv = {"kernel_size": [3, 3], "strides": [1, 1], "dilation_rate": [1, 1], "groups": 1}
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
        {"class_name": "Conv2D", "name": "c1", "config": {**conv, "name": "c1"}, "inbound_nodes": [[["in", 0, 0, {}]]]},
        {"class_name": "Conv2DTranspose", "name": "up", "config": {**conv, "name": "up", "strides": [2, 2]},
         "inbound_nodes": [[["c1", 0, 0, {}]]]},
        {"class_name": "Conv2D", "name": "c2", "config": {**conv, "name": "c2", "dilation_rate": [2, 2]},
         "inbound_nodes": [[["c1", 0, 0, {}]]]},
    ]}}
    (model / "keras_metadata.pb").write_bytes(field(1, field(3, "root") + field(5, json.dumps(config))))
    loaded = read("tf-variables", "tf", [index])
    assert [c.name for c in loaded.convs] == ["c1", "up", "c2"] and loaded.depth_source == "graph"
    c1, up, c2 = loaded.convs
    assert up.distance == c2.distance > c1.distance  # both one step after c1
    assert up.stride == (2, 2) and c2.dilation == (2, 2)
    assert up.weight.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(up.weight[1, 3], kt[:, :, 1, 3])
    np.testing.assert_array_equal(c2.weight[2, 1], k2[:, :, 1, 2])


def test_truncated_and_malformed_checkpoints(tmp_path):
    index = write_checkpoint(tmp_path / "v", {"conv/kernel": np.ones((3, 3, 2, 2), np.float32)})
    data = index.with_name("variables.data-00000-of-00001")
    good_index, good_data = index.read_bytes(), data.read_bytes()
    cases = {
        "no table magic number": lambda: index.write_bytes(good_index[:-10]),
        "data file": lambda: data.write_bytes(good_data[:-5]),
        "less than a table footer": lambda: index.write_bytes(good_index[:20]),
        "data shard 0 .* is missing": lambda: data.unlink(),
    }
    for message, damage in cases.items():
        index.write_bytes(good_index)
        data.write_bytes(good_data)
        damage()
        with pytest.raises(SourceError, match=f"not a readable TensorFlow checkpoint .*{message}") as info:
            read("tf-variables", "tf", [index])
        assert "\n" not in str(info.value)
