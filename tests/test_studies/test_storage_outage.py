"""Optuna storage blips (issue 27): a PostgreSQL restart mid-study is waited out by the runner and its
workers (no trial fails, no retry is used); an outage past ``JEDI_STORAGE_RETRY_S`` ends in one paragraph
naming the URL without its password. One real PostgreSQL cluster on loopback for the module, halted and
restarted to make the outage (its data survives, as a restarted database server's does)."""
import os
import subprocess
import sys
import threading
import time

import pytest

from jedi_repro.studies.storage_retry import StorageOutage, shown_url
from jedi_repro.tracking.postgres import LocalPostgres

from .conftest import require_postgres, write_spec

POINTS = [0.0, 0.4]
OUTAGE_S = 61


def test_shown_url_hides_the_password():
    assert shown_url('postgresql://jedi:s3cret@db.example:5432/optuna') == \
        'postgresql://jedi:***@db.example:5432/optuna'


@pytest.fixture(scope='module')
def postgres():
    require_postgres()
    with LocalPostgres() as pg:
        yield pg


def _outage(pg, seconds: float) -> threading.Thread:
    """Halt the server now; restart it after ``seconds`` in a thread (join it before the test ends)."""
    pg.halt()
    thread = threading.Thread(target=lambda: (time.sleep(seconds), pg.restart()))
    thread.start()
    return thread


@pytest.mark.integration
def test_storage_calls_wait_out_a_restart_and_fail_past_the_limit(postgres, monkeypatch, capsys):
    import optuna

    from jedi_repro.studies.storage import open_storage
    url = postgres.create_database('blip')
    study = optuna.create_study(study_name='s', storage=open_storage(url))
    study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=1)
    thread = _outage(postgres, 6)
    try:
        study.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=2)  # across the outage
    finally:
        thread.join()
    assert [t.state.name for t in study.trials] == ['COMPLETE'] * 3
    err = capsys.readouterr().err
    assert err.count('lost its connection') >= 1 and url in err and 'answers again' in err
    # past the stated limit: one paragraph naming the URL and what to do
    monkeypatch.setenv('JEDI_STORAGE_RETRY_S', '2')
    storage = open_storage(url)
    postgres.halt()
    try:
        t0 = time.time()
        with pytest.raises(StorageOutage) as err:
            storage.get_all_studies()
        assert time.time() - t0 < 30
    finally:
        postgres.restart()
    msg = str(err.value)
    assert url in msg and 'did not answer for 2 s' in msg and 'jedi study run' in msg and 'pg_isready' in msg


@pytest.mark.integration
def test_study_rides_out_a_database_restart(postgres, tmp_path, toy_store, stub_path, monkeypatch):
    """The runner and its worker keep going through a PostgreSQL outage of just over a minute (the issue
    asks for at least 60 s; JEDI_STORAGE_RETRY_S defaults to 100 s): every trial completes once, none
    failed, none retried; exit 0."""
    from optuna.trial import TrialState

    from jedi_repro.studies import recovery
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.studies.storage import load_study
    url = postgres.create_database('study')
    spec_path = write_spec(tmp_path, toy_store, f'name: blip\nseeds: [0]\nspace:\n  model.gamma: {POINTS}\n'
                           'sampler: grid\nobjective: mean/teacher/top1\n')
    marks = tmp_path / 'marks'
    marks.mkdir()
    env = {**os.environ, 'JEDI_STUB_MARK_DIR': str(marks), 'JEDI_STUB_SLEEP_S': '0.7'}
    log = open(tmp_path / 'run.log', 'wb')
    proc = subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', 'study', 'run', str(spec_path),
                             '--storage', url, '--workers', '1', '--train-fn', stub_path], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 180
        while not any(marks.iterdir()):  # a trial is training
            assert time.time() < deadline and proc.poll() is None, (tmp_path / 'run.log').read_text()
            time.sleep(0.1)
        _outage(postgres, OUTAGE_S).join()
        assert proc.wait(timeout=300) == 0, (tmp_path / 'run.log').read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out = (tmp_path / 'run.log').read_text()
    assert 'Traceback' not in out and 'lost its connection' in out
    study = load_study(load_spec(spec_path), url)
    assert sorted(t.params['model.gamma'] for t in study.trials) == POINTS  # each point once: no retry
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert not any(recovery.STALE_ATTR in t.user_attrs for t in study.trials)
