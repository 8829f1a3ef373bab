"""An Optuna RDB storage that rides out a lost database connection (a PostgreSQL restart, a network blip).

Optuna's ``RDBStorage`` turns a dropped connection into ``StorageInternalError`` ("... invalid data in the
commit, e.g. exceeding max length"), and the runner or worker that made the call dies; its trials stay
RUNNING until the heartbeat grace marks them stale, which spends their retry. :class:`RetryingRDBStorage`
retries every storage call that fails because the connection was lost, with exponential backoff (0.5 s
doubling to 8 s), for up to ``JEDI_STORAGE_RETRY_S`` seconds (default :data:`DEFAULT_LIMIT_S`, below the
heartbeat grace ``recovery.GRACE_S``, so a waited-out outage never makes a live trial look stale): within
that limit nothing fails and no trial uses a retry. Past it the call raises a one-paragraph
:class:`StorageOutage` naming the URL (password hidden) and what to do.

Only the outermost storage call retries (methods calling methods would multiply the wait), and a retried
write is the same SQL again: a commit that reached the server just before the connection dropped may be
applied twice (a rare duplicate trial attribute or heartbeat; Optuna's own writes are keyed).
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import time

from jedi_repro.errors import JediError

RETRY_ENV = 'JEDI_STORAGE_RETRY_S'
DEFAULT_LIMIT_S = 100.0
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 8.0
LOSS_MARKERS = ('server closed the connection', 'connection refused', 'terminating connection',
                'could not connect', 'connection is closed', 'connection has been closed',
                'the database system is starting up', 'the database system is shutting down',
                'connection timed out', 'connection reset', 'no connection to the server',
                'consuming input failed', 'server conn crashed', 'connection not open')


#: RDBStorage methods Optuna's own wrappers call directly (``_CachedStorage``, ``fail_stale_trials``)
OPTUNA_PRIVATE_CALLS = {'_get_trials', '_get_best_trial_id', '_set_trial_param', '_create_new_trial',
                        '_get_stale_trial_ids'}


class StorageOutage(JediError):
    """The study storage stayed unreachable longer than the stated limit."""


def is_connection_loss(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it chains) says the database connection is lost, not that a query is bad."""
    import sqlalchemy.exc
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            return True
        lost = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, ConnectionError)
        if isinstance(exc, lost) and any(m in str(exc).lower() for m in LOSS_MARKERS):
            return True
        if type(exc).__module__.startswith('psycopg') and type(exc).__name__ in ('OperationalError',
                                                                                 'InterfaceError'):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def shown_url(url: str) -> str:
    """``url`` with its password hidden."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: show it as given
        return url


def limit_s() -> float:
    try:
        return max(0.0, float(os.environ.get(RETRY_ENV, DEFAULT_LIMIT_S)))
    except ValueError:
        raise JediError(f'{RETRY_ENV}={os.environ[RETRY_ENV]!r} must be a number of seconds') from None


_outer = threading.local()


def _retrying(fn):
    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        if getattr(_outer, 'busy', False):  # inside another storage call: the outer one retries
            return fn(self, *args, **kwargs)
        _outer.busy = True
        try:
            deadline, delay, t0 = None, FIRST_DELAY_S, time.monotonic()
            while True:
                try:
                    result = fn(self, *args, **kwargs)
                    if deadline is not None:
                        print(f'the study storage {shown_url(self.url)} answers again after '
                              f'{time.monotonic() - t0:.0f} s', file=sys.stderr, flush=True)
                    return result
                except Exception as exc:
                    if not is_connection_loss(exc):
                        raise
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self.retry_limit_s
                        _warn(self.url, exc, self.retry_limit_s)
                    if now >= deadline:
                        raise StorageOutage(_outage_message(self.url, exc, self.retry_limit_s)) from None
                    self.engine.dispose()  # connections of the lost server are dead: open new ones
                    time.sleep(min(delay, deadline - now))
                    delay = min(delay * 2, MAX_DELAY_S)
        finally:
            _outer.busy = False
    return call


def _first_line(exc: BaseException) -> str:
    cause = exc
    while cause.__cause__ is not None:  # Optuna's StorageInternalError hides the database's words
        cause = cause.__cause__
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ''
    return f'{type(cause).__name__}: {text[:200]}'


def _warn(url: str, exc: BaseException, limit: float) -> None:
    print(f'warning: the study storage {shown_url(url)} lost its connection ({_first_line(exc)}); retrying '
          f'for up to {limit:g} s ({RETRY_ENV}); running trials go on', file=sys.stderr, flush=True)


def _outage_message(url: str, exc: BaseException, limit: float) -> str:
    return (f'the study storage {shown_url(url)} did not answer for {limit:g} s ({_first_line(exc)}). '
            'Nothing that was stored is lost: trials left RUNNING are recovered when the study runs again '
            '(an interrupted trial keeps its retry). Check that the database server is up (e.g. `pg_isready '
            '-h HOST -p PORT`), then run `jedi study run SPEC --storage URL` again (workers started apart: '
            f'`jedi study worker` again); {RETRY_ENV} sets how long an outage is waited out')


def _storage_class():
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    class RetryingRDBStorage(RDBStorage):
        """``RDBStorage`` whose calls wait out a lost connection (see the module docstring)."""

        retry_limit_s = DEFAULT_LIMIT_S

        def __init__(self, url: str, *args, **kwargs):  # not retried: a study that cannot start says so now
            self.retry_limit_s = limit_s()
            super().__init__(url, *args, **kwargs)

    names = {n for base in (BaseStorage, BaseHeartbeat, RDBStorage) for n in vars(base)
             if not n.startswith('_')} | OPTUNA_PRIVATE_CALLS
    for name in sorted(names):
        raw = next((vars(c)[name] for c in RDBStorage.__mro__ if name in vars(c)), None)
        if inspect.isfunction(raw):  # plain methods only (no static/class methods, no properties)
            setattr(RetryingRDBStorage, name, _retrying(raw))
    return RetryingRDBStorage


@functools.cache
def retrying_rdb_storage_class():
    """The :class:`RetryingRDBStorage` class (built once, after Optuna is imported)."""
    return _storage_class()
