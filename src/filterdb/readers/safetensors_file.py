"""``.safetensors`` files read with numpy alone: the JSON header, then each tensor as a view of a memory map.

The format: an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, offsets relative to the
end of the header, plus an optional ``__metadata__``), then the raw little-endian data.
Nothing is executed and torch is never imported, so reading costs the header plus the
bytes of the layers that are used.

A safetensors file has no graph. As in a torch state dict, every 4-D floating
``*weight`` tensor is taken as a conv weight (out, in / groups, kh, kw). Order (the
``distance`` that depth is ranked on): the tensor names in natural order (dot-separated
parts, numbers compared as numbers: ``layer2`` before ``layer10``), a top-level module
named like a stem first and one named like a head last (timm's ``conv_stem`` and
``conv_head`` sort after ``blocks``), because writers store tensors sorted by dtype and
name, not in the order the model runs them; the depth source says ``name order``. Groups, where the shapes determine them: a (c, 1, kh, kw)
weight with c > 1 that is not the first conv in that order is depthwise (groups = c);
a conv whose previous conv in the same module (same name up to the last part) outputs
p channels, with p a multiple k > 1 of its own in / groups and c a multiple of k, has
groups = k (ResNeXt's ``conv1`` → ``conv2``); otherwise 1. Stride and dilation are
not in the file.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel

# safetensors dtype → (numpy dtype as stored, precision label); BF16 is widened by hand
_FLOAT_DTYPES = {"F64": ("<f8", "fp64"), "F32": ("<f4", "fp32"), "F16": ("<f2", "fp16"), "BF16": ("<u2", "bf16")}
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}  # fmt: skip
MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def read_header(model_id: str, path: str | Path, metadata: dict | None = None) -> tuple[dict, int]:
    """(header {name: entry}, offset of the data section) of a safetensors file, validated;
    its ``__metadata__`` (str → str) goes into ``metadata`` when one is given."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise ValueError("shorter than the 8-byte header length")
            length = int.from_bytes(head, "little")
            if length > min(MAX_HEADER, size - 8):
                raise ValueError(f"header length {length} exceeds the file ({size} bytes)")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"model {model_id!r}: {str(path)!r} is not a safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise SourceError(f"model {model_id!r}: {str(path)!r}: the safetensors header is not a JSON object")
    found = header.pop("__metadata__", None)
    if metadata is not None and isinstance(found, dict):
        metadata.update(found)
    start = 8 + length
    for name, entry in header.items():
        try:
            begin, end = (int(v) for v in entry["data_offsets"])
            shape = [int(d) for d in entry["shape"]]
            itemsize = _ITEMSIZE[entry["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise SourceError(
                f"model {model_id!r}: {str(path)!r}: tensor {name!r} has a malformed header entry {entry!r}"
            ) from None
        if not (0 <= begin <= end <= size - start) or end - begin != math.prod(shape) * itemsize:
            raise SourceError(
                f"model {model_id!r}: {str(path)!r}: tensor {name!r} ({entry['dtype']} {shape}) does not fit "
                f"its data offsets [{begin}, {end}) in a file of {size} bytes; the file is truncated or corrupt"
            )
    return header, start


_STEM = re.compile(r"stem", re.IGNORECASE)
_HEAD = re.compile(r"^(.*head.*|classifier|fc|final.*)$", re.IGNORECASE)


def natural_key(name: str) -> tuple:
    """Sort key of a dotted tensor name: a top-level module named like a stem first, one named
    like a head (``*head*``, ``classifier``, ``fc``, ``final*``) last; otherwise the parts in
    order, digits compared as numbers."""
    top = name.split(".", 1)[0]
    rank = 0 if _STEM.search(top) else 2 if _HEAD.match(top) else 1
    return rank, [(0, int(p), "") if p.isdigit() else (1, 0, p) for part in name.split(".") for p in re.split(r"(\d+)", part) if p]


def data_map(path: str | Path, start: int) -> np.ndarray:
    """The data section of a safetensors file as a read-only byte memory map."""
    path = Path(path)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=start) if path.stat().st_size > start else np.zeros(0, np.uint8)


def tensor(data: np.ndarray, entry: dict) -> np.ndarray:
    """One floating tensor of the data section, as stored (BF16 widened to float32)."""
    begin, end = entry["data_offsets"]
    stored, _ = _FLOAT_DTYPES[entry["dtype"]]
    values = data[begin:end].view(stored).reshape(entry["shape"])
    if entry["dtype"] == "BF16":  # the upper half of a float32
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values


def infer_groups(names: list[str], shapes: list[tuple[int, ...]]) -> list[int]:
    """Groups of each conv (module names and weight shapes, in depth order), where the shapes
    determine them (see the module's docstring); 1 elsewhere."""
    groups = []
    for i, (name, shape) in enumerate(zip(names, shapes)):
        out, per_group = shape[0], shape[1]
        g = 1
        if per_group == 1 and out > 1 and i > 0:
            g = out  # depthwise
        elif i > 0 and names[i - 1].rsplit(".", 1)[0] == name.rsplit(".", 1)[0]:
            previous_out = shapes[i - 1][0]
            k = previous_out // per_group
            if k > 1 and previous_out % per_group == 0 and out % k == 0:
                g = k
        groups.append(g)
    return groups


def read_safetensors(model_id: str, path: str | Path) -> LoadedModel:
    """Conv layers (every 4-D floating ``*weight``) of a safetensors file, in name order."""
    path = Path(path)
    header, start = read_header(model_id, path)
    convs = sorted(
        (name for name, e in header.items() if len(e["shape"]) == 4 and name.endswith("weight")),
        key=natural_key,
    )
    unsupported = [f"{n} ({header[n]['dtype']})" for n in convs if header[n]["dtype"] not in _FLOAT_DTYPES]
    if unsupported:
        raise SourceError(
            f"model {model_id!r}: {str(path)!r}: conv weights of a dtype this reader does not read: "
            f"{', '.join(unsupported[:5])}; supported: {', '.join(_FLOAT_DTYPES)}"
        )
    if not convs:
        raise SourceError(f"model {model_id!r}: no 4-D conv weights in {str(path)!r}")
    data = data_map(path, start)
    shapes = [tuple(header[n]["shape"]) for n in convs]
    modules = [n.removesuffix(".weight") for n in convs]  # layer names are module paths
    layers = [
        ConvLayer(name=module, weight=tensor(data, header[key]), groups=g, distance=i)
        for i, (key, module, g) in enumerate(zip(convs, modules, infer_groups(modules, shapes)))
    ]
    precision = "+".join(sorted({_FLOAT_DTYPES[header[n]["dtype"]][1] for n in convs}))
    return LoadedModel(
        model=model_id,
        convs=layers,
        depth_source="name order",
        precision=precision,
        bn_folded=False,
        source_detail={"format": "safetensors", "path": str(path), "not_in_file": ["stride", "dilation"]},
    )


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_safetensors(model_id, paths[0])
