"""The project's errors: one class per kind of mistake a user can act on.

Every error here derives from :class:`FilterdbError`, the "user error": its message says
what was wrong, where (model id, file, config key, sheet line) and what to do, so the
workflow's steps and the command line show it as one line, without a traceback. Any
other exception is a bug and keeps its traceback.

Each class also keeps the built-in base it had before it moved here (``ValueError``,
``RuntimeError``, ``OSError``), so ``except ValueError`` code keeps working.

This module imports nothing from filterdb: every other module may import it.
"""

from __future__ import annotations


class FilterdbError(Exception):
    """An error in the input (sheet, config, model file, data), not in filterdb; the message says what to do."""


class SourceError(FilterdbError, RuntimeError):
    """A model could not be fetched or loaded; the message names the model and what to do."""


class SchemaError(FilterdbError, ValueError):
    """A Parquet file does not follow the data contract; the message names file and column."""


class DataError(FilterdbError, ValueError):
    """The data in a file cannot be analysed (NaN filters, empty histograms, ...)."""


class WriteError(FilterdbError, OSError):
    """An output could not be written (full disk, file too large, read-only folder); names the file."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno 28] " prefix
        return str(self.strerror)


class ConfigError(FilterdbError, ValueError):
    """The config is malformed; the message names the key."""


class SheetError(FilterdbError, ValueError):
    """A model sheet is malformed; the message names the sheet, the line and the column."""


class AxisError(FilterdbError, ValueError):
    """A shift axis or group comparison selects nothing usable; the message names the config key."""


class UsageError(FilterdbError, ValueError):
    """The command line asks for something that cannot be done (an unknown flag value, ...)."""


class ColumnError(FilterdbError, KeyError):
    """A config key names a column that the model or layer table does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
