"""A study journal survives a torn append: the half-written tail is set aside, the study goes on.

Optuna's ``JournalFileBackend`` appends one JSON record per line. A full disk (or a process killed inside
``write``) can leave a last line without its newline; Optuna skips such a line while it is last, but the
next append is glued to it and from then on every read fails with ``JSONDecodeError``. Before a journal is
opened, :func:`repair_journal` finds the first line that is not a complete record (no newline, or not
JSON), moves it and everything after it to ``<journal>.torn-<time>`` beside the journal, and truncates the
journal to its last complete record, under Optuna's own lock, with a warning naming both files.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from jedi_repro.atomic import write_bytes_atomic


def first_bad_offset(data: bytes) -> int | None:
    """Byte offset of the first line that is not a newline-terminated JSON record, or None."""
    offset = 0
    for line in data.splitlines(keepends=True):
        if not line.endswith(b'\n'):
            return offset
        try:
            json.loads(line)
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            return offset
        offset += len(line)
    return None


def repair_journal(path: str | os.PathLike, warn=None) -> Path | None:
    """Set aside a torn tail of the journal at ``path``; return where it went (None: nothing to repair).

    Args:
        path: the journal file (absent or empty: nothing to do).
        warn: called with the warning text (default: printed to stderr).
    """
    path = Path(path)
    if not path.is_file() or first_bad_offset(path.read_bytes()) is None:
        return None
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))  # the lock Optuna's appends take (JournalFileBackend default)
    lock.acquire()
    try:
        data = path.read_bytes()
        bad = first_bad_offset(data)  # again: another process may have repaired it meanwhile
        if bad is None:
            return None
        aside = path.with_name(f'{path.name}.torn-{time.strftime("%Y%m%dT%H%M%S")}-{os.getpid()}')
        write_bytes_atomic(aside, data[bad:])
        with open(path, 'r+b') as f:
            f.truncate(bad)
            f.flush()
            os.fsync(f.fileno())
    finally:
        lock.release()
    n_lines = len(data[bad:].splitlines())
    text = (f'warning: study journal {path} ended in a half-written record (a full disk or a killed write): '
            f'{len(data) - bad} bytes ({n_lines} line(s)) from byte {bad} set aside in {aside}; the study '
            'continues from its last complete record (a trial whose record was cut is run again)')
    (warn or (lambda t: print(t, file=sys.stderr, flush=True)))(text)
    return aside
