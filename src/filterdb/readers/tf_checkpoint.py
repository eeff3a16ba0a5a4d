"""TensorFlow checkpoints and SavedModel variables (``variables.index`` + ``variables.data-*``), without TensorFlow.

``variables.index`` is a LevelDB-style sorted string table: data blocks of prefix-
compressed (key, value) entries with a restart array, an index block pointing at them,
and a 48-byte footer ending in the magic 0xdb4775248b80fb57. Each value is a
``BundleEntryProto`` (dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5), read
here with a small protobuf decoder; the tensor's bytes are ``size`` bytes at ``offset``
in ``variables.data-{shard:05d}-of-{n:05d}``. Blocks must be uncompressed (TensorFlow
writes them so).

Which 4-D variables are convolutions, and in what order:

- with ``keras_metadata.pb`` next to ``variables/`` (Keras SavedModels) whose root is a
  functional or Sequential model: each layer of the config named Conv2D, Conv2DTranspose,
  DepthwiseConv2D or SeparableConv2D, its variables found through the checkpoint's object
  graph (``_CHECKPOINTABLE_OBJECT_GRAPH``, child ``layer-K`` of the root), its strides,
  dilation and groups from the config, depth = longest path in the config's graph;
- otherwise (subclassed models, bare checkpoints): every 4-D ``kernel`` /
  ``depthwise_kernel`` variable, in the order the model tracks its objects (a depth-
  first walk of the object graph: execution order), named by its ``full_name``.

Kernels are stored height × width × in × out (see :mod:`.keras_graph`).
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .keras_graph import config_layers, keras_kernel

TABLE_MAGIC = 0xDB4775248B80FB57
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 6: "i1", 9: "<i8", 10: "?", 14: "<u2", 19: "<f2"}
_PRECISION = {1: "fp32", 2: "fp64", 14: "bf16", 19: "fp16"}


class Malformed(ValueError):
    """The file does not follow the format (the message says where)."""


# ---------------------------------------------------------------- protobuf and varints

def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise Malformed("a varint runs past the end of its buffer")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise Malformed("a varint longer than 10 bytes")


def proto_fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varints/fixed, bytes for length-delimited."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise Malformed(f"field {field} runs past the end of its message")
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        else:
            raise Malformed(f"protobuf wire type {wire} (field {field})")
        if pos > len(data):
            raise Malformed("a fixed-size field runs past the end of its message")
        yield field, value


# ---------------------------------------------------------------- the sorted string table

def _block(data: bytes, offset: int, size: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) entries of one table block (prefix-compressed keys)."""
    if offset + size + 5 > len(data):
        raise EOFError(f"a block at byte {offset} ({size} bytes) runs past the end of the index")
    if data[offset + size] != 0:
        raise Malformed(f"block at byte {offset} is compressed (type {data[offset + size]}); TensorFlow writes none")
    block = data[offset : offset + size]
    if size < 4:
        raise Malformed(f"block at byte {offset} is too short")
    restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * restarts
    if end < 0:
        raise Malformed(f"block at byte {offset} has a bad restart count")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + length > end:
            raise Malformed(f"entry at byte {offset + pos} of the index runs past its block")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


def read_table(data: bytes) -> dict[str, bytes]:
    """All (key, value) pairs of a LevelDB-format table (the checkpoint index)."""
    if len(data) < 48:
        raise EOFError(f"the index has {len(data)} bytes, less than a table footer")
    if int.from_bytes(data[-8:], "little") != TABLE_MAGIC:
        raise Malformed("no table magic number at the end (truncated, or not a checkpoint index)")
    footer = data[-48:-8]
    _meta_offset, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries: dict[str, bytes] = {}
    for _last_key, handle in _block(data, index_offset, index_size):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block(data, offset, size):
            entries[key.decode("utf-8", "replace")] = value
    return entries


def bundle_entry(value: bytes) -> dict:
    """A BundleEntryProto: dtype, shape, shard_id, offset, size."""
    entry = {"dtype": 0, "shape": [], "shard_id": 0, "offset": 0, "size": 0, "slices": False}
    for field, v in proto_fields(value):
        if field == 1:
            entry["dtype"] = v
        elif field == 2:
            for f2, dim in proto_fields(v):
                if f2 == 2:
                    entry["shape"].append(next((int(x) for f3, x in proto_fields(dim) if f3 == 1), 0))
        elif field in (3, 4, 5):
            entry[{3: "shard_id", 4: "offset", 5: "size"}[field]] = v
        elif field == 7:
            entry["slices"] = True
    return entry


class Checkpoint:
    """The index of a TensorFlow checkpoint and lazy access to its tensors."""

    def __init__(self, index_path: Path):
        self.index_path = index_path
        self.entries = {k: bundle_entry(v) for k, v in read_table(index_path.read_bytes()).items() if k}
        self.prefix = str(index_path)[: -len(".index")]
        self.num_shards = max((e["shard_id"] for e in self.entries.values()), default=0) + 1
        self._shards: dict[int, bytes] = {}

    def _shard(self, shard: int) -> bytes:
        if shard not in self._shards:
            candidates = sorted(Path(self.prefix).parent.glob(f"{Path(self.prefix).name}.data-{shard:05d}-of-*"))
            if not candidates:
                raise FileNotFoundError(f"data shard {shard} of {self.index_path.name} is missing")
            self._shards[shard] = candidates[0].read_bytes()
        return self._shards[shard]

    def raw(self, key: str) -> bytes:
        entry = self.entries[key]
        data = self._shard(entry["shard_id"])
        if entry["offset"] + entry["size"] > len(data):
            raise EOFError(f"tensor {key!r} reaches byte {entry['offset'] + entry['size']} of a "
                           f"{len(data)}-byte data file")
        return data[entry["offset"] : entry["offset"] + entry["size"]]

    def tensor(self, key: str) -> np.ndarray:
        entry = self.entries[key]
        if entry["slices"]:
            raise Malformed(f"tensor {key!r} is stored in slices (partitioned variables are not supported)")
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise Malformed(f"tensor {key!r} has dtype {entry['dtype']}, not a number type")
        raw = self.raw(key)
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        if count * np.dtype(dtype).itemsize != len(raw):
            raise Malformed(f"tensor {key!r} of shape {entry['shape']} has {len(raw)} bytes")
        values = np.frombuffer(raw, dtype).reshape(entry["shape"])
        if entry["dtype"] == 14:  # bfloat16: the high half of a float32
            values = (values.astype(np.uint32) << 16).view(np.float32)
        return values

    def string_scalar(self, key: str) -> bytes:
        """A scalar DT_STRING: varint length, 4-byte checksum of the lengths, then the bytes."""
        raw = self.raw(key)
        length, pos = _varint(raw, 0)
        return raw[pos + 4 : pos + 4 + length]


# ---------------------------------------------------------------- object graph

def object_graph(ckpt: Checkpoint) -> list[dict] | None:
    """Nodes [{children: [(name, id)], keys: {attribute name: checkpoint key}, full_names}] or None."""
    if OBJECT_GRAPH_KEY not in ckpt.entries:
        return None
    nodes = []
    for field, node in proto_fields(ckpt.string_scalar(OBJECT_GRAPH_KEY)):
        if field != 1:
            continue
        children, keys, full = [], {}, {}
        for f, v in proto_fields(node):
            if f == 1:
                ref = dict(proto_fields(v))
                children.append((bytes(ref.get(2, b"")).decode(), int(ref.get(1, 0))))
            elif f == 2:
                attr = dict(proto_fields(v))
                name = bytes(attr.get(1, b"")).decode()
                keys[name] = bytes(attr.get(3, b"")).decode()
                full[name] = bytes(attr.get(2, b"")).decode()
        nodes.append({"children": children, "keys": keys, "full_names": full})
    return nodes


def _variable_key(nodes: list[dict], node_id: int, child: str) -> str | None:
    for name, cid in nodes[node_id]["children"]:
        if name == child and cid < len(nodes):
            return nodes[cid]["keys"].get("VARIABLE_VALUE")
    return None


def _child(nodes: list[dict], node_id: int, name: str) -> int | None:
    return next((cid for n, cid in nodes[node_id]["children"] if n == name and cid < len(nodes)), None)


def _tracking_order(nodes: list[dict]) -> list[str]:
    """Checkpoint keys of variables in a depth-first walk of the object graph from the root."""
    order, seen, stack = [], set(), [0]
    while stack:
        node = stack.pop()
        if node in seen or node >= len(nodes):
            continue
        seen.add(node)
        key = nodes[node]["keys"].get("VARIABLE_VALUE")
        if key:
            order.append(key)
        stack.extend(cid for name, cid in reversed(nodes[node]["children"]) if name not in ("optimizer", "keras_api"))
    return order


# ---------------------------------------------------------------- keras metadata

def keras_root_config(path: Path) -> dict | None:
    """The root model's config from ``keras_metadata.pb`` (field 1: nodes; node field 3: path, 5: JSON)."""
    for field, node in proto_fields(path.read_bytes()):
        if field != 1:
            continue
        parts = dict(proto_fields(node))
        if bytes(parts.get(3, b"")) == b"root":
            meta = json.loads(bytes(parts.get(5, b"{}")).decode("utf-8"))
            return meta if isinstance(meta.get("config"), dict) and "layers" in meta["config"] else None
    return None


# ---------------------------------------------------------------- the reader

def _index_file(model_id: str, paths: Sequence[str | Path]) -> Path:
    for p in map(Path, paths):
        if p.name.endswith(".index"):
            return p
        if p.is_dir() and (p / "variables" / "variables.index").is_file():
            return p / "variables" / "variables.index"
    raise SourceError(f"model {model_id!r}: no checkpoint .index among {', '.join(map(str, paths))}")


def read_tf_variables(model_id: str, paths: Sequence[str | Path]) -> LoadedModel:
    """Conv layers of a TensorFlow checkpoint / SavedModel's variables, weights (out, in/groups, kh, kw)."""
    index = _index_file(model_id, paths)
    if not index.is_file():
        raise SourceError(f"model {model_id!r}: checkpoint index {str(index)!r} does not exist")
    metadata = next((Path(p) for p in paths if Path(p).name == "keras_metadata.pb"), None)
    if metadata is None and index.parent.name == "variables" and (index.parent.parent / "keras_metadata.pb").is_file():
        metadata = index.parent.parent / "keras_metadata.pb"
    try:
        ckpt = Checkpoint(index)
        nodes = object_graph(ckpt)
        root = keras_root_config(metadata) if metadata is not None and nodes else None
        found, depth_source = (_from_config(ckpt, nodes, root) if root else _from_variables(ckpt, nodes))
        precisions = {_PRECISION.get(ckpt.entries[key]["dtype"], "fp32") for _, key in found}
        convs = [conv for conv, _ in found]
    except (EOFError, Malformed, FileNotFoundError, ValueError, KeyError, UnicodeDecodeError, struct.error) as exc:
        raise SourceError(
            f"model {model_id!r}: {str(index)!r} is not a readable TensorFlow checkpoint "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from None
    if not convs:
        raise SourceError(f"model {model_id!r}: {str(index)!r} has no 4-D convolution kernel")
    return LoadedModel(model=model_id, convs=convs, depth_source=depth_source, precision="+".join(sorted(precisions)),
                       bn_folded=False,
                       source_detail={"format": "TensorFlow checkpoint", "file": index.name,
                                      "keras_metadata": metadata is not None and root is not None})


def _from_config(ckpt: Checkpoint, nodes: list[dict], root: dict) -> tuple[list[tuple[ConvLayer, str]], str]:
    """(conv, checkpoint key) of each conv layer of a Keras config, and the depth source."""
    layers, graph = config_layers(root)
    convs = []
    for index, layer in enumerate(layers):
        if layer["kind"] is None:
            continue
        node = _child(nodes, 0, f"layer-{index}")
        if node is None:
            raise Malformed(f"layer {index} ({layer['name']}) of the Keras config is not in the object graph")
        parts = [("depthwise_kernel", "depthwise"), ("pointwise_kernel", "conv")] if layer["kind"] == "separable" else [
            ("depthwise_kernel" if layer["kind"] == "depthwise" else "kernel", layer["kind"])]
        for step, (variable, kind) in enumerate(parts):
            key = _variable_key(nodes, node, variable)
            if key is None:
                raise Malformed(f"layer {layer['name']} has no variable {variable!r} in the object graph")
            weight, groups = keras_kernel(ckpt.tensor(key), kind, layer["groups"])
            convs.append((ConvLayer(name=f"{layer['name']}{'/pointwise' if step else ''}",
                                    weight=np.ascontiguousarray(weight, np.float32), groups=groups,
                                    stride=layer["stride"] if step == 0 else (1, 1),
                                    dilation=layer["dilation"] if step == 0 else (1, 1),
                                    distance=2 * layer["distance"] + step), key))
    return convs, "graph" if graph else "execution order"


def _from_variables(ckpt: Checkpoint, nodes: list[dict] | None) -> tuple[list[tuple[ConvLayer, str]], str]:
    """(conv, checkpoint key) of every 4-D kernel variable in tracking order, and the depth source."""
    keys = [k for k in ckpt.entries if len(ckpt.entries[k]["shape"]) == 4 and "OPTIMIZER_SLOT" not in k
            and re.search(r"(^|/)(depthwise_)?kernel(/\.ATTRIBUTES/VARIABLE_VALUE)?$", k)]
    full_names: dict[str, str] = {}
    if nodes:
        ordered = [k for k in _tracking_order(nodes) if k in keys]
        keys = ordered + [k for k in keys if k not in ordered]
        for node in nodes:
            if "VARIABLE_VALUE" in node["keys"]:
                full_names[node["keys"]["VARIABLE_VALUE"]] = node["full_names"]["VARIABLE_VALUE"]
    convs = []
    for key in keys:
        name = full_names.get(key) or key.replace("/.ATTRIBUTES/VARIABLE_VALUE", "")
        kind = "depthwise" if "depthwise_kernel" in key else "transposed" if "transpose" in name.lower() else "conv"
        weight, groups = keras_kernel(ckpt.tensor(key), kind)
        convs.append((ConvLayer(name=name.removesuffix(":0"), weight=np.ascontiguousarray(weight, np.float32),
                                groups=groups, distance=len(convs)), key))
    return convs, "execution order"


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): ``paths`` are the model's files."""
    return read_tf_variables(model_id, paths)
