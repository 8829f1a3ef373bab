"""`jedi train --resume` after a SIGKILL ends with the metrics.json of the uninterrupted run."""
import json
import signal
from pathlib import Path

import pytest
from procs import jedi, kill_group, wait_for

from jedi_repro.engine.hooks.resume_hook import epoch_seed

CONFIG = Path(__file__).resolve().parents[2] / 'mm_configs' / 'jedi' / 'jedi_default.py'
OPTS = ['--cfg-options', 'train_cfg.max_epochs=6', 'default_hooks.plateau.patience=3']


def test_epoch_seed_depends_on_seed_and_epoch_only():
    assert epoch_seed(0, 3) == epoch_seed(0, 3)
    assert len({epoch_seed(s, e) for s in range(3) for e in range(5)}) == 15


def _metrics(work_dir: Path) -> dict:
    m = json.loads((work_dir / 'metrics.json').read_text())
    m.pop('wall_s')  # the fields that depend on when it ran: its duration, and the thread count's reason
    m.pop('runtime')  # (which quotes the machine's load)
    return m


def _train(store, work_dir, log, *extra, env=None):
    # --no-reuse: every run here must train (a reused run would not test the resume)
    return jedi(['train', CONFIG, '--features', store, '--work-dir', work_dir, *OPTS, '--no-reuse', *extra],
                log, env=env)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    from jedi_repro.data.toy import make_toy_store
    root = tmp_path_factory.mktemp('resume')
    # epochs long enough (about a second) that a signal sent after epoch 2 lands before the run ends
    make_toy_store(root / 'store', n_datasets=2, n_classes=4, dim=64, n_train=2400, n_val=40, n_test=40)
    p = _train(root / 'store', root / 'ref', root / 'ref.log', '--no-mlflow',
               env={'JEDI_HOME': str(root / 'ws')})
    assert p.wait(timeout=600) == 0, (root / 'ref.log').read_text()[-3000:]
    return root, _metrics(root / 'ref')


@pytest.mark.integration
@pytest.mark.parametrize('kill_when,sig', [
    ('before-first-checkpoint', signal.SIGKILL), ('after-epoch-2', signal.SIGKILL),
    ('after-metrics', signal.SIGKILL), ('after-epoch-2', signal.SIGINT)],
    ids=['sigkill-before-checkpoint', 'sigkill-after-epoch-2', 'sigkill-after-metrics', 'ctrl-c-epoch-2'])
def test_kill_then_resume_equals_uninterrupted(reference, tmp_path, kill_when, sig, monkeypatch):
    from mlflow.tracking import MlflowClient
    root, expected = reference
    monkeypatch.setenv('JEDI_HOME', str(tmp_path / 'ws'))
    wd, log = tmp_path / 'wd', tmp_path / 'train.log'
    p = _train(root / 'store', wd, log)
    try:
        if kill_when == 'before-first-checkpoint':
            wait_for(lambda: (wd / 'mlflow_run.json').is_file(), what='the run to start', proc=p)
        elif kill_when == 'after-epoch-2':
            wait_for(lambda: 'train epoch 2/' in log.read_text(errors='replace'), what='epoch 2', proc=p)
        else:
            wait_for(lambda: (wd / 'metrics.json').is_file(), what='metrics.json', proc=p)
        p.send_signal(sig)
        rc = p.wait(timeout=60)
    finally:
        kill_group(p)
    run_id = json.loads((wd / 'mlflow_run.json').read_text())['run_id']
    client = MlflowClient(f'sqlite:///{tmp_path}/ws/mlflow/mlflow.db')
    if sig == signal.SIGINT:  # Ctrl-C: the run closes itself
        assert rc == 130 and client.get_run(run_id).info.status == 'KILLED'
    else:
        assert client.get_run(run_id).info.status == 'RUNNING'  # nobody could close it
    resumed = _train(root / 'store', wd, tmp_path / 'resume.log', '--resume')
    assert resumed.wait(timeout=600) == 0, (tmp_path / 'resume.log').read_text()[-3000:]
    assert _metrics(wd) == expected
    run = client.get_run(run_id)  # the same MLflow run, reopened and finished
    assert run.info.status == 'FINISHED' and run.data.tags['jedi.resumed'] == 'true'
    runs = client.search_runs([client.get_experiment_by_name('jedi-train').experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    epochs = [m.step for m in client.get_metric_history(run_id, 'val_epoch/mean/student/top1')]
    assert sorted(set(epochs)) == list(range(1, expected['convergence']['last_epoch'] + 1))
