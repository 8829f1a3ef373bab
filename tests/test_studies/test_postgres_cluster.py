"""A study across separately started workers on real services: PostgreSQL (Optuna storage and MLflow
backend) and the MLflow tracking server of `jedi server`, all on loopback, nothing mocked.

The workers start before the study exists and wait for `jedi study run --workers 0` to prepare it (as on
other machines: the runner does not start them); one is SIGKILLed mid-trial; the study is re-run; then
`jedi report` reads the runs from the server and the trials from PostgreSQL.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from jedi_repro.tracking.postgres import LocalPostgres

from .conftest import require_postgres, write_spec

pytestmark = pytest.mark.integration
POINTS = [0.0, 0.2, 0.4]
SEEDS = [0, 1]


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    require_postgres()
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture
def tracking_server(postgres, tmp_path, monkeypatch):
    """`jedi server` on the cluster's `mlflow` database; MLFLOW_TRACKING_URI points at it."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, '-m', 'jedi_repro.cli', 'server', '--backend-store-uri',
                             postgres.create_database('mlflow'), '--artifacts-destination',
                             str(tmp_path / 'artifacts'), '--port', str(port)],
                            stdout=open(tmp_path / 'server.log', 'wb'), stderr=subprocess.STDOUT)
    uri = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, (tmp_path / 'server.log').read_text()[-3000:]
            try:
                urllib.request.urlopen(f'{uri}/health', timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                assert time.time() < deadline, 'tracking server did not answer in 120 s'
                time.sleep(0.5)
        monkeypatch.setenv('MLFLOW_TRACKING_URI', uri)
        yield uri
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def _start_worker(spec, url, index, log: Path, stub):
    return subprocess.Popen([sys.executable, '-m', 'jedi_repro.studies.worker', '--spec', str(spec),
                             '--storage', url, '--index', str(index), '--train-fn', stub, '--wait', '120'],
                            stdout=open(log, 'wb'), stderr=subprocess.STDOUT)


def test_grid_on_postgres_survives_a_killed_worker(tmp_path, toy_store, stub_path, postgres, tracking_server,
                                                   monkeypatch):
    from optuna.trial import TrialState

    from jedi_repro.studies import recovery
    from jedi_repro.studies.runner import run_study
    from jedi_repro.studies.spec import load_spec
    from jedi_repro.studies.storage import load_study
    from jedi_repro.tracking.client import RetryingClient

    url = postgres.create_database('optuna')
    spec_path = write_spec(tmp_path, toy_store, f'name: pgstudy\nseeds: {SEEDS}\nspace:\n  model.gamma: '
                           f'{POINTS}\nsampler: grid\nobjective: mean/teacher/top1\n')
    marks = tmp_path / 'marks'
    marks.mkdir()
    monkeypatch.setenv('JEDI_STUB_MARK_DIR', str(marks))
    monkeypatch.setenv('JEDI_STUB_SLEEP_S', '0.7')
    # workers first, as a batch system may start them: they wait for the study to be prepared
    workers = [_start_worker(spec_path, url, i, tmp_path / f'w{i}.log', stub_path) for i in range(2)]
    try:
        prep = subprocess.run([sys.executable, '-m', 'jedi_repro.cli', 'study', 'run', str(spec_path),
                               '--storage', url, '--workers', '0'], capture_output=True, text=True,
                              timeout=120)
        assert prep.returncode == 0, prep.stderr[-3000:]
        assert 'jedi study worker' in prep.stdout  # it tells how to start workers; it started none
        deadline = time.time() + 120
        while not any(marks.iterdir()):
            assert time.time() < deadline, [p.read_text() for p in tmp_path.glob('w*.log')]
            time.sleep(0.1)
        victim = int(next(marks.iterdir()).name)
        assert victim in [w.pid for w in workers]
        os.kill(victim, signal.SIGKILL)
        survivor = next(w for w in workers if w.pid != victim)
        assert survivor.wait(timeout=180) == 0, (tmp_path / f'w{workers.index(survivor)}.log').read_text()
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            w.wait()

    spec = load_spec(spec_path)
    study = load_study(spec, url)
    running = study.get_trials(states=(TrialState.RUNNING,))
    assert len(running) == 1  # the killed worker's trial
    killed = running[0].number

    monkeypatch.delenv('JEDI_STUB_SLEEP_S')
    summary = run_study(spec_path, workers=1, storage=url, train_fn=stub_path, progress=False)
    assert summary['worker_exit_codes'] == [0]
    study = load_study(spec, url)
    assert study.trials[killed].state == TrialState.FAIL
    assert study.trials[killed].user_attrs[recovery.STALE_ATTR] is True
    complete = Counter(t.params['model.gamma'] for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert complete == Counter(POINTS)  # every grid point finished exactly once
    assert study.user_attrs['jedi.mlflow_tracking_uri'] == tracking_server

    client = RetryingClient()
    assert client.tracking_uri == tracking_server
    exp = client.get_experiment_by_name('pgstudy')
    assert exp.artifact_location.startswith('mlflow-artifacts:')  # the server's store, not a local path
    runs = {r.info.run_id: r for r in client.search_runs([exp.experiment_id], max_results=1000)}
    assert not [r for r in runs.values() if r.info.status == 'RUNNING']
    parent = [r for r in runs.values() if r.data.tags['jedi.role'] == 'study']
    assert len(parent) == 1 and parent[0].info.status == 'FINISHED'
    seeds = Counter()
    for r in runs.values():
        if r.data.tags['jedi.role'] == 'seed' and r.info.status == 'FINISHED':
            trial = runs[r.data.tags['mlflow.parentRunId']]
            assert trial.info.status == 'FINISHED'
            seeds[(float(trial.data.params['model.gamma']), int(r.data.tags['jedi.seed']))] += 1
            assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {'config.py', 'metrics.json'}
    assert seeds == Counter({(g, s): 1 for g in POINTS for s in SEEDS})
    dead = runs[study.trials[killed].user_attrs[recovery.RUN_ATTR]]
    assert dead.info.status == 'FAILED' and dead.data.tags['jedi.state'] == 'STALE'

    out = tmp_path / 'report'
    rep = subprocess.run([sys.executable, '-m', 'jedi_repro.cli', 'report', '--study', 'pgstudy', '--out',
                          str(out), '--optuna-storage', url], capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-3000:]
    md = (out / 'report.md').read_text()
    # the runs, from the tracking server (the killed trial's runs are FAILED and left out) ...
    assert f'from 6 seed runs in 3 configurations (--study pgstudy), MLflow `{tracking_server}`' in md, \
        md[:600]
    # ... and the trials, from PostgreSQL
    assert f'Optuna study `pgstudy` ({url}): 3 completed trials' in md


def test_a_trial_stale_by_optunas_heartbeat_is_recovered(postgres, tmp_path, toy_store):
    """A worker on another host (its own heartbeat attribute still fresh) whose Optuna heartbeat in
    PostgreSQL went silent is recovered: Optuna's RDB heartbeat is what decides there."""
    import socket

    import optuna
    from optuna.trial import TrialState

    from jedi_repro.studies import recovery
    from jedi_repro.studies.storage import open_storage

    url = postgres.create_database('beat')
    assert recovery.optuna_heartbeat_enabled(open_storage(url))  # schema created, heartbeat on
    with pytest.warns(optuna.exceptions.ExperimentalWarning):  # Optuna marks the heartbeat experimental
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1,
                                             skip_table_creation=True)
    study = optuna.create_study(study_name='beat', storage=storage)
    trial = study.ask({'x': optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(recovery.WORKER_ATTR, {'host': 'elsewhere-' + socket.gethostname(), 'pid': 1,
                                               'start': ''})
    with recovery.Heartbeat(study, trial._trial_id, interval_s=0.2):
        time.sleep(0.5)  # beats: the jedi attribute and Optuna's heartbeat row
    assert recovery.recover_stale_trials(study) == []  # our attribute is fresh (grace 120 s)
    time.sleep(2.5)  # Optuna's grace period (1 s) passes without a beat
    assert recovery.optuna_stale_trial_ids(study) == {trial._trial_id}
    assert recovery.recover_stale_trials(study) == [trial.number]
    assert study.trials[trial.number].state == TrialState.FAIL
    retried = study.get_trials(states=(TrialState.WAITING,))
    assert [t.params for t in retried] == [study.trials[trial.number].params]  # queued once for retry


def test_workers_polling_while_the_schema_is_created_do_not_race_it(postgres):
    """Optuna issue 1092: workers that open the storage while `jedi study run` creates the schema must
    neither create nor stamp it themselves (PostgreSQL: duplicate key in pg_type)."""
    import threading

    from jedi_repro.errors import JediError
    from jedi_repro.studies.storage import open_storage

    def poll(url, stop, opened, errors):
        while not stop.is_set():
            try:
                opened.append(open_storage(url, create_schema=False))
                return
            except JediError as exc:
                if 'schema' not in str(exc):
                    errors.append(str(exc))
                    return
                time.sleep(0.005)

    for attempt in range(3):
        url = postgres.create_database(f'race{attempt}')
        errors, opened = [], []
        stop = threading.Event()
        threads = [threading.Thread(target=poll, args=(url, stop, opened, errors)) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        try:
            open_storage(url, create_schema=True)
        finally:
            time.sleep(1.0)
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert not errors, errors
        assert len(opened) == 6  # every poller got the storage once the schema was complete
