"""The workflow as a user meets it: lint, format, dry runs, and one real run of the smoke config."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from workflow_helpers import ROOT, SNAKEMAKE, copy_workflow, snakemake

CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "config").glob("*.yaml"))


def test_lint_is_clean():
    result = snakemake(ROOT, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean():
    snakefmt = str(Path(sys.executable).with_name("snakefmt"))
    result = subprocess.run([snakefmt, "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", CONFIGS)
def test_dry_run_of_every_shipped_config(tmp_path, config):
    work = copy_workflow(tmp_path)
    result = snakemake(work, "-n", "--configfile", config)
    assert "Job stats" in result.stdout and "rule all" in result.stdout, result.stdout[-2000:]


def test_each_models_chain_is_one_group_job_with_the_slurm_profiles_groups(tmp_path):
    # a cluster executor submits one job per model: the zoo's training and the model job
    work = copy_workflow(tmp_path)
    groups = yaml.safe_load((work / "workflow/profiles/slurm/config.yaml").read_text())["groups"]
    assert "Group job" not in snakemake(work, "-n", "--configfile", "config/smoke.yaml").stdout
    out = snakemake(work, "-n", "--configfile", "config/smoke.yaml", "--groups", *groups).stdout
    blocks = out.split("Group job model")[1:]
    models = set()
    for sheet in ("config/smoke.tsv", "config/zoo_smoke.tsv"):
        lines = [line for line in (work / sheet).read_text().splitlines() if line and not line.startswith("#")]
        models |= {line.split("\t")[0] for line in lines[1:]}  # below the header
    grouped = {}
    for block in blocks:
        block = re.split(r"\n(?=\S)", block.split("\n", 1)[1])[0]  # its indented jobs
        names = set(re.findall(r"wildcards: model=([^,\s]+)", block))
        assert len(names) == 1, names
        grouped[names.pop()] = set(re.findall(r"^ +(?:local)?rule (\w+):", block, re.M))
    assert set(grouped) == models
    assert all("model" in rules and rules <= {"train", "model"} for rules in grouped.values()), grouped


def test_bad_sheet_row_fails_the_dry_run_naming_file_row_and_column(tmp_path):
    work = copy_workflow(tmp_path)
    sheet = work / "config" / "smoke.tsv"
    lines = sheet.read_text().splitlines()
    fields = lines[1].split("\t")
    fields[5] = ""  # task
    lines[1] = "\t".join(fields)
    sheet.write_text("\n".join(lines) + "\n")
    result = snakemake(work, "-n", "--configfile", "config/smoke.yaml", check=False)
    assert result.returncode != 0
    assert "config/smoke.tsv line 2 (model 'smoke_resnet18_s0'): 'task' is empty" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("smoke"))
    snakemake(work, "--cores", "2", "--configfile", "config/smoke.yaml")
    return work


def test_smoke_run_builds_every_target(smoke_run):
    assert (smoke_run / "results/db/models.parquet").is_file()
    models = pd.read_parquet(smoke_run / "results/db/models.parquet")
    sheets = [pd.read_csv(smoke_run / "config" / name, sep="\t", comment="#") for name in ("smoke.tsv", "zoo_smoke.tsv")]
    assert set(models["model"]) == set(pd.concat(sheets)["model"])
    # the model without 3×3 convs stays in the table with 0 filters
    assert models.set_index("model").loc["smoke_convnext_atto", "n_filters"] == 0
    layers = pd.read_parquet(smoke_run / "results/db/layers.parquet")
    assert len(layers) == models["n_layers"].sum()
    for figure in ("basis", "degeneracy_by_depth", "shift_family", "shift_depth_decile"):
        assert (smoke_run / f"results/figures/{figure}.pdf").stat().st_size > 1000


def test_smoke_shift_matrix_is_symmetric_with_zero_diagonal(smoke_run):
    matrix = pd.read_csv(smoke_run / "results/shift/depth_decile.tsv", sep="\t", index_col=0)
    values = matrix.to_numpy()
    assert values.shape == (10, 10)
    assert np.allclose(values, values.T) and np.all(np.diag(values) == 0) and np.all(values >= 0)


def test_smoke_every_file_carries_schema_version(smoke_run):
    for path in sorted((smoke_run / "results").rglob("*.parquet")):
        assert pq.read_schema(path).metadata[b"filterdb.schema"] == b"1", path


def test_second_run_is_a_no_op_and_rebuilt_dumps_are_byte_identical(smoke_run):
    assert "Nothing to be done" in snakemake(smoke_run, "-n", "--configfile", "config/smoke.yaml").stdout
    target = smoke_run / "results/filters/smoke_resnet18_s0.parquet"
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    snakemake(smoke_run, "--cores", "2", "--configfile", "config/smoke.yaml", "--forcerun", "model", "--until", "model")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
