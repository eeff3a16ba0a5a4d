"""Bad input never passes silently: one clear line naming the file, line, column or key,
a non-zero exit (or the library's exception), and nothing written or lost.

Grouped by class; most cases call the library or `snakemake -n` in a temporary folder
(seconds), none trains or downloads.
"""

from __future__ import annotations

import errno
import io as pyio
import json
import os
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

import synthetic_db as synthetic
from filterdb import store
from filterdb.axes import AxisError, axis_shift, check_where
from filterdb.cli import main as cli_main
from filterdb.database import model_row
from filterdb.errors import SourceError
from filterdb.extract import plan_layers, write_filters
from filterdb.fetch import extract_members
from filterdb.model import ConvLayer, LoadedModel
from filterdb.runner import run_step
from filterdb.sheet import SheetError, load_sheets
from filterdb.workflow_inputs import ConfigError, check_config, check_sources
from workflow_helpers import ROOT, copy_workflow, snakemake

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
HEADER = "model\tsource\treference\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\tseed"


def row(model: str, source: str = "timm", extra: str = "") -> str:
    return f"{model}\t{source}\tresnet18\tresnet18\tResNet\tclassification\tnone (initialisation)\tnone\tfalse\t0{extra}"


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: 'nothing written or lost' is equality."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------------------- config keys

@pytest.mark.parametrize(
    "block, wrong, right",
    [
        ("shift", "bin", "shift.bins"),
        ("extract", "on_nonfinte", "extract.on_nonfinite"),
        ("flags", "sparse_mn", "flags.sparse_min"),
        (None, "cache-dir", "cache_dir"),
        ("basis", "pol", "basis.pool"),
        ("zoo", "thread", "zoo.threads"),
        ("figures", "filter_per_layer", "figures.filters_per_layer"),
    ],
)
def test_misspelled_config_key_is_refused_with_did_you_mean(block, wrong, right):
    config = default_config()
    (config if block is None else config.setdefault(block, {}))[wrong] = 1
    with pytest.raises(ConfigError) as caught:
        check_config(config, SCHEMA)
    where = wrong if block is None else f"{block}.{wrong}"
    assert f"config key {where!r} is not known; did you mean {right!r}?" in one_line(str(caught.value))


def test_misspelled_key_inside_an_axis_is_refused():
    config = default_config()
    config["shift"]["axes"]["task"] = {"colum": "task"}
    with pytest.raises(ConfigError, match=r"'shift.axes.task.colum' is not known; did you mean 'shift.axes.task.column'"):
        check_config(config, SCHEMA)


def test_misspelled_key_inside_a_group_comparison_is_refused():
    config = default_config()
    config["figures"]["group_comparison"]["family"] = {"column": "family", "value": ["a"]}
    with pytest.raises(ConfigError, match=r"'figures.group_comparison.family.value' is not known; did you mean .*values"):
        check_config(config, SCHEMA)


def test_mistyped_config_value_names_its_key():
    config = default_config()
    config["shift"]["bins"] = "70"
    with pytest.raises(ConfigError, match=r"^config key 'shift.bins': '70' is not of type 'integer'$"):
        check_config(config, SCHEMA)


@pytest.mark.parametrize("config_file", ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"])
def test_shipped_configs_pass_the_check(config_file):
    # as Snakemake sees them: the Snakefile's config/config.yaml, extended by --configfile
    config = default_config()
    for key, value in yaml.safe_load((ROOT / config_file).read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    check_config(config, SCHEMA)


def test_misspelled_key_fails_the_dry_run_and_writes_nothing(tmp_path):
    work = copy_workflow(tmp_path / "w")
    config = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    config["extract"]["on_nonfinte"] = "exclude"
    (work / "config" / "bad.yaml").write_text(yaml.safe_dump(config))
    before = listing(work)
    result = snakemake(work, "-n", "--configfile", "config/bad.yaml", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config key 'extract.on_nonfinte' is not known; did you mean 'extract.on_nonfinite'?" in output
    assert "Traceback" not in output
    assert not (work / "results").exists()
    assert {k: v for k, v in listing(work).items() if not k.startswith(".snakemake")} == before


# --------------------------------------------------------------------------- sheets

def write_sheet(tmp_path: Path, lines: list[str], name: str = "s.tsv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hash_and_quote_inside_a_cell_are_data(tmp_path):
    sheet = write_sheet(tmp_path, [HEADER + "\tnotes", row("a", extra='\tsee #3, "quoted'), row("b", extra="\tplain")])
    rows = load_sheets([sheet])
    assert sorted(rows) == ["a", "b"], "a quote swallowed the next row"
    assert rows["a"]["notes"] == 'see #3, "quoted'


def test_line_numbers_count_comment_and_blank_lines(tmp_path):
    bad = row("b").replace("ResNet", "")
    sheet = write_sheet(tmp_path, ["# a comment", HEADER, "", row("a"), "# another", bad])
    with pytest.raises(SheetError, match=rf"^{sheet} line 6 \(model 'b'\): 'family' is empty"):
        load_sheets([sheet])


def test_stray_tab_names_its_line(tmp_path):
    sheet = write_sheet(tmp_path, [HEADER, row("a"), row("b") + "\t"])
    with pytest.raises(SheetError, match=rf"^{sheet} line 3: 11 tab-separated cells, but the header has 10 columns"):
        load_sheets([sheet])


def test_empty_sheet_is_an_error_naming_it(tmp_path):
    sheet = write_sheet(tmp_path, ["# only a comment"])
    with pytest.raises(SheetError, match=rf"^{sheet}: the sheet is empty"):
        load_sheets([sheet])


def test_duplicate_ids_across_sheets_name_both_lines(tmp_path):
    first = write_sheet(tmp_path, [HEADER, row("a")], "one.tsv")
    second = write_sheet(tmp_path, [HEADER, row("b"), row("a")], "two.tsv")
    with pytest.raises(SheetError, match=rf"'a' appears twice: {first} line 2 and {second} line 3"):
        load_sheets([first, second])


def test_model_id_that_is_a_path_is_refused(tmp_path):
    sheet = write_sheet(tmp_path, [HEADER, row("../x")])
    with pytest.raises(SheetError, match=rf"{sheet} line 2 \(model '../x'\): column 'model'"):
        load_sheets([sheet])


def test_unknown_source_names_sheet_line_model_and_column(tmp_path):
    sheet = write_sheet(tmp_path, [HEADER, row("a"), row("b", source="timmm")])
    with pytest.raises(ConfigError) as caught:
        check_sources(load_sheets([sheet]))
    assert one_line(str(caught.value)).startswith(
        f"{sheet} line 3 (model 'b'): column 'source': unknown model source 'timmm'; did you mean 'timm'?"
    )


def test_unknown_source_fails_the_dry_run(tmp_path):
    work = copy_workflow(tmp_path / "w")
    sheet = work / "config" / "smoke.tsv"
    lines = sheet.read_text().splitlines()
    fields = lines[1].split("\t")
    fields[1] = "tim"
    lines[1] = "\t".join(fields)
    sheet.write_text("\n".join(lines) + "\n")
    result = snakemake(work, "-n", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config/smoke.tsv line 2 (model '{fields[0]}'): column 'source': unknown model source 'tim'" in output
    assert "Traceback" not in output
    assert not (work / "results").exists()


# --------------------------------------------------------------------------- shift axes

@pytest.fixture
def axis_tables():
    import pandas as pd

    models = pd.DataFrame({"model": ["a", "b"], "task": ["cls", "seg"], "pretrained": [True, False], "n_filters": [18, 18]})
    layers = pd.DataFrame({"model": ["a", "a", "b"], "layer": [0, 1, 0], "n_filters": [9, 9, 18],
                           "depth_decile": np.array([0, 9, 0], np.int32)})  # fmt: skip
    return models, layers


def test_where_that_selects_nothing_names_the_axis(axis_tables):
    models, layers = axis_tables
    with pytest.raises(AxisError, match=r"^shift axis 'first': where depth_decile: 5 selects no layer; values of 'depth_decile' there: 0, 9$"):
        axis_shift(models, layers, {}, {"column": "task", "where": {"depth_decile": 5}}, np.ones(9) / 9, np.tile(np.arange(71.0), (9, 1)), 1e-7, 1, name="first")


def test_text_compared_to_an_integer_column_names_the_axis(axis_tables):
    models, layers = axis_tables
    with pytest.raises(AxisError, match=r"shift axis 'first': where depth_decile: '0' is text, but column 'depth_decile' holds number values \(write it without quotes\)"):
        axis_shift(models, layers, {}, {"column": "task", "where": {"depth_decile": "0"}}, np.ones(9) / 9, np.tile(np.arange(71.0), (9, 1)), 1e-7, 1, name="first")


def test_text_compared_to_a_boolean_column_names_the_axis(axis_tables):
    from filterdb.database import layers_with_models

    models, layers = axis_tables
    with pytest.raises(AxisError, match=r"'p': where pretrained: 'true' is text, but column 'pretrained' holds boolean"):
        check_where(layers_with_models(layers, models), {"pretrained": "true"}, "p")


def test_unknown_axis_column_names_the_axis(axis_tables):
    models, layers = axis_tables
    with pytest.raises(AxisError, match=r"^shift axis 'x': column 'taks' is not a column"):
        axis_shift(models, layers, {}, {"column": "taks"}, np.ones(9) / 9, np.tile(np.arange(71.0), (9, 1)), 1e-7, 1, name="x")


def test_where_that_selects_something_passes(axis_tables):
    from filterdb.database import layers_with_models

    models, layers = axis_tables
    check_where(layers_with_models(layers, models), {"depth_decile": [0, 3], "pretrained": True}, "ok")


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden"])
def test_axis_name_that_leaves_the_folder_is_refused(name):
    config = default_config()
    config["shift"]["axes"][name] = {"column": "task"}
    with pytest.raises(ConfigError, match=rf"^config key 'shift.axes.{name}': '{name}' is not a valid name"):
        check_config(config, SCHEMA)


def test_comparison_name_that_leaves_the_folder_is_refused():
    config = default_config()
    config["figures"]["group_comparison"]["../up"] = {"column": "family"}
    with pytest.raises(ConfigError, match=r"'figures.group_comparison.../up': '../up' is not a valid name"):
        check_config(config, SCHEMA)


# --------------------------------------------------------------------------- precision

def torch_file(tmp_path, tensors: dict, name: str = "w.pt") -> Path:
    import torch

    path = tmp_path / name
    torch.save(tensors, path)
    return path


@pytest.mark.parametrize("dtype, label", [("float16", "fp16"), ("bfloat16", "bf16"), ("float32", "fp32")])
def test_torch_file_records_the_stored_dtype(tmp_path, dtype, label):
    import torch

    from filterdb.readers.torch_file import read_torch

    weight = torch.randn(4, 2, 3, 3).to(getattr(torch, dtype))
    loaded = read_torch("m", [torch_file(tmp_path, {"conv.weight": weight})])
    assert loaded.precision == label
    np.testing.assert_array_equal(loaded.convs[0].weight, weight.float().numpy())


def test_integer_weights_without_scale_are_refused(tmp_path):
    import torch

    from filterdb.readers.torch_file import read_torch

    path = torch_file(tmp_path, {"conv.weight": torch.randint(-128, 127, (4, 2, 3, 3), dtype=torch.int8)})
    with pytest.raises(SourceError, match=rf"^model 'm': tensor 'conv.weight' in '{path}' is stored as int8 with no scale"):
        read_torch("m", [path])


def test_quantised_torch_weights_are_dequantised_explicitly(tmp_path):
    import torch

    from filterdb.readers.torch_file import read_torch

    weight = torch.randn(4, 2, 3, 3)
    q = torch.quantize_per_tensor(weight, scale=0.05, zero_point=3, dtype=torch.qint8)
    loaded = read_torch("m", [torch_file(tmp_path, {"conv.weight": q})])
    assert loaded.precision == "int8-quantised"
    np.testing.assert_allclose(loaded.convs[0].weight, (q.int_repr().float() - 3).numpy() * 0.05, rtol=1e-6)


@pytest.mark.parametrize("dtype, label", [("float16", "fp16"), ("bfloat16", "bf16")])
def test_checkpoint_source_records_the_stored_dtype_not_the_modules(tmp_path, dtype, label):
    import timm
    import torch
    from safetensors.torch import save_file

    from filterdb.sources import get_source

    state = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v
             for k, v in timm.create_model("test_resnet").state_dict().items()}  # fmt: skip
    save_file(state, tmp_path / "m.safetensors")
    row_ = {"model": "m", "source": "checkpoint", "reference": str(tmp_path / "m.safetensors"), "arch": "test_resnet"}
    source = get_source("checkpoint")
    loaded = source.load(row_, source.fetch(row_, tmp_path))
    assert loaded.precision == label


def test_checkpoint_with_integer_conv_weights_is_refused(tmp_path):
    import timm
    import torch
    from safetensors.torch import save_file

    from filterdb.sources import get_source

    state = timm.create_model("test_resnet").state_dict()
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = torch.ones_like(state[key], dtype=torch.int8)
    save_file(state, tmp_path / "m.safetensors")
    row_ = {"model": "m", "source": "checkpoint", "reference": str(tmp_path / "m.safetensors"), "arch": "test_resnet"}
    source = get_source("checkpoint")
    with pytest.raises(SourceError, match=rf"tensor '{key}' .* is stored as int8 with no scale"):
        source.load(row_, source.fetch(row_, tmp_path))


def test_integer_weights_from_any_reader_are_refused_at_extraction():
    conv = ConvLayer("c", np.ones((4, 2, 3, 3), np.int8))
    with pytest.raises(SourceError, match=r"^model 'm': layer 'c': weights stored as int8 with no scale"):
        plan_layers(LoadedModel("m", [conv]))


def test_sheet_precision_column_is_kept_and_stored_dtype_recorded():
    sheet_row = {"model": "m", "source": "onnx", "pretrained": True, "precision": "int8 (vendor's QAT)"}
    record = model_row(sheet_row, {}, {"precision": "fp32"})
    assert record["precision"] == "int8 (vendor's QAT)"
    assert record["stored_precision"] == "fp32"
    assert model_row({k: v for k, v in sheet_row.items() if k != "precision"}, {}, {"precision": "fp16"})["precision"] == "fp16"


# --------------------------------------------------------------------------- filters-file consistency

def tamper(path: Path, edit) -> None:
    """Rewrite a filters file with its layer metadata changed by ``edit(facts)``."""
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    facts = json.loads(meta[store.LAYERS_KEY])
    edit(facts)
    meta[store.LAYERS_KEY] = json.dumps(facts).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


@pytest.fixture
def filters_file(tmp_path):
    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", [(4, 3), (8, 4)])
    store.filters_metadata(path)  # consistent as written
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: f[1].update(name=f[0]["name"]), r"layers 0 and 1 have the same name 'layer0.conv'"),
        (lambda f: f[0].update(in_channels=5), r"layer 0 \('layer0.conv'\): n_filters=12, but out_channels × in_channels / groups = 4 × 5 / 1"),
        (lambda f: f[1].update(groups=3), r"layer 1 \('layer1.conv'\): groups=3 does not divide"),
        (lambda f: f[1].update(layer=0), r"layer 1 \('layer1.conv'\) says it is layer 0"),
        (lambda f: f.pop(), r"its layers hold 12 filters in all, but the file has 44 rows"),
    ],
    ids=["duplicate-name", "in-channels", "groups", "index", "missing-layer"],
)
def test_altered_layer_metadata_is_an_error_naming_the_file(filters_file, edit, message):
    tamper(filters_file, edit)
    with pytest.raises(store.SchemaError, match=rf"^{filters_file}: inconsistent layer metadata: {message}"):
        store.filters_metadata(filters_file)


def test_layer_metadata_that_is_not_json_names_the_file(filters_file):
    table = pq.read_table(filters_file)
    meta = dict(table.schema.metadata)
    meta[store.LAYERS_KEY] = meta[store.LAYERS_KEY].replace(b"[", b"{", 1)  # one character of the copy
    pq.write_table(table.replace_schema_metadata(meta), filters_file)
    with pytest.raises(store.SchemaError, match=rf"^{filters_file}: its layer metadata is not valid JSON"):
        store.filters_metadata(filters_file)


def test_layer_statistics_refuse_an_inconsistent_file_and_write_nothing(filters_file, tmp_path):
    from filterdb.stats import write_layer_stats

    tamper(filters_file, lambda f: f[0].update(out_channels=2))
    with pytest.raises(store.SchemaError, match=str(filters_file)):
        write_layer_stats(filters_file, tmp_path / "layers.parquet", "m", moments_path=tmp_path / "m.npz")
    assert not (tmp_path / "layers.parquet").exists() and not (tmp_path / "m.npz").exists()


# --------------------------------------------------------------------------- one line, not a traceback

def onnx_conv_model(path: Path, weight: np.ndarray | None = None, group: int = 1, raw: bytes | None = None):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.ones((4, 2, 3, 3), np.float32) if weight is None else weight
    init = numpy_helper.from_array(weight, "w")
    if raw is not None:
        init.raw_data = raw
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", group=group, pads=[1, 1, 1, 1])
    graph = helper.make_graph([conv], "g", [x], [y], initializer=[init])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


def test_onnx_conv_with_group_zero_is_one_line(tmp_path, capsys):
    path = onnx_conv_model(tmp_path / "g0.onnx", group=0)
    code, err = run_cli(capsys, "inspect", str(path))
    assert code == 1
    assert one_line(err) == (
        "filterdb: error: model 'g0': layer 'conv': groups=0 does not fit 4 output channels "
        "(a convolution has at least one group, and the groups divide its output channels)"
    )


def test_onnx_int8_weight_fed_straight_to_conv_is_refused(tmp_path, capsys):
    path = onnx_conv_model(tmp_path / "q.onnx", weight=np.ones((4, 2, 3, 3), np.int8))
    code, err = run_cli(capsys, "inspect", str(path))
    assert code == 1 and "layer 'conv': weights stored as int8 with no scale" in one_line(err)


def test_flipped_byte_in_the_layer_column_names_the_file(tmp_path):
    path = tmp_path / "m.parquet"
    synthetic.write_model(path, "m", [(16, 8), (16, 16)])
    handle = pq.ParquetFile(path)
    chunk = handle.metadata.row_group(0).column(0)  # the `layer` column
    assert handle.schema.column(0).name == "layer"
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset + chunk.total_compressed_size - 8  # inside its page's data
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(store.DataError, match=rf"^{path}: row group 0 is damaged .*; delete the file and rebuild the model"):
        list(store.iter_layer_kernels(path))


@pytest.mark.parametrize(
    "code, text",
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EFBIG, "File too large"),
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
    ],
)
def test_write_refused_by_the_file_system_names_the_file_and_leaves_nothing(tmp_path, code, text):
    target = tmp_path / "results" / "x.json"
    with pytest.raises(store.WriteError) as caught:
        with store.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(code, os.strerror(code))  # as the file system would, mid-write
    assert str(caught.value).startswith(f"cannot write {target}: {text}; ")
    assert os.listdir(target.parent) == []


def test_pyarrow_write_error_without_errno_names_the_file(tmp_path):
    target = tmp_path / "t.parquet"
    with pytest.raises(store.WriteError, match=rf"^cannot write {target}: File too large"):
        with store.atomic_path(target, suffix=".parquet"):
            raise OSError("IOError: [Errno 27] File too large")  # what pyarrow raises
    assert os.listdir(tmp_path) == []


def test_read_only_results_folder_names_the_file(tmp_path, monkeypatch):
    target = tmp_path / "results" / "db" / "models.parquet"
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # root ignores permission bits: refuse as a read-only mount does
        if str(self).startswith(str(tmp_path / "results")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(store.WriteError, match=rf"^cannot write {target}: Read-only file system"):
        store.write_json_atomic(target, {"a": 1})
    assert not (tmp_path / "results").exists()


def test_a_step_that_cannot_write_logs_one_line_and_exits_1(tmp_path, capsys):
    class Job:
        rule = "model"
        log = [str(tmp_path / "dump.log")]

    def step():
        raise store.WriteError(errno.ENOSPC, "cannot write results/filters/m.parquet: No space left on device; free space")

    with pytest.raises(SystemExit) as exited:
        run_step(Job, step)
    assert exited.value.code == 1
    log = (tmp_path / "dump.log").read_text()
    assert "Traceback" not in log and "cannot write results/filters/m.parquet: No space left on device" in one_line(log)


# --------------------------------------------------------------------------- errors that say where

def test_malformed_onnx_tensor_names_tensor_and_file(tmp_path, capsys):
    path = onnx_conv_model(tmp_path / "bad.onnx", raw=b"\x00" * 20)  # 5 floats where 72 are declared
    code, err = run_cli(capsys, "inspect", str(path))
    assert code == 1
    assert one_line(err).startswith(f"filterdb: error: model 'bad': tensor 'w' in '{path}' is malformed (dims [4, 2, 3, 3]")


def test_inspect_a_directory_says_so(tmp_path, capsys):
    code, err = run_cli(capsys, "inspect", str(tmp_path))
    assert code == 1
    assert one_line(err).startswith(f"filterdb: error: {tmp_path}: is a directory; give a checkpoint file")


def test_inspect_upper_case_onnx_suffix_reads_it_as_onnx(tmp_path, capsys):
    path = onnx_conv_model(tmp_path / "model.ONNX")
    code = cli_main(["inspect", str(path), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    assert [layer["n_filters"] for layer in json.loads(out)[0]["layers"]] == [8]


def test_unknown_model_target_is_named(tmp_path):
    work = copy_workflow(tmp_path / "w")
    result = snakemake(work, "-n", "results/filters/no_such_model.parquet", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode != 0
    assert "model 'no_such_model' is in no sheet of config key 'sheets'" in result.stdout + result.stderr
    assert not (work / "results").exists()


# --------------------------------------------------------------------------- resource abuse

def zip_with(path: Path, name: str, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, b"\0" * size)
    return path


def test_zip_member_over_the_absolute_limit_is_not_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("FILTERDB_MAX_MEMBER_BYTES", str(1 << 20))
    archive = zip_with(tmp_path / "bomb.whl", "pkg/model.onnx", 2 << 20)  # 2 MiB of zeros: a few KB compressed
    assert archive.stat().st_size < 64 << 10
    target = tmp_path / "files"
    with pytest.raises(SourceError, match=r"^pkg: member 'pkg/model.onnx' of 'bomb.whl' declares 2,097,152 bytes, over the 1,048,576-byte limit"):
        extract_members(archive, ["pkg/model.onnx"], target, "pkg")
    assert listing(tmp_path) == {"bomb.whl": archive.read_bytes()}


def test_tar_member_over_the_absolute_limit_is_not_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("FILTERDB_MAX_MEMBER_BYTES", str(1 << 20))
    archive = tmp_path / "bomb.tar"
    with tarfile.open(archive, "w") as t:
        info = tarfile.TarInfo("package/model.bin")
        info.size = 2 << 20
        t.addfile(info, pyio.BytesIO(b"\0" * info.size))
    with pytest.raises(SourceError, match=r"member 'package/model.bin' of 'bomb.tar' declares 2,097,152 bytes"):
        extract_members(archive, ["package/model.bin"], tmp_path / "files", "pkg")
    assert not (tmp_path / "files").exists() or not any((tmp_path / "files").iterdir())


def test_members_together_over_the_limit_are_not_extracted(tmp_path, monkeypatch):
    monkeypatch.setenv("FILTERDB_MAX_EXTRACT_BYTES", str(3 << 20))
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(4):
            z.writestr(f"m{i}.bin", b"\0" * (1 << 20))
    with pytest.raises(SourceError, match=r"the members of 'many.zip' declare 4,194,304 bytes together"):
        extract_members(archive, [f"m{i}.bin" for i in range(4)], tmp_path / "files", "pkg")
    assert not any((tmp_path / "files").iterdir())


def test_zip_member_larger_than_its_declared_size_is_not_extracted(tmp_path):
    archive = zip_with(tmp_path / "forged.zip", "m.bin", 1 << 20)
    data = bytearray(archive.read_bytes())
    declared = (1 << 20).to_bytes(4, "little")
    forged = (1000).to_bytes(4, "little")
    assert data.count(declared) == 2  # local header and central directory
    archive.write_bytes(bytes(data).replace(declared, forged))
    with pytest.raises(SourceError) as caught:
        extract_members(archive, ["m.bin"], tmp_path / "files", "pkg")
    assert "nothing was extracted" in one_line(str(caught.value))
    assert not any((tmp_path / "files").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".extract-")] == []


def test_members_within_the_limits_are_extracted_whole(tmp_path):
    archive = zip_with(tmp_path / "ok.zip", "pkg/m.bin", 3000)
    paths = extract_members(archive, ["pkg/m.bin"], tmp_path / "files", "pkg")
    assert [p.read_bytes() for p in paths] == [b"\0" * 3000]


def test_compressed_tarball_that_expands_past_the_limit_is_not_unpacked(tmp_path, monkeypatch):
    import gzip

    monkeypatch.setenv("FILTERDB_MAX_EXTRACT_BYTES", str(1 << 20))
    raw = pyio.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo("package/model.bin")
        info.size = 2 << 20
        t.addfile(info, pyio.BytesIO(b"\0" * info.size))
    archive = tmp_path / "bomb.tgz"
    archive.write_bytes(gzip.compress(raw.getvalue()))
    with pytest.raises(SourceError, match=r"^archive 'bomb.tgz' \(decompressed.*\) expands beyond the 1,048,576-byte limit"):
        extract_members(archive, ["package/model.bin"], tmp_path / "files", "pkg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tgz", "files"]
    assert not any((tmp_path / "files").iterdir())


def test_model_wildcard_constraint_does_not_grow_with_the_sheet(tmp_path):
    """Snakemake writes the constraint into every path it expands: an alternation of every
    model id made a 10,000-model dry run quadratic. The constraint is the id pattern."""
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    assert 'model="|".join' not in common
    from filterdb.workflow_inputs import model_id_pattern

    pattern = model_id_pattern(ROOT / "workflow" / "schemas" / "models.schema.yaml")
    import re

    assert re.fullmatch(pattern, "timm_resnet18_init") and not re.fullmatch(pattern, "../x")


# --------------------------------------------------------------------------- deleted files are rebuilt

@pytest.fixture(scope="module")
def all_outputs(tmp_path_factory):
    """A workflow copy whose every output exists (empty, all with one mtime): up to date."""
    work = copy_workflow(tmp_path_factory.mktemp("outputs"))
    (work / "config" / "tiny.tsv").write_text("\n".join([HEADER, row("m0"), row("m1")]) + "\n")
    config = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    config["sheets"] = ["config/tiny.tsv"]
    config["basis"] = {"pool": "all"}  # random-init rows: no trained model to fit the basis on
    config.pop("figures")
    (work / "config" / "tiny.yaml").write_text(yaml.safe_dump(config))
    summary = snakemake(work, "-n", "--configfile", "config/tiny.yaml", "--detailed-summary").stdout
    outputs = [line.split("\t")[0] for line in summary.splitlines()[1:] if "\t" in line]
    assert "results/filters/m0.parquet" in outputs
    for name in outputs:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(b"")
        os.utime(work / name, (1_700_000_000, 1_700_000_000))
    plan = snakemake(work, "-n", "--rerun-triggers", "mtime", "--configfile", "config/tiny.yaml").stdout
    assert "Nothing to be done" in plan, plan[-2000:]
    return work, outputs


@pytest.mark.parametrize(
    "deleted, rule",
    [
        ("results/filters/m0.parquet", "model"),
        ("results/models/m1.json", "model"),
        ("results/hist/m0.parquet", "histograms"),
        ("results/figdata/joint/m1.parquet", "histograms"),
        ("results/figdata/first_filters/m1.parquet", "model"),
        ("results/cards/m0.png", "model_cards"),
        ("results/basis/range/m1.json", "model_range"),
    ],
)
def test_deleted_per_model_file_is_rebuilt_by_the_next_run(all_outputs, deleted, rule):
    work, _ = all_outputs
    data = (work / deleted).read_bytes()
    (work / deleted).unlink()
    try:
        plan = snakemake(work, "-n", "--rerun-triggers", "mtime", "--configfile", "config/tiny.yaml").stdout
    finally:
        (work / deleted).write_bytes(data)
        os.utime(work / deleted, (1_700_000_000, 1_700_000_000))
    assert "Nothing to be done" not in plan
    # a bucket job's rule is named after its bucket (histograms_07)
    assert re.search(rf"rule {rule}(_\d\d)?:", plan) and deleted in plan, plan[-3000:]


@pytest.mark.parametrize("kind, rule, consumer", [("histograms", "histograms", "shift"), ("range", "model_range", "bin_edges"),
                                                   ("cards", "model_cards", "all")])  # fmt: skip
def test_a_deleted_bucket_index_reruns_its_bucket_and_what_reads_it(all_outputs, kind, rule, consumer):
    from filterdb.workflow_inputs import model_bucket

    work, _ = all_outputs
    index = work / f"results/buckets/{kind}/{model_bucket('m0')}.tsv"
    data = index.read_bytes()
    index.unlink()
    try:
        plan = snakemake(work, "-n", "--rerun-triggers", "mtime", "--configfile", "config/tiny.yaml").stdout
    finally:
        index.write_bytes(data)
        os.utime(index, (1_700_000_000, 1_700_000_000))
    assert re.search(rf"rule {rule}_\d\d:", plan) and re.search(rf"rule {consumer}:", plan), plan[-3000:]


def test_every_deleted_file_of_a_model_is_rebuilt(all_outputs):
    work, outputs = all_outputs
    mine = [o for o in outputs if "/m0." in o]
    assert len(mine) >= 8, mine  # models, filters, layers, moments, hist, range, figdata ×2, card
    saved = {name: (work / name).read_bytes() for name in mine}
    for name in mine:
        (work / name).unlink()
    try:
        plan = snakemake(work, "-n", "--rerun-triggers", "mtime", "--configfile", "config/tiny.yaml").stdout
    finally:
        for name, data in saved.items():
            (work / name).write_bytes(data)
            os.utime(work / name, (1_700_000_000, 1_700_000_000))
    planned = {line.split("output: ")[1].strip() for line in plan.splitlines() if "output: " in line}
    planned = {path.strip() for entry in planned for path in entry.split(",")}
    assert set(mine) <= planned, sorted(set(mine) - planned)


# --------------------------------------------------------------------------- same result on every executor

def test_two_runs_that_retrain_give_the_same_record_and_model_table_bytes(tmp_path, monkeypatch):
    import pandas as pd

    from filterdb.store import write_frame
    from filterdb.sources import get_source
    from filterdb.zoo.datasets import load
    from filterdb.zoo.train import TrainConfig, train

    digits = load("digits", tmp_path / "cache")
    sheet_row = {"model": "m", "source": "train", "reference": "zoo", "architecture": "vgg", "family": "VGG",
                 "task": "classification", "visual_category": "digits", "training_dataset": "digits",
                 "pretrained": True, "dataset": "digits", "epochs": 1, "data_size": 128}  # fmt: skip
    config = TrainConfig.from_row(sheet_row)
    for run in ("a", "b"):  # as two executors would, each in its own working folder
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        train(config, digits, "results/zoo/m.safetensors", "results/zoo/m.json", device="cpu", threads=1,
              timing_path="results/benchmarks/train/m.json")  # fmt: skip
        manifest = get_source("train").fetch(sheet_row, None, weights="results/zoo/m.safetensors",
                                             record="results/zoo/m.json")
        write_frame(pd.DataFrame([model_row(sheet_row, manifest, {"precision": "fp32"})]), "results/db/models.parquet")
    for name in ("zoo/m.json", "db/models.parquet"):
        assert (tmp_path / "a/results" / name).read_bytes() == (tmp_path / "b/results" / name).read_bytes(), name
    record = json.loads((tmp_path / "a/results/zoo/m.json").read_text())
    measured = {"wall_s", "cpu_s", "threads", "seconds", "host", "hostname"}
    assert not measured & set(record) and not measured & set(record["curve"][0])
    columns = pd.read_parquet(tmp_path / "a/results/db/models.parquet").columns
    assert not [c for c in columns if c.endswith(("_s", "threads", "host"))], list(columns)
    timing = json.loads((tmp_path / "a/results/benchmarks/train/m.json").read_text())
    assert timing["wall_s"] > 0 and timing["threads"] == 1 and len(timing["epoch_seconds"]) == 1
