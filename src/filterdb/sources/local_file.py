"""``file`` source: a local weights file in any format a reader knows (see :mod:`filterdb.readers`).

Sheet columns: ``reference`` (path to the model file, relative to the working
directory), ``reader`` (onnx, safetensors, torch-pickle, tfjs, keras-h5, ...), optional
``sha256`` of the file, ``trust_pickle`` (torch reader), ``conv_order`` (bare TF.js
weights manifests) and ``bn_folded`` (overrides what the reader infers).

``filterdb inspect`` loads a checkpoint through this source: it builds the row for the
file and calls :func:`load` with the manifest :func:`manifest_of` gives, without the
checksum (a local file is not fetched).
"""

from __future__ import annotations

from typing import Any, Mapping

from .. import readers
from ..model import LoadedModel
from .base import as_bool, local_file, reader_options, require, row_value


def manifest_of(path: str, sha256: str | None = None) -> dict:
    """The manifest of a local file as :func:`fetch` writes it; ``sha256`` None when not computed."""
    return {"path": str(path), "sha256": sha256}


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    readers.READERS.check(str(require(row, "reader")), where=f"model {row['model']!r}")
    return local_file(row, "model file")


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    reader = str(require(row, "reader"))
    loaded = readers.read(reader, row["model"], [manifest["path"]], reader_options(row))
    override = row_value(row, "bn_folded")
    if override is not None:
        loaded.bn_folded = as_bool(override)
    detail = {"path": manifest["path"], "reader": reader}
    if manifest.get("sha256"):
        detail["sha256"] = manifest["sha256"]
    loaded.source_detail = {**dict(loaded.source_detail), **detail}
    return loaded
