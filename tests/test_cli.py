"""`filterdb inspect`: the practitioner's per-layer health table."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from filterdb.cli import main
from filterdb.metrics import randomness_threshold, variance_entropy
from filterdb.sources.timm_source import create


def test_inspect_json_matches_the_metrics_of_the_module(capsys):
    assert main(["inspect", "resnet10t", "--seed", "3", "--json"]) == 0
    (model,) = json.loads(capsys.readouterr().out)
    rows = model["layers"]
    assert model["summary"]["format"] == "timm" and model["summary"]["depth_source"] == "graph"
    module = create("x", "resnet10t", pretrained=False, seed=3)
    weights = {name: m.weight.detach().numpy() for name, m in module.named_modules() if isinstance(m, torch.nn.Conv2d)}
    threes = [name for name, w in weights.items() if w.shape[2:] == (3, 3)]
    assert [r["name"] for r in rows] == threes
    for row in rows:
        flat = weights[row["name"]].reshape(-1, 9)
        assert row["n_filters"] == flat.shape[0]
        assert np.isclose(row["variance_entropy"], variance_entropy(flat))
        assert np.isclose(row["entropy_ratio"], variance_entropy(flat) / randomness_threshold(flat.shape[0]))
    # a random init is random-like, never collapsed
    assert not any(r["flag_collapsed"] for r in rows)


def test_inspect_table_flags_a_collapsed_checkpoint(tmp_path, capsys):
    from safetensors.torch import save_file

    module = create("x", "resnet10t", pretrained=False)
    state = module.state_dict()
    state["layer4.0.conv2.weight"] = torch.ones_like(state["layer4.0.conv2.weight"])  # identical filters
    path = tmp_path / "collapsed.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    assert main(["inspect", str(path), "--arch", "resnet10t"]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if "layer4.0.conv2" in line)
    assert row.rstrip().endswith("collapsed")
    assert "1 collapsed" in lines[-1]


def test_inspect_errors_are_one_line_with_exit_code_1(tmp_path, capsys):
    assert main(["inspect", "resnet81"]) == 1
    assert "Close matches" in capsys.readouterr().err
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"")
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is not a safetensors file" in err and len(err.strip().splitlines()) == 1
    path = tmp_path / "w.npy"
    path.write_bytes(b"")
    assert main(["inspect", str(path)]) == 1
    assert "unknown checkpoint format" in capsys.readouterr().err


def test_usage_errors_exit_2_and_runtime_errors_exit_1(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as exited:  # argparse's own usage errors
        main(["inspect"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "missing.safetensors"), "--fail-on", "wobbly"]) == 2
    assert "unknown flag(s) wobbly" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "no such checkpoint file" in err and len(err.strip().splitlines()) == 1
    assert main(["import-hdf5", str(tmp_path / "missing.h5"), str(tmp_path / "out")]) == 1


def test_a_bug_is_not_hidden_as_a_one_line_error(monkeypatch):
    import pytest

    from filterdb import inspection

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(inspection, "inspect_model", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["inspect", "resnet10t"])


def test_help_is_plain_text_without_restructuredtext_markup(capsys):
    import re

    import pytest

    for argv in (["--help"], ["inspect", "--help"], ["import-hdf5", "--help"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        text = capsys.readouterr().out
        assert "``" not in text and not re.search(r":(class|mod|func|meth|attr|ref):", text), text
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "filterdb inspect" in text and "import-hdf5" in text and "Exit status" in text


def test_fetch_fills_the_cache_row_by_row_and_names_a_row_that_fails(tmp_path, capsys):
    # a login node runs this before a cluster run; the model jobs then find the files
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    header = "model\tsource\treference\treader\tsha256\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\tseed"
    rows = [
        f"good\tfile\t{weights}\tsafetensors\t{digest}\tnet\tNet\tclassification\tnatural\tunknown\ttrue\t0",
        f"bad\tfile\t{weights}\tsafetensors\t{'0' * 64}\tnet\tNet\tclassification\tnatural\tunknown\ttrue\t0",
    ]
    sheet = tmp_path / "models.tsv"
    sheet.write_text("\n".join([header, *rows]) + "\n")
    assert main(["fetch", str(sheet), "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert "[2/2] good: fetched" in err
    (error,) = [line for line in err.splitlines() if line.startswith("filterdb: error:")]
    assert "'bad'" in error and "checksum mismatch" in error, error
    sheet.write_text("\n".join([header, rows[0]]) + "\n")
    assert main(["fetch", str(sheet), "--cache-dir", str(tmp_path / "cache")]) == 0
