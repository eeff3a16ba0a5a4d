"""Run a workflow step: log to the rule's log file, show the project's errors as one clear line.

A :class:`filterdb.errors.FilterdbError` (a bad sheet, config, model file or data) is the
user's to fix: its message says what and where, and the traceback only goes to the debug
log. Any other exception is a bug in filterdb and is logged with its traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from .errors import FilterdbError


def run_step(snakemake, step: Callable[[], object]) -> None:
    """Call ``step()`` with logging to ``snakemake.log[0]`` and stderr; exit 1 on error."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    log = logging.getLogger(f"filterdb.rule.{snakemake.rule}")
    try:
        step()
    except FilterdbError as exc:  # WriteError (an OSError) included
        log.error("%s", exc)
        log.debug("%s", traceback.format_exc())
        sys.exit(1)
    except Exception:
        log.error("rule %s failed:\n%s", snakemake.rule, traceback.format_exc())
        sys.exit(1)
