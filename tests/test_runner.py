"""The step runner: the project's errors are one line; anything else is a bug and keeps its traceback."""

from __future__ import annotations

import pytest

from filterdb.errors import SourceError
from filterdb.runner import run_step


def run(tmp_path, step) -> str:
    class Job:
        rule = "dump"
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
    assert "rule dump failed" in log and "Traceback" in log and "raise bug" in log
