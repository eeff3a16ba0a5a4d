"""The smoke zoo through Snakemake: dataset → train → fetch → … → findings. (A training job
killed mid-run and resumed is tested in test_faults.py.)"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from workflow_helpers import ROOT, copy_workflow, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("zoo"))
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config["sheets"] = ["config/zoo_smoke.tsv"]
    config["cache_dir"] = str(workdir / "cache")
    config["figures"] = {}
    (workdir / "config" / "zoo_smoke.yaml").write_text(yaml.safe_dump(config))
    # targets before --configfile, which takes every following word as a config file
    snakemake(workdir, "results/findings.tsv", "results/zoo/timing.tsv", "results/db/models.parquet",
              "--cores", "2", "--configfile", "config/zoo_smoke.yaml")  # fmt: skip
    return workdir


def test_findings_table_has_one_row_a_claim(zoo_run):
    table = pd.read_csv(zoo_run / "results" / "findings.tsv", sep="\t")
    assert table["claim"].tolist() == [1, 2, 3, 4]
    assert set(table["supported"]) <= {"yes", "no", "untestable"}


def test_model_table_holds_training_figures(zoo_run):
    models = pd.read_parquet(zoo_run / "results" / "db" / "models.parquet")
    zoo = models[models["source"] == "train"].set_index("model")
    assert len(zoo) == 7
    for column in ("width", "epochs", "data_size", "seed", "dataset", "test_loss", "train_curve"):
        assert zoo[column].notna().all(), column
    classifiers = zoo[zoo["task"] == "classification"]
    # trained on the whole set: well above chance (0.1); untrained: near chance
    full = classifiers[(classifiers["epochs"] > 0) & (classifiers["data_size"] == classifiers["data_size"].max())]
    assert len(full) >= 3 and (full["test_accuracy"] > 0.2).all(), full["test_accuracy"]
    assert (classifiers.loc[classifiers["epochs"] == 0, "test_accuracy"] < 0.3).all()


def test_timing_table_per_model_and_total(zoo_run):
    timing = pd.read_csv(zoo_run / "results" / "zoo" / "timing.tsv", sep="\t")
    models = pd.read_parquet(zoo_run / "results" / "db" / "models.parquet")
    assert sorted(timing["model"].iloc[:-1]) == sorted(models.loc[models["source"] == "train", "model"])
    assert timing["model"].iloc[-1] == "TOTAL"
    assert abs(timing["wall_s"].iloc[:-1].sum() - timing["wall_s"].iloc[-1]) < 0.1
