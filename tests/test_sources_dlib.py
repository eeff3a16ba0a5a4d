"""dlib reader on a synthetic network file written with dlib's serialisation rules."""

from __future__ import annotations

import numpy as np
import pytest

from filterdb.readers.dlib import read_dlib
from filterdb.errors import SourceError


def packed(value: int) -> bytes:
    """dlib's packed int: control byte (byte count, bit 7 = negative), then little-endian bytes."""
    negative, value = value < 0, abs(value)
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")
    return bytes([len(raw) | (0x80 if negative else 0)]) + raw


def string(text: str) -> bytes:
    return packed(len(text)) + text.encode()


def tensor(values: np.ndarray) -> bytes:
    """dlib tensor, version 2: n, k, nr, nc, then float32 little endian."""
    flat = np.asarray(values, "<f4").reshape(-1)
    return packed(2) + b"".join(packed(d) for d in (flat.size, 1, 1, 1)) + flat.tobytes()


def con(weight: np.ndarray, stride=(1, 1), bias=True, tag="con_4") -> bytes:
    n, k, nr, nc = weight.shape
    params = np.concatenate([weight.reshape(-1), np.linspace(-1, 1, n)]) if bias else weight.reshape(-1)
    out = string(tag) + tensor(params)
    out += b"".join(packed(v) for v in (n, nr, nc, stride[0], stride[1], nr // 2, nc // 2))
    out += packed(1) + b"".join(packed(v) for v in (n, k, nr, nc))  # filters alias
    out += packed(1) + b"".join(packed(v) for v in (n, 1, 1, 1))  # biases alias
    out += b"\x03\x00\x00\x80\x01\x00" * 4  # learning-rate / weight-decay multipliers (float_details)
    return out


def test_packed_ints():
    assert packed(0) == b"\x01\x00" and packed(2) == b"\x01\x02" and packed(4736) == b"\x02\x80\x12"
    assert packed(-3) == b"\x81\x03"


def test_synthetic_network_reads_back(tmp_path):
    rng = np.random.default_rng(3)
    stem = rng.normal(size=(4, 3, 7, 7)).astype(np.float32)
    a = rng.normal(size=(4, 4, 3, 3)).astype(np.float32)
    b = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
    # a decoy: the tag inside float data, followed by bytes that are no con_ record
    decoy = string("con_4") + b"\x01\x07garbage"
    blob = (
        packed(1) + string("loss_metric_2") + packed(2) * 5 + string("input_rgb_image_sized") + packed(150)
        + con(stem, stride=(2, 2)) + string("affine_") + tensor(rng.normal(size=8))
        + string("relu_") + decoy
        + con(a) + string("add_prev_") + con(b, stride=(2, 2), bias=False, tag="con_5")
        + string("fc_no_bias") + tensor(rng.normal(size=32))
    )
    (tmp_path / "net.dat").write_bytes(blob)
    loaded = read_dlib("d", tmp_path / "net.dat")
    assert len(loaded.convs) == 3
    for conv, weight in zip(loaded.convs, (stem, a, b)):
        np.testing.assert_array_equal(conv.weight, weight)
    assert [c.stride for c in loaded.convs] == [(2, 2), (1, 1), (2, 2)]
    assert [c.distance for c in loaded.convs] == [0, 1, 2]
    assert loaded.depth_source == "execution order" and loaded.precision == "fp32"


def test_a_file_without_convs_is_a_clear_error(tmp_path):
    (tmp_path / "sp.dat").write_bytes(string("shape_predictor") + bytes(100))
    with pytest.raises(SourceError, match="no dlib convolution layer"):
        read_dlib("sp", tmp_path / "sp.dat")


def test_truncated_file_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(4)
    blob = con(rng.normal(size=(2, 2, 3, 3)).astype(np.float32)) + con(rng.normal(size=(2, 2, 3, 3)).astype(np.float32))
    (tmp_path / "cut.dat").write_bytes(blob[: len(blob) - 60])
    with pytest.raises(SourceError, match="truncated"):
        read_dlib("cut", tmp_path / "cut.dat")
