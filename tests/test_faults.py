"""Faults the workflow survives without losing work: each test injects one and checks the outcome.

- SIGKILL during a dump (of the job alone, and of the whole run): the rerun finishes the
  work, a half-written Parquet file never sits at an output path, and nothing that was
  already built is rebuilt.
- SIGKILL during training: the rerun resumes from the last epoch checkpoint and writes the
  same weights as an uninterrupted run; no half-written weights file.
- A truncated or garbage Parquet file in results/filters/: the next step fails with an error
  that names the file; rebuilding that one model repairs it, the other model is untouched.
- A full disk while writing: a clear error, nothing left in the output folder; once space
  is back, the rerun succeeds.
- A model download that keeps failing: bounded retries, then a clear error; with
  --keep-going the other model still builds.
- Two snakemake processes on one directory: the second is refused by Snakemake's lock,
  the first finishes, and its outputs are the reference bytes.

Kills are injected at a chosen write by a ``sitecustomize`` module put on PYTHONPATH of
the faulty run only: it lets the write finish, truncates the file to half (a write cut
short), then SIGKILLs the job or the job's whole process group (snakemake included).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from filterdb import store
from filterdb.workflow_inputs import model_bucket
from workflow_helpers import ROOT, SNAKEMAKE, copy_workflow

pytestmark = pytest.mark.slow

SHEET_HEADER = "model\tsource\treference\tarchitecture\tfamily\ttask\tvisual_category\ttraining_dataset\tpretrained\tseed"
TIMM_ROWS = {
    "fault_a": "fault_a\ttimm\tresnet10t\tresnet10t\tResNet\tclassification\tnone (initialisation)\tnone\tfalse\t0",
    "fault_b": "fault_b\ttimm\tresnet10t\tresnet10t\tResNet\tclassification\tnone (initialisation)\tnone\tfalse\t1",
}

SITECUSTOMIZE = '''
"""Fault injection for tests/test_faults.py (only on PYTHONPATH of a faulty run).

FILTERDB_TEST_FAULT (JSON): target "module:function", path_arg (index of the path
argument), path_contains (substring of the file name), call (which matching call),
scope ("job": SIGKILL this process; "run": its process group), marker (file written
first), protect_pgid (a process group never to kill: the test runner's).
"""
import builtins
import json
import os
import random
import signal
import sys

_spec = json.loads(os.environ.get("FILTERDB_TEST_FAULT") or "null")


def _inject(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:  # the write, cut short
        handle.truncate(size // 2)
        handle.flush()
        os.fsync(handle.fileno())
    with open(_spec["marker"], "w") as handle:
        json.dump({"path": path, "size": size, "pid": os.getpid()}, handle)
    if _spec.get("scope") == "run" and os.getpgrp() != _spec.get("protect_pgid"):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(original):
    seen = [0]

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        path = str(args[_spec["path_arg"]]) if len(args) > _spec["path_arg"] else ""
        if path and _spec["path_contains"] in os.path.basename(path):
            seen[0] += 1
            if seen[0] == _spec.get("call", 1):
                _inject(path)
        return result

    return wrapper


if _spec:
    _module, _function = _spec["target"].split(":")
    _original_import = builtins.__import__

    def _import(*args, **kwargs):
        result = _original_import(*args, **kwargs)
        module = sys.modules.get(_module)
        if module is not None and not getattr(module, "_filterdb_fault", False) and hasattr(module, _function):
            module._filterdb_fault = True
            setattr(module, _function, _wrap(getattr(module, _function)))
        return result

    builtins.__import__ = _import
'''


# --------------------------------------------------------------------------- helpers

def make_work(dest: Path, rows: dict[str, str] | None = None, extra_sheets: tuple[str, ...] = ()) -> Path:
    """A copy of the workflow in ``dest`` with config/faults.yaml: the smoke settings, our sheet."""
    work = copy_workflow(dest)
    rows = TIMM_ROWS if rows is None else rows
    (work / "config" / "faults.tsv").write_text("\n".join([SHEET_HEADER, *rows.values()]) + "\n")
    config = yaml.safe_load((work / "config" / "smoke.yaml").read_text())
    config["sheets"] = ["config/faults.tsv", *extra_sheets]
    config["basis"] = {"pool": "all"}  # random-init rows: no trained model to fit the basis on
    config.pop("figures", None)  # names smoke models
    (work / "config" / "faults.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return work


def targets(*models: str) -> list[str]:
    return [p for m in models for p in (f"results/filters/{m}.parquet", f"results/layers/{m}.parquet")]


def run(work: Path, *args: str, fault: dict | None = None, env: dict | None = None, timeout: int = 600,
        background: bool = False):
    """snakemake in ``work`` (its own session, so a fault can kill its process group)."""
    run_env = {**os.environ, "PYTHONHASHSEED": "0", **(env or {})}
    if fault is not None:
        run_env["FILTERDB_TEST_FAULT"] = json.dumps({**fault, "protect_pgid": os.getpgrp()})
        run_env["PYTHONPATH"] = os.pathsep.join(filter(None, [fault["hook_dir"], run_env.get("PYTHONPATH")]))
    command = [SNAKEMAKE, *args, "--workflow-profile", "none"]
    proc = subprocess.Popen(command, cwd=work, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    if background:
        return proc
    try:
        output, _ = proc.communicate(timeout=timeout)
    finally:
        _kill_group(proc.pid)  # whatever a killed run left behind
    return subprocess.CompletedProcess(command, proc.returncode, output, "")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def smk(work: Path, *models: str, extra: tuple[str, ...] = (), **kwargs):
    return run(work, *targets(*models), "--cores", "2", "--configfile", "config/faults.yaml", *extra, **kwargs)


def ok(result) -> str:
    assert result.returncode == 0, f"snakemake failed ({result.returncode}):\n{result.stdout[-6000:]}"
    return result.stdout


def snapshot(work: Path) -> dict[str, int]:
    """mtime_ns of every output file (logs and benchmarks excluded)."""
    results = work / "results"
    return {
        str(p.relative_to(work)): p.stat().st_mtime_ns
        for p in results.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.relative_to(results).parts[0] not in ("logs", "benchmarks")
    }


def assert_outputs_valid(work: Path) -> None:
    """No file at an output path of results/filters or results/layers is partial.

    Hidden files (".name.xxxx.parquet") are the temporaries of killed writes: no rule reads them.
    """
    def outputs(folder):
        return sorted(p for p in (work / "results" / folder).glob("*.parquet") if not p.name.startswith("."))

    for path in outputs("filters"):
        sum(len(k) for _, k, _ in store.iter_layer_kernels(path))  # reads every page
    for path in outputs("layers"):
        store.read_table(path)


@pytest.fixture(scope="session")
def hook_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("faulthook")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return str(folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """fault_a and fault_b dumped and analysed, uninterrupted: the reference bytes."""
    work = make_work(tmp_path_factory.mktemp("built"))
    ok(smk(work, *TIMM_ROWS))
    return work


def clone(built: Path, dest: Path) -> Path:
    """A copy of a built directory, mtimes and Snakemake metadata included."""
    shutil.copytree(built, dest, symlinks=True, dirs_exist_ok=True)
    return dest


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


# --------------------------------------------------------------------------- SIGKILL

@pytest.mark.parametrize("scope", ["job", "run"])
def test_sigkill_during_dump_rerun_finishes_without_rebuilding(built, tmp_path, hook_dir, scope):
    """SIGKILL while fault_b's filters file is being written; fault_a was built before."""
    work = clone(built, tmp_path / "w")
    for path in snapshot(work):  # fault_b not built yet: its model job writes its manifest last
        if "fault_b" in path:
            (work / path).unlink()
    before = snapshot(work)
    marker = tmp_path / "killed.json"
    fault = {"target": "pyarrow.parquet:write_table", "path_arg": 1, "path_contains": "fault_b.parquet",
             "scope": scope, "marker": str(marker), "hook_dir": hook_dir}
    killed = smk(work, *TIMM_ROWS, fault=fault)

    assert marker.is_file(), f"the fault was not injected: no write to fault_b.parquet seen\n{killed.stdout[-3000:]}"
    partial = Path(json.loads(marker.read_text())["path"])
    assert killed.returncode != 0
    # the write was cut short, but not at the output path: the half file is a hidden temporary
    assert partial.name.startswith(".") and partial.parent == work / "results" / "filters"
    assert not (work / "results/filters/fault_b.parquet").exists()
    assert not (work / "results/layers/fault_b.parquet").exists()
    assert_outputs_valid(work)

    if scope == "run":  # snakemake itself was killed: its lock stays, as after a power loss
        refused = smk(work, *TIMM_ROWS)
        assert refused.returncode != 0 and "Directory cannot be locked" in refused.stdout
        ok(run(work, "--unlock", "--configfile", "config/faults.yaml"))
    rerun = ok(smk(work, *TIMM_ROWS))

    assert same_bytes(work / "results/filters/fault_b.parquet", built / "results/filters/fault_b.parquet")
    assert same_bytes(work / "results/layers/fault_b.parquet", built / "results/layers/fault_b.parquet")
    assert not partial.exists(), "the killed write's temporary was left behind by the rerun"
    after = snapshot(work)
    # fault_a's files
    assert {p: after[p] for p in before} == before, "already built files were rebuilt"
    assert "fault_a" not in "".join(l for l in rerun.splitlines() if l.strip().startswith("wildcards:"))
    assert_outputs_valid(work)


def _zoo_row(name: str) -> dict[str, str]:
    lines = (ROOT / "config" / "zoo_smoke.tsv").read_text().splitlines()
    lines = [l for l in lines if l and not l.startswith("#")]
    header, rows = lines[0], {l.split("\t")[0]: l for l in lines[1:]}
    return header, rows[name]


def test_sigkill_during_training_resumes_and_matches_uninterrupted(tmp_path, hook_dir):
    """SIGKILL (whole run) while epoch 2's checkpoint is written; rerun resumes after epoch 1."""
    model = "smoke_zoo_vgg_digits"
    header, row = _zoo_row(model)
    work = make_work(tmp_path / "w", rows={})
    (work / "config" / "faults.tsv").write_text(f"{header}\n{row}\n")
    weights = f"results/zoo/{model}.safetensors"
    record = f"results/zoo/{model}.json"

    def train(**kwargs):
        return run(work, weights, record, "--cores", "2", "--configfile", "config/faults.yaml", **kwargs)

    ok(train())  # uninterrupted: the reference weights
    reference = (work / weights).read_bytes()
    epochs = json.loads((work / record).read_text())["config"]["epochs"]
    assert epochs >= 2, "the kill needs a model trained for two epochs or more"
    (work / weights).unlink()
    (work / record).unlink()
    dataset_files = {p: p.stat().st_mtime_ns for p in (work / "resources").rglob("*") if p.is_file()}

    marker = tmp_path / "killed.json"
    fault = {"target": "torch:save", "path_arg": 1, "path_contains": ".ckpt.", "call": 2, "scope": "run",
             "marker": str(marker), "hook_dir": hook_dir}
    killed = train(fault=fault)
    assert marker.is_file(), f"the fault was not injected: no second checkpoint write\n{killed.stdout[-3000:]}"
    assert killed.returncode != 0
    assert not (work / weights).exists() and not (work / record).exists()
    checkpoints = list((work / "results" / "zoo").glob(f".{model}.ckpt"))
    assert checkpoints, "the epoch-1 checkpoint should survive the kill"

    ok(run(work, "--unlock", "--configfile", "config/faults.yaml"))
    ok(train())
    assert json.loads((work / record).read_text())["resumed_after_epoch"] == 1
    assert (work / weights).read_bytes() == reference, "resumed training gave other weights"
    assert not list((work / "results" / "zoo").glob(f".{model}.ckpt*")), "checkpoint left behind"
    assert {p: p.stat().st_mtime_ns for p in dataset_files} == dataset_files, "the data set was rebuilt"


# --------------------------------------------------------------------------- corrupt files

def damage_file(data: bytes, damage: str) -> bytes:
    if damage == "truncated":  # a copy or a write cut short
        return data[: len(data) // 2]
    if damage == "garbage":  # not Parquet at all
        return random.Random(0).randbytes(len(data))
    # bit rot: 16 bytes flipped inside the kernel values, footer intact
    flipped = bytearray(data)
    start = int(len(data) * 0.6)
    flipped[start : start + 16] = bytes(b ^ 0xFF for b in flipped[start : start + 16])
    return bytes(flipped)


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "garbage",
        "bitflip",  # pages carry CRC-32 checksums: flipped bytes are an error, not other weights
    ],
)
def test_damaged_filters_file_is_named_by_next_step_and_rebuilding_repairs_it(built, tmp_path, damage):
    work = clone(built, tmp_path / "w")
    bad = work / "results/filters/fault_a.parquet"
    bad.write_bytes(damage_file(bad.read_bytes(), damage))
    before = snapshot(work)

    failed = run(work, *targets(*TIMM_ROWS), "results/hist/fault_a.parquet", "--cores", "2",
                 "--configfile", "config/faults.yaml", "--keep-going")
    assert failed.returncode != 0, "the damaged file was read without an error"
    assert "results/filters/fault_a.parquet" in failed.stdout, failed.stdout[-4000:]
    if damage != "bitflip":
        assert "not a readable Parquet file" in failed.stdout, failed.stdout[-4000:]
    # the step that failed on it: the model table (a damaged footer) or the range pass (a damaged page)
    bucket = model_bucket("fault_a")  # the range and histogram passes run per bucket of models
    outputs = {"results/logs/model_table.log": "results/db/models.parquet",
               f"results/logs/model_range/{bucket}.log": "results/basis/range/fault_a.json",
               f"results/logs/histograms/{bucket}.log": "results/hist/fault_a.parquet"}  # fmt: skip
    named = [log for log in outputs if (work / log).is_file() and "results/filters/fault_a.parquet" in (work / log).read_text()]
    assert named, "no step's log names the damaged file"
    assert not any((work / outputs[log]).exists() for log in named), "a stale output of the failed step was kept"

    # rebuild that one model
    ok(smk(work, *TIMM_ROWS, extra=("--forcerun", "results/filters/fault_a.parquet")))
    assert same_bytes(bad, built / "results/filters/fault_a.parquet")
    assert same_bytes(work / "results/layers/fault_a.parquet", built / "results/layers/fault_a.parquet")
    after = snapshot(work)
    for path in targets("fault_b") + ["results/models/fault_b.json"]:
        assert after[path] == before[path], f"{path} was rebuilt"
    assert_outputs_valid(work)


# --------------------------------------------------------------------------- shared file system

def test_outputs_get_the_permissions_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        store.write_json_atomic(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- full disk

def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_full_disk_gives_clear_error_and_leaves_nothing(built, tmp_path):
    work = clone(built, tmp_path / "w")
    (work / "results/filters/fault_a.parquet").unlink()  # its model job reruns
    filters = work / "results" / "filters"
    keep = tmp_path / "fault_b.parquet"
    shutil.move(filters / "fault_b.parquet", keep)
    if not _mount_tmpfs(filters, "1m"):
        pytest.skip("needs root and `mount -t tmpfs` for a 1 MB file system")
    # a file that was there before: Snakemake's cleanup removes an output folder left empty,
    # and a mount point cannot be removed
    (filters / "kept").write_text("kept")
    try:
        failed = run(work, "results/filters/fault_a.parquet", "--cores", "1", "--configfile", "config/faults.yaml")
        assert failed.returncode != 0
        assert "No space left on device" in failed.stdout, failed.stdout[-4000:]
        assert "Error in rule model" in failed.stdout
        assert sorted(os.listdir(filters)) == ["kept"], "a partial file was left in results/filters"
    finally:
        subprocess.run(["umount", "-l", str(filters)], check=False)
        shutil.move(keep, filters / "fault_b.parquet")
    # space is back: the same command finishes the work
    ok(run(work, "results/filters/fault_a.parquet", "--cores", "1", "--configfile", "config/faults.yaml"))
    assert same_bytes(filters / "fault_a.parquet", built / "results/filters/fault_a.parquet")
    assert_outputs_valid(work)


# --------------------------------------------------------------------------- failing download

BAD_PYPI_ROW = (
    "fault_pkg\tpypi\tfilterdb-fault-package==1.0\tnet\tNet\tclassification\tunknown\tnone\tfalse\t0"
)


def test_failing_download_retries_boundedly_and_others_build_with_keep_going(tmp_path):
    header = SHEET_HEADER + "\tsha256\tmember\treader"
    rows = {
        "fault_a": TIMM_ROWS["fault_a"] + "\t\t\t",
        "fault_pkg": BAD_PYPI_ROW + "\t" + "0" * 64 + "\tmodel.onnx\tonnx",
    }
    work = make_work(tmp_path / "w", rows={})
    (work / "config" / "faults.tsv").write_text("\n".join([header, *rows.values()]) + "\n")
    # port 9 (discard) on localhost: connection refused, a transient network failure
    env = {"FILTERDB_PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull}
    started = time.monotonic()
    result = smk(work, "fault_a", "fault_pkg", extra=("--keep-going",), env=env)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    out = result.stdout
    assert "attempt 1/3 failed" in out and "attempt 2/3 failed" in out, out[-4000:]
    assert "attempt 3/3 failed" not in out and "attempt 4" not in out
    log = (work / "results/logs/model/fault_pkg.log").read_text()
    assert "could not be reached after 3 attempts" in log and "fault_pkg" in log, log
    assert not (work / "results/models/fault_pkg.json").exists()
    assert not (work / "results/filters/fault_pkg.parquet").exists()
    # the other model built regardless
    assert (work / "results/layers/fault_a.parquet").is_file()
    assert_outputs_valid(work)
    assert elapsed < 300


# --------------------------------------------------------------------------- concurrent runs

def test_second_snakemake_on_same_directory_is_refused_by_the_lock(built, tmp_path):
    work = clone(built, tmp_path / "w")
    for path in targets(*TIMM_ROWS):
        (work / path).unlink()  # manifests stay: the first run dumps and analyses both models
    first = run(work, *targets(*TIMM_ROWS), "--cores", "1", "--configfile", "config/faults.yaml", background=True)
    try:
        deadline = time.monotonic() + 120
        locks = work / ".snakemake" / "locks"
        while not (locks.is_dir() and any(locks.iterdir())):
            assert first.poll() is None, "the first run ended before it took its lock"
            assert time.monotonic() < deadline, "the first run never took its lock"
            time.sleep(0.2)
        second = smk(work, *TIMM_ROWS)
        first_output, _ = first.communicate(timeout=600)
    finally:
        _kill_group(first.pid)
    assert second.returncode != 0
    assert "Directory cannot be locked" in second.stdout, second.stdout[-3000:]
    assert first.returncode == 0, first_output[-4000:]
    for path in targets(*TIMM_ROWS):
        assert same_bytes(work / path, built / path), path
    assert "Nothing to be done" in ok(smk(work, *TIMM_ROWS, extra=("-n",)))
