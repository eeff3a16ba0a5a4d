"""TF.js models: layers models, graph models and bare weight manifests, read without JavaScript.

A TF.js model is a ``model.json`` (topology + ``weightsManifest``) and binary shards.
Weights are float32, float16, int32, or quantised uint8/uint16 with
``quantization: {dtype, scale, min}``, dequantised as ``q * scale + min`` (the TF.js
converter's affine quantisation). Some packages embed the files in browserify bundles
(``model.min.js``, ``group1-shard1of1.min.js``): the JSON as a JavaScript object literal
and each shard as a base64 string literal. Those literals are parsed here, never
evaluated.

Kernels are stored HWIO ``(kh, kw, in, out)``; depthwise kernels ``(kh, kw, in, mult)``.
Both come out OIHW ``(out, in // groups, kh, kw)``; a depthwise layer has
``groups = in`` and ``out = in * mult``, output channel ``c * mult + m`` (TF's order).
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .graph import longest_distances

# bytes per element as stored, and numpy dtype, of each storage dtype
_STORED = {
    "float32": ("<f4", "fp32"),
    "float16": ("<f2", "fp16"),
    "int32": ("<i4", "int32"),
    "uint8": ("u1", "uint8-quantised"),
    "uint16": ("<u2", "uint16-quantised"),
    "bool": ("u1", "bool"),
    "complex64": ("<c8", "complex64"),
}
_QUANT_DTYPES = {"uint8": "u1", "uint16": "<u2", "float16": "<f2"}

_GRAPH_CONV_OPS = {"Conv2D", "_FusedConv2D"}
_GRAPH_DEPTHWISE_OPS = {"DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
_PASSTHROUGH_OPS = {"Identity", "Switch", "Enter", "Merge"}
_BN_OPS = {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "BatchNormWithGlobalNormalization"}


# --------------------------------------------------------------------------- JS literals

class _JSParser:
    """A parser of JavaScript literals as minifiers write them (no evaluation).

    Understands objects with bare, quoted or numeric keys, arrays, strings in single or
    double quotes, numbers (``.5``, ``-1e-3``), ``!0``/``!1`` (true/false), ``null``,
    ``void 0``, ``true``/``false``. Anything else raises ValueError.
    """

    _NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
    _IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
    _ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}

    def __init__(self, text: str, pos: int = 0):
        self.text = text
        self.pos = pos

    def _skip(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in " \t\r\n":
            self.pos += 1

    def value(self) -> Any:
        self._skip()
        text, pos = self.text, self.pos
        c = text[pos]
        if c == "{":
            return self._object()
        if c == "[":
            return self._array()
        if c in "\"'":
            return self._string()
        if text.startswith("!0", pos):
            self.pos += 2
            return True
        if text.startswith("!1", pos):
            self.pos += 2
            return False
        if text.startswith("void 0", pos):
            self.pos += 6
            return None
        for word, val in (("null", None), ("true", True), ("false", False)):
            if text.startswith(word, pos) and not text[pos + len(word) : pos + len(word) + 1].isalnum():
                self.pos += len(word)
                return val
        m = self._NUMBER.match(text, pos)
        if m:
            self.pos = m.end()
            s = m.group(0)
            return float(s) if any(ch in s for ch in ".eE") else int(s)
        raise ValueError(f"unexpected JavaScript at offset {pos}: {text[pos:pos + 40]!r}")

    def _string(self) -> str:
        text = self.text
        quote = text[self.pos]
        start = self.pos + 1
        end = text.find(quote, start)
        # fast path: no escapes (base64 shards are megabytes long)
        if end != -1 and "\\" not in text[start:end]:
            self.pos = end + 1
            return text[start:end]
        out, i = [], start
        while True:
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            if ch == "\\":
                nxt = text[i + 1]
                if nxt == "u":
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                if nxt == "x":
                    out.append(chr(int(text[i + 2 : i + 4], 16)))
                    i += 4
                    continue
                out.append(self._ESCAPES.get(nxt, nxt))
                i += 2
                continue
            out.append(ch)
            i += 1

    def _object(self) -> dict:
        self.pos += 1
        result: dict = {}
        while True:
            self._skip()
            if self.text[self.pos] == "}":
                self.pos += 1
                return result
            c = self.text[self.pos]
            if c in "\"'":
                key = self._string()
            else:
                m = self._IDENT.match(self.text, self.pos) or self._NUMBER.match(self.text, self.pos)
                if not m:
                    raise ValueError(f"bad object key at offset {self.pos}")
                key = m.group(0)
                self.pos = m.end()
            self._skip()
            if self.text[self.pos] != ":":
                raise ValueError(f"expected ':' at offset {self.pos}")
            self.pos += 1
            result[key] = self.value()
            self._skip()
            if self.text[self.pos] == ",":
                self.pos += 1

    def _array(self) -> list:
        self.pos += 1
        result: list = []
        while True:
            self._skip()
            if self.text[self.pos] == "]":
                self.pos += 1
                return result
            result.append(self.value())
            self._skip()
            if self.text[self.pos] == ",":
                self.pos += 1


def parse_js_literal(text: str, pos: int = 0) -> Any:
    """The JavaScript literal starting at ``text[pos]`` as Python data (never evaluated)."""
    return _JSParser(text, pos).value()


_EXPORT = re.compile(r"exports\s*=\s*(?=[{\"'])")


def js_module_value(path: Path) -> Any:
    """The literal assigned to ``exports`` in a bundled ``.js`` file (object or string)."""
    text = Path(path).read_text(encoding="utf-8", errors="strict")
    m = _EXPORT.search(text)
    if m is None:
        raise ValueError(f"{path}: no 'exports = <literal>' found; not a bundled TF.js file")
    return parse_js_literal(text, m.end())


# --------------------------------------------------------------------------- files

def read_model_json(path: Path) -> Any:
    """model.json, a weights manifest, or the same embedded in a ``.js`` bundle."""
    path = Path(path)
    if path.suffix == ".js":
        return js_module_value(path)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _shard_bytes(folder: Path, name: str) -> bytes:
    """One shard's bytes: the file itself, or the base64 literal of ``name.min.js``/``name.js``."""
    for candidate in (name, name + ".min.js", name + ".js"):
        path = folder / candidate
        if path.is_file():
            if path.suffix == ".js":
                value = js_module_value(path)
                if not isinstance(value, str):
                    raise ValueError(f"{path}: the bundle exports no base64 string")
                return base64.b64decode(value, validate=True)
            return path.read_bytes()
    raise FileNotFoundError(f"weights shard {name!r} not found in {folder}")


def _element_count(shape: Iterable[int]) -> int:
    return int(math.prod(int(s) for s in shape))


def decode_weights(groups: list[dict], folder: Path, wanted: set[str] | None = None) -> tuple[dict, dict]:
    """Weights of a ``weightsManifest``: ({name: float32/int array}, {name: stored precision}).

    groups: the manifest's groups, each ``{"paths": [...], "weights": [...]}``; the
    shards of a group are concatenated in order. ``wanted``: names to decode (others are
    skipped, but their bytes still counted). Raises ValueError on an unknown dtype or
    quantisation dtype, or shards shorter than the manifest says.
    """
    arrays: dict[str, np.ndarray] = {}
    precision: dict[str, str] = {}
    for group in groups:
        buffer = b"".join(_shard_bytes(folder, p) for p in group.get("paths", []))
        offset = 0
        for spec in group.get("weights", []):
            name, dtype, shape = spec["name"], spec.get("dtype", "float32"), spec.get("shape", [])
            count = _element_count(shape)
            quant = spec.get("quantization")
            if dtype == "string":  # each string: uint32 length, then bytes
                for _ in range(count):
                    (length,) = np.frombuffer(buffer, "<u4", 1, offset)
                    offset += 4 + int(length)
                continue
            if quant:
                qtype = quant.get("dtype")
                if qtype not in _QUANT_DTYPES:
                    raise ValueError(
                        f"weight {name!r}: unknown quantization dtype {qtype!r} "
                        f"(known: {', '.join(_QUANT_DTYPES)})"
                    )
                stored, label = _QUANT_DTYPES[qtype], ("fp16" if qtype == "float16" else f"{qtype}-quantised")
            else:
                if dtype not in _STORED:
                    raise ValueError(f"weight {name!r}: unknown dtype {dtype!r}")
                stored, label = _STORED[dtype]
            nbytes = count * np.dtype(stored).itemsize
            if offset + nbytes > len(buffer):
                raise ValueError(
                    f"weight {name!r} needs bytes {offset}..{offset + nbytes} but the shards of "
                    f"{group.get('paths')} hold {len(buffer)}: truncated or wrong shard files"
                )
            if wanted is None or name in wanted:
                raw = np.frombuffer(buffer, stored, count, offset)
                if quant and qtype != "float16":
                    values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                elif quant or dtype in ("float32",):
                    values = raw.astype(np.float32)
                else:
                    values = raw.copy()
                arrays[name] = values.reshape([int(s) for s in shape])
                precision[name] = label
            offset += nbytes
    return arrays, precision


def hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, in, out) → (out, in, kh, kw)."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def depthwise_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """(kh, kw, in, mult) → (in * mult, 1, kh, kw); output channel c * mult + m, as TF orders them."""
    kh, kw, cin, mult = kernel.shape
    return np.ascontiguousarray(np.transpose(kernel, (2, 3, 0, 1)).reshape(cin * mult, 1, kh, kw))


def _precision_label(labels: Iterable[str]) -> str:
    distinct = sorted(set(labels))
    return "+".join(distinct) if distinct else "fp32"


# --------------------------------------------------------------------------- layers models

def _keras_config(topology: dict) -> tuple[str, Any]:
    """(class_name, config) of the model inside a layers-model topology."""
    model = topology.get("model_config", topology)
    return model.get("class_name", ""), model.get("config", {})


def _inbound_names(inbound: Any) -> list[str]:
    """Layer names that feed a Keras layer, from Keras 2 lists or Keras 3 ``keras_history``."""
    names: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if "keras_history" in x:
                names.append(str(x["keras_history"][0]))
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            if len(x) >= 3 and isinstance(x[0], str) and isinstance(x[1], int):
                names.append(x[0])
                return
            for v in x:
                walk(v)

    walk(inbound)
    return names


def _layer_list(class_name: str, config: Any) -> tuple[list[dict], bool]:
    """The layers of a Keras model config, and whether they form a Sequential chain."""
    if class_name == "Sequential":
        layers = config["layers"] if isinstance(config, dict) else config
        return list(layers), True
    return list(config.get("layers", [])), False


def _find_weight(arrays: dict, layer: str, suffix: str) -> str | None:
    exact = f"{layer}/{suffix}"
    if exact in arrays:
        return exact
    tail = f"/{layer}/{suffix}"
    matches = [k for k in arrays if k.endswith(tail)]
    return matches[0] if len(matches) == 1 else None


def _layers_model_convs(model_id: str, topology: dict, arrays: dict, precision: dict) -> tuple[list[ConvLayer], list[str], bool]:
    """Conv layers of a Keras layers model, with longest-path distances on the layer graph,
    their precision labels, and whether the model is a Sequential chain."""
    class_name, config = _keras_config(topology)
    layers, sequential = _layer_list(class_name, config)
    distance: dict[str, int] = {}
    convs: list[ConvLayer] = []
    labels: list[str] = []
    for index, layer in enumerate(layers):
        cls = layer.get("class_name", "")
        cfg = layer.get("config", {})
        name = cfg.get("name") or layer.get("name")
        if sequential:
            distance[name] = index
        else:
            parents = [distance[p] for p in _inbound_names(layer.get("inbound_nodes", [])) if p in distance]
            distance[name] = 1 + max(parents, default=-1)
        if cls in ("Model", "Functional", "Sequential"):
            raise SourceError(
                f"model {model_id!r}: nested Keras model {name!r} inside a layers model is not supported"
            )
        stride = tuple(int(s) for s in cfg.get("strides", (1, 1)))
        dilation = tuple(int(d) for d in cfg.get("dilation_rate", (1, 1)))
        pieces: list[tuple[str, np.ndarray, int]] = []
        if cls == "Conv2D":
            key = _find_weight(arrays, name, "kernel")
            if key is None:
                raise SourceError(f"model {model_id!r}: no weights for Conv2D layer {name!r} in the manifest")
            groups = int(cfg.get("groups", 1) or 1)
            pieces.append((name, hwio_to_oihw(arrays[key]), groups))
            labels.append(precision[key])
        elif cls in ("DepthwiseConv2D", "SeparableConv2D"):
            key = _find_weight(arrays, name, "depthwise_kernel")
            if key is None:
                raise SourceError(f"model {model_id!r}: no depthwise weights for layer {name!r} in the manifest")
            weight = depthwise_to_oihw(arrays[key])
            pieces.append((f"{name}/depthwise" if cls == "SeparableConv2D" else name, weight, arrays[key].shape[2]))
            labels.append(precision[key])
            if cls == "SeparableConv2D":
                pkey = _find_weight(arrays, name, "pointwise_kernel")
                pieces.append((f"{name}/pointwise", hwio_to_oihw(arrays[pkey]), 1))
                labels.append(precision[pkey])
        for i, (piece_name, weight, groups) in enumerate(pieces):
            convs.append(
                ConvLayer(
                    name=piece_name,
                    weight=weight,
                    groups=int(groups),
                    stride=stride if i == 0 else (1, 1),
                    dilation=dilation if i == 0 else (1, 1),
                    # a separable conv's pointwise half runs right after its depthwise half
                    distance=2 * distance[name] + i,
                )
            )
    return convs, labels, sequential


# --------------------------------------------------------------------------- graph models

def _attr_ints(attr: dict, key: str) -> list[int] | None:
    value = attr.get(key, {}).get("list", {}).get("i")
    return [int(v) for v in value] if value else None


def _attr_string(attr: dict, key: str, default: str) -> str:
    value = attr.get(key, {}).get("s")
    return base64.b64decode(value).decode() if value else default


def _attr_strings(attr: dict, key: str) -> list[str]:
    return [base64.b64decode(v).decode() for v in attr.get(key, {}).get("list", {}).get("s", [])]


def _input_name(ref: str) -> str | None:
    """Node name of a graph input reference (``name``, ``name:1``); None for control inputs."""
    if ref.startswith("^"):
        return None
    return ref.rsplit(":", 1)[0] if re.search(r":\d+$", ref) else ref


def graph_distances(nodes: list[dict]) -> dict[str, int]:
    """Longest-path distance of each node from the graph inputs (Placeholder nodes)."""
    by_name = {n["name"]: n for n in nodes}
    parents = {
        n["name"]: [p for p in (_input_name(r) for r in n.get("input", [])) if p in by_name] for n in nodes
    }
    sources = {n["name"] for n in nodes if n.get("op") == "Placeholder"}
    return longest_distances(parents, sources)


_BN_NAME = re.compile(r"batch_?norm|(^|/)[a-z0-9_]*_bn(/|$)|(^|/)bn(/|$)", re.IGNORECASE)


def _unfolded_batchnorm(nodes: list[dict], by_name: dict) -> bool:
    """Whether some BatchNorm still runs after a conv as its own op (BN op or BN-named Mul/Add)."""
    conv_ops = _GRAPH_CONV_OPS | _GRAPH_DEPTHWISE_OPS
    for node in nodes:
        op = node.get("op")
        if op in _BN_OPS:
            return True
        if op in ("Mul", "Add", "AddV2", "Sub") and _BN_NAME.search(node["name"]):
            for ref in node.get("input", []):
                parent = by_name.get(_input_name(ref) or "", {})
                while parent.get("op") in ("Identity", "BiasAdd"):
                    parent = by_name.get(_input_name(parent["input"][0]) or "", {})
                if parent.get("op") in conv_ops:
                    return True
    return False


def graph_bn_folded(nodes: list[dict]) -> bool:
    """True when the graph shows BatchNorm folded into its convs by the converter.

    Evidence: no BN runs on a conv output as its own op, and some conv node carries a
    BatchNorm name (the converter names a fused conv after the last op it absorbed).
    A graph without any BN trace gives False: nothing says a BN was folded.
    """
    by_name = {n["name"]: n for n in nodes}
    if _unfolded_batchnorm(nodes, by_name):
        return False
    conv_ops = _GRAPH_CONV_OPS | _GRAPH_DEPTHWISE_OPS
    return any(n.get("op") in conv_ops and _BN_NAME.search(n["name"]) for n in nodes) or any(
        "FusedBatchNorm" in _attr_strings(n.get("attr", {}), "fused_ops") for n in nodes
    )


_WEIGHT_SUFFIX = re.compile(r"(?:/read|/ReadVariableOp|/kernel|/weights|_weights|/filter|/depthwise_kernel)+$")


def _conv_name(node: dict, weight: str) -> str:
    """The convolution's own name. The converter names a fused conv node after the last op
    it absorbed (``…/re_lu/Relu6``, ``…/BiasAdd``); its filter weight keeps the conv's name
    (``…/conv2d/Conv2D_weights``), so a fused node is named by its weight, suffix dropped."""
    if not _attr_strings(node.get("attr", {}), "fused_ops"):
        return node["name"]
    return _WEIGHT_SUFFIX.sub("", weight) or node["name"]


def _graph_model_convs(model_id: str, topology: dict, arrays: dict, precision: dict) -> tuple[list[ConvLayer], list[str]]:
    nodes = topology.get("node", [])
    by_name = {n["name"]: n for n in nodes}
    distance = graph_distances(nodes)
    convs: list[ConvLayer] = []
    labels: list[str] = []
    for node in nodes:
        op = node.get("op")
        if op not in _GRAPH_CONV_OPS and op not in _GRAPH_DEPTHWISE_OPS:
            continue
        attr = node.get("attr", {})
        ref = _input_name(node["input"][1])
        # filters may reach the conv through Identity nodes, or into a cond/loop frame
        while ref not in arrays and by_name.get(ref, {}).get("op") in _PASSTHROUGH_OPS:
            ref = _input_name(by_name[ref]["input"][0])
        if ref not in arrays:
            raise SourceError(
                f"model {model_id!r}: filter {ref!r} of {op} node {node['name']!r} is not a weight "
                "in the manifest (computed filters are not supported)"
            )
        kernel = arrays[ref]
        fmt = _attr_string(attr, "data_format", "NHWC")
        hw = (2, 3) if fmt.startswith("NC") else (1, 2)
        strides = _attr_ints(attr, "strides") or [1, 1, 1, 1]
        dilations = _attr_ints(attr, "dilations") or [1, 1, 1, 1]
        if op in _GRAPH_DEPTHWISE_OPS:
            weight, groups = depthwise_to_oihw(kernel), int(kernel.shape[2])
        else:
            weight, groups = hwio_to_oihw(kernel), 1
        if node["name"] not in distance:
            raise SourceError(f"model {model_id!r}: conv node {node['name']!r} is not reachable from the graph input")
        convs.append(
            ConvLayer(
                name=_conv_name(node, ref),
                weight=weight,
                groups=groups,
                stride=(strides[hw[0]], strides[hw[1]]),
                dilation=(dilations[hw[0]], dilations[hw[1]]),
                distance=distance[node["name"]],
            )
        )
        labels.append(precision[ref])
    library_convs = sum(
        1
        for f in topology.get("library", {}).get("function", [])
        for n in f.get("nodeDef", [])
        if n.get("op") in _GRAPH_CONV_OPS | _GRAPH_DEPTHWISE_OPS
    )
    if library_convs:
        raise SourceError(
            f"model {model_id!r}: {library_convs} convolutions sit inside graph functions, which this reader does not read"
        )
    return convs, labels


# --------------------------------------------------------------------------- weight manifests

def _manifest_convs(model_id: str, manifest: list, arrays: dict, precision: dict, order: list[str]) -> tuple[list[ConvLayer], list[str]]:
    """Conv kernels of a bare weights manifest: every 4-D weight, depthwise when its name says so.

    Without a topology the depth is the execution order: the manifest's order, or the
    order of the first matching prefix in ``order`` (stable within a prefix).
    """
    names = [w["name"] for g in manifest for w in g["weights"] if len(w.get("shape", [])) == 4]

    def rank(name: str) -> int:
        for i, prefix in enumerate(order):
            if name.startswith(prefix):
                return i
        return len(order)

    names = sorted(names, key=rank)  # stable: manifest order within a prefix
    convs, labels = [], []
    for position, name in enumerate(names):
        kernel = arrays[name]
        if "depthwise" in name:
            weight, groups = depthwise_to_oihw(kernel), int(kernel.shape[2])
        else:
            weight, groups = hwio_to_oihw(kernel), 1
        convs.append(ConvLayer(name=name, weight=weight, groups=groups, distance=position))
        labels.append(precision[name])
    return convs, labels


# --------------------------------------------------------------------------- entry point

def detect_kind(doc: Any) -> str:
    if isinstance(doc, list):
        return "tfjs-weights"
    fmt = doc.get("format")
    if fmt == "graph-model" or "node" in doc.get("modelTopology", {}):
        return "tfjs-graph"
    return "tfjs-layers"


def read_tfjs(model_id: str, path: str | Path, kind: str = "tfjs", options: dict | None = None) -> LoadedModel:
    """All conv layers of the TF.js model whose ``model.json`` (or bundle, or manifest) is ``path``.

    kind: ``tfjs-layers``, ``tfjs-graph``, ``tfjs-weights`` (a bare manifest) or ``tfjs``
    (detect). options: ``conv_order`` (list of name prefixes) for bare manifests.
    """
    options = options or {}
    path = Path(path)
    try:
        doc = read_model_json(path)
    except (OSError, ValueError) as exc:
        raise SourceError(f"model {model_id!r}: cannot read TF.js model file {str(path)!r}: {exc}") from exc
    found = detect_kind(doc)
    if kind != "tfjs" and kind != found:
        raise SourceError(f"model {model_id!r}: {str(path)!r} is a {found} file, the sheet says {kind}")
    manifest = doc if found == "tfjs-weights" else doc.get("weightsManifest", [])
    kernels4d = {w["name"] for g in manifest for w in g["weights"] if len(w.get("shape", [])) == 4}
    try:
        arrays, precision = decode_weights(manifest, path.parent, wanted=kernels4d)
    except (OSError, ValueError) as exc:
        raise SourceError(f"model {model_id!r}: cannot read the weights of {str(path)!r}: {exc}") from exc
    if found == "tfjs-weights":
        convs, labels = _manifest_convs(model_id, manifest, arrays, precision, list(options.get("conv_order", [])))
        depth_source = "execution order"
    elif found == "tfjs-graph":
        convs, labels = _graph_model_convs(model_id, doc["modelTopology"], arrays, precision)
        depth_source = "graph"
    else:
        convs, labels, sequential = _layers_model_convs(model_id, doc["modelTopology"], arrays, precision)
        depth_source = "execution order" if sequential else "graph"
    if not convs:
        raise SourceError(f"model {model_id!r}: {str(path)!r} holds no convolution layers")
    # layers models keep their BN layers; a graph model's converter may have folded them
    bn_folded = graph_bn_folded(doc["modelTopology"].get("node", [])) if found == "tfjs-graph" else False
    return LoadedModel(
        model=model_id,
        convs=convs,
        depth_source=depth_source,
        precision=_precision_label(labels),
        bn_folded=bn_folded,
        source_detail={"format": found, "file": path.name},
    )


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): option ``reader`` (the registered name) is the kind."""
    return read_tfjs(model_id, paths[0], kind=options.get("reader", "tfjs"), options=options)
