"""A thin MlflowClient adapter that survives SQLite write locks from parallel workers.

Several worker processes write to one SQLite MLflow database; SQLite serialises writers and a writer that
waits longer than the driver's busy timeout gets ``database is locked``. Each call is retried with
exponential backoff and jitter instead of failing the trial.
"""
from __future__ import annotations

import functools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jedi_repro import workspace
from jedi_repro.errors import JediError

LOCK_MARKERS = ('database is locked', 'database table is locked', 'locking protocol')


class TrackingError(JediError):
    """MLflow could not be reached or kept refusing a write."""


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything it chains) is a transient SQLite lock error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(m in str(exc).lower() for m in LOCK_MARKERS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def call_with_retry(fn: Callable, *args, retries: int = 12, base_delay: float = 0.05,
                    max_delay: float = 5.0, sleep: Callable[[float], None] = time.sleep, **kwargs) -> Any:
    """Call ``fn``; on a lock error wait ``base_delay * 2**k`` (capped, jittered) and try again.

    Args:
        fn: the MLflow call.
        retries: how many retries after the first attempt before giving up.
        base_delay: first backoff in seconds.
        max_delay: cap of one backoff.
        sleep: injectable for tests.
    """
    for attempt in range(retries + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - filtered by is_lock_error below
            if not is_lock_error(exc) or attempt == retries:
                raise
            delay = min(max_delay, base_delay * 2 ** attempt)
            sleep(delay * (0.5 + random.random()))
    raise AssertionError('unreachable')


_READY: set[str] = set()


def ensure_store(tracking_uri: str) -> None:
    """Create a SQLite tracking database's schema once, under a file lock, before any run is written.

    MLflow creates (and migrates) the schema when a store is first opened; two processes doing that at
    once on a fresh database fail (``table datasets already exists``, ``Online migration expected to
    match one row``). Whoever takes the lock first creates it; the others then find it complete.
    """
    if tracking_uri in _READY or not tracking_uri.startswith('sqlite:///'):
        return
    import fcntl

    from mlflow.tracking import MlflowClient

    db = Path(tracking_uri[len('sqlite:///'):])
    db.parent.mkdir(parents=True, exist_ok=True)
    quiet = [logging.getLogger(n) for n in ('mlflow.store.db.utils', 'alembic.runtime.migration')]
    levels = [q.level for q in quiet]
    with open(db.parent / f'.{db.name}.init.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for q in quiet:  # 'Creating initial MLflow database tables...' is not news to the user
                q.setLevel(logging.WARNING)
            init_workspace_store(tracking_uri)  # a new database keeps its artifacts in the workspace
            call_with_retry(lambda: MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1))
        finally:
            for q, level in zip(quiet, levels):
                q.setLevel(level)
            fcntl.flock(lock, fcntl.LOCK_UN)
    _READY.add(tracking_uri)


class RetryingClient:
    """``MlflowClient`` whose methods retry on SQLite lock errors; same method names and arguments.

    Args:
        tracking_uri: defaults to ``workspace.mlflow_uri()``.
        retries: passed to :func:`call_with_retry`.
    """

    def __init__(self, tracking_uri: str | None = None, retries: int = 12):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri or workspace.mlflow_uri()
        self.retries = retries
        try:
            ensure_store(self.tracking_uri)
            self._client = call_with_retry(MlflowClient, tracking_uri=self.tracking_uri, retries=retries)
        except Exception as exc:
            raise TrackingError(f'cannot open the MLflow tracking store {self.tracking_uri}: {exc}') from exc

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def wrapped(*args, **kwargs):
            if not self.tracking_uri.startswith(('http://', 'https://')):
                return call_with_retry(attr, *args, retries=self.retries, **kwargs)
            # MLflow retries an unreachable server inside one call for minutes: say so once, then wait
            timer = threading.Timer(SLOW_CALL_S, _say_waiting, (self.tracking_uri,))
            timer.daemon = True
            timer.start()
            try:
                return call_with_retry(attr, *args, retries=self.retries, **kwargs)
            finally:
                timer.cancel()
        return wrapped


#: a tracking call slower than this is reported once per process (MLflow is retrying a lost server)
SLOW_CALL_S = 15.0
_SAID_WAITING: set[str] = set()


def _say_waiting(uri: str) -> None:
    if uri in _SAID_WAITING:
        return
    _SAID_WAITING.add(uri)
    print(f'warning: the MLflow tracking server {uri} has not answered for {SLOW_CALL_S:g} s; MLflow keeps '
          'retrying (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLFLOW_HTTP_REQUEST_TIMEOUT) and this process '
          'waits for it; nothing is lost while it does', file=sys.stderr, flush=True)


def init_workspace_store(uri: str) -> bool:
    """Create a new SQLite tracking database with its artifact root inside the workspace.

    MLflow's client otherwise creates the ``Default`` experiment with the artifact location
    ``<cwd>/mlruns/0``, outside the workspace. Only a SQLite file that does not exist yet is created
    here (an existing store, or a server's, keeps its settings). Returns whether it created one.
    """
    if not uri.startswith('sqlite:///'):
        return False
    db = Path(uri[len('sqlite:///'):])
    if db.exists():
        return False
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db.parent.mkdir(parents=True, exist_ok=True)
    store = SqlAlchemyStore(uri, workspace.mlflow_artifacts_dir().as_uri())
    store.engine.dispose()
    return True
