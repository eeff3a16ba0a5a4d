"""What Keras model configs say about convolutions: layer kinds, their settings, graph depth.

Shared by the Keras ``.h5`` reader (``model_config``) and the TensorFlow SavedModel reader
(``keras_metadata.pb``). Keras stores kernels height × width × in × out; a transposed
conv's kernel is height × width × out × in; a depthwise kernel is height × width × in ×
multiplier. :func:`keras_kernel` turns each into (out, in/groups, kh, kw).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import longest_distances

# Keras class → (kind, the variable names that are its kernels)
CONV_CLASSES = {
    "Conv2D": "conv", "Convolution2D": "conv", "Conv2DTranspose": "transposed", "Deconvolution2D": "transposed",
    "DepthwiseConv2D": "depthwise", "SeparableConv2D": "separable", "SeparableConvolution2D": "separable",
}


def keras_kernel(kernel: np.ndarray, kind: str, groups: int = 1) -> tuple[np.ndarray, int]:
    """(weight (out, in/groups, kh, kw), groups) of a Keras kernel of layer ``kind``."""
    kh, kw = kernel.shape[:2]
    if kind == "depthwise":  # (kh, kw, in, multiplier): every input channel its own group
        cin, mult = kernel.shape[2:]
        return kernel.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw), cin
    if kind == "transposed":  # (kh, kw, out, in)
        return kernel.transpose(2, 3, 0, 1), 1
    return kernel.transpose(3, 2, 0, 1), groups  # (kh, kw, in/groups, out)


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, dict) and "items" in value:  # {"class_name": "__tuple__", "items": [..]}
        value = value["items"]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, int):
        return value, value
    return 1, 1


def _inbound_names(inbound: Any) -> list[str]:
    """Names of the layers feeding a layer, from Keras 2 (``[[name, i, j, kw]]``) or Keras 3 (keras_history)."""
    names: list[str] = []
    stack = [inbound]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            history = item.get("keras_history")
            if isinstance(history, list) and history and isinstance(history[0], str):
                names.append(history[0])
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                names.append(item[0])
            else:
                stack.extend(item)
    return names


def config_layers(model_config: dict) -> tuple[list[dict], bool]:
    """([{name, class_name, kind, stride, dilation, groups, distance}], whether depth is a graph's).

    ``model_config`` is a Keras model config ({"class_name", "config": {"layers": ...}}).
    For a functional model ``distance`` is the longest-path distance from the inputs;
    for a Sequential model, and where inbound nodes are absent, the layer's position.
    """
    config = model_config.get("config", model_config)
    layers = config.get("layers", []) if isinstance(config, dict) else []
    parents: dict[str, list[str]] = {}
    graph = False
    for layer in layers:
        name = layer.get("name") or layer.get("config", {}).get("name")
        inbound = layer.get("inbound_nodes")
        if inbound:
            graph = True
        parents[name] = [p for p in _inbound_names(inbound or []) if p != name]
    if graph:
        for ps in list(parents.values()):
            for p in ps:
                parents.setdefault(p, [])
        distance = longest_distances(parents, {n for n, ps in parents.items() if not ps})
    out = []
    for index, layer in enumerate(layers):
        cfg = layer.get("config", {})
        name = layer.get("name") or cfg.get("name")
        kind = CONV_CLASSES.get(layer.get("class_name", ""))
        out.append({
            "name": name, "class_name": layer.get("class_name"), "kind": kind,
            "stride": _pair(cfg.get("strides")), "dilation": _pair(cfg.get("dilation_rate")),
            "groups": int(cfg.get("groups", 1) or 1),
            "distance": distance.get(name, index) if graph else index,
        })
    return out, graph
