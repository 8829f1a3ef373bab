"""Which process runs something, and whether it still does (Linux /proc; pid reuse is detected).

Runs, trials and work dirs record ``identity()`` when they start; a later process that finds one of them
unfinished asks ``is_gone`` whether its owner died (SIGKILL, a crashed machine) or still works on it.
"""
from __future__ import annotations

import os
import socket
from typing import Any


def process_start_token(pid: int) -> str:
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat); '' where unknown.

    Distinguishes a live process from an unrelated one that reused its pid.
    """
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return ''
    return stat.rsplit(')', 1)[1].split()[19]


def identity() -> dict[str, Any]:
    """``{'host', 'pid', 'start'}`` of this process."""
    pid = os.getpid()
    return {'host': socket.gethostname(), 'pid': pid, 'start': process_start_token(pid)}


def process_alive(pid: int, start: str) -> bool:
    """Whether the process ``pid`` still runs and is the one that started at ``start``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    token = process_start_token(pid)
    return not start or not token or token == start


def is_gone(host: str | None, pid, start: str | None) -> bool:
    """Whether the recorded process is known to be dead: on this host only (elsewhere: unknown, False)."""
    if not host or host != socket.gethostname() or pid in (None, ''):
        return False
    return not process_alive(int(pid), str(start or ''))


def die_with_parent() -> None:
    """``preexec_fn`` of a child we supervise (study workers, the MLflow server of ``jedi ui``): it gets
    SIGTERM when its parent dies, even by SIGKILL, so nothing is orphaned (Linux only)."""
    import signal
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: a killed parent leaves the child to finish and stop by itself
