"""Torch files of any era read with the restricted unpickler: no torch, no pickled code run.

Two container formats:

- zip (torch ≥ 1.6): ``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>`` entry per storage;
- legacy (before 1.6): five pickles in a row (magic number, protocol version, system info,
  the object, the list of storage keys), then each storage's bytes: an int64 element
  count and the raw little-endian data.

Tensors are rebuilt as numpy views (offset, size, stride) on the storages. The object can
be a state dict (every 4-D ``*.weight`` is a conv with groups = 1, in the dict's order:
execution order) or a whole pickled ``nn.Module``, which comes back as a tree of inert
stubs: then convs are the ``Conv2d`` / ``ConvTranspose2d`` modules with their own
``groups``, ``stride`` and ``dilation``, in the order of ``_modules`` (the order in
which the model defined them: execution order).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel
from .safe_pickle import RestrictedUnpickler, Stub, plain

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage whose bytes arrive later (legacy) or on demand (zip)."""

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype, self.numel = dtype, int(numel)
        self.array: np.ndarray | None = None


class _TensorRef:
    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def numpy(self) -> np.ndarray:
        data = self.storage.array
        if data is None:
            raise pickle.UnpicklingError("a tensor's storage has no data")
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if self.offset < 0 or min(self.stride, default=0) < 0 or last >= len(data):
            raise pickle.UnpicklingError(f"a tensor of size {self.size} reaches past its storage of {len(data)}")
        strides = tuple(s * data.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(data[self.offset :], self.size, strides).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *rest):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *rest):
    return data


def _torch_globals() -> dict:
    table: dict = {("torch", name): _StorageType(name) for name in _STORAGE_DTYPES}
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
        table[("torch._utils", name)] = _rebuild_tensor
    for name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        table[("torch._utils", name)] = _rebuild_parameter
    return table


def _as_storage_type(value: Any) -> _StorageType:
    value = getattr(value, "_target", value)  # handed to pickle sealed (safe_pickle._Sealed)
    if isinstance(value, _StorageType):
        return value
    raise pickle.UnpicklingError(f"storage of unsupported type {value!r}")


def _to_numpy(value: Any) -> Any:
    return value.numpy() if isinstance(value, _TensorRef) else value


def _load_zip(path: Path, encoding: str) -> tuple[Any, set]:
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise pickle.UnpicklingError("zip file without data.pkl: not a torch file")
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}

        def persistent_load(pid):
            if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
            storage_type, key, _location, numel = pid[1:5]
            key = str(key)
            if key not in storages:
                st = _as_storage_type(storage_type)
                storage = _Storage(st.dtype, numel)
                raw = z.read(f"{prefix}data/{key}")
                storage.array = np.frombuffer(raw, st.dtype, len(raw) // st.dtype.itemsize)
                storages[key] = storage
            return storages[key]

        unpickler = RestrictedUnpickler(io.BytesIO(z.read(pkl[0])), extra=_torch_globals(),
                                        persistent_load=persistent_load, encoding=encoding)
        obj = unpickler.load()
    return plain(obj, _to_numpy), unpickler.stubbed


def _load_legacy(path: Path, encoding: str) -> tuple[Any, set]:
    handle = open(path, "rb")
    with handle:
        magic = RestrictedUnpickler(handle, encoding=encoding).load()
        if magic != LEGACY_MAGIC:
            raise pickle.UnpicklingError("no torch magic number: not a torch file")
        RestrictedUnpickler(handle, encoding=encoding).load()  # protocol version
        RestrictedUnpickler(handle, encoding=encoding).load()  # system info
        storages: dict[str, _Storage] = {}
        views: dict[str, tuple[str, int, int]] = {}

        def persistent_load(pid):
            if not (isinstance(pid, tuple) and pid):
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
            kind = pid[0].decode() if isinstance(pid[0], bytes) else pid[0]
            if kind == "module":  # source code of a module class: ignored
                return pid[1]
            if kind != "storage":
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
            storage_type, root_key, _location, numel, view = pid[1:6]
            root_key = str(root_key)
            if root_key not in storages:
                storages[root_key] = _Storage(_as_storage_type(storage_type).dtype, numel)
            if view is not None:
                view_key, offset, view_size = view
                views[str(view_key)] = (root_key, int(offset), int(view_size))
                return _ViewStorage(storages[root_key], int(offset), int(view_size))
            return storages[root_key]

        unpickler = RestrictedUnpickler(handle, extra=_torch_globals(), persistent_load=persistent_load,
                                        encoding=encoding)
        obj = unpickler.load()
        keys = RestrictedUnpickler(handle, encoding=encoding).load()
        for key in keys:
            storage = storages.get(str(key))
            if storage is None:
                raise pickle.UnpicklingError(f"storage {key!r} listed but never used")
            count = np.frombuffer(handle.read(8), "<i8")
            if count.size != 1:
                raise EOFError("file ends before a storage's size")
            nbytes = int(count[0]) * storage.dtype.itemsize
            raw = handle.read(nbytes)
            if len(raw) != nbytes:
                raise EOFError(f"file ends inside storage {key!r} ({len(raw)} of {nbytes} bytes)")
            storage.array = np.frombuffer(raw, storage.dtype)
    return plain(obj, _to_numpy), unpickler.stubbed


class _ViewStorage(_Storage):
    """A legacy view: ``size`` elements of a root storage from ``offset`` on."""

    def __init__(self, root: _Storage, offset: int, size: int):
        super().__init__(root.dtype, size)
        self.root, self.view_offset = root, offset

    @property
    def array(self):
        data = self.root.array
        return None if data is None else data[self.view_offset : self.view_offset + self.numel]

    @array.setter
    def array(self, value):
        pass


def load_torch_pickle(model_id: str, path: str | Path, encoding: str = "utf-8") -> tuple[Any, set]:
    """(object with tensors as numpy arrays, names of stubbed globals) of a torch file.

    Never imports torch and never runs pickled code. SourceError for a missing,
    truncated or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: torch file {str(path)!r} does not exist")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path, encoding)
        return _load_legacy(path, encoding)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            zipfile.BadZipFile, UnicodeDecodeError, OverflowError, MemoryError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} is not a readable torch file ({type(exc).__name__}: {first}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from None


# ---------------------------------------------------------------- conv layers

_CONV_CLASSES = {"Conv2d": False, "ConvTranspose2d": True, "Conv2dSame": False, "Conv2dStaticSamePadding": False,
                 "Conv2dDynamicSamePadding": False}


def _pair(value: Any, default: int = 1) -> tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    return default, default


def module_convs(root: Stub, prefix: str = "") -> list[ConvLayer]:
    """Conv layers of a stubbed ``nn.Module`` tree, in ``_modules`` order (definition order)."""
    convs: list[ConvLayer] = []

    def visit(module: Stub, name: str) -> None:
        attrs = module.attributes()
        params = attrs.get("_parameters") or {}
        weight = params.get("weight") if isinstance(params, dict) else None
        transposed = _CONV_CLASSES.get(module.class_name)
        if transposed is not None and isinstance(weight, np.ndarray) and weight.ndim == 4:
            groups = int(attrs.get("groups", 1) or 1)
            if transposed or attrs.get("transposed"):
                cin, cout_g = weight.shape[:2]  # (in, out/groups, kh, kw)
                weight = (weight.reshape(groups, cin // groups, cout_g, *weight.shape[2:])
                          .transpose(0, 2, 1, 3, 4).reshape(groups * cout_g, cin // groups, *weight.shape[2:]))
            convs.append(ConvLayer(name=name or module.class_name, weight=np.ascontiguousarray(weight, np.float32),
                                   groups=groups, stride=_pair(attrs.get("stride")),
                                   dilation=_pair(attrs.get("dilation")), distance=len(convs)))
        children = attrs.get("_modules") or {}
        for child_name, child in (children.items() if isinstance(children, dict) else []):
            if isinstance(child, Stub):
                visit(child, f"{name}.{child_name}" if name else str(child_name))

    visit(root, prefix)
    return convs


def _state_dict(obj: Any) -> dict | None:
    for key in ("state_dict", "model", "model_state_dict", "net", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return obj if isinstance(obj, dict) else None


def read_torch_pickle(model_id: str, paths: Sequence[str | Path]) -> LoadedModel:
    """Conv layers of torch files (state dicts or whole pickled modules), read without torch."""
    convs: list[ConvLayer] = []
    kinds: set[str] = set()
    precisions: set[str] = set()
    many = len(paths) > 1
    for path in map(Path, paths):
        obj, _stubbed = load_torch_pickle(model_id, path)
        state = None if isinstance(obj, Stub) else _state_dict(obj)
        found = [] if state is None else [
            ConvLayer(name=str(k), weight=v) for k, v in state.items()
            if isinstance(v, np.ndarray) and v.ndim == 4 and str(k).endswith("weight")]
        if found:
            kinds.add("state dict")
        else:  # a whole module, alone or under a key of a checkpoint dict
            roots = [obj] if isinstance(obj, Stub) else [v for v in (state or {}).values() if isinstance(v, Stub)]
            if not roots and state is None:
                raise SourceError(f"model {model_id!r}: {str(path)!r} holds a {type(obj).__name__}, "
                                  "neither a state dict nor a pickled module")
            found = [c for root in roots for c in module_convs(root)]
            kinds.add("pickled module")
        for conv in found:
            precisions.add({np.dtype("<f2"): "fp16", np.dtype("<u2"): "bf16"}.get(conv.weight.dtype, "fp32"))
            if conv.weight.dtype == np.dtype("<u2"):  # bfloat16: the high half of a float32
                conv.weight = (conv.weight.astype(np.uint32) << 16).view(np.float32)
            conv.weight = np.ascontiguousarray(conv.weight, dtype=np.float32)
            conv.name = f"{path.stem}/{conv.name}" if many else conv.name
            conv.distance = len(convs)
            convs.append(conv)
    if not convs:
        raise SourceError(f"model {model_id!r}: no 4-D conv weights in {', '.join(map(str, paths))}")
    return LoadedModel(
        model=model_id,
        convs=convs,
        depth_source="execution order",
        precision="+".join(sorted(precisions)),
        bn_folded=False,
        source_detail={"format": "torch (restricted unpickler)", "content": "+".join(sorted(kinds)),
                       "files": [Path(p).name for p in paths]},
    )


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): ``paths`` are the model's files."""
    return read_torch_pickle(model_id, paths)


__all__ = ["load_torch_pickle", "module_convs", "read", "read_torch_pickle"]
