"""Model sources: one registry mapping a sheet's ``source`` value to its module.

Each source module defines two functions:

``fetch(row, cache_dir) -> dict``
    Bring the model's files to this machine (download, verify, unpack, or train) and
    return a JSON-able manifest (local paths, versions, checksums). Runs first in each
    model's ``model`` job (and in ``filterdb fetch``); it is the only step allowed to use
    the network.
``load(row, manifest) -> LoadedModel``
    Read the weights named by the manifest, without executing untrusted code.

Adding a source is one module plus one line in ``SOURCES``. Modules are imported
lazily so that a source's heavy dependencies (torch, onnx) load only when used.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import SourceError
from ..registry import Registry

SOURCES = Registry(
    "model source",
    {
        "timm": "filterdb.sources.timm_source",
        "checkpoint": "filterdb.sources.checkpoint",
        "onnx": "filterdb.sources.onnx_file",
        "file": "filterdb.sources.local_file",
        "torchvision": "filterdb.sources.torchvision_source",
        "pypi": "filterdb.sources.pypi",
        "npm": "filterdb.sources.npm",
        "train": "filterdb.sources.train",
    },
    error=SourceError,
)


def get_source(name: str) -> ModuleType:
    """The module of source ``name``; a SourceError listing the known sources and the closest."""
    return SOURCES.lookup(name)


__all__ = ["SOURCES", "get_source"]
