"""The smoke config through a real one-node Slurm cluster equals a local run, file for file.

The test starts munged, slurmctld and slurmd in a temporary folder (tests/cluster/localslurm.py),
runs ``snakemake --workflow-profile workflow/profiles/slurm`` (executor ``slurm``, the
snakemake-executor-plugin-slurm), then the same config locally, and compares every file
under results/ except logs, benchmarks and the zoo's timing table (the run's measurements):
Parquet files, shift matrices, JSON and TSV byte for byte, moment sums (npz: zip timestamps
differ) array for array, figures byte for byte (SOURCE_DATE_EPOCH pins the PDF dates). Each Slurm job gets a private TMPDIR and no
CUDA_VISIBLE_DEVICES from the cluster, so a job that relied on the submitting process's
temporary folder or GPU would fail here.

Run it alone with ``pytest -m slurm`` (root, and Debian's slurmctld slurmd slurm-client munge).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workflow_helpers import ROOT, SNAKEMAKE, copy_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

_spec = importlib.util.spec_from_file_location("localslurm", Path(__file__).parent / "cluster" / "localslurm.py")
localslurm = sys.modules.setdefault("localslurm", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(localslurm)

CONFIG = "config/smoke.yaml"
SLURM_ARGS = (
    "--workflow-profile", "workflow/profiles/slurm",
    "--slurm-status-command", "squeue",  # no accounting database: sacct cannot see the jobs
    "--slurm-init-seconds-before-status-checks", "1",
    "--slurm-keep-successful-logs",
)  # fmt: skip
SKIP_DIRS = ("logs", "benchmarks")
SKIP_FILES = ("zoo/timing.tsv",)  # the run's own measurements (seconds, threads): the only file meant to differ


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = localslurm.missing_requirements()
    if reason is None and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        reason = "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    started = localslurm.start(root)
    try:
        yield started
    finally:
        localslurm.stop(root)


def timed_snakemake(work: Path, *args: str, env: dict) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run([SNAKEMAKE, *args], cwd=work, env=env, capture_output=True, text=True, timeout=3000)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake {' '.join(args)} failed ({result.returncode}):\n{output[-8000:]}"
    return elapsed, output


def result_files(work: Path) -> set[str]:
    results = work / "results"
    return {
        str(p.relative_to(results))
        for p in results.rglob("*")
        if p.is_file() and p.name != ".gitkeep" and p.relative_to(results).parts[0] not in SKIP_DIRS
        and str(p.relative_to(results)) not in SKIP_FILES
    }


def same_content(a: Path, b: Path) -> bool:
    if a.suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            return sorted(x.files) == sorted(y.files) and all(np.array_equal(x[k], y[k]) for k in x.files)
    return a.read_bytes() == b.read_bytes()


def test_smoke_config_through_slurm_equals_local_run(cluster, tmp_path, capsys):
    # both runs use one snapshot of the workflow and of the library, taken now
    remote = copy_workflow(tmp_path / "slurm")
    local = copy_workflow(tmp_path / "local")
    library = tmp_path / "lib"
    shutil.copytree(ROOT / "src" / "filterdb", library / "filterdb", ignore=shutil.ignore_patterns("__pycache__"))
    base_env = {**os.environ, "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "0"}
    base_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(library), os.environ.get("PYTHONPATH")]))

    slurm_s, slurm_out = timed_snakemake(remote, "--configfile", CONFIG, *SLURM_ARGS, env=cluster.env(base_env))
    local_s, local_out = timed_snakemake(local, "--cores", "2", "--configfile", CONFIG, env=base_env)
    with capsys.disabled():
        print(f"\nsmoke run: local {local_s:.0f} s, through Slurm {slurm_s:.0f} s ({os.cpu_count()} CPUs)")

    # every job went through sbatch but the local rules (the target, the basis copies), and
    # each model's chain (group "model": the zoo's training and the model job) as one job
    total = int(re.search(r"^total\s+(\d+)", slurm_out, re.MULTILINE).group(1))
    stats = slurm_out.split("Job stats:")[1].split("total")[0]
    count = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}
    local_jobs = count.get("all", 0) + count.get("per_model_copy", 0)
    grouped = sum(count.get(rule, 0) for rule in ("train", "model"))
    groups = count["model"]  # one per model
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", slurm_out)
    assert len(submitted) == total - local_jobs - grouped + groups, slurm_out[-4000:]
    assert not any((cluster.root / "jobtmp").iterdir()), "a job's private TMPDIR was not removed"

    files = result_files(local)
    assert files == result_files(remote), sorted(files ^ result_files(remote))
    assert any(f.startswith("filters/") for f in files) and any(f.startswith("shift/") for f in files)
    different = sorted(f for f in files if not same_content(local / "results" / f, remote / "results" / f))
    assert different == [], f"files that differ between the local and the Slurm run: {different}"
