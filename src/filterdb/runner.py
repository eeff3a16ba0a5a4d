"""Run a workflow step: log to the rule's log file, turn known errors into one clear line."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from .errors import DataError, SchemaError, WriteError
from .sources.base import SourceError

# sheet.SheetError is a ValueError (importing sheet here would cost every job pandas' import)
USER_ERRORS = (SourceError, SchemaError, DataError, WriteError, KeyError, ValueError, FileNotFoundError)


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
    except USER_ERRORS as exc:
        log.error("%s", exc)
        log.debug("%s", traceback.format_exc())
        sys.exit(1)
    except Exception:
        log.error("rule %s failed:\n%s", snakemake.rule, traceback.format_exc())
        sys.exit(1)
