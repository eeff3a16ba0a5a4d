"""Model sources: one registry mapping a sheet's ``source`` value to its module.

Each source module defines two functions:

``fetch(row, cache_dir) -> dict``
    Bring the model's files to this machine (download, verify, unpack, or train) and
    return a JSON-able manifest (local paths, versions, checksums). Runs in the
    ``fetch`` rule; it is the only step allowed to use the network.
``load(row, manifest) -> LoadedModel``
    Read the weights named by the manifest, without executing untrusted code.

Adding a source is one module plus one line in ``SOURCES``. Modules are imported
lazily so that a source's heavy dependencies (torch, onnx) load only when used.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

from .base import ConvLayer, LoadedModel, SourceError

SOURCES: dict[str, str] = {
    "timm": "filterdb.sources.timm_source",
    "checkpoint": "filterdb.sources.checkpoint",
    "onnx": "filterdb.sources.onnx_file",
    "torchvision": "filterdb.sources.torchvision_source",
    "pypi": "filterdb.sources.pypi",
    "npm": "filterdb.sources.npm",
    "train": "filterdb.sources.train",
}


def get_source(name: str) -> ModuleType:
    """The module of source ``name``; a clear error listing the known sources."""
    try:
        module_path = SOURCES[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), SOURCES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SourceError(
            f"unknown model source {name!r}; known sources: {', '.join(sorted(SOURCES))}.{hint}"
        ) from None
    return importlib.import_module(module_path)


__all__ = ["ConvLayer", "LoadedModel", "SourceError", "SOURCES", "get_source"]
