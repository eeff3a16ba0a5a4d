"""What the model sources share: reading a sheet row's cells and checking a local file.

A source turns one row of the model sheet into a :class:`filterdb.model.LoadedModel`
(see :mod:`filterdb.model`); its errors are :class:`filterdb.errors.SourceError`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import SourceError


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


def split_cell(value: Any) -> list[str]:
    """The ``;``-separated parts of a sheet cell, stripped, empty parts dropped."""
    return [part.strip() for part in str(value).split(";") if part.strip()]


def reader_options(row: Mapping[str, Any]) -> dict:
    """The options a row gives its weight reader: ``trust_pickle`` and ``conv_order``."""
    return {
        "trust_pickle": as_bool(row_value(row, "trust_pickle", False)),
        "conv_order": split_cell(row_value(row, "conv_order", "")),
    }


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "y"}
