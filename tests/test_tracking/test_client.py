import sqlite3

import pytest

from jedi_repro.tracking.client import call_with_retry, is_lock_error


def test_is_lock_error_follows_the_chain():
    try:
        try:
            raise sqlite3.OperationalError('database is locked')
        except sqlite3.OperationalError as inner:
            raise RuntimeError('MlflowException: (sqlite3.OperationalError) ...') from inner
    except RuntimeError as exc:
        assert is_lock_error(exc)
    assert not is_lock_error(ValueError('bad param'))


def test_retries_lock_errors_with_backoff():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError('database is locked')
        return 'ok'

    assert call_with_retry(flaky, sleep=sleeps.append, base_delay=0.1) == 'ok'
    assert len(calls) == 3 and len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.7


def test_other_errors_and_exhaustion_raise():
    def bad():
        raise ValueError('not a lock')

    with pytest.raises(ValueError):
        call_with_retry(bad, sleep=lambda s: None)

    def locked():
        raise sqlite3.OperationalError('database is locked')

    with pytest.raises(sqlite3.OperationalError):
        call_with_retry(locked, retries=2, sleep=lambda s: None)
