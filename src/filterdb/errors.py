"""The project's own errors: a file that breaks the data contract, data that cannot be
analysed, an output the file system refused."""

from __future__ import annotations


class SchemaError(ValueError):
    """A Parquet file does not follow the data contract; the message names file and column."""


class DataError(ValueError):
    """The data in a file cannot be analysed (NaN filters, empty histograms, ...)."""


class WriteError(OSError):
    """An output could not be written (full disk, file too large, read-only folder); names the file."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28] " prefix
        return str(self.strerror)
