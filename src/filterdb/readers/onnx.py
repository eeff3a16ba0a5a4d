"""ONNX files: every ``Conv`` node with a 4-D weight, read from initializers (no onnxruntime).

Weights may reach a conv directly from an initializer, from a ``Constant`` node, through
``Identity``/``Cast`` nodes, or through ``DequantizeLinear`` (``(q - zero_point) * scale``,
per tensor or per axis). ``QLinearConv`` is read the same way. External data files are
resolved inside the model's folder only, and must exist.

Depth is the longest-path distance from the graph inputs over the node graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .graph import longest_distances

_PASSTHROUGH = {"Identity", "Cast"}


def _precision_of(data_type: int) -> str:
    from onnx import TensorProto

    return {
        TensorProto.FLOAT: "fp32",
        TensorProto.FLOAT16: "fp16",
        TensorProto.BFLOAT16: "bf16",
        TensorProto.DOUBLE: "fp64",
        TensorProto.INT8: "int8-quantised",
        TensorProto.UINT8: "uint8-quantised",
    }.get(data_type, f"onnx-type-{data_type}")


def _check_external(model_id: str, model, folder: Path) -> None:
    """Every external-data file must exist and stay inside the model's folder."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    root = folder.resolve()
    for tensor in model.graph.initializer:
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if root not in target.parents:
            raise SourceError(
                f"model {model_id!r}: initializer {tensor.name!r} points outside the model folder "
                f"({location!r}); refusing to read it"
            )
        if not target.is_file():
            raise SourceError(
                f"model {model_id!r}: initializer {tensor.name!r} keeps its data in external file "
                f"{location!r}, which is missing next to the .onnx file in {str(folder)!r}; copy it there"
            )


def _attr(node, name: str, default):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def read_onnx(model_id: str, path: str | Path) -> LoadedModel:
    """All 2-D conv layers (weights (out, in/groups, kh, kw)) of the ONNX model at ``path``."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: ONNX file {str(path)!r} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} is not a readable ONNX file ({type(exc).__name__}: {exc})"
        ) from exc
    _check_external(model_id, model, path.parent)
    try:
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except Exception as exc:
        raise SourceError(f"model {model_id!r}: cannot read external data of {str(path)!r}: {exc}") from exc

    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type == "Constant":
            value = _attr(node, "value", None)
            if value is not None:
                init[node.output[0]] = value

    def tensor(name: str) -> tuple[np.ndarray, str]:
        """The float array behind a node input, and how it was stored."""
        if name in init:
            t = init[name]
            try:
                return numpy_helper.to_array(t), _precision_of(t.data_type)
            except Exception as exc:  # data shorter than its dims, an unknown type, ...
                raise SourceError(
                    f"model {model_id!r}: tensor {name!r} in {str(path)!r} is malformed "
                    f"(dims {list(t.dims)}, type {t.data_type}: {exc})"
                ) from None
        node = producer.get(name)
        if node is not None and node.op_type == "Cast":  # the graph computes with the cast values
            array, label = tensor(node.input[0])
            return array.astype(np.float32), label
        if node is not None and node.op_type in _PASSTHROUGH:
            return tensor(node.input[0])
        if node is not None and node.op_type == "DequantizeLinear":
            q, label = tensor(node.input[0])
            scale, _ = tensor(node.input[1])
            zero = tensor(node.input[2])[0] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
            return _dequantize(q, scale, zero, int(_attr(node, "axis", 1))), label
        raise SourceError(
            f"model {model_id!r}: conv weight {name!r} in {str(path)!r} is computed by "
            f"{node.op_type if node is not None else 'no node'}, not stored; this reader cannot read it"
        )

    graph_inputs = {i.name for i in graph.input if i.name not in init}
    # graph inputs are virtual source nodes feeding their consumers
    node_keys = [node.name or f"{node.op_type}_{i}" for i, node in enumerate(graph.node)]
    producer_key = {out: node_keys[i] for i, node in enumerate(graph.node) for out in node.output}
    parents = {
        node_keys[i]: [producer_key[x] if x in producer_key else f"input:{x}" for x in node.input if x in producer_key or x in graph_inputs]
        for i, node in enumerate(graph.node)
    }
    for name in graph_inputs:
        parents[f"input:{name}"] = []
    distance = longest_distances(parents, {f"input:{n}" for n in graph_inputs})

    convs: list[ConvLayer] = []
    labels: list[str] = []
    for i, node in enumerate(graph.node):
        if node.op_type not in ("Conv", "QLinearConv") or node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type == "Conv":
            weight, label = tensor(node.input[1])
        else:  # QLinearConv: x, x_scale, x_zp, w, w_scale, w_zp, ...
            q, label = tensor(node.input[3])
            weight = _dequantize(q, tensor(node.input[4])[0], tensor(node.input[5])[0], 0)
        if weight.ndim != 4:
            continue  # Conv1d / Conv3d
        key = node_keys[i]
        strides = list(_attr(node, "strides", [1, 1]))
        dilations = list(_attr(node, "dilations", [1, 1]))
        convs.append(
            ConvLayer(
                name=node.name or node.output[0],
                weight=np.asarray(weight),
                groups=int(_attr(node, "group", 1)),
                stride=(int(strides[0]), int(strides[1])),
                dilation=(int(dilations[0]), int(dilations[1])),
                distance=int(distance.get(key, 0)),
            )
        )
        labels.append(label)
    subgraph_convs = sum(
        1
        for node in graph.node
        for a in node.attribute
        if a.type == onnx.AttributeProto.GRAPH
        for n in a.g.node
        if n.op_type == "Conv"
    )
    if subgraph_convs:
        raise SourceError(
            f"model {model_id!r}: {subgraph_convs} Conv nodes sit inside If/Loop subgraphs of {str(path)!r}, "
            "which this reader does not read"
        )
    if not convs:
        raise SourceError(f"model {model_id!r}: {str(path)!r} has no Conv node with a 4-D weight")
    has_bn = any(node.op_type == "BatchNormalization" for node in graph.node)
    return LoadedModel(
        model=model_id,
        convs=convs,
        depth_source="graph",
        precision="+".join(sorted(set(labels))),
        # no BatchNormalization node left: the exporter folded it (or the model had none)
        bn_folded=not has_bn,
        source_detail={
            "format": "onnx",
            "file": path.name,
            "producer": f"{model.producer_name} {model.producer_version}".strip(),
            "opset": int(max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)),
        },
    )


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int) -> np.ndarray:
    """``(q - zero) * scale``, with per-axis scale/zero broadcast along ``axis``."""
    scale = np.asarray(scale, np.float32)
    zero = np.asarray(zero, np.float32)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q.astype(np.float32) - zero) * scale


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_onnx(model_id, paths[0])
