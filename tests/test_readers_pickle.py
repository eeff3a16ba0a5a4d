"""The restricted unpickler: torch files of both eras, whole pickled modules, madmom pickles.

Every file is written here with known weights; payloads that would write a file if run
must leave no file behind.
"""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest

from filterdb.readers import read
from filterdb.readers.madmom import read_madmom
from filterdb.readers.safe_pickle import restricted_load
from filterdb.readers.torch_pickle import read_torch_pickle
from filterdb.errors import SourceError

torch = pytest.importorskip("torch")


class Payload:
    """Unpickling this with plain pickle writes ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('ran')",)


def small_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3, groups=2, dilation=2)),
        torch.nn.ConvTranspose2d(6, 4, 3, groups=2),
        torch.nn.Conv2d(4, 2, 1),
    )


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_state_dict_weights_match_torch(tmp_path, zip_format):
    module = small_module()
    path = tmp_path / "state.pth"
    torch.save(module.state_dict(), path, _use_new_zipfile_serialization=zip_format)
    loaded = read_torch_pickle("m", [path])
    expected = [(k, v.numpy()) for k, v in module.state_dict().items() if v.ndim == 4]
    assert [c.name for c in loaded.convs] == [k for k, _ in expected]
    for conv, (_, weight) in zip(loaded.convs, expected):
        np.testing.assert_array_equal(conv.weight, weight)
    assert loaded.depth_source == "execution order" and loaded.precision == "fp32"


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_whole_module_gives_groups_strides_and_transposed_kernels(tmp_path, zip_format):
    module = small_module()
    path = tmp_path / "whole.pt"
    torch.save(module, path, _use_new_zipfile_serialization=zip_format)
    loaded = read_torch_pickle("m", [path])
    assert [c.name for c in loaded.convs] == ["0", "2.0", "3", "4"]
    first, grouped, transposed, last = loaded.convs
    np.testing.assert_array_equal(first.weight, module[0].weight.detach().numpy())
    assert first.stride == (2, 2) and grouped.groups == 2 and grouped.dilation == (2, 2)
    assert grouped.weight.shape == (6, 2, 3, 3) and grouped.in_channels == 4
    # ConvTranspose2d stores (in, out/groups, kh, kw); output channel o of group g uses
    # inputs g*3 .. g*3+2 (in/groups = 3), kernel w[i, o - g*2]
    w = module[3].weight.detach().numpy()
    assert transposed.weight.shape == (4, 3, 3, 3) and transposed.groups == 2
    for o in range(4):
        g = o // 2
        for i in range(3):
            np.testing.assert_array_equal(transposed.weight[o, i], w[g * 3 + i, o - g * 2])
    assert last.weight.shape == (2, 4, 1, 1)
    assert loaded.source_detail["content"] == "pickled module"


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_code_in_a_torch_file_is_never_run(tmp_path, zip_format):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.ones(2, 1, 3, 3), "extra": Payload(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    loaded = read("torch-pickle", "m", [path])
    assert [c.weight.shape for c in loaded.convs] == [(2, 1, 3, 3)]
    assert not marker.exists()
    with open(path, "rb") as handle:  # the payload is real: plain pickle would run it
        if not zip_format:
            assert pickle.load(handle) == 0x1950A86A20F9469CFC6C


def test_a_plain_pickle_payload_is_a_stub(tmp_path):
    marker = tmp_path / "marker"
    obj = restricted_load(pickle.dumps({"a": Payload(marker), "b": np.arange(6, dtype="<f4").reshape(2, 3)}))
    assert not marker.exists()
    assert type(obj["a"]).__name__ == "exec"
    np.testing.assert_array_equal(obj["b"], np.arange(6, dtype="<f4").reshape(2, 3))
    pickle.loads(pickle.dumps(Payload(marker)))  # what the restricted unpickler prevented
    assert marker.exists()


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_truncated_torch_file_is_one_line_error(tmp_path, zip_format):
    path = tmp_path / "cut.pth"
    torch.save(small_module().state_dict(), path, _use_new_zipfile_serialization=zip_format)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SourceError, match=r"model 'm': .*cut.pth.* not a readable torch file") as info:
        read_torch_pickle("m", [path])
    assert "\n" not in str(info.value)


def test_malformed_and_missing_torch_files(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"\x80\x02K\x07." + b"\x00" * 40)  # a pickle of 7, then junk
    with pytest.raises(SourceError, match="not a readable torch file .*no torch magic number"):
        read_torch_pickle("m", [path])
    with pytest.raises(SourceError, match="does not exist"):
        read_torch_pickle("m", [tmp_path / "none.pth"])


# ---------------------------------------------------------------- madmom


@pytest.fixture()
def fake_madmom(monkeypatch):
    """Classes named like madmom's, so that pickle records madmom's global names."""
    classes = {}
    for parent in ("madmom", "madmom.ml"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    for module_name, names in {"madmom.ml.nn": ["NeuralNetwork"],
                               "madmom.ml.nn.layers": ["ConvolutionalLayer", "BatchNormLayer", "MaxPoolLayer"]}.items():
        module = types.ModuleType(module_name)
        for name in names:
            cls = type(name, (), {"__module__": module_name})
            setattr(module, name, cls)
            classes[name] = cls
        monkeypatch.setitem(sys.modules, module_name, module)
    return classes


def make_layer(cls, **attrs):
    layer = cls()
    layer.__dict__.update(attrs)
    return layer


def test_madmom_network_in_correlation_form(tmp_path, fake_madmom):
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((1, 4, 3, 3)).astype(np.float32)  # madmom: (in, out, kh, kw)
    w2 = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
    net = make_layer(fake_madmom["NeuralNetwork"], layers=[
        make_layer(fake_madmom["ConvolutionalLayer"], weights=w1, bias=np.zeros(4, np.float32), stride=1,
                   activation_fn=None, pad="valid"),
        make_layer(fake_madmom["BatchNormLayer"], mean=np.zeros(4), inv_std=np.ones(4)),
        make_layer(fake_madmom["MaxPoolLayer"], size=(2, 2)),
        make_layer(fake_madmom["ConvolutionalLayer"], weights=w2, bias=np.zeros(5, np.float32), stride=(1, 2)),
    ])
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps(net, protocol=2))
    loaded = read("madmom", "mm", [path])
    assert [c.weight.shape for c in loaded.convs] == [(4, 1, 3, 3), (5, 4, 3, 3)]
    assert loaded.convs[1].stride == (1, 2)
    # madmom's output: a true convolution with w[i, o]; ours: a correlation with kernel[o, i]
    from scipy.signal import convolve2d, correlate2d

    image = rng.standard_normal((9, 7))
    for o in range(5):
        for i in range(4):
            np.testing.assert_allclose(correlate2d(image, loaded.convs[1].weight[o, i], "valid"),
                                       convolve2d(image, w2[i, o], "valid"), rtol=1e-5, atol=1e-5)


def test_madmom_python2_strings_and_payload(tmp_path, fake_madmom):
    marker = tmp_path / "marker"
    net = make_layer(fake_madmom["NeuralNetwork"], layers=[
        make_layer(fake_madmom["ConvolutionalLayer"], weights=np.ones((2, 3, 3, 3), np.float32), note="caf\xe9"),
        Payload(marker),
    ])
    path = tmp_path / "net.pkl"
    path.write_bytes(pickle.dumps(net, protocol=2))
    loaded = read_madmom("mm", path)
    assert loaded.convs[0].weight.shape == (3, 2, 3, 3) and not marker.exists()


def test_madmom_truncated_and_empty(tmp_path, fake_madmom):
    net = make_layer(fake_madmom["NeuralNetwork"], layers=[
        make_layer(fake_madmom["ConvolutionalLayer"], weights=np.ones((2, 3, 3, 3), np.float32))])
    data = pickle.dumps(net, protocol=2)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="not a readable madmom pickle") as info:
        read_madmom("mm", path)
    assert "\n" not in str(info.value)
    path.write_bytes(pickle.dumps(make_layer(fake_madmom["NeuralNetwork"], layers=[]), protocol=2))
    with pytest.raises(SourceError, match="has no ConvolutionalLayer"):
        read_madmom("mm", path)


def test_a_pickle_cannot_change_the_allowed_callables(tmp_path):
    """BUILD on an allowed function (here OrderedDict and _codecs.encode) is refused, not applied."""
    import collections

    for target in (b"ccollections\nOrderedDict\n", b"c_codecs\nencode\n"):
        # GLOBAL target; a dict {'__defaults__': None} as state; BUILD; STOP
        payload = target + b"}q\x00X\x0c\x00\x00\x00__defaults__q\x01Ns" + b"b."
        with pytest.raises(pickle.UnpicklingError, match="tries to change"):
            restricted_load(payload)
    assert collections.OrderedDict([("a", 1)])["a"] == 1


def test_real_files_still_read_after_sealing(tmp_path):
    path = tmp_path / "state.pth"
    torch.save({"w.weight": torch.ones(3, 2, 3, 3, dtype=torch.float16)}, path, _use_new_zipfile_serialization=False)
    loaded = read_torch_pickle("m", [path])
    assert loaded.precision == "fp16" and loaded.convs[0].weight.dtype == np.float32
