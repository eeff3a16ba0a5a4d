"""Run a workflow step: log to the rule's log file, show the project's errors as one clear line.

A :class:`filterdb.errors.FilterdbError` (a bad sheet, config, model file or data) is the
user's to fix: its message says what and where, and the traceback only goes to the debug
log. Any other exception is a bug in filterdb and is logged with its traceback.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import traceback
from typing import Callable

from .errors import FilterdbError


def run_step(snakemake, step: Callable[[], object]) -> None:
    """Call ``step()`` with logging to ``snakemake.log[0]`` and stderr; exit 1 on error.
    In a workflow job's own process, a finished step ends the process (:func:`end_job`)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    log = logging.getLogger(f"filterdb.rule.{snakemake.rule}")
    try:
        step()
        log.info("%s", usage_line())
    except FilterdbError as exc:  # WriteError (an OSError) included
        log.error("%s", exc)
        log.debug("%s", traceback.format_exc())
        sys.exit(1)
    except Exception:
        log.error("rule %s failed:\n%s", snakemake.rule, traceback.format_exc())
        sys.exit(1)
    if type(snakemake).__module__ == "snakemake.iocontainers":  # Snakemake's job object, not a caller's stand-in
        end_job()


def end_job() -> None:
    """End a finished job's process at once, skipping Python's finalisation: tearing down the
    modules and freeing every object costs ~1 s of CPU per process with torch imported and
    ~0.2 s with pandas (docs/benchmarks.md), for nothing, since the job's files are written
    and closed by now. The logs are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


USAGE_PREFIX = "job usage:"


def _own_peak_kib(own) -> int:
    """This process's peak resident memory since it started its program. Not ``ru_maxrss``:
    Linux carries the parent's peak over an exec, so a job started by Snakemake (or by a
    large test process) would report at least its parent's memory."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return own.ru_maxrss


def usage_line() -> str:
    """The job's CPU seconds (user + system, this process and its children, start-up and
    imports included) and peak memory, exact from ``getrusage``: what ``benchmarks/rule_usage.py``
    sums per rule. Snakemake's ``benchmark:`` samples instead (every 0.5 s, reading each job's
    memory maps), which costs its own process CPU and misses most of a job that lasts a second."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    peak_mb = max(_own_peak_kib(own), children.ru_maxrss) / 1024  # KiB on Linux
    return f"{USAGE_PREFIX} {cpu:.2f} s CPU, {peak_mb:.0f} MB peak"
