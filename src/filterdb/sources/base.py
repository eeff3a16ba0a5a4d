"""What every model source hands to the extractor.

A source turns one row of the model sheet into a :class:`LoadedModel`: the model's
convolution layers (every kernel size, so that depth can be ranked over all convs),
their weights as numpy arrays, and a few facts about how the weights were stored.
Sources never return framework objects: extraction is the same for torch, ONNX,
TF.js and dlib weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


class SourceError(RuntimeError):
    """A model could not be fetched or loaded; the message names the model and what to do."""


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


def row_value(row: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """A sheet cell, with empty strings and NaN read as missing."""
    value = row.get(key, default)
    if value is None:
        return default
    if isinstance(value, float) and np.isnan(value):
        return default
    if isinstance(value, str) and value.strip() == "":
        return default
    return value


def require(row: Mapping[str, Any], key: str) -> Any:
    """A sheet cell that the row's source needs; a clear error when it is empty."""
    value = row_value(row, key)
    if value is None:
        raise SourceError(
            f"model {row.get('model')!r}: source {row.get('source')!r} needs column "
            f"{key!r} in the model sheet, which is empty"
        )
    return value


def local_file(row: Mapping[str, Any], what: str) -> dict:
    """The row's ``reference`` as an existing local file, checked against its ``sha256``.

    Returns the manifest part {"path", "sha256"}; ``what`` names the kind of file in errors.
    """
    from pathlib import Path

    from ..store import sha256_of

    path = Path(str(require(row, "reference")))
    if not path.is_file():
        raise SourceError(f"model {row['model']!r}: {what} {str(path)!r} does not exist")
    digest = sha256_of(path)
    expected = row_value(row, "sha256")
    if expected and str(expected).lower() != digest:
        raise SourceError(
            f"model {row['model']!r}: checksum mismatch for {str(path)!r}: expected {expected}, found {digest}"
        )
    return {"path": str(path), "sha256": digest}


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "y"}
