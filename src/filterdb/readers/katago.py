"""KataGo networks (``*.bin.gz``), read from their text-and-binary export format.

The file (gzip) is a stream of whitespace-separated text tokens; every weight array is
the text ``@BIN@`` followed by little-endian float32 data and a newline. What precedes
each array says its size:

    conv        name kh kw c_in c_out dilation_y dilation_x @BIN@ kh·kw·c_in·c_out floats (y, x, in, out)
    batch norm  name c epsilon has_scale has_bias @BIN@ mean, @BIN@ var [, @BIN@ scale] [, @BIN@ bias]
    matmul      name c_in c_out @BIN@ c_in·c_out floats
    bias        name c @BIN@ c floats

Other tokens (model name, version, block kinds, activations) carry no array. The whole
file must parse this way to its last byte, so a truncated or foreign file is refused
rather than half read. Depth: the file's order, which is KataGo's forward order (trunk,
then policy head, then value head: execution order).
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..model import ConvLayer, LoadedModel

_MARK = b"@BIN@"
_INT = re.compile(rb"-?\d+")


def _is_int(token: bytes) -> bool:
    return _INT.fullmatch(token) is not None


class _Malformed(ValueError):
    pass


def parse_katago(data: bytes) -> tuple[list[dict], str]:
    """(conv records {name, kh, kw, c_in, c_out, dilation, weight}, model name) of decompressed data."""
    convs: list[dict] = []
    tokens: list[bytes] = []
    follow: list[int] = []  # sizes of the remaining arrays of a batch norm
    pos = 0
    first_text = b""
    while True:
        mark = data.find(_MARK, pos)
        if mark < 0:
            break
        text = data[pos:mark]
        if pos == 0:
            first_text = text
        tokens += text.split()
        conv = None
        if follow:
            if tokens:
                raise _Malformed(f"text {tokens[-1][:40]!r} inside a batch norm's arrays")
            count = follow.pop(0)
        elif len(tokens) >= 7 and all(_is_int(t) for t in tokens[-6:]) and not _is_int(tokens[-7]):
            kh, kw, c_in, c_out, dy, dx = map(int, tokens[-6:])
            if min(kh, kw, c_in, c_out, dy, dx) < 1:
                raise _Malformed(f"conv {tokens[-7][:60]!r} with a non-positive size")
            count = kh * kw * c_in * c_out
            conv = {"name": tokens[-7].decode("utf-8", "replace"), "kh": kh, "kw": kw, "c_in": c_in,
                    "c_out": c_out, "dilation": (dy, dx)}
        elif (len(tokens) >= 5 and _is_int(tokens[-4]) and not _is_int(tokens[-3])
              and tokens[-2] in (b"0", b"1") and tokens[-1] in (b"0", b"1")):
            count = int(tokens[-4])
            follow = [count] * (1 + int(tokens[-2]) + int(tokens[-1]))  # var, then scale / bias
        elif len(tokens) >= 3 and _is_int(tokens[-1]) and _is_int(tokens[-2]) and not _is_int(tokens[-3]):
            count = int(tokens[-2]) * int(tokens[-1])
        elif len(tokens) >= 2 and _is_int(tokens[-1]):
            count = int(tokens[-1])
        else:
            raise _Malformed(f"an array after {b' '.join(tokens[-4:])[:80]!r}, which says no size")
        start = mark + len(_MARK)
        end = start + 4 * count
        if count < 0 or end > len(data):
            raise EOFError(f"file ends inside the array of {count} floats at byte {start}")
        if conv is not None:
            values = np.frombuffer(data, "<f4", count, start)
            conv["weight"] = values.reshape(conv["kh"], conv["kw"], conv["c_in"], conv["c_out"]).transpose(3, 2, 0, 1)
            convs.append(conv)
        if data[end : end + 1] != b"\n":
            raise _Malformed(f"no newline after the array at byte {start} (a size in the text is wrong)")
        tokens = []
        pos = end + 1
    if follow:
        raise EOFError("file ends inside a batch norm")
    if not convs and not first_text.strip():
        raise _Malformed("no KataGo header")
    name = first_text.split()[0].decode("utf-8", "replace") if first_text.split() else "?"
    return convs, name


def read_katago(model_id: str, path: str | Path) -> LoadedModel:
    """Every conv of a KataGo ``.bin.gz`` (or uncompressed ``.bin``), weights (out, in, kh, kw) float32."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {model_id!r}: KataGo file {str(path)!r} does not exist")
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        records, net_name = parse_katago(data)
    except (EOFError, zlib.error, gzip.BadGzipFile, _Malformed, ValueError) as exc:
        raise SourceError(
            f"model {model_id!r}: {str(path)!r} is not a readable KataGo network ({type(exc).__name__}: {exc}); "
            "a truncated or corrupt download gives this error: delete it and fetch again"
        ) from None
    if not records:
        raise SourceError(f"model {model_id!r}: {str(path)!r} has no convolution layer")
    convs = [ConvLayer(name=r["name"], weight=np.ascontiguousarray(r["weight"], np.float32),
                       dilation=r["dilation"], distance=i) for i, r in enumerate(records)]
    return LoadedModel(model=model_id, convs=convs, depth_source="execution order", precision="fp32",
                       bn_folded=False, source_detail={"format": "KataGo bin", "file": path.name, "network": net_name})


def read(model_id: str, paths: list, options: dict) -> LoadedModel:
    """The reader registry's entry (:mod:`filterdb.readers`): the first of ``paths`` is the model file."""
    return read_katago(model_id, paths[0])
