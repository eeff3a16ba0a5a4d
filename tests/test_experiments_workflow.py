"""A tiny experiments design through Snakemake: generated noise sources and scikit-learn's
digits (8×8 images), two seeds, every rule of workflow/rules/experiments.smk."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from filterdb.zoo.findings import COLUMNS, with_experiments
from workflow_helpers import ROOT, copy_workflow, snakemake

pytestmark = pytest.mark.slow

TRANSFER = """checkpoint\trole\tdataset\tdata_size\tclasses\ttargets
noise\tsource\tnoise\t100;300\t10\tdigits
noise\tsource\tnoise\t300\t2\tdigits
indomain\tin-domain\tdigits\t300\t10\tdigits
scratch\tscratch\tdigits\t\t\tdigits
"""
DEGENERACY = """checkpoint\trole\tdataset\tdata_size\tprune\tparent\ttargets
base\tbase\tnoise\t300\t\t\tdigits
prune50\tprune\tnoise\t300\t0.5\tbase\tdigits
init\tinit\tnoise\t\t\t\tdigits
"""
TARGETS = ["results/experiments/findings.tsv", "results/experiments/transfer.png", "results/experiments/degeneracy.pdf"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("experiments"))
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    (workdir / "config" / "tiny_transfer.tsv").write_text(TRANSFER)
    (workdir / "config" / "tiny_degeneracy.tsv").write_text(DEGENERACY)
    config.update(sheets=["config/zoo_smoke.tsv"], cache_dir=str(workdir / "cache"), figures={})
    config["experiments"] = {
        "transfer": "config/tiny_transfer.tsv", "degeneracy": "config/tiny_degeneracy.tsv",
        "seeds": [0, 1], "budgets": [20, 100], "image_size": 8, "test_images": 200, "bootstrap": 200,
        "noise_sigmas": [0.2], "fgsm_eps": [0.05],
        "pretrain": {"steps": 20, "batch_size": 32}, "finetune": {"steps": 10, "batch_size": 16},
    }  # fmt: skip
    (workdir / "config" / "tiny.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml")
    return workdir


def test_transfer_table_has_a_row_per_checkpoint_seed_target_budget(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "experiments" / "transfer.tsv", sep="\t")
    assert len(table) == 5 * 2 * 2  # checkpoints × seeds × budgets, one target
    assert set(table["role"]) == {"source", "in-domain", "scratch"}
    scratch = table[table["role"] == "scratch"]
    assert (scratch["gain_over_scratch"] == 0).all()
    # D to the in-domain model: zero for the in-domain model itself (same seed), positive otherwise
    assert (table.loc[table["role"] == "in-domain", "D_in_domain"] == 0).all()
    assert (table.loc[table["role"] != "in-domain", "D_in_domain"] > 0).all()
    assert table["accuracy"].between(0, 1).all()
    sources = table[table["role"] == "source"]
    assert sorted(sources["data_size"].unique()) == [100, 300] and sorted(sources["classes"].unique()) == [2, 10]


def test_degeneracy_table_measures_each_checkpoint(tiny_run):
    table = pd.read_csv(tiny_run / "results" / "experiments" / "degeneracy.tsv", sep="\t")
    assert len(table) == 3 * 2 * 2
    pruned = table[table["change"] == "prune"]
    assert (pruned["sparse_filter_share"] >= 0.5).all()  # half of every layer's filters zeroed
    assert (table.loc[table["change"] == "base", "sparse_filter_share"] < 0.5).all()
    for column in ("accuracy", "mean_noise_accuracy", "mean_fgsm_accuracy", "noise_accuracy_0.2", "fgsm_accuracy_0.05"):
        assert table[column].between(0, 1).all(), column


def test_findings_rows_carry_an_interval_and_a_verdict(tiny_run):
    findings = pd.read_csv(tiny_run / "results" / "experiments" / "findings.tsv", sep="\t")
    assert findings["claim"].tolist() == ["transfer-size", "transfer-variance", "transfer-synthetic",
                                          "degeneracy-finetune-n20", "degeneracy-finetune-n100",
                                          "degeneracy-noise", "degeneracy-fgsm"]  # fmt: skip
    assert set(findings["supported"]) <= {"yes", "no", "inconclusive", "untestable"}
    tested = findings[findings["supported"] != "untestable"]
    assert (tested["interval_low"] <= tested["value"]).all() and (tested["value"] <= tested["interval_high"]).all()
    zoo = pd.DataFrame([dict(zip(COLUMNS, [1, "s", "m", 0.5, "c", 0.1, "yes", "a", "d"]))])
    merged = with_experiments(zoo, [findings])
    assert merged["claim"].tolist()[: len(findings)] == findings["claim"].tolist()  # the experiments come first
    assert merged["claim"].iloc[-1] == 1 and pd.isna(merged["interval_low"].iloc[-1])


def test_every_model_is_a_file_and_a_rerun_is_bitwise_equal(tiny_run):
    checkpoints = tiny_run / "results" / "experiments" / "checkpoints"
    record = json.loads((checkpoints / "noise_n300_c2_s1.json").read_text())
    assert record["train_images"] == 300 and record["pixel_spread"] > 0
    assert len(list((tiny_run / "results" / "experiments" / "finetuned" / "digits").glob("*.safetensors"))) == 8 * 2 * 2
    before = {p.name: p.read_bytes() for p in checkpoints.glob("noise_n300_c2_s1.*")}
    for path in checkpoints.glob("noise_n300_c2_s1.*"):
        path.unlink()
    snakemake(tiny_run, str(checkpoints.relative_to(tiny_run) / "noise_n300_c2_s1.safetensors"), "--cores", "1",
              "--configfile", "config/tiny.yaml")  # fmt: skip
    after = json.loads((checkpoints / "noise_n300_c2_s1.json").read_text())
    assert (checkpoints / "noise_n300_c2_s1.safetensors").read_bytes() == before["noise_n300_c2_s1.safetensors"]
    assert after["weights_sha256"] == record["weights_sha256"]
