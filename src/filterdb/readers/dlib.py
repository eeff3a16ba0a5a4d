"""dlib DNN ``.dat`` files, read in Python from dlib's serialisation format (no dlib needed).

dlib writes a network from the input layer outwards (each ``add_layer`` writes its
subnetwork first), so the order of layers in the file is the execution order. Integers
are dlib's packed ints: one control byte (low nibble = byte count, bit 7 = negative),
then that many little-endian bytes. A convolution (``con_``) is written as

    string "con_N"                 packed length + bytes
    tensor params                  version 2; n, k, nr, nc; n*k*nr*nc float32 LE
    num_filters, nr, nc, stride_y, stride_x, padding_y, padding_x   packed ints
    alias_tensor filters           version 1; n, k, nr, nc (shape of the filters)
    ...                            bias alias, learning-rate multipliers

``params`` holds the filters (num_filters, k, nr, nc), row-major, then the biases. The
reader finds each ``con_`` record by its tag and checks every size against the others,
so a stray match inside float data cannot pass as a layer.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel

# packed length 5 or 6, then the tag: "con_4", "con_5" (and later versions)
_CON_TAG = re.compile(rb"\x01[\x05\x06](con_\d{1,2})")


class _Truncated(ValueError):
    """The file ends inside a record."""


class _Cursor:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos = data, pos

    def packed_int(self) -> int:
        if self.pos >= len(self.data):
            raise _Truncated("file ends before a packed int")
        control = self.data[self.pos]
        size, negative = control & 0x0F, bool(control & 0x80)
        if size > 8 or control & 0x70:
            raise ValueError(f"bad packed int control byte {control:#x} at offset {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + size]
        if len(raw) != size:
            raise _Truncated("file ends inside a packed int")
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def floats(self, count: int) -> np.ndarray:
        end = self.pos + 4 * count
        if end > len(self.data):
            raise _Truncated(f"file ends inside a tensor of {count} floats")
        values = np.frombuffer(self.data, "<f4", count, self.pos)
        self.pos = end
        return values


def _read_con(data: bytes, start: int, tag: str) -> tuple[np.ndarray, tuple[int, int], int] | None:
    """(weight (n, k, nr, nc), stride, end offset) of the ``con_`` record whose params start at ``start``."""
    cur = _Cursor(data, start)
    try:
        if cur.packed_int() != 2:  # tensor serialisation version
            return None
        dims = [cur.packed_int() for _ in range(4)]
        total = int(np.prod(dims))
        if total <= 0 or any(d < 0 for d in dims):
            return None
        params = cur.floats(total)
        num_filters, nr, nc, stride_y, stride_x, _pad_y, _pad_x = (cur.packed_int() for _ in range(7))
        if cur.packed_int() != 1:  # alias_tensor version
            return None
        n, k, anr, anc = (cur.packed_int() for _ in range(4))
    except _Truncated:
        raise
    except (ValueError, IndexError):
        return None
    size = n * k * anr * anc
    if (n, anr, anc) != (num_filters, nr, nc) or size <= 0 or total not in (size, size + n):
        return None
    weight = params[:size].reshape(n, k, nr, nc)
    return weight, (stride_y, stride_x), cur.pos


def read_dlib(model_id: str, path: str | Path) -> LoadedModel:
    """All ``con_`` layers of a dlib DNN file, weights (out, in, kh, kw) float32, in file order."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: dlib file {str(path)!r} does not exist")
    data = path.read_bytes()
    convs: list[ConvLayer] = []
    pos = 0
    while True:
        match = _CON_TAG.search(data, pos)
        if match is None:
            break
        try:
            parsed = _read_con(data, match.end(), match.group(1).decode())
        except _Truncated as exc:
            raise SourceError(
                f"model {model_id!r}: {str(path)!r} is truncated ({exc}, layer {len(convs)}); "
                "delete it and fetch again"
            ) from None
        if parsed is None:  # a byte pattern inside float data, not a layer
            pos = match.start() + 1
            continue
        weight, stride, pos = parsed
        convs.append(
            ConvLayer(
                name=f"con{len(convs)}",
                weight=weight.copy(),
                stride=stride,
                distance=len(convs),
            )
        )
    if not convs:
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} holds no dlib convolution layer (con_); "
            "is it a dlib DNN file? (shape predictors and HOG detectors have no convs)"
        )
    return LoadedModel(
        model=model_id,
        convs=convs,
        depth_source="execution order",
        precision="fp32",
        # dlib's bn_ layers become affine_ layers at inference, separate from the conv
        bn_folded=False,
        source_detail={"format": "dlib", "file": path.name},
    )


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_dlib(model_id, paths[0])
