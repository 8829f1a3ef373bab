"""Tracking faults (issue 27): an unreachable server is refused in seconds; an outage during a run costs no
epoch (the record is kept in the work dir and sent later, idempotently); a resumed run carries no stale
KILLED state. The integration tests use one real `mlflow server` on loopback per module, stopped and
restarted to make the outage (tests/procs.py)."""
import json
import os
import sys
import time

import pytest
from procs import REPO, MlflowServer, free_port, jedi, kill_group, wait_for

from jedi_repro.cli import main
from jedi_repro.data.toy import make_toy_store
from jedi_repro.tracking.offline import PENDING, SYNC_STATE, BufferedClient

CONFIG = REPO / 'mm_configs' / 'jedi' / 'jedi_default.py'
CURVE = 'val_epoch/mean/student/top1'


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    srv = MlflowServer(tmp_path_factory.mktemp('mlflow_server')).start()
    yield srv
    srv.stop()


@pytest.fixture
def store(tmp_path):
    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=40, n_val=20, n_test=20)
    return tmp_path / 'store'


def _runs(srv):
    c = srv.client()
    exp = c.get_experiment_by_name('jedi-train')
    return c.search_runs([exp.experiment_id]) if exp else []


def _points(srv, run_id):
    c = srv.client()
    return {k: len(c.get_metric_history(run_id, k)) for k in c.get_run(run_id).data.metrics}


def test_unreachable_server_is_refused_in_seconds_before_any_work(store, tmp_path, monkeypatch, capsys):
    uri = f'http://127.0.0.1:{free_port()}'  # nothing listens there
    monkeypatch.setenv('MLFLOW_TRACKING_URI', uri)
    t0 = time.time()
    rc = main(['train', str(CONFIG), '--features', str(store), '--work-dir', str(tmp_path / 'wd')])
    took = time.time() - t0
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith('error: ') and 'Traceback' not in err
    assert uri in err and 'jedi server' in err and '--no-mlflow' in err and '--mlflow-offline' in err
    assert not (tmp_path / 'wd').exists()  # nothing started
    assert took < 60, took  # MLflow's own retries took about 4 minutes


@pytest.mark.integration
def test_resumed_run_drops_a_stale_killed_state(tmp_path):
    """A run found orphaned (KILLED, jedi.error) and then resumed to the end says FINISHED only."""
    from jedi_repro.tracking import RetryingClient
    from jedi_repro.tracking.runs import end_run, set_tags, start_train_run
    client, run_id = start_train_run(tmp_path / 'wd', client=RetryingClient())
    set_tags(client, run_id, {'jedi.state': 'KILLED', 'jedi.error': 'its process ended'})
    end_run(client, run_id, 'KILLED')
    client, again = start_train_run(tmp_path / 'wd', client=client, resume=True)
    assert again == run_id
    end_run(client, run_id, 'FINISHED')
    run = client.get_run(run_id)
    assert run.info.status == 'FINISHED'
    assert 'jedi.state' not in run.data.tags and 'jedi.error' not in run.data.tags


@pytest.mark.integration
def test_offline_run_is_sent_by_sync_once(server, store, tmp_path, monkeypatch):
    monkeypatch.setenv('MLFLOW_TRACKING_URI', server.uri)
    before = {r.info.run_id for r in _runs(server)}
    wd = tmp_path / 'wd'
    rc = main(['train', str(CONFIG), '--features', str(store), '--work-dir', str(wd), '--mlflow-offline',
               '--cfg-options', 'train_cfg.max_epochs=2'])
    assert rc == 0 and (wd / 'metrics.json').is_file() and (wd / PENDING).is_file()
    assert {r.info.run_id for r in _runs(server)} == before  # nothing sent yet
    assert main(['sync', str(wd)]) == 0
    (run,) = [r for r in _runs(server) if r.info.run_id not in before]
    assert run.info.status == 'FINISHED' and run.data.tags['jedi.offline_id'].startswith('offline-')
    assert [m.step for m in server.client().get_metric_history(run.info.run_id, CURVE)] == [1, 2]
    metrics = json.loads((wd / 'metrics.json').read_text())
    val = metrics['val']['mean']['teacher']['top1']
    assert run.data.metrics['val/mean/teacher/top1'] == pytest.approx(val)
    assert json.loads((wd / 'mlflow_run.json').read_text())['run_id'] == run.info.run_id
    points = _points(server, run.info.run_id)
    # twice, and again after losing the marker of what was sent: the same record, no second point
    assert main(['sync', str(wd)]) == 0
    (wd / SYNC_STATE).unlink()
    assert main(['sync', str(wd)]) == 0
    assert [r.info.run_id for r in _runs(server) if r.info.run_id not in before] == [run.info.run_id]
    assert _points(server, run.info.run_id) == points
    # the same run again, offline: adopted (not trained), its MLflow record kept and sent like any other
    again = tmp_path / 'again'
    assert main(['train', str(CONFIG), '--features', str(store), '--work-dir', str(again), '--mlflow-offline',
                 '--cfg-options', 'train_cfg.max_epochs=2']) == 0
    assert (again / PENDING).is_file() and main(['sync', str(again)]) == 0
    (adopted,) = [r for r in _runs(server) if r.info.run_id not in before | {run.info.run_id}]
    assert adopted.info.status == 'FINISHED' and adopted.data.tags['jedi.reused_from'] == run.info.run_id


@pytest.mark.integration
def test_buffered_client_records_an_outage_and_catches_up(server, tmp_path, monkeypatch):
    from mlflow.entities import Metric
    monkeypatch.setenv('JEDI_TRACKING_RETRY_S', '0')
    said = []
    client = BufferedClient(tmp_path / 'wd', tracking_uri=server.uri, say=said.append)
    exp = server.client().get_experiment_by_name('faults') or server.client().create_experiment('faults')
    exp_id = exp if isinstance(exp, str) else exp.experiment_id
    run_id = client.create_run(exp_id).info.run_id
    client.log_batch(run_id, metrics=[Metric('m', 1.0, 1000, 1)])
    server.stop()
    try:
        t0 = time.time()
        for step in (2, 3):
            client.log_batch(run_id, metrics=[Metric('m', float(step), 1000 * step, step)])
        assert time.time() - t0 < 30  # one quick attempt, not MLflow's minutes of retries
        assert client.behind and client.pending_count() == 2
        assert len(said) == 1 and 'does not answer' in said[0] and str(tmp_path / 'wd') in said[0]
    finally:
        server.start()
    client.set_terminated(run_id, status='FINISHED')  # the next write sends what was kept, then itself
    assert not client.behind and client.pending_count() == 0 and 'answers again' in said[-1]
    assert [(m.step, m.value) for m in server.client().get_metric_history(run_id, 'm')] == [
        (1, 1.0), (2, 2.0), (3, 3.0)]
    assert server.client().get_run(run_id).info.status == 'FINISHED'


@pytest.mark.integration
def test_server_killed_mid_run_costs_no_epoch(server, store, tmp_path):
    """Row 2 of the issue: the server dies during training; every epoch runs, metrics.json is written, the
    console says once that tracking is behind, and `jedi sync` completes the MLflow record (FINISHED, every
    epoch's point, no KILLED state)."""
    epochs = 12
    wd, log = tmp_path / 'wd', tmp_path / 'train.log'
    before = {r.info.run_id for r in _runs(server)}
    proc = jedi(['train', CONFIG, '--features', store, '--work-dir', wd, '--cfg-options',
                 f'train_cfg.max_epochs={epochs}', 'data.iters_per_epoch=40',
                 'default_hooks.plateau.patience=1000'],
                log, env={'MLFLOW_TRACKING_URI': server.uri, 'JEDI_HOME': os.environ['JEDI_HOME']})
    try:
        def first_epoch_logged():
            new = [r for r in _runs(server) if r.info.run_id not in before]
            return bool(new) and bool(server.client().get_metric_history(new[0].info.run_id, CURVE))
        wait_for(first_epoch_logged, 300, 'the first epoch in MLflow', proc)
        server.stop()
        assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)
        if server.proc is None:
            server.start()
    out = log.read_text()
    assert out.count('does not answer') == 1 and 'Traceback' not in out
    assert f'jedi sync {wd}' in out
    assert json.loads((wd / 'metrics.json').read_text())['convergence']['last_epoch'] == epochs
    assert main(['sync', str(wd)]) == 0
    (run,) = [r for r in _runs(server) if r.info.run_id not in before]
    assert run.info.status == 'FINISHED' and 'jedi.state' not in run.data.tags
    assert [m.step for m in server.client().get_metric_history(run.info.run_id, CURVE)] == list(
        range(1, epochs + 1))


if __name__ == '__main__':
    sys.exit(pytest.main([__file__, '-m', '']))


def test_buffered_client_sends_an_artifact_given_relative_to_the_cwd(tmp_path, monkeypatch):
    """A caller's relative artifact path is relative to its cwd, not to the run dir (a recorded copy's is):
    `jedi train --work-dir my_run` logs `my_run/<ts>/<ts>.log`, which must not become `my_run/my_run/...`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'my_run' / 'ts').mkdir(parents=True)
    (tmp_path / 'my_run' / 'ts' / 'ts.log').write_text('epoch 1\n')
    client = BufferedClient('my_run', tracking_uri=f'sqlite:///{tmp_path}/mlflow.db', say=lambda *_: None)
    exp = client.create_experiment('e', artifact_location=(tmp_path / 'artifacts').as_uri())
    run_id = client.create_run(exp).info.run_id
    client.log_artifact(run_id, 'my_run/ts/ts.log', 'logs')
    assert (tmp_path / 'artifacts' / run_id / 'artifacts' / 'logs' / 'ts.log').read_text() == 'epoch 1\n'
