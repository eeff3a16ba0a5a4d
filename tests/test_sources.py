"""timm and checkpoint sources: names, files and state dicts that do not fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filterdb.errors import SourceError
from filterdb.sources import get_source
from filterdb.sources.timm_source import create


def _row(path, arch="resnet10t", **extra):
    return {"model": "ckpt", "source": "checkpoint", "reference": str(path), "arch": arch, **extra}


def _load(row):
    source = get_source(row["source"])
    return source.load(row, source.fetch(row, None))


def test_unknown_source_lists_known_ones():
    with pytest.raises(SourceError, match=r"unknown model source 'tim'.*Did you mean timm"):
        get_source("tim")


def test_unknown_timm_name_lists_close_matches():
    with pytest.raises(SourceError, match=r"'resnet81' is not a timm architecture. Close matches: .*resnet18"):
        _load({"model": "x", "source": "timm", "reference": "resnet81"})


def test_offline_pretrained_error_says_how_to_provide_weights(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SourceError, match=r"HF_HUB_OFFLINE=1.*'checkpoint'"):
        create("x", "resnet10t", pretrained=True)


def test_random_init_is_seeded():
    a = create("x", "resnet10t", pretrained=False, seed=1).conv1[0].weight
    b = create("x", "resnet10t", pretrained=False, seed=1).conv1[0].weight
    c = create("x", "resnet10t", pretrained=False, seed=2).conv1[0].weight
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_checkpoint_round_trip(tmp_path, suffix):
    module = create("x", "resnet10t", pretrained=False, seed=5)
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    else:
        torch.save(module.state_dict(), path)
    loaded = _load(_row(path))
    by_name = {c.name: c for c in loaded.convs}
    assert np.array_equal(by_name["layer1.0.conv1"].weight, module.layer1[0].conv1.weight.detach().numpy())


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SourceError, match=r"'ckpt'.*does not exist"):
        _load(_row(tmp_path / "nope.safetensors"))


def test_truncated_checkpoint(tmp_path):
    module = create("x", "resnet10t", pretrained=False)
    path = tmp_path / "w.pt"
    torch.save(module.state_dict(), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(SourceError, match=r"'ckpt': cannot read checkpoint .*truncated"):
        _load(_row(path))


def test_state_dict_that_does_not_fit_the_architecture(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(create("x", "resnet10t", pretrained=False).state_dict(), path)
    with pytest.raises(SourceError, match=r"'ckpt'.*does not fit timm architecture 'resnet18'"):
        _load(_row(path, arch="resnet18"))


def test_checkpoint_needing_pickle_is_refused(tmp_path):
    import argparse  # any non-tensor class needs pickle's code execution to load

    path = tmp_path / "w.pt"
    torch.save({"conv.weight": torch.zeros(1), "extra": argparse.Namespace(a=1)}, path)
    with pytest.raises(SourceError, match=r"weights_only"):
        _load(_row(path))


def test_checksum_mismatch(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(create("x", "resnet10t", pretrained=False).state_dict(), path)
    with pytest.raises(SourceError, match="checksum mismatch"):
        _load(_row(path, sha256="0" * 64))


def test_pretrained_weights_come_from_the_local_hugging_face_cache(monkeypatch, tmp_path):
    """timm's own hub loading, served offline by a cache laid out as huggingface_hub writes it."""
    from huggingface_hub import constants
    from safetensors.torch import save_file

    # huggingface_hub reads HF_HOME and HF_HUB_OFFLINE once, at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    trained = create("x", "resnet10t", pretrained=False, seed=7)
    repo = trained.pretrained_cfg["hf_hub_id"]  # timm/resnet10t.c3_in1k
    revision = "0" * 40
    repo_dir = tmp_path / "hub" / ("models--" + repo.replace("/", "--"))
    (repo_dir / "snapshots" / revision).mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(repo_dir / "snapshots" / revision / "model.safetensors"))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(revision)
    loaded = _load({"model": "hub", "source": "timm", "reference": "resnet10t", "pretrained": True})
    stem = next(c for c in loaded.convs if c.name == "conv1.0")
    assert np.array_equal(stem.weight, trained.conv1[0].weight.detach().numpy())


def test_unreachable_hub_fails_fast_with_advice(monkeypatch, tmp_path):
    import time

    from filterdb.sources import timm_source

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(timm_source, "hub_reachable", lambda *a, **k: False)
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"'paper_row'.*HF_HUB_OFFLINE=1.*'checkpoint'"):
        create("paper_row", "resnet10t", pretrained=True)
    assert time.monotonic() - start < 20  # no minute of hub retries
