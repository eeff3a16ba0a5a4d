"""A restricted unpickler: rebuilds arrays, tensors and plain containers, runs nothing else.

Python's pickle calls whatever global a file names. Here every global resolves to one of

- a few harmless builtins (``set``, ``frozenset``, ``slice``, ``complex``, ``bytearray``),
  ``collections.OrderedDict`` and ``_codecs.encode`` (how protocol 2 writes bytes);
- numpy's array and dtype reconstructors, replaced by builders that take the raw bytes
  with ``np.frombuffer`` (no object arrays);
- torch's tensor rebuilders and storage types, replaced by numpy equivalents (torch is
  not imported);
- otherwise a :class:`Stub`: a named, inert class. Calling it, ``__new__`` or
  ``__setstate__`` on it only records the arguments, so a pickled ``nn.Module`` or a
  madmom layer becomes a tree of stubs whose ``state`` holds its attributes, and a
  payload such as ``os.system`` is a stub that is never called with effect.

Nothing the file names is imported or executed.
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict
from typing import Any, Callable

import numpy as np


class Stub:
    """An instance of a class the pickle named; holds what pickle would have passed to it."""

    module = "?"
    qualname = "?"
    # class defaults: NEWOBJ makes instances with __new__ alone, without __init__
    args: tuple = ()
    kwargs: dict = {}
    state: Any = None
    items: tuple | list = ()

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __setstate__(self, state):  # BUILD
        self.state = state

    def append(self, value):  # APPEND on a list subclass
        self.__dict__.setdefault("items", []).append(value)

    def extend(self, values):
        self.__dict__.setdefault("items", []).extend(values)

    def __setitem__(self, key, value):  # SETITEM on a dict subclass
        self.append((key, value))

    @property
    def class_name(self) -> str:
        return self.qualname

    def attributes(self) -> dict:
        """The instance's attributes: the BUILD state as a dict (``(dict, slots)`` merged)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
            merged: dict = {}
            for part in state:
                merged.update(part or {})
            return merged
        return state if isinstance(state, dict) else {}

    def __repr__(self):
        return f"<stub {self.module}.{self.qualname}>"


_STUB_CLASSES: dict[tuple[str, str], type] = {}


def stub_class(module: str, name: str) -> type:
    """One inert subclass of :class:`Stub` per global name (so isinstance and names work)."""
    key = (module, name)
    if key not in _STUB_CLASSES:
        _STUB_CLASSES[key] = type(name.replace(".", "_"), (Stub,), {"module": module, "qualname": name})
    return _STUB_CLASSES[key]


# ---------------------------------------------------------------- numpy arrays

class _DtypeBuilder(Stub):
    """``numpy.dtype(name, align, copy)``; BUILD gives the byte order."""

    module, qualname = "numpy", "dtype"

    def dtype(self) -> np.dtype:
        name = self.args[0] if self.args else None
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if not isinstance(name, str):
            raise pickle.UnpicklingError(f"numpy dtype from a {type(name).__name__}, not a type name")
        dt = np.dtype(name)
        if dt.hasobject or dt.fields:
            raise pickle.UnpicklingError(f"numpy dtype {name!r} is not a plain number type")
        order = self.state[1] if isinstance(self.state, tuple) and len(self.state) > 1 else "="
        return dt.newbyteorder(order) if order in ("<", ">") else dt


class _ArrayBuilder(Stub):
    """``numpy.core.multiarray._reconstruct``; BUILD gives (version, shape, dtype, fortran, raw)."""

    module, qualname = "numpy", "ndarray"

    def __setstate__(self, state):
        self.state = state
        version, shape, dtype, fortran, raw = state if len(state) == 5 else (1, *state)
        if not isinstance(dtype, _DtypeBuilder):
            raise pickle.UnpicklingError("numpy array without a plain dtype")
        if isinstance(raw, str):  # a Python 2 pickle read with encoding latin-1
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("numpy array data is not raw bytes (object arrays are refused)")
        dt = dtype.dtype()
        count = int(np.prod(shape)) if len(shape) else 1
        if count * dt.itemsize != len(raw):
            raise pickle.UnpicklingError(
                f"numpy array of shape {tuple(shape)} {dt} needs {count * dt.itemsize} bytes, the pickle has {len(raw)}"
            )
        array = np.frombuffer(bytes(raw), dt, count)
        self.array = array.reshape(shape, order="F" if fortran else "C")


def _reconstruct(cls, shape, dtype_code):
    return _ArrayBuilder()


def _numpy_scalar(dtype, raw=None):
    if not isinstance(dtype, _DtypeBuilder):
        raise pickle.UnpicklingError("numpy scalar without a plain dtype")
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    return np.frombuffer(bytes(raw), dtype.dtype(), 1)[0]


def plain(value: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """Replace array builders by numpy arrays everywhere, stubs' states and args included.

    ``convert`` maps other leaf objects (a torch reader's tensor references) first.
    Containers are rebuilt; stubs are updated in place, each once (cycles are safe).
    """
    seen: set[int] = set()

    def go(v: Any) -> Any:
        if convert is not None:
            v = convert(v)
        if isinstance(v, _ArrayBuilder):
            return v.array
        if isinstance(v, Stub):
            if id(v) not in seen:
                seen.add(id(v))
                v.state, v.args, v.items = go(v.state), go(v.args), go(v.items)
            return v
        if isinstance(v, OrderedDict):
            return OrderedDict((k, go(x)) for k, x in v.items())
        if isinstance(v, dict):
            return {k: go(x) for k, x in v.items()}
        if isinstance(v, list):
            return [go(x) for x in v]
        if isinstance(v, tuple):
            return tuple(go(x) for x in v)
        return v

    return go(value)


# ---------------------------------------------------------------- the unpickler

_BUILTINS = {
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("builtins", "slice"): slice, ("__builtin__", "slice"): slice,
    ("builtins", "complex"): complex, ("__builtin__", "complex"): complex,
    ("builtins", "bytearray"): bytearray, ("__builtin__", "bytearray"): bytearray,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _DtypeBuilder,
    ("numpy", "ndarray"): _ArrayBuilder,
}


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise pickle.UnpicklingError("_codecs.encode with anything but a str and a plain text encoding")
    return text.encode(encoding, errors)


def _reconstructor(cls, base, state=None):
    """``copyreg._reconstructor``: an instance of a stub class, its state set by BUILD later."""
    if isinstance(cls, type) and issubclass(cls, Stub):
        return cls()
    raise pickle.UnpicklingError(f"copyreg._reconstructor of {cls!r} is refused")


class _Sealed:
    """An allowed callable handed to pickle: it can be called, never changed.

    Pickle's BUILD opcode sets attributes on whatever object it is given; on a plain
    function or shared object that would outlive the load. A sealed wrapper refuses.
    """

    __slots__ = ("_target", "_name")

    def __init__(self, target, name: str):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        return self._target(*args, **kwargs)

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"the pickle tries to change {self._name}")

    def __setattr__(self, key, value):
        raise pickle.UnpicklingError(f"the pickle tries to change {self._name}")

    def __repr__(self):
        return f"<allowed {self._name}>"


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals are the table above, extra ones, or inert stubs."""

    def __init__(self, file, extra: dict | None = None, persistent_load: Callable | None = None, **kwargs):
        super().__init__(file, **kwargs)
        self._extra = extra or {}
        self._persistent = persistent_load
        self.stubbed: set[str] = set()

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in self._extra:
            return _Sealed(self._extra[key], f"{module}.{name}")
        if key in _BUILTINS:
            found = _BUILTINS[key]
            # stub-derived builders are classes NEWOBJ may need; they refuse BUILD on the class itself
            return found if isinstance(found, type) and issubclass(found, Stub) else _Sealed(found, f"{module}.{name}")
        if key == ("_codecs", "encode"):
            return _Sealed(_codecs_encode, "_codecs.encode")
        if key in (("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor")):
            return _Sealed(_reconstructor, "copyreg._reconstructor")
        self.stubbed.add(f"{module}.{name}")
        return stub_class(module, name)

    def persistent_load(self, pid):
        if self._persistent is None:
            raise pickle.UnpicklingError("persistent id in a pickle that has no external storage")
        return self._persistent(pid)


def restricted_load(data: bytes | io.BufferedIOBase, encoding: str = "ASCII", **kwargs) -> Any:
    """Unpickle one object with :class:`RestrictedUnpickler`; arrays come back as numpy arrays."""
    handle = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    return plain(RestrictedUnpickler(handle, encoding=encoding, **kwargs).load())


def walk_stubs(root: Any, limit: int = 1_000_000):
    """Every stub reachable from ``root``, depth first in container order, each once."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or len(seen) > limit:
            continue
        seen.add(id(node))
        children: list = []
        if isinstance(node, Stub):
            yield node
            children = [node.attributes(), list(node.args), node.items]
        elif isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, (list, tuple)):
            children = list(node)
        stack.extend(reversed(children))
