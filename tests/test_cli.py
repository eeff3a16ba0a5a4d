"""`filterdb inspect`: the practitioner's per-layer health table."""

from __future__ import annotations

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


def test_inspect_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["inspect", "resnet81"]) == 2
    assert "Close matches" in capsys.readouterr().err
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"")
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not a safetensors file" in err and len(err.strip().splitlines()) == 1
    path = tmp_path / "w.npy"
    path.write_bytes(b"")
    assert main(["inspect", str(path)]) == 2
    assert "unknown checkpoint format" in capsys.readouterr().err
