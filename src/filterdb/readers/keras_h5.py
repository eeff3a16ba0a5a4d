"""Keras HDF5 weights with h5py: Keras 3 ``.weights.h5`` and Keras 2 whole-model ``.h5``.

- **Keras 2 whole model** (root attribute ``model_config``; weights under
  ``model_weights/<layer>/<weight_names>``): conv kinds, strides, dilation and groups
  from the config, depth = longest path in the functional graph (a Sequential model:
  layer order). Weights-only Keras 2 files (root ``layer_names``, no config) are read
  like Keras 3 ones, in ``layer_names`` order.
- **Keras 3 ``.weights.h5``** (no config: a group per tracked object, its variables as
  datasets ``vars/0``, ``vars/1``…; nested models under ``layers/``): every 4-D
  ``vars/0`` is a conv kernel. The group key is Keras' snake-case class name for
  layers in a list (``conv2d``, ``conv2d_transpose``, ``depthwise_conv2d``) or the
  attribute name; a key or layer name containing ``transpose`` or ``depthwise`` decides
  the kernel layout. Order: the file's group order (creation order where the file tracks
  it, else names with numbers compared as numbers): execution order, as the model built
  its layers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .keras_graph import config_layers, keras_kernel


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _members(group) -> list[str]:
    """Keys of an HDF5 group in creation order where tracked, else in natural name order."""
    import h5py

    try:
        if group.id.get_create_plist().get_link_creation_order():
            names: list[str] = []
            group.id.links.iterate(lambda n: names.append(n.decode()), idx_type=h5py.h5.INDEX_CRT_ORDER)
            return names
    except (AttributeError, TypeError, ValueError):
        pass
    return sorted(group.keys(), key=_natural)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _keras3_convs(group, path: str = "") -> list[tuple[str, np.ndarray, str]]:
    """(name, kernel, kind) of every 4-D first variable under ``group``, depth first in file order."""
    import h5py

    found: list[tuple[str, np.ndarray, str]] = []
    variables = group.get("vars")
    if isinstance(variables, h5py.Group) and isinstance(variables.get("0"), h5py.Dataset) and variables["0"].ndim == 4:
        name = _text(variables.attrs.get("name", path or "root"))
        hint = f"{path} {name}".lower()
        kind = "transposed" if "transpose" in hint else "depthwise" if "depthwise" in hint else "conv"
        found.append((name, variables["0"][()], kind))
    for key in _members(group):
        child = group[key]
        if key != "vars" and isinstance(child, h5py.Group):
            found += _keras3_convs(child, f"{path}/{key}" if path else key)
    return found


def _keras2_layer_weights(weights_group, layer: str) -> list[np.ndarray]:
    group = weights_group[layer]
    names = [_text(n) for n in group.attrs.get("weight_names", [])]
    return [group[n][()] for n in names]


def read_keras_h5(model_id: str, path: str | Path) -> LoadedModel:
    """Conv layers of a Keras HDF5 file, weights (out, in/groups, kh, kw) float32."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: Keras file {str(path)!r} does not exist")
    try:
        with h5py.File(path, "r") as f:
            config = f.attrs.get("model_config")
            if config is not None:
                convs, depth_source, kind = _keras2_model(f, json.loads(_text(config)))
            elif "layer_names" in f.attrs:  # Keras 2 weights only
                convs = [c for layer in (_text(n) for n in f.attrs["layer_names"])
                         for c in _keras3_convs(f[layer], layer)]
                convs, depth_source, kind = _plain(convs), "execution order", "Keras 2 weights"
            else:
                convs, depth_source, kind = _plain(_keras3_convs(f)), "execution order", "Keras 3 weights"
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} is not a readable Keras HDF5 file "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from None
    if not convs:
        raise SourceError(f"model {model_id!r}: {str(path)!r} has no 4-D convolution kernel")
    return LoadedModel(model=model_id, convs=convs, depth_source=depth_source, precision="fp32", bn_folded=False,
                       source_detail={"format": kind, "file": path.name})


def _plain(found: list[tuple[str, np.ndarray, str]]) -> list[ConvLayer]:
    convs = []
    for name, kernel, kind in found:
        weight, groups = keras_kernel(kernel, kind)
        convs.append(ConvLayer(name=name, weight=np.ascontiguousarray(weight, np.float32), groups=groups,
                               distance=len(convs)))
    return convs


def _keras2_model(f, model_config: dict) -> tuple[list[ConvLayer], str, str]:
    layers, graph = config_layers(model_config)
    weights_group = f["model_weights"] if "model_weights" in f else f
    convs = []
    for layer in layers:
        if layer["kind"] is None:
            continue
        weights = [w for w in _keras2_layer_weights(weights_group, layer["name"]) if w.ndim == 4]
        if not weights:
            raise KeyError(f"layer {layer['name']!r} of the config has no 4-D weights in the file")
        kinds = ["depthwise", "conv"] if layer["kind"] == "separable" else [layer["kind"]]
        for step, (kernel, kind) in enumerate(zip(weights, kinds)):
            weight, groups = keras_kernel(kernel, kind, layer["groups"])
            convs.append(ConvLayer(name=f"{layer['name']}{'/pointwise' if step else ''}",
                                   weight=np.ascontiguousarray(weight, np.float32), groups=groups,
                                   stride=layer["stride"] if step == 0 else (1, 1),
                                   dilation=layer["dilation"] if step == 0 else (1, 1),
                                   distance=2 * layer["distance"] + step))
    return convs, "graph" if graph else "execution order", "Keras 2 model"


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_keras_h5(model_id, paths[0])
