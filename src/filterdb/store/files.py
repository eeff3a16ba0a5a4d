"""Atomic, deterministic writes of any output, and file checksums.

Every output is written to a temporary file in the same folder, fsynced and renamed, so
a killed job never leaves a file that a later step could read as complete.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import WriteError


def _temporary_beside(path: Path, suffix: str) -> Path:
    """Create ``.{name}.{8 hex}{suffix}`` beside ``path``, with the umask's permissions."""
    for _ in range(100):
        tmp = path.parent.absolute() / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path}: no free temporary name beside it")


def _remove_dead_temporaries(path: Path, suffix: str) -> None:
    """Delete temporaries of ``path`` left by a writer that was killed (SIGKILL, power loss).

    One job writes a given output at a time, so any such file is dead; the exact name
    pattern keeps other outputs' temporaries (even ``{name}.x.parquet``'s) out of it.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}{re.escape(suffix)}")
    for stale in path.parent.glob(f".{path.name[:1]}*"):
        if pattern.fullmatch(stale.name):
            stale.unlink(missing_ok=True)


# errors of the file system, not of the data: the message must name the file written
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}
_WRITE_HINTS = {
    errno.ENOSPC: "free space on its file system and run again",
    errno.EDQUOT: "free space within your quota and run again",
    errno.EFBIG: "the file system limits the size of one file; write results/ to another file system",
    errno.EACCES: "the folder is not writable: check its permissions",
    errno.EPERM: "the folder is not writable: check its permissions",
    errno.EROFS: "the file system is read-only: write results/ to another one",
}


def write_error(path: Path, exc: OSError) -> OSError:
    """``exc`` as a WriteError naming ``path`` when the file system refused a write, else ``exc``.

    pyarrow raises OSError without an errno; its message carries the C library's text.
    """
    code = exc.errno if exc.errno in _WRITE_ERRNOS else next(
        (e for e in _WRITE_ERRNOS if os.strerror(e) in str(exc)), None
    )
    if code is None:
        return exc
    return WriteError(code, f"cannot write {path}: {os.strerror(code)}; {_WRITE_HINTS[code]}")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A write the file system refuses (full disk, file too large, read-only folder) is a
    WriteError naming ``path``; no temporary file is left.
    """
    path = Path(path)
    suffix = suffix or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_temporaries(path, suffix)
        tmp_path = _temporary_beside(path, suffix)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield tmp_path
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        error = write_error(path, exc)
        if error is exc:
            raise
        raise error from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays and paths (``json.dumps(default=...)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
