"""Zoo training: bitwise reproducible on CPU, resumable, atomic; the train source."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from filterdb.errors import SourceError  # noqa: E402
from filterdb.sources import get_source  # noqa: E402
from filterdb.zoo import datasets  # noqa: E402
from filterdb.zoo.train import TrainConfig, TrainError, checkpoint_path, timing_table, train  # noqa: E402


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return datasets.load("digits", tmp_path_factory.mktemp("cache"))


def config(**kwargs) -> TrainConfig:
    base = dict(model="m", architecture="vgg", dataset="digits", epochs=1, data_size=256, batch_size=64)
    return TrainConfig(**{**base, **kwargs})


def run(cfg, data, folder, **kwargs):
    weights, record = folder / f"{cfg.model}.safetensors", folder / f"{cfg.model}.json"
    return train(cfg, data, weights, record, device="cpu", threads=1, **kwargs), weights, record


def test_cpu_training_is_bitwise_reproducible(digits, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    rec_a, wa, _ = run(config(), digits, tmp_path / "a")
    rec_b, wb, _ = run(config(), digits, tmp_path / "b")
    _, wc, _ = run(config(seed=1), digits, tmp_path / "c")
    assert wa.read_bytes() == wb.read_bytes()
    assert rec_a["curve"][0]["train_loss"] == rec_b["curve"][0]["train_loss"]
    assert wa.read_bytes() != wc.read_bytes()


def test_denoising_reproducible_and_recorded(digits, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    rec, wa, _ = run(config(task="denoising", architecture="mobilenet"), digits, tmp_path / "a")
    _, wb, _ = run(config(task="denoising", architecture="mobilenet"), digits, tmp_path / "b")
    assert wa.read_bytes() == wb.read_bytes()
    assert rec["final"]["test_accuracy"] is None and rec["final"]["test_loss"] > 0


def test_interrupted_training_resumes_to_the_same_bytes(digits, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "cut").mkdir()
    cfg = config(epochs=2)
    _, full, _ = run(cfg, digits, tmp_path / "full")

    def interrupt(epoch):
        raise KeyboardInterrupt("killed after epoch 0")

    weights, record = tmp_path / "cut" / "m.safetensors", tmp_path / "cut" / "m.json"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, digits, weights, record, device="cpu", threads=1, after_epoch=interrupt)
    # no half-written output: only the checkpoint exists
    assert not weights.exists() and not record.exists()
    assert checkpoint_path(weights).is_file()
    assert [p.name for p in (tmp_path / "cut").iterdir()] == [checkpoint_path(weights).name]
    rec, _, _ = run(cfg, digits, tmp_path / "cut")
    assert rec["resumed_after_epoch"] == 1 and len(rec["curve"]) == 2
    assert weights.read_bytes() == full.read_bytes()
    assert not checkpoint_path(weights).exists()


def test_stale_checkpoint_of_other_settings_is_ignored(digits, tmp_path):
    cfg = config(epochs=2)

    def interrupt(epoch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cfg, digits, tmp_path, after_epoch=interrupt)
    rec, _, _ = run(config(epochs=2, seed=5), digits, tmp_path)
    assert rec["resumed_after_epoch"] is None


def test_zero_epochs_is_the_initialisation(digits, tmp_path):
    rec, weights, _ = run(config(epochs=0), digits, tmp_path)
    from safetensors.torch import load_file

    model = config(epochs=0).build()
    state = load_file(str(weights))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert rec["curve"] == [] and rec["steps"] == 0


def row(**kwargs):
    base = {"model": "zoo_t", "source": "train", "reference": "zoo", "architecture": "vgg", "family": "VGG",
            "task": "classification", "visual_category": "handwriting", "training_dataset": "digits",
            "pretrained": False, "dataset": "digits", "width": "1", "depth": "3", "epochs": "1",
            "data_size": "128", "seed": 0}  # fmt: skip
    return {**base, **kwargs}


@pytest.mark.parametrize(
    "cells,message",
    [
        ({"dataset": "cifar11"}, "unknown zoo data set 'cifar11'"),
        ({"architecture": "vgg99"}, "unknown zoo architecture 'vgg99'"),
        ({"width": "wide"}, "column 'width' must be float"),
        ({"epochs": "1.5"}, "column 'epochs' must be integer"),
        ({"task": "detection"}, "column 'task'"),
    ],
)
def test_bad_rows(cells, message):
    with pytest.raises(TrainError, match=message):
        TrainConfig.from_row(row(**cells))


@pytest.mark.parametrize("cells", [{"width": "0.01"}, {"width": "0"}, {"depth": "0"}, {"architecture": "resnet", "depth": "2"}])
def test_settings_without_3x3_conv_fail_when_the_row_is_read(cells):
    # caught without torch, so a bad sheet row fails the workflow's dry run
    with pytest.raises(TrainError, match="model 'zoo_t'.*(no 3×3 convolution|at least 4 blocks)"):
        TrainConfig.from_row(row(**cells))


def test_data_size_beyond_the_data_set(digits, tmp_path):
    with pytest.raises(TrainError, match="data_size 5000 exceeds"):
        run(config(data_size=5000), digits, tmp_path)


def test_train_source_fetch_and_load(digits, tmp_path):
    cfg = TrainConfig.from_row(row())
    train(cfg, digits, tmp_path / "zoo_t.safetensors", tmp_path / "zoo_t.json", device="cpu", threads=1)
    source = get_source("train")
    manifest = source.fetch(row(), None, weights=tmp_path / "zoo_t.safetensors", record=tmp_path / "zoo_t.json")
    assert json.loads(json.dumps(manifest)) == manifest  # JSON-able
    columns = manifest["model_columns"]
    assert columns["data_size"] == 128 and columns["epochs"] == 1 and columns["width"] == 1.0
    assert 0 <= columns["test_accuracy"] <= 1 and len(json.loads(columns["train_curve"])) == 1
    loaded = source.load(row(), manifest)
    convs = [c for c in loaded.convs if c.kernel_size == (3, 3)]
    assert len(convs) == 3 and loaded.depth_source == "graph"
    assert [c.distance for c in convs] == sorted(c.distance for c in convs)
    # the row changed since training: refused, not silently mixed
    with pytest.raises(SourceError, match="other settings"):
        source.fetch(row(epochs="2"), None, weights=tmp_path / "zoo_t.safetensors", record=tmp_path / "zoo_t.json")
    (tmp_path / "zoo_t.safetensors").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="not the file its record"):
        source.fetch(row(), None, weights=tmp_path / "zoo_t.safetensors", record=tmp_path / "zoo_t.json")
    with pytest.raises(SourceError, match="not trained yet"):
        source.fetch(row(model="zoo_other"), None, weights=tmp_path / "zoo_other.safetensors",
                     record=tmp_path / "zoo_other.json")


def test_timing_table_sums(tmp_path):
    benchmarks, timings, records = [], [], []
    for i, seconds in enumerate([1.5, 2.5]):
        bench = tmp_path / f"b{i}.tsv"
        bench.write_text("s\th:m:s\tmax_rss\tcpu_time\n" f"{seconds}\t0:00:0{seconds}\t100\t1\n")
        timing = tmp_path / f"t{i}.json"
        timing.write_text(json.dumps({"model": f"m{i}", "wall_s": seconds - 1, "device": "cpu", "threads": 1}))
        record = tmp_path / f"r{i}.json"
        record.write_text(json.dumps({"model": f"m{i}", "config": {"epochs": 1}, "dataset": {"train_images": 10}}))
        benchmarks.append(str(bench))
        timings.append(str(timing))
        records.append(str(record))
    table = timing_table(benchmarks, timings, records)
    assert table["model"].tolist() == ["m0", "m1", "TOTAL"]
    assert np.isclose(table.loc[2, "wall_s"], 4.0) and np.isclose(table.loc[2, "train_s"], 2.0)
    assert np.isclose(table.loc[2, "cpu_s"], 2.0)


def test_check_rows_names_sheet_and_model():
    from filterdb.zoo import check_rows

    check_rows({"zoo_t": {**row(), "_sheet": "config/zoo.tsv"}, "other": {"source": "timm"}})
    with pytest.raises(TrainError, match="config/zoo.tsv: model 'zoo_t': unknown zoo data set 'digitz'"):
        check_rows({"zoo_t": {**row(dataset="digitz"), "_sheet": "config/zoo.tsv"}})


@pytest.mark.parametrize("architecture", ["vgg", "resnet", "mobilenet"])
def test_the_stored_layout_gives_the_layers_that_tracing_gives(digits, tmp_path, architecture):
    from filterdb.sources import train as train_source

    cfg = config(architecture=architecture, model=f"m_{architecture}")
    _, weights, record = run(cfg, digits, tmp_path)
    manifest = {"weights": str(weights), "sha256": "-"}
    stored = train_source._load_with_layout(cfg.model, manifest)
    # the torch path: rebuild the architecture, load the weights, trace
    module = cfg.build()
    from safetensors.torch import load_file

    module.load_state_dict(load_file(weights))
    traced = train_source.convs_from_module(cfg.model, module.eval(), input_shape=cfg.input_shape())
    assert stored is not None and stored.depth_source == traced.depth_source
    assert len(stored.convs) == len(traced.convs) > 0
    for a, b in zip(stored.convs, traced.convs):
        assert (a.name, a.distance, a.groups, a.stride, a.dilation) == (b.name, b.distance, b.groups, b.stride, b.dilation)
        np.testing.assert_array_equal(a.weight, b.weight)
    if architecture == "mobilenet":
        assert any(c.groups > 1 for c in stored.convs)  # depthwise convs keep their groups


def test_a_zoo_dump_reads_the_layout_without_torch(digits, tmp_path):
    import subprocess
    import sys

    cfg = config(model="m_plain")
    run(cfg, digits, tmp_path)
    code = (
        "import sys, json\n"
        "from filterdb.sources import train\n"
        f"m = train.load({{'model': 'm_plain'}}, {{'weights': {str(tmp_path / 'm_plain.safetensors')!r}, 'sha256': '-'}})\n"
        "assert len(m.convs) > 0, m\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'timm'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_a_layout_that_does_not_match_the_weights_is_refused(digits, tmp_path):
    from safetensors.numpy import load_file, save_file

    from filterdb.sources import train as train_source
    from filterdb.zoo.train import LAYOUT_KEY

    cfg = config(model="m_bad")
    _, weights, _ = run(cfg, digits, tmp_path)
    tensors = load_file(weights)
    from filterdb.readers.safetensors_file import read_header

    metadata: dict = {}
    read_header("m_bad", weights, metadata)
    spec = json.loads(metadata[LAYOUT_KEY])
    spec["layers"] = spec["layers"][1:]  # one conv fewer than the file holds
    save_file(tensors, str(weights), metadata={**metadata, LAYOUT_KEY: json.dumps(spec)})
    with pytest.raises(SourceError, match="m_bad.*conv layout names"):
        train_source.load({"model": "m_bad"}, {"weights": str(weights), "sha256": "-"})
    save_file(tensors, str(weights), metadata={**metadata, LAYOUT_KEY: "{not json"})
    with pytest.raises(SourceError, match="malformed conv layout"):
        train_source.load({"model": "m_bad"}, {"weights": str(weights), "sha256": "-"})
    # the layout intact, one conv's weights stored as float16: refused in one line, not widened and recorded as float32
    first = json.loads(metadata[LAYOUT_KEY])["layers"][0]["name"]
    tensors[f"{first}.weight"] = tensors[f"{first}.weight"].astype(np.float16)
    save_file(tensors, str(weights), metadata=metadata)
    with pytest.raises(SourceError, match=rf"m_bad.*not float32.*{first} \(F16\)"):
        train_source.load({"model": "m_bad"}, {"weights": str(weights), "sha256": "-"})
