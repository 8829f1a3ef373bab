import json
import math
from types import SimpleNamespace

import pytest

from jedi_repro.tracking import runs
from jedi_repro.tracking.client import RetryingClient

METRICS = {
    'datasets': {'ucf': {r: {'top1': 0.5, 'top5': 0.9, 'mean_class': 0.4}
                         for r in ('expert', 'student', 'teacher')}},
    'mean': {r: {'top1': 0.5, 'top5': 0.9, 'mean_class': 0.4} for r in ('expert', 'student', 'teacher')},
    'seed': 3, 'config': {'model': {'gamma': 0.4}, 'train_cfg': {'max_epochs': 4}, 'randomness': {'seed': 3}},
    'wall_s': 1.5}


def test_metrics_from_json_keys():
    flat = runs.metrics_from_json(METRICS)
    assert flat['test/ucf/student/top1'] == 0.5 and flat['test/mean/teacher/mean_class'] == 0.4
    assert len(flat) == 2 * 3 * 3
    assert 'val/ucf/expert/top5' in runs.metrics_from_json(METRICS, split='val')
    mixed = {**METRICS, 'datasets': {**METRICS['datasets'], 'hmdb': METRICS['datasets']['ucf']},
             'eval_split': {'ucf': 'val', 'hmdb': 'test'}}
    flat = runs.metrics_from_json(mixed)
    assert 'val/ucf/student/top1' in flat and 'test/hmdb/student/top1' in flat
    assert 'test/mean/student/top1' in flat
    flat = runs.metrics_from_json({**METRICS, 'eval_split': {'ucf': 'val'}})
    assert 'val/mean/student/top1' in flat


def test_metrics_from_json_logs_the_means_first():
    # a run page (SQLite) lists metrics in the order they were first logged: the means lead
    keys = list(runs.metrics_from_json({**METRICS, 'val': {'datasets': METRICS['datasets'],
                                                          'mean': METRICS['mean']}}))
    assert [k.split('/')[:2] for k in keys[:18]] == [['test', 'mean']] * 9 + [['val', 'mean']] * 9


CHOSEN = {**METRICS,
          'mean': {'expert': {'top1': 0.5, 'primary': 0.5}, 'student': {'top1': 0.61, 'primary': 0.6125},
                   'teacher': None},
          'val': {'mean': {'expert': {'primary': 0.52}, 'student': {'primary': 0.655}}},
          'selection': {'student': {'key': 'mean/student/primary', 'epoch': 7}},
          'convergence': {'converged': False, 'last_epoch': 30}, 'untrained': ['teacher']}


def test_headline_shows_what_was_chosen_and_how_it_tested():
    text = runs.headline(CHOSEN)
    assert '| role | epoch tested | val | test |' in text
    assert '| expert | frozen | 52.00 | 50.00 |' in text and '| student | 7 | 65.50 | 61.25 |' in text
    assert '| teacher' not in text  # untrained: no row
    # the first line carries every trained role's figures (the UI shows it whole, before "Show more")
    assert text.splitlines()[0].startswith('**Test, %:** expert **50.00** (val 52.00) · student **61.25** '
                                           '(val 65.50)')
    assert '**Not converged**: stopped at epoch 30' in text
    assert runs.headline(METRICS) == ''  # no primary mean recorded (an old metrics.json): no headline


def test_aggregate_seeds_mean_and_std():
    agg = runs.aggregate_seeds([{'k': 0.5}, {'k': 0.7}, {'k': 0.9}])
    assert agg['k'] == pytest.approx(0.7) and agg['std/k'] == pytest.approx(0.2)
    assert runs.mean_std([0.3]) == (0.3, 0.0)
    assert math.isnan(runs.mean_std([float('nan')])[0])


@pytest.fixture
def client():
    return RetryingClient()


@pytest.mark.integration  # creates a real MLflow SQLite database (several seconds)
def test_log_train_run_records_the_contract(client, tmp_path):
    (tmp_path / 'metrics.json').write_text(json.dumps(METRICS))
    run_id = runs.log_train_run(METRICS, METRICS['config'], tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == 'FINISHED'
    assert client.get_experiment(run.info.experiment_id).name == 'jedi-train'
    tags = run.data.tags
    assert tags['jedi.role'] == 'seed' and tags['jedi.seed'] == '3' and len(tags['jedi.git_sha']) == 40
    assert tags['jedi.config_hash'] and tags['jedi.features_hash'] == 'unknown'
    assert '; torch kernels ' in tags['jedi.cpu']  # the CPU kind the numbers depend on
    assert run.data.params['model.gamma'] == '0.4'
    assert run.data.metrics['test/mean/student/top1'] == 0.5
    arts = {a.path for a in client.list_artifacts(run_id)}
    assert {'config.py', 'metrics.json'} <= arts
    assert 'mlflow.note.content' not in tags  # no primary mean: nothing to head the page with
    run_id = runs.log_train_run(CHOSEN, CHOSEN['config'], tmp_path / 'chosen')
    note = client.get_run(run_id).data.tags['mlflow.note.content']
    assert note.startswith('<!-- jedi:headline -->\n**Test, %:** expert **50.00**')
    assert '| student | 7 | 65.50 | 61.25 |' in note
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.artifact_location.startswith('file://')
    assert exp.tags['mlflow.experimentKind'] == 'custom_model_development'  # MLflow opens it on runs


@pytest.mark.integration
def test_metrics_hook_logs_per_epoch(client):
    from jedi_repro.tracking.hook import MLflowMetricsHook

    exp = runs.get_or_create_experiment(client, 'hooktest')
    run_id = runs.start_run(client, exp, 'seed', 's', {'jedi.study': 'hooktest'})
    hook = MLflowMetricsHook(client, run_id)
    for epoch in (1, 2):
        hook.after_val_epoch(SimpleNamespace(epoch=epoch), {'mean/student/top1': 0.1 * epoch, 'note': 'x'})
    hist = client.get_metric_history(run_id, 'val_epoch/mean/student/top1')
    assert [(m.step, round(m.value, 3)) for m in hist] == [(1, 0.1), (2, 0.2)]
    assert 'val_epoch/note' not in client.get_run(run_id).data.metrics


@pytest.mark.integration
def test_start_then_log_train_run_keeps_epoch_metrics(client, tmp_path):
    from jedi_repro.tracking.hook import MLflowMetricsHook

    client, run_id = runs.start_train_run(tmp_path, client=client)
    MLflowMetricsHook(client, run_id).after_val_epoch(SimpleNamespace(epoch=1), {'mean/student/top1': 0.3})
    assert client.get_run(run_id).info.status == 'RUNNING'
    assert runs.log_train_run(METRICS, METRICS['config'], tmp_path, run_id=run_id, client=client) == run_id
    run = client.get_run(run_id)
    assert run.info.status == 'FINISHED' and run.data.tags['jedi.seed'] == '3'
    assert {'val_epoch/mean/student/top1', 'test/mean/student/top1'} <= set(run.data.metrics)


def test_convergence_record_tags_and_epochs():
    tags, values = runs.convergence_record({
        'convergence': {'converged': False, 'last_epoch': 150},
        'selection': {'expert': {'epoch': 140}, 'student': {'key': 'mean/student/top1', 'epoch': 140},
                      'teacher': {'key': 'mean/teacher/top1', 'epoch': 12}}})
    assert tags['jedi.converged'] == 'false' and json.loads(tags['jedi.selection'])['teacher']['epoch'] == 12
    assert values == {'epochs_trained': 150.0, 'best_epoch/student': 140.0, 'best_epoch/teacher': 12.0}
    assert runs.convergence_record({}) == ({}, {})  # runs from before the protocol record nothing


def test_list_and_dict_params_are_logged_with_sorted_keys():
    """A reused run logs its config read back from metrics.json (sorted keys); a live run the config's own
    order: both must log the same text, or reports see a dimension that does not vary."""
    from jedi_repro.tracking.runs import _param_value
    live = [{'type': 'JEDIDistillHook', 'schedule': 'constant'}]
    stored = [{'schedule': 'constant', 'type': 'JEDIDistillHook'}]
    expected = '[{"schedule": "constant", "type": "JEDIDistillHook"}]'
    assert _param_value(live) == _param_value(stored) == expected


def test_orphan_sweep_closes_only_runs_whose_process_is_gone(tmp_path):
    """A run of a dead process on this host ends KILLED; a live one's and an ownerless one stay RUNNING."""
    import subprocess
    import sys

    from jedi_repro.tracking.client import RetryingClient
    from jedi_repro.tracking.runs import (
        close_orphaned_runs,
        get_or_create_experiment,
        owner_tags,
        set_tags,
        start_run,
    )
    client = RetryingClient()
    exp = get_or_create_experiment(client, 'sweep')
    live = start_run(client, exp, 'seed', 'live', {})
    dead_proc = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                               text=True, check=True)
    dead = start_run(client, exp, 'seed', 'dead', {})
    set_tags(client, dead, {**owner_tags(), 'jedi.pid': dead_proc.stdout.strip(), 'jedi.pid_start': ''})
    ownerless = start_run(client, exp, 'study', 'prepared apart', {})
    set_tags(client, ownerless, {'jedi.pid': ''})
    assert close_orphaned_runs(client) == [dead]
    assert client.get_run(dead).info.status == 'KILLED'
    assert client.get_run(live).info.status == client.get_run(ownerless).info.status == 'RUNNING'


def test_a_dataset_inserted_by_another_process_at_the_same_moment_is_linked(tmp_path):
    """Two workers logging the same store into a new experiment race on MLflow's dataset insert; the loser
    links the dataset the winner inserted. Any other error is raised."""
    from jedi_repro.data.toy import make_toy_store
    from jedi_repro.tracking.inputs import log_feature_store_input

    make_toy_store(tmp_path / 'store', n_datasets=2, n_classes=3, dim=8, n_train=8, n_val=4, n_test=4)
    calls = []

    def racing(run_id, datasets):
        calls.append(datasets[0].dataset.name)
        if len(calls) == 1:
            raise RuntimeError('BAD_REQUEST: (sqlite3.IntegrityError) UNIQUE constraint failed: '
                               'datasets.experiment_id, datasets.name, datasets.digest')
    log_feature_store_input(SimpleNamespace(log_inputs=racing), 'r', tmp_path / 'store')
    assert calls == ['store', 'store']

    def broken(run_id, datasets):
        raise RuntimeError('BAD_REQUEST: something else')
    with pytest.raises(RuntimeError, match='something else'):
        log_feature_store_input(SimpleNamespace(log_inputs=broken), 'r', tmp_path / 'store')
