"""Name → thing tables with one lookup that names the known entries and suggests close ones.

Model sources, weight readers, the zoo's data sets and its architectures are each a
:class:`Registry`. An entry is the thing itself (a function, a spec) or, to keep heavy
dependencies (torch, onnx) unloaded until used, a string naming where it lives:
``"package.module"`` (the module) or ``"package.module:attribute"`` (an attribute of it),
imported on first :meth:`Registry.lookup`.

This module imports nothing from filterdb but :mod:`filterdb.errors`.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable

from .errors import FilterdbError


def suggest(name: object, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``choices`` close to ``name``, closest first (difflib's ratio ≥ ``cutoff``)."""
    import difflib  # only when a name is wrong: it costs every lookup's import otherwise

    return difflib.get_close_matches(str(name), list(choices), n=n, cutoff=cutoff)


def resolve(entry: Any) -> Any:
    """An entry itself, or the module (``"a.b"``) or attribute (``"a.b:c"``) a string names, imported."""
    if not isinstance(entry, str):
        return entry
    module_path, _, attribute = entry.partition(":")
    module = importlib.import_module(module_path)
    return getattr(module, attribute) if attribute else module


class Registry(dict):
    """A dict of name → entry whose :meth:`lookup` raises ``error`` for an unknown name.

    kind: what the names name, for messages ("model source", "zoo data set").
    error: the project error raised for an unknown name (a :class:`FilterdbError`).
    Item access (``registry[name]``) gives the stored entry, unresolved; ``lookup`` resolves it.
    """

    def __init__(self, kind: str, entries: dict[str, Any] | None = None, error: type[FilterdbError] = FilterdbError):
        super().__init__(entries or {})
        self.kind = kind
        self.error = error

    def unknown(self, name: object, where: str = "") -> FilterdbError:
        """The error for an unknown ``name``: the known names, and the closest ones."""
        close = suggest(name, self)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        prefix = f"{where}: " if where else ""
        return self.error(f"{prefix}unknown {self.kind} {name!r}; known: {', '.join(sorted(self))}.{hint}")

    def check(self, name: object, where: str = "") -> str:
        """``name`` when it is registered (nothing is imported), else the :meth:`unknown` error."""
        if name not in self:
            raise self.unknown(name, where)
        return str(name)

    def lookup(self, name: object, where: str = "") -> Any:
        """The entry of ``name``, imported if it is a path; ``where`` (a model id, a sheet line) prefixes the error."""
        return resolve(self[self.check(name, where)])

    def register(self, name: str, entry: Any = None):
        """Add ``entry`` under ``name``; without ``entry``, a decorator that registers what it decorates."""
        if entry is not None:
            self[name] = entry
            return entry

        def decorate(thing):
            self[name] = thing
            return thing

        return decorate

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {dict(self)!r})"
