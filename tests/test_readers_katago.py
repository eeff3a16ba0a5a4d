"""KataGo ``.bin.gz``: a network written here in KataGo's export format, read back exactly."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from filterdb.readers import read
from filterdb.errors import SourceError


def blob(values: np.ndarray) -> bytes:
    return b"@BIN@" + np.ascontiguousarray(values, "<f4").tobytes() + b"\n"


def write_net(path, convs, compress=True):
    """KataGo's layout: header, a conv, a batch norm (4 arrays), an activation, a conv, matmul, bias."""
    parts = [b"kata-test\n14\n22\n19\ntrunk\n2\n8\n"]
    (n0, w0), (n1, w1) = convs
    for i, (name, w) in enumerate(convs):  # torch (out, in, kh, kw) → KataGo (kh, kw, in, out)
        out, cin, kh, kw = w.shape
        parts.append(f"{name}\n{kh}\n{kw}\n{cin}\n{out}\n1\n{1 + i}\n".encode() + blob(w.transpose(2, 3, 1, 0)))
        if i == 0:
            parts.append(b"norm\n%d\n1e-05\n1\n1\n" % out + b"".join(blob(np.full(out, v)) for v in (0, 1, 2, 3)))
            parts.append(b"act\nACTIVATION_MISH\n")
    parts.append(b"head.linear\n3\n2\n" + blob(np.arange(6)) + b"head.bias\n2\n" + blob(np.ones(2)))
    data = b"".join(parts)
    path.write_bytes(gzip.compress(data) if compress else data)
    return data


@pytest.fixture()
def net(tmp_path):
    rng = np.random.default_rng(0)
    convs = [("model.conv_spatial", rng.standard_normal((8, 22, 3, 3)).astype(np.float32)),
             ("model.blocks.0.conv", rng.standard_normal((4, 8, 3, 5)).astype(np.float32))]
    path = tmp_path / "net.bin.gz"
    data = write_net(path, convs)
    return path, convs, data


def test_weights_dilation_and_order(net):
    path, convs, _ = net
    loaded = read("katago", "go", [path])
    assert [c.name for c in loaded.convs] == [name for name, _ in convs]
    for conv, (_, w) in zip(loaded.convs, convs):
        np.testing.assert_array_equal(conv.weight, w)
    assert loaded.convs[1].dilation == (1, 2) and loaded.depth_source == "execution order"
    assert loaded.source_detail["network"] == "kata-test"


def test_truncated_file_is_one_line_error(tmp_path, net):
    _, _, data = net
    for cut in (len(data) // 2, len(data) - 3):
        path = tmp_path / "cut.bin.gz"
        path.write_bytes(gzip.compress(data[:cut]))
        with pytest.raises(SourceError, match="not a readable KataGo network") as info:
            read("katago", "go", [path])
        assert "\n" not in str(info.value)
    path.write_bytes(gzip.compress(data)[:-20])  # the gzip stream itself cut
    with pytest.raises(SourceError, match="not a readable KataGo network"):
        read("katago", "go", [path])


def test_wrong_size_in_header_is_refused(tmp_path, net):
    _, _, data = net
    path = tmp_path / "bad.bin.gz"
    path.write_bytes(gzip.compress(data.replace(b"model.blocks.0.conv\n3\n5\n8\n4", b"model.blocks.0.conv\n3\n5\n8\n3")))
    with pytest.raises(SourceError, match="no newline after the array"):
        read("katago", "go", [path])
    path.write_bytes(gzip.compress(b"hello\n@BIN@\x00\x00\x00\x00\n"))
    with pytest.raises(SourceError, match="which says no size"):
        read("katago", "go", [path])
