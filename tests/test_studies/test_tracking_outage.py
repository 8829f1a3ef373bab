"""A tracking server that dies mid-study (issue 27): the study runs every trial to the end, says once on its
console that MLflow is behind, keeps every process's record in the study's work dir, and `jedi sync SPEC`
later gives the MLflow record a study run with the server up would have had (nested runs, FINISHED, the
ranking on the parent), idempotently. A real `mlflow server` on loopback, killed as a crash would."""
from collections import Counter

import pytest
from optuna.trial import TrialState
from procs import MlflowServer, jedi, kill_group, wait_for

from jedi_repro import workspace
from jedi_repro.cli import main
from jedi_repro.studies.ranking import BLOCK
from jedi_repro.studies.spec import load_spec
from jedi_repro.studies.storage import load_study, storage_url
from jedi_repro.tracking.notes import NOTE_TAG
from jedi_repro.tracking.offline import STUDY_RECORDS, study_pending

from .conftest import write_spec

POINTS = [0.0, 0.2, 0.4, 0.6]
SEEDS = [0, 1]
EPOCHS = 4


def _runs(server, name):
    c = server.client()
    return c.search_runs([c.get_experiment_by_name(name).experiment_id], max_results=1000)


def _points(server, runs):
    c = server.client()
    return sorted((r.info.run_id, k, len(c.get_metric_history(r.info.run_id, k)))
                  for r in runs for k in r.data.metrics)


@pytest.mark.integration
def test_server_killed_mid_study_costs_no_trial_and_sync_completes_the_record(
        tmp_path, toy_store, stub_path, monkeypatch):
    (tmp_path / 'mlflow').mkdir()
    server = MlflowServer(tmp_path / 'mlflow').start()
    monkeypatch.setenv('MLFLOW_TRACKING_URI', server.uri)
    marks = tmp_path / 'marks'
    marks.mkdir()
    spec = write_spec(tmp_path, toy_store, f'name: outage\nseeds: {SEEDS}\nspace:\n  model.gamma: {POINTS}\n'
                      f'sampler: grid\nobjective: mean/teacher/top1\ncfg_options:\n  train_cfg.max_epochs: '
                      f'{EPOCHS}\n')
    log = tmp_path / 'study.log'
    proc = jedi(['study', 'run', spec, '--workers', '2', '--train-fn', 'stub_train:train', '--no-progress'],
                log, env={'JEDI_STUB_SLEEP_S': '0.5', 'JEDI_STUB_MARK_DIR': str(marks)})
    try:
        wait_for(lambda: any(marks.iterdir()), 300, 'the first seed run', proc)
        server.stop()
        assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        kill_group(proc)
    out = log.read_text()
    assert 'Traceback' not in out
    assert out.count('does not answer') == 1, out  # said once, for the whole study
    assert f'jedi sync {spec}' in out and 'did not take' in out  # what is left, and the command that sends it

    # nothing was lost to the outage: every trial ran to the end
    loaded = load_spec(spec)
    study = load_study(loaded, storage_url(loaded))
    assert Counter(t.params['model.gamma'] for t in study.trials if t.state == TrialState.COMPLETE) == \
        Counter(POINTS)
    records = workspace.work_dir('outage') / STUDY_RECORDS
    assert study_pending(records) > 0

    server.start()
    try:
        assert main(['sync', str(spec)]) == 0
        assert study_pending(records) == 0
        runs = _runs(server, 'outage')
        roles = Counter(r.data.tags['jedi.role'] for r in runs)
        assert roles == {'study': 1, 'trial': len(POINTS), 'seed': len(POINTS) * len(SEEDS)}
        assert {r.info.status for r in runs} == {'FINISHED'}
        assert {r.data.tags.get('jedi.state', 'COMPLETE') for r in runs} == {'COMPLETE'}
        ids = {r.info.run_id: r for r in runs}
        (parent,) = [r for r in runs if r.data.tags['jedi.role'] == 'study']
        for r in runs:  # nested as a study with the server up: seed -> trial -> study, MLflow's ids only
            if r is not parent:
                up = r.data.tags['mlflow.parentRunId']
                assert up in ids and ids[up].data.tags['jedi.role'] == (
                    'study' if r.data.tags['jedi.role'] == 'trial' else 'trial')
        for r in runs:
            if r.data.tags['jedi.role'] == 'seed':
                history = server.client().get_metric_history(r.info.run_id, 'val_epoch/mean/teacher/top1')
                assert [m.step for m in history] == list(range(1, EPOCHS + 1))
        # the ranking the runner could not publish
        assert f'<!-- jedi:{BLOCK} -->' in parent.data.tags.get(NOTE_TAG, '')
        # sending again adds nothing: the same runs, the same points
        points = _points(server, runs)
        assert main(['sync', str(spec)]) == 0
        again = _runs(server, 'outage')
        assert sorted(r.info.run_id for r in again) == sorted(ids) and _points(server, again) == points
    finally:
        server.stop()
