"""ONNX reader: a second, independent path to the same filters as torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from filterdb.errors import SourceError  # noqa: E402
from filterdb.readers.onnx import read_onnx  # noqa: E402
from filterdb.sources import get_source  # noqa: E402
from filterdb.sources.torch_graph import convs_from_module  # noqa: E402


def export(module, path, shape=(1, 3, 64, 64)):
    """Export without folding BatchNorm into the convs (training mode, no constant folding)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, torch.zeros(*shape), str(path), dynamo=False,
            training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
        )


def test_timm_model_and_its_onnx_export_give_the_same_filters(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    module = timm.create_model("resnet10t", pretrained=False)
    export(module, tmp_path / "resnet10t.onnx")
    direct = convs_from_module("r", module, input_shape=(3, 64, 64))
    via_onnx = read_onnx("r", tmp_path / "resnet10t.onnx")
    assert via_onnx.bn_folded is False  # BatchNormalization nodes are still in the graph
    assert len(via_onnx.convs) == len(direct.convs) >= 10

    # same layers, same weights bit for bit, same hyper-parameters: pair them by weights
    # (random init: every layer's weights are unique), then compare everything else
    pairs = []
    for a in direct.convs:
        same = [b for b in via_onnx.convs if b.weight.shape == a.weight.shape and np.array_equal(a.weight, b.weight)]
        assert len(same) == 1, a.name
        b = same[0]
        assert (a.groups, a.stride, a.dilation) == (b.groups, b.stride, b.dilation)
        pairs.append((a.distance, b.distance))
    # depth: the ONNX graph has more nodes but the same topology, so the same order
    torch_d, onnx_d = np.array(pairs).T
    assert (np.sign(np.subtract.outer(torch_d, torch_d)) == np.sign(np.subtract.outer(onnx_d, onnx_d))).all()


class Depthwise(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dw = torch.nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=8)
        self.grouped = torch.nn.Conv2d(16, 8, 3, padding=1, groups=4)
        self.pw = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.pw(self.grouped(self.dw(self.stem(x))))


def test_grouped_and_depthwise_convs(tmp_path):
    torch.manual_seed(1)
    module = Depthwise()
    export(module, tmp_path / "dw.onnx", (1, 3, 16, 16))
    loaded = read_onnx("dw", tmp_path / "dw.onnx")
    assert [c.groups for c in loaded.convs] == [1, 8, 4, 1]
    assert [c.weight.shape for c in loaded.convs] == [(8, 3, 3, 3), (16, 1, 3, 3), (8, 4, 3, 3), (4, 8, 1, 1)]
    assert loaded.convs[0].stride == (2, 2) and loaded.convs[1].dilation == (2, 2)
    assert [c.distance for c in loaded.convs] == [1, 2, 3, 4]
    np.testing.assert_array_equal(loaded.convs[1].weight, module.dw.weight.detach().numpy())
    assert loaded.precision == "fp32"


def test_external_data_is_read_and_its_absence_is_a_clear_error(tmp_path):
    module = Depthwise()
    export(module, tmp_path / "inline.onnx", (1, 3, 16, 16))
    model = onnx.load(str(tmp_path / "inline.onnx"))
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.weights", size_threshold=0)
    loaded = read_onnx("ext", folder / "m.onnx")
    np.testing.assert_array_equal(loaded.convs[2].weight, module.grouped.weight.detach().numpy())
    (folder / "m.weights").unlink()
    with pytest.raises(SourceError, match=r"external file 'm.weights'.*missing"):
        read_onnx("ext", folder / "m.onnx")


def _hand_graph(weight_nodes, weight_inits, weight_name, dtype=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("x", dtype, [1, 2, 8, 8])
    y = helper.make_tensor_value_info("y", dtype, None)
    conv = helper.make_node("Conv", ["x", weight_name], ["y"], name="conv", pads=[1, 1, 1, 1])
    graph = helper.make_graph([*weight_nodes, conv], "g", [x], [y], initializer=weight_inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_dequantize_linear_weights(tmp_path):
    """A weight behind DequantizeLinear (per output channel) reads as (q - zero) * scale."""
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 128, size=(3, 2, 3, 3), dtype=np.int8)
    scale = np.array([0.5, 0.25, 0.125], np.float32)
    zero = np.array([1, -2, 0], np.int8)
    deq = helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0)
    model = _hand_graph([deq], [numpy_helper.from_array(q, "wq"), numpy_helper.from_array(scale, "ws"),
                                numpy_helper.from_array(zero, "wz")], "w")
    onnx.save(model, str(tmp_path / "q.onnx"))
    loaded = read_onnx("q", tmp_path / "q.onnx")
    expected = (q.astype(np.float32) - zero[:, None, None, None]) * scale[:, None, None, None]
    np.testing.assert_array_equal(loaded.convs[0].weight, expected)
    assert loaded.precision == "int8-quantised"


def test_fp16_weights_through_identity(tmp_path):
    w = np.arange(36, dtype=np.float16).reshape(2, 2, 3, 3)
    ident = helper.make_node("Identity", ["w16"], ["w"])
    model = _hand_graph([ident], [numpy_helper.from_array(w, "w16")], "w", dtype=TensorProto.FLOAT16)
    onnx.save(model, str(tmp_path / "h.onnx"))
    loaded = read_onnx("h", tmp_path / "h.onnx")
    assert loaded.precision == "fp16"
    np.testing.assert_array_equal(loaded.convs[0].weight, w)


def test_onnx_source_checks_sha256(tmp_path):
    export(Depthwise(), tmp_path / "m.onnx", (1, 3, 16, 16))
    source = get_source("onnx")
    row = {"model": "m", "source": "onnx", "reference": str(tmp_path / "m.onnx")}
    manifest = source.fetch(row, tmp_path / "cache")
    assert len(source.load(row, manifest).convs) == 4
    with pytest.raises(SourceError, match="checksum mismatch"):
        source.fetch({**row, "sha256": "0" * 64}, tmp_path / "cache")
    with pytest.raises(SourceError, match="does not exist"):
        source.fetch({**row, "reference": str(tmp_path / "nope.onnx")}, tmp_path / "cache")


def test_not_an_onnx_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(SourceError, match="not a readable ONNX file"):
        read_onnx("bad", tmp_path / "bad.onnx")
