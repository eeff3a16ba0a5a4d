"""The step runner: the project's errors are one line; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from filterdb.errors import SourceError
from filterdb.runner import run_step


def run(tmp_path, step) -> str:
    class Job:
        rule = "model"
        log = [str(tmp_path / "dump.log")]

    with pytest.raises(SystemExit) as exited:
        run_step(Job, step)
    assert exited.value.code == 1
    return (tmp_path / "dump.log").read_text()


def test_a_source_error_is_one_line_without_traceback(tmp_path):
    def step():
        raise SourceError("model 'm': checkpoint file 'm.pt' does not exist")

    log = run(tmp_path, step)
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in log
    assert lines[0].endswith("model 'm': checkpoint file 'm.pt' does not exist")


@pytest.mark.parametrize("bug", [ValueError("too many values to unpack"), KeyError("layer")])
def test_a_bug_keeps_its_traceback(tmp_path, bug):
    def step():
        raise bug

    log = run(tmp_path, step)
    assert "rule model failed" in log and "Traceback" in log and "raise bug" in log


def test_a_finished_step_logs_its_cpu_and_peak_memory(tmp_path):
    # in a process of its own, as a workflow job is: getrusage counts the whole process
    script = f"""
from filterdb.runner import run_step
class Job:
    rule = "model"
    log = [{str(tmp_path / "job.log")!r}]
def step():
    sum(i * i for i in range(3_000_000))  # some CPU
    block = bytearray(64 << 20)  # and 64 MB
    block[::4096] = b"x" * len(block[::4096])
run_step(Job, step)
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    line = (tmp_path / "job.log").read_text().splitlines()[-1]
    cpu, peak = re.search(r"job usage: ([0-9.]+) s CPU, ([0-9]+) MB peak", line).groups()
    assert 0.05 < float(cpu) < 30 and 64 <= int(peak) < 1000, line


def test_the_peak_is_the_jobs_own_not_its_parents(tmp_path):
    # Linux carries a parent's peak RSS over fork + exec into the child's ru_maxrss; a job
    # started by a 600-MB parent must still report its own peak (tens of MB)
    job = f"""
from filterdb.runner import run_step
class Job:
    rule = "model"
    log = [{str(tmp_path / "job.log")!r}]
run_step(Job, lambda: None)
"""
    parent = f"""
import subprocess, sys
block = bytearray(600 << 20)
block[::4096] = b"x" * len(block[::4096])
subprocess.run([sys.executable, "-c", {job!r}], check=True)
"""
    subprocess.run([sys.executable, "-c", parent], check=True)
    line = (tmp_path / "job.log").read_text().splitlines()[-1]
    peak = int(re.search(r"([0-9]+) MB peak", line).group(1))
    assert peak < 300, line


def test_a_finished_workflow_job_ends_its_process_without_finalisation(tmp_path):
    # Snakemake's own job object: the step's process ends at once (exit 0, the usage line
    # logged), so nothing after run_step runs, atexit handlers included
    script = f"""
import atexit, pathlib
from snakemake.iocontainers import Snakemake
from filterdb.runner import run_step
job = Snakemake.__new__(Snakemake)  # what a job script's preamble unpickles; only these two are read
job.rule, job.log = "model", [{str(tmp_path / "job.log")!r}]
atexit.register(lambda: pathlib.Path({str(tmp_path / "atexit")!r}).touch())
run_step(job, lambda: pathlib.Path({str(tmp_path / "done")!r}).touch())
pathlib.Path({str(tmp_path / "after")!r}).touch()
"""
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "done").exists() and not (tmp_path / "after").exists() and not (tmp_path / "atexit").exists()
    assert "job usage:" in (tmp_path / "job.log").read_text().splitlines()[-1]
