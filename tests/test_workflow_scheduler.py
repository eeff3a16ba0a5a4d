"""One pending rescheduling timer per Snakemake scheduler (filterdb.workflow_scheduler)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

from filterdb.workflow_scheduler import bound_rescheduling


class _Scheduler:
    """The two members of Snakemake's JobScheduler that the timer method touches."""

    def __init__(self) -> None:
        self._open_jobs = threading.Semaphore(0)

    def _schedule_reevalutation(self, delay):  # Snakemake's behaviour: one timer per call
        threading.Timer(delay, self._open_jobs.release).start()


def _tokens(semaphore: threading.Semaphore) -> int:
    n = 0
    while semaphore.acquire(blocking=False):
        n += 1
    return n


def test_many_rounds_leave_one_pending_timer():
    class Scheduler(_Scheduler):
        pass

    unpatched = Scheduler()
    for _ in range(20):
        unpatched._schedule_reevalutation(0.05)
    time.sleep(0.3)
    assert _tokens(unpatched._open_jobs) == 20  # the chain-per-call behaviour being fixed

    assert bound_rescheduling(Scheduler)
    patched = Scheduler()
    for _ in range(20):
        patched._schedule_reevalutation(0.05)
    time.sleep(0.3)
    assert _tokens(patched._open_jobs) == 1
    assert not patched._filterdb_timer.is_alive() and patched._filterdb_timer.daemon
    # once the timer has fired, the next round starts a new one
    patched._schedule_reevalutation(0.05)
    time.sleep(0.3)
    assert _tokens(patched._open_jobs) == 1


def test_patching_twice_is_harmless_and_other_schedulers_are_untouched():
    class Scheduler(_Scheduler):
        pass

    assert bound_rescheduling(Scheduler) and bound_rescheduling(Scheduler)
    assert _Scheduler._schedule_reevalutation is not Scheduler._schedule_reevalutation
    assert not bound_rescheduling(object)  # nothing to replace: reported, not raised


def test_the_installed_snakemake_has_the_method_it_replaces():
    # a Snakemake upgrade that renames it makes this fail rather than silently keep the chains
    from snakemake.scheduling.job_scheduler import JobScheduler

    assert bound_rescheduling(JobScheduler)
    assert JobScheduler._schedule_reevalutation.__module__ == "filterdb.workflow_scheduler"


def test_a_rate_limited_run_still_runs_every_job(tmp_path):
    # the timer exists to release jobs held back by --max-jobs-per-timespan; with one pending
    # timer they are still released, and the run exits without waiting for it
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            from filterdb.workflow_scheduler import bound_rescheduling
            assert bound_rescheduling()
            rule all:
                input: expand("out/{i}.txt", i=range(8))
            rule one:
                output: "out/{i}.txt"
                shell: "sleep 0.2; echo {wildcards.i} > {output}"
            """
        )
    )
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--max-jobs-per-timespan", "2/1s", "-q", "all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i}.txt" for i in range(8)]
    assert time.perf_counter() - started >= 3  # 8 jobs, at most 2 a second: the limit held
