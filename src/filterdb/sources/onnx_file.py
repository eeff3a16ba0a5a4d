"""``onnx`` source: a local ``.onnx`` file (external-data files beside it are supported).

Sheet columns: ``reference`` (path to the ``.onnx`` file, relative to the working
directory), optional ``sha256`` of that file, optional ``bn_folded`` (overrides the
reader's inference: true when no BatchNormalization node is left).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..model import LoadedModel
from ..readers.onnx import read_onnx
from .base import as_bool, local_file, row_value


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    return local_file(row, "ONNX file")


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    loaded = read_onnx(row["model"], manifest["path"])
    override = row_value(row, "bn_folded")
    if override is not None:
        loaded.bn_folded = as_bool(override)
    loaded.source_detail = {**dict(loaded.source_detail), "path": manifest["path"], "sha256": manifest["sha256"]}
    return loaded
