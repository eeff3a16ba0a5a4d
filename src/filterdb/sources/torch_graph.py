"""Convolution layers of a torch ``nn.Module`` with their depth in the model graph.

Depth is the longest-path distance of each conv from the input in the traced
``torch.fx`` graph. Models that fx cannot trace fall back to the execution order of a
forward pass (forward hooks), recorded as ``depth_source = "execution order"``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from ..model import ConvLayer, LoadedModel

log = logging.getLogger(__name__)


def _conv_modules(module) -> dict:
    import torch.nn as nn

    return {
        name: m
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and m.weight is not None
    }


def _trace(module):
    """The fx graph of ``module``, treating timm's untraceable blocks as leaves; None on failure."""
    import torch.fx

    leaf_types: tuple = ()
    wrapped: tuple = ()
    try:  # timm registers the modules and functions that fx must not enter
        from timm.layers import _fx as timm_fx

        leaf_types = tuple(timm_fx.get_notrace_modules())
        wrapped = tuple(timm_fx.get_notrace_functions())
    except Exception:
        pass

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return isinstance(m, leaf_types) or super().is_leaf_module(m, qualname)

    try:
        return Tracer(autowrap_functions=wrapped).trace(module)
    except Exception as exc:  # fx fails on data-dependent control flow
        log.info("torch.fx could not trace the model (%s); using execution order", exc)
        return None


def _fx_distances(module, conv_names: set[str]) -> dict[str, int] | None:
    """Longest-path distance of each conv module node from the graph inputs, or None."""
    graph = _trace(module)
    if graph is None:
        return None
    distance: dict = {}
    found: dict[str, int] = {}
    for node in graph.nodes:  # fx graphs are in topological order
        parents = [p for p in node.all_input_nodes if p in distance]
        distance[node] = 1 + max((distance[p] for p in parents), default=-1)
        if node.op == "call_module" and node.target in conv_names:
            found.setdefault(str(node.target), distance[node])
    if set(found) != conv_names:
        return None  # some convs are called outside the traced graph
    return found


def _execution_order(module, conv_modules: dict, input_shape: Sequence[int]) -> dict[str, int]:
    import torch

    order: dict[str, int] = {}

    def record(name: str) -> None:  # a hook that returns None keeps the module's output
        order.setdefault(name, len(order))

    handles = [
        m.register_forward_hook(lambda _m, _i, _o, name=name: record(name))
        for name, m in conv_modules.items()
    ]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    # convs never called in the forward pass go last, in definition order
    for name in conv_modules:
        order.setdefault(name, len(order))
    return order


def convs_from_module(
    model_id: str,
    module,
    input_shape: Sequence[int] = (3, 224, 224),
    precision: str = "fp32",
    bn_folded: bool = False,
    source_detail: dict | None = None,
) -> LoadedModel:
    """All ``nn.Conv2d`` layers of ``module`` as a :class:`LoadedModel`.

    input_shape: (channels, height, width) of one input, used only when fx tracing fails.
    """
    convs = _conv_modules(module)
    distances = _fx_distances(module, set(convs))
    depth_source = "graph"
    if distances is None:
        distances = _execution_order(module, convs, input_shape)
        depth_source = "execution order"
    layers = []
    for name, m in convs.items():
        weight = m.weight.detach().cpu()
        if weight.dtype not in (np.float32,):
            weight = weight.float()
        layers.append(
            ConvLayer(
                name=name,
                weight=weight.numpy(),
                groups=int(m.groups),
                stride=tuple(int(s) for s in m.stride),
                dilation=tuple(int(d) for d in m.dilation),
                distance=int(distances[name]),
            )
        )
    return LoadedModel(
        model=model_id,
        convs=layers,
        depth_source=depth_source,
        precision=precision,
        bn_folded=bn_folded,
        source_detail=source_detail or {},
    )
