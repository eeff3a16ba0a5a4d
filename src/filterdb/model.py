"""What every reader and source hands to the extractor: a model's convolution layers.

A source (or a reader of one weight format) turns one model into a :class:`LoadedModel`:
its convolution layers (every kernel size, so that depth can be ranked over all convs),
their weights as numpy arrays, and a few facts about how the weights were stored. No
framework objects: extraction is the same for torch, ONNX, TF.js and dlib weights.

This module imports nothing from filterdb: readers, sources, extraction and inspection
all stand on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass
class ConvLayer:
    """One convolution layer of any kernel size.

    weight: array of shape (out_channels, in_channels // groups, kh, kw), any float dtype
        (it is converted to float32 on extraction; the stored precision is the model's).
    distance: longest-path distance of the layer from the model input in the model's
        graph, or its position in execution order when no graph is available
        (the source then sets ``LoadedModel.depth_source = "execution order"``).
    """

    name: str
    weight: np.ndarray
    groups: int = 1
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    distance: int = 0

    @property
    def kernel_size(self) -> tuple[int, int]:
        return int(self.weight.shape[2]), int(self.weight.shape[3])

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * int(self.groups)

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class LoadedModel:
    """All convolution layers of one model, in a stable order, plus storage facts."""

    model: str
    convs: list[ConvLayer]
    depth_source: str = "graph"  # "graph" or "execution order"
    precision: str = "fp32"  # fp32, fp16, uint8-quantised, ...
    bn_folded: bool = False
    source_detail: Mapping[str, Any] = field(default_factory=dict)
