"""Extraction from timm models: counts, bit-exact round trip, determinism, bad weights."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from filterdb import store
from filterdb.errors import SourceError
from filterdb.extract import depth_ranks, write_filters
from filterdb.model import ConvLayer, LoadedModel
from filterdb.sources import get_source
from filterdb.sources.timm_source import create


def _load_timm(name: str, seed: int = 0) -> LoadedModel:
    row = {"model": name, "source": "timm", "reference": name, "pretrained": False, "seed": seed}
    source = get_source("timm")
    return source.load(row, source.fetch(row, None))


@pytest.mark.parametrize(
    "name, layers, kernels",
    [
        ("resnet18", 16, 1_220_608),
        ("vgg16", 13, 1_634_496),
        ("mobilenetv2_100", 18, 7_232),  # depthwise: out_ch × in_ch/groups
        ("convnext_tiny", 0, 0),  # 7×7 depthwise and 1×1 only
    ],
)
def test_kernel_counts(tmp_path, name, layers, kernels):
    info = write_filters(_load_timm(name), tmp_path / "f.parquet")
    assert (info["n_layers"], info["n_filters"]) == (layers, kernels)
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.num_rows == kernels
    _, facts = store.filters_metadata(tmp_path / "f.parquet")
    assert len(facts) == layers


def test_kernels_equal_module_weights_bit_for_bit(tmp_path):
    module = create("m", "resnet18", pretrained=False, seed=3)
    loaded = _load_timm("resnet18", seed=3)
    write_filters(loaded, tmp_path / "f.parquet")
    _, facts = store.filters_metadata(tmp_path / "f.parquet")
    table = pq.read_table(tmp_path / "f.parquet")
    layer = table.column("layer").to_numpy()
    out_ch = table.column("out_ch").to_numpy()
    in_ch = table.column("in_ch").to_numpy()
    kernels = table.column("kernel").combine_chunks().values.to_numpy().reshape(-1, 9)
    modules = dict(module.named_modules())
    for fact in facts:
        weight = modules[fact["name"]].weight.detach().numpy()
        rows = layer == fact["layer"]
        expected = weight[out_ch[rows], in_ch[rows]].reshape(-1, 9)
        assert np.array_equal(kernels[rows].view(np.uint32), expected.view(np.uint32))


def test_same_inputs_same_bytes(tmp_path):
    for name in ("a", "b"):
        write_filters(_load_timm("mobilenetv2_050"), tmp_path / f"{name}.parquet")
    digest = [hashlib.sha256((tmp_path / f"{n}.parquet").read_bytes()).hexdigest() for n in "ab"]
    assert digest[0] == digest[1]


def test_depth_ranks_count_distinct_distances_of_all_convs():
    ranks, count = depth_ranks([0, 3, 3, 7, 12])
    assert ranks == [0, 1, 1, 2, 3] and count == 4


def test_depth_uses_convs_of_every_kernel_size(tmp_path):
    rng = np.random.default_rng(0)
    convs = [
        ConvLayer("stem7x7", rng.normal(size=(4, 3, 7, 7)).astype(np.float32), distance=1),
        ConvLayer("a", rng.normal(size=(4, 4, 3, 3)).astype(np.float32), distance=2),
        ConvLayer("b1x1", rng.normal(size=(4, 4, 1, 1)).astype(np.float32), distance=3),
        ConvLayer("c", rng.normal(size=(4, 4, 3, 3)).astype(np.float32), distance=4),
    ]
    write_filters(LoadedModel("toy", convs), tmp_path / "f.parquet")
    _, facts = store.filters_metadata(tmp_path / "f.parquet")
    assert [(f["name"], f["conv_depth"], f["conv_depth_norm"]) for f in facts] == [("a", 1, 1 / 3), ("c", 3, 1.0)]


def _nan_model() -> LoadedModel:
    weight = np.ones((2, 2, 3, 3), np.float32)
    weight[1, 0, 1, 1] = np.nan
    good = np.ones((2, 2, 3, 3), np.float32)
    return LoadedModel("broken", [ConvLayer("good", good, distance=0), ConvLayer("bad.conv", weight, distance=1)])


def test_nan_layer_is_an_error_naming_model_and_layer(tmp_path):
    with pytest.raises(SourceError, match=r"'broken'.*'bad.conv'.*1 filters with NaN"):
        write_filters(_nan_model(), tmp_path / "f.parquet")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_nan_layer_excluded_with_its_count_recorded(tmp_path):
    info = write_filters(_nan_model(), tmp_path / "f.parquet", on_nonfinite="exclude")
    assert info["n_layers"] == 1
    assert info["excluded_layers"] == [{"name": "bad.conv", "nonfinite_filters": 1, "n_filters": 4}]
