"""One pending rescheduling timer per Snakemake scheduler, not one per finished job.

Snakemake 9's job scheduler (``snakemake.scheduling.job_scheduler.JobScheduler``) ends
every scheduling round of a real run by starting a ``threading.Timer`` that, after the
rate limit's timespan (``--max-jobs-per-timespan``, default ``100/1s``), releases a token
for another round. Each finished job releases a token too, and every round it triggers
starts its own timer, so each finished job starts a chain of rounds that never ends: after
k jobs, about k rounds a second, each statting the inputs of every ready job. On the
default build (698 jobs, 26 minutes) the scheduler's own process used about a quarter of
all CPU; on a 120-job toy workflow, 18.8 s against 6.5 s with one pending timer.

:func:`bound_rescheduling` keeps at most one pending timer per scheduler. One is enough:
a round considers every ready job, and job completions still wake the scheduler at once.
The timer is a daemon thread, so a finished run does not wait for it. The Snakefile calls
this when it is parsed; with a Snakemake that lacks the method nothing is changed.

Standard library only (the Snakefile imports it).
"""

from __future__ import annotations

import threading

_PATCHED = "_filterdb_one_pending_timer"


def _schedule_once(scheduler, delay: float) -> None:
    pending = getattr(scheduler, "_filterdb_timer", None)
    if pending is not None and pending.is_alive():
        return
    timer = threading.Timer(delay, scheduler._open_jobs.release)
    timer.daemon = True
    scheduler._filterdb_timer = timer
    timer.start()


setattr(_schedule_once, _PATCHED, True)


def bound_rescheduling(scheduler_class=None) -> bool:
    """Replace the scheduler's timer method; True if it is (now) replaced."""
    if scheduler_class is None:
        try:
            from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
        except ImportError:
            return False
    current = getattr(scheduler_class, "_schedule_reevalutation", None)
    if current is None:
        return False
    if not getattr(current, _PATCHED, False):
        scheduler_class._schedule_reevalutation = _schedule_once
    return True
